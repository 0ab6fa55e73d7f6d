"""What a build records so that a later build of the same options with other pins redoes only the
distributions whose pins changed (`assembly.assemble_changed`), and the rules that say when that
gives the very layer a build from scratch would.

A layer splits by its top-level names (``numpy``, ``numpy.libs``, ``six.py``, each
``*.dist-info``; the bytecode of a top-level module goes with the module): every file of
site-packages sits under one. A distribution is *separable* when the top-level names its RECORD
lists (as installed, before slimming) are its own (no other distribution's RECORD lists a file
under them), none of its files is a binary (nothing another distribution's binary could link
against, nothing whose needs must be judged against the rest), and slimming found no ``tests``
directory in it (whether one is removed depends on who imports it). What slimming, bytecode and
the checks do to a separable distribution's files then depends on those files alone, and a new
separable distribution's files can be judged on their own, beside the facts recorded of the rest.

Only a *clean* build is recorded: every installed file listed by a RECORD, no warning, no note, no
waiver, nothing excluded by name or glob, no strip, no bytecode dropped for the budget, no
symbolic link, no ``bin/`` package (whether console scripts are dropped depends on it), no
``direct_url.json`` (it depends on how a distribution was asked for, not on its wheel): each of
those is a judgement over the whole layer, or over the request, that the parts alone could not
repeat. The record carries its own digest: a damaged one is never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from layerkit.bytecode import CompileReport, pyc_path
from layerkit.cache import canonical_digest
from layerkit.contents import FileEntry, InstalledDistribution
from layerkit.pins import format_pins, versions_equal
from layerkit.slim.apply import SlimReport
from layerkit.slim.compile import module_sources
from layerkit.slim.plan import RULE_DESCRIPTIONS, Removal, RuleName, RulePlan, tests_candidates
from layerkit.targets import Target

PARTS_LAYOUT = 3


class NotByParts(Exception):  # a verdict, not an error: the build is made whole
    """Why a layer cannot be rebuilt by parts (its message, a few words for the progress)."""


def top_of(path: str) -> str:
    """``numpy/core/x.py`` -> ``numpy``; ``six.py`` -> ``six.py``; the bytecode of a top-level
    module belongs with it: ``__pycache__/six.cpython-312.pyc`` -> ``six.py``."""
    top, _, rest = path.partition("/")
    if top == "__pycache__" and rest and "/" not in rest:
        return f"{rest.split('.', 1)[0]}.py"
    return top


@dataclass(frozen=True)
class LayerParts:
    """A clean build's layer by distribution: its distributions (their files after slimming),
    the top-level names each installed, which are separable, the files after slimming
    (`entries`), what slimming removed (`removals`, per rule), the ``.pyc`` it compiled
    (`bytecode`), and the ``tests`` directories slimming judged (`tests_dirs`)."""

    distributions: tuple[InstalledDistribution, ...]
    tops: Mapping[str, tuple[str, ...]]  # dist-info directory -> its top-level names
    separable: frozenset[str]  # dist-info directory names
    entries: tuple[FileEntry, ...]
    removals: tuple[tuple[RuleName, Removal], ...]
    bytecode: tuple[str, ...]
    tests_dirs: tuple[str, ...]
    # dist-info directory -> the sha256 of every wheel the resolution offered for its version
    wheels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def tops_of(self, distributions: Iterable[InstalledDistribution]) -> set[str]:
        return {top for d in distributions for top in self.tops.get(d.dist_info, ())}


def record_parts(
    *,
    installed: Sequence[FileEntry],
    installed_distributions: Sequence[InstalledDistribution],
    shipped: Sequence[FileEntry],
    distributions: Sequence[InstalledDistribution],
    slimmed: SlimReport,
    binaries: Iterable[str],
    target: Target,
    wheels: Mapping[str, tuple[str, ...]],
) -> LayerParts | None:
    """The parts of a clean build (see the module's docstring; the caller judges cleanliness of
    what it alone saw: warnings, waivers, options), or None when its files cannot be told apart
    by distribution. `installed` and `installed_distributions`: the files and distributions
    before slimming; `shipped` and `distributions`: after; `binaries`: the shipped files
    verification read as binaries; `wheels`: what the resolution offered for each (`wheels`)."""
    if slimmed.notes or slimmed.warnings or slimmed.strip is not None:
        return None
    compiled = slimmed.compile
    if compiled is not None and (compiled.dropped or compiled.warnings):
        return None
    if any(e.symlink for e in installed) or any(e.symlink for e in shipped):
        return None
    listed = {f for d in installed_distributions for f in d.files}
    if any(e.path not in listed or _asked_how(e.path) for e in installed):
        return None  # a file no RECORD accounts for, a bin/ package, a direct_url.json
    tops = {d.dist_info: _tops(d) for d in installed_distributions}
    owners_of_top: dict[str, set[str]] = {}
    for dist_info, own in tops.items():
        for top in own:
            owners_of_top.setdefault(top, set()).add(dist_info)
    binary_tops = {top_of(p) for p in binaries}
    binary_tops |= {
        top_of(r.path) for rule in slimmed.rules if rule.rule == "other-platforms"
        for r in rule.removals
    }  # fmt: skip
    tests_dirs = tuple(tests_candidates(e.path for e in installed))
    tests_tops = {top_of(d) for d in tests_dirs}
    separable = frozenset(
        dist_info
        for dist_info, own in tops.items()
        if all(owners_of_top[top] == {dist_info} for top in own)
        and not own & (binary_tops | tests_tops)
    )
    shipped_paths = {e.path for e in shipped}
    bytecode = tuple(
        pyc
        for pyc in (pyc_path(source, target) for source in module_sources(shipped))
        if pyc in shipped_paths
    )
    if compiled is not None:
        by_path = {e.path: e.size for e in shipped}
        if (len(bytecode), sum(by_path[p] for p in bytecode)) != (compiled.files, compiled.bytes):
            return None  # bytecode this build did not write (shipped by a wheel): not ours to tell
    elif bytecode:
        return None
    removals = tuple((rule.rule, r) for rule in slimmed.rules for r in rule.removals)
    return LayerParts(
        tuple(distributions),
        {dist_info: tuple(sorted(own)) for dist_info, own in tops.items()},
        separable,
        tuple(shipped),
        removals,
        bytecode,
        tests_dirs,
        {d.dist_info: wheels[d.dist_info] for d in distributions if d.dist_info in wheels},
    )


def _tops(dist: InstalledDistribution) -> set[str]:
    return {top_of(f) for f in dist.files} | {dist.dist_info}


def _asked_how(path: str) -> bool:
    """A file whose presence depends on the request or the whole layer, not on a wheel: a
    ``bin/`` package (console scripts are dropped only without one), ``direct_url.json``."""
    top, _, rest = path.partition("/")
    return top == "bin" or (top.endswith(".dist-info") and rest == "direct_url.json")


# --- the JSON kept with a cached build ----------------------------------------------------------


def parts_document(parts: LayerParts) -> dict[str, Any]:
    """`parts` as JSON, with the SHA-256 of the rest (`parts_from_document` checks it)."""
    body = {
        "layout": PARTS_LAYOUT,
        "distributions": [
            [d.name, d.version, d.dist_info, list(d.files)] for d in parts.distributions
        ],
        "tops": {dist_info: list(own) for dist_info, own in parts.tops.items()},
        "separable": sorted(parts.separable),
        "entries": [[e.path, e.size, e.executable] for e in parts.entries],
        "removals": [[rule, r.path, r.size, r.reason] for rule, r in parts.removals],
        "bytecode": list(parts.bytecode),
        "tests_dirs": list(parts.tests_dirs),
        "wheels": {dist_info: list(offered) for dist_info, offered in parts.wheels.items()},
    }
    return {**body, "sha256": canonical_digest(body)}


def parts_from_document(document: Any) -> LayerParts:
    """The parts in `document` (`parts_document`); ValueError when damaged (its digest, its
    shape, its consistency) or of another layout."""
    try:
        body = {k: v for k, v in document.items() if k != "sha256"}
        if document["layout"] != PARTS_LAYOUT or document["sha256"] != canonical_digest(body):
            raise ValueError("another layout, or damaged")
        distributions = tuple(
            InstalledDistribution(_text(name), _text(version), _text(dist_info), _texts(files))
            for name, version, dist_info, files in document["distributions"]
        )
        entries = tuple(
            FileEntry(_text(path), _count(size), _flag(executable))
            for path, size, executable in document["entries"]
        )
        removals = tuple(
            (_rule(rule), Removal(_text(path), _count(size), _text(reason)))
            for rule, path, size, reason in document["removals"]
        )
        tops = {_text(k): _texts(v) for k, v in document["tops"].items()}
        parts = LayerParts(
            distributions,
            tops,
            frozenset(_texts(document["separable"])),
            entries,
            removals,
            _texts(document["bytecode"]),
            _texts(document["tests_dirs"]),
            {_text(k): _texts(v) for k, v in document["wheels"].items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"damaged parts: {exc}") from exc
    paths = {e.path for e in parts.entries}
    if not set(parts.bytecode) <= paths or any(r.path in paths for _, r in parts.removals):
        raise ValueError("damaged parts: inconsistent")
    if {d.dist_info for d in parts.distributions} - set(parts.tops):
        raise ValueError("damaged parts: a distribution without its top-level names")
    return parts


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _texts(values: object) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise TypeError("not a list")
    return tuple(_text(v) for v in values)


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("not a size")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not a flag")
    return value


def _rule(value: object) -> RuleName:
    for rule in RULE_DESCRIPTIONS:
        if rule == value:
            return rule
    raise TypeError("not a rule")


# --- the rebuild --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What a rebuild redoes: the pins to install, and the recorded layer without the
    distributions they replace or drop (`kept`)."""

    install: tuple[tuple[str, str], ...]  # (canonical name, version)
    kept: tuple[InstalledDistribution, ...]
    dropped_tops: frozenset[str]

    def requirements(self) -> tuple[str, ...]:
        return tuple(f"{name}=={version}" for name, version in self.install)

    def pins(self) -> str:
        """Every pin of the rebuilt layer, as `pins.format_pins` writes them."""
        kept = ((canonicalize_name(d.name), d.version) for d in self.kept)
        return format_pins([*self.install, *kept])


