"""One translation of botocore errors into layerkit errors that say where, what and how to fix."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from layerkit.errors import AwsError

_HINTS: dict[str, str] = {
    "AccessDenied": "the caller lacks permission for {operation}: grant it in the IAM policy "
    "of the role or user you run layerkit with",
    "AccessDeniedException": "the caller lacks permission for {operation}: grant "
    "lambda:{operation} in the IAM policy of the role or user you run layerkit with",
    "ResourceNotFoundException": "check that {resource} exists in this account and region "
    "(--region / AWS_REGION)",
    "NoSuchBucket": "check the bucket name, and that it exists in this account and region",
    "NoSuchKey": "the object is gone; re-run the upload",
    "TooManyRequestsException": "Lambda throttled the calls even after retries; wait a minute "
    "and re-run, or run fewer regions at once",
    "ThrottlingException": "AWS throttled the calls even after retries; wait and re-run",
    "ResourceConflictException": "another update of {resource} is in progress or conflicts; "
    "wait for it to finish and re-run",
    "PreconditionFailedException": "{resource} was changed by someone else meanwhile; re-run to "
    "apply on top of their change",
    "InvalidParameterValueException": "AWS rejected a parameter of {operation}; see the message",
    "CodeStorageExceededException": "the region's 75 GB code storage is full: prune old layer "
    "and function versions (layerkit layers prune)",
    "ServiceException": "AWS had an internal error; re-run later",
    "ExpiredToken": "your AWS session token expired: refresh your credentials",
    "ExpiredTokenException": "your AWS session token expired: refresh your credentials",
    "UnrecognizedClientException": "the credentials are not valid for this account/region",
    "InvalidClientTokenId": "the credentials are not valid for this account/region",
    "PermanentRedirect": "the bucket is in another region: use a bucket in the region you "
    "publish to",
    "AuthorizationHeaderMalformed": "the bucket is in another region: use a bucket in the "
    "region you publish to",
}

_DEFAULT_HINT = "see the AWS message above; re-run with --debug for details"


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ('' when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def translate(exc: Exception, *, operation: str, resource: str) -> AwsError:
    """Turn a botocore exception into an `AwsError` naming the operation and the resource."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        aws_message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        hint = _HINTS.get(code, _DEFAULT_HINT).format(operation=operation, resource=resource)
        return AwsError(
            f"{operation} on {resource} failed: {code}: {aws_message}", hint=hint, code=code
        )
    if isinstance(exc, NoCredentialsError):
        return AwsError(
            f"{operation} on {resource}: no AWS credentials found",
            hint="configure credentials (AWS_PROFILE, environment variables, SSO or an "
            "instance/OIDC role)",
        )
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return AwsError(
            f"{operation} on {resource}: could not reach AWS ({type(exc).__name__})",
            hint="check the network, the region and AWS_ENDPOINT_URL; layerkit already retried",
        )
    return AwsError(f"{operation} on {resource} failed: {exc}", hint=_DEFAULT_HINT)


@contextmanager
def aws_call(operation: str, resource: str) -> Iterator[None]:
    """Wrap one AWS call so its failure surfaces as an `AwsError` (cause chained)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation=operation, resource=resource) from exc
