"""Requirements that publish only a source distribution for the target.

Installs stay binary-only. When a resolution for the target fails, uv's own words say which
packages have only an sdist (``Wheels are required for `X` because building from source is
disabled``) and which publish wheels only for other platforms. Each sdist-only package is then
downloaded (``pip download --no-binary :all: --no-deps``) and built into a wheel in an isolated
environment (``python -m build --wheel``: a fresh virtualenv, never the host's site-packages).
The wheel is used only when it is pure Python (``py3-none-any``, no compiled file inside): then it
runs anywhere, Lambda included. A build that compiles code would be compiled for *this* machine
(its CPU, glibc and libraries), so it is refused with the reason and what to do instead.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from layerkit.config import BuildSettings, IndexOptions
from layerkit.errors import CompatibilityError, InstallerError
from layerkit.installer import (
    CommandRunner,
    InstallRequest,
    build_wheel,
    command_failure,
    index_args,
    resolve_with_uv,
)
from layerkit.safezip import open_layer_zip
from layerkit.targets import Target
from layerkit.verify import unsafe_name_reason

if TYPE_CHECKING:
    from layerkit.build_model import BuildContext

# Packages whose sdist needs a compiler but that have a drop-in with wheels (or in pure Python).
# Each entry: (what to use instead, where the project says so).
BINARY_ALTERNATIVES: dict[str, tuple[str, str]] = {
    "psycopg2": (
        "psycopg2-binary (the same module, with wheels)",
        "https://www.psycopg.org/docs/install.html#quick-install",
    ),
    "psycopg": (
        "psycopg[binary] (adds the psycopg-binary wheels)",
        "https://www.psycopg.org/psycopg3/docs/basic/install.html#binary-installation",
    ),
    "pycrypto": (
        "pycryptodome (an almost drop-in replacement, with wheels)",
        "https://www.pycryptodome.org/src/introduction",
    ),
    "mysqlclient": (
        "PyMySQL (pure Python; `pymysql.install_as_MySQLdb()` for MySQLdb code)",
        "https://pymysql.readthedocs.io/en/latest/user/installation.html",
    ),
}

_SDIST_ONLY = re.compile(r"Wheels are required for `([^`]+)` because building from source")
_OTHER_PLATFORMS = re.compile(
    r"Wheels are available for `([^`]+)` \(v([^)]+)\) on the following platforms: (.+)"
)
_COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll", ".a", ".o")


@dataclass(frozen=True)
class SdistOnly:
    """A package the resolver could not use because it has only an sdist (`version` if known)."""

    name: str
    version: str | None

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name

    def __str__(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


@dataclass(frozen=True)
class BuiltFromSdist:
    """A pure-Python wheel built from an sdist, for the layer."""

    name: str
    version: str
    wheel: Path

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class CompiledSdistError(Exception):
    """Building an sdist compiled code (or failed, needing a compiler): `detail` says how."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def sdist_only_packages(output: str) -> tuple[SdistOnly, ...]:
    """The packages uv's failure output says have only a source distribution."""
    found: dict[str, SdistOnly] = {}
    for name in _SDIST_ONLY.findall(output):
        pinned = re.search(rf"\b{re.escape(name)}==(\S+?) has no usable wheels", output)
        found.setdefault(canonicalize_name(name), SdistOnly(name, pinned and pinned.group(1)))
    return tuple(found.values())


def refuse_other_platform_only(output: str, target: Target) -> None:
    """Raise for a package uv says publishes wheels only for other operating systems."""
    for name, version, platforms in _OTHER_PLATFORMS.findall(output):
        tags = [t.strip(" `") for t in platforms.split(",")]
        if any("linux" in tag for tag in tags):
            continue  # Linux wheels exist, for another glibc/arch: the installer's message says so
        systems = sorted({_system_of(tag) for tag in tags})
        raise CompatibilityError(
            f"{name} {version} publishes wheels only for {' and '.join(systems)} "
            f"({', '.join(tags)}): none for Linux, so it cannot run on Lambda "
            f"({target.runtime} {target.arch})",
            hint=f"remove {name} from the layer's requirements, or limit it to where it runs "
            f"with a marker (e.g. `{name}; sys_platform == 'win32'`)",
        )


def _system_of(tag: str) -> str:
    if tag.startswith("win"):
        return "Windows"
    if tag.startswith("macosx"):
        return "macOS"
    return tag


