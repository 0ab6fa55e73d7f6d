"""What every command shares: output mode, option types, rendering to stdout/stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from layerkit.report import json_document, shown

if TYPE_CHECKING:
    from rich.console import Console

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ProjectArgument = Annotated[
    Path,
    typer.Argument(metavar="PATH", help="Project directory (pyproject.toml / layerkit.toml)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (default: the standard AWS chain).")
]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: the standard AWS chain).")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
]

R = TypeVar("R")


@dataclass(frozen=True)
class Output:
    """Where and how a command speaks: JSON on stdout, text on stdout, progress on stderr."""

    json: bool = False
    quiet: bool = False

    @property
    def stdout(self) -> Console:
        # rich costs ~15 ms to import; --quiet and --json runs never need it.
        from rich.console import Console

        return Console(soft_wrap=True, highlight=False, emoji=False)

    @property
    def stderr(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)

    @property
    def interactive(self) -> bool:
        return not self.json and not self.quiet and sys.stderr.isatty()

    def progress(self, message: str) -> None:
        """A progress line on stderr (silent with --json or --quiet)."""
        if not self.json and not self.quiet:
            text = shown(message)
            if self.interactive:
                from rich.markup import escape

                self.stderr.print(f"[dim]{escape(text)}[/dim]")
            else:
                self.stderr.print(text, markup=False)

    def warn(self, message: str) -> None:
        """Warnings always reach stderr, even with --json (stdout stays one document)."""
        if not self.quiet:
            self.stderr.print(f"warning: {shown(message)}", markup=False)

    def emit(self, kind: str, result: Any, render_text: Callable[[Console, Any], None]) -> None:
        """Print the result: a JSON document, or text via `render_text`, or nothing (--quiet)."""
        if self.json:
            sys.stdout.write(json_document(kind, result) + "\n")
        elif not self.quiet:
            render_text(self.stdout, result)

    def run_with_status(self, message: str, action: Callable[[], R]) -> R:
        """Run `action` under a spinner on a terminal, or after one plain line otherwise."""
        if self.interactive:
            with self.stderr.status(message):
                return action()
        self.progress(message)
        return action()
