"""Lock files as build inputs: ``pylock.toml`` (PEP 751), ``uv.lock``, ``poetry.lock`` and
``Pipfile.lock``, read directly (no installer is run, no index is asked).

Each format becomes one list of frozen `Pin`s for one *target*: the environment markers of the lock
are evaluated for the Lambda runtime (python_version, ``sys_platform == "linux"``, the target's
``platform_machine``, CPython), never for the host. A pin names the exact version, the hashes of
the files the lock allows for the target, the marker it was selected under and its index. The
pins are then installed as a requirements file of ``name==version --hash=...`` lines with
``--no-deps``: the lock is the whole resolution, as PEP 751 asks of installers.

Groups and extras: the main/default group always; ``--group`` adds PEP 735 / uv dev groups,
Poetry groups or Pipfile categories, ``--extra`` adds optional dependencies (pylock.toml, uv.lock,
poetry.lock). A lock that has no pin for the target (a package the lock requires whose entries all
exclude the target, a pinned version with no wheel for it, a target outside the lock's
``environments`` or ``requires-python``) raises `CompatibilityError` naming the package; a lock
that cannot be read, or names a source layerkit cannot pin (a directory, VCS or URL), raises
`LockFileError`.

Pure: text in, pins out (packaging evaluates markers and reads wheel file names).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from layerkit.errors import CompatibilityError, LockFileError
from layerkit.report import shown_path
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.provenance import Resolution

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

LockFormat = Literal["pylock.toml", "uv.lock", "poetry.lock", "Pipfile.lock"]
# Looked for in the project directory in this order (the standard first).
LOCK_FILE_NAMES: tuple[LockFormat, ...] = ("pylock.toml", "uv.lock", "poetry.lock", "Pipfile.lock")
_HASH_ALGORITHMS = ("sha256", "sha384", "sha512")  # what pip's --hash accepts


@dataclass(frozen=True)
class LockSelection:
    """A lock file chosen as the build's input, with the groups and extras to install."""

    path: Path
    format: LockFormat
    sha256: str  # of the file's bytes: named by the manifest and the SBOM
    groups: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    text: str = field(default="", repr=False)  # the bytes that digest names, decoded


@dataclass(frozen=True)
class LockedWheel:
    """A wheel file the lock names for a pin."""

    filename: str
    hashes: tuple[str, ...]  # "algorithm:hex"


@dataclass(frozen=True)
class Pin:
    """One exact version the lock installs on a target."""

    name: str  # PEP 503 normal form
    version: str
    hashes: tuple[str, ...]  # "algorithm:hex" of the target's wheels (all the lock's if unnamed)
    marker: str = ""  # the marker it was selected under ('' = always)
    source: str = ""  # index URL or name ('' = the default index)
    wheels: tuple[LockedWheel, ...] = ()  # the target's wheels, when the lock names files

    def requirement(self) -> str:
        """The requirements-file line that installs exactly this pin."""
        return f"{self.name}=={self.version}" + "".join(f" --hash={h}" for h in self.hashes)


def lock_record(lock: LockSelection) -> dict[str, Any]:
    """What the manifest, the SBOM and the cache key say of a lock: file name, format, digest
    and what was selected."""
    return {
        "file": lock.path.name,
        "format": lock.format,
        "sha256": lock.sha256,
        "groups": list(lock.groups),
        "extras": list(lock.extras),
    }


def lock_format(path: Path) -> LockFormat:
    """The format of a lock file, from its name (``pylock.<name>.toml`` is PEP 751's too)."""
    name = path.name
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return "pylock.toml"
    for known in LOCK_FILE_NAMES[1:]:
        if name == known:
            return known
    raise LockFileError(
        f"{shown_path(path)} is not a lock file layerkit reads",
        hint="give pylock.toml (or pylock.NAME.toml), uv.lock, poetry.lock or Pipfile.lock",
    )


