"""Use cases: the steps of a build, with their collaborators passed in.

`build_layers` turns validated `BuildSettings` into one zip + manifest per target. It never writes a
half-finished artifact: everything happens in a private staging directory, the zip and manifest are
renamed into the output directory only when complete, and a failure for one target stops the build.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerkit import __version__
from layerkit.archive import (
    CODECS,
    ZipResult,
    layer_members,
    write_text_atomic,
    write_zip,
    zip_timestamp,
)
from layerkit.budget import SizeReport, check_budget, size_report
from layerkit.cache import (
    BuildCache,
    BuildInputs,
    CacheEntry,
    dist_info_pins,
    find_build,
    key_after_install,
    run_compile,
)
from layerkit.config import BuildSettings
from layerkit.contents import (
    FileEntry,
    InstalledDistribution,
    owners,
    read_distributions,
    scan_tree,
)
from layerkit.errors import FilesystemError, LayerkitError
from layerkit.inspection import zip_size_report
from layerkit.installer import (
    CommandRunner,
    InstallerBackend,
    InstallRequest,
    UvBackend,
    build_wheel,
    install,
)
from layerkit.manifest import DistributionInfo, Manifest, code_sha256, manifest_path_for
from layerkit.provenance import (
    LockTable,
    installed_wheel_sha256,
    pylock_requirements,
    read_pylock,
    wheel_tags,
)
from layerkit.slim import SlimReport, Which, find_strip, slim_tree
from layerkit.targets import Target
from layerkit.verify import (
    LayoutEntry,
    check_layout,
    check_shared_objects,
    raise_for,
    tree_opener,
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TargetBuild:
    """The outcome of building one target."""

    target: Target
    zip_path: Path
    manifest_path: Path
    manifest: Manifest
    size: SizeReport
    slim: Mapping[str, Any]  # `slim_summary` of what slimming did
    waived: tuple[str, ...]  # compatibility problems the user explicitly accepted
    sbom_path: Path | None = None
    cached: bool = False  # reused from the build cache: nothing was installed or zipped


@dataclass(frozen=True)
class BuildResult:
    name: str
    installer: str
    installer_version: str
    builds: tuple[TargetBuild, ...]


@dataclass(frozen=True)
class BuildContext:
    """The collaborators of a build, wired by the CLI."""

    backend: InstallerBackend
    runner: CommandRunner
    env: Mapping[str, str]
    progress: Progress
    warn: Progress
    which: Which
    host_machine: str
    resolver: UvBackend  # uv pip compile, whatever installs: cache-key pins and the wheel lock
    cache: BuildCache | None = None
    force: bool = False  # rebuild even when the cache holds the same inputs


def zip_name(name: str, target: Target) -> str:
    return f"{name}-{target.slug}.zip"


def _prepare_output_dir(output_dir: Path) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise FilesystemError(
            f"output path {output_dir} exists and is not a directory",
            hint="choose a directory with -o",
        )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FilesystemError(
            f"cannot create output directory {output_dir}: {exc.strerror}",
            hint="choose a writable directory with -o",
        ) from exc


def _drop_installer_artifacts(site_packages: Path) -> None:
    """Remove what installers leave in a --target directory that is no part of any package:
    console scripts in bin/ (their shebangs name the host Python) and uv's .lock file."""
    scripts = site_packages / "bin"
    if scripts.is_dir() and not (scripts / "__init__.py").exists():
        shutil.rmtree(scripts)
    (site_packages / ".lock").unlink(missing_ok=True)


def _build_local_wheels(
    settings: BuildSettings, staging: Path, ctx: BuildContext
) -> tuple[str, ...]:
    """Local path packages become wheels, installed like any other requirement."""
    if not settings.local_packages:
        return ()
    wheel_dir = staging / "local-wheels"
    wheel_dir.mkdir()
    wheels = []
    for package in settings.local_packages:
        ctx.progress(f"building a wheel of {package}")
        wheels.append(str(build_wheel(package, wheel_dir, runner=ctx.runner)))
    return tuple(wheels)


def _manifest(
    settings: BuildSettings,
    target: Target,
    *,
    ctx: BuildContext,
    archive: ZipResult,
    entries: tuple[FileEntry, ...],
    distributions: tuple[InstalledDistribution, ...],
    report: SizeReport,
    inputs_digest: str,
    wheel_hashes: Mapping[str, str],
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
        installer=ctx.backend.name,
        installer_version=ctx.backend.version(),
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
    )


def _compile_lock(request: InstallRequest, *, staging: Path, ctx: BuildContext) -> str:
    """The PEP 751 lock (``pylock.toml``) of `request`: pins and every candidate wheel's hash."""
    scratch = Path(tempfile.mkdtemp(prefix="lock-", dir=staging))
    return run_compile(
        request,
        uv=ctx.resolver,
        runner=ctx.runner,
        scratch=scratch,
        env=ctx.env,
        output_format="pylock.toml",
    )


