"""Bytecode: the same bytes as compileall, reused from the store, bounded, dropped for the budget;
and finding the interpreter (order, uv, downloads opt-in, the remembered outcome)."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from layerkit import bytecode, interpreter
from layerkit.bytecode import BytecodeStore, choose_drops, compile_bytecode, fit_budget
from layerkit.installer import CommandResult, run_command
from layerkit.interpreter import Discovery, Interpreter, locate_interpreter
from layerkit.targets import make_target

HOST = make_target(f"{sys.version_info.major}.{sys.version_info.minor}", "x86_64")
PY312 = make_target("3.12", "x86_64")
THIS = Interpreter(sys.executable, platform.python_version(), "test")

SOURCES = {
    "six.py": b"X = 1\n",
    "pkg/__init__.py": b"from pkg.mod import f\n",
    "pkg/mod.py": b"def f():\n    return {'a': (1, 2.5, 'b'), 'c': frozenset({3})}\n",
    "pkg/sub/deep.py": b"class C:\n    '''doc'''\n    def m(self):\n        return [i for i in range(3)]\n",
    "pkg/tests/test_mod.py": b"def test():\n    assert True\n",
}


def tree(root: Path, files: Mapping[str, bytes] = SOURCES) -> Path:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


def pycs(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.pyc"))
    }


def test_same_bytes_as_compileall_from_a_cold_and_a_warm_store(tmp_path: Path) -> None:
    from layerkit.slim.compile import compile_command

    reference = tree(tmp_path / "compileall")
    result = run_command(compile_command(sys.executable, reference, HOST))
    assert result.returncode == 0, result.tail()
    store = BytecodeStore(tmp_path / "store")

    cold = tree(tmp_path / "cold")
    report = compile_bytecode(cold, HOST, runner=run_command, interpreter=THIS, store=store)
    assert (report.files, report.compiled, report.reused) == (5, 5, 0)
    warm = tree(tmp_path / "warm")
    never_runs = failing_runner
    report = compile_bytecode(warm, HOST, runner=never_runs, interpreter=THIS, store=store)
    assert (report.files, report.compiled, report.reused) == (5, 0, 5)

    assert len(pycs(reference)) == 5
    assert pycs(reference) == pycs(cold) == pycs(warm)
    assert report.bytes == sum(p.stat().st_size for p in warm.rglob("*.pyc"))


def failing_runner(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> CommandResult:
    raise AssertionError(f"ran {argv}")


def test_only_what_changed_is_compiled_and_a_damaged_entry_is_not_used(tmp_path: Path) -> None:
    store = BytecodeStore(tmp_path / "store")
    compile_bytecode(tree(tmp_path / "a"), HOST, runner=run_command, interpreter=THIS, store=store)
    first = pycs(tmp_path / "a")  # read now: the tree's files are hard links into the store
    changed = tree(tmp_path / "b", {**SOURCES, "pkg/mod.py": b"def f():\n    return 3\n"})
    report = compile_bytecode(changed, HOST, runner=run_command, interpreter=THIS, store=store)
    assert (report.compiled, report.reused) == (1, 4)

    prefix = f"/opt/{HOST.site_packages}"
    key = bytecode.store_key(SOURCES["six.py"], version=THIS.version, dfile=f"{prefix}/six.py")
    store.path(key).write_bytes(b"\x00" * 20)  # damaged: not a .pyc of this interpreter
    again = tree(tmp_path / "c")
    report = compile_bytecode(again, HOST, runner=run_command, interpreter=THIS, store=store)
    assert (report.compiled, report.reused) == (1, 4)
    assert pycs(again) == first


def test_the_store_key_names_source_version_and_path() -> None:
    key = bytecode.store_key(b"x = 1\n", version="3.12.1", dfile="/opt/a.py")
    assert key != bytecode.store_key(b"x = 2\n", version="3.12.1", dfile="/opt/a.py")
    assert key != bytecode.store_key(b"x = 1\n", version="3.12.2", dfile="/opt/a.py")
    assert key != bytecode.store_key(b"x = 1\n", version="3.12.1", dfile="/opt/b.py")


def test_the_store_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    store = BytecodeStore(tmp_path / "store", limit_bytes=250)
    for index, key in enumerate(["aa" + "0" * 62, "bb" + "0" * 62, "cc" + "0" * 62]):
        path = store.path(key)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * 100)
        os.utime(path, (1_000_000 + index, 1_000_000 + index))
    assert store.trim() == 100
    assert sorted(p.name[:2] for p in store.root.rglob("*.pyc")) == ["bb", "cc"]


def test_an_entry_taken_from_the_store_is_marked_used_when_not_lately(tmp_path: Path) -> None:
    """Taking an entry marks it used (its mtime, which `trim` goes by) when that mark is older
    than an hour; a fresher mark is left as it is (a hit costs no write)."""
    root = tree(tmp_path / "t")
    store = BytecodeStore(tmp_path / "store")
    compile_bytecode(root, HOST, runner=run_command, interpreter=THIS, store=store)  # fills it
    entries = sorted(store.root.rglob("*.pyc"))
    assert len(entries) >= 2
    old, fresh = entries[0], entries[1]
    os.utime(old, (1_000_000, 1_000_000))
    lately = time.time() - 60
    os.utime(fresh, (lately, lately))
    for pyc in root.rglob("*.pyc"):
        pyc.unlink()
    compile_bytecode(root, HOST, runner=run_command, interpreter=THIS, store=store)
    assert old.stat().st_mtime > time.time() - 60
    assert fresh.stat().st_mtime == lately


def test_an_entry_trimmed_by_another_build_after_its_check_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another build may trim the store between `fetch`'s check of an entry and its link."""
    root = tree(tmp_path / "t")
    store = BytecodeStore(tmp_path / "store")
    compile_bytecode(root, HOST, runner=run_command, interpreter=THIS, store=store)  # fills it
    for pyc in root.rglob("*.pyc"):
        pyc.unlink()
    real_link = os.link
    trimmed: set[Path] = set()

    def trimmed_first(source: Any, dest: Any, **kwargs: Any) -> None:
        if Path(source).is_relative_to(store.root) and Path(source) not in trimmed:
            trimmed.add(Path(source))
            Path(source).unlink()  # as a concurrent trim would, once
        real_link(source, dest, **kwargs)

    monkeypatch.setattr(os, "link", trimmed_first)
    report = compile_bytecode(root, HOST, runner=run_command, interpreter=THIS, store=store)
    assert report.reused == 0 and report.compiled == report.files > 0


