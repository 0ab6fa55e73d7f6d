"""Use cases on AWS: publish built layers to regions (upload, publish, share, attach) and attach.

Regions run concurrently; each region's outcome is reported on its own, and a failure in one never
hides the others. Every step is idempotent, so re-running the same command after any failure
(a lost response, a crash between publish and attach) finishes the job without a second version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload

from layerkit.aws.attach import DEFAULT_WAIT, AttachResult, WaitSettings, attach_layer
from layerkit.aws.content import Distributions, canonical, make_finder
from layerkit.aws.detach import DetachResult, check_layer_ref, detach_layer
from layerkit.aws.errors import aws_call
from layerkit.aws.functions import get_configuration, refuse_if_managed
from layerkit.aws.layers import (
    GrantResult,
    LayerContent,
    LayerVersionInfo,
    Principal,
    PublishRequest,
    get_version,
    get_version_by_arn,
    grant,
    latest_version,
    layer_description,
    principals,
    publish,
)
from layerkit.aws.rules import (
    check_direct_upload_size,
    check_function_name,
    check_layer_name,
    check_license,
    function_region,
    parse_layer_version_arn,
)
from layerkit.aws.s3 import TransferProgress, bucket_for_region, check_bucket_region, content_key
from layerkit.aws.s3 import ensure_uploaded as s3_upload
from layerkit.config import PublishSettings
from layerkit.contents import sha256_of
from layerkit.errors import InputFileError, LambdaRuleError, LayerkitError, UsageError
from layerkit.limits import LAMBDA_UNZIPPED_LIMIT
from layerkit.manifest import MANIFEST_SCHEMA, Manifest, parse_manifest, read_manifest
from layerkit.naming import check_distinct, layer_name_for
from layerkit.runtimehints import RuntimeHint, hints_for
from layerkit.safezip import measured_size
from layerkit.targets import Target

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sts.client import STSClient

# "would-publish": a --dry-run found no version with these bytes (nothing was sent).
_Result = TypeVar("_Result")
RegionOutcome = Literal["published", "unchanged", "failed", "would-publish"]
# "unneeded": the layer's latest version already holds these bytes, so nothing was sent at all.
UploadKind = Literal["uploaded", "skipped", "direct", "unneeded"]


class AwsClients(Protocol):
    """What the use cases need from `layerkit.aws.session.ClientFactory`."""

    @overload
    def client(self, service: Literal["lambda"], region: str | None = None) -> LambdaClient: ...
    @overload
    def client(self, service: Literal["s3"], region: str | None = None) -> S3Client: ...
    @overload
    def client(self, service: Literal["sts"], region: str | None = None) -> STSClient: ...

    def region(self, region: str | None = None) -> str: ...


class Reporter(Protocol):
    """Where progress goes (the CLI draws it on stderr)."""

    def step(self, message: str) -> None: ...

    def transfer(self, label: str, total: int) -> TransferProgress: ...


@dataclass(frozen=True)
class LayerZip:
    """A built zip, its manifest, and the layer name it is published under."""

    path: Path
    manifest: Manifest
    layer_name: str


@dataclass(frozen=True)
class PublishPlan:
    """Everything `publish_layers` does, validated before the first AWS call."""

    zips: tuple[LayerZip, ...]
    regions: tuple[str, ...]
    settings: PublishSettings
    principals: tuple[Principal, ...] = ()
    functions: tuple[str, ...] = ()
    allow_downgrade: bool = False
    allow_overlap: bool = False
    dry_run: bool = False
    # sha256 (hex) of a zip -> the distributions its manifest lists (the overlap check's source)
    manifests: Mapping[str, Distributions] = field(default_factory=dict)


@dataclass(frozen=True)
class AttachFailure:
    function: str
    region: str
    error: str
    hint: str | None


@dataclass(frozen=True)
class RegionResult:
    """One zip in one region: the `publish --json` per-region entry.

    `outcome` is about the layer version; `error` is set whenever anything in this region failed
    (publishing, sharing or attaching).
    """

    region: str
    layer_name: str
    zip: str
    target: str
    outcome: RegionOutcome
    layer_arn: str | None
    version: int | None
    code_sha256: str
    unzipped_bytes: int
    s3_bucket: str | None
    s3_key: str | None
    upload: UploadKind | None
    grants: tuple[GrantResult, ...] = ()
    attachments: tuple[AttachResult, ...] = ()
    attach_failures: tuple[AttachFailure, ...] = ()
    error: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class PublishReport:
    results: tuple[RegionResult, ...]
    dry_run: bool = False
    would_attach: tuple[str, ...] = ()  # with --dry-run: the functions a real run would attach

    @property
    def failed(self) -> tuple[RegionResult, ...]:
        return tuple(r for r in self.results if r.error is not None)


@dataclass(frozen=True)
class DetachReport:
    region: str
    layer: str
    results: tuple[DetachResult, ...]
    failures: tuple[AttachFailure, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class AttachReport:
    region: str
    layer: str
    results: tuple[AttachResult, ...]
    failures: tuple[AttachFailure, ...] = field(default_factory=tuple)


# --- choosing what to publish -------------------------------------------------------------------


def load_zips(
    paths: Sequence[Path],
    *,
    layer_name: str | None,
    configured: Sequence[tuple[str, Target]] = (),
) -> tuple[LayerZip, ...]:
    """Read each zip's manifest, check the zip is the one the manifest describes, name layers.

    Each zip's layer name is `layer_name` (a template, see `layerkit.naming`) applied to its
    build's name and target: the same zip gets the same name however many are published at
    once. A template that names two of these zips, or two `configured` (name, target) pairs,
    alike is refused: one layer version holds one target's files.
    """
    if not paths:
        raise UsageError("no layer zips to publish", hint="run `layerkit build` first")
    loaded: list[LayerZip] = []
    for path in paths:
        manifest = read_manifest(path)
        if sha256_of(path) != manifest.sha256:
            raise InputFileError(
                f"{path.name} does not match its manifest (sha256 differs)",
                hint="the zip changed after the build: rebuild with `layerkit build`",
            )
        # Lambda's unzipped limit is checked against the manifest: it must not understate.
        if measured_size(path, cap=LAMBDA_UNZIPPED_LIMIT) > manifest.unzipped_bytes:
            raise InputFileError(
                f"{path.name} unzips to more bytes than its manifest records",
                hint="the zip or its manifest changed after the build; rebuild them",
            )
        name = layer_name_for(layer_name, name=manifest.name, target=manifest.target)
        loaded.append(LayerZip(path, manifest, check_layer_name(name)))
    check_distinct(
        layer_name, [*configured, *((z.manifest.name, z.manifest.target) for z in loaded)]
    )
    names = [z.layer_name for z in loaded]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(
            f"two zips would be published as the same layer: {', '.join(duplicates)}",
            hint="publish zips of different targets (runtime x architecture)",
        )
    return tuple(loaded)


def manifest_distributions(manifests: Iterable[Manifest]) -> dict[str, Distributions]:
    """sha256 of each zip -> the (canonical) names of the distributions it ships."""
    return {m.sha256: frozenset(canonical(d.name) for d in m.distributions) for m in manifests}


def manifests_in(directory: Path) -> list[Manifest]:
    """The layerkit manifests in `directory` (anything else there is ignored)."""
    found: list[Manifest] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(document, dict) and document.get("schema") == MANIFEST_SCHEMA:
                found.append(parse_manifest(document, source=str(path)))
        except (OSError, ValueError, LayerkitError):
            continue
    return found


def plan_publish(
    zips: tuple[LayerZip, ...],
    settings: PublishSettings,
    *,
    default_region: str,
    public: bool = False,
    allow_downgrade: bool = False,
    allow_overlap: bool = False,
    known: Sequence[Manifest] = (),
    dry_run: bool = False,
) -> PublishPlan:
    """Validate everything a publish needs before any AWS call."""
    regions = tuple(dict.fromkeys(settings.regions)) or (default_region,)
    for z in zips:  # the same text goes to every region: refuse it once, before any call
        layer_description(
            settings.description,
            sha256_hex=z.manifest.sha256,
            unzipped_bytes=z.manifest.unzipped_bytes,
        )
    if settings.license is not None:
        check_license(settings.license)
    if settings.direct:
        for z in zips:
            check_direct_upload_size(z.path.stat().st_size)
    elif not settings.bucket:
        raise UsageError(
            "no S3 bucket to upload the layer to",
            hint="give --bucket (or bucket in [tool.layerkit.publish]); zips <= 50 MB can "
            "skip S3 with --direct",
        )
    else:
        for region in regions:
            bucket_for_region(settings.bucket, region)
    functions = tuple(check_function_name(f) for f in settings.functions)
    for function in functions:
        where = function_region(function)
        if where is not None and where not in regions:
            raise LambdaRuleError(
                f"function {function} is in {where}, which is not published to",
                hint=f"add --region {where}",
            )
    return PublishPlan(
        zips=zips,
        regions=regions,
        settings=settings,
        principals=principals(settings.grant_accounts, settings.grant_org, public=public),
        functions=functions,
        allow_downgrade=allow_downgrade,
        allow_overlap=allow_overlap,
        dry_run=dry_run,
        manifests=manifest_distributions([*known, *(z.manifest for z in zips)]),
    )


# --- doing it -----------------------------------------------------------------------------------


def _publish_zip(
    plan: PublishPlan,
    layer_zip: LayerZip,
    *,
    region: str,
    lambda_client: LambdaClient,
    s3_client: S3Client | None,
    owner: str | None,
    reporter: Reporter,
) -> RegionResult:
    settings, manifest = plan.settings, layer_zip.manifest
    base = RegionResult(
        region=region,
        layer_name=layer_zip.layer_name,
        zip=str(layer_zip.path),
        target=manifest.target.slug,
        outcome="failed",
        layer_arn=None,
        version=None,
        code_sha256=manifest.code_sha256,
        unzipped_bytes=manifest.unzipped_bytes,
        s3_bucket=None,
        s3_key=None,
        upload=None,
    )
    try:
        description = layer_description(
            settings.description,
            sha256_hex=manifest.sha256,
            unzipped_bytes=manifest.unzipped_bytes,
        )
        upload: UploadKind
        # Through S3, an unchanged layer must leave no object behind (publish() checks the
        # latest version itself before a direct upload, which sends nothing either).
        direct_later = settings.direct and not plan.dry_run
        latest = None if direct_later else latest_version(lambda_client, layer_zip.layer_name)
        if latest is not None and latest.code_sha256 == manifest.code_sha256:
            reporter.step(f"{region}: unchanged {latest.arn}")
            return _with(
                base,
                outcome="unchanged",
                upload="unneeded",
                layer_arn=latest.arn,
                version=latest.version,
                grants=()
                if plan.dry_run
                else _grants(plan, lambda_client, layer_zip.layer_name, latest.version),
            )
        if plan.dry_run:
            reporter.step(f"{region}: would publish {layer_zip.layer_name} ({layer_zip.path.name})")
            return _with(base, outcome="would-publish")
        if settings.direct:
            content = LayerContent(zip_bytes=layer_zip.path.read_bytes())
            upload = "direct"
        else:
            # checked by plan_publish; no S3 client is made for a direct upload
            assert settings.bucket is not None and owner is not None and s3_client is not None
            bucket = bucket_for_region(settings.bucket, region)
            key = content_key(settings.prefix, layer_zip.layer_name, manifest.sha256)
            base = _with(base, s3_bucket=bucket, s3_key=key)
            check_bucket_region(s3_client, bucket=bucket, region=region, owner=owner)
            uploaded = s3_upload(
                s3_client,
                path=layer_zip.path,
                bucket=bucket,
                key=key,
                sha256_hex=manifest.sha256,
                owner=owner,
                progress=reporter.transfer(
                    f"{region} {layer_zip.path.name}", manifest.zipped_bytes
                ),
            )
            content = LayerContent(s3_bucket=bucket, s3_key=key)
            upload = uploaded.outcome
            done = "uploaded to" if upload == "uploaded" else "already in"
            reporter.step(f"{region}: {layer_zip.path.name} {done} s3://{bucket}/{key}")
        base = _with(base, upload=upload)
        result = publish(
            lambda_client,
            PublishRequest(
                layer_name=layer_zip.layer_name,
                content=content,
                code_sha256=manifest.code_sha256,
                runtimes=(manifest.runtime,),
                architectures=(manifest.arch,),
                description=description,
                license=settings.license,
            ),
        )
        base = _with(
            base,
            outcome=result.outcome,
            layer_arn=result.version.arn,
            version=result.version.version,
        )
        reporter.step(f"{region}: {result.outcome} {result.version.arn}")
        base = _with(
            base, grants=_grants(plan, lambda_client, layer_zip.layer_name, result.version.version)
        )
    except LayerkitError as error:
        return _with(base, error=error.message, hint=error.hint)
    return base


def _grants(
    plan: PublishPlan, lambda_client: LambdaClient, layer_name: str, version: int
) -> tuple[GrantResult, ...]:
    if not plan.principals:
        return ()
    return grant(lambda_client, layer_name, version, plan.principals)


def _with(result: RegionResult, **changes: Any) -> RegionResult:
    return replace(result, **changes)


def _choose_zip(
    lambda_client: LambdaClient, function: str, published: Sequence[RegionResult]
) -> RegionResult:
    """The published layer whose target matches the function (arch and runtime)."""
    if len(published) == 1:
        return published[0]
    config = get_configuration(lambda_client, function)
    arch = (config.get("Architectures") or ["x86_64"])[0]
    wanted = f"{config.get('Runtime', '?')}-{arch}"
    for result in published:
        if result.target == wanted:
            return result
    raise LambdaRuleError(
        f"function {function} runs {wanted}; none of the published layers is built for it "
        f"({', '.join(r.target for r in published)})",
        hint=f"build for that target too (layerkit build --python ... --arch {arch})",
    )


def _attach_in_region(
    plan: PublishPlan,
    results: list[RegionResult],
    *,
    region: str,
    lambda_client: LambdaClient,
    reporter: Reporter,
    waiting: WaitSettings,
) -> list[RegionResult]:
    published = [r for r in results if r.error is None and r.layer_arn is not None]
    functions = [f for f in plan.functions if function_region(f) in (None, region)]
    if not functions or not published or plan.dry_run:
        return results

    def slot(layer_arn: str | None) -> int:
        return next(i for i, r in enumerate(results) if r.layer_arn == layer_arn)

    finder = make_finder(lambda_client, plan.manifests)
    for function in functions:
        chosen = published[0]  # failures before a layer is chosen are reported on the first
        try:
            chosen = _choose_zip(lambda_client, function, published)
            refuse_if_managed(lambda_client, function, action="attaching a layer", force=False)
            info = _layer_info(lambda_client, chosen)
            reporter.step(f"{region}: attaching {chosen.layer_arn} to {function}")
            attached = attach_layer(
                lambda_client,
                function=function,
                layer=info,
                region=region,
                allow_downgrade=plan.allow_downgrade,
                wait=waiting,
                env_hints=_env_hints(plan, chosen),
                find_distributions=finder,
                allow_overlap=plan.allow_overlap,
            )
        except LayerkitError as error:
            index = slot(chosen.layer_arn)
            current = results[index]
            results[index] = _with(
                current,
                attach_failures=(
                    *current.attach_failures,
                    AttachFailure(function, region, error.message, error.hint),
                ),
                error=current.error or f"attach {function}: {error.message}",
                hint=current.hint or error.hint,
            )
            continue
        index = slot(chosen.layer_arn)
        results[index] = _with(results[index], attachments=(*results[index].attachments, attached))
    return results


def _env_hints(plan: PublishPlan, result: RegionResult) -> tuple[RuntimeHint, ...]:
    """What the packages of the zip behind `result` write at run time (see runtimehints)."""
    names = (
        d.name for z in plan.zips if str(z.path) == result.zip for d in z.manifest.distributions
    )
    return hints_for(names)


def _layer_info(lambda_client: LambdaClient, result: RegionResult) -> LayerVersionInfo:
    assert result.version is not None
    info = get_version(lambda_client, result.layer_name, result.version)
    if info.unzipped_bytes is None:
        # A version published by an older layerkit or by hand: the manifest knows the size.
        info = replace(info, unzipped_bytes=result.unzipped_bytes)
    return info


def _publish_region(
    plan: PublishPlan,
    region: str,
    *,
    clients: AwsClients,
    owner: str | None,
    reporter: Reporter,
    waiting: WaitSettings,
) -> list[RegionResult]:
    lambda_client = clients.client("lambda", region)
    s3_client = None if plan.settings.direct else clients.client("s3", region)
    results = [
        _publish_zip(
            plan,
            z,
            region=region,
            lambda_client=lambda_client,
            s3_client=s3_client,
            owner=owner,
            reporter=reporter,
        )
        for z in plan.zips
    ]
    return _attach_in_region(
        plan,
        results,
        region=region,
        lambda_client=lambda_client,
        reporter=reporter,
        waiting=waiting,
    )


def caller_account(clients: AwsClients, region: str) -> str:
    """The account id of the credentials in use (for ExpectedBucketOwner)."""
    with aws_call("sts:GetCallerIdentity", "the current credentials"):
        return str(clients.client("sts", region).get_caller_identity()["Account"])


def publish_layers(
    plan: PublishPlan,
    *,
    clients: AwsClients,
    reporter: Reporter,
    waiting: WaitSettings = DEFAULT_WAIT,
    max_workers: int = 8,
) -> PublishReport:
    """Publish every zip of the plan to every region (concurrently), then share and attach."""
    owner: str | None = None
    if not plan.settings.direct:
        owner = plan.settings.bucket_owner or caller_account(clients, plan.regions[0])
    # Clients are made here, in one thread: creating boto3 clients is not thread-safe.
    for region in plan.regions:
        clients.client("lambda", region)
        if not plan.settings.direct:
            clients.client("s3", region)

    def run(region: str) -> list[RegionResult]:
        return _publish_region(
            plan, region, clients=clients, owner=owner, reporter=reporter, waiting=waiting
        )

    with ThreadPoolExecutor(max_workers=min(max_workers, len(plan.regions))) as pool:
        per_region = list(pool.map(run, plan.regions))
    results = tuple(r for region_results in per_region for r in region_results)
    if plan.dry_run:
        return PublishReport(results, dry_run=True, would_attach=plan.functions)
    return PublishReport(results)


def attach_layer_to_functions(
    functions: Sequence[str],
    *,
    layer_arn: str,
    region: str | None,
    clients: AwsClients,
    reporter: Reporter,
    dry_run: bool = False,
    allow_downgrade: bool = False,
    allow_overlap: bool = False,
    known: Sequence[Manifest] = (),
    force: bool = False,
    waiting: WaitSettings = DEFAULT_WAIT,
) -> AttachReport:
    """`layerkit attach`: attach one layer version to functions in the layer's region."""
    if not layer_arn.startswith("arn:"):
        raise UsageError(
            f"--layer needs a layer version ARN; {layer_arn!r} is not one",
            hint=f"see the ARNs of its versions with `layerkit layers versions {layer_arn}`"
            if ":" not in layer_arn
            else "expected arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
        )
    parsed = parse_layer_version_arn(layer_arn)
    if region is not None and region != parsed.region:
        raise LambdaRuleError(
            f"layer {layer_arn} is in {parsed.region}; functions in {region} cannot use it",
            hint=f"publish the layer to {region} too, or drop --region",
        )
    for function in functions:
        check_function_name(function)
        where = function_region(function)
        if where is not None and where != parsed.region:
            raise LambdaRuleError(
                f"function {function} is in {where}, layer {layer_arn} in {parsed.region}",
                hint="a function can only use layers of its own region",
            )
    lambda_client = clients.client("lambda", parsed.region)
    info = get_version_by_arn(lambda_client, parsed)
    finder = make_finder(lambda_client, manifest_distributions(known))
    results, failures = _for_each_function(
        functions,
        lambda_client,
        region=parsed.region,
        reporter=reporter,
        step=f"attaching {layer_arn} to",
        action="attaching a layer",
        force=force,
        change=lambda function: attach_layer(
            lambda_client,
            function=function,
            layer=info,
            region=parsed.region,
            dry_run=dry_run,
            allow_downgrade=allow_downgrade,
            wait=waiting,
            find_distributions=finder,
            allow_overlap=allow_overlap,
        ),
    )
    return AttachReport(parsed.region, layer_arn, results, failures)


