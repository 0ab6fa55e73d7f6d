"""The one place boto3 clients are created.

Credentials, region and endpoint come from the standard AWS chain (profiles, environment variables,
``AWS_ENDPOINT_URL``), plus ``--profile`` / ``--region``. Everything else receives clients.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

import boto3
from botocore.config import Config

from layerkit import __version__
from layerkit.errors import AwsError, UsageError

if (
    TYPE_CHECKING
):  # the stubs are a test/type-check dependency only; nothing imports them at run time
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sts.client import STSClient

Service = Literal["lambda", "s3", "sts", "cloudwatch"]


@dataclass(frozen=True)
class AwsSettings:
    """What the user chose about how to reach AWS."""

    profile: str | None = None
    region: str | None = None
    max_attempts: int = 5  # in total, the first try included
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


# Environment variables that tune how layerkit reaches AWS (documented in the README).
# AWS_MAX_ATTEMPTS is the AWS SDKs' own; botocore has no variable for the timeouts.
ENV_MAX_ATTEMPTS = "AWS_MAX_ATTEMPTS"
ENV_CONNECT_TIMEOUT = "LAYERKIT_AWS_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "LAYERKIT_AWS_READ_TIMEOUT"


def settings_from_env(
    env: Mapping[str, str], *, profile: str | None, region: str | None
) -> AwsSettings:
    """AwsSettings from the command line's choices and the environment's tuning variables."""
    defaults = AwsSettings()

    def number(name: str, default: float) -> float:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise UsageError(f"{name}={raw!r} is not a positive number")
        return value

    return AwsSettings(
        profile=profile,
        region=region,
        max_attempts=int(number(ENV_MAX_ATTEMPTS, defaults.max_attempts)),
        connect_timeout=number(ENV_CONNECT_TIMEOUT, defaults.connect_timeout),
        read_timeout=number(ENV_READ_TIMEOUT, defaults.read_timeout),
    )


def client_config(settings: AwsSettings) -> Config:
    """botocore's `standard` retry mode retries throttling (429) and 5xx with backoff.

    `total_max_attempts` counts the first try; botocore's `max_attempts` would count retries only.
    """
    return Config(
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        user_agent_extra=f"layerkit/{__version__}",
    )


class ClientFactory:
    """Makes (and memoises) one boto3 client per service and region."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        try:
            self._session = boto3.session.Session(profile_name=settings.profile)
        except Exception as exc:  # botocore raises ProfileNotFound and friends
            # With no --profile, boto3 took the profile's name from AWS_PROFILE: say so.
            named, source = settings.profile, "--profile"
            if named is None:
                named, source = os.environ.get("AWS_PROFILE") or "default", "AWS_PROFILE"
            raise AwsError(
                f"cannot load AWS profile {named!r} (named by {source}): {exc}",
                hint=f"check ~/.aws/config and ~/.aws/credentials, or change {source}",
            ) from exc
        self._config = client_config(settings)
        self._clients: dict[tuple[str, str], object] = {}

    def region(self, region: str | None = None) -> str:
        """The region to use: explicit, then --region, then the AWS chain."""
        chosen = region or self.settings.region or self._session.region_name
        if not chosen:
            raise AwsError(
                "no AWS region configured",
                hint="pass --region, or set AWS_REGION / AWS_DEFAULT_REGION or a profile region",
            )
        return chosen

    @overload
    def client(self, service: Literal["lambda"], region: str | None = None) -> LambdaClient: ...
    @overload
    def client(self, service: Literal["s3"], region: str | None = None) -> S3Client: ...
    @overload
    def client(self, service: Literal["sts"], region: str | None = None) -> STSClient: ...
    @overload
    def client(
        self, service: Literal["cloudwatch"], region: str | None = None
    ) -> CloudWatchClient: ...
    def client(
        self, service: Service, region: str | None = None
    ) -> LambdaClient | S3Client | STSClient | CloudWatchClient:
        """A typed client for `service` in `region` (defaulting as `region()` does)."""
        key = (service, self.region(region))
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service,
                region_name=key[1],
                config=self._config,
            )
        return self._clients[key]  # type: ignore[return-value]  # made above for this service

    def lambda_client(self, region: str | None = None) -> LambdaClient:
        return self.client("lambda", region)

    def s3_client(self, region: str | None = None) -> S3Client:
        return self.client("s3", region)

    def sts_client(self, region: str | None = None) -> STSClient:
        return self.client("sts", region)

    def cloudwatch_client(self, region: str | None = None) -> CloudWatchClient:
        return self.client("cloudwatch", region)


def make_factory(*, profile: str | None, region: str | None) -> ClientFactory:
    """Entry point for the CLI: the only caller that builds a factory from user options."""
    return ClientFactory(settings_from_env(os.environ, profile=profile, region=region))