def _wheel_hashes(
    site_packages: Path, lock_job: Future[LockTable], *, ctx: BuildContext
) -> dict[str, str]:
    """dist-info directory -> sha256 of the wheel it was installed from (when the lock knows)."""
    try:
        lock = lock_job.result()
    except LayerkitError as exc:  # provenance is worth a warning, not a failed build
        ctx.warn(f"wheel hashes unknown (the lock could not be resolved): {exc.message}")
        return {}
    hashes: dict[str, str] = {}
    for wheel_file in site_packages.glob("*.dist-info/WHEEL"):
        dist_info = wheel_file.parent.name
        name, _, version = dist_info.removesuffix(".dist-info").rpartition("-")
        tags = wheel_tags(wheel_file.read_text(encoding="utf-8", errors="replace"))
        hashes[dist_info] = installed_wheel_sha256(name, version, tags, lock)
    return hashes


def cache_inputs(settings: BuildSettings, target: Target, ctx: BuildContext) -> BuildInputs:
    """Every input besides the resolved pins that decides the bytes of `target`'s zip."""
    options: dict[str, Any] = {
        "name": settings.name,
        "slim": settings.slim,
        "allow": sorted(settings.allow),
        "budget_bytes": settings.budget_bytes,
        "index": settings.index,
        "codec": CODECS[settings.compression].identity(),
        "timestamp": zip_timestamp(ctx.env),
    }
    if settings.slim.strip:
        options["strip_tool"] = find_strip(target, which=ctx.which, host_machine=ctx.host_machine)
    if settings.slim.compile:
        options["compile_with"] = ctx.which(f"python{target.python}")
    return BuildInputs(
        requirement_texts=tuple(
            path.read_text(encoding="utf-8", errors="replace")
            for path in settings.requirement_files
        ),
        requirements=settings.requirements,
        target=target.slug,
        installer=ctx.backend.name,
        installer_version=ctx.backend.version(),
        layerkit_version=__version__,
        options=options,
    )


def slim_summary(report: SlimReport) -> dict[str, Any]:
    """What slimming removed, per rule, and what strip/compile did, as plain data."""
    strip, compiled = report.strip, report.compile
    return {
        "removed_files": report.files,
        "removed_bytes": report.bytes,
        "rules": [
            {"rule": r.rule, "description": r.description, "files": r.files, "bytes": r.bytes}
            for r in report.rules
        ],
        "strip": None
        if strip is None
        else {
            "tool": strip.tool,
            "files": len(strip.files),
            "bytes_saved": strip.bytes_saved,
            "skipped_reason": strip.skipped_reason,
        },
        "compile": None
        if compiled is None
        else {
            "interpreter": compiled.interpreter,
            "files": compiled.files,
            "bytes": compiled.bytes,
            "skipped_reason": compiled.skipped_reason,
        },
        "notes": list(report.notes),
    }


def _write_beside_zip(
    settings: BuildSettings, zip_path: Path, manifest: Manifest, ctx: BuildContext
) -> tuple[Path, Path | None]:
    """The manifest (and SBOM) next to the zip; a zip without its manifest is removed."""
    manifest_path = manifest_path_for(zip_path)
    sbom_path = None
    try:
        write_text_atomic(manifest_path, manifest.to_json())
        if settings.sbom:
            # The CycloneDX library is heavy; only builds that ask for an SBOM load it.
            from layerkit.sbom import sbom_path_for, write_sbom

            sbom_path = sbom_path_for(zip_path)
            write_sbom(manifest, sbom_path, env=ctx.env)
    except FilesystemError:
        zip_path.unlink(missing_ok=True)  # a zip without its manifest cannot be published
        raise
    return manifest_path, sbom_path


def _reuse(
    settings: BuildSettings, target: Target, entry: CacheEntry, ctx: BuildContext
) -> TargetBuild | None:
    """The cached build placed into the output directory, or None if the entry was bad."""
    zip_path = settings.output_dir / zip_name(settings.name, target)
    if ctx.cache is None or not ctx.cache.place(entry, zip_path):
        return None
    manifest_path, sbom_path = _write_beside_zip(settings, zip_path, entry.manifest, ctx)
    ctx.progress(f"{target}: unchanged inputs, reused the cached build")
    return TargetBuild(
        target=target,
        zip_path=zip_path,
        manifest_path=manifest_path,
        manifest=entry.manifest,
        size=zip_size_report(zip_path, target, budget_bytes=settings.budget_bytes),
        slim=entry.details.get("slim", {}),
        waived=tuple(entry.details.get("waived", ())),
        sbom_path=sbom_path,
        cached=True,
    )


