"""Targets built at once: results in order, the failing target named, Ctrl-C stops every worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from layerkit.errors import InstallerError, LayerkitError
from layerkit.targetpool import (
    TARGET_MEMORY_BYTES,
    Cancelled,
    Lines,
    RemoteTraceback,
    _Workers,
    default_jobs,
    run_targets,
)

QUIET = Lines(progress=lambda _m: None, warn=lambda _m: None)


def _wait_stopping(stopping: threading.Event, seconds: float = 20.0) -> None:
    """A step-wise worker: checks between steps, as a target's progress lines and commands do."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stopping.is_set():
            raise Cancelled
        time.sleep(0.01)
    raise AssertionError("never told to stop")


def test_default_jobs_is_bounded_by_four_twice_the_cores_targets_and_memory() -> None:
    assert default_jobs(4, cores=2, memory=None) == 4  # one processing, three installing
    assert default_jobs(6, cores=8, memory=None) == 4
    assert default_jobs(4, cores=1, memory=None) == 2
    assert default_jobs(1, cores=8, memory=None) == 1
    assert default_jobs(4, cores=8, memory=TARGET_MEMORY_BYTES) == 1
    assert default_jobs(4, cores=8, memory=0) == 1  # never zero
    assert default_jobs(4, cores=8, memory=3 * TARGET_MEMORY_BYTES) == 3


def test_results_come_back_in_the_targets_order_whatever_finishes_first() -> None:
    running: set[str] = set()
    overlapped = threading.Event()
    lock = threading.Lock()

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        with lock:
            running.add(item)
            if len(running) > 1:
                overlapped.set()
        overlapped.wait(5)
        time.sleep({"a": 0.3, "b": 0.0, "c": 0.1, "d": 0.0}[item])
        with lock:
            running.discard(item)
        return item.upper()

    assert run_targets(["a", "b", "c", "d"], work, jobs=2, name=str, lines=QUIET) == [
        "A",
        "B",
        "C",
        "D",
    ]
    assert overlapped.is_set()  # two really ran at once


def test_a_failing_target_is_named_and_stops_the_others() -> None:
    started: list[str] = []

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        started.append(item)
        if item == "python3.12-arm64":
            raise InstallerError("no wheel for natpkg", hint="pin another version")
        _wait_stopping(stopping)
        return item

    items = ["python3.12-x86_64", "python3.12-arm64", "python3.13-x86_64", "python3.13-arm64"]
    with pytest.raises(InstallerError) as failure:
        run_targets(items, work, jobs=2, name=str, lines=QUIET)
    assert failure.value.message == "python3.12-arm64: no wheel for natpkg"
    assert str(failure.value) == failure.value.message
    assert failure.value.hint == "pin another version"
    assert started == items[:2]  # the targets not started never start


def test_a_message_naming_its_target_is_left_as_it_is() -> None:
    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        if item == "t2":
            raise LayerkitError(f"{item}: over budget")
        _wait_stopping(stopping)
        return item

    with pytest.raises(LayerkitError, match=r"^t2: over budget$"):
        run_targets(["t1", "t2"], work, jobs=2, name=str, lines=QUIET)


def test_one_job_is_the_plain_loop_with_errors_unchanged() -> None:
    seen: list[str] = []

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        assert threading.current_thread() is threading.main_thread()
        seen.append(item)
        if item == "b":
            raise LayerkitError("boom")
        return item

    with pytest.raises(LayerkitError, match=r"^boom$"):
        run_targets(["a", "b", "c"], work, jobs=1, name=str, lines=QUIET)
    assert seen == ["a", "b"]


def test_ctrl_c_stops_every_worker_before_returning() -> None:
    finished: list[str] = []
    both_running = threading.Barrier(2, timeout=10)

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        try:
            both_running.wait()
            if item == "a":
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches the main thread
            _wait_stopping(stopping)
            return item
        finally:
            finished.append(item)

    with pytest.raises(KeyboardInterrupt):
        run_targets(["a", "b", "c"], work, jobs=2, name=str, lines=QUIET)
    assert sorted(finished) == ["a", "b"]  # both workers stopped and were waited for; c never ran
    assert not [t for t in threading.enumerate() if t.name.startswith("layerkit-target")]


