"""Installers (uv, pip) and the one subprocess boundary of layerkit.

An install request becomes an argv by a pure function per backend (tests compare it exactly for
every runtime x arch); `run_command` is the only place a subprocess is started. Both backends
install for the *target*: binary wheels only, the target's Python version, ABI and manylinux tags.
Neither builds an sdist; `layerkit.sdists` builds sdist-only requirements into pure-Python wheels
first (`build_wheel`, isolated) and refuses compiled ones.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, TypeVar

from layerkit.config import IndexOptions, InstallerName
from layerkit.errors import (
    CompatibilityError,
    InstallerError,
    LayerkitError,
    RequirementsError,
    ResolutionError,
)
from layerkit.report import shown_path
from layerkit.targets import Target

if TYPE_CHECKING:  # provenance loads packaging: a build the cache serves must not pay for it
    from layerkit.provenance import ChosenWheel

OUTPUT_TAIL_LINES = 25
# What ``uv pip compile`` writes: pins only, or a PEP 751 lock naming each wheel and its hash.
ResolutionFormat = Literal["requirements.txt", "pylock.toml"]


@dataclass(frozen=True)
class CommandResult:
    """What a finished subprocess did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        """The last lines of the output (stderr, else stdout): what a user needs on failure."""
        text = self.stderr.strip() or self.stdout.strip()
        return "\n".join(text.splitlines()[-lines:])


_Failure = TypeVar("_Failure", bound=InstallerError)


def command_failure(
    error: type[_Failure], result: CommandResult, message: str, *, hint: str
) -> _Failure:
    """An `error` for the failed command `result`, carrying its argv, exit code and the tail of
    its output."""
    return error(
        message,
        hint=hint,
        command=result.argv,
        returncode=result.returncode,
        output_tail=result.tail(),
    )


class CommandRunner(Protocol):
    """Runs a command to completion; never raises on a non-zero exit."""

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult: ...


_REINSTALL_HINT = "reinstall layerkit so its installer dependencies (uv, pip) are present"


def run_command(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> CommandResult:
    """Run `argv`, capturing its output (shown to the user only when it fails)."""
    try:
        proc = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            check=False,
        )
    except OSError as exc:  # missing, not executable, not a program...
        reason = "not found" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
        raise InstallerError(
            f"cannot run {argv[0]}: {reason}",
            hint=_REINSTALL_HINT,
            command=tuple(argv),
        ) from exc
    return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class InstallRequest:
    """What to install, for which target, into which (empty) directory."""

    target: Target
    dest: Path
    requirement_files: tuple[Path, ...] = ()
    requirements: tuple[str, ...] = ()
    index: IndexOptions = field(default_factory=IndexOptions)
    no_deps: bool = False  # the requirements are a complete lock: install them and nothing else
    require_hashes: bool = False  # every requirement names the one file it may be installed from


def index_args(index: IndexOptions) -> list[str]:
    """The index options every installer command (install, compile) shares."""
    args: list[str] = []
    if index.index_url:
        args += ["--index-url", index.index_url]
    for url in index.extra_index_urls:
        args += ["--extra-index-url", url]
    for link in index.find_links:
        args += ["--find-links", link]
    return args


def _requirement_args(request: InstallRequest) -> list[str]:
    args: list[str] = ["--no-deps"] if request.no_deps else []
    if request.require_hashes:
        args.append("--require-hashes")
    for path in request.requirement_files:
        args += ["-r", str(path)]
    return args + list(request.requirements)


class InstallerBackend(Protocol):
    """One installer: its name, its version and the argv that installs a request."""

    name: ClassVar[InstallerName]

    def command(self, request: InstallRequest) -> list[str]: ...

    def version(self) -> str: ...


