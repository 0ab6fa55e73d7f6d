"""Use cases: the steps of a build, with their collaborators passed in.

`build_layers` turns validated `BuildSettings` into one zip + manifest per target. It never writes a
half-finished artifact: everything happens in a private staging directory, the zip and manifest are
renamed into the output directory only when complete, and a failure for one target stops the build.
Targets are built a few at once (`layerkit.targetpool`: in child processes where forking is safe),
their results kept in the targets' order. Each target is first looked up in the build cache; only
one the cache cannot serve is built from scratch by `layerkit.assembly`, which is imported then and
not before (see its docstring), or before the children are forked, once for all. The
types both share (`TargetBuild`, `BuildResult`, `BuildContext`) are in `layerkit.build_model`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from layerkit import __version__
from layerkit.archive import CODECS, default_threads, zip_timestamp
from layerkit.budget import size_report_from_json
from layerkit.build_model import BuildContext, BuildResult, TargetBuild, zip_name
from layerkit.cache import (
    BuildInputs,
    CacheDecision,
    CacheEntry,
    find_build,
    key_after_install,
    key_of_installed,
    layerkit_code_digest,
    lineage_key,
)
from layerkit.config import BuildSettings
from layerkit.editables import without_editables
from layerkit.errors import (
    CompatibilityError,
    FilesystemError,
    ResolutionError,
    UsageError,
)
from layerkit.installer import (
    CommandResult,
    InstallRequest,
    PipBackend,
    UvBackend,
    backend_for_target,
    build_wheel,
    install,
    resolve_with_pip,
    resolve_with_uv,
)
from layerkit.interpreter import (
    Discovery,
    discovery_fingerprint,
    locate_interpreter,
    no_bytecode_message,
    recall,
    remember,
)
from layerkit.lockfiles import LockSelection, lock_record
from layerkit.manifest import manifest_path_for, sbom_path_for
from layerkit.pins import dist_info_pins, lock_pins, normalize_pins, plain_requirements
from layerkit.report import plural, shown_path
from layerkit.safewrite import (
    output_lock,
    remove_stale_partials,
    remove_stale_staging,
    staging_directory,
    write_companion,
)
from layerkit.targetpool import (
    Cancelled,
    Lines,
    available_memory,
    default_jobs,
    fork_is_safe,
    run_targets,
)
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.layerparts import Change, LayerParts
    from layerkit.provenance import Resolution
    from layerkit.sdists import BuiltFromSdist

T = TypeVar("T")
MAX_ROUNDS = 5  # a package built from its sdist may need another one, found on the next try
# How long a build waits for the threads of its progress display to end before it forks its
# workers (rich's spinner redraws 12.5 times a second); past it, the targets use threads.
_SETTLING_SECONDS = 0.5


def _prepare_output_dir(output_dir: Path) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise FilesystemError(
            f"output path {shown_path(output_dir)} exists and is not a directory",
            hint="choose a directory with -o",
        )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FilesystemError(
            f"cannot create output directory {shown_path(output_dir)}: {exc.strerror}",
            hint="choose a writable directory with -o",
        ) from exc


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


def _editables_as_local_packages(settings: BuildSettings, staging: Path) -> BuildSettings:
    """`-e PATH` lines of the requirements files become local packages (built into wheels):
    an editable install would ship a link to this machine's disk (see `layerkit.editables`)."""
    scratch = staging / "requirements"
    scratch.mkdir()
    files: list[Path] = []
    local = list(settings.local_packages)
    for path in settings.requirement_files:
        rewritten, directories = without_editables(path, scratch)
        files.append(rewritten)
        local += directories
    if len(local) == len(settings.local_packages):
        return settings
    return dataclasses.replace(
        settings, requirement_files=tuple(files), local_packages=tuple(local)
    )


