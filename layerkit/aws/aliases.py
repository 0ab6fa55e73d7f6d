"""Lambda aliases: the typed calls, with the rules that need AWS reads checked before each write.

Every update sends the alias's ``RevisionId`` so a concurrent change makes Lambda answer 412 instead
of being overwritten. What an alias holds and the rules that need no call are in
`layerkit.release_plan`; update, promote, rollback and shift are in `layerkit.releasing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerkit.aws.errors import aws_call
from layerkit.aws.functions import get_configuration
from layerkit.errors import AwsError, LambdaRuleError, UsageError
from layerkit.release_plan import (
    AliasState,
    AliasTarget,
    compose_description,
    validate_alias_name,
    validate_target,
)

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        AliasConfigurationResponseTypeDef,
        AliasConfigurationTypeDef,
        CreateAliasRequestTypeDef,
        FunctionConfigurationResponseTypeDef,
        UpdateAliasRequestTypeDef,
    )

    from layerkit.release_plan import FunctionConfig


def alias_state_from_response(
    response: AliasConfigurationResponseTypeDef | AliasConfigurationTypeDef,
) -> AliasState:
    """Build an `AliasState` from a GetAlias / CreateAlias / UpdateAlias / ListAliases item."""
    weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasState(
        name=str(response["Name"]),
        function_version=str(response["FunctionVersion"]),
        additional_version_weights={str(k): float(v) for k, v in weights.items()},
        description=str(response.get("Description") or ""),
        revision_id=str(response.get("RevisionId") or ""),
        arn=str(response.get("AliasArn") or ""),
    )


def _version_configuration(
    lambda_client: LambdaClient, function: str, version: str
) -> FunctionConfigurationResponseTypeDef:
    try:
        return get_configuration(lambda_client, function, version)
    except AwsError as error:
        if error.code == "ResourceNotFoundException":
            raise LambdaRuleError(
                f"version {version} of function {function} does not exist",
                hint=f"see the published versions with `layerkit version list {function}`",
                code=error.code,
            ) from error
        raise


def _dead_letter(config: FunctionConfig) -> str:
    return str((config.get("DeadLetterConfig") or {}).get("TargetArn") or "")


def check_target_versions(lambda_client: LambdaClient, function: str, target: AliasTarget) -> None:
    """The versions exist; with routing, both share the execution role and dead-letter config."""
    validate_target(target)
    primary = _version_configuration(lambda_client, function, target.function_version)
    routed = target.routed
    if routed is None:
        return
    extra = _version_configuration(lambda_client, function, routed[0])
    a, b = target.function_version, routed[0]
    if primary.get("Role") != extra.get("Role"):
        raise LambdaRuleError(
            f"versions {a} and {b} of {function} have different execution roles "
            f"({a}: {primary.get('Role')}, {b}: {extra.get('Role')}); Lambda routes an alias "
            "only between versions with the same role",
            hint=f"publish a version with the role of {a}, or point the alias to one version",
        )
    if _dead_letter(primary) != _dead_letter(extra):
        raise LambdaRuleError(
            f"versions {a} and {b} of {function} have different dead-letter configs "
            f"({a}: {_dead_letter(primary) or 'none'}, {b}: {_dead_letter(extra) or 'none'}); "
            "Lambda routes an alias only between versions with the same dead-letter config",
            hint=f"publish a version with the dead-letter config of {a}, or point the alias "
            "to one version",
        )


def get_alias(lambda_client: LambdaClient, function: str, name: str) -> AliasState:
    with aws_call("GetAlias", f"alias {function}:{name}"):
        response = lambda_client.get_alias(FunctionName=function, Name=name)
    return alias_state_from_response(response)


def list_aliases(lambda_client: LambdaClient, function: str) -> tuple[AliasState, ...]:
    aliases: list[AliasState] = []
    with aws_call("ListAliases", f"function {function}"):
        for page in lambda_client.get_paginator("list_aliases").paginate(FunctionName=function):
            aliases.extend(alias_state_from_response(item) for item in page.get("Aliases", []))
    return tuple(sorted(aliases, key=lambda alias: alias.name))


def create_alias(
    lambda_client: LambdaClient,
    function: str,
    name: str,
    target: AliasTarget,
    *,
    description: str = "",
    dry_run: bool = False,
) -> AliasState:
    """Create an alias after checking every rule; with `dry_run` return what would be created."""
    validate_alias_name(name)
    text = compose_description(description, None)
    check_target_versions(lambda_client, function, target)
    if dry_run:
        return AliasState(
            name, target.function_version, target.additional_version_weights, text, ""
        )
    kwargs: CreateAliasRequestTypeDef = {
        "FunctionName": function,
        "Name": name,
        "FunctionVersion": target.function_version,
        "Description": text,
        # Always explicit, so the alias reads the same before and after routing is cleared.
        "RoutingConfig": {"AdditionalVersionWeights": dict(target.additional_version_weights)},
    }
    try:
        with aws_call("CreateAlias", f"alias {function}:{name}"):
            response = lambda_client.create_alias(**kwargs)
    except AwsError as error:
        # AWS answers ResourceConflictException, the emulator ConflictException.
        if error.code not in ("ResourceConflictException", "ConflictException"):
            raise
        raise UsageError(
            f"alias {function}:{name} already exists",
            hint=f"change it with `layerkit alias update {function} {name} --version "
            f"{target.function_version}`",
        ) from error
    return alias_state_from_response(response)


def write_alias(
    lambda_client: LambdaClient,
    function: str,
    current: AliasState,
    target: AliasTarget,
    description: str,
) -> AliasState:
    """One UpdateAlias call setting version, routing (cleared when empty) and description.

    Sends ``current.revision_id`` so that a change made meanwhile by someone else fails with 412
    instead of being overwritten. Checks nothing: callers validate first.
    """
    kwargs: UpdateAliasRequestTypeDef = {
        "FunctionName": function,
        "Name": current.name,
        "FunctionVersion": target.function_version,
        "RoutingConfig": {"AdditionalVersionWeights": dict(target.additional_version_weights)},
        "Description": description,
    }
    if current.revision_id:
        kwargs["RevisionId"] = current.revision_id
    with aws_call("UpdateAlias", f"alias {function}:{current.name}"):
        response = lambda_client.update_alias(**kwargs)
    return alias_state_from_response(response)


def delete_alias(lambda_client: LambdaClient, function: str, name: str) -> None:
    with aws_call("DeleteAlias", f"alias {function}:{name}"):
        lambda_client.delete_alias(FunctionName=function, Name=name)