@dataclass(frozen=True)
class UvBackend:
    """uv: fast, resolves for the target platform, hard-links from its wheel cache."""

    uv: str
    python: str
    name: ClassVar[InstallerName] = "uv"

    def command(self, request: InstallRequest) -> list[str]:
        target = request.target
        return [
            self.uv, "pip", "install",
            "--target", str(request.dest),
            # The host interpreter only anchors uv; tags and markers come from the target.
            "--python", self.python,
            "--python-version", target.python,
            # Files pinned by hash: the platform need only accept them (`install_resolved`).
            "--python-platform",
            target.uv_platform_above if request.require_hashes else target.uv_platform,
            "--only-binary", ":all:",
            "--no-progress",
            *index_args(request.index),
            *_requirement_args(request),
        ]  # fmt: skip

    def resolve_command(
        self,
        request: InstallRequest,
        specs_file: Path | None,
        *,
        output_format: ResolutionFormat = "requirements.txt",
        platform: str | None = None,
        no_deps: bool = False,
        emit_indexes: bool = False,
        constraints: Path | None = None,
        no_config: bool = False,
    ) -> list[str]:
        """``uv pip compile`` resolving `request` for its target: pinned versions on stdout
        (``pylock.toml`` also lists every candidate wheel with its hash). The requirements given
        directly are read from `specs_file` (see `resolve_with_uv`). `platform` replaces the
        target's ``--python-platform``; `no_deps` resolves the direct requirements alone;
        `emit_indexes` also prints the indexes uv used (`single_index`); `constraints`: a
        constraints file (``-c``); `no_config`: no ``uv.toml`` or ``[tool.uv]`` is read."""
        target = request.target
        files = [str(p) for p in request.requirement_files]
        if specs_file is not None:
            files.append(str(specs_file))
        return [
            self.uv, "pip", "compile",
            *(["--no-deps"] if no_deps else []),
            *(["--emit-index-url", "--emit-find-links"] if emit_indexes else []),
            *(["--constraint", str(constraints)] if constraints is not None else []),
            *(["--no-config"] if no_config else []),
            # As for installs, the host interpreter only anchors uv (and spares it a slow search).
            "--python", self.python,
            "--python-version", target.python,
            "--python-platform", platform or target.uv_platform,
            "--only-binary", ":all:",
            "--no-header", "--no-annotate", "--quiet", "--no-progress",
            *(["--format", output_format] if output_format != "requirements.txt" else []),
            *index_args(request.index),
            *files,
        ]  # fmt: skip

    def version(self) -> str:
        return _uv_version(self.uv)


@dataclass(frozen=True)
class PipBackend:
    """pip: the reference installer; slower, and needs every platform tag spelled out."""

    python: str
    name: ClassVar[InstallerName] = "pip"

    def command(self, request: InstallRequest) -> list[str]:
        target = request.target
        platforms: list[str] = []
        for tag in target.manylinux_tags:
            platforms += ["--platform", tag]
        return [
            self.python, "-m", "pip", "install",
            "--target", str(request.dest),
            "--only-binary=:all:",
            "--python-version", target.python,
            "--implementation", "cp",
            "--abi", target.cpython_abi,
            "--abi", "abi3",
            "--abi", "none",
            *platforms,
            # .pyc for the host interpreter is dead weight on the target.
            "--no-compile",
            "--no-input",
            "--disable-pip-version-check",
            "--progress-bar", "off",
            *index_args(request.index),
            *_requirement_args(request),
        ]  # fmt: skip

    def report_command(
        self, request: InstallRequest, report: Path, *, no_deps: bool = False
    ) -> list[str]:
        """`command` as a dry run: pip resolves `request` with the very same tags and indexes,
        installs nothing, and writes its installation report (JSON: each distribution's name,
        version, download URL and sha256) to `report`; the direct requirements only if
        `no_deps`."""
        argv = self.command(request)
        at = argv.index("install") + 1
        dry_run = ["--dry-run", "--ignore-installed", "--report", str(report), "--quiet"]
        return [*argv[:at], *dry_run, *(["--no-deps"] if no_deps else []), *argv[at:]]

    def version(self) -> str:
        import importlib.metadata  # only pip builds pay for it (see `_uv_version`)

        return importlib.metadata.version("pip")


@functools.cache
def _uv_version(uv: str) -> str:
    """The version of the uv binary that runs (``uv 0.13.9 (...)`` -> ``0.13.9``).

    Asked of the binary itself, once per process: ~4 ms, where importing importlib.metadata
    would cost a no-op rebuild ~10 ms.
    """
    result = run_command([uv, "--version"])
    words = result.stdout.split()
    if result.returncode != 0 or len(words) < 2 or words[0] != "uv":
        raise InstallerError(
            f"cannot tell the version of {uv}: {_key_lines(result.stderr or result.stdout)}",
            hint=_REINSTALL_HINT,
            command=result.argv,
        )
    return words[1]