def _resolve(
    request: InstallRequest,
    *,
    staging: Path,
    ctx: BuildContext,
    lock: LockSelection | None = None,
) -> Resolution:
    """The pins of `request` and the hashes of their wheels, resolved by the installer that
    resolves the target, with its tags: pip's dry-run report where pip resolves (glibc 2.26
    targets, or ``--installer pip``), else uv's PEP 751 lock (``pylock.toml``); from a lock file
    (`lock`) that names its wheels, its own pins and wheels. For a glibc 2.26 target under uv,
    the report's chosen files are what is installed (`assembly._install_pip_resolution`)."""
    from layerkit import provenance  # only builds that must resolve

    if lock is not None:  # a lock that names its wheels (not Pipfile.lock's): nothing to ask
        from layerkit.lockfiles import lock_resolution, target_pins

        pins = target_pins(lock, request.target)
        if all(pin.wheels for pin in pins):
            return lock_resolution(pins)
    scratch = Path(tempfile.mkdtemp(prefix="lock-", dir=staging))
    installer, why = backend_for_target(ctx.backend, request.target)
    if isinstance(installer, PipBackend):
        if why:  # a target uv cannot name: uv's resolution serves where it is pip's
            from layerkit.uvchoice import UvAsker, resolve_for_target

            asker = UvAsker(ctx.resolver, ctx.runner, ctx.env, scratch / "uv")
            chosen = resolve_for_target(request, asker, progress=ctx.progress)
            if chosen is not None:
                return chosen
        report = resolve_with_pip(
            dataclasses.replace(request, dest=scratch / "target"),  # a dry run writes nothing
            pip=installer,
            runner=ctx.runner,
            report=scratch / "report.json",
            env=ctx.env,
        )
        return provenance.pip_report_resolution(report)
    pylock = resolve_with_uv(
        request,
        uv=ctx.resolver,
        runner=ctx.runner,
        scratch=scratch,
        env=ctx.env,
        output_format="pylock.toml",
    )
    return provenance.pylock_resolution(pylock)


def _once(compute: Callable[[], T]) -> Callable[[], T]:
    """`compute`, run at most once however many threads ask (the others wait for it): its
    value, or its failure, raised again to each later asker (a failed resolution is not tried
    twice, nor its progress lines said twice)."""
    lock = threading.Lock()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def once() -> T:
        with lock:
            if not outcome and not failure:
                try:
                    outcome.append(compute())
                except Exception as exc:
                    failure.append(exc)
            if failure:
                raise failure[0]
            return outcome[0]

    return once


def discover_interpreter(
    settings: BuildSettings, target: Target, ctx: BuildContext
) -> Discovery | None:
    """The interpreter to compile `target`'s bytecode with (None when compile is off).

    The outcome is remembered in the build cache (see `layerkit.interpreter`); --force looks again.
    """
    if settings.slim.compile == "never":
        return None
    memo = ctx.cache.root / "interpreters" if ctx.cache is not None else None
    fingerprint = ""
    if memo is not None:
        fingerprint = discovery_fingerprint(
            target, which=ctx.which, env=ctx.env, explicit=settings.interpreter,
            python_downloads=settings.python_downloads, cwd=Path.cwd(),
        )  # fmt: skip
        known = None if ctx.force else recall(memo, fingerprint)
        if known is not None:
            return known
    signalled: list[int] = []

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        result = ctx.runner(argv, env=env, cwd=cwd)
        if result.returncode < 0:  # killed by a signal, not an answer about the interpreter
            signalled.append(-result.returncode)
        return result

    found = locate_interpreter(
        target, which=ctx.which, runner=runner, explicit=settings.interpreter,
        uv=ctx.resolver.uv, python_downloads=settings.python_downloads, env=ctx.env,
    )  # fmt: skip
    if signal.SIGINT in signalled:
        # Ctrl-C reaches the whole process group: the search (which runs beside the build, see
        # `build_layers`) was cut short, and its "none found" must be neither said nor remembered.
        raise KeyboardInterrupt
    if memo is not None and not signalled:
        remember(memo, fingerprint, found)
    return found


