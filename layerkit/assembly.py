"""A build from scratch: install, slim, verify, measure and zip one target.

`workflow.build_target` imports this module only when the build cache cannot serve the target, so
what it loads (slimming, the ELF checks, the bytecode store, the deflate codecs) is paid for only
by a build from scratch and a no-op rebuild costs start-up plus a cache lookup
(tests/test_startup.py). Its data types come from `build_model`, never from `workflow`: the lazy
import goes one way.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name, canonicalize_version

from layerkit import __version__
from layerkit.archive import (
    ArchiveMember,
    ZipResult,
    copied_members,
    layer_members,
    with_directories,
    write_zip,
    zip_timestamp,
)
from layerkit.budget import SizeReport, check_budget, size_report
from layerkit.build_model import BuildContext, TargetBuild, slim_summary, zip_name
from layerkit.bytecode import BytecodeStore, CompileReport
from layerkit.config import BuildSettings
from layerkit.contents import (
    METADATA_READ_LIMIT,
    RECORD_READ_LIMIT,
    FileEntry,
    InstalledDistribution,
    files_shipped_differently,
    owners,
    read_distributions,
    read_head,
    scan_tree,
    sha256_of,
    tree_opener,
)
from layerkit.errors import LayerkitError
from layerkit.installer import (
    CommandResult,
    InstallerBackend,
    InstallRequest,
    PipBackend,
    UvBackend,
    backend_for_target,
    install,
    install_resolved,
    uv_can_install,
)
from layerkit.interpreter import Discovery
from layerkit.layerparts import (
    Change,
    LayerParts,
    NotByParts,
    join,
    joins_cleanly,
    kept_tests_dirs,
    record_parts,
    top_of,
)
from layerkit.manifest import (
    DistributionInfo,
    Manifest,
    code_sha256,
    manifest_path_for,
)
from layerkit.members import MemberStore
from layerkit.pins import canonical_name, dist_info_pins, format_pins, normalize_pins
from layerkit.provenance import LockTable, Resolution, installed_wheel_sha256, wheel_tags
from layerkit.report import human_bytes, plural
from layerkit.safewrite import (
    commit,
    filesystem_error,
    temporary_beside,
    write_companion,
)
from layerkit.slim.apply import SlimReport
from layerkit.slim.compile import BytecodeRequest
from layerkit.slim.plan import needed_tests_dirs
from layerkit.slim.tree import SlimmedTree, slim_tree
from layerkit.targets import Target
from layerkit.verify import (
    LayoutEntry,
    Violation,
    check_layout,
    check_shared_objects,
    raise_for,
    read_binaries,
)

if TYPE_CHECKING:
    from layerkit.cache import CacheEntry


def _drop_installer_artifacts(
    site_packages: Path, *, pinned: Mapping[str, tuple[str, ...]] | None = None
) -> None:
    """Remove what installers leave in a --target directory that is no part of any package and
    that depends on the machine rather than the inputs: console scripts in bin/ (their shebangs
    name the installer's Python), uv's .lock file, uv's ``uv_cache.json`` (a timestamp) and a
    ``direct_url.json`` naming a local file (a local package's wheel in a temporary directory).
    `pinned`: canonical name -> the dist-info files an install of pinned files
    (`installer.install_resolved`) wrote that a resolving install would not have: it names
    every distribution by URL, where pip marks only those the request named (``REQUESTED``)
    and records a URL only for those given by URL (``direct_url.json``).

    RECORD loses the lines of what was removed and of files outside site-packages: their hashes
    would make the zip's bytes differ between two machines (or virtual environments) building
    the same inputs.
    """
    scripts = site_packages / "bin"
    dropped_scripts = scripts.is_dir() and not (scripts / "__init__.py").exists()
    if dropped_scripts:
        shutil.rmtree(scripts)
    (site_packages / ".lock").unlink(missing_ok=True)
    for dist_info in site_packages.glob("*.dist-info"):
        host_files = _host_files(dist_info)
        for name in (pinned or {}).get(_dist_name(dist_info.name), ()):
            if name not in host_files and (dist_info / name).is_file():
                host_files.append(name)
        removed = {f"{dist_info.name}/{name}" for name in host_files}
        for relative in removed:
            (site_packages / relative).unlink()
        record = dist_info / "RECORD"
        if not record.is_file():
            continue
        text = record.read_text(encoding="utf-8", errors="surrogateescape")
        kept = records_kept(text, removed=removed, dropped_scripts=dropped_scripts)
        if kept != text:
            # A new file, never a write through a link into the installer's cache.
            partial = record.with_name("RECORD.layerkit-partial")
            partial.write_text(kept, encoding="utf-8", errors="surrogateescape")
            partial.replace(record)


def shared_file_warnings(site_packages: Path, present: Set[str], *, shown: int = 5) -> list[str]:
    """A warning per file of the layer (`present`: after slimming; the first `shown`, then a
    count) that two distributions installed in `site_packages` both ship with different
    contents: the layer holds whichever the installer wrote last, which for uv may differ from
    one build to the next."""
    records = {
        dist_info.name: read_head(dist_info / "RECORD", RECORD_READ_LIMIT).decode(
            "utf-8", errors="replace"
        )
        for dist_info in sorted(site_packages.glob("*.dist-info"))
        if (dist_info / "RECORD").is_file()
    }
    shared = {p: o for p, o in files_shipped_differently(records).items() if p in present}
    warnings = [
        f"{path} is shipped by {' and '.join(d.removesuffix('.dist-info') for d in owners_of)} "
        "with different contents: the layer holds whichever was installed last, so its bytes "
        "may change between builds; exclude the file (--exclude-glob) or drop one distribution"
        for path, owners_of in list(shared.items())[:shown]
    ]
    if len(shared) > shown:
        warnings.append(f"{len(shared) - shown} more files are shipped by two distributions")
    return warnings


def _dist_name(dist_info: str) -> str:
    """``Foo_Bar-1.0.dist-info`` -> ``foo-bar``."""
    pins = dist_info_pins([dist_info])
    return canonical_name(pins[0][0]) if pins else ""


def _host_files(dist_info: Path) -> list[str]:
    """The files of `dist_info` that describe the build machine, not the distribution."""
    found = ["uv_cache.json"] if (dist_info / "uv_cache.json").is_file() else []
    direct_url = dist_info / "direct_url.json"
    if direct_url.is_file():
        try:
            url = json.loads(direct_url.read_text(encoding="utf-8")).get("url", "")
        except (ValueError, AttributeError, OSError):
            url = ""
        if isinstance(url, str) and url.startswith("file:"):
            found.append("direct_url.json")
    return found


def records_kept(text: str, *, removed: Set[str], dropped_scripts: bool) -> str:
    """RECORD `text` without the lines of `removed` files and of files outside the layer:
    paths that leave site-packages (``../../bin/tool``) and, when bin/ was dropped, bin/."""
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        fields = next(csv.reader([line]), [])
        path = fields[0].replace("\\", "/") if fields else ""
        leaves = path.startswith(("../", "/")) or "/../" in path
        if leaves or path in removed or (dropped_scripts and path.startswith("bin/")):
            continue
        kept.append(line)
    return "".join(kept)


def _manifest(
    settings: BuildSettings,
    target: Target,
    *,
    ctx: BuildContext,
    installed: Installed,
    archive: ZipResult,
    entries: tuple[FileEntry, ...],
    distributions: tuple[InstalledDistribution, ...],
    report: SizeReport,
    inputs_digest: str,
    wheel_hashes: Mapping[str, str],
    compiled: CompileReport | None,
    built_from_sdist: tuple[str, ...],
) -> Manifest:
    by_name = {d.name: d for d in report.distributions}
    return Manifest(
        layerkit_version=__version__,
        name=settings.name,
        python=target.python,
        arch=target.arch,
        runtime=target.runtime,
        abi=target.cpython_abi,
        glibc=f"{target.glibc[0]}.{target.glibc[1]}",
        installer=installed.installer.name,
        installer_version=installed.installer.version(),
        zip=archive.path.name,
        sha256=archive.sha256,
        code_sha256=code_sha256(archive.sha256),
        file_count=len(entries),
        unzipped_bytes=report.total_bytes,
        zipped_bytes=archive.zipped_bytes,
        budget_bytes=report.budget_bytes,
        distributions=tuple(
            DistributionInfo(
                d.name,
                d.version,
                by_name[d.name].files,
                by_name[d.name].bytes,
                wheel_sha256=wheel_hashes.get(d.dist_info, ""),
            )
            for d in distributions
        ),
        inputs_digest=inputs_digest,
        bytecode_interpreter=(compiled.version or "") if compiled and compiled.files else "",
        bytecode_files=compiled.files if compiled else 0,
        bytecode_bytes=compiled.bytes if compiled else 0,
        built_from_sdist=built_from_sdist,
        lock_file=settings.lock.path.name if settings.lock else "",
        lock_sha256=settings.lock.sha256 if settings.lock else "",
        resolver=installed.resolver,
    )


@dataclass(frozen=True)
class Installed:
    """Who installed a tree, who resolved it when another installer did ("name version", else
    ''), and what `_drop_installer_artifacts` removes of an install of pinned files."""

    installer: InstallerBackend
    resolver: str = ""
    pinned: Mapping[str, tuple[str, ...]] | None = None


def _install_pip_resolution(
    request: InstallRequest, resolved: Resolution, *, uv: UvBackend, pip: PipBackend,
    ctx: BuildContext,
) -> Installed:  # fmt: skip
    """Install what was resolved for a glibc 2.26 target without resolving again: uv installs
    the very files chosen, each pinned by its hash (`installer.install_resolved`): pip's, or
    those pip would choose of the releases uv resolved (`layerkit.uvchoice`).
    A resolution that does not name one file per distribution (a lock's candidate wheels), or
    one uv could not take (`installer.uv_can_install`), is installed by pip as before; so is
    one uv fails to install (see below)."""
    target = request.target
    chosen = resolved.chosen
    if not chosen or not uv_can_install(chosen, target):
        return _install_with_pip(request, pip, ctx=ctx)
    by_pip = resolved.resolver == "pip"
    if by_pip:
        ctx.progress(
            f"{target}: resolved with pip {pip.version()}, installing its "
            f"{plural(len(chosen), 'wheel')} with uv {uv.version()}"
        )
    else:
        ctx.progress(
            f"{target}: resolved with uv {uv.version()} (each release has a wheel for glibc "
            f"{target.glibc[0]}.{target.glibc[1]}), installing {plural(len(chosen), 'wheel')}"
        )
    scratch = Path(tempfile.mkdtemp(prefix="pinned-", dir=request.dest.parent))
    try:
        install_resolved(request, chosen, uv=uv, runner=ctx.runner, scratch=scratch, env=ctx.env)
    except LayerkitError as exc:
        # uv reaches the files only by the URLs pip's report names, which pip redacts: the
        # credentials, certificates and index options pip had from its configuration or from
        # the requirements files are not uv's. pip, which reached them, installs them.
        reason = (exc.message.splitlines() or ["no message"])[0]
        ctx.progress(f"{target}: uv could not install the wheels chosen ({reason})")
        shutil.rmtree(request.dest)
        request.dest.mkdir()
        return _install_with_pip(request, pip, ctx=ctx)
    pinned = {
        canonical_name(w.name): ("REQUESTED",) * (not w.requested)
        + ("direct_url.json",) * (not w.direct)
        for w in chosen
    }
    return Installed(uv, f"pip {pip.version()}" if by_pip else "", pinned)


def _install_with_pip(request: InstallRequest, pip: PipBackend, *, ctx: BuildContext) -> Installed:
    ctx.progress(f"{request.target}: installing with pip {pip.version()}")
    install(request, backend=pip, runner=ctx.runner, env=ctx.env)
    return Installed(pip)


def _wheels(
    site_packages: Path, lock_job: Future[Resolution], *, ctx: BuildContext
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """dist-info directory -> sha256 of the wheel it was installed from (when the lock knows);
    and -> the sha256 of every wheel the lock offers for its version, what the installer chose
    among (the same offer, the same installer and target: the same choice)."""
    try:
        lock = lock_job.result().wheels
    except LayerkitError as exc:  # provenance is worth a warning, not a failed build
        ctx.warn(f"wheel hashes unknown (the lock could not be resolved): {exc.message}")
        return {}, {}
    hashes: dict[str, str] = {}
    offered: dict[str, tuple[str, ...]] = {}
    for wheel_file in site_packages.glob("*.dist-info/WHEEL"):
        dist_info = wheel_file.parent.name
        name, _, version = dist_info.removesuffix(".dist-info").rpartition("-")
        head = read_head(wheel_file, METADATA_READ_LIMIT)  # a wheel's WHEEL is a few lines
        tags = wheel_tags(head.decode("utf-8", errors="replace"))
        hashes[dist_info] = installed_wheel_sha256(name, version, tags, lock)
        offered[dist_info] = offered_wheels(lock, name, version)
    return hashes, offered


def offered_wheels(lock: LockTable, name: str, version: str) -> tuple[str, ...]:
    """The sha256 of every wheel `lock` offers for `name` `version`, sorted."""
    candidates = lock.get((canonicalize_name(name), canonicalize_version(version)), ())
    return tuple(sorted({w.sha256 for w in candidates}))


def assemble(
    settings: BuildSettings,
    target: Target,
    request: InstallRequest,
    *,
    resolution: Callable[[], Resolution],
    key_for_install: Callable[[Path], str],
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None] = lambda: None,
    built_from_sdist: tuple[str, ...] = (),
) -> TargetBuild:
    """Install `request`, then slim, verify, size and zip it into the output directory.

    `resolution` gives the request's pins and wheel hashes (resolved alongside the install if
    not yet done, by the installer that installs: see `workflow._resolve`);
    `key_for_install` names the cache key of what was installed, before slimming changes it.
    """
    site_packages = request.dest
    backend, why = backend_for_target(ctx.backend, target)
    if why:
        ctx.progress(why)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerkit-lock") as pool:
        # Installers don't say which wheel files they used; a resolution of the same request
        # names them. Resolving it (if not done yet) alongside the install hides its cost.
        lock_job = pool.submit(resolution)
        if why and isinstance(ctx.backend, UvBackend) and isinstance(backend, PipBackend):
            installed = _install_pip_resolution(
                request, lock_job.result(), uv=ctx.backend, pip=backend, ctx=ctx
            )
        else:
            ctx.progress(f"{target}: installing with {backend.name} {backend.version()}")
            install(request, backend=backend, runner=ctx.runner, env=ctx.env)
            installed = Installed(backend)
        wheel_hashes, offered = _wheels(site_packages, lock_job, ctx=ctx)
    # Slimming, the ELF checks and the zip hold the GIL or use every core: one target at a time
    # (`BuildContext.processing`), while the others resolve and install.
    with ctx.processing:
        return _processed(
            settings, target, installed,
            site_packages=site_packages, wheel_hashes=wheel_hashes, offered=offered,
            key_for_install=key_for_install, ctx=ctx, discovered=discovered,
            built_from_sdist=built_from_sdist,
        )  # fmt: skip


def _bytecode_request(
    settings: BuildSettings, site_packages: Path, ctx: BuildContext, discovery: Discovery | None
) -> BytecodeRequest | None:
    if discovery is None:
        return None
    store_root = (ctx.cache.root if ctx.cache is not None else site_packages.parent) / "bytecode"
    return BytecodeRequest(
        settings.slim.compile, discovery, BytecodeStore(store_root), settings.budget_bytes
    )


def _slimmed(
    settings: BuildSettings,
    target: Target,
    site_packages: Path,
    *,
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None],
) -> tuple[tuple[FileEntry, ...], SlimmedTree, tuple[InstalledDistribution, ...], list[str]]:
    """The installed files, the tree slimmed (and compiled), its distributions, and the
    warnings slimming and the shared files gave (not said yet)."""
    installed_files = scan_tree(site_packages)
    # The one walk over the tree: slimming says what it changed, so its entries stay true.
    slimmed = slim_tree(
        site_packages,
        target,
        settings.slim,
        entries=installed_files,
        runner=ctx.runner,
        which=ctx.which,
        host_machine=ctx.host_machine,
        bytecode=_bytecode_request(settings, site_packages, ctx, discovered()),
    )
    warnings = [*slimmed.report.warnings]
    warnings += shared_file_warnings(site_packages, {e.path for e in slimmed.entries})
    distributions = read_distributions(site_packages, slimmed.entries)
    return installed_files, slimmed, distributions, warnings


def _binaries_checked(
    settings: BuildSettings,
    target: Target,
    site_packages: Path,
    *,
    slimmed: SlimmedTree,
    distributions: Sequence[InstalledDistribution],
    layer_names: Sequence[str],
) -> tuple[tuple[Violation, ...], tuple[str, ...]]:
    """The violations of the binaries among the slimmed tree's files (their headers read while
    slimming), and those binaries' paths."""
    paths = [e.path for e in slimmed.entries]
    violations = check_shared_objects(
        paths,
        tree_opener(site_packages),
        target,
        owners=owners(distributions),
        waived=settings.allow,
        layer_prefix=target.site_packages,
        layer_names=layer_names,
        headers=slimmed.headers,
    )
    binaries = read_binaries(
        paths, tree_opener(site_packages), glibc_limit=target.glibc, headers=slimmed.headers
    )
    return violations, tuple(binaries)


def _parts(
    installed_files: Sequence[FileEntry],
    slimmed: SlimmedTree,
    distributions: Sequence[InstalledDistribution],
    binaries: Sequence[str],
    *,
    target: Target,
    offered: Mapping[str, tuple[str, ...]],
) -> LayerParts | None:
    """`layerparts.record_parts` of a tree slimmed by `_slimmed` and checked."""
    return record_parts(
        installed=installed_files, installed_distributions=slimmed.installed,
        shipped=slimmed.entries, distributions=distributions, slimmed=slimmed.report,
        binaries=binaries, target=target, wheels=offered,
    )  # fmt: skip


def _processed(
    settings: BuildSettings,
    target: Target,
    installed: Installed,
    *,
    site_packages: Path,
    wheel_hashes: Mapping[str, str],
    offered: Mapping[str, tuple[str, ...]],
    key_for_install: Callable[[Path], str],
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None],
    built_from_sdist: tuple[str, ...],
) -> TargetBuild:
    """The installed tree `site_packages` slimmed, verified, sized and zipped into the output
    directory, with its manifest (see `assemble`)."""
    _drop_installer_artifacts(site_packages, pinned=installed.pinned)
    key = key_for_install(site_packages)

    # Slim before verifying: an excluded or stripped file must be judged as it will ship.
    installed_files, slimmed, distributions, warnings = _slimmed(
        settings, target, site_packages, ctx=ctx, discovered=discovered
    )
    for warning in warnings:
        ctx.warn(warning)
    entries = slimmed.entries
    members = layer_members(site_packages, entries, target.site_packages)
    label = f"layer {zip_name(settings.name, target)}"
    binary_violations, binaries = _binaries_checked(
        settings,
        target,
        site_packages,
        slimmed=slimmed,
        distributions=distributions,
        layer_names=[m.arcname for m in members],
    )
    violations = binary_violations + check_layout([LayoutEntry(m.arcname) for m in members], target)
    raise_for(violations, label=label)
    for violation in violations:
        if violation.severity == "warning" and not violation.waived:
            ctx.warn(violation.describe())

    # The budget is checked after slimming and compiling: both change what ships.
    report = size_report(entries, distributions, budget_bytes=settings.budget_bytes)
    check_budget(report, label=label)
    parts = None
    if not (warnings or violations or settings.slim.exclude_distributions
            or settings.slim.exclude_globs or installed.pinned is not None):  # fmt: skip
        parts = _parts(
            installed_files, slimmed, distributions, binaries, target=target, offered=offered
        )
    layer = _Layer(members, entries, distributions, report, slimmed.report, violations, parts)
    zip_path = settings.output_dir / zip_name(settings.name, target)
    archive = _zip_layer(settings, target, layer, ctx=ctx, dest=zip_path)
    return _finished(
        settings, target, layer, archive=archive, ctx=ctx, installed=installed, key=key,
        wheel_hashes=wheel_hashes, built_from_sdist=built_from_sdist,
    )  # fmt: skip


