"""Which wheel each installed distribution came from: its sha256, for the manifest and the SBOM.

Installers don't report the files they installed, but a resolution of the same request by the
installer that installs, with the same tags and indexes, names them: a PEP 751 lock (``uv pip
compile --format pylock.toml``) lists every candidate wheel with its hash, and pip's installation
report (``pip install --dry-run --report``) the one wheel it would install. Each installed
``*.dist-info/WHEEL`` lists the tags of the wheel it came from; the wheel whose filename carries
exactly those tags is the one installed. Pure: text in, mapping out.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class LockedWheel:
    """One wheel a lock offers for a distribution version."""

    tags: frozenset[str]
    sha256: str


LockTable = Mapping[tuple[NormalizedName, str], tuple[LockedWheel, ...]]


def wheel_tags(wheel_metadata: str) -> frozenset[str]:
    """The ``Tag:`` values of a dist-info WHEEL file."""
    return frozenset(
        line.split(":", 1)[1].strip()
        for line in wheel_metadata.splitlines()
        if line.lower().startswith("tag:")
    )


def _wheel_of(entry: Mapping[str, Any]) -> LockedWheel | None:
    filename = entry.get("name") or filename_of(_location(entry))
    sha256 = entry.get("hashes", {}).get("sha256", "")
    try:
        _, _, _, tags = parse_wheel_filename(str(filename))
    except InvalidWheelFilename:
        return None
    return LockedWheel(frozenset(str(tag) for tag in tags), str(sha256)) if sha256 else None


def _location(entry: Mapping[str, Any]) -> str:
    """Where a ``pylock.toml`` wheel or archive is: its URL, or its path (a local file)."""
    return str(entry.get("url") or entry.get("path") or "")


def _files_of(package: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A ``pylock.toml`` package's files: its index wheels, or the one archive it was named by
    (a requirement by URL or path: ``archive``)."""
    archive = package.get("archive")
    return [*package.get("wheels", []), *([archive] if isinstance(archive, dict) else [])]


def read_pylock(text: str) -> LockTable:
    """(name, version) -> the wheels a ``pylock.toml`` offers, with their sha256."""
    table: dict[tuple[NormalizedName, str], tuple[LockedWheel, ...]] = {}
    for package in tomllib.loads(text).get("packages", []):
        key = (canonicalize_name(package["name"]), canonicalize_version(package.get("version", "")))
        wheels = (_wheel_of(w) for w in _files_of(package))
        table[key] = tuple(w for w in wheels if w is not None)
    return table


def pylock_requirements(text: str) -> str:
    """``name==version`` lines of every package a ``pylock.toml`` pins (as its versions read)."""
    packages = tomllib.loads(text).get("packages", [])
    return "".join(f"{p['name']}=={p['version']}\n" for p in packages if p.get("version"))


@dataclass(frozen=True)
class ChosenWheel:
    """The one wheel file a resolver chose for a distribution (pip's installation report)."""

    name: str
    version: str
    url: str
    sha256: str
    tags: frozenset[str]
    requested: bool  # named by the request, not pulled in as a dependency
    direct: bool  # named by URL or path (pip records a direct_url.json), not found on an index


@dataclass(frozen=True)
class Resolution:
    """What a build resolves to: ``name==version`` lines (the cache key's pins) and the wheels
    each version may be installed from (the manifest's wheel hashes). `chosen`: the very file
    of each distribution, when the resolver names one per distribution (pip's report; else
    empty)."""

    pins: str
    wheels: LockTable
    chosen: tuple[ChosenWheel, ...] = ()
    resolver: str = "uv"  # the installer that resolved: "uv" or "pip"


def pylock_resolution(text: str) -> Resolution:
    """The `Resolution` of a ``pylock.toml`` (``uv pip compile --format pylock.toml``)."""
    return Resolution(pylock_requirements(text), read_pylock(text))


def pip_report_resolution(text: str) -> Resolution:
    """The `Resolution` of pip's installation report (format version 1): one wheel per item,
    named by its download URL, with the sha256 pip checked (absent for some local files)."""
    pins: list[str] = []
    table: dict[tuple[NormalizedName, str], tuple[LockedWheel, ...]] = {}
    chosen: list[ChosenWheel] = []
    for item in json.loads(text).get("install", []):
        metadata, download = item["metadata"], item.get("download_info", {})
        pins.append(f"{metadata['name']}=={metadata['version']}\n")
        archive = download.get("archive_info", {})
        sha256 = archive.get("hashes", {}).get("sha256", "")
        if not sha256 and str(archive.get("hash", "")).startswith("sha256="):  # PEP 610's older key
            sha256 = archive["hash"].removeprefix("sha256=")
        wheel = _wheel_of({"url": download.get("url", ""), "hashes": {"sha256": sha256}})
        key = (canonicalize_name(metadata["name"]), canonicalize_version(metadata["version"]))
        table[key] = () if wheel is None else (wheel,)
        if wheel is not None:
            flags = bool(item.get("requested")), bool(item.get("is_direct"))
            chosen.append(ChosenWheel(metadata["name"], metadata["version"], download["url"],
                                      wheel.sha256, wheel.tags, *flags))  # fmt: skip
    # Only a report that names a hashed wheel for every distribution says what to install.
    complete = len(chosen) == len(pins)
    return Resolution("".join(pins), table, tuple(chosen) if complete else (), resolver="pip")


