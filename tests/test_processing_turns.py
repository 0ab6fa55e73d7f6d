"""Targets in flight at once take turns to slim, verify and zip, and install meanwhile."""

from __future__ import annotations

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

from layerkit import assembly
from layerkit.build_model import BuildContext, TargetBuild
from layerkit.cache import BuildCache
from layerkit.config import load_project, resolve_build_settings
from layerkit.installer import CommandResult, UvBackend, run_command
from layerkit.targets import make_target
from layerkit.workflow import build_layers
from tests.build_fixtures import make_project
from tests.support import isolated_env
from tests.wheels import make_wheel, serve_index, serve_index_in_a_process

TARGETS = 4  # 3.12 and 3.13 x x86_64 and arm64


def test_one_target_at_a_time_is_processed_while_the_others_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uv import find_uv_bin

    dists = tmp_path / "dists"
    for python in ("cp312", "cp313"):
        for arch in ("x86_64", "aarch64"):
            make_wheel(dists, "natpkg", "1.0", tag=f"{python}-{python}-manylinux_2_17_{arch}")

    # Every target's install waits until all of them are installing: they really are in flight
    # at once (a build that ran them one after another would break the barrier after 60 s).
    installing = threading.Barrier(TARGETS, timeout=60)

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        if "install" in argv and "--target" in argv:
            installing.wait()
        return run_command(argv, env=env, cwd=cwd)

    lock = threading.Lock()
    processing: list[int] = []  # how many targets were processing, each time one began
    active = 0
    processed = assembly._processed

    def counted(*args: Any, **kwargs: Any) -> TargetBuild:
        nonlocal active
        with lock:
            active += 1
            processing.append(active)
        try:
            time.sleep(0.2)  # long enough for a second target to come in, were it let in
            return processed(*args, **kwargs)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(assembly, "_processed", counted)
    env = isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    with serve_index(dists, tmp_path / "index") as url:
        settings = resolve_build_settings(
            load_project(make_project(tmp_path, "natpkg\n")),
            {"python": ("3.12", "3.13"), "arch": ("x86_64", "arm64"), "index-url": url,
             "compile": False, "output": str(tmp_path / "out")},
        )  # fmt: skip
        uv = UvBackend(uv=find_uv_bin(), python=shutil.which("python3") or "python3")
        ctx = BuildContext(backend=uv, runner=runner, env=env, progress=lambda _m: None,
                           warn=lambda _m: None, which=shutil.which,
                           host_machine=platform.machine(), resolver=uv)  # fmt: skip
        result = build_layers(settings, ctx, jobs=TARGETS, processes=False)
    assert [b.target for b in result.builds] == list(settings.targets)
    assert processing == [1] * TARGETS  # each alone


def test_a_target_that_waited_its_turn_through_a_failure_stops_there() -> None:
    from layerkit.targetpool import Cancelled
    from layerkit.workflow import _target_context

    turns = threading.Lock()
    stopping = threading.Event()
    ctx = BuildContext(backend=UvBackend("uv", "python3"), runner=run_command, env={},
                       progress=lambda _m: None, warn=lambda _m: None, which=shutil.which,
                       host_machine="x86_64", resolver=UvBackend("uv", "python3"),
                       processing=turns)  # fmt: skip
    target = make_target("3.12", "x86_64")
    waiting = _target_context(ctx, target, stopping, parallel=True)
    with waiting.processing:
        assert turns.locked()  # its turn, while the build goes on
    stopping.set()  # another target failed, or Ctrl-C
    with pytest.raises(Cancelled), waiting.processing:
        raise AssertionError("processed after the build stopped")
    assert not turns.locked()  # and the next in line is not kept waiting


def test_a_resolution_is_asked_once_and_its_failure_kept() -> None:
    """The install and the old-versions probe share one resolution: asked by both threads, it
    runs once; a failure is raised to each asker without running it again."""
    from layerkit.errors import ResolutionError
    from layerkit.workflow import _once

    calls: list[int] = []

    def failing() -> str:
        calls.append(1)
        raise ResolutionError("no solution")

    resolution = _once(failing)
    for _ in range(2):
        with pytest.raises(ResolutionError, match="no solution"):
            resolution()
    assert len(calls) == 1

    def resolved() -> str:
        calls.append(2)
        return "six==1.17.0\n"

    pins = _once(resolved)
    assert pins() == pins() == "six==1.17.0\n"
    assert calls == [1, 2]


def test_targets_built_in_child_processes_are_in_flight_at_once_and_zip_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where forking is safe, each target of a build is built in a child process of its own
    (they process on every core, not taking turns for the GIL): all four are in flight at once,
    their lines reach this process, and the zips are byte for byte those of threads."""
    from uv import find_uv_bin

    from layerkit import targetpool, workflow

    if sys.platform != "linux":
        pytest.skip("targets are built in child processes on Linux only")
    # Forked whatever threads this test process has left (another test's server may still be
    # winding down): `fork_is_safe` itself is tested in a fresh process (test_targetpool.py).
    for module in (targetpool, workflow):
        monkeypatch.setattr(module, "fork_is_safe", lambda **_: True)
    dists = tmp_path / "dists"
    for python in ("cp312", "cp313"):
        for arch in ("x86_64", "aarch64"):
            make_wheel(dists, "natpkg", "1.0", tag=f"{python}-{python}-manylinux_2_17_{arch}")
    installing = tmp_path / "installing"
    installing.mkdir()

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        if "install" in argv and "--target" in argv:  # in a child: a barrier of files
            (installing / f"{os.getpid()}-{threading.get_ident()}").touch()
            deadline = time.monotonic() + 60
            while len(list(installing.iterdir())) < TARGETS and time.monotonic() < deadline:
                time.sleep(0.02)
        return run_command(argv, env=env, cwd=cwd)

    env = isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    uv = UvBackend(uv=find_uv_bin(), python=shutil.which("python3") or "python3")
    heard: list[str] = []
    project = load_project(make_project(tmp_path, "natpkg\n"))
    with serve_index_in_a_process(dists, tmp_path / "index") as url:

        def build(output: str, *, processes: bool) -> list[TargetBuild]:
            settings = resolve_build_settings(
                project,
                {"python": ("3.12", "3.13"), "arch": ("x86_64", "arm64"), "index-url": url,
                 "compile": False, "output": str(tmp_path / output)},
            )  # fmt: skip
            ctx = BuildContext(backend=uv, runner=runner, env=env, progress=heard.append,
                               warn=heard.append, which=shutil.which,
                               host_machine=platform.machine(), resolver=uv,
                               cache=BuildCache(tmp_path / "cache"), force=True)  # fmt: skip
            builds = build_layers(settings, ctx, jobs=TARGETS, processes=processes).builds
            assert [b.target for b in builds] == list(settings.targets)
            return list(builds)

        in_processes = build("out-processes", processes=True)
        pids = {int(p.name.split("-")[0]) for p in installing.iterdir()}
        assert len(pids) == TARGETS and os.getpid() not in pids  # four children at once
        for target in in_processes:
            assert f"{target.target}: installing with uv {uv.version()}" in heard
        for path in installing.iterdir():
            path.unlink()
        in_threads = build("out-threads", processes=False)
    for child, thread in zip(in_processes, in_threads, strict=True):
        assert child.zip_path.read_bytes() == thread.zip_path.read_bytes()
        assert child.manifest == thread.manifest