def compiled_refusal(
    package: str, target: Target, detail: str, *, release_with_wheels: str | None = None
) -> CompatibilityError:
    """The error for an sdist that needs a compiler: why, and what to do instead
    (`release_with_wheels`: the newest release that has a wheel for the target, if known)."""
    hints = []
    alternative = BINARY_ALTERNATIVES.get(canonicalize_name(package))
    if alternative is not None:
        hints.append(f"use {alternative[0]} instead")
    if release_with_wheels is not None:
        hints.append(
            f"pin {package}=={release_with_wheels}, the newest release with a wheel for "
            f"{target.runtime} {target.arch}"
        )
    else:
        hints.append(
            f"pin a release of {package} that publishes manylinux wheels for {target.runtime} "
            f"{target.arch}"
        )
    hints.append(
        f"or build the layer on the target's platform ({target.base.os_name}, {target.machine}, "
        f"glibc {target.glibc[0]}.{target.glibc[1]})"
    )
    return CompatibilityError(
        f"{package} publishes only a source distribution for {target.runtime} {target.arch} and "
        f"it compiles code ({detail}): a wheel built here would be compiled for this build "
        "machine, not for Lambda, so it was not used",
        hint="; ".join(hints),
    )


def impurity(wheel: Path) -> str | None:
    """Why `wheel` is not pure Python (a platform tag, a compiled file), or None if it is."""
    try:
        _name, _version, _build, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        return f"an unexpected wheel name {wheel.name}"
    specific = sorted(str(t) for t in tags if t.abi != "none" or t.platform != "any")
    if specific:
        return f"the wheel is tagged {specific[0]}"
    with open_layer_zip(wheel) as archive:
        for member in archive.members:
            if member.name.endswith(_COMPILED_SUFFIXES) or ".so." in member.name:
                return f"the wheel holds the compiled file {member.name}"
    return None


def build_environment(base: Mapping[str, str], index: IndexOptions) -> dict[str, str]:
    """The environment of an isolated build: the index options reach the pip that installs the
    build's own requirements (setuptools, …) into its fresh environment."""
    env = dict(base)
    if index.index_url:
        env["PIP_INDEX_URL"] = index.index_url
    if index.extra_index_urls:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(index.extra_index_urls)
    if index.find_links:
        env["PIP_FIND_LINKS"] = " ".join(index.find_links)
    return env


def download_command(python: str, package: SdistOnly, index: IndexOptions, dest: Path) -> list[str]:
    """pip fetching the sdist of `package` alone (no dependencies: the resolver handles those)."""
    return [
        python, "-m", "pip", "download",
        "--no-deps", "--no-binary", ":all:",
        "--dest", str(dest),
        "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
        *index_args(index),
        package.requirement,
    ]  # fmt: skip


# An sdist is source code; one that unpacks to more than this is refused rather than written out.
SDIST_UNPACKED_LIMIT = 1 << 30


def _unpack_zip(archive: Path, into: Path) -> None:
    """Write the regular files of a zip sdist under `into` through the safe zip reader: names
    checked, sizes measured, no symlinks followed or written, nothing outside `into`."""
    with open_layer_zip(archive) as source:
        files = [m for m in source.members if not m.is_dir and not m.is_symlink]
        if sum(m.size for m in files) > SDIST_UNPACKED_LIMIT:
            raise InstallerError(
                f"{archive.name} unpacks to more than {SDIST_UNPACKED_LIMIT:,} bytes"
            )
        for member in files:
            if unsafe_name_reason(member.name):
                raise InstallerError(f"{archive.name} has an unsafe member name: {member.name!r}")
            dest = into / member.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            with (
                os.fdopen(os.open(dest, flags, 0o644), "wb") as out,
                source.open(member.name) as data,
            ):
                shutil.copyfileobj(data, out)


def _unpack(archive: Path, into: Path) -> Path:
    """Unpack an sdist (names checked, nothing outside `into`); return its top directory."""
    if archive.name.endswith(".zip"):
        _unpack_zip(archive, into)
    else:
        with tarfile.open(archive) as source:
            members = source.getmembers()
            if sum(member.size for member in members) > SDIST_UNPACKED_LIMIT:
                raise InstallerError(
                    f"{archive.name} unpacks to more than {SDIST_UNPACKED_LIMIT:,} bytes"
                )
            source.extractall(into, members=members, filter="data")
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise InstallerError(f"{archive.name} is not a usual sdist (one top directory expected)")
    return tops[0]


