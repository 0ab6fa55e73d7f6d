"""Lambda layer versions: publish (idempotently), list, delete, prune, grant and revoke.

Every function takes a Lambda client, checks Lambda's rules first and returns small dataclasses.
The description of each version layerkit publishes records the zip's digest and unzipped size
(``layerkit sha256=<hex> unzipped=<bytes>``) because Lambda's API only reports zipped sizes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import ClientError

from layerkit.aws.errors import aws_call, translate
from layerkit.aws.functions import Sleep, layer_users
from layerkit.aws.rules import (
    LayerVersionArn,
    check_account_id,
    check_architectures,
    check_description,
    check_layer_name,
    check_layer_version_number,
    check_license,
    check_organization_id,
    check_runtimes,
    check_statement_id,
)
from layerkit.errors import AwsError, UsageError

if TYPE_CHECKING:
    from botocore.awsrequest import AWSResponse
    from botocore.model import OperationModel
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.literals import ArchitectureType, RuntimeType
    from mypy_boto3_lambda.type_defs import (
        AddLayerVersionPermissionRequestTypeDef,
        GetLayerVersionResponseTypeDef,
        LayerVersionContentInputTypeDef,
        LayerVersionContentOutputTypeDef,
        LayerVersionsListItemTypeDef,
        PublishLayerVersionRequestTypeDef,
        PublishLayerVersionResponseTypeDef,
    )

_RECORD_RE = re.compile(r"layerkit sha256=(?P<sha>[0-9a-f]{64}) unzipped=(?P<size>\d+)")

PublishOutcome = Literal["published", "unchanged"]
GrantOutcome = Literal["granted", "unchanged"]
RevokeOutcome = Literal["revoked", "absent"]
PrincipalKind = Literal["account", "org", "public"]


@dataclass(frozen=True)
class LayerVersionInfo:
    """One layer version as Lambda reports it, plus what layerkit recorded in its description.

    `code_sha256` and `code_size` are None when the version came from a listing (ListLayerVersions
    does not report them); `recorded_sha256`/`unzipped_bytes` are None when layerkit did not
    publish the version.
    """

    arn: str
    name: str
    version: int
    description: str
    created: str
    runtimes: tuple[str, ...]
    architectures: tuple[str, ...]
    license: str
    code_sha256: str | None = None
    code_size: int | None = None
    recorded_sha256: str | None = None
    unzipped_bytes: int | None = None


@dataclass(frozen=True)
class LayerSummary:
    name: str
    layer_arn: str
    latest: LayerVersionInfo | None


@dataclass(frozen=True)
class LayerContent:
    """Where the zip comes from: an S3 object, or the bytes themselves (≤ 50 MB)."""

    s3_bucket: str | None = None
    s3_key: str | None = None
    zip_bytes: bytes | None = None

    def as_request(self) -> LayerVersionContentInputTypeDef:
        if self.zip_bytes is not None:
            return {"ZipFile": self.zip_bytes}
        assert self.s3_bucket is not None and self.s3_key is not None
        return {"S3Bucket": self.s3_bucket, "S3Key": self.s3_key}


@dataclass(frozen=True)
class PublishRequest:
    layer_name: str
    content: LayerContent
    code_sha256: str  # base64, as Lambda reports it
    runtimes: tuple[str, ...]
    architectures: tuple[str, ...]
    description: str
    license: str | None = None


@dataclass(frozen=True)
class LayerPublishResult:
    outcome: PublishOutcome
    version: LayerVersionInfo


@dataclass(frozen=True)
class Principal:
    """Who may use a layer version: an account, an organization, or everyone."""

    kind: PrincipalKind
    value: str = ""

    @property
    def statement_id(self) -> str:
        """A deterministic statement id, so granting twice is a no-op and revoke finds it."""
        if self.kind == "public":
            return "layerkit-public"
        return check_statement_id(f"layerkit-{self.kind}-{self.value}")

    def __str__(self) -> str:
        return "everyone (public)" if self.kind == "public" else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class GrantResult:
    principal: Principal
    statement_id: str
    outcome: GrantOutcome | RevokeOutcome


@dataclass(frozen=True)
class PrunePlan:
    """Which versions a prune deletes, keeps, and keeps only because functions use them."""

    delete: tuple[int, ...]
    keep: tuple[int, ...]
    in_use: Mapping[int, tuple[str, ...]]  # version -> functions using it (kept unless forced)


def account_principal(account: str) -> Principal:
    if account.strip() == "*":
        # Public sharing must be asked for by name, never slip in as an account id.
        raise UsageError(
            "'*' as an account would make the layer version public",
            hint="pass --public (and only that) to share with every AWS account",
        )
    return Principal("account", check_account_id(account))


def org_principal(org: str) -> Principal:
    return Principal("org", check_organization_id(org))


PUBLIC = Principal("public")


def principals(accounts: Sequence[str], org: str | None, *, public: bool) -> tuple[Principal, ...]:
    """Who to share with: accounts, an organization, and everyone only when `public` says so."""
    chosen = [account_principal(a) for a in accounts]
    if org:
        chosen.append(org_principal(org))
    if public:
        chosen.append(PUBLIC)
    return tuple(chosen)


def layer_description(user_text: str | None, *, sha256_hex: str, unzipped_bytes: int) -> str:
    """The version's description: the user's text, then the record layerkit reads back."""
    record = f"layerkit sha256={sha256_hex} unzipped={unzipped_bytes}"
    text = f"{user_text.strip()} | {record}" if user_text and user_text.strip() else record
    return check_description(text)


def parse_recorded(description: str) -> tuple[str | None, int | None]:
    """(sha256 hex, unzipped bytes) recorded by layerkit in a description, or (None, None)."""
    match = _RECORD_RE.search(description)
    if match is None:
        return None, None
    return match["sha"], int(match["size"])


def _info(
    name: str,
    item: GetLayerVersionResponseTypeDef
    | PublishLayerVersionResponseTypeDef
    | LayerVersionsListItemTypeDef,
    content: LayerVersionContentOutputTypeDef | None,
) -> LayerVersionInfo:
    """A layer version as Lambda describes it; a listing's items carry no `content` (digest)."""
    description = str(item.get("Description", ""))
    recorded_sha, unzipped = parse_recorded(description)
    created = item.get("CreatedDate", "")
    return LayerVersionInfo(
        arn=str(item["LayerVersionArn"]),
        name=name,
        version=int(item["Version"]),
        description=description,
        created=str(created),
        runtimes=tuple(item.get("CompatibleRuntimes", ())),
        architectures=tuple(item.get("CompatibleArchitectures", ())),
        license=str(item.get("LicenseInfo", "") or ""),
        code_sha256=content.get("CodeSha256") if content else None,
        code_size=content.get("CodeSize") if content else None,
        recorded_sha256=recorded_sha,
        unzipped_bytes=unzipped,
    )