def build_target(
    settings: BuildSettings,
    target: Target,
    *,
    staging: Path,
    extra_requirements: tuple[str, ...],
    ctx: BuildContext,
) -> TargetBuild:
    """Install, check and zip one target; write its zip and manifest into the output dir.

    With a build cache, unchanged inputs (same pins, target, options, tools) reuse the cached
    zip instead: no install, no zip. Local path packages are rebuilt every time, so a build that
    has them is never cached.
    """
    site_packages = staging / target.slug
    site_packages.mkdir()
    request = InstallRequest(
        target=target,
        dest=site_packages,
        requirement_files=settings.requirement_files,
        requirements=settings.requirements + extra_requirements,
        index=settings.index,
    )
    # One resolution serves both the cache key (its pins) and the manifest (its wheel hashes):
    # memoised, it runs at most once, here or alongside the install below.
    lock_text = functools.cache(functools.partial(_compile_lock, request, staging=staging, ctx=ctx))
    cacheable = ctx.cache is not None and not settings.local_packages
    inputs = cache_inputs(settings, target, ctx) if cacheable else None
    decision = None
    if ctx.cache is not None and inputs is not None and not ctx.force:
        decision = find_build(ctx.cache, inputs, resolve=lambda: pylock_requirements(lock_text()))
        if decision.entry is not None:
            reused = _reuse(settings, target, decision.entry, ctx)
            if reused is not None:
                return reused

    ctx.progress(f"{target}: installing with {ctx.backend.name} {ctx.backend.version()}")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerkit-lock") as pool:
        # Installers don't say which wheel files they used; the lock of the same request names
        # every candidate's hash. Resolving it (if not done yet) alongside the install hides it.
        lock_job = pool.submit(lambda: read_pylock(lock_text()))
        install(request, backend=ctx.backend, runner=ctx.runner, env=ctx.env)
        wheel_hashes = _wheel_hashes(site_packages, lock_job, ctx=ctx)
    _drop_installer_artifacts(site_packages)
    key = ""
    if inputs is not None:
        key = (
            decision.key
            if decision is not None
            else key_after_install(inputs, dist_info_pins(p.name for p in site_packages.iterdir()))
        )

    # Slim before verifying: an excluded or stripped file must be judged as it will ship.
    slimmed = slim_tree(
        site_packages,
        target,
        settings.slim,
        runner=ctx.runner,
        which=ctx.which,
        host_machine=ctx.host_machine,
    )
    for warning in slimmed.warnings:
        ctx.warn(warning)
    entries = scan_tree(site_packages)
    distributions = read_distributions(site_packages, entries)
    members = layer_members(site_packages, entries, target.site_packages)
    label = f"layer {zip_name(settings.name, target)}"
    violations = check_shared_objects(
        [e.path for e in entries],
        tree_opener(site_packages),
        target,
        owners=owners(distributions),
        waived=settings.allow,
    ) + check_layout([LayoutEntry(m.arcname) for m in members], target)
    raise_for(violations, label=label)

    # The budget is checked after slimming and compiling: both change what ships.
    report = size_report(entries, distributions, budget_bytes=settings.budget_bytes)
    check_budget(report, label=label)

    zip_path = settings.output_dir / zip_name(settings.name, target)
    ctx.progress(f"{target}: zipping {len(entries)} files ({report.total_bytes:,} bytes)")
    archive = write_zip(
        members,
        zip_path,
        timestamp=zip_timestamp(ctx.env),
        compression=settings.compression,
    )
    manifest = _manifest(
        settings,
        target,
        ctx=ctx,
        archive=archive,
        entries=entries,
        distributions=distributions,
        report=report,
        inputs_digest=key,
        wheel_hashes=wheel_hashes,
    )
    manifest_path, sbom_path = _write_beside_zip(settings, zip_path, manifest, ctx)
    built = TargetBuild(
        target=target,
        zip_path=zip_path,
        manifest_path=manifest_path,
        manifest=manifest,
        size=report,
        slim=slim_summary(slimmed),
        waived=tuple(v.describe() for v in violations if v.waived),
        sbom_path=sbom_path,
    )
    if ctx.cache is not None and key:
        try:
            ctx.cache.store(key, zip_path, manifest, {"slim": built.slim, "waived": built.waived})
        except FilesystemError as exc:  # the build succeeded; only reuse is lost
            ctx.warn(f"could not save the build in the cache: {exc.message}")
    return built


def build_layers(settings: BuildSettings, ctx: BuildContext) -> BuildResult:
    """Build one layer zip per target of `settings`."""
    _prepare_output_dir(settings.output_dir)
    builds: list[TargetBuild] = []
    with tempfile.TemporaryDirectory(prefix="layerkit-") as staging_dir:
        staging = Path(staging_dir)
        local_wheels = _build_local_wheels(settings, staging, ctx)
        for target in settings.targets:
            builds.append(
                build_target(
                    settings, target, staging=staging, extra_requirements=local_wheels, ctx=ctx
                )
            )
    return BuildResult(
        name=settings.name,
        installer=ctx.backend.name,
        installer_version=ctx.backend.version(),
        builds=tuple(builds),
    )