def select_lock(
    path: Path, data: bytes, *, groups: Sequence[str] = (), extras: Sequence[str] = ()
) -> LockSelection:
    """The `LockSelection` of the lock file at `path` whose bytes are `data`."""
    fmt = lock_format(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LockFileError(f"{shown_path(path)} is not UTF-8 text (byte {exc.start})") from exc
    return LockSelection(
        path=path,
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        groups=tuple(groups),
        extras=tuple(extras),
        text=text,
    )


def canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def target_environment(target: Target) -> dict[str, str]:
    """PEP 508 marker variables of a Lambda runtime (the patch version is taken as .0, as uv's
    ``--python-version 3.X`` does)."""
    full = f"{target.python}.0"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": target.machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": target.python,
        "sys_platform": "linux",
    }


def _marker_true(
    marker: str,
    target: Target,
    *,
    where: str,
    extras: Iterable[str] = (),
    groups: Iterable[str] | None = None,
) -> bool:
    """Whether `marker` holds on `target`; ``extra == X`` holds for any selected extra.

    With `groups` (pylock.toml), PEP 751's ``extras`` and ``dependency_groups`` sets are given.
    """
    if not marker.strip():
        return True
    from packaging.markers import InvalidMarker, Marker

    try:
        parsed = Marker(marker)
    except InvalidMarker as exc:
        raise LockFileError(f"{where}: invalid marker {marker!r}: {exc}") from exc
    env: dict[str, Any] = target_environment(target)
    if groups is not None:
        env.update(extras=frozenset(extras), dependency_groups=frozenset(groups))
        return parsed.evaluate(env, "lock_file")
    return any(parsed.evaluate({**env, "extra": extra}) for extra in ("", *extras))


