"""Progress on stderr: on a terminal, a stage that runs for over a second gets a spinner; piped,
every stage is one plain line and nothing else."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
from rich.console import Console

from layerkit.commands.common import Output, Stages


def _wait_for(condition: Callable[[], object], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_long_stage_gets_a_spinner_and_a_short_one_only_its_line() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80, color_system=None)
    stages = Stages(console, after=0.05)
    stages.start("resolving")
    stages.start("installing")  # resolving ended at once: its line, no spinner
    assert _wait_for(lambda: buffer.getvalue().count("installing") > 1)
    stages.stop()
    settled = buffer.getvalue()
    assert settled.count("resolving") == 1
    assert "\x1b[?25l" in settled  # the spinner hid the cursor while it ran...
    # ...and when the stage ended gave it back and erased the spinner's line (transient)
    assert settled.endswith("\x1b[?25h\r\x1b[1A\x1b[2K")
    time.sleep(0.1)
    assert buffer.getvalue() == settled  # nothing draws after the end


def test_piped_progress_is_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output()
    assert not out.interactive  # pytest's stderr is not a terminal
    with out.stages():
        out.stage("inspecting layer.zip")  # a terminal's spinner only: no line in a log
        out.progress("python3.12-x86_64: installing with uv 0.9")
        out.warn("careful")
    captured = capsys.readouterr()
    assert captured.err == "python3.12-x86_64: installing with uv 0.9\nwarning: careful\n"
    assert captured.out == ""


def test_a_stage_on_a_terminal_shows_its_line_then_its_spinner() -> None:
    buffer = io.StringIO()
    out = Output()
    stages = Stages(Console(file=buffer, force_terminal=True, width=80), after=0.05)
    out._stages.append(stages)  # what `stages()` does when stderr is a terminal
    out.stage("inspecting layer.zip")
    assert _wait_for(lambda: buffer.getvalue().count("inspecting layer.zip") > 1)
    stages.stop()


def test_settling_ends_the_threads_that_draw_the_spinner() -> None:
    """A build forks its workers only with no other thread running: `Output.settle` ends the
    current stage's timer and spinner, whose threads then end within a redraw; the next line
    starts a stage as usual."""
    import threading

    def drawing() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t is not threading.current_thread()
                and (isinstance(t, threading.Timer) or type(t).__name__ == "_RefreshThread")]  # fmt: skip

    buffer = io.StringIO()
    out = Output()
    out._stages.append(Stages(Console(file=buffer, force_terminal=True, width=80), after=0.05))
    out.progress("building a wheel of ./mypkg")
    assert drawing()  # the timer waits to start the spinner
    out.settle()
    assert _wait_for(lambda: not drawing(), seconds=1.0)
    out.progress("installing")
    assert _wait_for(lambda: buffer.getvalue().count("installing") > 1)  # its spinner runs
    assert drawing()
    out.settle()
    assert _wait_for(lambda: not drawing(), seconds=1.0)
