"""`layerkit targets`: the python x arch targets a project's configuration asks for.

The generated GitHub Actions workflow runs ``layerkit targets . --json`` in its first job and
feeds the ``targets`` list to the build job's matrix (``include: ${{ fromJSON(...).targets }}``),
so `python` and `arch` in ``[tool.layerkit]`` / layerkit.toml are the only place a target is named.
Reads the configuration only: installs and builds nothing, imports no boundary library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layerkit.config import configured_targets, load_project


@dataclass(frozen=True)
class MatrixEntry:
    """One target as a CI matrix row: every value a job may need to name or build it."""

    python: str
    arch: str
    runtime: str
    slug: str


@dataclass(frozen=True)
class TargetsResult:
    """The targets of one project, in build order, and the file they were read from."""

    project_dir: Path
    config_file: Path | None
    targets: tuple[MatrixEntry, ...]


def project_targets(project_dir: Path) -> TargetsResult:
    """The python x arch targets `project_dir`'s configuration names (or the defaults)."""
    config = load_project(project_dir)
    return TargetsResult(
        project_dir=project_dir,
        config_file=config.source,
        targets=tuple(
            MatrixEntry(python=t.python, arch=t.arch, runtime=t.runtime, slug=t.slug)
            for t in configured_targets(config.build)
        ),
    )
