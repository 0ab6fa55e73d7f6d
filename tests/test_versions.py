"""Versions: publish (waiting out updates, never pretending), list, prune."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.stub import Stubber

from layerkit import release_plan as rp
from layerkit import releasing as rel
from layerkit.errors import AwsError, LambdaRuleError, UsageError
from layerkit.release_plan import AliasState

if TYPE_CHECKING:
    from mypy_boto3_lambda.type_defs import FunctionConfigurationTypeDef

    from tests.release_support import LambdaWorld


def _layer(world: LambdaWorld, name: str = "deps") -> str:
    from tests.release_support import code_zip

    response = world.lam.publish_layer_version(
        LayerName=name, Content={"ZipFile": code_zip("y = 1")}
    )
    return str(response["LayerVersionArn"])


def test_publish_reports_code_hash_and_pinned_layers(world: LambdaWorld) -> None:
    world.function()
    layer = _layer(world)
    world.lam.update_function_configuration(FunctionName="my-fn", Layers=[layer])
    latest = world.lam.get_function_configuration(FunctionName="my-fn")
    result = rel.publish_version(world.lam, "my-fn", description="deps 7")
    assert result.created
    assert result.version.version == "1"
    assert result.version.code_sha256 == latest["CodeSha256"]
    assert result.version.layers == (layer,)
    assert result.version.description == "deps 7"
    assert result.message == "published version 1"


def test_publish_without_changes_says_so_and_calls_nothing(world: LambdaWorld) -> None:
    world.function()
    rel.publish_version(world.lam, "my-fn")
    client = world.recording()
    result = rel.publish_version(client, "my-fn", description="again")
    assert not result.created
    assert result.version.version == "1"
    assert "nothing changed since version 1" in result.message
    assert client.calls_of("publish_version") == []
    versions = world.lam.list_versions_by_function(FunctionName="my-fn")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_publish_after_a_layer_change_creates_a_version(world: LambdaWorld) -> None:
    world.function()
    rel.publish_version(world.lam, "my-fn")
    world.lam.update_function_configuration(FunctionName="my-fn", Layers=[_layer(world)])
    result = rel.publish_version(world.lam, "my-fn")
    assert (result.created, result.version.version) == (True, "2")


def test_publish_sends_the_code_hash_it_compared(world: LambdaWorld) -> None:
    world.function()
    client = world.recording()
    rel.publish_version(client, "my-fn")
    latest = world.lam.get_function_configuration(FunctionName="my-fn")
    assert client.calls_of("publish_version") == [
        {"FunctionName": "my-fn", "Description": "", "CodeSha256": latest["CodeSha256"]}
    ]


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"SnapStart": {"ApplyOn": "None", "OptimizationStatus": "On"}}, True),
        ({"Description": "other"}, True),
        ({"LastModified": "later", "Version": "9", "FunctionArn": "x:9"}, True),
        ({"CodeSha256": "other"}, False),
        ({"Layers": [{"Arn": "arn:layer:deps:2", "CodeSize": 1}]}, False),
        ({"MemorySize": 256}, False),
        ({"Environment": {"Variables": {"A": "1"}}}, False),
        ({"Role": "arn:aws:iam::1:role/other"}, False),
        ({"VpcConfig": {"SubnetIds": ["s-1"], "SecurityGroupIds": []}}, False),
    ],
)
def test_unchanged_since_compares_what_a_version_pins(change: dict[str, Any], same: bool) -> None:
    base: dict[str, Any] = {
        "Version": "$LATEST",
        "CodeSha256": "abc",
        "Runtime": "python3.12",
        "Handler": "h.h",
        "Role": "arn:aws:iam::1:role/r",
        "MemorySize": 128,
        "Layers": [{"Arn": "arn:layer:deps:1", "CodeSize": 1}],
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []},
    }
    assert (
        rp.unchanged_since(
            cast("FunctionConfigurationTypeDef", base),
            cast("FunctionConfigurationTypeDef", {**base, **change}),
        )
        is same
    )


def _stubbed() -> tuple[Any, Stubber]:
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def _config(version: str, sha: str, **extra: Any) -> dict[str, Any]:
    return {"FunctionName": "fn", "Version": version, "CodeSha256": sha, **extra}


def test_publish_waits_for_an_update_in_progress_first() -> None:
    client, stubber = _stubbed()
    stubber.add_response(
        "get_function_configuration", _config("$LATEST", "new", LastUpdateStatus="InProgress")
    )
    stubber.add_response(
        "get_function_configuration", _config("$LATEST", "new", LastUpdateStatus="Successful")
    )
    stubber.add_response("list_versions_by_function", {"Versions": [_config("1", "old")]})
    stubber.add_response("publish_version", _config("2", "new"))
    slept: list[float] = []
    with stubber:
        result = rel.publish_version(client, "fn", sleep=slept.append, clock=lambda: 0.0)
    stubber.assert_no_pending_responses()
    assert slept == [1.0]
    assert (result.created, result.version.version) == (True, "2")


def test_publish_answered_with_an_existing_version_is_not_called_new() -> None:
    # What AWS does when nothing changed in a way layerkit's comparison cannot see.
    client, stubber = _stubbed()
    stubber.add_response("get_function_configuration", _config("$LATEST", "abc", MemorySize=256))
    stubber.add_response("list_versions_by_function", {"Versions": [_config("4", "abc")]})
    stubber.add_response("publish_version", _config("4", "abc"))
    with stubber:
        result = rel.publish_version(client, "fn")
    assert not result.created
    assert result.message == "Lambda returned the existing version 4: nothing changed since it"


def test_publish_conflict_is_translated() -> None:
    client, stubber = _stubbed()
    stubber.add_response("get_function_configuration", _config("$LATEST", "abc"))
    stubber.add_response("list_versions_by_function", {"Versions": []})
    stubber.add_client_error(
        "publish_version",
        service_error_code="ResourceConflictException",
        service_message="An update is in progress for resource: fn",
        http_status_code=409,
    )
    with stubber, pytest.raises(AwsError) as failed:
        rel.publish_version(client, "fn")
    assert failed.value.code == "ResourceConflictException"
    assert "PublishVersion on function fn failed" in failed.value.message


def test_publish_description_over_256_is_refused_before_any_call() -> None:
    client, stubber = _stubbed()
    with stubber, pytest.raises(LambdaRuleError, match="257 characters"):
        rel.publish_version(client, "fn", description="x" * 257)


def test_list_shows_date_description_layers_and_aliases(world: LambdaWorld) -> None:
    world.function()
    layer = _layer(world)
    rel.publish_version(world.lam, "my-fn", description="first")
    world.lam.update_function_configuration(FunctionName="my-fn", Layers=[layer])
    rel.publish_version(world.lam, "my-fn", description="with deps")
    world.lam.create_alias(
        FunctionName="my-fn",
        Name="prod",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    listed = rel.list_versions(world.lam, "my-fn")
    assert [(v.version, v.description, v.layers, v.aliases) for v in listed] == [
        ("1", "first", (), ("prod",)),
        ("2", "with deps", (layer,), ("prod",)),
    ]
    assert all(v.last_modified.startswith("20") for v in listed)


def _alias(version: str, weights: dict[str, float] | None = None) -> AliasState:
    return AliasState("a" + version, version, weights or {}, "", "")


def test_plan_prune_keeps_newest_and_aliased() -> None:
    versions = [str(v) for v in range(1, 11)]
    deleted, newest, aliased = rp.plan_prune(
        versions, [_alias("2"), _alias("5", {"3": 0.1})], keep=3
    )
    assert deleted == ("1", "4", "6", "7")
    assert newest == ("8", "9", "10")
    assert aliased == ("2", "3", "5")
    assert rp.plan_prune(["1", "2"], [], keep=0)[0] == ("1", "2")
    # keeping more than exist keeps everything (not a wrapped-around slice)
    assert rp.plan_prune(["1", "2", "3"], [], keep=5) == ((), ("1", "2", "3"), ())
    assert rp.plan_prune(["1", "2", "3"], [], keep=3)[0] == ()
    with pytest.raises(UsageError):
        rp.plan_prune(["1"], [], keep=-1)


def test_prune_deletes_only_unaliased_old_versions(world: LambdaWorld) -> None:
    world.function_with_versions(count=5)
    world.lam.create_alias(
        FunctionName="my-fn",
        Name="prod",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}},
    )
    planned = rel.prune_versions(world.lam, "my-fn", keep=2, dry_run=True)
    assert planned.deleted == ("3",)
    remaining = [
        v["Version"] for v in world.lam.list_versions_by_function(FunctionName="my-fn")["Versions"]
    ]
    assert remaining == ["$LATEST", "1", "2", "3", "4", "5"]
    done = rel.prune_versions(world.lam, "my-fn", keep=2)
    assert (done.deleted, done.kept_newest, done.kept_aliased) == (("3",), ("4", "5"), ("1", "2"))
    remaining = [
        v["Version"] for v in world.lam.list_versions_by_function(FunctionName="my-fn")["Versions"]
    ]
    assert remaining == ["$LATEST", "1", "2", "4", "5"]
