"""`layerkit targets`: the python x arch targets of a project, as text or as CI's matrix JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from layerkit.commands.common import JsonOption, Output, ProjectArgument, QuietOption

if TYPE_CHECKING:
    from rich.console import Console

    from layerkit.matrix import TargetsResult


def targets(
    project: ProjectArgument = Path(), json_output: JsonOption = False, quiet: QuietOption = False
) -> None:
    """Print the python x arch targets the configuration names (the CI workflow's matrix)."""
    from layerkit.matrix import project_targets

    Output(json=json_output, quiet=quiet).emit(
        "targets", project_targets(project.resolve()), render_targets
    )


def render_targets(console: Console, result: TargetsResult) -> None:
    """One target per line, e.g. ``python3.13-arm64``."""
    for target in result.targets:
        console.print(target.slug, markup=False)


def register(app: typer.Typer) -> None:
    """Add `targets` to the app."""
    app.command("targets")(targets)