def make_backend(name: InstallerName) -> InstallerBackend:
    """The backend for `name`, using the uv binary and pip that ship with layerkit."""
    if name == "uv":
        from uv import find_uv_bin

        return UvBackend(uv=find_uv_bin(), python=sys.executable)
    return PipBackend(python=sys.executable)


def backend_for_target(backend: InstallerBackend, target: Target) -> tuple[InstallerBackend, str]:
    """The backend that resolves (and installs) for `target` exactly as pip would, and why it
    changed (or "").

    uv can only be told a few glibc versions; for a target between two of them (glibc 2.26:
    python3.9-3.11), told the older one it would refuse the manylinux_2_18...2_26 wheels pip
    installs, told the newer one it would take wheels the target cannot load. There uv resolves
    for the newer one held to the releases the target takes (`layerkit.uvchoice`), or where it
    cannot tell, pip resolves with every tag spelled out (`resolve_with_pip`: the pins and the
    very wheel file of each); either way uv installs the chosen files, each pinned by its hash
    (`install_resolved`).
    """
    if isinstance(backend, UvBackend) and not target.uv_platform_exact:
        glibc = f"glibc {target.glibc[0]}.{target.glibc[1]}"
        note = (
            f"{target}: uv cannot target {glibc} exactly (its --python-platform stops at "
            f"manylinux_2_17 below 2_28): it resolves for {target.uv_platform_above}, held to "
            f"the releases with a wheel for {glibc} (pip resolves where uv cannot tell), and "
            f"installs of each release the wheel pip would choose, pinned by its hash"
        )
        return PipBackend(python=backend.python), note
    return backend, ""


# PIP_* variables (and pip.conf keys, as `--long-option` names) that change nothing pip
# resolves: its output, prompts, cache, and how it reaches the index (certificates, proxy,
# timeouts: uv has its own, and fails if it cannot).
_PIP_INERT = frozenset({
    "break-system-packages", "cache-dir", "cert", "client-cert", "config-file", "default-timeout",
    "disable-pip-version-check", "log", "no-cache-dir", "no-color", "no-input",
    "no-warn-script-location", "progress-bar", "proxy", "quiet", "retries", "root-user-action",
    "timeout", "trusted-host", "verbose",
})  # fmt: skip
# UV_* variables that change nothing uv resolves (layerkit's compiles read no uv.toml); and
# UV_PYTHON*, which only say where Pythons are (layerkit names the target's version).
_UV_INERT = frozenset({
    "UV_BREAK_SYSTEM_PACKAGES", "UV_CACHE_DIR", "UV_COMPILE_BYTECODE", "UV_CONCURRENT_BUILDS",
    "UV_CONCURRENT_DOWNLOADS", "UV_CONCURRENT_INSTALLS", "UV_FROZEN", "UV_HTTP_TIMEOUT",
    "UV_LINK_MODE", "UV_LOCKED", "UV_MANAGED_PYTHON", "UV_NATIVE_TLS", "UV_NO_CACHE",
    "UV_NO_CONFIG", "UV_NO_ENV_FILE", "UV_NO_MANAGED_PYTHON", "UV_NO_PROGRESS", "UV_NO_SYNC",
    "UV_PROJECT_ENVIRONMENT", "UV_REQUEST_TIMEOUT", "UV_SYSTEM_CERTS", "UV_SYSTEM_PYTHON",
    "UV_TOOL_BIN_DIR", "UV_TOOL_DIR",
})  # fmt: skip


def _pip_conf_matters(path: Path) -> bool:
    """Whether the pip configuration file `path` sets anything but `_PIP_INERT` keys (one that
    cannot be read does)."""
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return True
    # pip install reads [global] and [install] (and what [DEFAULT] gives them)
    sections = [section for section in parser.sections() if section in {"global", "install"}]
    return any(
        key.replace("_", "-").removeprefix("--") not in _PIP_INERT
        for section in sections
        for key in parser.options(section)
    ) or (not sections and bool(parser.defaults()))


