"""The build's data: what one target's build produced, what a build returns, and the
collaborators a build runs with (`BuildContext`, wired by the CLI).

`workflow` (the use case), `assembly` (a build from scratch, loaded only when the cache cannot
serve a target) and the commands that build (`build`, `deploy`) all import these from here, so
each depends downward and none on another. Imports no boundary library (held by
tests/test_architecture.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerkit.budget import SizeReport
from layerkit.manifest import Manifest
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.cache import BuildCache
    from layerkit.installer import CommandRunner, InstallerBackend, UvBackend
    from layerkit.interpreter import Which
    from layerkit.layerparts import LayerParts
    from layerkit.slim.apply import SlimReport

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TargetBuild:
    """The outcome of building one target."""

    target: Target
    zip_path: Path
    manifest_path: Path
    manifest: Manifest
    size: SizeReport
    slim: Mapping[str, Any]  # `slim_summary` of what slimming did
    waived: tuple[str, ...]  # compatibility problems the user explicitly accepted
    sbom_path: Path | None = None
    cached: bool = False  # reused from the build cache: nothing was installed or zipped
    notes: tuple[str, ...] = ()  # advice, e.g. why a direct requirement's version is old
    # The record of a clean build (`layerparts.record_parts`), kept with it in the cache: a later
    # build of other pins may redo only the distributions that changed (`assemble_changed`).
    parts: LayerParts | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class BuildResult:
    name: str
    installer: str
    installer_version: str
    builds: tuple[TargetBuild, ...]


@dataclass(frozen=True)
class BuildContext:
    """The collaborators of a build, wired by the CLI."""

    backend: InstallerBackend
    runner: CommandRunner
    env: Mapping[str, str]
    progress: Progress
    warn: Progress
    which: Which
    host_machine: str
    resolver: UvBackend  # uv pip compile: pins and wheel lock where uv installs (see `_resolve`)
    cache: BuildCache | None = None
    force: bool = False  # rebuild even when the cache holds the same inputs
    # Held while a target is slimmed, verified and zipped (`assembly.assemble`): one target at a
    # time, while the others resolve and install (`workflow._build_layers`, `targetpool`).
    processing: contextlib.AbstractContextManager[Any] = field(
        default_factory=contextlib.nullcontext
    )
    # Ends whatever threads the progress display runs (a terminal's spinner), before the build
    # forks its workers: a fork needs a process with no other thread (`targetpool.fork_is_safe`).
    settle: Callable[[], None] = field(default=lambda: None)


def zip_name(name: str, target: Target) -> str:
    return f"{name}-{target.slug}.zip"


def slim_summary(report: SlimReport) -> dict[str, Any]:
    """What slimming removed, per rule, and what strip/compile did, as plain data."""
    strip, compiled = report.strip, report.compile
    return {
        "removed_files": report.files,
        "removed_bytes": report.bytes,
        "rules": [
            {"rule": r.rule, "description": r.description, "files": r.files, "bytes": r.bytes}
            for r in report.rules
        ],
        "strip": None
        if strip is None
        else {
            "tool": strip.tool,
            "files": len(strip.files),
            "bytes_saved": strip.bytes_saved,
            "skipped_reason": strip.skipped_reason,
        },
        "compile": None
        if compiled is None
        else {
            "interpreter": compiled.interpreter,
            "interpreter_version": compiled.version,
            "mode": compiled.mode,
            "files": compiled.files,
            "bytes": compiled.bytes,
            "reused_files": compiled.reused,
            "compiled_files": compiled.compiled,
            "dropped": [
                {"package": d.package, "files": d.files, "bytes": d.bytes} for d in compiled.dropped
            ],
            "skipped_reason": compiled.skipped_reason,
        },
        "notes": list(report.notes),
    }