def _discover_all(settings: BuildSettings, ctx: BuildContext) -> dict[str, Discovery | None]:
    """One discovery per target Python version; without an interpreter, say so once (or fail
    when --compile requires one)."""
    found: dict[str, Discovery | None] = {}
    for target in settings.targets:
        if target.python in found:
            continue
        discovery = found[target.python] = discover_interpreter(settings, target, ctx)
        if discovery is None or discovery.interpreter is not None:
            continue
        if settings.slim.compile == "required":
            raise UsageError(
                f"--compile needs a Python {target.python} interpreter to compile the layer's "
                f"bytecode, and none was found ({discovery.reason})",
                hint=f"`uv python install {target.python}`, --interpreter PATH, "
                "--python-downloads (uv fetches one), or --no-compile",
            )
        ctx.warn(no_bytecode_message(discovery))
    return found


def cache_inputs(
    settings: BuildSettings,
    target: Target,
    ctx: BuildContext,
    discovery: Discovery | None = None,
    requirement_texts: tuple[str, ...] | None = None,
) -> BuildInputs:
    """Every input besides the resolved pins that decides the bytes of `target`'s zip: with
    bytecode, the full version of the interpreter that compiles it (None: no bytecode).
    `requirement_texts`: the requirements files as the install read them (else read now)."""
    options: dict[str, Any] = {
        "name": settings.name,
        "slim": settings.slim,
        "allow": sorted(settings.allow),
        "budget_bytes": settings.budget_bytes,
        "index": settings.index,
        "codec": CODECS[settings.compression].identity(),
        "timestamp": zip_timestamp(ctx.env),
    }
    if settings.lock is not None:  # named by the manifest: a new lock is a new build
        options["lock"] = lock_record(settings.lock)
    if settings.slim.strip:
        from layerkit.slim.strip import find_strip

        options["strip_tool"] = find_strip(target, which=ctx.which, host_machine=ctx.host_machine)
    if discovery is not None:
        found = discovery.interpreter
        options["bytecode_interpreter"] = None if found is None else found.version
    # The installer that resolves and installs this target keys it, with its version; for a
    # glibc 2.26 target that is pip, and uv installs the files pip chose: both key it.
    installer, why = backend_for_target(ctx.backend, target)
    if why:
        options["installed_with"] = [ctx.backend.name, ctx.backend.version()]
    return BuildInputs(
        requirement_texts=(
            _requirement_texts(settings) if requirement_texts is None else requirement_texts
        ),
        requirements=settings.requirements,
        target=target.slug,
        installer=installer.name,
        installer_version=installer.version(),
        layerkit_version=__version__,
        options=options,
        layerkit_code=layerkit_code_digest(),
    )


def _requirement_texts(settings: BuildSettings) -> tuple[str, ...]:
    return tuple(
        path.read_text(encoding="utf-8", errors="replace") for path in settings.requirement_files
    )


# The JSON shape of `slim_summary`, checked when a cached build's summary is shown again.
_NONE = type(None)
_SLIM_SHAPE: dict[str, Any] = {
    "removed_files": int, "removed_bytes": int, "rules": list, "notes": list,
    "strip": (dict, _NONE), "compile": (dict, _NONE),
}  # fmt: skip
_RULE_SHAPE = {"rule": str, "description": str, "files": int, "bytes": int}
_STRIP_SHAPE = {
    "tool": (str, _NONE), "files": int, "bytes_saved": int, "skipped_reason": (str, _NONE),
}  # fmt: skip
_COMPILE_SHAPE = {
    "interpreter": (str, _NONE), "interpreter_version": (str, _NONE), "mode": str, "files": int,
    "bytes": int, "reused_files": int, "compiled_files": int, "dropped": list,
    "skipped_reason": (str, _NONE),
}  # fmt: skip


def _shaped(value: Any, shape: Mapping[str, Any]) -> bool:
    return isinstance(value, dict) and all(
        key in value and isinstance(value[key], types) for key, types in shape.items()
    )