@dataclass(frozen=True)
class _Layer:
    """A slimmed, checked and measured layer, ready to zip: its files, distributions, size
    report, what slimming did, the violations waived or warned of, and its parts."""

    members: Sequence[ArchiveMember]
    entries: tuple[FileEntry, ...]
    distributions: tuple[InstalledDistribution, ...]
    report: SizeReport
    slimmed: SlimReport
    violations: Sequence[Violation]
    parts: LayerParts | None


def _zip_layer(
    settings: BuildSettings, target: Target, layer: _Layer, *, ctx: BuildContext, dest: Path
) -> ZipResult:
    """`layer` zipped into `dest`: the output's zip, or a zip staged beside it."""
    ctx.progress(
        f"{target}: zipping {plural(len(layer.entries), 'file')} "
        f"({human_bytes(layer.report.total_bytes)})"
    )
    output = settings.output_dir / zip_name(settings.name, target)
    return write_zip(
        layer.members,
        dest,
        timestamp=zip_timestamp(ctx.env),
        compression=settings.compression,
        stale=(manifest_path_for(output),) if dest == output else (),
        store=MemberStore(ctx.cache.root / "members") if ctx.cache is not None else None,
    )


def _finished(
    settings: BuildSettings,
    target: Target,
    layer: _Layer,
    *,
    archive: ZipResult,
    ctx: BuildContext,
    installed: Installed,
    key: str,
    wheel_hashes: Mapping[str, str],
    built_from_sdist: tuple[str, ...],
) -> TargetBuild:
    """The build of `layer`, zipped into the output directory as `archive`: its manifest written
    beside the zip."""
    manifest = _manifest(
        settings,
        target,
        ctx=ctx,
        installed=installed,
        archive=archive,
        entries=layer.entries,
        distributions=layer.distributions,
        report=layer.report,
        inputs_digest=key,
        wheel_hashes=wheel_hashes,
        compiled=layer.slimmed.compile,
        built_from_sdist=built_from_sdist,
    )
    zip_path = archive.path
    manifest_path = write_companion(zip_path, manifest_path_for(zip_path), manifest.to_json())
    return TargetBuild(
        target=target,
        zip_path=zip_path,
        manifest_path=manifest_path,
        manifest=manifest,
        size=layer.report,
        slim=slim_summary(layer.slimmed),
        waived=tuple(v.describe() for v in layer.violations if v.waived),
        parts=layer.parts,
    )