def plan_change(parts: LayerParts, pins: str) -> Change | None:
    """The `Change` from the recorded layer to `pins` (``name==version`` lines: what a build from
    scratch would install); None when nothing changed (or a name is pinned twice). Raises
    `NotByParts` when a distribution that goes is not separable, or nothing is kept."""
    wanted: dict[str, str] = {}
    for line in pins.splitlines():
        name, _, version = line.partition("==")
        if not name or not version or canonicalize_name(name) in wanted:
            return None
        wanted[canonicalize_name(name)] = version
    kept: list[InstalledDistribution] = []
    gone: list[InstalledDistribution] = []
    for dist in parts.distributions:
        pinned = wanted.get(canonicalize_name(dist.name))
        same = pinned is not None and versions_equal(pinned, dist.version)
        (kept if same else gone).append(dist)
    kept_names = {canonicalize_name(d.name) for d in kept}
    install = tuple((n, v) for n, v in sorted(wanted.items()) if n not in kept_names)
    if not install or len(kept_names) != len(kept):
        return None  # nothing changed, or two dist-info directories of one name
    inseparable = [f"{d.name} {d.version}" for d in gone if d.dist_info not in parts.separable]
    if inseparable:
        raise NotByParts(
            f"{', '.join(inseparable)} ships binaries, tests or files beside another distribution's"
        )
    if not kept:
        raise NotByParts("no distribution is the same as in the cached build")
    return Change(install, tuple(kept), frozenset(parts.tops_of(gone)))


