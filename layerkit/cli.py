"""The `layerkit` command line: Typer wiring only.

Typer is imported here and by the command modules (`layerkit.commands.*`), each of which
registers its commands on the app; nothing below them imports it (tests/test_architecture.py).
All exits go through `run()`, which maps each `LayerkitError` to its exit code.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import typer

# Newer Typer releases vendor click as `typer._click`; older ones use click itself.
try:
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import ClickException  # type: ignore[assignment]

from layerkit import __version__
from layerkit.errors import ExitCode, LayerkitError

# The modules of `layerkit.commands`, each with the top-level commands its `register` adds.
# Typer turns every registered command's signature into click parameters on each run (~15 ms for
# all of them), so a run registers only the module of the command it names; `--help`, no command
# or an unknown one get every module. tests/test_startup.py holds this table to the modules.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "build_commands": ("build", "inspect"),
    "publish_commands": ("publish", "attach", "detach", "deploy", "layers"),
    "release_commands": ("version", "alias"),
    "init_commands": ("init",),
    "targets_commands": ("targets",),
    "test_commands": ("test",),
    "cache_commands": ("cache",),
}


ROOT_EPILOG = (
    "Every command takes --json (one JSON document on stdout) and -q/--quiet (errors only); "
    "--debug, before or after the command, shows tracebacks. Exit codes: 0 ok, 2 usage, "
    "3 over budget, 4 install, 5 verification, 6 AWS, 7 release aborted, 8 filesystem, "
    "130 interrupted; the table is in README.md (section 'Exit codes')."
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"layerkit {__version__}")
        raise typer.Exit(0)


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks for errors (never credentials)."
    ),
) -> None:
    """Build, verify, publish and release AWS Lambda layers for Python."""


def _modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    # The root takes only flags, so the first word that is not an option names the command;
    # `--help` before it asks for the root's help, which lists every command.
    for arg in argv:
        if arg == "--help":
            break
        if not arg.startswith("-"):
            named = tuple(module for module, names in COMMAND_MODULES.items() if arg in names)
            return named or tuple(COMMAND_MODULES)
    return tuple(COMMAND_MODULES)


def make_app(argv: Sequence[str] = ()) -> typer.Typer:
    """The `layerkit` app, with the commands `argv` can reach (all of them for an empty one)."""
    app = typer.Typer(
        name="layerkit",
        help="Build, verify, publish and release AWS Lambda layers for Python.",
        epilog=ROOT_EPILOG,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.callback()(_root)
    for name in _modules_for(argv):
        # Modules that talk to AWS import boto3 only when their commands run.
        importlib.import_module(f"layerkit.commands.{name}").register(app)
    return app


def _debug_requested(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("LAYERKIT_DEBUG", "") not in ("", "0")


def _print_traceback(error: BaseException) -> None:
    import traceback  # ~5 ms to import; only --debug runs print one

    traceback.print_exception(error)


def _print_error(error: LayerkitError) -> None:
    # Messages name files from zips and wheels: their control characters are shown, not obeyed.
    from layerkit.report import shown

    sys.stderr.write(f"error: {shown(error.message, keep_newlines=True)}\n")
    if error.hint:
        sys.stderr.write(f"hint: {shown(error.hint, keep_newlines=True)}\n")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit code. Never raises."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    # `--debug` is accepted after the command too: only the root declares it, so it goes here.
    end = args.index("--") if "--" in args else len(args)
    args = [a for a in args[:end] if a != "--debug"] + args[end:]
    try:
        # With standalone_mode=False click returns Exit's code instead of raising it.
        returned = make_app(args)(args=args, prog_name="layerkit", standalone_mode=False)
    except LayerkitError as error:
        if debug:
            _print_traceback(error)
        _print_error(error)
        return int(error.exit_code)
    except typer.Exit as done:
        returned = done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        returned = int(ExitCode.INTERRUPTED)
    except ClickException as usage:
        usage.show()
        return int(ExitCode.USAGE)
    except Exception as unexpected:
        if debug:
            _print_traceback(unexpected)
        sys.stderr.write(f"error: internal error: {type(unexpected).__name__}: {unexpected}\n")
        sys.stderr.write("hint: re-run with --debug and report it with the output\n")
        return int(ExitCode.INTERNAL)
    code = returned if isinstance(returned, int) else int(ExitCode.OK)
    if code == ExitCode.INTERRUPTED:
        # Ctrl-C arrives as KeyboardInterrupt, click's Abort, or (Typer) an Exit(130) that click
        # hands back silently: whichever it was, it is said here, once.
        sys.stderr.write("error: interrupted\n")
    return code


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
