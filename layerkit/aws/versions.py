"""Published function versions: the typed calls (list, publish, delete)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerkit.aws.errors import aws_call
from layerkit.release_plan import LATEST, version_number

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        FunctionConfigurationResponseTypeDef,
        FunctionConfigurationTypeDef,
        PublishVersionRequestTypeDef,
    )


def list_version_configs(
    lambda_client: LambdaClient, function: str
) -> list[FunctionConfigurationTypeDef]:
    """The configurations of the published versions, oldest first ($LATEST left out)."""
    configs: list[FunctionConfigurationTypeDef] = []
    with aws_call("ListVersionsByFunction", f"function {function}"):
        paginator = lambda_client.get_paginator("list_versions_by_function")
        for page in paginator.paginate(FunctionName=function):
            configs.extend(c for c in page.get("Versions", []) if c.get("Version") != LATEST)
    return sorted(configs, key=version_number)


def publish_function_version(
    lambda_client: LambdaClient,
    function: str,
    *,
    description: str,
    code_sha256: str | None,
    revision_id: str | None,
) -> FunctionConfigurationResponseTypeDef:
    """One PublishVersion call; `code_sha256` and `revision_id` make it fail on a concurrent
    change instead of publishing code nobody compared."""
    request: PublishVersionRequestTypeDef = {"FunctionName": function, "Description": description}
    if code_sha256:
        request["CodeSha256"] = code_sha256
    if revision_id:
        request["RevisionId"] = revision_id
    with aws_call("PublishVersion", f"function {function}"):
        return lambda_client.publish_version(**request)


def delete_function_version(lambda_client: LambdaClient, function: str, version: str) -> None:
    with aws_call("DeleteFunction", f"function {function}:{version}"):
        lambda_client.delete_function(FunctionName=function, Qualifier=version)
