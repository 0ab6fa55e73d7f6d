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
import shutil
import tempfile
from collections.abc import Callable, Mapping, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from layerkit import __version__
from layerkit.archive import ZipResult, layer_members, write_zip, zip_timestamp
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
    tree_opener,
)
from layerkit.errors import LayerkitError
from layerkit.installer import (
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
from layerkit.manifest import (
    DistributionInfo,
    Manifest,
    code_sha256,
    manifest_path_for,
)
from layerkit.members import MemberStore
from layerkit.pins import canonical_name, dist_info_pins
from layerkit.provenance import Resolution, installed_wheel_sha256, wheel_tags
from layerkit.report import human_bytes, plural
from layerkit.safewrite import write_companion
from layerkit.slim.compile import BytecodeRequest
from layerkit.slim.tree import slim_tree
from layerkit.targets import Target
from layerkit.verify import LayoutEntry, check_layout, check_shared_objects, raise_for


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


def _wheel_hashes(
    site_packages: Path, lock_job: Future[Resolution], *, ctx: BuildContext
) -> dict[str, str]:
    """dist-info directory -> sha256 of the wheel it was installed from (when the lock knows)."""
    try:
        lock = lock_job.result().wheels
    except LayerkitError as exc:  # provenance is worth a warning, not a failed build
        ctx.warn(f"wheel hashes unknown (the lock could not be resolved): {exc.message}")
        return {}
    hashes: dict[str, str] = {}
    for wheel_file in site_packages.glob("*.dist-info/WHEEL"):
        dist_info = wheel_file.parent.name
        name, _, version = dist_info.removesuffix(".dist-info").rpartition("-")
        head = read_head(wheel_file, METADATA_READ_LIMIT)  # a wheel's WHEEL is a few lines
        tags = wheel_tags(head.decode("utf-8", errors="replace"))
        hashes[dist_info] = installed_wheel_sha256(name, version, tags, lock)
    return hashes


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
        wheel_hashes = _wheel_hashes(site_packages, lock_job, ctx=ctx)
    # Slimming, the ELF checks and the zip hold the GIL or use every core: one target at a time
    # (`BuildContext.processing`), while the others resolve and install.
    with ctx.processing:
        return _processed(
            settings, target, installed,
            site_packages=site_packages, wheel_hashes=wheel_hashes,
            key_for_install=key_for_install, ctx=ctx, discovered=discovered,
            built_from_sdist=built_from_sdist,
        )  # fmt: skip


def _processed(
    settings: BuildSettings,
    target: Target,
    installed: Installed,
    *,
    site_packages: Path,
    wheel_hashes: Mapping[str, str],
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
    bytecode = None
    discovery = discovered()
    if discovery is not None:
        store_root = (
            ctx.cache.root if ctx.cache is not None else site_packages.parent
        ) / "bytecode"
        bytecode = BytecodeRequest(
            settings.slim.compile, discovery, BytecodeStore(store_root), settings.budget_bytes
        )
    # The one walk over the tree: slimming says what it changed, so its entries stay true.
    slimmed = slim_tree(
        site_packages,
        target,
        settings.slim,
        entries=scan_tree(site_packages),
        runner=ctx.runner,
        which=ctx.which,
        host_machine=ctx.host_machine,
        bytecode=bytecode,
    )
    for warning in slimmed.report.warnings:
        ctx.warn(warning)
    entries = slimmed.entries
    for warning in shared_file_warnings(site_packages, {e.path for e in entries}):
        ctx.warn(warning)
    distributions = read_distributions(site_packages, entries)
    members = layer_members(site_packages, entries, target.site_packages)
    label = f"layer {zip_name(settings.name, target)}"
    violations = check_shared_objects(
        [e.path for e in entries],
        tree_opener(site_packages),
        target,
        owners=owners(distributions),
        waived=settings.allow,
        layer_prefix=target.site_packages,
        layer_names=[m.arcname for m in members],
        headers=slimmed.headers,
    ) + check_layout([LayoutEntry(m.arcname) for m in members], target)
    raise_for(violations, label=label)
    for violation in violations:
        if violation.severity == "warning" and not violation.waived:
            ctx.warn(violation.describe())

    # The budget is checked after slimming and compiling: both change what ships.
    report = size_report(entries, distributions, budget_bytes=settings.budget_bytes)
    check_budget(report, label=label)

    zip_path = settings.output_dir / zip_name(settings.name, target)
    ctx.progress(
        f"{target}: zipping {plural(len(entries), 'file')} ({human_bytes(report.total_bytes)})"
    )
    archive = write_zip(
        members,
        zip_path,
        timestamp=zip_timestamp(ctx.env),
        compression=settings.compression,
        stale=(manifest_path_for(zip_path),),
        store=MemberStore(ctx.cache.root / "members") if ctx.cache is not None else None,
    )
    manifest = _manifest(
        settings,
        target,
        ctx=ctx,
        installed=installed,
        archive=archive,
        entries=entries,
        distributions=distributions,
        report=report,
        inputs_digest=key,
        wheel_hashes=wheel_hashes,
        compiled=slimmed.report.compile,
        built_from_sdist=built_from_sdist,
    )
    manifest_path = write_companion(zip_path, manifest_path_for(zip_path), manifest.to_json())
    return TargetBuild(
        target=target,
        zip_path=zip_path,
        manifest_path=manifest_path,
        manifest=manifest,
        size=report,
        slim=slim_summary(slimmed.report),
        waived=tuple(v.describe() for v in violations if v.waived),
    )
