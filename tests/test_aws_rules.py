"""Lambda's rules, checked by layerkit before each call (the emulator checks none of them)."""

from __future__ import annotations

import pytest

from layerkit.aws import rules
from layerkit.aws.layers import account_principal, layer_description, org_principal
from layerkit.errors import LambdaRuleError, UsageError

ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:deps:7"


def test_layer_version_arn_parses_every_part() -> None:
    parsed = rules.parse_layer_version_arn(ARN)
    assert parsed == rules.LayerVersionArn("aws", "eu-west-1", "123456789012", "deps", 7)
    assert parsed.layer_arn == "arn:aws:lambda:eu-west-1:123456789012:layer:deps"
    assert str(parsed) == ARN


@pytest.mark.parametrize(
    ("arn", "partition", "region"),
    [
        ("arn:aws-cn:lambda:cn-north-1:123456789012:layer:x:1", "aws-cn", "cn-north-1"),
        (
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:layer:x:1",
            "aws-us-gov",
            "us-gov-west-1",
        ),
    ],
)
def test_layer_version_arn_keeps_the_partition(arn: str, partition: str, region: str) -> None:
    parsed = rules.parse_layer_version_arn(arn)
    assert (parsed.partition, parsed.region) == (partition, region)
    assert str(parsed) == arn


@pytest.mark.parametrize(
    "bad",
    [
        "arn:aws:lambda:eu-west-1:123456789012:layer:deps",  # no version
        "arn:aws:lambda:eu-west-1:12345:layer:deps:7",  # short account
        "arn:aws:lambda:eu-west-1:123456789012:function:deps:7",  # a function
        "arn:aws:s3:eu-west-1:123456789012:layer:deps:7",  # wrong service
        "arn:aws:lambda:eu-west-1:123456789012:layer:de.ps:7",  # bad name
        "arn:aws:lambda:eu-west-1:123456789012:layer:deps:0",  # versions start at 1
        "deps:7",
        "",
    ],
)
def test_malformed_layer_arns_are_refused(bad: str) -> None:
    with pytest.raises(LambdaRuleError):
        rules.parse_layer_version_arn(bad)


@pytest.mark.parametrize("name", ["deps", "a-b_C9", "x" * 140])
def test_valid_layer_names(name: str) -> None:
    assert rules.check_layer_name(name) == name


@pytest.mark.parametrize("name", ["", "de ps", "deps.v1", "x" * 141, "d/e"])
def test_invalid_layer_names(name: str) -> None:
    with pytest.raises(LambdaRuleError, match="layer name"):
        rules.check_layer_name(name)


@pytest.mark.parametrize(
    "function",
    ["my-fn", "f" * 64, "arn:aws:lambda:eu-west-1:123456789012:function:my-fn"],
)
def test_valid_function_names(function: str) -> None:
    assert rules.check_function_name(function) == function


@pytest.mark.parametrize(
    "function", ["", "my fn", "f" * 65, "arn:aws:lambda:eu-west-1:123:function:my-fn"]
)
def test_invalid_function_names(function: str) -> None:
    with pytest.raises(LambdaRuleError):
        rules.check_function_name(function)


def test_function_region_comes_from_the_arn_only() -> None:
    assert rules.function_region("arn:aws:lambda:us-east-1:123456789012:function:f") == "us-east-1"
    assert rules.function_region("f") is None


def test_statement_ids() -> None:
    assert rules.check_statement_id("layerkit-account-123456789012")
    for bad in ("", "a b", "x" * 101):
        with pytest.raises(LambdaRuleError):
            rules.check_statement_id(bad)


def test_organization_ids() -> None:
    assert org_principal("o-a1b2c3d4e5").value == "o-a1b2c3d4e5"
    for bad in ("o-short", "a1b2c3d4e5f6", "o-UPPERCASE12", "o-" + "a" * 33):
        with pytest.raises(LambdaRuleError, match="organization"):
            rules.check_organization_id(bad)


def test_account_ids() -> None:
    assert account_principal("111122223333").value == "111122223333"
    for bad in ("1111", "11112222333a", "1111222233334"):
        with pytest.raises(LambdaRuleError, match="account id"):
            rules.check_account_id(bad)


