"""Published function versions: publish (without pretending), list, prune.

Lambda does not publish a new version when neither code nor configuration changed since the newest
one; it returns that version instead. The test emulator does not always behave so, and a user
must never be told that a version was created when it was not, so `publish_version` compares
``$LATEST`` with the newest published version itself (code hash, layers and the configuration a
version pins) and skips the call when nothing changed; it also treats a returned version number that
already existed as "nothing changed".
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerkit.aws.aliases import LATEST, AliasState, list_aliases
from layerkit.aws.errors import aws_call
from layerkit.aws.functions import Clock, Sleep, wait_until_updated
from layerkit.errors import LambdaRuleError, UsageError
from layerkit.limits import MAX_DESCRIPTION_CHARS

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        FunctionConfigurationTypeDef,
        PublishVersionRequestTypeDef,
    )

    from layerkit.aws.functions import FunctionConfig

# The configuration a version pins besides its code; compared to detect "nothing changed".
_PINNED_KEYS = (
    "CodeSha256",
    "PackageType",
    "Runtime",
    "Handler",
    "Role",
    "MemorySize",
    "Timeout",
    "Environment",
    "TracingConfig",
    "DeadLetterConfig",
    "KMSKeyArn",
    "Architectures",
    "EphemeralStorage",
    "FileSystemConfigs",
    "ImageConfigResponse",
    "LoggingConfig",
)


@dataclass(frozen=True)
class VersionInfo:
    """One published version (or $LATEST) and what it pinned."""

    version: str
    code_sha256: str
    layers: tuple[str, ...]
    description: str
    last_modified: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishResult:
    """The outcome of `version publish`: `created` is False when Lambda kept the newest version."""

    function: str
    version: VersionInfo
    created: bool
    message: str


@dataclass(frozen=True)
class VersionListing:
    function: str
    versions: tuple[VersionInfo, ...]


@dataclass(frozen=True)
class PruneResult:
    function: str
    keep: int
    deleted: tuple[str, ...]
    kept_newest: tuple[str, ...]
    kept_aliased: tuple[str, ...]
    dry_run: bool


def version_info(config: FunctionConfig, aliases: Iterable[AliasState] = ()) -> VersionInfo:
    version = str(config.get("Version", ""))
    pointing = tuple(
        alias.name
        for alias in aliases
        if alias.function_version == version or version in alias.additional_version_weights
    )
    return VersionInfo(
        version=version,
        code_sha256=str(config.get("CodeSha256", "")),
        layers=tuple(str(layer["Arn"]) for layer in config.get("Layers") or []),
        description=str(config.get("Description") or ""),
        last_modified=str(config.get("LastModified", "")),
        aliases=pointing,
    )


def _normalised(config: FunctionConfig) -> dict[str, object]:
    """The pinned configuration with empty values dropped (AWS omits or empties them at will)."""
    pinned: dict[str, object] = {k: config.get(k) for k in _PINNED_KEYS if config.get(k)}
    pinned["Layers"] = [layer["Arn"] for layer in config.get("Layers") or []]
    vpc = config.get("VpcConfig") or {}
    pinned["Vpc"] = (sorted(vpc.get("SubnetIds") or []), sorted(vpc.get("SecurityGroupIds") or []))
    pinned["SnapStart"] = (config.get("SnapStart") or {}).get("ApplyOn", "None")
    return pinned


def unchanged_since(latest: FunctionConfig, published: FunctionConfig) -> bool:
    """True when $LATEST pins exactly what the published version does (code, layers, config)."""
    return _normalised(latest) == _normalised(published)


def _version_number(config: FunctionConfig) -> int:
    return int(config["Version"])


def list_version_configs(
    lambda_client: LambdaClient, function: str
) -> list[FunctionConfigurationTypeDef]:
    """The configurations of the published versions, oldest first ($LATEST left out)."""
    configs: list[FunctionConfigurationTypeDef] = []
    with aws_call("ListVersionsByFunction", f"function {function}"):
        paginator = lambda_client.get_paginator("list_versions_by_function")
        for page in paginator.paginate(FunctionName=function):
            configs.extend(c for c in page.get("Versions", []) if c.get("Version") != LATEST)
    return sorted(configs, key=_version_number)


def list_versions(lambda_client: LambdaClient, function: str) -> tuple[VersionInfo, ...]:
    """Published versions, oldest first, each with the aliases that route to it."""
    aliases = list_aliases(lambda_client, function)
    return tuple(version_info(c, aliases) for c in list_version_configs(lambda_client, function))


def publish_version(
    lambda_client: LambdaClient,
    function: str,
    *,
    description: str = "",
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> PublishResult:
    """Wait out any update in progress, then publish $LATEST as a new version if it changed."""
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise LambdaRuleError(
            f"the version description is {len(description)} characters; Lambda allows "
            f"{MAX_DESCRIPTION_CHARS}",
            hint="shorten --description",
        )
    latest = wait_until_updated(lambda_client, function, sleep=sleep, clock=clock)
    published = list_version_configs(lambda_client, function)
    newest = published[-1] if published else None
    if newest is not None and unchanged_since(latest, newest):
        return PublishResult(
            function,
            version_info(newest),
            created=False,
            message=f"nothing changed since version {newest['Version']}: no new version published",
        )
    kwargs: PublishVersionRequestTypeDef = {"FunctionName": function, "Description": description}
    if latest.get("CodeSha256"):
        # Publish only the code we compared: a concurrent code update makes the call fail.
        kwargs["CodeSha256"] = latest["CodeSha256"]
    if latest.get("RevisionId"):
        kwargs["RevisionId"] = latest["RevisionId"]
    with aws_call("PublishVersion", f"function {function}"):
        response = lambda_client.publish_version(**kwargs)
    info = version_info(response)
    if newest is not None and int(info.version) <= _version_number(newest):
        return PublishResult(
            function,
            info,
            created=False,
            message=f"Lambda returned the existing version {info.version}: nothing changed "
            "since it",
        )
    return PublishResult(function, info, created=True, message=f"published version {info.version}")


def plan_prune(
    versions: Iterable[str], aliases: Iterable[AliasState], *, keep: int
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(to delete, kept as newest, kept because an alias routes to them); pure."""
    if keep < 0:
        raise UsageError(f"--keep must be 0 or more, got {keep}")
    ordered = sorted(set(versions), key=int)
    # max(): keeping more versions than exist keeps them all (a negative start would wrap).
    newest = ordered[max(len(ordered) - keep, 0) :] if keep else []
    referenced = {
        v for alias in aliases for v in (alias.function_version, *alias.additional_version_weights)
    }
    deleted = tuple(v for v in ordered if v not in newest and v not in referenced)
    aliased = tuple(v for v in ordered if v not in newest and v in referenced)
    return deleted, tuple(newest), aliased


def prune_versions(
    lambda_client: LambdaClient, function: str, *, keep: int, dry_run: bool = False
) -> PruneResult:
    """Delete published versions older than the `keep` newest that no alias routes to."""
    configs = list_version_configs(lambda_client, function)
    aliases = list_aliases(lambda_client, function)
    deleted, newest, aliased = plan_prune((str(c["Version"]) for c in configs), aliases, keep=keep)
    if not dry_run:
        for version in deleted:
            with aws_call("DeleteFunction", f"function {function}:{version}"):
                lambda_client.delete_function(FunctionName=function, Qualifier=version)
    return PruneResult(function, keep, deleted, newest, aliased, dry_run)
