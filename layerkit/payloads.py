"""The `--json` results that are not a use case's own dataclass: what `build`, `inspect`, `test`,
`deploy`, `layers ...` and `init --list` print, as frozen dataclasses.

Field order is key order in the document (`layerkit.rendering`); docs/json/*.schema.json is the
contract. This module imports no boundary library and nothing heavier than the types it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layerkit.aws.layers import GrantResult, LayerSummary, LayerVersionInfo
    from layerkit.budget import DistributionSize, PathSize
    from layerkit.build_model import BuildResult, TargetBuild
    from layerkit.importtest import LayerTestResult
    from layerkit.layerreport import LayerReport
    from layerkit.publishing import PublishReport
    from layerkit.scaffold import TemplateInfo


# --- test ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportTime:
    module: str
    seconds: float
    error: str | None


@dataclass(frozen=True)
class LayerTestPayload:
    """`layerkit test` (also one entry of `build --test`)."""

    source: str
    target: str
    runtime: str
    architecture: str
    status: str
    reason: str | None
    interpreter: str | None
    imports: tuple[ImportTime, ...]
    notes: tuple[str, ...]


def layer_test_payload(result: LayerTestResult) -> LayerTestPayload:
    return LayerTestPayload(
        source=str(result.source),
        target=result.target.slug,
        runtime=result.target.runtime,
        architecture=result.target.arch,
        status=result.status,
        reason=result.reason,
        interpreter=result.interpreter,
        imports=tuple(ImportTime(i.module, round(i.seconds, 6), i.error) for i in result.imports),
        notes=tuple(result.notes),
    )


# --- build --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockRecord:
    """The lock file a build installed exactly, and its digest."""

    file: str
    sha256: str


@dataclass(frozen=True)
class BuiltTarget:
    """One target of a build."""

    target: str
    runtime: str
    architecture: str
    zip: str
    manifest_path: str
    sha256: str
    code_sha256: str
    file_count: int
    unzipped_bytes: int
    zipped_bytes: int
    budget_bytes: int
    headroom_bytes: int
    direct_upload_ok: bool
    distributions: tuple[DistributionSize, ...]  # the size report's own entries
    sbom: str | None
    cached: bool
    slim: Mapping[str, Any]
    waived: tuple[str, ...]
    built_from_sdist: tuple[str, ...]
    installed_by: str  # "name version" of the installer that installed the layer
    resolved_by: str | None  # of the one that resolved it, when another (pip for glibc 2.26)
    lock: LockRecord | None
    notes: tuple[str, ...]
    import_test: LayerTestPayload | None


@dataclass(frozen=True)
class BuildPayload:
    """`layerkit build`: one entry per target (with its import test, if run)."""

    name: str
    installer: str
    installer_version: str
    builds: tuple[BuiltTarget, ...]


def _built_target(build: TargetBuild, test: LayerTestResult | None) -> BuiltTarget:
    from layerkit.limits import DIRECT_UPLOAD_LIMIT

    manifest, size = build.manifest, build.size
    return BuiltTarget(
        target=build.target.slug,
        runtime=build.target.runtime,
        architecture=build.target.arch,
        zip=str(build.zip_path),
        manifest_path=str(build.manifest_path),
        sha256=manifest.sha256,
        code_sha256=manifest.code_sha256,
        file_count=manifest.file_count,
        unzipped_bytes=size.total_bytes,
        zipped_bytes=manifest.zipped_bytes,
        budget_bytes=size.budget_bytes,
        headroom_bytes=size.headroom_bytes,
        direct_upload_ok=manifest.zipped_bytes <= DIRECT_UPLOAD_LIMIT,
        distributions=tuple(size.distributions),
        sbom=str(build.sbom_path) if build.sbom_path else None,
        cached=build.cached,
        slim=build.slim,
        waived=tuple(build.waived),
        built_from_sdist=tuple(manifest.built_from_sdist),
        installed_by=f"{manifest.installer} {manifest.installer_version}",
        resolved_by=manifest.resolver or None,
        lock=LockRecord(manifest.lock_file, manifest.lock_sha256) if manifest.lock_file else None,
        notes=tuple(build.notes),
        import_test=layer_test_payload(test) if test is not None else None,
    )


def build_payload(
    result: BuildResult, tests: Mapping[Any, LayerTestResult] | None = None
) -> BuildPayload:
    """A build's result; `tests` maps a zip path to its import test."""
    tests = tests or {}
    return BuildPayload(
        name=result.name,
        installer=result.installer,
        installer_version=result.installer_version,
        builds=tuple(_built_target(b, tests.get(b.zip_path)) for b in result.builds),
    )


@dataclass(frozen=True)
class DeployPayload:
    """`layerkit deploy`: what was built, then what was published."""

    build: BuildPayload
    publish: PublishReport


