"""The real collaborators of a run, wired in one place for the commands that need them: a build's
installer, runner, host tools and cache (`build` and `deploy`), the record `publish` reads, and
the host of an import test (`test` and `build --test`).

Not a command module: it imports no typer and prints nothing (progress and warnings are passed in).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerkit.build_model import BuildContext, BuildResult
    from layerkit.config import BuildSettings, ProjectConfig
    from layerkit.importtest import ImportHost


def _ask_quietly(ask: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        ask()


def build_context(
    settings: BuildSettings,
    *,
    progress: Callable[[str], None],
    warn: Callable[[str], None],
    settle: Callable[[], None] = lambda: None,
    force: bool = False,
) -> BuildContext:
    """Wire a build's collaborators: the real installer, subprocess runner, host tools, cache."""
    from uv import find_uv_bin

    from layerkit.installer import UvBackend, installer_environment, make_backend, run_command

    backend = make_backend(settings.installer)
    # Every cache key names the installer's version, which takes a subprocess to learn (~6 ms
    # with uv): ask it while the build machinery loads. A failure is reported when the build
    # asks again, in this thread.
    asking = threading.Thread(target=_ask_quietly, args=(backend.version,), name="layerkit-ask")
    asking.start()
    from layerkit.build_model import BuildContext
    from layerkit.cache import BuildCache, cache_dir, installer_cache_env

    env = {**installer_environment(), **installer_cache_env(os.environ, settings.installer)}
    asking.join()
    return BuildContext(
        backend=backend,
        runner=run_command,
        env=env,
        progress=progress,
        warn=warn,
        which=shutil.which,
        host_machine=platform.machine(),
        # uv resolves (cache-key pins, the wheel lock) whatever installs; the uv installer serves.
        resolver=backend
        if isinstance(backend, UvBackend)
        else UvBackend(uv=find_uv_bin(), python=sys.executable),
        cache=BuildCache(cache_dir(os.environ)),
        force=force,
        settle=settle,
    )


def remember_build(settings: BuildSettings, config: ProjectConfig, result: BuildResult) -> None:
    """Leave the record `publish` reads to find exactly these zips (see `layerkit.lastbuild`)."""
    from layerkit.lastbuild import record_last_build

    record_last_build(
        settings,
        config,
        [(b.zip_path, b.manifest.sha256, b.target.slug) for b in result.builds],
    )


def import_host() -> ImportHost:
    """This machine, as the import test sees it: the real runner, PATH and architecture."""
    from layerkit.importtest import ImportHost
    from layerkit.installer import run_command

    return ImportHost(runner=run_command, which=shutil.which, machine=platform.machine())