def joins_cleanly(change: Change, parts: LayerParts, new: LayerParts) -> bool:
    """Whether the rebuilt distributions (`new`, the parts of their own install) sit beside the
    kept ones as in a build from scratch: all separable, under top-level names of their own."""
    if len(new.separable) != len(new.distributions) or not new.distributions:
        return False
    kept_tops = parts.tops_of(change.kept)
    return not any(top_of(e.path) in kept_tops for e in new.entries) and not (
        new.tops_of(new.distributions) & kept_tops
    )


def kept_tests_dirs(change: Change, parts: LayerParts) -> tuple[str, ...]:
    """The ``tests`` directories of the kept distributions (all removed: a clean build kept none):
    a rebuilt module that imports one would have kept it in a build from scratch."""
    return tuple(d for d in parts.tests_dirs if top_of(d) not in change.dropped_tops)


@dataclass(frozen=True)
class Joined:
    """The layer of kept and rebuilt distributions, as a build from scratch would list it."""

    entries: tuple[FileEntry, ...]
    distributions: tuple[InstalledDistribution, ...]
    slimmed: SlimReport
    copied: tuple[FileEntry, ...]  # the files whose compressed bytes come from the cached zip
    parts: LayerParts


def join(change: Change, parts: LayerParts, new: LayerParts, new_slimmed: SlimReport) -> Joined:
    """Kept and rebuilt distributions together (`joins_cleanly` holds)."""

    def kept(path: str) -> bool:
        return top_of(path) not in change.dropped_tops

    kept_entries = tuple(e for e in parts.entries if kept(e.path))
    entries = tuple(sorted([*kept_entries, *new.entries], key=lambda e: e.path))
    distributions = tuple(
        sorted([*change.kept, *new.distributions], key=lambda d: canonicalize_name(d.name))
    )
    grouped: dict[RuleName, list[Removal]] = {}
    for rule, removal in parts.removals:
        if kept(removal.path):
            grouped.setdefault(rule, []).append(removal)
    for rule_plan in new_slimmed.rules:
        grouped.setdefault(rule_plan.rule, []).extend(rule_plan.removals)
    rules = tuple(
        RulePlan(rule, RULE_DESCRIPTIONS[rule], tuple(sorted(grouped[rule], key=lambda r: r.path)))
        for rule in RULE_DESCRIPTIONS
        if grouped.get(rule)
    )
    bytecode = tuple(sorted([*(p for p in parts.bytecode if kept(p)), *new.bytecode]))
    reused = len(bytecode) - len(new.bytecode)
    slimmed = SlimReport(
        rules, None, _joined_compile(new_slimmed.compile, entries, bytecode, reused)
    )
    kept_dist_infos = {d.dist_info for d in change.kept}
    joined_parts = LayerParts(
        distributions,
        {
            **{k: v for k, v in parts.tops.items() if k in kept_dist_infos},
            **new.tops,
        },
        frozenset(parts.separable & kept_dist_infos) | new.separable,
        entries,
        tuple((rule_plan.rule, r) for rule_plan in rules for r in rule_plan.removals),
        bytecode,
        tuple(sorted({*kept_tests_dirs(change, parts), *new.tests_dirs})),
        {k: v for k, v in parts.wheels.items() if k in kept_dist_infos},
    )
    return Joined(entries, distributions, slimmed, kept_entries, joined_parts)


def _joined_compile(
    new: CompileReport | None, entries: Sequence[FileEntry], bytecode: Sequence[str], reused: int
) -> CompileReport | None:
    """The rebuilt distributions' bytecode report over the whole layer: the kept ``.pyc`` count
    as reused (taken from the cached build, not compiled)."""
    if new is None or new.interpreter is None:
        return new
    size_of = {e.path: e.size for e in entries}
    return CompileReport(
        new.interpreter,
        files=len(bytecode),
        bytes=sum(size_of[p] for p in bytecode),
        skipped_reason=new.skipped_reason,
        version=new.version,
        mode=new.mode,
        reused=new.reused + reused,
        compiled=new.compiled,
    )