def get_version(client: LambdaClient, name: str, version: int) -> LayerVersionInfo:
    """One layer version with its digest (GetLayerVersion)."""
    check_layer_name(name)
    check_layer_version_number(version)
    with aws_call("GetLayerVersion", f"layer {name} version {version}"):
        answer = client.get_layer_version(LayerName=name, VersionNumber=version)
    return _info(name, answer, answer.get("Content"))


def get_version_by_arn(client: LambdaClient, arn: LayerVersionArn) -> LayerVersionInfo:
    """A layer version by ARN, also another account's shared layer.

    GetLayerVersion accepts the layer's ARN as its name (GetLayerVersionByArn would do too, but
    the test emulator fails on it).
    """
    with aws_call("GetLayerVersion", f"layer version {arn}"):
        answer = client.get_layer_version(LayerName=arn.layer_arn, VersionNumber=arn.version)
    return _info(arn.name, answer, answer.get("Content"))


def list_layer_versions(client: LambdaClient, name: str) -> tuple[LayerVersionInfo, ...]:
    """Every version of a layer, newest first (empty if the layer does not exist)."""
    check_layer_name(name)
    versions: list[LayerVersionInfo] = []
    with aws_call("ListLayerVersions", f"layer {name}"):
        for page in client.get_paginator("list_layer_versions").paginate(LayerName=name):
            versions.extend(_info(name, item, None) for item in page.get("LayerVersions", []))
    return tuple(sorted(versions, key=lambda v: v.version, reverse=True))


def latest_version(client: LambdaClient, name: str) -> LayerVersionInfo | None:
    """The newest version of a layer with its CodeSha256, or None if there is none."""
    check_layer_name(name)
    with aws_call("ListLayerVersions", f"layer {name}"):
        answer = client.list_layer_versions(LayerName=name, MaxItems=1)
    items = answer.get("LayerVersions", [])
    if not items:
        return None
    return get_version(client, name, int(items[0]["Version"]))


def list_layers(client: LambdaClient) -> tuple[LayerSummary, ...]:
    """Every layer of the account in the client's region, with its latest version."""
    layers: list[LayerSummary] = []
    with aws_call("ListLayers", "the account's layers"):
        for page in client.get_paginator("list_layers").paginate():
            for item in page.get("Layers", []):
                name = str(item["LayerName"])
                latest = item.get("LatestMatchingVersion")
                info = _info(name, latest, None) if latest else None
                layers.append(LayerSummary(name, str(item["LayerArn"]), info))
    return tuple(sorted(layers, key=lambda layer: layer.name))


