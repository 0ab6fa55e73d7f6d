"""Configuration: ``[tool.layerkit]`` in pyproject.toml or ``layerkit.toml``, plus CLI overrides.

Reads the project's TOML files, validates every key against one table (unknown keys and wrong
types are errors, with a did-you-mean), and produces frozen settings; imports no boundary library.
CLI flags win over the file.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from layerkit.errors import ConfigError, InputFileError, LambdaRuleError, UsageError
from layerkit.limits import LAMBDA_UNZIPPED_LIMIT
from layerkit.lockfiles import LOCK_FILE_NAMES, LockSelection, select_lock
from layerkit.report import shown_path
from layerkit.targets import Target, target_matrix

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

InstallerName = Literal["uv", "pip"]
INSTALLERS: tuple[InstallerName, ...] = get_args(InstallerName)
CompressionName = Literal["fast", "default", "small"]
COMPRESSIONS: tuple[CompressionName, ...] = get_args(CompressionName)

DEFAULT_PYTHON = "3.13"
DEFAULT_ARCH = "x86_64"
LAYERKIT_TOML = "layerkit.toml"
PYPROJECT_TOML = "pyproject.toml"
DEFAULT_REQUIREMENTS = "requirements.txt"

OptionKind = Literal["str", "bool", "int", "str-list", "size", "bool-or-auto"]
# compile: "auto" ships bytecode when an interpreter of the target version is found,
# "required" (true / --compile) fails the build without one, "never" (false / --no-compile).
CompileMode = Literal["auto", "required", "never"]
_COMPILE_MODES: dict[bool | str, CompileMode] = {"auto": "auto", True: "required", False: "never"}


@dataclass(frozen=True)
class OptionSpec:
    """One configuration key: its TOML name, type and meaning (the README is checked against it)."""

    key: str
    kind: OptionKind
    help: str


BUILD_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "name",
        "str",
        "Layer name; also the zip's file-name prefix. Default: [project].name "
        "or the directory name.",
    ),
    OptionSpec(
        "requirements",
        "str-list",
        "Requirements files (pip format: -r/-c includes, "
        "--hash pins, index options), relative to the project directory. Default: "
        "requirements.txt when it exists and nothing else is configured.",
    ),
    OptionSpec(
        "lock",
        "str",
        "Lock file to install exactly: pylock.toml (PEP 751), uv.lock, poetry.lock or "
        "Pipfile.lock, relative to the project directory. Default: the one of these in the "
        "project directory when no requirements or packages are configured.",
    ),
    OptionSpec(
        "groups",
        "str-list",
        "Lock groups to install besides the main/default one (dependency groups, Poetry "
        "groups, Pipfile categories).",
    ),
    OptionSpec("extras", "str-list", "Extras of the locked project to install (not Pipfile.lock)."),
    OptionSpec(
        "packages",
        "str-list",
        "Extra requirement specifiers, or paths to local packages "
        "(built into wheels with `build`).",
    ),
    OptionSpec(
        "project-dependencies",
        "bool",
        "Include [project].dependencies of pyproject.toml. "
        "Default: true when no requirements files are given.",
    ),
    OptionSpec(
        "python",
        "str-list",
        f"Target Python versions (3.9-3.14 or python3.X). Default: {DEFAULT_PYTHON}.",
    ),
    OptionSpec(
        "arch", "str-list", f"Target architectures: x86_64, arm64. Default: {DEFAULT_ARCH}."
    ),
    OptionSpec("installer", "str", "uv (default) or pip."),
    OptionSpec("output", "str", "Output directory for zips and manifests. Default: dist."),
    OptionSpec(
        "budget",
        "size",
        "Unzipped size budget: bytes or e.g. '200MB' (MB = MiB, as in "
        "Lambda's 250 MB = 262,144,000 bytes). Default and maximum: 250MB.",
    ),
    OptionSpec("index-url", "str", "Base URL of the package index (installer's default: PyPI)."),
    OptionSpec("extra-index-urls", "str-list", "Extra package indexes."),
    OptionSpec("find-links", "str-list", "Local directories or URLs with wheels."),
    OptionSpec(
        "exclude",
        "str-list",
        "Distributions to leave out (e.g. boto3, botocore: the "
        "runtime provides an older, AWS-pinned copy).",
    ),
    OptionSpec(
        "exclude-globs", "str-list", "Glob patterns (relative to site-packages) to leave out."
    ),
    OptionSpec(
        "keep-tests", "bool", "Keep tests/test directories inside packages. Default: false."
    ),
    OptionSpec(
        "strip",
        "bool",
        "Strip debug symbols from shared objects (never vendored *.libs). Default: false.",
    ),
    OptionSpec(
        "drop-other-platforms",
        "bool",
        "Leave out binaries shipped for other platforms (Mach-O, PE, ELF of the other "
        "architecture) that the target never loads. Default: false.",
    ),
    OptionSpec(
        "compile",
        "bool-or-auto",
        "Ship unchecked-hash .pyc compiled by an interpreter of the target version: 'auto' "
        "(default) when one is found, true to require it, false never.",
    ),
    OptionSpec(
        "interpreter",
        "str",
        "Python of the target version to compile with (a path, or a command on PATH); "
        "default: python3.X on PATH, then `uv python find`.",
    ),
    OptionSpec(
        "python-downloads",
        "bool",
        "Let uv download a Python of the target version to compile with. Default: false.",
    ),
    OptionSpec("allow", "str-list", "Distributions whose compatibility violations are waived."),
    OptionSpec("compression", "str", "fast, default or small."),
    OptionSpec(
        "sbom", "bool", "Write a CycloneDX SBOM (`<zip>.cdx.json`) beside each zip. Default: false."
    ),
    OptionSpec(
        "build-sdists",
        "bool",
        "Build a requirement that has only an sdist into a wheel (isolated), used only when "
        "pure Python. Default: true.",
    ),
)

PUBLISH_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("bucket", "str", "S3 bucket for layer zips (in the region published to)."),
    OptionSpec("prefix", "str", "Key prefix in the bucket. Default: layerkit."),
    OptionSpec("bucket-owner", "str", "Expected bucket owner account id (default: the caller's)."),
    OptionSpec(
        "layer-name",
        "str",
        "Lambda layer name template: {name}, {python} (e.g. python313), {arch}. Default: {name}.",
    ),
    OptionSpec("regions", "str-list", "Regions to publish to. Default: the AWS chain's region."),
    OptionSpec(
        "description", "str", "Layer version description (layerkit appends digest and size)."
    ),
    OptionSpec("license", "str", "License info of the layer version (<= 512 characters)."),
    OptionSpec("functions", "str-list", "Functions to attach the published layer to."),
    OptionSpec("grant-accounts", "str-list", "Account ids allowed to use the layer."),
    OptionSpec("grant-org", "str", "Organization id (o-...) allowed to use the layer."),
    OptionSpec("direct", "bool", "Upload zips <= 50 MB in the request instead of via S3."),
)

PUBLISH_TABLE = "publish"
# [tool.layerkit.env.<name>]: per-environment publishing keys, laid over [tool.layerkit.publish]
# by `--env NAME` (precedence: flags, then the environment's table, then the publish table).
ENV_TABLE = "env"
ENV_ALIAS = "alias"
# An environment's table takes the publishing keys and the alias its release commands act on.
ENV_OPTIONS: tuple[OptionSpec, ...] = (
    *PUBLISH_OPTIONS,
    OptionSpec(
        ENV_ALIAS,
        "str",
        "Lambda alias that `layerkit alias ... --env NAME` acts on when ALIAS is not given.",
    ),
)
_SPECS_BY_TABLE: dict[str, tuple[OptionSpec, ...]] = {
    "": BUILD_OPTIONS,
    PUBLISH_TABLE: PUBLISH_OPTIONS,
}


@dataclass(frozen=True)
class IndexOptions:
    """Where installers look for packages; empty means the installer's own defaults/config."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlimSettings:
    """What to remove or add after installing; see `layerkit.slim`."""

    remove_tests: bool = True
    exclude_distributions: tuple[str, ...] = ()
    exclude_globs: tuple[str, ...] = ()
    strip: bool = False
    compile: CompileMode = "auto"
    drop_other_platforms: bool = False


