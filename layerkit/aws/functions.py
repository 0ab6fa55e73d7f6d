"""Lambda functions: reading their configuration and waiting out updates in progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from layerkit.aws.errors import aws_call
from layerkit.errors import AwsError, LambdaRuleError

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import FunctionConfigurationResponseTypeDef

Sleep = Callable[[float], None]
Clock = Callable[[], float]

# Lambda's own function_updated_v2 waiter polls every second for up to 300 s.
DEFAULT_UPDATE_TIMEOUT_S = 300.0
DEFAULT_POLL_S = 1.0


def get_configuration(
    lambda_client: LambdaClient, function_name: str, qualifier: str | None = None
) -> FunctionConfigurationResponseTypeDef:
    """The function's configuration (``GetFunctionConfiguration``), errors translated."""
    label = function_name if qualifier is None else f"{function_name}:{qualifier}"
    with aws_call("GetFunctionConfiguration", f"function {label}"):
        if qualifier is None:
            return lambda_client.get_function_configuration(FunctionName=function_name)
        return lambda_client.get_function_configuration(
            FunctionName=function_name, Qualifier=qualifier
        )


def wait_until_updated(
    lambda_client: LambdaClient,
    function_name: str,
    *,
    timeout_s: float = DEFAULT_UPDATE_TIMEOUT_S,
    poll_s: float = DEFAULT_POLL_S,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> FunctionConfigurationResponseTypeDef:
    """Wait until no update of the function is in progress; return its fresh configuration.

    Raises `AwsError` if the last update failed or if it is still in progress after `timeout_s`.
    The returned configuration carries the current ``RevisionId`` (it changes when an update
    completes, so callers re-read it here rather than reuse an older one).
    """
    deadline = clock() + timeout_s
    while True:
        config = get_configuration(lambda_client, function_name)
        status = config.get("LastUpdateStatus", "Successful")
        state = config.get("State", "Active")
        if status == "Failed":
            reason = config.get("LastUpdateStatusReason", "no reason given")
            raise AwsError(
                f"the last update of function {function_name} failed: {reason}",
                hint="fix the cause shown by `aws lambda get-function-configuration`, then re-run",
            )
        if status != "InProgress" and state != "Pending":
            return config
        if clock() >= deadline:
            raise AwsError(
                f"function {function_name} is still updating after {timeout_s:.0f}s "
                "(LastUpdateStatus=InProgress); nothing was changed",
                hint="wait for the running update to finish, then re-run",
            )
        sleep(poll_s)


def layer_users(lambda_client: LambdaClient) -> dict[str, tuple[str, ...]]:
    """Layer version ARN -> the functions (``name:version``) in this region that use it.

    Lists every function version (``FunctionVersion=ALL``): a published version keeps its layers.
    """
    users: dict[str, list[str]] = {}
    with aws_call("ListFunctions", "the account's functions"):
        pages = lambda_client.get_paginator("list_functions").paginate(FunctionVersion="ALL")
        for page in pages:
            for function in page.get("Functions", []):
                label = f"{function['FunctionName']}:{function.get('Version', '$LATEST')}"
                for layer in function.get("Layers", []):
                    users.setdefault(str(layer["Arn"]), []).append(label)
    return {arn: tuple(sorted(labels)) for arn, labels in users.items()}


# Tags AWS puts on the functions that a CloudFormation stack (and SAM, built on it) manages.
STACK_TAG = "aws:cloudformation:stack-name"
SAM_TAG = "lambda:createdBy"


def managed_by(lambda_client: LambdaClient, function_name: str) -> str | None:
    """Who manages the function's configuration, from its tags (None: nobody we know of).

    GetFunction returns the tags (moto too); without `lambda:ListTags` permission AWS leaves them
    out, and the function counts as unmanaged.
    """
    with aws_call("GetFunction", f"function {function_name}"):
        answer = lambda_client.get_function(FunctionName=function_name)
    tags = answer.get("Tags") or {}
    if tags.get(STACK_TAG):
        return f"CloudFormation stack {tags[STACK_TAG]}"
    if tags.get(SAM_TAG):
        return f"{tags[SAM_TAG]} (tag {SAM_TAG})"
    return None


def refuse_if_managed(
    lambda_client: LambdaClient, function_name: str, *, action: str, force: bool
) -> None:
    """Refuse to change a stack-managed function: the next stack update would undo it."""
    if force:
        return
    owner = managed_by(lambda_client, function_name)
    if owner is not None:
        raise LambdaRuleError(
            f"function {function_name} is managed by {owner}: {action} here would be reverted "
            "by the next stack update",
            hint="make the change in the stack's template and deploy the stack, or pass "
            "--force to do it here anyway",
        )