def _cached_summary(details: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The slimming summary and waivers a cached build reported; ValueError if damaged."""
    slim, waived = details.get("slim"), details.get("waived")
    if not isinstance(slim, dict) or not isinstance(waived, list):
        raise ValueError("damaged build details")
    if not (
        _shaped(slim, _SLIM_SHAPE)
        and all(_shaped(rule, _RULE_SHAPE) for rule in slim["rules"])
        and all(isinstance(note, str) for note in slim["notes"])
        and (slim["strip"] is None or _shaped(slim["strip"], _STRIP_SHAPE))
        and (slim["compile"] is None or _shaped(slim["compile"], _COMPILE_SHAPE))
        and all(isinstance(w, str) for w in waived)
    ):
        raise ValueError("damaged build details")
    return slim, tuple(waived)


def _sbom_generator() -> str:
    """What besides the manifest decides an SBOM's bytes: the CycloneDX library's version."""
    import cyclonedx  # the package's top only, not its (slow) model

    return f"cyclonedx-python-lib {cyclonedx.__version__}"


def _with_sbom(settings: BuildSettings, built: TargetBuild, ctx: BuildContext) -> TargetBuild:
    """`built` with its SBOM beside the zip (with --sbom): the one kept with its cached build
    when the same CycloneDX made it, else made anew and kept for the next reuse."""
    if not settings.sbom:
        return built
    key = built.manifest.inputs_digest
    generator = _sbom_generator()
    cache = ctx.cache if key else None
    text = cache.kept_sbom(key, built.manifest, generator) if cache is not None else None
    made = text is None
    if text is None:
        # The CycloneDX library takes ~40 ms to import: only an SBOM not kept yet loads it.
        from layerkit.sbom import sbom_json

        text = sbom_json(built.manifest, timestamp=zip_timestamp(ctx.env))
    sbom_path = write_companion(built.zip_path, sbom_path_for(built.zip_path), text)
    if made and cache is not None:
        try:
            cache.keep_sbom(key, text, generator)
        except FilesystemError as exc:  # only the next reuse is slower
            ctx.warn(f"could not save the SBOM in the cache: {exc.message}")
    return dataclasses.replace(built, sbom_path=sbom_path)


def _reuse(
    settings: BuildSettings, target: Target, entry: CacheEntry, ctx: BuildContext
) -> TargetBuild | None:
    """The cached build placed into the output directory, or None if the entry was bad."""
    if ctx.cache is None:
        return None
    try:
        slim, waived = _cached_summary(entry.details)
        notes = tuple(str(n) for n in entry.details.get("notes", ()))
        saved_size = entry.details.get("size")
        size = None if saved_size is None else size_report_from_json(saved_size)
    except (KeyError, TypeError, ValueError, OverflowError):  # e.g. a size of 1e999
        ctx.cache.discard(entry.key)
        return None
    zip_path = settings.output_dir / zip_name(settings.name, target)
    if not ctx.cache.place(entry, zip_path, stale=(manifest_path_for(zip_path),)):
        return None
    if size is None:  # an entry from before the size report was kept with it: measure the zip
        from layerkit.inspection import zip_size_report

        size = zip_size_report(zip_path, target, budget_bytes=settings.budget_bytes)
    manifest_path = write_companion(zip_path, manifest_path_for(zip_path), entry.manifest.to_json())
    ctx.progress(f"{target}: unchanged inputs, reused the cached build")
    return TargetBuild(
        target=target,
        zip_path=zip_path,
        manifest_path=manifest_path,
        manifest=entry.manifest,
        size=size,
        slim=slim,
        waived=waived,
        cached=True,
        notes=notes,
    )


def build_target(
    settings: BuildSettings,
    target: Target,
    *,
    staging: Path,
    extra_requirements: tuple[str, ...],
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None] = lambda: None,
    built_from_sdist: tuple[str, ...] = (),
) -> TargetBuild:
    """Install, check and zip one target; write its zip and manifest into the output dir.
    `discovered` gives the interpreter that compiles its bytecode (`build_layers` looks for it
    beside the build: it is asked for only when the cache key or the bytecode needs it).

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
        no_deps=settings.lock is not None,
    )
    # One resolution serves the cache key (its pins), the manifest (its wheel hashes) and the
    # old-versions probe: memoised, it runs at most once, here or alongside the install below
    # (where the probe's thread may ask for it too: the second asker waits for the first).
    resolution = _once(
        functools.partial(_resolve, request, staging=staging, ctx=ctx, lock=settings.lock)
    )
    # Local packages and wheels built from sdists are rebuilt every time: never cached.
    cacheable = ctx.cache is not None and not settings.local_packages and not built_from_sdist

    # Read before the install, so a file changed during it cannot key what it did not install.
    texts = _requirement_texts(settings) if cacheable else ()

    @functools.cache
    def cache_key_inputs() -> BuildInputs | None:
        if not cacheable:
            return None
        return cache_inputs(settings, target, ctx, discovered(), requirement_texts=texts)

    decision = None
    if ctx.cache is not None and not ctx.force and (inputs := cache_key_inputs()) is not None:
        decision = find_build(ctx.cache, inputs, resolve=lambda: resolution().pins)
        if decision.entry is not None:
            reused = _reuse(settings, target, decision.entry, ctx)
            if reused is not None:
                return _with_sbom(settings, reused, ctx)

    def key_of(installed: Sequence[tuple[str, str]]) -> str:
        """The key of a build that installed these (name, version) pins."""
        if decision is not None and not decision.resolved:
            return decision.key  # a lock keys on itself
        inputs = cache_key_inputs()  # with --force, known only now
        if inputs is None:
            return ""
        if decision is None:
            return key_after_install(inputs, installed)
        # What was resolved is what was installed, unless a release reached the index between
        # the two (the install resolves again): a zip is stored under the pins it holds.
        return key_of_installed(inputs, installed)

    def key_for_install(site_packages: Path) -> str:
        return key_of(dist_info_pins(p.name for p in site_packages.iterdir()))

    # Only a build the cache cannot serve loads the installer, ELF reader and deflate codecs.
    from layerkit.assembly import assemble
    from layerkit.oldversions import probe_versions, version_notes
    from layerkit.runtimehints import notes_for

    installer, _why = backend_for_target(ctx.backend, target)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerkit-versions") as pool:
        # Whether old releases were picked for want of wheels: asked alongside the install (and
        # the target's side only when its resolution took an older release than the newest).
        probe = pool.submit(
            probe_versions,
            request,
            uv=ctx.resolver,
            runner=ctx.runner,
            scratch=Path(tempfile.mkdtemp(prefix="versions-", dir=staging)),
            env=ctx.env,
            pip=installer if isinstance(installer, PipBackend) else None,
            resolved=lambda: resolution().pins,
        )
        built = None
        inputs = cache_key_inputs()
        if decision is not None and inputs is not None and not extra_requirements:
            built = _rebuilt_by_parts(
                settings, target, request, inputs=inputs, decision=decision,
                resolution=resolution, key_of=key_of, staging=staging, ctx=ctx,
                discovered=discovered,
            )  # fmt: skip
        if built is None:
            built = assemble(
                settings,
                target,
                request,
                resolution=resolution,
                key_for_install=key_for_install,
                ctx=ctx,
                built_from_sdist=built_from_sdist,
                discovered=discovered,
            )
        installed = [(d.name, d.version) for d in built.manifest.distributions]
        notes = version_notes(target, installed, probe.result())
    notes += notes_for(name for name, _version in installed)
    built = dataclasses.replace(built, notes=notes)
    _store(built, inputs, ctx)
    return _with_sbom(settings, built, ctx)