def assemble_changed(
    settings: BuildSettings,
    target: Target,
    request: InstallRequest,
    *,
    installing: Future[CommandResult],
    base: CacheEntry,
    parts: LayerParts,
    change: Change,
    resolution: Callable[[], Resolution],
    key_of: Callable[[Sequence[tuple[str, str]]], str],
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None] = lambda: None,
) -> TargetBuild:
    """The layer from the cached build `base` (whose recorded `parts` it keeps) and `request`,
    the install (`installing`, under way) of only the distributions `change` names, processed
    as a build from scratch processes them: the same zip, byte for byte, and the same manifest.

    Raises `NotByParts` (why not, in a few words) when the rebuilt distributions cannot be
    judged apart from the kept ones (`layerkit.layerparts`), the resolution does not confirm
    the pins and wheels, or `base`'s zip or record is not what was stored: the caller then
    builds from scratch, which judges the whole layer. `key_of` names the cache key of the
    installed pins.

    The zip is written beside the output's while the resolution that confirms it runs, and
    replaces the output's only once confirmed."""
    partial = request.dest
    base_zip = _linked(base.zip_path, partial.parent / f"{partial.name}.base.zip")
    output = settings.output_dir / zip_name(settings.name, target)
    backend = ctx.backend
    assert isinstance(backend, UvBackend)  # the caller asks only for targets uv installs
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="layerkit-parts") as pool:
        # Beside the install of what changed: the resolution that confirms it, the digest of
        # the cached zip, and the reading of its entries.
        lock_job = pool.submit(resolution)
        base_digest = pool.submit(sha256_of, base_zip)
        copied = pool.submit(_copied, base_zip, target, change)
        layer = _changed_layer(
            settings, target, request.dest, installing=installing, copied=copied, base=base,
            parts=parts, change=change, ctx=ctx, discovered=discovered,
        )  # fmt: skip
        fd, staged = temporary_beside(output)
        os.close(fd)
        try:
            with ctx.processing:
                archive = _zip_layer(settings, target, layer, ctx=ctx, dest=staged)
            wheel_hashes, offered = _confirmed(
                change, base, parts, lock_job=lock_job, base_digest=base_digest, partial=partial,
                ctx=ctx,
            )  # fmt: skip
            try:
                commit(staged, output, stale=(manifest_path_for(output),))
            except OSError as exc:
                raise filesystem_error(exc, output) from exc
        finally:
            staged.unlink(missing_ok=True)
    ctx.progress(
        f"{target}: {plural(len(change.kept), 'distribution')} kept from a cached build, "
        f"{len(layer.distributions) - len(change.kept)} rebuilt"
    )
    # the record of this layer, for the next rebuild, with the offer each wheel was chosen from
    assert layer.parts is not None
    layer = replace(layer, parts=replace(layer.parts, wheels=offered))
    # keyed as a build from scratch keys what it installed: by dist-info directory names
    key = key_of(dist_info_pins(d.dist_info for d in layer.distributions))
    return _finished(
        settings, target, layer, archive=replace(archive, path=output), ctx=ctx,
        installed=Installed(backend), key=key, wheel_hashes=wheel_hashes, built_from_sdist=(),
    )  # fmt: skip


