"""What every command shares: output mode, option types and groups, rendering to stdout/stderr.

Not a command module: it registers nothing, and any command module may import it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import sys
import threading
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from layerkit.report import plural, shown

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from rich.console import Console
    from rich.status import Status

    from layerkit.importtest import LayerTestResult
    from layerkit.outputs import Published

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
ProjectDirArgument = Annotated[  # `build` and `deploy`: optional, shown as [DIR]
    Path,
    typer.Argument(metavar="[DIR]", help="Project directory (pyproject.toml / layerkit.toml)."),
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
ForceManagedOption = Annotated[
    bool,
    typer.Option(
        "--force", help="Change a function a CloudFormation/SAM stack manages (it will revert)."
    ),
]

# --- the build keys as flags: `build` and `deploy` take the same ones ---------------------------
RequirementOption = Annotated[
    list[str] | None,
    typer.Option("--requirement", "-r", metavar="FILE", help="Requirements file (repeatable)."),
]
PackageOption = Annotated[
    list[str] | None,
    typer.Option(
        "--package", "-p", metavar="SPEC", help="Requirement or local package path (repeatable)."
    ),
]
LockOption = Annotated[
    str | None,
    typer.Option(
        "--lock",
        metavar="FILE",
        help="Install exactly this lock: pylock.toml, uv.lock, poetry.lock or Pipfile.lock.",
    ),
]
GroupOption = Annotated[
    list[str] | None,
    typer.Option("--group", metavar="NAME", help="Lock group to add to the main one (repeatable)."),
]
ExtraOption = Annotated[
    list[str] | None,
    typer.Option("--extra", metavar="NAME", help="Extra of the locked project (repeatable)."),
]
PythonOption = Annotated[
    list[str] | None,
    typer.Option(
        "--python",
        metavar="3.X",
        show_default="3.13",
        help="Target Python: 3.9 ... 3.14 (repeatable).",
    ),
]
RuntimeOption = Annotated[
    list[str] | None,
    typer.Option("--runtime", metavar="python3.X", help="Target runtime, e.g. python3.12."),
]
ArchOption = Annotated[
    list[str] | None,
    typer.Option(
        "--arch", metavar="ARCH", show_default="x86_64", help="x86_64 or arm64 (repeatable)."
    ),
]
NameOption = Annotated[
    str | None,
    typer.Option("--name", metavar="NAME", help="Layer / zip name (default: the project's)."),
]
OutputOption = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="DIR", show_default="dist", help="Output directory."),
]
InstallerOption = Annotated[
    str | None,
    typer.Option("--installer", metavar="uv|pip", show_default="uv", help="Installer backend."),
]
BudgetOption = Annotated[
    str | None,
    typer.Option(
        "--budget", metavar="SIZE", show_default="250MB", help="Unzipped budget, e.g. 200MB."
    ),
]
IndexUrlOption = Annotated[
    str | None, typer.Option("--index-url", metavar="URL", help="Package index URL.")
]
ExtraIndexUrlOption = Annotated[
    list[str] | None,
    typer.Option("--extra-index-url", metavar="URL", help="Extra index (repeatable)."),
]
FindLinksOption = Annotated[
    list[str] | None,
    typer.Option("--find-links", metavar="PATH|URL", help="Wheel directory/URL (repeatable)."),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude", metavar="DIST", help="Leave out a distribution, e.g. boto3 (repeatable)."
    ),
]
ExcludeGlobOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude-glob", metavar="GLOB", help="Leave out paths matching a glob (repeatable)."
    ),
]
KeepTestsOption = Annotated[
    bool | None,
    typer.Option(
        "--keep-tests/--drop-tests", show_default="drop", help="Keep tests/ dirs inside packages."
    ),
]
StripOption = Annotated[
    bool | None,
    typer.Option(
        "--strip/--no-strip", show_default="no", help="Strip debug symbols from .so files."
    ),
]
CompileOption = Annotated[
    bool | None,
    typer.Option(
        "--compile/--no-compile",
        show_default="when a Python of the target version is found",
        help="Require / never ship .pyc made by the target's Python.",
    ),
]
InterpreterOption = Annotated[
    str | None,
    typer.Option(
        "--interpreter", metavar="PATH", help="Python of the target version to compile .pyc with."
    ),
]
PythonDownloadsOption = Annotated[
    bool | None,
    typer.Option(
        "--python-downloads/--no-python-downloads",
        show_default="no",
        help="Let uv download a Python of the target version to compile with.",
    ),
]
AllowOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow", metavar="DIST", help="Waive compatibility errors of a distribution (repeatable)."
    ),
]
CompressionOption = Annotated[
    str | None,
    typer.Option(
        "--compression", metavar="LEVEL", show_default="default", help="fast, default or small."
    ),
]
DropOtherPlatformsOption = Annotated[
    bool | None,
    typer.Option(
        "--drop-other-platforms/--keep-other-platforms",
        show_default="keep",
        help="Leave out binaries for other platforms (macOS, Windows, the other arch).",
    ),
]
BuildSdistsOption = Annotated[
    bool | None,
    typer.Option(
        "--build-sdists/--no-build",
        show_default="build",
        help="Build sdist-only requirements into pure-Python wheels, or refuse them.",
    ),
]
SbomOption = Annotated[
    bool | None,
    typer.Option("--sbom/--no-sbom", show_default="no", help="Write a CycloneDX SBOM per zip."),
]


@dataclass(frozen=True)
class BuildKeys:
    """The build keys as flags (None = not given): `build` and `deploy` take the same ones."""

    requirement: RequirementOption = None
    lock: LockOption = None
    group: GroupOption = None
    extra: ExtraOption = None
    package: PackageOption = None
    python: PythonOption = None
    runtime: RuntimeOption = None
    arch: ArchOption = None
    name: NameOption = None
    output: OutputOption = None
    installer: InstallerOption = None
    budget: BudgetOption = None
    index_url: IndexUrlOption = None
    extra_index_url: ExtraIndexUrlOption = None
    find_links: FindLinksOption = None
    exclude: ExcludeOption = None
    exclude_glob: ExcludeGlobOption = None
    keep_tests: KeepTestsOption = None
    strip: StripOption = None
    drop_other_platforms: DropOtherPlatformsOption = None
    compile_pyc: CompileOption = None
    interpreter: InterpreterOption = None
    python_downloads: PythonDownloadsOption = None
    build_sdists: BuildSdistsOption = None
    allow: AllowOption = None
    compression: CompressionOption = None
    sbom: SbomOption = None


def build_overrides(keys: BuildKeys) -> dict[str, Any]:
    """The build keys given as flags (None = not given), for `resolve_build_settings`."""
    interpreter, output = keys.interpreter, keys.output
    return {
        "requirements": _absolute(keys.requirement),
        "lock": str(Path(keys.lock).expanduser().resolve()) if keys.lock else None,
        "groups": tuple(keys.group) if keys.group else None,
        "extras": tuple(keys.extra) if keys.extra else None,
        "packages": _absolute_specs(keys.package),
        "python": tuple(keys.python or ()) + tuple(keys.runtime or ()) or None,
        "arch": tuple(keys.arch) if keys.arch else None,
        "name": keys.name,
        "output": str(Path(output).resolve()) if output else None,
        "installer": keys.installer,
        "budget": keys.budget,
        "index-url": keys.index_url,
        "extra-index-urls": tuple(keys.extra_index_url) if keys.extra_index_url else None,
        "find-links": _absolute_specs(keys.find_links),
        "exclude": tuple(keys.exclude) if keys.exclude else None,
        "exclude-globs": tuple(keys.exclude_glob) if keys.exclude_glob else None,
        "keep-tests": keys.keep_tests,
        "strip": keys.strip,
        "compile": keys.compile_pyc,
        # a path is relative to the current directory; a bare name is looked up on PATH
        "interpreter": str(Path(interpreter).expanduser().absolute())
        if interpreter and "/" in interpreter
        else interpreter,
        "python-downloads": keys.python_downloads,
        "drop-other-platforms": keys.drop_other_platforms,
        "build-sdists": keys.build_sdists,
        "allow": tuple(keys.allow) if keys.allow else None,
        "compression": keys.compression,
        "sbom": keys.sbom,
    }


def _absolute(paths: list[str] | None) -> tuple[str, ...] | None:
    """Paths typed on the command line are relative to the current directory."""
    if not paths:
        return None
    return tuple(str(Path(p).expanduser().resolve()) for p in paths)


def _absolute_specs(specs: list[str] | None) -> tuple[str, ...] | None:
    if not specs:
        return None
    return tuple(
        str(Path(s).expanduser().resolve()) if s.startswith((".", "/", "~")) else s for s in specs
    )


R = TypeVar("R")
Result = TypeVar("Result", bound="DataclassInstance")
Command = TypeVar("Command", bound=Callable[..., None])


def takes_flag_groups(command: Command) -> Command:
    """Let `command` take a group of flags as one parameter annotated with a frozen dataclass
    (e.g. `keys: BuildKeys`): Typer sees each field of the group as its own option, in the
    parameter's place, and the command receives the dataclass. Flags that several commands share
    are so declared once, with their help, and reach the use case as one typed value. A field
    named like another parameter is refused (`inspect.Signature` raises on the duplicate)."""
    hints = typing.get_type_hints(command, include_extras=True)
    groups: dict[str, type[Any]] = {}
    params: list[inspect.Parameter] = []
    for param in inspect.signature(command).parameters.values():
        hint = hints[param.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            groups[param.name] = hint
            field_hints = typing.get_type_hints(hint, include_extras=True)
            params.extend(
                inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                  default=inspect.Parameter.empty if f.default is MISSING
                                  else f.default, annotation=field_hints[f.name])
                for f in dataclasses.fields(hint)
            )  # fmt: skip
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hint))

    @functools.wraps(command)
    def with_groups(**flags: Any) -> None:
        for name, group in groups.items():
            names = [f.name for f in dataclasses.fields(group)]
            flags[name] = group(**{n: flags.pop(n) for n in names})
        command(**flags)

    # Typer reads the options from the signature (and its annotations), not from the function.
    with_groups.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    with_groups.__annotations__ = {p.name: p.annotation for p in params}
    return typing.cast(Command, with_groups)


class Printing:
    """For a flag group that ends with --json and --quiet: the `Output` they ask for."""

    json_output: bool
    quiet: bool

    def output(self) -> Output:
        return Output(json=self.json_output, quiet=self.quiet)


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

    def settle(self) -> None:
        """End the current stage's spinner, and with it the threads that draw it (the next line
        starts a stage as usual): a build forks its workers only with no other thread running."""
        if self._stages:
            self._stages[-1].stop()

    def warn(self, message: str) -> None:
        """Warnings always reach stderr, even with --json (stdout stays one document)."""
        if self._stages:
            from rich.text import Text

            self._stages[-1].console.print(Text(f"warning: {shown(message)}"))
            return
        if not self.quiet:
            self.stderr.print(f"warning: {shown(message)}", markup=False)

    def emit(
        self, kind: str, result: Result, render_text: Callable[[Console, Result], None]
    ) -> None:
        """Print the result: the JSON document of `kind` (`rendering.json_document`: `result` is a
        frozen dataclass), or text via `render_text`, or nothing (--quiet)."""
        if self.json:
            from layerkit.rendering import json_document

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


# Said of a skipped import test, wherever one is shown.
SKIPPED_NOTE = "nothing was imported: this is not a pass"


def render_layer_test(console: Console, result: LayerTestResult) -> None:
    """Human-readable import test (`test`, and `build --test` per zip): per module its import
    time (slowest first) or its error."""
    target = f"{result.target.runtime} {result.target.arch}"
    if result.status == "skipped":
        console.print(f"{result.source.name}: import test SKIPPED for {target}: {result.reason}\n"
                      f"  {SKIPPED_NOTE}", markup=False)  # fmt: skip
        return
    console.print(
        f"{result.source.name}: imported {plural(len(result.imports), 'module')} for {target} with "
        f"{result.interpreter} (fresh interpreter each, read-only copy, Lambda's sys.path)",
        markup=False,
    )
    width = max(len(i.module) for i in result.imports)
    for item in result.imports:
        verdict = f"FAILED: {item.error}" if item.error else f"{item.seconds:.3f} s"
        console.print(f"  {item.module:<{width}}  {verdict}", markup=False)
    failed = len(result.failures)
    console.print(f"import test: {'passed' if not failed else f'{failed} failed'}", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)


# --- fitting into CI and deployment environments: --env NAME and --output-env FILE ----------
EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        metavar="NAME",
        help="Use [tool.layerkit.env.NAME] (bucket, regions, functions, layer-name, ...) over "
        "[tool.layerkit.publish]; flags still win.",
    ),
]
OutputEnvOption = Annotated[
    Path | None,
    typer.Option(
        "--output-env",
        metavar="FILE",
        help="Write LAYER_ARN, LAYER_VERSION and CODE_SHA256 (per target/region when several) "
        "as KEY=value lines; GITHUB_OUTPUT, when set, gets them too.",
    ),
]


def write_ci_outputs(results: Sequence[Published], output_env: Path | None) -> None:
    """Hand what was published to the next CI step: GITHUB_OUTPUT (when set) and --output-env."""
    from layerkit.outputs import GITHUB_OUTPUT, write_outputs

    write_outputs(results, github_output=os.environ.get(GITHUB_OUTPUT), env_file=output_env)


def env_keys(project: Path, env: str | None) -> Mapping[str, Any]:
    """`--env NAME`'s keys: its table laid over the publish table of `project` (read even when
    the command line gives everything: an unknown name is an error). Empty without --env."""
    if env is None:
        return {}
    from layerkit.config import load_project, select_env

    return select_env(load_project(project), env).publish


def env_functions(given: Sequence[str] | None, *, project: Path, env: str | None) -> list[str]:
    """The functions named on the command line, else those of `--env`'s ``functions``."""
    from layerkit.errors import UsageError

    configured: tuple[str, ...] = env_keys(project, env).get("functions", ())
    chosen = list(given or configured)
    if not chosen:
        raise UsageError(
            "no function to attach to",
            hint="give FUNCTION..., or --env NAME whose table sets functions",
        )
    return chosen