def test_star_is_not_an_account_public_needs_its_own_flag() -> None:
    with pytest.raises(UsageError, match="public") as caught:
        account_principal("*")
    assert "--public" in (caught.value.hint or "")


def test_at_most_15_runtimes() -> None:
    fifteen = [f"python3.{i}" for i in range(15)]
    assert rules.check_runtimes(fifteen) == tuple(fifteen)
    with pytest.raises(LambdaRuleError, match="at most 15"):
        rules.check_runtimes([*fifteen, "nodejs22.x"])


def test_runtimes_are_identifiers_without_repeats() -> None:
    with pytest.raises(LambdaRuleError):
        rules.check_runtimes(["Python 3.12"])
    with pytest.raises(LambdaRuleError, match="repeat"):
        rules.check_runtimes(["python3.12", "python3.12"])


def test_at_most_2_known_architectures() -> None:
    assert rules.check_architectures(["x86_64", "arm64"]) == ("x86_64", "arm64")
    with pytest.raises(LambdaRuleError, match="at most 2"):
        rules.check_architectures(["x86_64", "arm64", "x86_64"])
    with pytest.raises(LambdaRuleError, match="not a Lambda architecture"):
        rules.check_architectures(["aarch64"])
    with pytest.raises(LambdaRuleError, match="repeat"):
        rules.check_architectures(["arm64", "arm64"])


def test_description_at_most_256_characters() -> None:
    assert rules.check_description("d" * 256)
    with pytest.raises(LambdaRuleError, match="256"):
        rules.check_description("d" * 257)


def test_licence_at_most_512_characters() -> None:
    assert rules.check_license("l" * 512)
    with pytest.raises(LambdaRuleError, match="512"):
        rules.check_license("l" * 513)


def test_layerkit_record_counts_against_the_description_limit() -> None:
    record = layer_description(None, sha256_hex="a" * 64, unzipped_bytes=262_144_000)
    room = 256 - len(record) - len(" | ")
    assert (
        len(layer_description("u" * room, sha256_hex="a" * 64, unzipped_bytes=262_144_000)) == 256
    )
    with pytest.raises(LambdaRuleError, match="256"):
        layer_description("u" * (room + 1), sha256_hex="a" * 64, unzipped_bytes=262_144_000)


def test_direct_upload_at_most_50_mb() -> None:
    assert rules.check_direct_upload_size(50 * 1024 * 1024)
    with pytest.raises(LambdaRuleError, match="direct upload allows 52,428,800") as caught:
        rules.check_direct_upload_size(50 * 1024 * 1024 + 1)
    assert "--bucket" in (caught.value.hint or "")


def _arn(name: str, version: int) -> str:
    return f"arn:aws:lambda:eu-west-1:123456789012:layer:{name}:{version}"


def test_at_most_5_layers_per_function() -> None:
    five = [_arn(f"l{i}", 1) for i in range(5)]
    assert len(rules.check_layer_list(five, function="fn")) == 5
    with pytest.raises(LambdaRuleError, match="6 layers"):
        rules.check_layer_list([*five, _arn("l5", 1)], function="fn")


def test_one_version_per_layer() -> None:
    with pytest.raises(LambdaRuleError, match="two versions of layer deps"):
        rules.check_layer_list([_arn("deps", 1), _arn("deps", 2)], function="fn")
    with pytest.raises(LambdaRuleError, match="two versions"):
        rules.check_layer_list([_arn("deps", 1), _arn("deps", 1)], function="fn")


def test_layers_of_the_same_name_in_other_accounts_are_different_layers() -> None:
    other = "arn:aws:lambda:eu-west-1:999999999999:layer:deps:1"
    assert len(rules.check_layer_list([_arn("deps", 1), other], function="fn")) == 2


@pytest.mark.parametrize("bucket", ["ab", "My-Bucket", "-bucket", "a..b", "b" * 64])
def test_bucket_names(bucket: str) -> None:
    with pytest.raises(LambdaRuleError, match="bucket name"):
        rules.check_bucket_name(bucket)
    assert rules.check_bucket_name("my-artifacts.eu") == "my-artifacts.eu"