class _AttemptLost(Exception):
    """A PublishLayerVersion attempt whose outcome is unknown (connection lost, 5xx, throttled)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


_THROTTLING = ("TooManyRequestsException", "ThrottlingException", "Throttling")
_PUBLISH_RETRY_EVENT = "needs-retry.lambda.PublishLayerVersion"


def _no_blind_retry(
    response: tuple[AWSResponse, Mapping[str, Any]] | None,
    caught_exception: Exception | None,
    operation: OperationModel,
    **kwargs: Any,
) -> None:
    """Stop botocore from re-sending PublishLayerVersion: a retry after a lost response would
    publish a second version. `publish` checks the latest version and retries itself."""
    if caught_exception is not None:
        raise _AttemptLost(caught_exception)
    if response is None:
        return
    http, parsed = response
    code = str(parsed.get("Error", {}).get("Code", ""))
    if http.status_code >= 500 or http.status_code == 429 or code in _THROTTLING:
        raise _AttemptLost(ClientError(dict(parsed), operation.name))  # type: ignore[arg-type]


def publish(
    client: LambdaClient,
    request: PublishRequest,
    *,
    attempts: int = 4,
    sleep: Sleep = time.sleep,
) -> LayerPublishResult:
    """Publish a version unless the latest one already holds the same bytes (`CodeSha256`).

    PublishLayerVersion has no idempotency token, so botocore's blind retry is switched off for
    it: after an attempt with an unknown outcome layerkit looks at the latest version first and
    publishes again only if the bytes are not there. The same check makes a re-run after a crash
    report the existing version instead of creating a duplicate.
    """
    check_layer_name(request.layer_name)
    check_runtimes(request.runtimes)
    check_architectures(request.architectures)
    check_description(request.description)
    if request.license is not None:
        check_license(request.license)
    client.meta.events.register(
        _PUBLISH_RETRY_EVENT, _no_blind_retry, unique_id="layerkit-publish-no-blind-retry"
    )
    params: PublishLayerVersionRequestTypeDef = {
        "LayerName": request.layer_name,
        "Content": request.content.as_request(),
        # check_runtimes and check_architectures (above) admitted only names Lambda knows.
        "CompatibleRuntimes": cast("list[RuntimeType]", list(request.runtimes)),
        "CompatibleArchitectures": cast("list[ArchitectureType]", list(request.architectures)),
        "Description": request.description,
    }
    if request.license:
        params["LicenseInfo"] = request.license
    resource = f"layer {request.layer_name}"
    lost: _AttemptLost | None = None
    for attempt in range(attempts):
        latest = latest_version(client, request.layer_name)
        if latest is not None and latest.code_sha256 == request.code_sha256:
            # After a lost attempt, the version there is the one that attempt published.
            return LayerPublishResult("published" if lost else "unchanged", latest)
        if lost is not None:
            sleep(min(0.5 * 2**attempt, 8.0))
        try:
            with aws_call("PublishLayerVersion", resource):
                answer = client.publish_layer_version(**params)
        except _AttemptLost as error:
            lost = error
            continue
        info = _info(request.layer_name, answer, answer.get("Content"))
        if info.code_sha256 != request.code_sha256:
            raise AwsError(
                f"Lambda stored layer {info.arn} with CodeSha256 {info.code_sha256}, but the "
                f"zip's is {request.code_sha256}",
                hint="the S3 object changed between upload and publish; re-run, and delete "
                f"version {info.version} (`layerkit layers delete {info.name} {info.version}`)",
            )
        return LayerPublishResult("published", info)
    assert lost is not None
    failure = translate(lost.cause, operation="PublishLayerVersion", resource=resource)
    raise AwsError(
        f"{failure.message} (after {attempts} attempts, each checked for a published version "
        "first)",
        hint=failure.hint,
        code=failure.code,
    ) from lost.cause


def delete_version(client: LambdaClient, name: str, version: int) -> None:
    """Delete one layer version (functions using it keep working; no new function can add it)."""
    check_layer_name(name)
    check_layer_version_number(version)
    with aws_call("DeleteLayerVersion", f"layer {name} version {version}"):
        client.delete_layer_version(LayerName=name, VersionNumber=version)


def version_users(client: LambdaClient, name: str, version: int) -> tuple[str, ...]:
    """The functions (``name:version``, every published version too) using a layer version."""
    arn = get_version(client, name, version).arn
    return layer_users(client).get(arn, ())


def delete_checked(
    client: LambdaClient, name: str, version: int, *, force: bool, dry_run: bool
) -> tuple[str, ...]:
    """Delete a layer version unless a function still uses it (`force` deletes it anyway);
    return its users. Nothing is deleted with `dry_run`."""
    users = version_users(client, name, version)
    if users and not force:
        raise UsageError(
            f"layer {name} version {version} is used by {', '.join(users)}",
            hint="detach it first (layerkit detach FUNCTION --layer NAME), or pass --force: "
            "functions already using it keep working, but none can add it again",
        )
    if not dry_run:
        delete_version(client, name, version)
    return users


def plan_layer_prune(
    versions: Sequence[int],
    *,
    keep: int,
    in_use: Mapping[int, tuple[str, ...]],
    force: bool,
) -> PrunePlan:
    """Keep the newest `keep` versions; delete the rest except those functions still use."""
    if keep < 1:
        raise UsageError(
            "--keep must be at least 1",
            hint="to remove a layer entirely, delete each version with `layerkit layers delete`",
        )
    ordered = sorted(set(versions), reverse=True)
    kept, candidates = ordered[:keep], ordered[keep:]
    protected = {v: in_use[v] for v in candidates if in_use.get(v) and not force}
    delete = tuple(v for v in candidates if v not in protected)
    return PrunePlan(delete=delete, keep=tuple(kept), in_use=protected)


def _policy_statement_ids(client: LambdaClient, name: str, version: int) -> set[str]:
    try:
        with aws_call("GetLayerVersionPolicy", f"layer {name}"):
            answer = client.get_layer_version_policy(LayerName=name, VersionNumber=version)
    except AwsError as error:
        if error.code == "ResourceNotFoundException":
            # No policy yet, or no such version: the latter surfaces on the next call.
            return set()
        raise
    policy = json.loads(answer.get("Policy") or "{}")
    return {str(s.get("Sid", "")) for s in policy.get("Statement", [])}


def grant(
    client: LambdaClient, name: str, version: int, principals: Sequence[Principal]
) -> tuple[GrantResult, ...]:
    """Allow principals to use a layer version; a statement that already exists is left alone."""
    check_layer_name(name)
    check_layer_version_number(version)
    existing = _policy_statement_ids(client, name, version)
    results: list[GrantResult] = []
    for principal in principals:
        sid = principal.statement_id
        if sid in existing:
            results.append(GrantResult(principal, sid, "unchanged"))
            continue
        params: AddLayerVersionPermissionRequestTypeDef = {
            "LayerName": name,
            "VersionNumber": version,
            "StatementId": sid,
            "Action": "lambda:GetLayerVersion",
            "Principal": principal.value if principal.kind == "account" else "*",
        }
        if principal.kind == "org":
            params["OrganizationId"] = principal.value
        try:
            with aws_call("AddLayerVersionPermission", f"layer {name}:{version}"):
                client.add_layer_version_permission(**params)
        except AwsError as error:
            # A concurrent run added the same statement id between our read and write.
            if error.code != "ResourceConflictException":
                raise
            results.append(GrantResult(principal, sid, "unchanged"))
            continue
        existing.add(sid)
        results.append(GrantResult(principal, sid, "granted"))
    return tuple(results)


def revoke(
    client: LambdaClient, name: str, version: int, principals: Sequence[Principal]
) -> tuple[GrantResult, ...]:
    """Remove the statements layerkit added for these principals (absent ones are fine)."""
    check_layer_name(name)
    check_layer_version_number(version)
    existing = _policy_statement_ids(client, name, version)
    results: list[GrantResult] = []
    for principal in principals:
        sid = principal.statement_id
        if sid not in existing:
            results.append(GrantResult(principal, sid, "absent"))
            continue
        with aws_call("RemoveLayerVersionPermission", f"layer {name}:{version} statement {sid}"):
            client.remove_layer_version_permission(
                LayerName=name, VersionNumber=version, StatementId=sid
            )
        results.append(GrantResult(principal, sid, "revoked"))
    return tuple(results)


@dataclass(frozen=True)
class LayerPruneResult:
    name: str
    deleted: tuple[int, ...]
    kept: tuple[int, ...]
    in_use: Mapping[int, tuple[str, ...]]
    dry_run: bool


def prune(
    client: LambdaClient, name: str, *, keep: int, force: bool, dry_run: bool
) -> LayerPruneResult:
    """Delete all but the newest `keep` versions, sparing versions a function still uses.

    "Uses" covers every function version in the client's region (published versions keep their
    layers forever), not only ``$LATEST``. With `force` those are deleted too.
    """
    versions = list_layer_versions(client, name)
    by_arn = {v.arn: v.version for v in versions}
    in_use: dict[int, tuple[str, ...]] = {}
    for arn, users in layer_users(client).items():
        if arn in by_arn:
            in_use[by_arn[arn]] = users
    plan = plan_layer_prune([v.version for v in versions], keep=keep, in_use=in_use, force=force)
    if not dry_run:
        for version in plan.delete:
            delete_version(client, name, version)
    return LayerPruneResult(name, plan.delete, plan.keep, plan.in_use, dry_run)