def pip_settings(
    request: InstallRequest, env: Mapping[str, str], *, prefix: str = sys.prefix,
    root: Path = Path("/"),
) -> str:  # fmt: skip
    """What pip would read besides one index and the requirements that uv would not read the
    same way ('' when nothing), as the end of "pip resolves, because ...": a PIP_* variable, a
    pip configuration file that sets more than `_PIP_INERT` keys (pip's own search, as pip
    23-25 do it on Linux; `prefix`: the environment pip runs in; `root`: where /etc is), an
    extra index or find-links directory (pip takes the best file of every index, uv the first
    index that has the package), hashes (pip installs only a file they allow), or another
    option line in a requirements file."""
    for name in sorted(env):
        if name.startswith("PIP_") and name[4:].lower().replace("_", "-") not in _PIP_INERT:
            return f"{name} is set, which uv does not read"
    if request.index.extra_index_urls or request.index.find_links:
        return "more than one index is asked, and uv takes each package from the first one"
    lines = list(request.requirements)
    for path in request.requirement_files:
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:  # the install says what is wrong with it
            continue
    for line in lines:
        if "--hash" in line:
            return "the requirements carry hashes, and pip installs only a file they allow"
        option = line.strip().split(maxsplit=1)[0] if line.strip() else ""
        if option.startswith("-"):
            return f"a requirements line has {option}"
    config = env.get("PIP_CONFIG_FILE", "")
    if config == os.devnull:  # pip then reads no configuration file at all
        return ""
    if sys.platform != "linux":
        return "layerkit looks for pip's configuration files on Linux only"
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env.get("XDG_CONFIG_HOME", "").strip() or home / ".config")
    config_dirs = (env.get("XDG_CONFIG_DIRS", "").strip() or "/etc/xdg").split(os.pathsep)
    candidates = [
        *([Path(config)] if config else []),
        *(root / d.lstrip("/") / "pip" / "pip.conf" for d in config_dirs),
        root / "etc" / "pip.conf",
        Path(prefix) / "pip.conf",
        home / ".pip" / "pip.conf",
        config_home / "pip" / "pip.conf",
    ]
    found = next((c for c in candidates if c.is_file() and _pip_conf_matters(c)), None)
    return f"pip reads {found}, which uv does not" if found is not None else ""


def uv_settings(env: Mapping[str, str]) -> str:
    """A UV_* variable that can change what uv resolves and pip would not see (''  when none):
    the index, the resolution strategy, constraints... (`_UV_INERT` are not)."""
    for name in sorted(env):
        if name.startswith("UV_") and name not in _UV_INERT and not name.startswith("UV_PYTHON"):
            return f"{name} is set, which pip does not read"
    return ""


def uv_can_install(chosen: Sequence[ChosenWheel], target: Target) -> bool:
    """Whether uv can install the wheel files pip chose for `target` (`install_resolved`): each
    carries a tag of the target (`Target.wheel_tags`), which uv accepts under
    `Target.uv_platform_above`."""
    return all(wheel.tags & target.wheel_tags for wheel in chosen)


def pinned_requirements(wheels: Sequence[ChosenWheel]) -> str:
    """``name @ URL --hash=sha256:...`` for each wheel: the very file a resolver chose, by the
    URL it was found at (on any index, in a find-links directory, a local package's wheel).

    By URL, not ``name==version``: uv takes a version's files from the first index that has it
    (``--extra-index-url`` before ``--index-url``) and may read that index's page from its
    cache, so by name it could miss a file pip chose on another index or just published. The
    hash lets an installer take that file or fail."""
    return "".join(f"{w.name} @ {w.url} --hash=sha256:{w.sha256}\n" for w in wheels)