# --- inspect ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetOrigins:
    python: str
    architecture: str


@dataclass(frozen=True)
class DistributionShare:
    name: str
    version: str
    files: int
    bytes: int
    percent_of_budget: float


@dataclass(frozen=True)
class ProblemPayload:
    path: str
    distribution: str | None
    rule: str
    found: str
    expected: str
    hint: str
    summary: str
    waived: bool
    severity: str


@dataclass(frozen=True)
class RuleSaving:
    rule: str
    description: str
    files: int
    bytes: int
    percent_of_budget: float


@dataclass(frozen=True)
class SlimmingPayload:
    removable_files: int
    removable_bytes: int
    strip_estimate_bytes: int
    rules: tuple[RuleSaving, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class InspectPayload:
    """`layerkit inspect`: the same report the text and HTML show, in bytes."""

    source: str
    kind: str
    target: str
    runtime: str
    architecture: str
    target_origin: str  # where the parts named by no flag came from; per part below
    target_origins: TargetOrigins
    packages_dir: str
    state: str
    verdict: str
    file_count: int
    unzipped_bytes: int
    zipped_bytes: int | None
    budget_bytes: int
    headroom_bytes: int
    percent_of_budget: float
    distributions: tuple[DistributionShare, ...]
    top_level: tuple[PathSize, ...]
    largest_files: tuple[PathSize, ...]
    problems: tuple[ProblemPayload, ...]
    slimming: SlimmingPayload
    notes: tuple[str, ...]


def inspect_payload(report: LayerReport) -> InspectPayload:
    from layerkit.layerreport import percent_of_budget

    size = report.size
    savings = [s for s in report.savings if not s.estimated]
    return InspectPayload(
        source=report.source,
        kind=report.kind,
        target=f"{report.runtime}-{report.architecture}",
        runtime=report.runtime,
        architecture=report.architecture,
        target_origin=report.python_origin
        if report.python_origin != "given"
        else report.architecture_origin,
        target_origins=TargetOrigins(report.python_origin, report.architecture_origin),
        packages_dir=report.packages_dir,
        state=report.state,
        verdict=report.verdict,
        file_count=size.file_count,
        unzipped_bytes=size.total_bytes,
        zipped_bytes=report.zipped_bytes,
        budget_bytes=size.budget_bytes,
        headroom_bytes=size.headroom_bytes,
        percent_of_budget=percent_of_budget(size.total_bytes, size.budget_bytes),
        distributions=tuple(
            DistributionShare(
                d.name, d.version, d.files, d.bytes, percent_of_budget(d.bytes, size.budget_bytes)
            )
            for d in size.distributions
        ),
        top_level=tuple(size.top_level),
        largest_files=tuple(size.largest_files),
        problems=tuple(
            ProblemPayload(
                path=p.path,
                distribution=p.package,
                rule=p.rule,
                found=p.needs,
                expected=p.offers,
                hint=p.fix,
                summary=p.summary,
                waived=p.waived,
                severity=p.severity,
            )
            for p in report.problems
        ),
        slimming=SlimmingPayload(
            removable_files=sum(s.files for s in savings),
            removable_bytes=sum(s.bytes for s in savings),
            strip_estimate_bytes=sum(s.bytes for s in report.savings if s.estimated),
            rules=tuple(
                RuleSaving(
                    s.rule,
                    s.description,
                    s.files,
                    s.bytes,
                    percent_of_budget(s.bytes, size.budget_bytes),
                )
                for s in savings
            ),
            warnings=tuple(report.warnings),
        ),
        notes=tuple(report.notes),
    )


# --- layers ... and init --list -----------------------------------------------------------------


@dataclass(frozen=True)
class LayerListing:
    """`layers list`."""

    region: str
    layers: tuple[LayerSummary, ...]


@dataclass(frozen=True)
class LayerVersions:
    """`layers versions`."""

    region: str
    name: str
    versions: tuple[LayerVersionInfo, ...]


@dataclass(frozen=True)
class LayerDeletion:
    """`layers delete`."""

    region: str
    name: str
    version: int
    deleted: bool
    dry_run: bool
    used_by: tuple[str, ...]


@dataclass(frozen=True)
class LayerPruning:
    """`layers prune`."""

    region: str
    name: str
    deleted: tuple[int, ...]
    kept: tuple[int, ...]
    in_use: Mapping[int, tuple[str, ...]]
    dry_run: bool


@dataclass(frozen=True)
class LayerStatements:
    """`layers grant` and `layers revoke`."""

    region: str
    name: str
    version: int
    statements: tuple[GrantResult, ...]


@dataclass(frozen=True)
class TemplateListing:
    """`init --list`."""

    templates: tuple[TemplateInfo, ...]