def _store(built: TargetBuild, inputs: BuildInputs | None, ctx: BuildContext) -> None:
    """Keep `built` in the build cache (with its parts, the last build of its lineage), then
    hold the cache to its bound; a failure is a warning: the build succeeded, only reuse is
    lost."""
    key = built.manifest.inputs_digest
    if ctx.cache is None or not key:
        return
    try:
        details = {"slim": built.slim, "waived": built.waived, "size": built.size,
                   "notes": built.notes}  # fmt: skip
        parts, lineage = None, ""
        if built.parts is not None and inputs is not None:
            from layerkit.layerparts import parts_document  # loaded with assembly

            parts, lineage = parts_document(built.parts), lineage_key(inputs)
        stored = ctx.cache.store(
            key, built.zip_path, built.manifest, details, parts=parts, lineage=lineage
        )
        from layerkit.cacheusage import trim_builds  # only a build that stored something

        trim_builds(ctx.cache.root, keep=stored.zip_path.parent)
    except FilesystemError as exc:
        ctx.warn(f"could not save the build in the cache: {exc.message}")


def _rebuilt_by_parts(
    settings: BuildSettings,
    target: Target,
    request: InstallRequest,
    *,
    inputs: BuildInputs,
    decision: CacheDecision,
    resolution: Callable[[], Resolution],
    key_of: Callable[[Sequence[tuple[str, str]]], str],
    staging: Path,
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None],
) -> TargetBuild | None:
    """The layer rebuilt from the last cached build of the same options, redoing only the
    distributions whose pins changed (`layerkit.layerparts`); None when it cannot be, the
    progress saying why once a cached build was found: the caller builds from scratch.

    Never tried where the request itself says more than names and versions (an index, a URL or
    a hash in a requirements file: the changed distributions are installed by name and
    version), nor for a pylock or a target pip resolves."""
    _installer, why = backend_for_target(ctx.backend, target)
    if (
        ctx.cache is None
        or settings.lock is not None
        or why
        or not isinstance(ctx.backend, UvBackend)
        or not plain_requirements(inputs.requirement_texts, inputs.requirements)
    ):
        return None
    last = ctx.cache.last_of_lineage(lineage_key(inputs))
    if last is None:
        return None
    from layerkit.layerparts import NotByParts, parts_from_document, plan_change

    base, document = last
    manifest = base.manifest
    if (manifest.name, manifest.python, manifest.arch) != (
        settings.name,
        target.python,
        target.arch,
    ):
        return None  # a pointer gone astray: not this lineage's build
    if decision.resolved:
        pins = resolution().pins
    else:
        pins = lock_pins(inputs.requirement_texts, inputs.requirements) or ""
    try:
        try:
            parts = parts_from_document(document)
        except ValueError as exc:
            raise NotByParts("the cached build's record is damaged") from exc
        change = plan_change(parts, normalize_pins(pins))
        if change is None:
            return None
        return _assembled_by_parts(
            settings, target, request, base=base, parts=parts, change=change,
            resolution=resolution, key_of=key_of, staging=staging, ctx=ctx, discovered=discovered,
        )  # fmt: skip
    except NotByParts as why_not:
        ctx.progress(f"{target}: building the whole layer: {why_not}")
        return None