def install_resolved(
    request: InstallRequest,
    chosen: Sequence[ChosenWheel],
    *,
    uv: UvBackend,
    runner: CommandRunner,
    scratch: Path,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Install the wheel files a resolution `chosen` into `request.dest` with uv, without
    resolving again: ``--no-deps --require-hashes``, one ``name @ URL --hash`` line each
    (`pinned_requirements`; the ``direct_url.json`` uv then writes is no part of the layer
    unless pip would have written it too, see `assembly._drop_installer_artifacts`).

    uv's ``--python-platform`` is then `Target.uv_platform_above` (manylinux_2_28 for glibc
    2.26): it accepts every file pip may choose (manylinux_2_24..2_26 too), and the hash lets uv
    take only that file, never a newer wheel of the same release (uv fails instead).
    """
    pins = scratch / "pinned.txt"
    pins.write_text(pinned_requirements(chosen), encoding="utf-8")
    pinned = InstallRequest(request.target, request.dest, requirement_files=(pins,),
                            index=request.index, no_deps=True, require_hashes=True)  # fmt: skip
    return install(pinned, backend=uv, runner=runner, env=env)


# How installers say "no wheel for this target" versus "no such package/version" versus "bad input".
_COMPATIBILITY_PATTERNS = (
    r"has no usable wheels",
    r"has no wheels with a matching",
    r"no wheels? (?:are|is) available",
    r"building from source is disabled",
    r"only (?:an? )?source distribution",
)
_REQUIREMENTS_PATTERNS = (
    r"couldn't parse requirement",
    r"failed to parse",
    r"invalid requirement",
    r"file not found: `",
    r"could not open requirements file",
)
_HASH_PATTERNS = (r"hash mismatch", r"do not match the hashes", r"hashes are required")


def _matches(patterns: Sequence[str], text: str) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


def _key_lines(text: str) -> str:
    """The lines of installer output that explain a failure (uv: error/cause/hint; pip: ERROR)."""
    keep = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"\s*(error|cause|hint|ERROR|×|╰─▶|\s*Because|\s*And because)", line)
    ]
    quoted = keep[-12:] if keep else text.strip().splitlines()[-8:]
    # Indented, so the user sees one `error:` line (ours) followed by the installer's words.
    return "\n".join(f"  {line.strip()}" for line in quoted)


_PIP_BAD_LINE = re.compile(r"Invalid requirement: '(.*?)'.*?\(from line (\d+) of (.+?)\)")
_UV_BAD_LINE = re.compile(r"Couldn't parse requirement in `(.+?)` at position (\d+)")
# A requirements file is read this far to find the line uv names by its byte position.
_REQUIREMENTS_READ_LIMIT = 1 << 20


def requirement_location(output: str) -> str | None:
    """``FILE:LINE: the line`` for the requirement an installer could not parse, or None.

    pip names the line (``(from line 2 of FILE)``); uv names a byte position in the file, which
    is turned into the line by reading the file (never more than 1 MiB of it).
    """
    if pip := _PIP_BAD_LINE.search(output):
        text, line, path = pip.groups()
        return f"{shown_path(path)}:{line}: {text}"
    uv = _UV_BAD_LINE.search(output)
    if uv is None:
        return None
    path, position = uv.group(1), int(uv.group(2))
    try:
        with Path(path).open("rb") as handle:  # a path as uv printed it
            head = handle.read(min(position + 4096, _REQUIREMENTS_READ_LIMIT))
    except OSError:
        return None
    if position > len(head):
        return None
    line = head.count(b"\n", 0, position) + 1
    start = head.rfind(b"\n", 0, position) + 1
    end = head.find(b"\n", position)
    text = head[start : end if end >= 0 else len(head)].decode("utf-8", errors="replace")
    return f"{shown_path(path)}:{line}: {text.strip()}"


def classify_failure(
    result: CommandResult, *, backend: InstallerName, target: Target
) -> LayerkitError:
    """Turn a failed install into the most specific error, quoting what the installer said."""
    output = result.stderr + "\n" + result.stdout
    details = _key_lines(output)
    if _matches(_REQUIREMENTS_PATTERNS, output):
        location = requirement_location(output)
        what = (
            f"{location}: {backend} could not read this line"
            if location
            else (f"{backend} could not read the requirements")
        )
        return RequirementsError(
            f"{what}:\n{details}",
            hint="fix the requirement line it names (pip requirements-file syntax)",
        )
    if _matches(_HASH_PATTERNS, output):
        return command_failure(
            ResolutionError,
            result,
            f"{backend}: a downloaded file does not match its --hash pin:\n{details}",
            hint="re-generate the hashes (e.g. `uv pip compile --generate-hashes`), or check "
            "that the index serves the file you pinned",
        )
    if _matches(_COMPATIBILITY_PATTERNS, output):
        return command_failure(
            CompatibilityError,
            result,
            f"no wheel that runs on {target.runtime} {target.arch} "
            f"(glibc {target.glibc[0]}.{target.glibc[1]}, {target.cpython_abi}):\n{details}",
            hint="pin a version that publishes manylinux wheels for this target, or choose "
            "another runtime (python3.12+ accepts manylinux_2_28..2_34 wheels); layerkit builds "
            "an sdist only when the result is pure Python",
        )
    return command_failure(
        ResolutionError,
        result,
        f"{backend} could not resolve the requirements for {target.runtime} {target.arch}:\n"
        f"{details}",
        hint="check the package names and version pins, and that the index is reachable",
    )


def install(
    request: InstallRequest,
    *,
    backend: InstallerBackend,
    runner: CommandRunner,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Install `request` with `backend`; raise a classified `InstallerError` on failure."""
    result = runner(backend.command(request), env=env)
    if result.returncode != 0:
        raise classify_failure(result, backend=backend.name, target=request.target)
    return result