def _linked(cached: Path, link: Path) -> Path:
    """The cached zip, read through a hard link in staging where one can be made: a build that
    prunes or stores the entry meanwhile replaces its files, never changes them in place. Across
    file systems, the cached path itself (never a copy of up to 250 MB)."""
    try:
        os.link(cached, link)
    except OSError:
        return cached
    return link


def _confirmed(
    change: Change,
    base: CacheEntry,
    parts: LayerParts,
    *,
    lock_job: Future[Resolution],
    base_digest: Future[str],
    partial: Path,
    ctx: BuildContext,
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The layer's wheels (`_wheels`) once the resolution says a build from scratch installs
    the planned pins and, for each kept distribution, chooses among the very wheels the cached
    build chose among; and the cached zip is the one recorded. Else `NotByParts`."""
    try:
        resolved = lock_job.result()
    except LayerkitError as exc:
        raise NotByParts("the requirements did not resolve") from exc  # the whole build says why
    if normalize_pins(resolved.pins) != change.pins():
        raise NotByParts("the requirements resolve to other pins than planned")
    wheel_hashes, offered = _wheels(partial, lock_job, ctx=ctx)
    recorded = {d.name: d.wheel_sha256 for d in base.manifest.distributions}
    for dist in change.kept:
        now = offered_wheels(resolved.wheels, dist.name, dist.version)
        sha256 = recorded.get(dist.name, "")
        if not sha256 or sha256 not in now or now != parts.wheels.get(dist.dist_info):
            raise NotByParts(f"{dist.name} {dist.version} may come from another wheel now")
        wheel_hashes[dist.dist_info] = sha256
        offered[dist.dist_info] = now
    try:
        digest = base_digest.result()
    except LayerkitError as exc:
        raise NotByParts("the cached zip cannot be read") from exc
    if digest != base.manifest.sha256:
        raise NotByParts("the cached zip is damaged")
    return wheel_hashes, offered


def _changed_layer(
    settings: BuildSettings,
    target: Target,
    partial: Path,
    *,
    installing: Future[CommandResult],
    copied: Future[list[ArchiveMember]],
    base: CacheEntry,
    parts: LayerParts,
    change: Change,
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None],
) -> _Layer:
    """The changed distributions once installed alone in `partial`, processed, and joined to
    the kept files of the cached zip (`copied`, see `assemble_changed`); else `NotByParts`."""
    try:
        installing.result()
    except LayerkitError as exc:
        raise NotByParts("what changed did not install alone") from exc
    installed_pins = format_pins(
        (canonical_name(n), v) for n, v in dist_info_pins(p.name for p in partial.iterdir())
    )
    if installed_pins != format_pins(change.install):
        raise NotByParts("the install took other versions than planned")
    with ctx.processing:
        _drop_installer_artifacts(partial)
        installed_files, slimmed, distributions, warnings = _slimmed(
            settings, target, partial, ctx=ctx, discovered=discovered
        )
        if warnings:
            raise NotByParts("slimming what changed had something to say")
        kept_members = copied.result()
        new_members = layer_members(partial, slimmed.entries, target.site_packages)
        members = with_directories([*(m for m in new_members if not m.is_dir), *kept_members])
        layer_names = [m.arcname for m in members]
        binary_violations, binaries = _binaries_checked(
            settings, target, partial, slimmed=slimmed, distributions=distributions,
            layer_names=layer_names,
        )  # fmt: skip
    new = _parts(installed_files, slimmed, distributions, binaries, target=target, offered={})
    if new is None or not joins_cleanly(change, parts, new):
        raise NotByParts(
            "what changed ships binaries, tests or files beside another distribution's"
        )
    if settings.slim.remove_tests and needed_tests_dirs(
        kept_tests_dirs(change, parts), {e.path: e.size for e in installed_files},
        tree_opener(partial),
    ):  # fmt: skip
        raise NotByParts("a module that changed imports the tests of one that did not")
    joined = join(change, parts, new, slimmed.report)
    prefix = target.site_packages
    in_zip = {
        (m.arcname, m.copied.size, m.executable)
        for m in kept_members
        if m.copied is not None and not m.arcname.endswith("/")
    }
    if in_zip != {(f"{prefix}/{e.path}", e.size, e.executable) for e in joined.copied}:
        raise NotByParts("the cached zip does not hold the files recorded with it")
    violations = binary_violations + check_layout([LayoutEntry(n) for n in layer_names], target)
    if violations:
        raise NotByParts("the layer has problems to report")
    report = size_report(joined.entries, joined.distributions, budget_bytes=settings.budget_bytes)
    if report.over_budget:
        raise NotByParts("the layer is over its budget")
    recorded = {(d.name, d.version): (d.files, d.bytes) for d in base.manifest.distributions}
    if any(
        recorded.get((d.name, d.version)) != (d.files, d.bytes)
        for d in report.distributions
        if any(k.name == d.name for k in change.kept)
    ):
        raise NotByParts("the cached build's record does not match its manifest")
    return _Layer(
        members, joined.entries, joined.distributions, report, joined.slimmed, (), joined.parts
    )


def _copied(base_zip: Path, target: Target, change: Change) -> list[ArchiveMember]:
    """The files of the kept distributions in the cached zip, to copy as they are."""
    prefix = f"{target.site_packages}/"
    try:
        return copied_members(
            base_zip,
            lambda arcname: (
                arcname.startswith(prefix)
                and top_of(arcname[len(prefix) :]) not in change.dropped_tops
            ),
        )
    except LayerkitError as exc:
        raise NotByParts("the cached zip is damaged") from exc