def _assembled_by_parts(
    settings: BuildSettings,
    target: Target,
    request: InstallRequest,
    *,
    base: CacheEntry,
    parts: LayerParts,
    change: Change,
    resolution: Callable[[], Resolution],
    key_of: Callable[[Sequence[tuple[str, str]]], str],
    staging: Path,
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None],
) -> TargetBuild:
    """`assembly.assemble_changed`, with the changed distributions installing, and the
    resolution that must confirm them running, while the processing modules load."""
    partial = staging / f"{target.slug}-changed"
    partial.mkdir()
    only_changed = dataclasses.replace(
        request, dest=partial, requirement_files=(), requirements=change.requirements(),
        no_deps=True,
    )  # fmt: skip
    ctx.progress(
        f"{target}: installing {', '.join(change.requirements())} with {ctx.backend.name} "
        f"{ctx.backend.version()} (what changed since a cached build)"
    )
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="layerkit-changed") as pool:
        installing = pool.submit(
            install, only_changed, backend=ctx.backend, runner=ctx.runner, env=ctx.env
        )
        pool.submit(resolution)  # memoised: the later ask waits for this one
        from layerkit.assembly import assemble_changed

        return assemble_changed(
            settings, target, only_changed, installing=installing, base=base, parts=parts,
            change=change, resolution=resolution, key_of=key_of, ctx=ctx, discovered=discovered,
        )  # fmt: skip