# --- targets in child processes --------------------------------------------------------------
# A worker is a fork: what it changes in memory stays there. These workers talk back through
# their results, their failures, their lines and files under tmp_path. `_in_processes` forks
# whatever threads this test process has (another test's server may still be winding down);
# `run_targets` itself forks only where `fork_is_safe` (tested in a fresh process below).


_FORKS = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


def _in_processes(items: list[str], work: Any, *, jobs: int, lines: Lines = QUIET) -> list[Any]:
    workers: _Workers[str, Any] = _Workers(items, work, lines=lines)
    assert workers.start(min(jobs, len(items)))
    return workers.run(str)


def _said() -> tuple[Lines, list[str]]:
    heard: list[str] = []
    return Lines(progress=heard.append, warn=lambda m: heard.append(f"warning: {m}")), heard


def _wait_for_files(directory: Path, count: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while len(list(directory.iterdir())) < count:
        assert time.monotonic() < deadline, f"{count} files never came"
        time.sleep(0.01)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd")) if sys.platform == "linux" else set()


def _gone(pid: int) -> bool:
    """Ended (or a zombie nobody reaps: init in a container need not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@_FORKS
def test_in_processes_each_target_runs_in_a_child_and_its_lines_and_result_come_back() -> None:
    def work(item: str, stopping: threading.Event, lines: Lines) -> tuple[str, int]:
        lines.progress(f"{item}: installing")
        lines.warn(f"{item}: odd")
        time.sleep({"a": 0.3, "b": 0.0, "c": 0.1}[item])
        return item.upper(), os.getpid()

    lines, heard = _said()
    fds = _open_fds()
    results = _in_processes(["a", "b", "c"], work, jobs=3, lines=lines)
    assert _open_fds() == fds  # every pipe closed
    assert [letter for letter, _ in results] == ["A", "B", "C"]  # the targets' order
    pids = {pid for _, pid in results}
    assert len(pids) == 3 and os.getpid() not in pids
    assert sorted(heard) == sorted(
        f"{prefix}{item}: {text}"
        for item in "abc"
        for prefix, text in (("", "installing"), ("warning: ", "odd"))
    )
    assert all(_gone(pid) for pid in pids)  # every worker ended and was waited for


@_FORKS
def test_in_processes_workers_take_the_next_target_as_they_finish() -> None:
    """Two workers, five targets: each worker builds several, one after another (it holds no
    other worker's pipe, or that one would never see the end of its commands: a hang)."""

    def work(item: str, stopping: threading.Event, lines: Lines) -> tuple[str, int]:
        time.sleep({"a": 0.2, "b": 0.0, "c": 0.1, "d": 0.0, "e": 0.05}[item])
        return item.upper(), os.getpid()

    results = _in_processes(["a", "b", "c", "d", "e"], work, jobs=2)
    assert [letter for letter, _ in results] == ["A", "B", "C", "D", "E"]
    assert len({pid for _, pid in results}) == 2


def test_run_targets_forks_where_it_is_safe_and_uses_threads_elsewhere(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(
        "import os, threading\n"
        "from layerkit.targetpool import Lines, run_targets\n"
        "quiet = Lines(lambda m: None, lambda m: None)\n"
        "def work(item, stopping, lines):\n"
        "    return os.getpid()\n"
        "def pids():\n"
        "    return len(set(run_targets('ab', work, jobs=2, name=str, lines=quiet,\n"
        "                               processes=True)) - {os.getpid()})\n"
        "alone = pids()\n"
        "release = threading.Event()\n"
        "other = threading.Thread(target=release.wait)\n"
        "other.start()\n"
        "print(alone, pids())\n"
        "from layerkit.targetpool import fork_is_safe\n"
        "print(fork_is_safe(wait=0.1))\n"  # a thread that goes on: no
        "threading.Timer(0.1, release.set).start()\n"
        "print(fork_is_safe(wait=10))\n"  # threads that end meanwhile: yes, once they have
    )
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    linux = sys.platform == "linux"
    expected = f"{2 if linux else 0} 0 False {linux}"  # with a thread running: threads
    assert ran.stdout.split() == expected.split()


@_FORKS
def test_in_processes_a_failing_target_is_named_with_its_class_and_stops_the_others(
    tmp_path: Path,
) -> None:
    started = tmp_path / "started"
    started.mkdir()

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        (started / item).touch()
        if item == "python3.12-arm64":
            _wait_for_files(started, 2)  # the first is under way
            raise InstallerError("no wheel for natpkg", hint="pin another version",
                                 command=("uv", "pip"), returncode=2)  # fmt: skip
        _wait_stopping(stopping)  # the first; a failure of its own would be raised instead
        return item

    items = ["python3.12-x86_64", "python3.12-arm64", "python3.13-x86_64", "python3.13-arm64"]
    with pytest.raises(InstallerError) as failure:
        _in_processes(items, work, jobs=2)
    assert type(failure.value) is InstallerError
    assert failure.value.message == "python3.12-arm64: no wheel for natpkg"
    assert (failure.value.hint, failure.value.command, failure.value.returncode) == (
        "pin another version", ("uv", "pip"), 2,
    )  # fmt: skip
    assert isinstance(failure.value.__cause__, RemoteTraceback)  # --debug shows where
    assert sorted(p.name for p in started.iterdir()) == sorted(items[:2])  # no other started


@_FORKS
def test_in_processes_a_stopped_target_is_stopped_mid_step(tmp_path: Path) -> None:
    """SIGTERM from the parent stops a worker where it is (a command it waits for is cut
    short, as on Ctrl-C), not at its next step, and its `finally` blocks run."""

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        if item == "t2":
            _wait_for_files(tmp_path, 1)
            raise LayerkitError("boom")
        try:
            (tmp_path / "t1-sleeping").touch()
            time.sleep(30)  # a long command: no step to check `stopping` at
        finally:
            (tmp_path / "t1-cleaned-up").touch()
        return item

    started = time.monotonic()
    with pytest.raises(LayerkitError, match=r"^t2: boom$"):
        _in_processes(["t1", "t2"], work, jobs=2)
    assert time.monotonic() - started < 20  # not the 30 s of t1's sleep
    assert (tmp_path / "t1-cleaned-up").exists()


@_FORKS
def test_in_processes_a_target_stopped_from_outside_is_a_failure_not_a_gap() -> None:
    """A worker stopped by someone else (an out-of-memory daemon's SIGTERM, a `kill`) must
    fail the build: a build short of one layer must never pass for a whole one."""

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        if item == "t2":
            os.kill(os.getpid(), signal.SIGTERM)
        return item

    with pytest.raises(LayerkitError) as failure:
        _in_processes(["t1", "t2", "t3"], work, jobs=3)
    assert failure.value.message == (
        "t2: the process building it was stopped by a signal from outside layerkit"
    )


@_FORKS
def test_in_processes_another_failure_comes_back_with_the_childs_traceback() -> None:
    def deep_down(item: str) -> str:
        raise ValueError(f"bad {item}")

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        return deep_down(item) if item == "b" else item

    with pytest.raises(ValueError, match=r"^bad b$") as failure:
        _in_processes(["a", "b"], work, jobs=2)
    cause = failure.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "deep_down" in str(cause) and "ValueError: bad b" in str(cause)


class _Unpicklable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.callback = lambda: None  # a lambda does not pickle


@_FORKS
def test_in_processes_what_does_not_pickle_arrives_as_text() -> None:
    def fails(item: str, stopping: threading.Event, lines: Lines) -> str:
        raise _Unpicklable("odd")

    with pytest.raises(RuntimeError, match=r"^_Unpicklable: odd$"):
        _in_processes(["a", "b"], fails, jobs=2)

    def returns(item: str, stopping: threading.Event, lines: Lines) -> object:
        return lambda: item  # a result that cannot be sent back

    with pytest.raises(RuntimeError, match=r"^its result could not be sent back \(.*pickle"):
        _in_processes(["a", "b"], returns, jobs=2)


@_FORKS
def test_in_processes_a_child_that_dies_is_an_error_naming_its_target() -> None:
    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        if item == "b":
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
        _wait_stopping(stopping)
        return item

    with pytest.raises(LayerkitError) as failure:
        _in_processes(["a", "b"], work, jobs=2)
    assert failure.value.message == (
        "b: the process building it ended without a result (killed by SIGKILL)"
    )
    assert failure.value.hint is not None and "--jobs 1" in failure.value.hint


@_FORKS
def test_in_processes_ctrl_c_here_stops_every_child_before_returning(tmp_path: Path) -> None:
    """SIGINT to this process alone (not the group, as `kill -INT` sends it): the workers are
    told (SIGTERM), stop, and are waited for before KeyboardInterrupt is raised."""

    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        (tmp_path / str(os.getpid())).touch()
        if item == "a":
            _wait_for_files(tmp_path, 2)
            os.kill(os.getppid(), signal.SIGINT)
        _wait_stopping(stopping)
        return item

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _in_processes(["a", "b", "c"], work, jobs=2)
    assert time.monotonic() - started < 15  # told, not left to give up after 20 s
    children = [int(p.name) for p in tmp_path.iterdir()]
    assert len(children) == 2  # c never started
    assert all(_gone(pid) for pid in children)


@_FORKS
def test_in_processes_a_second_ctrl_c_kills_workers_that_do_not_stop(tmp_path: Path) -> None:
    def work(item: str, stopping: threading.Event, lines: Lines) -> str:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # deaf to being told to stop
        (tmp_path / str(os.getpid())).touch()
        if item == "a":
            _wait_for_files(tmp_path, 2)
            os.kill(os.getppid(), signal.SIGINT)
            time.sleep(0.5)
            os.kill(os.getppid(), signal.SIGINT)
        time.sleep(30)
        return item

    fds = _open_fds()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _in_processes(["a", "b"], work, jobs=2)
    assert time.monotonic() - started < 15
    assert all(_gone(int(p.name)) for p in tmp_path.iterdir())
    assert _open_fds() == fds  # no pipe of a killed worker left open here


@_FORKS
def test_workers_end_when_the_build_process_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves no chance to stop the workers: the kernel tells them (PR_SET_PDEATHSIG),
    and they end rather than build on for nobody."""
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "build.py"
    script.write_text(
        "import os, sys, time\n"
        "from layerkit.targetpool import Lines, run_targets\n"
        "def work(item, stopping, lines):\n"
        f"    open(os.path.join({str(pids)!r}, str(os.getpid())), 'w').close()\n"
        "    time.sleep(60)\n"
        "run_targets('ab', work, jobs=2, name=str, lines=Lines(print, print), processes=True)\n"
    )
    build = subprocess.Popen([sys.executable, str(script)])
    try:
        _wait_for_files(pids, 2)
    finally:
        build.kill()
        build.wait()
    workers = [int(p.name) for p in pids.iterdir()]
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in workers)


def test_every_layerkit_error_survives_the_trip_from_a_child() -> None:
    import importlib
    import pickle
    import pkgutil

    import layerkit

    for module in pkgutil.walk_packages(layerkit.__path__, "layerkit."):
        importlib.import_module(module.name)  # every subclass, whatever its __init__ takes

    def subclasses(kind: type[LayerkitError]) -> list[type[LayerkitError]]:
        return [kind, *(s for sub in kind.__subclasses__() for s in subclasses(sub))]

    for kind in subclasses(LayerkitError):
        error = kind.__new__(kind)  # not every subclass's __init__ takes (message, hint)
        LayerkitError.__init__(error, "went wrong", hint="try this")
        error.extra = ("kept",)  # type: ignore[attr-defined]
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is kind
        assert (back.message, back.hint, str(back)) == ("went wrong", "try this", "went wrong")
        assert vars(back) == vars(error)