def resolve_with_pip(
    request: InstallRequest,
    *,
    pip: PipBackend,
    runner: CommandRunner,
    report: Path,
    env: Mapping[str, str] | None = None,
    no_deps: bool = False,
) -> str:
    """pip's installation report (JSON text) of `request`: what `install` would install."""
    result = runner(pip.report_command(request, report, no_deps=no_deps), env=env)
    if result.returncode != 0:
        raise classify_failure(result, backend=pip.name, target=request.target)
    try:
        return report.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstallerError(
            f"pip wrote no installation report at {report}: {exc.strerror}",
            hint=_REINSTALL_HINT,
            command=result.argv,
        ) from exc


def resolve_with_uv(
    request: InstallRequest,
    *,
    uv: UvBackend,
    runner: CommandRunner,
    scratch: Path,
    env: Mapping[str, str] | None = None,
    output_format: ResolutionFormat = "requirements.txt",
    platform: str | None = None,
    no_deps: bool = False,
    emit_indexes: bool = False,
    constraints: Path | None = None,
    no_config: bool = False,
) -> str:
    """Resolve `request` for its target (or for `platform`; its direct requirements alone if
    `no_deps`; within `constraints`) with ``uv pip compile``; its output (never installs). The
    requirements given directly go to uv in a file written under `scratch`."""
    specs_file: Path | None = None
    if request.requirements:
        specs_file = scratch / "layerkit-requirements.in"
        specs_file.write_text("".join(f"{r}\n" for r in request.requirements), encoding="utf-8")
    argv = uv.resolve_command(
        request, specs_file, output_format=output_format, platform=platform, no_deps=no_deps,
        emit_indexes=emit_indexes, constraints=constraints, no_config=no_config,
    )  # fmt: skip
    result = runner(argv, env=env)
    if result.returncode != 0:
        raise classify_failure(result, backend="uv", target=request.target)
    return result.stdout


def single_index(compile_output: str) -> str | None:
    """The index a ``uv pip compile --emit-index-url --emit-find-links`` run used, when it used
    exactly one and no find-links directory; else None."""
    indexes: list[str] = []
    for line in compile_output.splitlines():
        option, _, value = line.strip().partition(" ")
        if option in {"--index-url", "--extra-index-url", "--find-links", "-i", "-f"}:
            indexes.append(value.strip() if option in {"--index-url", "-i"} else "")
    return (indexes[0] or None) if len(indexes) == 1 else None


def build_wheel(
    package_dir: Path,
    out_dir: Path,
    *,
    runner: CommandRunner,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Build a local package into a wheel with `build` (in an isolated environment, never with
    the host's site-packages); return the wheel's path."""
    before = set(out_dir.glob("*.whl"))
    result = runner(
        [python, "-m", "build", "--wheel", "--outdir", str(out_dir), str(package_dir)], env=env
    )
    if result.returncode != 0:
        raise command_failure(
            InstallerError,
            result,
            f"building a wheel of local package {shown_path(package_dir)} failed:\n"
            f"{result.tail(12)}",
            hint="make sure `python -m build --wheel` works in that directory",
        )
    built = sorted(set(out_dir.glob("*.whl")) - before)
    if len(built) != 1:
        raise InstallerError(
            f"building {shown_path(package_dir)} produced {len(built)} wheels, expected 1"
        )
    return built[0]


def installer_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment installers run in: the user's, minus what would break a target install."""
    env = dict(os.environ if base is None else base)
    # A host-compile switch would write .pyc for the wrong interpreter into the layer.
    env.pop("UV_COMPILE_BYTECODE", None)
    env.pop("PIP_COMPILE", None)
    return env