def build_target_from_sources(
    settings: BuildSettings,
    target: Target,
    *,
    staging: Path,
    extra_requirements: tuple[str, ...],
    ctx: BuildContext,
    discovered: Callable[[], Discovery | None] = lambda: None,
) -> TargetBuild:
    """`build_target`, and when the target cannot be resolved because packages publish only an
    sdist: build those into pure-Python wheels (`layerkit.sdists`) and try again with them."""
    built: list[BuiltFromSdist] = []
    wheel_dir = staging / f"sdist-wheels-{target.slug}"
    attempt = settings
    for _round in range(MAX_ROUNDS):
        try:
            return build_target(
                attempt,
                target,
                staging=Path(tempfile.mkdtemp(prefix="try-", dir=staging)),
                extra_requirements=extra_requirements,
                ctx=ctx,
                built_from_sdist=tuple(str(b) for b in built),
                discovered=discovered,
            )
        except (CompatibilityError, ResolutionError) as failure:
            if settings.lock is not None:  # its hashes pin its files: a wheel built here is none
                raise
            from layerkit.sdists import build_missing_wheels  # only a failed resolution

            built += build_missing_wheels(
                failure,
                attempt,
                target,
                request=InstallRequest(target, staging, settings.requirement_files,
                                       settings.requirements + extra_requirements, attempt.index),
                wheel_dir=wheel_dir,
                done=tuple(built),
                ctx=ctx,
            )  # fmt: skip
            links = (*settings.index.find_links, str(wheel_dir))
            attempt = dataclasses.replace(
                settings, index=dataclasses.replace(settings.index, find_links=links)
            )
    raise CompatibilityError(
        f"{target}: still unresolved after building {plural(len(built), 'package')} from source",
        hint="pin the packages that publish only an sdist, or pass --no-build to see them",
    )


def _with_lock_pins(settings: BuildSettings, target: Target, staging: Path) -> BuildSettings:
    """With a lock file: `settings` installing its pins for `target` (a requirements file of
    ``name==version --hash`` lines), which the cache reads as a lock. Else `settings`."""
    lock = settings.lock
    if lock is None:
        return settings
    from layerkit.lockfiles import requirements_text, target_pins

    pins = requirements_text(target_pins(lock, target))
    path = staging / f"{lock.path.name}.{target.slug}.txt"
    path.write_text(pins, encoding="utf-8")
    return dataclasses.replace(settings, requirement_files=(path,), requirements=())


def _target_context(
    ctx: BuildContext, target: Target, stopping: threading.Event, *, parallel: bool
) -> BuildContext:
    """`ctx` for one target's worker: it stops at its next step (a progress line, a command)
    once the build is stopping, and its lines name the target when several run at once."""

    def check() -> None:
        if stopping.is_set():
            raise Cancelled(str(target))

    def named(message: str) -> str:
        return (
            message if not parallel or message.startswith(str(target)) else f"{target}: {message}"
        )

    def progress(message: str) -> None:
        check()
        ctx.progress(named(message))

    def warn(message: str) -> None:
        ctx.warn(named(message))

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        check()
        return ctx.runner(argv, env=env, cwd=cwd)

    return dataclasses.replace(
        ctx, progress=progress, warn=warn, runner=runner, processing=_Turn(ctx.processing, check)
    )


class _Turn:
    """A target's turn to process (`BuildContext.processing`), taken only while the build is
    not stopping: one that waited through another's failure (or Ctrl-C) stops there."""

    def __init__(self, turns: AbstractContextManager[Any], check: Callable[[], None]) -> None:
        self._turns = turns
        self._check = check

    def __enter__(self) -> None:
        self._turns.__enter__()
        try:
            self._check()
        except BaseException:
            self._turns.__exit__(None, None, None)
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._turns.__exit__(kind, error, traceback)