@dataclass(frozen=True)
class Requested:
    """What a request names: packages, and the paths or URLs it names packages by."""

    names: frozenset[NormalizedName] = frozenset()
    locations: frozenset[str] = frozenset()


def requested_names(direct: str) -> Requested:
    """What ``uv pip compile --no-deps`` output names: ``name==version`` and ``name @ URL``
    lines name packages; a bare path or URL names a package by where it is."""
    from packaging.requirements import InvalidRequirement, Requirement

    names: set[NormalizedName] = set()
    locations: set[str] = set()
    for line in direct.splitlines():
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-")):
            continue
        try:
            names.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:  # a path or URL alone
            locations.add(text)
    return Requested(frozenset(names), frozenset(locations))


@dataclass(frozen=True)
class Choice:
    """Of one release a ``pylock.toml`` pins, the wheel pip would install (None: none that
    layerkit can pin loads on the target, and `problem` says why) and how many of its wheels
    load on the target (when more than one, a yanked one could be among them: the lock does
    not say, the index's page does)."""

    name: str
    version: str
    wheel: ChosenWheel | None
    problem: str = ""  # "": no wheel for the target; else what keeps layerkit from choosing
    for_target: int = 0
    others: int = 0  # wheels the lock lists that the target cannot load (uv took them too)


def filename_of(location: str) -> str:
    """The file name at the end of a URL (unquoted, without query or fragment) or a path."""
    if "://" in location:
        return urllib.parse.unquote(urllib.parse.urlsplit(location).path.rsplit("/", 1)[-1])
    return PurePosixPath(location).name


def pylock_choices(
    pylock: str, *, ranks: Mapping[str, int], requested: Requested
) -> dict[NormalizedName, Choice]:
    """Of each release a ``pylock.toml`` pins, the wheel file pip would install on a target
    whose tags rank as `ranks` (`Target.wheel_tag_ranks`): the best-ranked tag, then the higher
    build tag (pip's order), then the URL, for a stable choice. `requested`: what the request
    names (`requested_names`); a package named by URL or path (an ``archive``) is direct, as
    pip reports it."""
    choices: dict[NormalizedName, Choice] = {}
    for package in tomllib.loads(pylock).get("packages", []):
        name, version = str(package.get("name", "")), str(package.get("version", ""))
        direct = isinstance(package.get("archive"), dict)
        candidates: list[tuple[int, tuple[()] | tuple[int, str], str, ChosenWheel]] = []
        problem, others = "", 0
        for entry in _files_of(package):
            url = _location(entry)
            try:
                _, _, build, tags = parse_wheel_filename(filename_of(url))
            except InvalidWheelFilename:
                continue
            rank = min((ranks[str(t)] for t in tags if str(t) in ranks), default=None)
            if rank is None:
                others += 1
                continue
            sha256 = str(entry.get("hashes", {}).get("sha256", ""))
            if direct and "://" not in url:
                if not Path(url).is_absolute():
                    problem = f"is named by a relative path ({url})"
                    continue
                url = Path(url).as_uri()
            if not sha256:
                problem = "has a wheel with no sha256 to pin it by"
                continue
            wanted = canonicalize_name(name) in requested.names or _location(entry) in (
                requested.locations
            )
            wheel = ChosenWheel(name, version, url, sha256,
                                frozenset(str(t) for t in tags), wanted, direct)  # fmt: skip
            candidates.append((rank, build, url, wheel))
        # pip's order: the best-ranked tag, then the highest build tag (any to none); then,
        # for a stable choice, the first URL (max() keeps the first of equals)
        candidates.sort(key=lambda c: c[2])
        best = max(candidates, key=lambda c: (-c[0], c[1]))[3] if candidates else None
        count = len(candidates) + bool(problem)
        choices[canonicalize_name(name)] = Choice(
            name, version, None if problem else best, problem, count, others
        )
    return choices


def chosen_resolution(
    choices: Mapping[NormalizedName, Choice], wheels: LockTable
) -> tuple[Resolution, tuple[str, ...]]:
    """The `Resolution` installing `choices` (`wheels`: for the manifest's hashes), and the
    releases with no wheel for the target ("numpy 2.4.6", ...): with any, it names no files."""
    unusable = tuple(f"{c.name} {c.version}" for c in choices.values() if c.wheel is None)
    chosen = tuple(c.wheel for c in choices.values() if c.wheel is not None)
    pins = "".join(f"{c.name}=={c.version}\n" for c in choices.values())
    return Resolution(pins, wheels, () if unusable else chosen), unusable


def installed_wheel_sha256(name: str, version: str, tags: Iterable[str], lock: LockTable) -> str:
    """The sha256 of the locked wheel of `name` `version` with exactly `tags`, or '' if none."""
    wanted = frozenset(tags)
    candidates = lock.get((canonicalize_name(name), canonicalize_version(version)), ())
    return next((w.sha256 for w in candidates if w.tags == wanted), "")
