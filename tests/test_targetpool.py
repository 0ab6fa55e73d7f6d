"""Targets built at once: results in order, the failing target named, Ctrl-C stops every worker."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from layerkit.errors import InstallerError, LayerkitError
from layerkit.targetpool import (
    TARGET_MEMORY_BYTES,
    Cancelled,
    default_jobs,
    run_targets,
)


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

    def work(item: str, stopping: threading.Event) -> str:
        with lock:
            running.add(item)
            if len(running) > 1:
                overlapped.set()
        overlapped.wait(5)
        time.sleep({"a": 0.3, "b": 0.0, "c": 0.1, "d": 0.0}[item])
        with lock:
            running.discard(item)
        return item.upper()

    assert run_targets(["a", "b", "c", "d"], work, jobs=2, name=str) == ["A", "B", "C", "D"]
    assert overlapped.is_set()  # two really ran at once


def test_a_failing_target_is_named_and_stops_the_others() -> None:
    started: list[str] = []

    def work(item: str, stopping: threading.Event) -> str:
        started.append(item)
        if item == "python3.12-arm64":
            raise InstallerError("no wheel for natpkg", hint="pin another version")
        _wait_stopping(stopping)
        return item

    items = ["python3.12-x86_64", "python3.12-arm64", "python3.13-x86_64", "python3.13-arm64"]
    with pytest.raises(InstallerError) as failure:
        run_targets(items, work, jobs=2, name=str)
    assert failure.value.message == "python3.12-arm64: no wheel for natpkg"
    assert str(failure.value) == failure.value.message
    assert failure.value.hint == "pin another version"
    assert started == items[:2]  # the targets not started never start


def test_a_message_naming_its_target_is_left_as_it_is() -> None:
    def work(item: str, stopping: threading.Event) -> str:
        if item == "t2":
            raise LayerkitError(f"{item}: over budget")
        _wait_stopping(stopping)
        return item

    with pytest.raises(LayerkitError, match=r"^t2: over budget$"):
        run_targets(["t1", "t2"], work, jobs=2, name=str)


def test_one_job_is_the_plain_loop_with_errors_unchanged() -> None:
    seen: list[str] = []

    def work(item: str, stopping: threading.Event) -> str:
        assert threading.current_thread() is threading.main_thread()
        seen.append(item)
        if item == "b":
            raise LayerkitError("boom")
        return item

    with pytest.raises(LayerkitError, match=r"^boom$"):
        run_targets(["a", "b", "c"], work, jobs=1, name=str)
    assert seen == ["a", "b"]


def test_ctrl_c_stops_every_worker_before_returning() -> None:
    finished: list[str] = []
    both_running = threading.Barrier(2, timeout=10)

    def work(item: str, stopping: threading.Event) -> str:
        try:
            both_running.wait()
            if item == "a":
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches the main thread
            _wait_stopping(stopping)
            return item
        finally:
            finished.append(item)

    with pytest.raises(KeyboardInterrupt):
        run_targets(["a", "b", "c"], work, jobs=2, name=str)
    assert sorted(finished) == ["a", "b"]  # both workers stopped and were waited for; c never ran
    assert not [t for t in threading.enumerate() if t.name.startswith("layerkit-target")]