@dataclass(frozen=True)
class BuildSettings:
    """Everything a build needs, validated."""

    project_dir: Path
    name: str
    requirement_files: tuple[Path, ...]
    requirements: tuple[str, ...]
    local_packages: tuple[Path, ...]
    targets: tuple[Target, ...]
    installer: InstallerName
    output_dir: Path
    budget_bytes: int
    index: IndexOptions = IndexOptions()
    slim: SlimSettings = SlimSettings()
    allow: tuple[str, ...] = ()
    compression: CompressionName = "default"
    sbom: bool = False
    config_file: Path | None = None
    interpreter: str | None = None  # --interpreter: a path or a command name
    python_downloads: bool = False  # uv may download a Python to compile with
    build_sdists: bool = True
    lock: LockSelection | None = None  # a lock file is the whole input (see layerkit.lockfiles)


@dataclass(frozen=True)
class PublishSettings:
    """The ``[tool.layerkit.publish]`` table, validated (CLI flags are merged by the caller)."""

    bucket: str | None = None
    prefix: str = "layerkit"
    bucket_owner: str | None = None
    layer_name: str | None = None
    regions: tuple[str, ...] = ()
    description: str | None = None
    license: str | None = None
    functions: tuple[str, ...] = ()
    grant_accounts: tuple[str, ...] = ()
    grant_org: str | None = None
    direct: bool = False


