"""The one place boto3 clients are created.

Credentials, region and endpoint come from the standard AWS chain (profiles, environment variables,
``AWS_ENDPOINT_URL``), plus ``--profile`` / ``--region``. Everything else receives clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from layerkit import __version__
from layerkit.errors import AwsError


@dataclass(frozen=True)
class AwsSettings:
    """What the user chose about how to reach AWS."""

    profile: str | None = None
    region: str | None = None
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def client_config(settings: AwsSettings) -> Config:
    """botocore's `standard` retry mode retries throttling (429) and 5xx with backoff."""
    return Config(
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
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
            raise AwsError(
                f"cannot load AWS profile {settings.profile!r}: {exc}",
                hint="check ~/.aws/config or drop --profile",
            ) from exc
        self._config = client_config(settings)
        self._clients: dict[tuple[str, str], Any] = {}

    def region(self, region: str | None = None) -> str:
        """The region to use: explicit, then --region, then the AWS chain."""
        chosen = region or self.settings.region or self._session.region_name
        if not chosen:
            raise AwsError(
                "no AWS region configured",
                hint="pass --region, or set AWS_REGION / AWS_DEFAULT_REGION or a profile region",
            )
        return chosen

    def client(self, service: str, region: str | None = None) -> Any:
        """A client for `service` in `region` (defaulting as `region()` does)."""
        key = (service, self.region(region))
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service,
                region_name=key[1],
                config=self._config,  # type: ignore[call-overload]
            )
        return self._clients[key]

    def lambda_client(self, region: str | None = None) -> Any:
        return self.client("lambda", region)

    def s3_client(self, region: str | None = None) -> Any:
        return self.client("s3", region)


def make_factory(*, profile: str | None, region: str | None) -> ClientFactory:
    """Entry point for the CLI: the only caller that builds a factory from user options."""
    return ClientFactory(AwsSettings(profile=profile, region=region))
