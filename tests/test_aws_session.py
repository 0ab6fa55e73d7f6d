"""How layerkit reaches AWS: attempts, timeouts and their environment variables."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from layerkit.aws.session import AwsSettings, ClientFactory, settings_from_env
from layerkit.errors import UsageError
from tests.faultproxy import FaultProxy


def test_defaults_and_environment() -> None:
    assert settings_from_env({}, profile=None, region="eu-west-1") == AwsSettings(
        region="eu-west-1"
    )
    tuned = settings_from_env(
        {
            "AWS_MAX_ATTEMPTS": "3",
            "LAYERKIT_AWS_READ_TIMEOUT": "0.5",
            "LAYERKIT_AWS_CONNECT_TIMEOUT": "2",
        },
        profile="p",
        region=None,
    )
    assert (tuned.max_attempts, tuned.read_timeout, tuned.connect_timeout) == (3, 0.5, 2.0)


@pytest.mark.parametrize("value", ["soon", "0", "-1"])
def test_bad_tuning_values_are_usage_errors(value: str) -> None:
    with pytest.raises(UsageError, match="LAYERKIT_AWS_READ_TIMEOUT"):
        settings_from_env({"LAYERKIT_AWS_READ_TIMEOUT": value}, profile=None, region=None)


def test_max_attempts_counts_the_first_try(
    fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    fault_proxy.add_fault("ListLayers", status=503, always=True)
    client = ClientFactory(AwsSettings(region="us-east-1", max_attempts=3)).lambda_client()
    with pytest.raises(ClientError):
        client.list_layers()
    assert fault_proxy.count("ListLayers") == 3