@dataclass(frozen=True)
class ProjectConfig:
    """The raw, type-checked option values found in a project, and where they came from."""

    project_dir: Path
    source: Path | None
    build: Mapping[str, Any] = field(default_factory=dict)
    publish: Mapping[str, Any] = field(default_factory=dict)
    project_name: str | None = None
    project_dependencies: tuple[str, ...] = ()
    envs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": 1024**2,
    "mib": 1024**2,
    "gb": 1024**3,
    "gib": 1024**3,
}
_MAX_SIZE = 1 << 60  # far above any budget; only keeps the arithmetic finite
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int) -> int:
    """'200MB' -> 209,715,200 (MB = MiB, so '250MB' is Lambda's 262,144,000); ints are bytes."""
    if isinstance(value, bool):
        raise ConfigError(f"size must be a number of bytes or e.g. '200MB', not {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE_RE.match(value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _SIZE_UNITS:
            raise ConfigError(
                f"cannot read size {value!r}",
                hint="write a byte count or a number with KB, MB or GB (1 MB = 1,048,576 bytes)",
            )
        number = float(match.group(1))
        if not math.isfinite(number) or number * _SIZE_UNITS[unit] > _MAX_SIZE:
            raise ConfigError(
                f"size {value!r} is too large",
                hint="Lambda's unzipped limit is 250MB; give a budget at most that large",
            )
        size = int(number * _SIZE_UNITS[unit])
    if size <= 0:
        raise ConfigError(f"size must be positive, got {value!r}")
    return size


def _check_type(spec: OptionSpec, value: Any, where: str) -> Any:
    """Return `value` normalised to the spec's kind, or raise a ConfigError naming the key."""

    def wrong(expected: str) -> ConfigError:
        return ConfigError(
            f"{where}: '{spec.key}' must be {expected}, got {type(value).__name__} {value!r}",
            hint=spec.help,
        )

    if spec.kind == "str":
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if spec.kind == "bool-or-auto":
        if not isinstance(value, bool) and value != "auto":
            raise wrong("true, false or 'auto'")
        return value
    if spec.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong("an integer")
        return value
    if spec.kind == "size":
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise wrong("a byte count or a size such as '200MB'")
        return parse_size(value)
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise wrong("a string or a list of strings")
    return tuple(value)


def validate_table(
    table: Mapping[str, Any], specs: Sequence[OptionSpec], where: str
) -> dict[str, Any]:
    """Check every key of a config table; unknown keys are errors with a suggestion."""
    known = {spec.key: spec for spec in specs}
    checked: dict[str, Any] = {}
    for key, value in table.items():
        spec = known.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, list(known), n=1)
            suggestion = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(
                f"{where}: unknown key '{key}'",
                hint=f"{suggestion}known keys: {', '.join(sorted(known))}",
            )
        checked[key] = _check_type(spec, value, where)
    return checked


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown_path(path)} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise InputFileError(f"cannot read {shown_path(path)}: {exc.strerror}") from exc
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(
            f"{shown_path(path)} is not valid TOML: {exc}", hint="fix the syntax at that line"
        ) from exc
    return document


