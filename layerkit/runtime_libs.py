"""The libraries each Lambda runtime image provides, and the libraries packages open by name.

Data, read from the files in ``layerkit/data/`` (one per runtime family x architecture, and
``dlopen.txt``); each file names the public source of its entries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from packaging.utils import canonicalize_name

from layerkit.targets import Target

_UNSURE = "?"


@dataclass(frozen=True)
class RuntimeLibraries:
    """Sonames a target's image provides: `present` for sure, `unsure` perhaps."""

    data_file: str
    present: frozenset[str]
    unsure: frozenset[str]
    glibcxx: tuple[int, int, int] | None  # the newest GLIBCXX version its libstdc++ defines


def _data_text(name: str) -> str:
    return resources.files("layerkit").joinpath(f"data/{name}").read_text(encoding="utf-8")


@functools.cache
def _runtime_libraries(key: str) -> RuntimeLibraries:
    name = f"{key}.txt"
    present: set[str] = set()
    unsure: set[str] = set()
    glibcxx = None
    for line in _data_text(name).splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "@glibcxx":
            major, minor, patch = (int(part) for part in words[1].split("."))
            glibcxx = (major, minor, patch)
        elif len(words) > 1 and words[1] == _UNSURE:
            unsure.add(words[0])
        else:
            present.add(words[0])
    return RuntimeLibraries(f"layerkit/data/{name}", frozenset(present), frozenset(unsure), glibcxx)


def runtime_libraries(target: Target) -> RuntimeLibraries:
    """The libraries `target`'s runtime image provides (its family's data file)."""
    return _runtime_libraries(f"{target.base.key}-{target.arch}")


@functools.cache
def dlopen_table() -> dict[str, tuple[str, ...]]:
    """Canonical distribution name -> the sonames it opens by name at run time."""
    table: dict[str, tuple[str, ...]] = {}
    for line in _data_text("dlopen.txt").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            table[canonicalize_name(words[0])] = tuple(words[1:])
    return table
