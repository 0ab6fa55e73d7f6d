"""Lambda's documented rules as pure checks, applied before each call (the emulator checks none).

Every check raises `LambdaRuleError` naming the value, the rule and the fix. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from layerkit.errors import LambdaRuleError
from layerkit.limits import (
    DIRECT_UPLOAD_LIMIT,
    LAMBDA_ARCHITECTURES,
    MAX_COMPATIBLE_ARCHITECTURES,
    MAX_COMPATIBLE_RUNTIMES,
    MAX_DESCRIPTION_CHARS,
    MAX_FUNCTION_ARN_CHARS,
    MAX_FUNCTION_NAME_CHARS,
    MAX_LAYER_NAME_CHARS,
    MAX_LAYERS_PER_FUNCTION,
    MAX_LICENSE_CHARS,
    MAX_STATEMENT_ID_CHARS,
)

_PARTITION = r"aws[a-zA-Z-]*"
_REGION = r"[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"
_LAYER_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
_STATEMENT_ID_RE = re.compile(r"[a-zA-Z0-9_-]+")
_ORG_ID_RE = re.compile(r"o-[a-z0-9]{10,32}")
_ACCOUNT_ID_RE = re.compile(r"\d{12}")
_FUNCTION_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
_LAYER_VERSION_ARN_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITION}):lambda:(?P<region>{_REGION}):(?P<account>\d{{12}}):"
    r"layer:(?P<name>[a-zA-Z0-9_-]+):(?P<version>[0-9]+)"
)
_FUNCTION_ARN_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITION}):lambda:(?P<region>{_REGION}):(?P<account>\d{{12}}):"
    r"function:(?P<name>[a-zA-Z0-9_-]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)
_RUNTIME_RE = re.compile(r"[a-z]+[0-9.]*(\.[a-z0-9]+)*")
# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting/ending alnum.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True, order=True)
class LayerVersionArn:
    """A parsed layer version ARN: ``arn:aws:lambda:eu-west-1:123456789012:layer:deps:7``."""

    partition: str
    region: str
    account: str
    name: str
    version: int

    @property
    def layer_arn(self) -> str:
        """The ARN of the layer itself (no version)."""
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:layer:{self.name}"

    def __str__(self) -> str:
        return f"{self.layer_arn}:{self.version}"


# Regions outside the `aws` partition, by name prefix (longest first).
_REGION_PARTITIONS = (
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
    ("us-gov-", "aws-us-gov"),
    ("cn-", "aws-cn"),
)


def region_partition(region: str) -> str:
    """The partition a region belongs to (``aws`` unless its name says otherwise)."""
    return next((p for prefix, p in _REGION_PARTITIONS if region.startswith(prefix)), "aws")


def parse_layer_version_arn(value: str) -> LayerVersionArn:
    """Parse a layer version ARN (any partition); raise `LambdaRuleError` if malformed."""
    match = _LAYER_VERSION_ARN_RE.fullmatch(value.strip())
    if match is None or len(value.strip()) > 140:
        raise LambdaRuleError(
            f"{value!r} is not a layer version ARN",
            hint="expected arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION, e.g. "
            "arn:aws:lambda:eu-west-1:123456789012:layer:deps:7 "
            "(see `layerkit layers versions NAME`)",
        )
    version = int(match["version"])
    if version < 1:
        raise LambdaRuleError(
            f"{value!r}: layer versions start at 1",
            hint="see the versions with `layerkit layers versions NAME`",
        )
    expected = region_partition(match["region"])
    if match["partition"] != expected:
        raise LambdaRuleError(
            f"{value!r}: region {match['region']} is not in partition {match['partition']}",
            hint=f"layers in {match['region']} have ARNs starting arn:{expected}:lambda:",
        )
    return LayerVersionArn(
        partition=match["partition"],
        region=match["region"],
        account=match["account"],
        name=match["name"],
        version=version,
    )


def check_layer_name(name: str) -> str:
    """A layer name: 1-140 of ``[a-zA-Z0-9-_]``."""
    if not _LAYER_NAME_RE.fullmatch(name) or len(name) > MAX_LAYER_NAME_CHARS:
        raise LambdaRuleError(
            f"layer name {name!r} is not valid",
            hint=f"use 1-{MAX_LAYER_NAME_CHARS} letters, digits, '-' or '_'",
        )
    return name


def check_layer_version_number(version: int) -> int:
    if version < 1:
        raise LambdaRuleError(f"layer version {version} is not valid", hint="versions start at 1")
    return version


def function_region(function: str) -> str | None:
    """The region named by a function ARN, or None for a plain name."""
    match = _FUNCTION_ARN_RE.fullmatch(function)
    return match["region"] if match else None


def check_function_name(function: str) -> str:
    """A function name (1-64 of ``[a-zA-Z0-9-_]``) or function ARN (≤ 140 characters)."""
    if function.startswith("arn:"):
        if _FUNCTION_ARN_RE.fullmatch(function) and len(function) <= MAX_FUNCTION_ARN_CHARS:
            return function
        raise LambdaRuleError(
            f"{function!r} is not a function ARN",
            hint="expected arn:aws:lambda:REGION:ACCOUNT:function:NAME, or just the name",
        )
    if not _FUNCTION_NAME_RE.fullmatch(function) or len(function) > MAX_FUNCTION_NAME_CHARS:
        raise LambdaRuleError(
            f"function name {function!r} is not valid",
            hint=f"use 1-{MAX_FUNCTION_NAME_CHARS} letters, digits, '-' or '_', or a function ARN",
        )
    return function


def check_statement_id(statement_id: str) -> str:
    if not _STATEMENT_ID_RE.fullmatch(statement_id) or len(statement_id) > MAX_STATEMENT_ID_CHARS:
        raise LambdaRuleError(
            f"statement id {statement_id!r} is not valid",
            hint=f"use 1-{MAX_STATEMENT_ID_CHARS} letters, digits, '-' or '_'",
        )
    return statement_id


def check_account_id(account: str) -> str:
    if not _ACCOUNT_ID_RE.fullmatch(account):
        raise LambdaRuleError(
            f"account id {account!r} is not valid", hint="an AWS account id is 12 digits"
        )
    return account


def check_organization_id(org: str) -> str:
    if not _ORG_ID_RE.fullmatch(org):
        raise LambdaRuleError(
            f"organization id {org!r} is not valid",
            hint="an organization id looks like o-a1b2c3d4e5 (o- then 10-32 lowercase "
            "letters or digits); see `aws organizations describe-organization`",
        )
    return org


def check_bucket_name(bucket: str) -> str:
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise LambdaRuleError(
            f"bucket name {bucket!r} is not a valid S3 bucket name",
            hint="3-63 lowercase letters, digits, '.' or '-' (use {region} to name one "
            "bucket per region, e.g. my-artifacts-{region})",
        )
    return bucket


def check_runtimes(runtimes: Sequence[str]) -> tuple[str, ...]:
    if len(runtimes) > MAX_COMPATIBLE_RUNTIMES:
        raise LambdaRuleError(
            f"{len(runtimes)} compatible runtimes given; Lambda allows at most "
            f"{MAX_COMPATIBLE_RUNTIMES}",
            hint="list fewer runtimes",
        )
    for runtime in runtimes:
        if not _RUNTIME_RE.fullmatch(runtime):
            raise LambdaRuleError(f"{runtime!r} is not a Lambda runtime identifier")
    if len(set(runtimes)) != len(runtimes):
        raise LambdaRuleError(f"compatible runtimes repeat a value: {', '.join(runtimes)}")
    return tuple(runtimes)


def check_architectures(architectures: Sequence[str]) -> tuple[str, ...]:
    if len(architectures) > MAX_COMPATIBLE_ARCHITECTURES:
        raise LambdaRuleError(
            f"{len(architectures)} architectures given; Lambda allows at most "
            f"{MAX_COMPATIBLE_ARCHITECTURES}"
        )
    for arch in architectures:
        if arch not in LAMBDA_ARCHITECTURES:
            raise LambdaRuleError(
                f"{arch!r} is not a Lambda architecture",
                hint=f"choose from {', '.join(LAMBDA_ARCHITECTURES)}",
            )
    if len(set(architectures)) != len(architectures):
        raise LambdaRuleError(f"architectures repeat a value: {', '.join(architectures)}")
    return tuple(architectures)


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise LambdaRuleError(
            f"layer description is {len(description)} characters; Lambda allows "
            f"{MAX_DESCRIPTION_CHARS}",
            hint="shorten --description (layerkit adds about 90 characters recording the "
            "digest and unzipped size)",
        )
    return description


def check_license(license_info: str) -> str:
    if len(license_info) > MAX_LICENSE_CHARS:
        raise LambdaRuleError(
            f"licence info is {len(license_info)} characters; Lambda allows {MAX_LICENSE_CHARS}",
            hint="give an SPDX identifier or a URL to the licence text",
        )
    return license_info


def check_direct_upload_size(zipped_bytes: int) -> int:
    if zipped_bytes > DIRECT_UPLOAD_LIMIT:
        raise LambdaRuleError(
            f"the zip is {zipped_bytes:,} bytes; a direct upload allows {DIRECT_UPLOAD_LIMIT:,}",
            hint="drop --direct and give --bucket so the zip goes through S3",
        )
    return zipped_bytes


def check_layer_list(layers: Sequence[str], *, function: str) -> tuple[LayerVersionArn, ...]:
    """A function's layer list: ≤ 5 layers, valid ARNs, no two versions of one layer."""
    if len(layers) > MAX_LAYERS_PER_FUNCTION:
        raise LambdaRuleError(
            f"function {function} would have {len(layers)} layers; Lambda allows "
            f"{MAX_LAYERS_PER_FUNCTION}",
            hint="merge layers into one (layerkit builds one layer from many requirements) "
            "or detach one",
        )
    parsed = tuple(parse_layer_version_arn(arn) for arn in layers)
    seen: dict[str, LayerVersionArn] = {}
    for arn in parsed:
        if arn.layer_arn in seen:
            raise LambdaRuleError(
                f"function {function} would hold two versions of layer {arn.name} "
                f"({seen[arn.layer_arn].version} and {arn.version})",
                hint="a function may use one version of each layer",
            )
        seen[arn.layer_arn] = arn
    return parsed