def _split_tables(
    table: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """The build keys, the publish table and the environments' tables, each validated."""
    build_part = {k: v for k, v in table.items() if k not in (PUBLISH_TABLE, ENV_TABLE)}
    publish_part = table.get(PUBLISH_TABLE, {})
    if not isinstance(publish_part, dict):
        raise ConfigError(f"{where}: '{PUBLISH_TABLE}' must be a table")
    env_part = table.get(ENV_TABLE, {})
    if not isinstance(env_part, dict) or not all(isinstance(t, dict) for t in env_part.values()):
        raise ConfigError(
            f"{where}: '{ENV_TABLE}' must hold one table per environment",
            hint=f"write [tool.layerkit.{ENV_TABLE}.staging] with bucket, regions, functions, ...",
        )
    return (
        validate_table(build_part, BUILD_OPTIONS, where),
        validate_table(publish_part, PUBLISH_OPTIONS, f"{where}.{PUBLISH_TABLE}"),
        {
            name: _env_table(env_table, f"{where}.{ENV_TABLE}.{name}")
            for name, env_table in env_part.items()
        },
    )


def _env_table(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An environment's table, validated; its alias by the rule the alias commands apply."""
    checked = validate_table(table, ENV_OPTIONS, where)
    if ENV_ALIAS in checked:
        from layerkit.release_plan import validate_alias_name  # only projects that set one

        try:
            validate_alias_name(checked[ENV_ALIAS])
        except LambdaRuleError as exc:
            raise ConfigError(f"{where}: '{ENV_ALIAS}': {exc.message}", hint=exc.hint) from exc
    return checked


def load_project(project_dir: Path) -> ProjectConfig:
    """Read a project's layerkit configuration (layerkit.toml, else [tool.layerkit]).

    `project_dir` may be as the user typed it (an error names it so); the configuration holds it
    resolved.
    """
    if not project_dir.is_dir():
        raise UsageError(
            f"project directory {shown_path(project_dir)} does not exist",
            hint="pass the directory that holds pyproject.toml, layerkit.toml or requirements",
        )
    project_dir = project_dir.resolve()
    pyproject_path = project_dir / PYPROJECT_TOML
    pyproject = _read_toml(pyproject_path) if pyproject_path.is_file() else {}
    project = pyproject.get("project", {})
    if not isinstance(project, dict):
        raise ConfigError(f"{shown_path(pyproject_path)}: [project] must be a table")
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ConfigError(
            f"{shown_path(pyproject_path)}: [project].dependencies must be a list of strings"
        )
    name = project.get("name")
    tools = pyproject.get("tool", {})
    if not isinstance(tools, dict):
        raise ConfigError(
            f"{shown_path(pyproject_path)}: [tool] must be a table, not {type(tools).__name__}"
        )
    tool_table = tools.get("layerkit")

    layerkit_path = project_dir / LAYERKIT_TOML
    source: Path | None = None
    table: Mapping[str, Any] = {}
    if layerkit_path.is_file():
        if tool_table is not None:
            raise ConfigError(
                f"both {shown_path(layerkit_path)} and [tool.layerkit] in "
                f"{shown_path(pyproject_path)} configure layerkit",
                hint="keep one of them",
            )
        table, source = _read_toml(layerkit_path), layerkit_path
        where = shown_path(layerkit_path)
    elif tool_table is not None:
        if not isinstance(tool_table, dict):
            raise ConfigError(f"{shown_path(pyproject_path)}: [tool.layerkit] must be a table")
        table, source = tool_table, pyproject_path
        where = f"{shown_path(pyproject_path)} [tool.layerkit]"
    else:
        where = shown_path(project_dir)
    build, publish, envs = _split_tables(table, where)
    return ProjectConfig(
        project_dir=project_dir,
        source=source,
        build=build,
        publish=publish,
        envs=envs,
        project_name=name if isinstance(name, str) else None,
        project_dependencies=tuple(dependencies),
    )


def select_env(config: ProjectConfig, name: str | None) -> ProjectConfig:
    """`config` with ``[tool.layerkit.env.NAME]`` laid over its publish table (flags, merged
    later by `resolve_publish_settings`, still win). An unknown name is a usage error."""
    if name is None:
        return config
    if name not in config.envs:
        known = ", ".join(sorted(config.envs)) or "none"
        raise UsageError(
            f"unknown environment {name!r} (known: {known})",
            hint=f"choose one of them, or define [tool.layerkit.{ENV_TABLE}.{name}] in "
            f"pyproject.toml ([{ENV_TABLE}.{name}] in layerkit.toml)",
        )
    return replace(config, publish={**config.publish, **config.envs[name]})


@dataclass(frozen=True)
class ReleaseTarget:
    """What a release command (`layerkit alias ...`, `layerkit version ...`) acts on."""

    function: str
    alias: str | None  # None for the commands that name no alias
    region: str | None  # None: the AWS chain's region


def release_target(
    env: str | None,
    keys: Mapping[str, Any],
    *,
    function: str | None,
    alias: str | None,
    region: str | None,
    needs_alias: bool,
) -> ReleaseTarget:
    """The function, alias and region a release command means: each as given on the command line,
    else (with `env`) from the environment's `keys` (its table over the publish table, as
    `select_env` lays them): `functions` and `regions` must then name exactly one, `alias` be set.
    Without `env`, `keys` is not read: FUNCTION (and ALIAS when `needs_alias`) must be given and
    the region is the AWS chain's. Pure: the caller reads the project."""
    configured = keys if env is not None else {}
    table = f"[tool.layerkit.{ENV_TABLE}.{env}]"
    if function is None:
        if env is None:
            raise UsageError(
                "missing argument FUNCTION",
                hint="give the function name or ARN, or --env NAME whose table sets functions",
            )
        functions: tuple[str, ...] = configured.get("functions", ())
        if len(functions) != 1:
            raise UsageError(
                f"environment {env!r} names {len(functions)} functions: {', '.join(functions)}"
                if functions
                else f"environment {env!r} names no function",
                hint="pass FUNCTION to say which one a release command acts on"
                if functions
                else f"pass FUNCTION, or set functions in {table}",
            )
        function = functions[0]
    if needs_alias and alias is None:
        alias = configured.get(ENV_ALIAS)
        if alias is None:
            raise UsageError(
                "missing argument ALIAS" if env is None else f"environment {env!r} sets no alias",
                hint="give ALIAS after FUNCTION"
                if env is None
                else f'pass FUNCTION ALIAS, or set {ENV_ALIAS} = "..." in {table}',
            )
    regions: tuple[str, ...] = configured.get("regions", ())
    if region is None and len(regions) > 1:
        raise UsageError(
            f"environment {env!r} names {len(regions)} regions: {', '.join(regions)}",
            hint="a release command acts in one region: choose it with --region",
        )
    return ReleaseTarget(
        function=function, alias=alias, region=region or (regions[0] if regions else None)
    )


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.endswith(("/", "\\"))


_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")


def default_name(config: ProjectConfig) -> str:
    """The project's name made safe for layer names and files: [A-Za-z0-9_-]."""
    raw = config.project_name or config.project_dir.resolve().name or "layer"
    return _NAME_RE.sub("-", raw).strip("-") or "layer"


def configured_targets(build: Mapping[str, Any]) -> tuple[Target, ...]:
    """The python x arch targets a build table (file or merged with flags) asks for, defaults
    filled in: what `build` builds and what `layerkit targets` prints for CI's matrix."""
    return target_matrix(build.get("python", (DEFAULT_PYTHON,)), build.get("arch", (DEFAULT_ARCH,)))


def resolve_build_settings(config: ProjectConfig, overrides: Mapping[str, Any]) -> BuildSettings:
    """Merge CLI overrides (already typed; None = not given) over the file and apply defaults."""
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    options = validate_table(given, BUILD_OPTIONS, "command line")
    merged = {**config.build, **options}
    base = config.project_dir

    lock = _lock_selection(merged, base)
    requirement_files = tuple(base / p for p in merged.get("requirements", ()))
    if (
        lock is None
        and not requirement_files
        and "packages" not in merged
        and not config.project_dependencies
    ):
        # The convention of most Lambda projects: a requirements.txt beside the code.
        conventional = base / DEFAULT_REQUIREMENTS
        requirement_files = (conventional,) if conventional.is_file() else ()
    for path in requirement_files:
        if not path.exists():
            raise InputFileError(
                f"requirements file {shown_path(path)} does not exist",
                hint="check the path (relative paths are relative to the project directory)",
            )
        if not path.is_file():
            raise InputFileError(
                f"requirements file {shown_path(path)} is not a readable file",
                hint="give the path of a pip requirements file",
            )
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputFileError(
                f"requirements file {shown_path(path)} is not UTF-8 text (byte {exc.start})",
                hint="save it as UTF-8",
            ) from exc
        except OSError as exc:
            raise InputFileError(
                f"cannot read requirements file {shown_path(path)}: {exc.strerror}",
                hint="check its permissions",
            ) from exc
    specs: list[str] = []
    local_packages: list[Path] = []
    for spec in merged.get("packages", ()):
        if _looks_like_path(spec):
            path = (base / spec).expanduser()
            if not path.is_dir():
                raise InputFileError(f"local package {spec} not found at {shown_path(path)}")
            local_packages.append(path)
        else:
            specs.append(spec)
    use_project_deps = merged.get("project-dependencies", not requirement_files and lock is None)
    if use_project_deps:
        specs.extend(config.project_dependencies)
    if lock is None and not (requirement_files or specs or local_packages):
        raise UsageError(
            f"nothing to install for {shown_path(base)}",
            hint="give -r requirements.txt, list packages in [tool.layerkit], or add "
            "[project].dependencies to pyproject.toml",
        )

    installer = merged.get("installer", "uv")
    if installer not in INSTALLERS:
        raise ConfigError(f"unknown installer {installer!r}", hint="choose uv or pip")
    compression = merged.get("compression", "default")
    if compression not in COMPRESSIONS:
        raise ConfigError(
            f"unknown compression {compression!r}", hint="choose fast, default or small"
        )
    budget = merged.get("budget", LAMBDA_UNZIPPED_LIMIT)
    if budget > LAMBDA_UNZIPPED_LIMIT:
        raise ConfigError(
            f"budget {budget:,} bytes is above Lambda's limit of {LAMBDA_UNZIPPED_LIMIT:,}",
            hint="the budget can only lower the limit (to leave room for code and other layers)",
        )
    name = merged.get("name") or default_name(config)
    if _NAME_RE.search(name):
        raise ConfigError(f"name {name!r} may only contain letters, digits, '-' and '_'")
    output = Path(merged.get("output", "dist"))
    return BuildSettings(
        project_dir=base,
        name=name,
        requirement_files=requirement_files,
        requirements=tuple(specs),
        local_packages=tuple(local_packages),
        targets=configured_targets(merged),
        installer=installer,
        output_dir=output if output.is_absolute() else base / output,
        budget_bytes=budget,
        index=IndexOptions(
            index_url=merged.get("index-url"),
            extra_index_urls=merged.get("extra-index-urls", ()),
            find_links=merged.get("find-links", ()),
        ),
        slim=SlimSettings(
            remove_tests=not merged.get("keep-tests", False),
            exclude_distributions=merged.get("exclude", ()),
            exclude_globs=merged.get("exclude-globs", ()),
            strip=merged.get("strip", False),
            compile=_COMPILE_MODES[merged.get("compile", "auto")],
            drop_other_platforms=merged.get("drop-other-platforms", False),
        ),
        allow=merged.get("allow", ()),
        compression=compression,
        sbom=merged.get("sbom", False),
        config_file=config.source,
        interpreter=_interpreter(
            merged.get("interpreter"), base, from_file="interpreter" not in options
        ),
        python_downloads=merged.get("python-downloads", False),
        build_sdists=merged.get("build-sdists", True),
        lock=lock,
    )


def _lock_selection(merged: Mapping[str, Any], base: Path) -> LockSelection | None:
    """The lock file to build from: `lock`, else the one in the project directory when nothing
    else says what to install. A lock is the whole input: requirements and packages beside it
    are refused, and [project].dependencies are in it."""
    given = merged.get("lock")
    others = [key for key in ("requirements", "packages") if merged.get(key)]
    if given is None and not others:
        found = [base / name for name in LOCK_FILE_NAMES if (base / name).is_file()]
        if len(found) > 1:
            raise UsageError(
                f"{base} holds {len(found)} lock files: {', '.join(p.name for p in found)}",
                hint="choose one with --lock FILE (or `lock = ...` in [tool.layerkit])",
            )
        given = str(found[0]) if found else None
    if given is None:
        if merged.get("groups") or merged.get("extras"):
            raise UsageError(
                "--group and --extra select parts of a lock file, and this build has none",
                hint="give the lock with --lock FILE",
            )
        return None
    if others:
        raise UsageError(
            f"a lock file is the whole input of a build; {' and '.join(others)} cannot be "
            "added to it",
            hint="add the requirement to the lock (and re-lock), or build without --lock",
        )
    path = base / given
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(
            f"cannot read lock file {shown_path(path)}: {exc.strerror}",
            hint="check the path (--lock is relative to the current directory, `lock =` in the "
            "configuration to the project directory)",
        ) from exc
    return select_lock(path, data, groups=merged.get("groups", ()), extras=merged.get("extras", ()))


def _interpreter(value: str | None, base: Path, *, from_file: bool) -> str | None:
    """A path in the configuration file is relative to the project; a bare name stays a name."""
    if value is None or "/" not in value:
        return value
    path = Path(value).expanduser()
    return str(base / path if from_file and not path.is_absolute() else path)


def resolve_publish_settings(
    config: ProjectConfig, overrides: Mapping[str, Any]
) -> PublishSettings:
    """Merge CLI overrides (None = not given) over ``[tool.layerkit.publish]``."""
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    merged = {**config.publish, **validate_table(given, PUBLISH_OPTIONS, "command line")}
    return PublishSettings(
        bucket=merged.get("bucket"),
        prefix=merged.get("prefix", "layerkit"),
        bucket_owner=merged.get("bucket-owner"),
        layer_name=merged.get("layer-name"),
        regions=merged.get("regions", ()),
        description=merged.get("description"),
        license=merged.get("license"),
        functions=merged.get("functions", ()),
        grant_accounts=merged.get("grant-accounts", ()),
        grant_org=merged.get("grant-org"),
        direct=merged.get("direct", False),
    )