def _for_each_function(
    functions: Sequence[str],
    lambda_client: LambdaClient,
    *,
    region: str,
    reporter: Reporter,
    step: str,
    action: str,
    force: bool,
    change: Callable[[str], _Result],
) -> tuple[tuple[_Result, ...], tuple[AttachFailure, ...]]:
    """Apply `change` to each function not managed by a stack (unless `force`), one after
    another; a function that fails is collected with its error and the others go on."""
    results: list[_Result] = []
    failures: list[AttachFailure] = []
    for function in functions:
        reporter.step(f"{region}: {step} {function}")
        try:
            refuse_if_managed(lambda_client, function, action=action, force=force)
            results.append(change(function))
        except LayerkitError as error:
            failures.append(AttachFailure(function, region, error.message, error.hint))
    return tuple(results), tuple(failures)


def detach_layer_from_functions(
    functions: Sequence[str],
    *,
    layer: str,
    region: str | None,
    clients: AwsClients,
    reporter: Reporter,
    dry_run: bool = False,
    force: bool = False,
    waiting: WaitSettings = DEFAULT_WAIT,
) -> DetachReport:
    """`layerkit detach`: remove a layer (name, layer ARN or version ARN) from functions."""
    where = check_layer_ref(layer)
    if where is not None and region is not None and region != where:
        raise UsageError(
            f"layer {layer} is in {where}, not {region}", hint="drop --region or fix the ARN"
        )
    for function in functions:
        check_function_name(function)
    chosen = clients.region(where or region)
    lambda_client = clients.client("lambda", chosen)
    results, failures = _for_each_function(
        functions,
        lambda_client,
        region=chosen,
        reporter=reporter,
        step=f"detaching {layer} from",
        action="detaching a layer",
        force=force,
        change=lambda function: detach_layer(
            lambda_client,
            function=function,
            layer=layer,
            region=chosen,
            dry_run=dry_run,
            wait=waiting,
        ),
    )
    return DetachReport(chosen, layer, results, failures)
