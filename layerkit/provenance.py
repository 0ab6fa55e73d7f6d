"""Which wheel each installed distribution came from: its sha256, for the manifest and the SBOM.

Installers don't report the files they installed, but a PEP 751 lock (``uv pip compile --format
pylock.toml``, same target and indexes) lists every candidate wheel with its hash, and each
installed ``*.dist-info/WHEEL`` lists the tags of the wheel it came from. The wheel whose filename
carries exactly those tags is the one installed. Pure: text in, mapping out.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
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
    filename = entry.get("name") or PurePosixPath(str(entry.get("url", ""))).name
    sha256 = entry.get("hashes", {}).get("sha256", "")
    try:
        _, _, _, tags = parse_wheel_filename(str(filename))
    except InvalidWheelFilename:
        return None
    return LockedWheel(frozenset(str(tag) for tag in tags), str(sha256)) if sha256 else None


def read_pylock(text: str) -> LockTable:
    """(name, version) -> the wheels a ``pylock.toml`` offers, with their sha256."""
    table: dict[tuple[NormalizedName, str], tuple[LockedWheel, ...]] = {}
    for package in tomllib.loads(text).get("packages", []):
        key = (canonicalize_name(package["name"]), canonicalize_version(package.get("version", "")))
        wheels = (_wheel_of(w) for w in package.get("wheels", []))
        table[key] = tuple(w for w in wheels if w is not None)
    return table


def pylock_requirements(text: str) -> str:
    """``name==version`` lines of every package a ``pylock.toml`` pins (as its versions read)."""
    packages = tomllib.loads(text).get("packages", [])
    return "".join(f"{p['name']}=={p['version']}\n" for p in packages if p.get("version"))


def installed_wheel_sha256(name: str, version: str, tags: Iterable[str], lock: LockTable) -> str:
    """The sha256 of the locked wheel of `name` `version` with exactly `tags`, or '' if none."""
    wanted = frozenset(tags)
    candidates = lock.get((canonicalize_name(name), canonicalize_version(version)), ())
    return next((w.sha256 for w in candidates if w.tags == wanted), "")