def wheel_fits(filename: str, target_tag_set: frozenset[str]) -> bool:
    """Whether the wheel `filename` installs on the target whose tags are `target_tag_set`."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        _, _, _, wheel_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return any(str(tag) in target_tag_set for tag in wheel_tags)


def _hash_list(table: object) -> tuple[str, ...]:
    """``{sha256 = "..."}`` (PEP 751) -> ("sha256:...",), strongest pip accepts only."""
    if not isinstance(table, dict):
        return ()
    return tuple(
        f"{alg}:{table[alg]}" for alg in _HASH_ALGORITHMS if isinstance(table.get(alg), str)
    )


def _one_hash(value: object) -> tuple[str, ...]:
    """``"sha256:..."`` (uv.lock, poetry.lock, Pipfile.lock) when pip can check it."""
    if isinstance(value, str) and value.split(":", 1)[0] in _HASH_ALGORITHMS and ":" in value:
        return (value,)
    return ()


def _pin_from_wheels(
    *,
    name: str,
    version: str,
    wheels: Sequence[LockedWheel],
    has_sdist: bool,
    target: Target,
    tag_set: frozenset[str],
    where: str,
    marker: str = "",
    source: str = "",
) -> Pin:
    """The pin of `name` `version` on `target`: its wheels for the target, or a clear error."""
    fitting = tuple(w for w in wheels if wheel_fits(w.filename, tag_set))
    if not fitting:
        names = ", ".join(w.filename for w in wheels) or "none"
        what = "only an sdist" if has_sdist and not wheels else f"wheels: {names}"
        raise CompatibilityError(
            f"{where}: {name} {version} has no wheel for {target.runtime} {target.arch} ({what})",
            hint="re-lock with a version that publishes a manylinux wheel for this target, or "
            "build for another target; layerkit installs a lock's wheels only (an sdist's hash "
            "pins the sdist, not a wheel built from it)",
        )
    hashes = tuple(h for w in fitting for h in w.hashes)
    return Pin(canonical(name), version, hashes, marker, source, fitting)


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LockFileError(f"{where} is not a table")
    return value


def _tables(value: object, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LockFileError(f"{where} is not an array of tables")
    return [_table(item, where) for item in value]


def _check_selection(
    kind: str, asked: Sequence[str], known: Iterable[str], *, where: str, hint: str
) -> None:
    unknown = sorted(set(asked) - set(known))
    if unknown:
        have = ", ".join(sorted(known)) or "none"
        raise LockFileError(
            f"{where} has no {kind} {', '.join(unknown)} (it has: {have})", hint=hint
        )


# --- pylock.toml (PEP 751) -------------------------------------------------------------------


def _pylock_pins(
    doc: Mapping[str, Any], target: Target, sel: LockSelection, where: str
) -> list[Pin]:
    version = str(doc.get("lock-version", ""))
    if not version.startswith("1."):
        raise LockFileError(f"{where}: lock-version {version!r} is not 1.x (PEP 751)")
    environments = doc.get("environments")
    if environments and not any(_marker_true(str(m), target, where=where) for m in environments):
        raise CompatibilityError(
            f"{where} was not locked for {target.runtime} {target.arch}: none of its "
            f"environments holds ({'; '.join(map(str, environments))})",
            hint="re-lock for linux and this Python version and architecture",
        )
    _requires_python(doc.get("requires-python"), target, where)
    _check_selection("extras", sel.extras, doc.get("extras", []), where=where,
                     hint="choose --extra among those the lock lists")  # fmt: skip
    _check_selection("dependency groups", sel.groups, doc.get("dependency-groups", []),
                     where=where, hint="choose --group among those the lock lists")  # fmt: skip
    groups = tuple(doc.get("default-groups", [])) + sel.groups
    tag_set = target.wheel_tags
    pins: dict[str, Pin] = {}
    for package in _tables(doc.get("packages"), f"{where} [[packages]]"):
        name = str(package.get("name", ""))
        marker = str(package.get("marker", ""))
        if not _marker_true(marker, target, where=where, extras=sel.extras, groups=groups):
            continue
        if "version" not in package or any(k in package for k in ("vcs", "directory", "archive")):
            raise LockFileError(
                f"{where}: {name} is locked from a "
                f"{next((k for k in ('vcs', 'directory', 'archive') if k in package), 'source')}"
                ", not an index wheel",
                hint="layerkit installs a lock's index wheels only; publish the package to an "
                "index or add it as a local package (--package PATH) without the lock",
            )
        _requires_python(package.get("requires-python"), target, f"{where}: {name}")
        wheels = [
            LockedWheel(
                str(w.get("name") or PurePosixPath(str(w.get("url") or w.get("path", ""))).name),
                _hash_list(w.get("hashes")),
            )
            for w in _tables(package.get("wheels"), f"{where}: {name} wheels")
        ]
        pin = _pin_from_wheels(
            name=name, version=str(package["version"]), wheels=wheels,
            has_sdist="sdist" in package, target=target, tag_set=tag_set, where=where,
            marker=marker, source=str(package.get("index", "")),
        )  # fmt: skip
        if pin.name in pins:
            raise LockFileError(
                f"{where}: two entries of {name} hold on {target.runtime} {target.arch} "
                f"({pins[pin.name].version} and {pin.version})",
                hint="PEP 751 allows one entry per package for an environment: re-lock",
            )
        pins[pin.name] = pin
    return list(pins.values())


def _requires_python(spec: object, target: Target, where: str) -> None:
    if not spec:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        allowed = SpecifierSet(str(spec))
    except InvalidSpecifier as exc:
        raise LockFileError(f"{where}: invalid requires-python {spec!r}") from exc
    if not allowed.contains(f"{target.python}.0", prereleases=True):
        raise CompatibilityError(
            f"{where} requires Python {spec}, not {target.python} ({target.runtime})",
            hint="build for a runtime the lock supports, or re-lock",
        )


# --- uv.lock -----------------------------------------------------------------------------------


def _project_at_root(source: Mapping[str, Any]) -> bool:
    """The project itself (its code is the function's, not the layer's)."""
    return "." in (source.get("editable"), source.get("virtual"))


_LOCAL_SOURCES = ("editable", "virtual", "directory", "path", "git", "url")


def _uv_pins(doc: Mapping[str, Any], target: Target, sel: LockSelection, where: str) -> list[Pin]:
    _requires_python(doc.get("requires-python"), target, where)
    packages = _tables(doc.get("package"), f"{where} [[package]]")
    roots = [p for p in packages if _project_at_root(_table(p.get("source", {}), where))]
    if not roots:
        raise LockFileError(
            f"{where} has no project at '.' (a package with source editable or virtual '.')",
            hint="give the uv.lock of the project being deployed",
        )
    root = roots[0]
    optional = _table(root.get("optional-dependencies", {}), where)
    dev = _table(root.get("dev-dependencies", {}), where)
    _check_selection("extras", sel.extras, optional, where=where,
                     hint="choose --extra among [project.optional-dependencies]")  # fmt: skip
    _check_selection("dependency groups", sel.groups, dev, where=where,
                     hint="choose --group among [dependency-groups]")  # fmt: skip
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(canonical(str(package.get("name", ""))), []).append(package)
    edges = list(_tables(root.get("dependencies"), where))
    for extra in sel.extras:
        edges += _tables(optional[extra], where)
    for group in sel.groups:
        edges += _tables(dev[group], where)
    tag_set = target.wheel_tags
    chosen: dict[str, tuple[dict[str, Any], str]] = {}  # name -> (package, marker)
    done: set[tuple[str, str]] = set()  # (name, extra) visited
    queue: list[tuple[dict[str, Any], str]] = [(edge, "") for edge in edges]
    while queue:
        edge, _parent = queue.pop()
        marker = str(edge.get("marker", ""))
        if not _marker_true(marker, target, where=where):
            continue
        name = canonical(str(edge.get("name", "")))
        candidates = [p for p in by_name.get(name, []) if "version" not in edge
                      or str(p.get("version")) == str(edge["version"])]  # fmt: skip
        if len(candidates) != 1:
            raise LockFileError(f"{where}: cannot tell which entry of {name} a dependency means")
        package = candidates[0]
        chosen.setdefault(name, (package, marker))
        extras = edge.get("extra", [])
        for extra in ("", *(extras if isinstance(extras, list) else [])):
            if (name, extra) in done:
                continue
            done.add((name, extra))
            deps = (
                package.get("dependencies")
                if extra == ""
                else _table(package.get("optional-dependencies", {}), where).get(extra)
            )
            queue += [(dep, name) for dep in _tables(deps, f"{where}: {name}")]
    pins: list[Pin] = []
    for name, (package, marker) in sorted(chosen.items()):
        source = _table(package.get("source", {}), where)
        local = next((k for k in _LOCAL_SOURCES if k in source), None)
        if local is not None:
            raise LockFileError(
                f"{where}: {name} is locked from a {local} source ({source[local]}), "
                "not an index wheel",
                hint="layerkit installs a lock's index wheels only; publish such a package to an "
                "index, or build without the lock and list it as a local package (--package)",
            )
        wheels = [
            LockedWheel(PurePosixPath(str(w.get("url") or w.get("path", ""))).name,
                        _one_hash(w.get("hash")))
            for w in _tables(package.get("wheels"), f"{where}: {name} wheels")
        ]  # fmt: skip
        pins.append(_pin_from_wheels(
            name=name, version=str(package.get("version", "")), wheels=wheels,
            has_sdist="sdist" in package, target=target, tag_set=tag_set, where=where,
            marker=marker, source=str(source.get("registry", "")),
        ))  # fmt: skip
    return pins


# --- poetry.lock -------------------------------------------------------------------------------


def _poetry_marker(package: Mapping[str, Any], group: str) -> str:
    markers = package.get("markers", "")
    if isinstance(markers, dict):
        return str(markers.get(group, ""))
    return str(markers)


def _poetry_pins(
    doc: Mapping[str, Any], target: Target, sel: LockSelection, where: str
) -> list[Pin]:
    packages = _tables(doc.get("package"), f"{where} [[package]]")
    lock_version = str(_table(doc.get("metadata", {}), where).get("lock-version", ""))
    if packages and all("groups" not in p and "category" not in p for p in packages):
        raise LockFileError(
            f"{where} (lock-version {lock_version}) does not record which group needs each package",
            hint="re-lock with Poetry 2 (`poetry lock` writes lock-version 2.1)",
        )
    extras_table = {k: [canonical(n) for n in v]
                    for k, v in _table(doc.get("extras", {}), where).items()}  # fmt: skip
    known_groups = {g for p in packages for g in p.get("groups", [p.get("category", "main")])}
    _check_selection("extras", sel.extras, extras_table, where=where,
                     hint="choose --extra among the lock's [extras]")  # fmt: skip
    _check_selection("groups", sel.groups, known_groups, where=where,
                     hint="choose --group among the groups the lock names")  # fmt: skip
    wanted_groups = ("main", *sel.groups)
    extra_names = {n for extra in sel.extras for n in extras_table[extra]}
    tag_set = target.wheel_tags
    chosen: dict[str, Pin] = {}
    skipped: dict[str, str] = {}  # name -> the marker that left it out
    for package in packages:
        name = canonical(str(package.get("name", "")))
        groups = package.get("groups", [package.get("category", "main")])
        markers = [_poetry_marker(package, g) for g in groups if g in wanted_groups]
        if not markers:
            continue
        if package.get("optional") and name not in extra_names:
            continue
        holding = [m for m in markers if _marker_true(m, target, where=where, extras=sel.extras)]
        if not holding:
            skipped[name] = " or ".join(markers)
            continue
        source = _table(package.get("source", {}), where)
        if source and source.get("type") not in ("legacy", None):
            raise LockFileError(
                f"{where}: {name} is locked from a {source.get('type')} source "
                f"({source.get('url', '')}), not an index wheel",
                hint="layerkit installs a lock's index wheels only",
            )
        wheels = [
            LockedWheel(str(f.get("file", "")), _one_hash(f.get("hash")))
            for f in _tables(package.get("files"), f"{where}: {name} files")
            if str(f.get("file", "")).endswith(".whl")
        ]
        has_sdist = any(not str(f.get("file", "")).endswith(".whl")
                        for f in _tables(package.get("files"), where))  # fmt: skip
        chosen[name] = _pin_from_wheels(
            name=name, version=str(package.get("version", "")), wheels=wheels,
            has_sdist=has_sdist, target=target, tag_set=tag_set, where=where,
            marker=holding[0], source=str(source.get("url", "")),
        )  # fmt: skip
    _poetry_requirements_met(
        packages, chosen=chosen, skipped=skipped, target=target, sel=sel, where=where
    )
    return sorted(chosen.values(), key=lambda p: p.name)


def _poetry_requirements_met(
    packages: Sequence[Mapping[str, Any]],
    *,
    chosen: Mapping[str, Pin],
    skipped: Mapping[str, str],
    target: Target,
    sel: LockSelection,
    where: str,
) -> None:
    """Every dependency a chosen package needs on `target` is chosen too (else no pin)."""
    for package in packages:
        name = canonical(str(package.get("name", "")))
        if name not in chosen or chosen[name].version != str(package.get("version", "")):
            continue
        for dependency, spec in _table(package.get("dependencies", {}), where).items():
            specs = spec if isinstance(spec, list) else [spec]
            for one in specs:
                marker = str(one.get("markers", "")) if isinstance(one, dict) else ""
                optional = isinstance(one, dict) and one.get("optional", False)
                needed = not optional and _marker_true(marker, target, where=where,
                                                       extras=sel.extras)  # fmt: skip
                if needed and canonical(dependency) not in chosen:
                    why = (
                        f"its lock entry holds only where {skipped[canonical(dependency)]}"
                        if canonical(dependency) in skipped
                        else "the lock has no entry of it in the selected groups"
                    )
                    raise CompatibilityError(
                        f"{where}: no pin of {dependency} for {target.runtime} {target.arch}, "
                        f"which {name} requires ({why})",
                        hint="re-lock (`poetry lock`) so the lock covers linux on this Python "
                        "and architecture",
                    )


# --- Pipfile.lock ------------------------------------------------------------------------------


def _pipfile_pins(
    doc: Mapping[str, Any], target: Target, sel: LockSelection, where: str
) -> list[Pin]:
    if sel.extras:
        raise LockFileError(
            f"{where} records no extras (Pipfile.lock lists resolved packages only)",
            hint="drop --extra; select a category with --group (e.g. develop)",
        )
    categories = [k for k in doc if not k.startswith("_")]
    _check_selection("categories", sel.groups, categories, where=where,
                     hint="choose --group among the lock's categories")  # fmt: skip
    meta = _table(doc.get("_meta", {}), where)
    sources = {
        str(s.get("name")): str(s.get("url", "")) for s in _tables(meta.get("sources"), where)
    }
    chosen: dict[str, Pin] = {}
    for category in ("default", *sel.groups):
        for raw_name, entry in _table(doc.get(category, {}), f"{where} {category}").items():
            entry = _table(entry, f"{where}: {raw_name}")
            name = canonical(raw_name)
            marker = str(entry.get("markers", ""))
            if not _marker_true(marker, target, where=where):
                continue
            version = str(entry.get("version", ""))
            if not version.startswith("=="):
                raise LockFileError(
                    f"{where}: {raw_name} is not pinned to a version from an index "
                    f"({', '.join(sorted(k for k in entry if k in ('git', 'path', 'file', 'editable'))) or 'no version'})",  # noqa: E501
                    hint="layerkit installs a lock's index packages only",
                )
            hashes = tuple(h for value in entry.get("hashes", []) for h in _one_hash(value))
            pin = Pin(name, version[2:], hashes, marker, sources.get(str(entry.get("index")), ""))
            if name in chosen and chosen[name].version != pin.version:
                raise LockFileError(
                    f"{where}: {raw_name} is pinned to {chosen[name].version} and {pin.version} "
                    "in the categories selected"
                )
            chosen[name] = pin
    return sorted(chosen.values(), key=lambda p: p.name)


_READERS = {
    "pylock.toml": _pylock_pins,
    "uv.lock": _uv_pins,
    "poetry.lock": _poetry_pins,
    "Pipfile.lock": _pipfile_pins,
}


def parse_lock(text: str, fmt: LockFormat, *, where: str) -> dict[str, Any]:
    """The document of a lock file (TOML, or JSON for Pipfile.lock)."""
    try:
        document = json.loads(text) if fmt == "Pipfile.lock" else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise LockFileError(f"{where} cannot be read as {fmt}: {exc}") from exc
    if not isinstance(document, dict):
        raise LockFileError(f"{where} is not a {fmt} document")
    return document


def target_pins(selection: LockSelection, target: Target) -> tuple[Pin, ...]:
    """The exact pins the selected lock installs on `target`, sorted by name."""
    where = selection.path.name
    document = parse_lock(selection.text, selection.format, where=where)
    try:
        pins = _READERS[selection.format](document, target, selection, where)
    except (KeyError, TypeError, AttributeError) as exc:  # a key of the wrong shape
        raise LockFileError(f"{where} is a damaged {selection.format}: {exc!r}") from exc
    if not pins:
        raise CompatibilityError(
            f"{where} installs nothing on {target.runtime} {target.arch}: every entry's marker "
            "excludes it",
            hint="re-lock for linux on this Python and architecture, or check --group/--extra",
        )
    return tuple(sorted(pins, key=lambda p: p.name))


def requirements_text(pins: Iterable[Pin]) -> str:
    """A requirements file installing exactly `pins` (hash-checked where the lock has hashes)."""
    return "".join(f"{pin.requirement()}\n" for pin in pins)


def lock_resolution(pins: Iterable[Pin]) -> Resolution:
    """The `Resolution` a lock gives without asking an index: its pins (the cache key's) and its
    wheels with their sha256 (the manifest's wheel hashes)."""
    from packaging.utils import canonicalize_name, canonicalize_version, parse_wheel_filename

    from layerkit.provenance import LockedWheel as ProvenanceWheel
    from layerkit.provenance import Resolution

    table: dict[Any, tuple[ProvenanceWheel, ...]] = {}
    lines: list[str] = []
    for pin in pins:
        lines.append(f"{pin.name}=={pin.version}\n")
        wheels = []
        for wheel in pin.wheels:
            sha256 = next((h[7:] for h in wheel.hashes if h.startswith("sha256:")), "")
            tags = frozenset(str(t) for t in parse_wheel_filename(wheel.filename)[3])
            if sha256:
                wheels.append(ProvenanceWheel(tags, sha256))
        table[(canonicalize_name(pin.name), canonicalize_version(pin.version))] = tuple(wheels)
    return Resolution("".join(lines), table)
