"""Fixtures for the version/alias/shift tests: functions, versions and alarms made in moto.

Set-up goes through boto3 directly (pointed at the moto server); the code under test receives
the same clients.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from tests.aws_support import aws

if TYPE_CHECKING:
    from botocore.exceptions import _ClientErrorResponseTypeDef
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.literals import StateValueType
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def code_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    return buffer.getvalue()


def raw_alias(lam: LambdaClient, function: str, name: str) -> str:
    """GetAlias as the bytes a user would compare (ResponseMetadata dropped)."""
    response = cast("dict[str, Any]", lam.get_alias(FunctionName=function, Name=name))
    response.pop("ResponseMetadata", None)
    return json.dumps(response, sort_keys=True)


@dataclass
class LambdaWorld:
    """boto3 clients on the moto server plus helpers to make what the tests need."""

    env: dict[str, str]
    lam: LambdaClient
    cloudwatch: CloudWatchClient
    iam: IAMClient

    def role(self, name: str = "layerkit-test-role") -> str:
        try:
            return str(self.iam.get_role(RoleName=name)["Role"]["Arn"])
        except ClientError:
            created = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=ROLE_POLICY)
            return str(created["Role"]["Arn"])

    def function(self, name: str = "my-fn", source: str = "x = 0") -> str:
        self.lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role(),
            Handler="handler.handler",
            Code={"ZipFile": code_zip(source)},
        )
        return name

    def new_code(self, function: str, source: str) -> None:
        self.lam.update_function_code(FunctionName=function, ZipFile=code_zip(source))

    def publish(self, function: str, source: str) -> str:
        """Change the code and publish: the new version's number."""
        self.new_code(function, source)
        return str(self.lam.publish_version(FunctionName=function)["Version"])

    def function_with_versions(self, name: str = "my-fn", count: int = 3) -> list[str]:
        """A function with `count` published versions ("1".."count")."""
        self.function(name)
        return [self.publish(name, f"x = {i}") for i in range(1, count + 1)]

    def alarm(self, name: str = "my-fn-errors", state: str = "OK") -> str:
        self.cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        self.set_alarm(name, state)
        return name

    def set_alarm(self, name: str, state: str) -> None:
        self.cloudwatch.set_alarm_state(
            AlarmName=name, StateValue=cast("StateValueType", state), StateReason="test"
        )

    def raw_alias(self, function: str, name: str) -> str:
        return raw_alias(self.lam, function, name)

    def recording(self) -> RecordingClient:
        """The Lambda client wrapped to record calls and inject failures."""
        return RecordingClient(self.lam)


@pytest.fixture
def world(aws_env: dict[str, str]) -> LambdaWorld:
    return LambdaWorld(
        aws_env,
        aws(aws_env, "lambda", "us-east-1"),
        aws(aws_env, "cloudwatch", "us-east-1"),
        aws(aws_env, "iam", "us-east-1"),
    )


class FakeTime:
    """An injectable clock, sleep and wall clock; `on_sleep` runs inside each sleep."""

    def __init__(self) -> None:
        self.monotonic = 0.0
        self.slept: list[float] = []
        self.on_sleep: Callable[[FakeTime], None] = lambda _: None
        self.start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    def clock(self) -> float:
        return self.monotonic

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.monotonic += seconds
        self.on_sleep(self)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


if TYPE_CHECKING:
    # The wrapper forwards every operation to a real Lambda client, so it is one to the type checker.
    _LambdaClientShape = LambdaClient
else:
    _LambdaClientShape = object


class RecordingClient(_LambdaClientShape):
    """Wraps a real client: records calls, and can make a named operation fail."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, Callable[[int], ClientError | None]] = {}

    def fail(self, operation: str, when: Callable[[int], ClientError | None]) -> None:
        """Make the n-th call (1-based) of `operation` raise what `when(n)` returns."""
        self.failures[operation] = when

    @staticmethod
    def error(code: str, status: int, operation: str, message: str = "") -> ClientError:
        return client_error(code, status, operation, message)

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name.startswith("get_paginator"):
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if name in self.failures:
                error = self.failures[name](len(self.calls_of(name)))
                if error is not None:
                    raise error
            return attribute(**kwargs)

        return call


def client_error(code: str, status: int, operation: str, message: str = "") -> ClientError:
    # Only the fields layerkit reads; the stubs' response-metadata TypedDict wants every key.
    response = cast(
        "_ClientErrorResponseTypeDef",
        {
            "Error": {"Code": code, "Message": message or code},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
    )
    return ClientError(response, operation)


def iter_events(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for event in document["events"]:
        yield event["kind"], event["message"]
