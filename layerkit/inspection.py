"""`layerkit inspect`: what is in any layer — a zip (ours or another tool's) or a directory.

Reports the size breakdown against the budget, every compatibility and layout problem, and what
slimming would save, without changing anything. Read only: zips are never extracted; they are
read through `safezip`, which refuses a zip that extractors could read differently and measures
every entry's size instead of believing it.

Every file of the layer counts against the budget, also those outside the packages directory
(listed as ``/opt/<name>``, where Lambda extracts them). A manifest beside the zip travels with it,
so its budget can only lower the judging budget, never raise it above Lambda's limit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layerkit.budget import SizeReport, size_report
from layerkit.config import SlimSettings
from layerkit.contents import (
    FileEntry,
    InstalledDistribution,
    Opener,
    distributions_read_with,
    owners,
    read_distributions,
    scan_tree,
    tree_opener,
)
from layerkit.elf import BinaryHeaders, is_shared_object, read_shared_object
from layerkit.errors import InputFileError
from layerkit.limits import LAMBDA_UNZIPPED_LIMIT
from layerkit.manifest import manifest_path_for, read_manifest
from layerkit.runtimehints import notes_for
from layerkit.safezip import CheckedZip, open_layer_zip
from layerkit.slim.plan import SlimPlan, plan
from layerkit.targets import ARCH_INFO, Target, make_target
from layerkit.verify import (
    LayoutEntry,
    Violation,
    check_layout,
    check_shared_objects,
    layout_entries_from_tree,
    layout_entries_from_zip,
    unsafe_name_reason,
    zip_file_entries,
    zip_opener,
)

TargetOrigin = Literal["given", "manifest", "inferred"]
_VERSIONED = re.compile(r"^python/lib/python(3\.\d+)/site-packages/")
_EXTENSION_VERSION = re.compile(r"\.cpython-3(\d+)[a-z]*-")
_ARCH_OF_ELF = {info.elf_machine: arch for arch, info in ARCH_INFO.items()}


@dataclass(frozen=True)
class InspectResult:
    """Everything `inspect` found; rendered as text, JSON or HTML by the CLI."""

    source: Path
    kind: Literal["zip", "directory"]
    target: Target
    target_origin: TargetOrigin
    packages_dir: str  # where the packages are, relative to the layer root
    size: SizeReport
    zipped_bytes: int | None
    violations: tuple[Violation, ...]
    slim: SlimPlan
    distributions: tuple[InstalledDistribution, ...]
    entries: tuple[FileEntry, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Layer:
    """A layer opened for reading, whatever its container."""

    entries: tuple[FileEntry, ...]
    opener: Opener
    layout: tuple[LayoutEntry, ...] | None  # None: a bare site-packages dir has no layer layout
    packages_dir: str
    distributions: tuple[InstalledDistribution, ...]
    outside: tuple[FileEntry, ...] = ()  # files outside packages_dir, as /opt/<name>
    measured: bool = True  # False: inflating stopped at the cap, contents were not read
    root_opener: Opener | None = None  # reads `outside` files by their path in the layer


def _versions_in(names: Sequence[str]) -> list[str]:
    return sorted({m.group(1) for n in names if (m := _VERSIONED.match(n))})


def _packages_dir(names: Sequence[str], python: str | None) -> str:
    """python/lib/pythonX.Y/site-packages when present (for `python`), else python/ (the AWS
    documented `pip install --target python` layout)."""
    versions = _versions_in(names)
    if python in versions or (python is None and versions):
        chosen = python or versions[0]
        return f"python/lib/python{chosen}/site-packages"
    return "python"


def _zip_distributions(
    archive: CheckedZip, prefix: str, entries: Sequence[FileEntry]
) -> tuple[InstalledDistribution, ...]:
    base = f"{prefix}/"
    return distributions_read_with(lambda m, limit: archive.read_head(base + m, limit), entries)


def _split(
    every_file: Sequence[FileEntry], prefix: str
) -> tuple[tuple[FileEntry, ...], tuple[FileEntry, ...]]:
    """(files under `prefix` relative to it, the others as ``/opt/<name>``)."""
    base = f"{prefix}/"
    inside = tuple(
        FileEntry(e.path[len(base) :], e.size, e.executable)
        for e in every_file
        if e.path.startswith(base)
    )
    outside = tuple(
        FileEntry(f"/opt/{e.path}", e.size, e.executable)
        for e in every_file
        if not e.path.startswith(base)
    )
    return inside, outside


def _open_zip(path: Path, python: str | None, *, measure_cap: int) -> tuple[_Layer, CheckedZip]:
    archive = open_layer_zip(path)
    try:
        measured = archive.measure(measure_cap)
        layout = layout_entries_from_zip(archive)
        prefix = _packages_dir([m.name for m in archive.members], python)
        entries, outside = _split(zip_file_entries(archive), prefix)
        distributions = _zip_distributions(archive, prefix, entries) if measured else ()
        opener = zip_opener(archive, prefix)
        layer = _Layer(
            entries, opener, layout, prefix, distributions, outside, measured, zip_opener(archive)
        )
    except BaseException:
        archive.close()
        raise
    return layer, archive


def zip_size_report(zip_path: Path, target: Target, *, budget_bytes: int) -> SizeReport:
    """The size report of a layer zip: every entry measured, dist-info files read (bounded)."""
    with open_layer_zip(zip_path) as archive:
        measured = archive.measure(max(budget_bytes, LAMBDA_UNZIPPED_LIMIT))
        entries, outside = _split(zip_file_entries(archive), target.site_packages)
        distributions = (
            _zip_distributions(archive, target.site_packages, entries) if measured else ()
        )
    return size_report(entries + outside, distributions, budget_bytes=budget_bytes)


def _open_directory(path: Path, python: str | None) -> _Layer:
    if (path / "python").is_dir():
        layout = layout_entries_from_tree(path)
        prefix = _packages_dir([e.name for e in layout], python)
        root = path / prefix
        entries, outside = _split(scan_tree(path), prefix)
        distributions = read_distributions(root, entries)
        return _Layer(
            entries, tree_opener(root), layout, prefix, distributions, outside,
            root_opener=tree_opener(path),
        )  # fmt: skip
    entries = scan_tree(path)  # a bare site-packages directory
    return _Layer(entries, tree_opener(path), None, ".", read_distributions(path, entries))


def _outside_binaries(layer: _Layer, target: Target) -> tuple[Violation, ...]:
    """The binaries beside site-packages judged like those in it: ``python/`` is on Lambda's
    sys.path, ``lib/`` on LD_LIBRARY_PATH, ``bin/`` on PATH, so each may be loaded or run.
    Their paths are reported as they are in the layer (``lib/libfoo.so.1``)."""
    if layer.root_opener is None or not layer.outside:
        return ()
    paths = [e.path.removeprefix("/opt/") for e in layer.outside]
    return check_shared_objects(
        [p for p in paths if unsafe_name_reason(p) is None],  # the layout check reports the rest
        layer.root_opener,
        target,
        owners={},
        layer_prefix="",
        layer_names=[e.name for e in layer.layout or ()],
    )


def _guess_target(
    source: Path, layer: _Layer, python: str | None, arch: str | None
) -> tuple[Target, TargetOrigin, list[str]]:
    """The target to judge against: flags, else the manifest, else what the layer shows."""
    notes: list[str] = []
    if python and arch:
        return make_target(python, arch), "given", notes
    if source.is_file() and manifest_path_for(source).is_file():
        manifest = read_manifest(source)
        return make_target(python or manifest.python, arch or manifest.arch), "manifest", notes
    version = python or _version_from_layer(layer)
    if version is None:
        raise InputFileError(
            f"cannot tell which Python version {source} is for",
            hint="pass --python 3.X (and --arch) to inspect it against a runtime",
        )
    guessed_arch = arch or _arch_from_binaries(layer)
    if guessed_arch is None:
        guessed_arch = "x86_64"
        notes.append("no shared objects tell the architecture: judged against x86_64")
    return make_target(version, guessed_arch), "inferred", notes


def _version_from_layer(layer: _Layer) -> str | None:
    match = re.match(r"python/lib/python(3\.\d+)/", layer.packages_dir + "/")
    if match:
        return match.group(1)
    found = Counter(m.group(1) for e in layer.entries if (m := _EXTENSION_VERSION.search(e.path)))
    return f"3.{found.most_common(1)[0][0]}" if found else None


def _arch_from_binaries(layer: _Layer) -> str | None:
    machines: Counter[str] = Counter()
    for entry in layer.entries:
        if is_shared_object(entry.path):
            with layer.opener(entry.path) as stream:
                machine = read_shared_object(stream).machine
            if machine in _ARCH_OF_ELF:
                machines[_ARCH_OF_ELF[machine]] += 1
    return machines.most_common(1)[0][0] if machines else None


def _recorded_budget(source: Path) -> int:
    """The manifest's budget, but never above Lambda's limit: the manifest travels with the zip,
    so whoever hands over the zip could have written it."""
    if source.is_file() and manifest_path_for(source).is_file():
        return min(read_manifest(source).budget_bytes, LAMBDA_UNZIPPED_LIMIT)
    return LAMBDA_UNZIPPED_LIMIT


def inspect_layer(
    source: Path,
    *,
    python: str | None = None,
    arch: str | None = None,
    budget_bytes: int | None = None,
) -> InspectResult:
    """Inspect a layer zip or directory against a target (given, recorded, or inferred).

    The budget defaults to the one recorded in the zip's manifest, else Lambda's limit.
    """
    if not source.exists():
        raise InputFileError(f"{source} does not exist", hint="give a layer zip or a directory")
    if budget_bytes is None:
        budget_bytes = _recorded_budget(source)
    archive: CheckedZip | None = None
    try:
        if source.is_dir():
            layer = _open_directory(source, python)
            kind: Literal["zip", "directory"] = "directory"
        else:
            cap = max(budget_bytes, LAMBDA_UNZIPPED_LIMIT)
            layer, archive = _open_zip(source, python, measure_cap=cap)
            kind = "zip"
        if layer.measured:
            target, origin, notes = _guess_target(source, layer, python, arch)
            # one read of each binary's headers serves verification and the slimming plan
            headers = BinaryHeaders(layer.opener, glibc_limit=target.glibc)
            violations = check_shared_objects(
                [e.path for e in layer.entries],
                layer.opener,
                target,
                owners=owners(layer.distributions),
                layer_prefix=layer.packages_dir if layer.layout is not None else None,
                layer_names=[e.name for e in layer.layout or ()],
                headers=headers,
            )
            violations += _outside_binaries(layer, target)
            slim_plan = plan(
                layer.entries, layer.opener, target, SlimSettings(strip=True), layer.distributions,
                headers=headers,
            )  # fmt: skip
        else:
            target, origin, notes = _guess_target(source, layer, python, arch or "x86_64")
            violations = ()
            slim_plan = plan((), layer.opener, target, SlimSettings(), ())
            notes.append(
                f"the zip inflates to more than {cap:,} bytes: measuring stopped there and no "
                "file's contents were checked"
            )
        if layer.layout is not None:
            violations += check_layout(layer.layout, target)
        else:
            notes.append("a bare site-packages directory: the layer layout was not checked")
    finally:
        if archive is not None:
            archive.close()
    return InspectResult(
        source=source,
        kind=kind,
        target=target,
        target_origin=origin,
        packages_dir=layer.packages_dir,
        size=size_report(
            layer.entries + layer.outside, layer.distributions, budget_bytes=budget_bytes
        ),
        zipped_bytes=source.stat().st_size if kind == "zip" else None,
        violations=violations,
        slim=slim_plan,
        distributions=layer.distributions,
        entries=layer.entries,
        # packages that write to /opt or HOME at run time: the variable that moves the writes
        notes=(*notes, *notes_for(d.name for d in layer.distributions)),
    )
