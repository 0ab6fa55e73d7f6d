"""What every command shares: output mode, option types, rendering to stdout/stderr."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from layerkit.report import json_document, shown

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

# A stage that has run this long gets a spinner (on a terminal): shorter ones are just a line.
SPINNER_AFTER = 1.0


class Stages:
    """Progress of a long command on a terminal: each stage's line as it starts, and a live
    spinner with the stage's name once it has run for `after` seconds. Only `Output` makes
    one, and only when stderr is a terminal; elsewhere progress is plain lines."""

    def __init__(self, console: Console, *, after: float = SPINNER_AFTER) -> None:
        self._console = console
        self._after = after
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._status: Status | None = None
        self._current = 0

    @property
    def console(self) -> Console:
        """The console the spinner draws on: print through it while a stage runs."""
        return self._console

    def start(self, message: str) -> None:
        """A new stage: the previous one's spinner stops, this one's line is printed."""
        from rich.text import Text

        with self._lock:
            self._stop_locked()
            self._current += 1
            self._console.print(Text(message, style="dim"))
            self._timer = threading.Timer(self._after, self._spin, (self._current, message))
            self._timer.daemon = True
            self._timer.start()

    def _spin(self, stage: int, message: str) -> None:
        from rich.text import Text

        with self._lock:
            if stage == self._current and self._status is None:
                self._status = self._console.status(Text(message), spinner="dots")
                self._status.start()

    def _stop_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._status is not None:
            self._status.stop()
            self._status = None

    def stop(self) -> None:
        """End the last stage (its spinner, if any, disappears)."""
        with self._lock:
            self._current += 1
            self._stop_locked()


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


def examples(*commands: str) -> str:
    """A command's help epilog: real examples, one per line, never rewrapped (click's \\b)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {command}" for command in commands)


@dataclass(frozen=True)
class Output:
    """Where and how a command speaks: JSON on stdout, text on stdout, progress on stderr."""

    json: bool = False
    quiet: bool = False
    _stages: list[Stages] = field(default_factory=list, repr=False, compare=False)

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
    def text(self) -> bool:
        """Whether the result is printed as text for a reader (not JSON, not --quiet)."""
        return not self.json and not self.quiet

    @property
    def interactive(self) -> bool:
        return not self.json and not self.quiet and sys.stderr.isatty()

    @contextlib.contextmanager
    def stages(self) -> Iterator[None]:
        """Within this block, `progress` lines on a terminal get a spinner once a stage runs
        for over a second; the spinner is gone when the block ends, however it ends."""
        if not self.interactive:
            yield
            return
        stages = Stages(self.stderr)
        self._stages.append(stages)
        try:
            yield
        finally:
            stages.stop()
            self._stages.remove(stages)

    def stage(self, message: str) -> None:
        """A stage worth a spinner on a terminal but no line in a log: said only within
        `stages()` on a terminal (a quick command stays silent when piped)."""
        if self._stages:
            self._stages[-1].start(shown(message))

    def progress(self, message: str) -> None:
        """A progress line on stderr (silent with --json or --quiet)."""
        if self._stages:
            self._stages[-1].start(shown(message))
            return
        if not self.json and not self.quiet:
            text = shown(message)
            if self.interactive:
                from rich.markup import escape

                self.stderr.print(f"[dim]{escape(text)}[/dim]")
            else:
                self.stderr.print(text, markup=False)

    def warn(self, message: str) -> None:
        """Warnings always reach stderr, even with --json (stdout stays one document)."""
        if self._stages:
            from rich.text import Text

            self._stages[-1].console.print(Text(f"warning: {shown(message)}"))
            return
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