# --- the budget --------------------------------------------------------------------------------


def test_tests_go_first_then_the_fewest_bytes_that_fit() -> None:
    groups = {"pandas": 900, "pyarrow": 500, "six": 10, "numpy": 300, "pandas tests": 200}
    assert choose_drops(groups, 150) == ["pandas tests"]
    # 250 over: tests shed 200, then the smallest package covering the remaining 50 is numpy
    assert choose_drops(groups, 250) == ["pandas tests", "numpy"]
    # nothing covers 1,500: the largest goes, then the smallest that covers the rest
    assert choose_drops(groups, 1_700) == ["pandas tests", "pandas", "pyarrow", "numpy"]
    assert choose_drops(groups, 0) == []


def test_bytecode_over_the_budget_is_dropped_and_reported(tmp_path: Path) -> None:
    root = tree(tmp_path / "t")
    store = BytecodeStore(tmp_path / "store")
    report = compile_bytecode(root, HOST, runner=run_command, interpreter=THIS, store=store)
    sizes = {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*.pyc")}
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    tests_pyc = next(p for p in sizes if p.startswith("pkg/tests/"))
    fitted = fit_budget(
        root, report, list(sizes), tree_bytes=total, budget_bytes=total - sizes[tests_pyc]
    )
    assert [(d.package, d.files) for d in fitted.dropped] == [("pkg tests", 1)]
    assert not (root / tests_pyc).exists() and not (root / tests_pyc).parent.exists()
    assert (fitted.files, fitted.bytes) == (4, report.bytes - sizes[tests_pyc])
    assert "pkg tests" in fitted.warnings[-1] and fitted.skipped_reason is None

    budget_without_bytecode = total - report.bytes
    nothing = fit_budget(
        root, fitted, [p for p in sizes if p != tests_pyc], tree_bytes=total - sizes[tests_pyc],
        budget_bytes=budget_without_bytecode,
    )  # fmt: skip
    assert (nothing.files, nothing.bytes) == (0, 0)
    assert sorted(d.package for d in nothing.dropped) == ["pkg", "six"]
    assert list(root.rglob("*.pyc")) == []
    assert nothing.skipped_reason is not None and "fits without" in nothing.skipped_reason


# --- finding the interpreter -------------------------------------------------------------------


class Runner:
    """Answers each command from a table keyed by its first words; records what ran."""

    def __init__(self, answers: Mapping[str, CommandResult]) -> None:
        self.answers = answers
        self.calls: list[tuple[tuple[str, ...], Mapping[str, str] | None]] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        self.calls.append((tuple(argv), env))
        for prefix, answer in self.answers.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return CommandResult(tuple(argv), 127, "", f"{argv[0]}: not found")


def ok(stdout: str) -> CommandResult:
    return CommandResult((), 0, stdout, "")


PY312_PROBE = ok("3.12.4\ncpython-312\n3531\n/real/python3.12\n")


def test_candidates_in_order_explicit_then_path_then_uv() -> None:
    runner = Runner({
        "/mine/python -I": ok("3.11.7\ncpython-311\n3495\n/mine/python\n"),
        "/usr/bin/python3.12 -I": CommandResult((), 127, "", "pyenv: python3.12: not found\n"),
        "uv python find --no-project 3.12": ok("/uv/cpython-3.12/bin/python3.12\n"),
        "/uv/cpython-3.12/bin/python3.12 -I": PY312_PROBE,
    })  # fmt: skip
    found = locate_interpreter(
        PY312, which=lambda name: f"/usr/bin/{name}", runner=runner, explicit="/mine/python",
        uv="uv", env={"UV_PYTHON_DOWNLOADS": "automatic"},
    )  # fmt: skip
    assert found.interpreter == Interpreter("/real/python3.12", "3.12.4", "uv python find")
    assert found.reasons == (
        "--interpreter: /mine/python is Python 3.11, not 3.12",
        "/usr/bin/python3.12 does not run (a pyenv shim without that version?): "
        "pyenv: python3.12: not found",
    )
    (uv_env,) = [env for argv, env in runner.calls if argv[0] == "uv"]
    assert uv_env is not None and uv_env["UV_PYTHON_DOWNLOADS"] == "never"


def test_downloads_only_when_the_user_opts_in() -> None:
    runner = Runner({
        "uv python install 3.12": ok(""),
        "uv python find --no-project 3.12": ok("/uv/python3.12\n"),
        "/uv/python3.12 -I": PY312_PROBE,
    })  # fmt: skip
    found = locate_interpreter(
        PY312, which=lambda name: None, runner=runner, uv="uv", python_downloads=True, env={}
    )
    assert found.interpreter is not None
    assert [argv[:3] for argv, _ in runner.calls] == [
        ("uv", "python", "install"),
        ("uv", "python", "find"),
        ("/uv/python3.12", "-I", "-S"),
    ]
    assert all(env and env["UV_PYTHON_DOWNLOADS"] == "automatic" for argv, env in runner.calls[:2])


SHIM = "/home/me/.pyenv/shims/python3.12"
SHIM_FAILS = CommandResult((), 127, "", "pyenv: python3.12: command not found\n")
UV_FINDS = ok("/uv/python3.12\n")


def test_uv_looks_while_a_pyenv_shim_is_probed_and_is_used_only_if_the_shim_fails() -> None:
    uv_started = threading.Event()

    class Concurrent(Runner):
        def __call__(
            self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            cwd: Path | None = None,
        ) -> CommandResult:  # fmt: skip
            if argv[0] == "uv":
                uv_started.set()
            elif argv[0] == SHIM:  # the shim answers only once uv is looking
                assert uv_started.wait(timeout=10), "uv python find waited for the shim"
            return super().__call__(argv, env=env, cwd=cwd)

    runner = Concurrent({f"{SHIM} -I": SHIM_FAILS, "uv python find": UV_FINDS,
                         "/uv/python3.12 -I": PY312_PROBE})  # fmt: skip
    found = locate_interpreter(PY312, which=lambda name: SHIM, runner=runner, uv="uv", env={})
    assert found.interpreter == Interpreter("/real/python3.12", "3.12.4", "uv python find")
    assert found.reasons == (
        f"{SHIM} does not run (a pyenv shim without that version?): "
        "pyenv: python3.12: command not found",
    )


def test_a_pyenv_shim_that_runs_is_chosen_whatever_uv_finds() -> None:
    runner = Runner({f"{SHIM} -I": PY312_PROBE, "uv python find": UV_FINDS})
    found = locate_interpreter(PY312, which=lambda name: SHIM, runner=runner, uv="uv", env={})
    assert found.interpreter == Interpreter("/real/python3.12", "3.12.4", "PATH")
    assert found.reasons == ()
    assert ("/uv/python3.12", "-I") not in [argv[:2] for argv, _ in runner.calls]


def test_with_downloads_uv_runs_only_after_a_pyenv_shim_failed() -> None:
    runner = Runner({f"{SHIM} -I": PY312_PROBE, "uv python install": ok("")})
    found = locate_interpreter(
        PY312, which=lambda name: SHIM, runner=runner, uv="uv", python_downloads=True, env={}
    )
    assert found.interpreter is not None and found.interpreter.found_by == "PATH"
    assert [argv[0] for argv, _ in runner.calls] == [SHIM]  # nothing installed
    runner = Runner({f"{SHIM} -I": SHIM_FAILS, "uv python install": ok(""),
                     "uv python find": UV_FINDS, "/uv/python3.12 -I": PY312_PROBE})  # fmt: skip
    locate_interpreter(
        PY312, which=lambda name: SHIM, runner=runner, uv="uv", python_downloads=True, env={}
    )
    assert [argv[:3] for argv, _ in runner.calls] == [
        (SHIM, "-I", "-S"), ("uv", "python", "install"), ("uv", "python", "find"),
        ("/uv/python3.12", "-I", "-S"),
    ]  # fmt: skip


def test_another_magic_number_or_cache_tag_is_refused() -> None:
    runner = Runner({"/usr/bin/python3.12 -I": ok("3.12.0a1\ncpython-312\n3500\n/x\n")})
    found = locate_interpreter(PY312, which=lambda name: f"/usr/bin/{name}", runner=runner)
    assert found.interpreter is None
    assert "writes .pyc magic 3500" in found.reason
    runner = Runner({"/usr/bin/python3.12 -I": ok("3.12.1\npypy312\n3531\n/x\n")})
    found = locate_interpreter(PY312, which=lambda name: f"/usr/bin/{name}", runner=runner)
    assert "writes pypy312 bytecode" in found.reason


def test_the_outcome_is_remembered_until_what_decides_it_changes(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home")}

    def which(name: str) -> str | None:
        return shutil.which(name, path=env["PATH"])

    def fingerprint() -> str:
        return interpreter.discovery_fingerprint(
            HOST, which=which, env=env, explicit=None, python_downloads=False, cwd=tmp_path
        )

    memo = tmp_path / "memo"
    before = fingerprint()
    interpreter.remember(memo, before, Discovery(HOST.python, None, ("none",)))
    assert interpreter.recall(memo, before) == Discovery(HOST.python, None, ("none",))
    os.utime(bin_dir, (1, 1))  # as if a python had been installed into a PATH directory
    assert fingerprint() != before
    assert fingerprint() != interpreter.discovery_fingerprint(
        HOST, which=which, env={**env, "PYENV_VERSION": "3.12.1"}, explicit=None,
        python_downloads=False, cwd=tmp_path,
    )  # fmt: skip

    link = bin_dir / HOST.runtime
    link.symlink_to(sys.executable)
    found = Discovery(HOST.python, Interpreter(str(link), THIS.version, "PATH"))
    interpreter.remember(memo, "found", found)
    assert interpreter.recall(memo, "found") == found
    link.unlink()  # the interpreter that was found is gone: look again
    assert interpreter.recall(memo, "found") is None


@pytest.mark.parametrize("broken", ["{", "[]", '{"python": "3.12"}'])
def test_a_damaged_memo_means_looking_again(tmp_path: Path, broken: str) -> None:
    (tmp_path / "x.json").write_text(broken)
    assert interpreter.recall(tmp_path, "x") is None


def test_bytecode_weighs_on_the_distribution_that_owns_its_module() -> None:
    from layerkit.budget import UNOWNED, size_report
    from layerkit.contents import FileEntry, InstalledDistribution

    entries = [
        FileEntry("six.py", 10),
        FileEntry("__pycache__/six.cpython-312.pyc", 7),
        FileEntry("pkg/a.b.py", 20),  # a dotted file name: a/b are not packages
        FileEntry("pkg/__pycache__/a.b.cpython-312.pyc", 9),
        FileEntry("pkg/__pycache__/stray.cpython-312.pyc", 5),
    ]
    dists = [
        InstalledDistribution("six", "1", "six-1.dist-info", ("six.py",)),
        InstalledDistribution("pkg", "1", "pkg-1.dist-info", ("pkg/a.b.py",)),
    ]
    report = size_report(entries, dists)
    assert {(d.name, d.files, d.bytes) for d in report.distributions} == {
        ("six", 2, 17), ("pkg", 2, 29), (UNOWNED, 1, 5),
    }  # fmt: skip
    assert report.total_bytes == 51


@pytest.mark.parametrize(("signal_number", "raises"), [(2, True), (9, False)])
def test_a_search_cut_short_by_a_signal_is_not_remembered(
    tmp_path: Path, signal_number: int, raises: bool
) -> None:
    """Ctrl-C reaches the whole process group, the interpreter probes too: the search (which
    runs beside the build) must not remember "none found" from a probe killed that way, nor say
    it; SIGINT ends the search as an interrupt, any other signal only keeps it from the memo."""
    from layerkit.build_model import BuildContext
    from layerkit.cache import BuildCache
    from layerkit.config import load_project, resolve_build_settings
    from layerkit.installer import UvBackend
    from layerkit.workflow import discover_interpreter

    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("six\n")
    settings = resolve_build_settings(load_project(project), {"python": ("3.12",)})
    warned: list[str] = []

    def killed(argv: Sequence[str], **_kwargs: object) -> CommandResult:
        return CommandResult(tuple(argv), -signal_number, "", "")

    ctx = BuildContext(backend=UvBackend("uv", "python3"), runner=killed, env={},
                       progress=warned.append, warn=warned.append,
                       which=lambda name: f"/usr/bin/{name}", host_machine="x86_64",
                       resolver=UvBackend("uv", "python3"), cache=BuildCache(tmp_path / "cache"))  # fmt: skip
    target = settings.targets[0]
    if raises:
        with pytest.raises(KeyboardInterrupt):
            discover_interpreter(settings, target, ctx)
    else:
        assert discover_interpreter(settings, target, ctx).interpreter is None  # type: ignore[union-attr]
    assert not list((tmp_path / "cache").rglob("*.json"))
    assert warned == []
