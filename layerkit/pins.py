"""Pins: ``name==version`` lines read from requirement files, locks and resolver output.

Text in, data out: nothing here reads a file, runs a command or imports a boundary library
(tests/test_architecture.py holds that). `layerkit.cache` keys builds on what these functions
return; `layerkit.installer` asks the resolver that produces the text they read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerkit.manifest import Manifest


def _logical_lines(text: str) -> list[str]:
    """Requirement-file lines with continuations joined and comments removed."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].rstrip()
        if line.lstrip().startswith("#"):
            line = ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


# A lock spells nearly every line `name==version`. Such lines are read here without packaging,
# whose import (~10 ms: its tokenizer compiles a score of regexes) would be a tenth of a no-op
# rebuild; every other line goes to packaging's parser. tests/test_cache.py holds the two to
# the same reading.
_SIMPLE_PIN = re.compile(
    r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"  # PEP 508 name
    r" *== *"
    # PEP 440's normal form only (what uv and pip-compile write); anything else goes to packaging
    r"((?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
    r"(?:\+[a-z0-9]+(?:\.[a-z0-9]+)*)?)"
)
_NAME_SEPARATORS = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """PEP 503's normal form of a project name (what packaging's `canonicalize_name` returns)."""
    return _NAME_SEPARATORS.sub("-", name).lower()


def _exact_pin(line: str) -> tuple[str, str] | None:
    """(canonical name, version) when `line` pins one exact version (hashes allowed), else None."""
    words: list[str] = []
    parts = iter(line.split())
    for part in parts:
        if part == "--hash":
            next(parts, None)  # its value
        elif not part.startswith("--hash="):
            words.append(part)
    if not words or any(w.startswith("-") for w in words):
        return None
    text = " ".join(words)
    simple = _SIMPLE_PIN.fullmatch(text)
    if simple is not None:
        return canonical_name(simple[1]), simple[2]
    return parsed_pin(text)


def plain_requirements(requirement_texts: Sequence[str], requirements: Sequence[str]) -> bool:
    """Whether every requirement is a name with specifiers (extras and markers allowed) and
    nothing else: no option line (an index, a constraint, another file, an editable), no URL or
    path, no hash. Which file installs a version then depends on the index options alone."""
    from packaging.requirements import InvalidRequirement, Requirement

    lines = [line for text in requirement_texts for line in _logical_lines(text)]
    for line in [*lines, *requirements]:
        if line.startswith("-") or " -" in line:
            return False
        if _SIMPLE_PIN.fullmatch(line):
            continue
        try:
            if Requirement(line).url:
                return False
        except InvalidRequirement:
            return False
    return True


def parsed_pin(text: str) -> tuple[str, str] | None:
    """`_exact_pin` of one requirement by packaging's parser: extras, markers, `===`, URLs."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    specifiers = list(requirement.specifier)
    if requirement.url or len(specifiers) != 1:
        return None
    (spec,) = specifiers
    if spec.operator not in ("==", "===") or "*" in spec.version:
        return None
    return canonical_name(requirement.name), spec.version


def format_pins(pins: Iterable[tuple[str, str]]) -> str:
    """Sorted, distinct ``name==version`` lines."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(set(pins)))


def normalize_pins(text: str) -> str:
    """``name==version`` lines (canonical names, sorted) from ``uv pip compile`` output."""
    pins: list[tuple[str, str]] = []
    for line in _logical_lines(text):
        pin = _exact_pin(line)
        if pin is not None:
            pins.append(pin)
    return format_pins(pins)


def lock_pins(requirement_texts: Sequence[str], requirements: Sequence[str]) -> str | None:
    """The pins when every requirement is an exact ``name==version`` (a lock), else None.

    Any option line (``-r``, ``-c``, ``-e``, ``--index-url``...), URL, range or wildcard means the
    requirements alone do not say what will be installed.
    """
    pins: list[tuple[str, str]] = []
    lines = [line for text in requirement_texts for line in _logical_lines(text)]
    for line in [*lines, *requirements]:
        pin = _exact_pin(line)
        if pin is None:
            return None
        pins.append(pin)
    return format_pins(pins) if pins else None


def versions_equal(left: str, right: str) -> bool:
    if left == right:
        return True  # the usual case, without importing packaging
    from packaging.version import InvalidVersion, Version

    try:
        return Version(left) == Version(right)
    except InvalidVersion:
        return left == right


def pins_cover(pins: str, manifest: Manifest) -> bool:
    """Whether `pins` fix the version of every distribution the manifest's build installed."""
    pinned: dict[str, list[str]] = {}
    for line in pins.splitlines():
        name, _, version = line.partition("==")
        pinned.setdefault(name, []).append(version)
    for dist in manifest.distributions:
        versions = pinned.get(canonical_name(dist.name), [])
        if not any(versions_equal(v, dist.version) for v in versions):
            return False
    return True


def dist_info_pins(names: Iterable[str]) -> list[tuple[str, str]]:
    """(name, version) of each ``<name>-<version>.dist-info`` among directory `names`.

    Reading directory names is enough for `key_after_install` (no METADATA parsing, no scan).
    """
    pins: list[tuple[str, str]] = []
    for name in names:
        stem = name.removesuffix(".dist-info")
        if stem != name and "-" in stem:
            project, version = stem.rsplit("-", 1)
            pins.append((project, version))
    return pins
