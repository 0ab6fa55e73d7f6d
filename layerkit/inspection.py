"""`layerkit inspect`: what is in any layer — a zip (ours or another tool's) or a directory.

Reports the size breakdown against the budget, every compatibility and layout problem, and what
slimming would save, without changing anything. Pure reading: zips are never extracted.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layerkit.budget import SizeReport, size_report
from layerkit.config import LAMBDA_UNZIPPED_LIMIT, SlimSettings
from layerkit.contents import (
    FileEntry,
    InstalledDistribution,
    distributions_read_with,
    owners,
    read_distributions,
    scan_tree,
)
from layerkit.errors import InputFileError
from layerkit.manifest import manifest_path_for, read_manifest
from layerkit.slim import SlimPlan, plan
from layerkit.targets import ARCH_INFO, Target, make_target
from layerkit.verify import (
    LayoutEntry,
    Opener,
    Violation,
    check_layout,
    check_shared_objects,
    is_shared_object,
    layout_entries_from_tree,
    layout_entries_from_zip,
    read_shared_object,
    tree_opener,
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


def _distributions_via(
    opener: Opener, entries: Sequence[FileEntry]
) -> tuple[InstalledDistribution, ...]:
    def read(member: str) -> bytes:
        with opener(member) as stream:
            return stream.read()

    return distributions_read_with(read, entries)


def _open_zip(path: Path, python: str | None) -> tuple[_Layer, zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputFileError(
            f"{path} is not a zip file, or it is truncated ({exc})",
            hint="give a layer zip (or a directory); re-download or rebuild a damaged zip",
        ) from exc
    layout = layout_entries_from_zip(archive)
    prefix = _packages_dir([e.name for e in layout], python)
    entries = zip_file_entries(archive, prefix)
    opener = zip_opener(archive, prefix)
    layer = _Layer(entries, opener, layout, prefix, _distributions_via(opener, entries))
    return layer, archive


def zip_size_report(zip_path: Path, target: Target, *, budget_bytes: int) -> SizeReport:
    """The size report of a layer zip, from its central directory and dist-info files only."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = zip_file_entries(archive, target.site_packages)
        distributions = _distributions_via(zip_opener(archive, target.site_packages), entries)
    return size_report(entries, distributions, budget_bytes=budget_bytes)


def _open_directory(path: Path, python: str | None) -> _Layer:
    if (path / "python").is_dir():
        layout = layout_entries_from_tree(path)
        prefix = _packages_dir([e.name for e in layout], python)
        root = path / prefix
        entries = scan_tree(root)
        return _Layer(entries, tree_opener(root), layout, prefix, read_distributions(root, entries))
    entries = scan_tree(path)  # a bare site-packages directory
    return _Layer(entries, tree_opener(path), None, ".", read_distributions(path, entries))


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
    if source.is_file() and manifest_path_for(source).is_file():
        return read_manifest(source).budget_bytes
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
    archive: zipfile.ZipFile | None = None
    try:
        if source.is_dir():
            layer = _open_directory(source, python)
            kind: Literal["zip", "directory"] = "directory"
        else:
            layer, archive = _open_zip(source, python)
            kind = "zip"
        target, origin, notes = _guess_target(source, layer, python, arch)
        if budget_bytes is None:
            budget_bytes = _recorded_budget(source)
        violations = check_shared_objects(
            [e.path for e in layer.entries],
            layer.opener,
            target,
            owners=owners(layer.distributions),
            layer_prefix=layer.packages_dir if layer.layout is not None else None,
            layer_names=[e.name for e in layer.layout or ()],
        )
        if layer.layout is not None:
            violations += check_layout(layer.layout, target)
        else:
            notes.append("a bare site-packages directory: the layer layout was not checked")
        slim_plan = plan(
            layer.entries, layer.opener, target, SlimSettings(strip=True), layer.distributions
        )
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputFileError(
            f"{source} is damaged: {exc}", hint="re-download or rebuild the zip"
        ) from exc
    finally:
        if archive is not None:
            archive.close()
    return InspectResult(
        source=source,
        kind=kind,
        target=target,
        target_origin=origin,
        packages_dir=layer.packages_dir,
        size=size_report(layer.entries, layer.distributions, budget_bytes=budget_bytes),
        zipped_bytes=source.stat().st_size if kind == "zip" else None,
        violations=violations,
        slim=slim_plan,
        distributions=layer.distributions,
        entries=layer.entries,
        notes=tuple(notes),
    )