def build_layers(
    settings: BuildSettings,
    ctx: BuildContext,
    *,
    jobs: int | None = None,
    processes: bool = True,
) -> BuildResult:
    """Build one layer zip per target of `settings`, `jobs` targets at once (default:
    `targetpool.default_jobs`); the results in the targets' order. Several targets at once are
    built in child processes where forking is safe (`targetpool.fork_is_safe`) and `processes`
    allows it, else in threads taking turns to process."""
    # Looking for the targets' interpreters (a second or so when not remembered, or with --force)
    # runs beside the builds; --compile, which fails without one, waits for it before writing.
    discovering: Future[dict[str, Discovery | None]] = Future()
    finder = threading.Thread(
        target=_settle, args=(discovering, functools.partial(_discover_all, settings, ctx)),
        name="layerkit-discovery",
    )  # fmt: skip
    finder.start()
    try:
        if settings.slim.compile == "required":
            discovering.result()
        return _build_layers(settings, ctx, discovering, finder, jobs=jobs, processes=processes)
    finally:
        finder.join()


def _settle(future: Future[T], compute: Callable[[], T]) -> None:
    try:
        future.set_result(compute())
    except BaseException as error:  # the asker raises it (Ctrl-C included)
        future.set_exception(error)


def _discovered(discovering: Future[dict[str, Discovery | None]], python: str) -> Discovery | None:
    return discovering.result()[python]


def _build_layers(
    settings: BuildSettings,
    ctx: BuildContext,
    discovering: Future[dict[str, Discovery | None]],
    finder: threading.Thread,
    *,
    jobs: int | None,
    processes: bool,
) -> BuildResult:
    """`build_layers`, with the search for interpreters under way (`discovering`, in `finder`)."""
    _prepare_output_dir(settings.output_dir)
    targets = settings.targets
    if jobs is None:
        jobs = default_jobs(len(targets), cores=default_threads(), memory=available_memory())
    parallel = jobs > 1 and len(targets) > 1
    may_fork = parallel and processes and sys.platform == "linux"  # see `fork_is_safe`
    if may_fork:
        # Children are forked once the search has ended (no thread may run at a fork): where
        # they cannot be, the search goes on beside the builds.
        discovering.exception()
        finder.join()
    # One build at a time per output directory: two would mix their zips and manifests.
    with output_lock(settings.output_dir, on_wait=ctx.progress):
        remove_stale_partials(settings.output_dir)
        remove_stale_staging()
        with staging_directory() as staging_dir:
            staging = Path(staging_dir)
            settings = _editables_as_local_packages(settings, staging)
            local_wheels = _build_local_wheels(settings, staging, ctx)
            in_processes = False
            if may_fork:
                ctx.settle()  # a terminal's spinner: its threads end within a refresh
                in_processes = fork_is_safe(wait=_SETTLING_SECONDS)
            if in_processes:  # imported once here, not once in each child (4 x 0.13 s of CPU)
                importlib.import_module("layerkit.assembly")
            # In threads, one target processes while the others resolve and install. (Should
            # no child fork after all, `run_targets` uses threads that process at once: slower.)
            turns = threading.Lock() if parallel and not in_processes else contextlib.nullcontext()

            def build_one(target: Target, stopping: threading.Event, lines: Lines) -> TargetBuild:
                said = dataclasses.replace(
                    ctx, progress=lines.progress, warn=lines.warn, processing=turns
                )
                return build_target_from_sources(
                    _with_lock_pins(settings, target, staging),
                    target,
                    staging=staging,
                    extra_requirements=local_wheels,
                    ctx=_target_context(said, target, stopping, parallel=parallel),
                    discovered=functools.partial(_discovered, discovering, target.python),
                )

            builds = run_targets(
                targets, build_one, jobs=jobs, name=str,
                lines=Lines(ctx.progress, ctx.warn), processes=in_processes,
            )  # fmt: skip
    return BuildResult(
        name=settings.name,
        installer=ctx.backend.name,
        installer_version=ctx.backend.version(),
        builds=tuple(builds),
    )