def build_sdist_wheel(
    package: SdistOnly,
    target: Target,
    *,
    index: IndexOptions,
    work: Path,
    wheel_dir: Path,
    runner: CommandRunner,
    env: Mapping[str, str],
    python: str,
) -> BuiltFromSdist:
    """Download `package`'s sdist, build it in isolation, keep the wheel if it is pure Python."""
    downloads = work / "sdists" / canonicalize_name(package.name)
    downloads.mkdir(parents=True)
    fetched = runner(download_command(python, package, index, downloads), env=env)
    archives = sorted(downloads.iterdir())
    if fetched.returncode != 0 or len(archives) != 1:
        raise command_failure(
            CompatibilityError,
            fetched,
            f"{package} has no wheel for {target.runtime} {target.arch}, and its source "
            f"distribution could not be downloaded:\n{fetched.tail(8)}",
            hint="check the name and version, and that the index serves its sdist",
        )
    source = _unpack(archives[0], work / "src" / canonicalize_name(package.name))
    try:
        wheel = build_wheel(
            source, wheel_dir, runner=runner, python=python, env=build_environment(env, index)
        )
    except InstallerError as exc:
        detail = "building it failed; it likely needs a compiler or system headers"
        raise CompiledSdistError(detail) from exc
    reason = impurity(wheel)
    if reason is not None:
        wheel.unlink()
        raise CompiledSdistError(reason)
    _name, version, _build, _tags = parse_wheel_filename(wheel.name)
    return BuiltFromSdist(package.name, str(version), wheel)


def build_missing_wheels(
    failure: InstallerError,
    settings: BuildSettings,
    target: Target,
    *,
    request: InstallRequest,
    wheel_dir: Path,
    done: tuple[BuiltFromSdist, ...],
    ctx: BuildContext,
) -> list[BuiltFromSdist]:
    """After `failure` to resolve `request`: build the packages that have only an sdist into
    pure-Python wheels in `wheel_dir`; re-raise `failure` when that is not why it failed.

    uv says which packages have only an sdist, whichever installer failed: its binary-only
    resolution of the same request is asked again (a second or so, on failures only).
    """
    scratch = Path(tempfile.mkdtemp(prefix="diagnose-", dir=request.dest))
    try:
        resolve_with_uv(request, uv=ctx.resolver, runner=ctx.runner, scratch=scratch, env=ctx.env)
    except InstallerError as diagnosis:
        output = diagnosis.output_tail
        # pip says "no matching distribution" alike for a missing package and one without a
        # wheel for the target (where pip resolves: glibc 2.26); uv's diagnosis tells which.
        if isinstance(diagnosis, CompatibilityError) and not isinstance(
            failure, CompatibilityError
        ):
            failure = diagnosis
    else:
        raise failure
    refuse_other_platform_only(output, target)
    built_names = {canonicalize_name(b.name) for b in done}
    needed = [
        p for p in sdist_only_packages(output) if canonicalize_name(p.name) not in built_names
    ]
    if not needed:
        raise failure
    names = ", ".join(str(p) for p in needed)
    if not settings.build_sdists:
        raise CompatibilityError(
            f"{names}: only a source distribution for {target.runtime} {target.arch}, and "
            "building sdists is off (--no-build / build-sdists = false)",
            hint="drop --no-build to let layerkit build pure-Python sdists into wheels (compiled "
            "ones are still refused), or pin a release that publishes wheels for this target",
        ) from failure
    wheel_dir.mkdir(exist_ok=True)
    built = []
    for package in needed:
        ctx.progress(f"{target}: {package} has only an sdist; building a wheel (kept only if pure)")
        try:
            built.append(
                build_sdist_wheel(
                    package,
                    target,
                    index=settings.index,
                    work=scratch,
                    wheel_dir=wheel_dir,
                    runner=ctx.runner,
                    env=ctx.env,
                    python=sys.executable,
                )
            )
        except CompiledSdistError as compiled:
            release = _newest_with_wheels(package, request, scratch=scratch, ctx=ctx)
            raise compiled_refusal(
                package.name, target, compiled.detail, release_with_wheels=release
            ) from compiled
    return built


def _newest_with_wheels(
    package: SdistOnly, request: InstallRequest, *, scratch: Path, ctx: BuildContext
) -> str | None:
    """The newest release of `package` with a wheel for the request's target, if any."""
    from layerkit.oldversions import probe_versions

    alone = InstallRequest(request.target, request.dest, (), (package.name,), request.index)
    probed = probe_versions(alone, uv=ctx.resolver, runner=ctx.runner, scratch=scratch, env=ctx.env)
    found = probed[0].get(canonicalize_name(package.name)) if probed else None
    return str(found) if found is not None else None
