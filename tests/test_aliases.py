"""Aliases: Lambda's rules (each refused before any call), routing against moto, RevisionId,
promote and rollback through the record in the description."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest
from botocore.stub import Stubber

from layerkit import release_plan as rp
from layerkit import releasing as rel
from layerkit.aws import aliases as al
from layerkit.errors import AwsError, LambdaRuleError, UsageError
from layerkit.release_plan import AliasState, AliasTarget, RollbackRecord

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from tests.release_support import LambdaWorld


FIXED = datetime(2026, 11, 27, 6, 43, 0, tzinfo=timezone.utc)


def fixed_now() -> datetime:
    return FIXED


# --- pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["prod", "live-2", "canary_x", "a" * 128, "v12"])
def test_valid_alias_names(name: str) -> None:
    rp.validate_alias_name(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("12", "cannot be all digits"),
        ("0", "cannot be all digits"),
        ("", "invalid alias name"),
        ("a" * 129, "invalid alias name"),
        ("prod.1", "invalid alias name"),
        ("$LATEST", "invalid alias name"),
    ],
)
def test_invalid_alias_names(name: str, expected: str) -> None:
    with pytest.raises(LambdaRuleError, match=expected.replace("$", r"\$")):
        rp.validate_alias_name(name)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (AliasTarget("$LATEST", {"12": 0.1}), "cannot point to \\$LATEST"),
        (AliasTarget("11", {"12": 0.1, "13": 0.1}), "at most one additional version; got 2"),
        (AliasTarget("11", {"12": 1.5}), "must be at least 0 and below 1"),
        (AliasTarget("11", {"12": 1.0}), "must be at least 0 and below 1"),
        (AliasTarget("11", {"12": -0.1}), "must be at least 0 and below 1"),
        (AliasTarget("11", {"12": float("nan")}), "not a number"),
        (AliasTarget("11", {"11": 0.1}), "is the alias's primary version"),
        (AliasTarget("11", {"$LATEST": 0.1}), "not a published version"),
        (AliasTarget("abc"), "a version is a number or \\$LATEST"),
    ],
)
def test_each_routing_rule_is_enforced(target: AliasTarget, expected: str) -> None:
    with pytest.raises(LambdaRuleError, match=expected):
        rp.validate_target(target)


@pytest.mark.parametrize(
    "target",
    [
        AliasTarget("$LATEST"),
        AliasTarget("11"),
        AliasTarget("11", {"12": 0.0}),
        AliasTarget("11", {"12": 0.999}),
    ],
)
def test_valid_targets(target: AliasTarget) -> None:
    rp.validate_target(target)


def test_weight_option_syntax() -> None:
    assert rp.parse_weight_option(["12=0.1"]) == {"12": 0.1}
    assert rp.parse_weight_option(["12=0.1", "13=0.2"]) == {"12": 0.1, "13": 0.2}
    for bad in (["12"], ["=0.1"], ["12=ten"]):
        with pytest.raises(UsageError):
            rp.parse_weight_option(bad)
    with pytest.raises(UsageError, match="twice"):
        rp.parse_weight_option(["12=0.1", "12=0.2"])


# --- the rollback record ------------------------------------------------------------------------


def test_record_round_trips_through_the_description() -> None:
    record = RollbackRecord(
        "update",
        AliasTarget("11", {"12": 0.1}),
        AliasTarget("11"),
        "2026-11-27T06:43:00Z",
        previous_description='old "text" [with] brackets',
    )
    text = rp.compose_description("deps 7", record)
    assert text.startswith("deps 7 [layerkit op=update from=11+12@0.1 to=11 at=")
    assert rp.split_description(text) == ("deps 7", record)
    assert rp.split_description("just words [layerkit]") == ("just words [layerkit]", None)
    assert rp.split_description(rp.compose_description("", record)) == ("", record)


def test_description_too_long_for_the_record_is_refused_with_the_room_left() -> None:
    record = RollbackRecord("update", AliasTarget("1"), AliasTarget("2"), "2026-11-27T06:43:00Z")
    room = 256 - len(record.render()) - 1
    assert len(rp.compose_description("x" * room, record)) == 256
    with pytest.raises(LambdaRuleError, match="would be 257 characters") as refused:
        rp.compose_description("x" * (room + 1), record)
    assert refused.value.hint is not None and f"at most {room} characters" in refused.value.hint


def test_rollback_refuses_when_changed_outside_layerkit() -> None:
    record = RollbackRecord("update", AliasTarget("1"), AliasTarget("2"), "t")
    state = AliasState("prod", "3", {}, rp.compose_description("", record), "rev")
    with pytest.raises(LambdaRuleError, match="changed outside layerkit"):
        rp.rollback_change("fn", state)


# --- against moto -------------------------------------------------------------------------------


def test_create_get_update_with_routing(world: LambdaWorld) -> None:
    world.function_with_versions(count=2)
    created = al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1"), description="live")
    assert (created.function_version, created.description) == ("1", "live")
    report = rel.update_alias(world.lam, "my-fn", "prod", weights={"2": 0.1}, now=fixed_now)
    assert report.action == "updated"
    assert report.routing == "90% -> 1, 10% -> 2"
    raw = world.lam.get_alias(FunctionName="my-fn", Name="prod")
    assert raw["FunctionVersion"] == "1"
    assert raw["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    assert raw["Description"] == (
        "live [layerkit op=update from=1 to=1+2@0.1 at=2026-11-27T06:43:00Z]"
    )
    got = al.get_alias(world.lam, "my-fn", "prod")
    assert got.user_description == "live"
    assert got.record is not None and got.record.before == AliasTarget("1")

    cleared = rel.update_alias(world.lam, "my-fn", "prod", weights={}, now=fixed_now)
    assert cleared.additional_version_weights == {}
    raw = world.lam.get_alias(FunctionName="my-fn", Name="prod")
    assert raw["RoutingConfig"]["AdditionalVersionWeights"] == {}


def test_every_update_sends_the_revision_id(world: LambdaWorld) -> None:
    world.function_with_versions(count=2)
    al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1"))
    revision = world.lam.get_alias(FunctionName="my-fn", Name="prod")["RevisionId"]
    client = world.recording()
    rel.update_alias(client, "my-fn", "prod", weights={"2": 0.2})
    rel.promote_alias(client, "my-fn", "prod")
    rel.rollback_alias(client, "my-fn", "prod")
    sent = client.calls_of("update_alias")
    assert len(sent) == 3
    assert all(call["RevisionId"] == revision for call in sent)


INVALID_UPDATES: list[tuple[dict[str, Any], str]] = [
    ({"weights": {"3": 1.5}}, "below 1"),
    ({"weights": {"2": 0.1, "3": 0.1}}, "at most one additional version"),
    ({"version": "$LATEST", "weights": {"3": 0.1}}, "cannot point to \\$LATEST"),
    ({"weights": {"$LATEST": 0.1}}, "not a published version"),
    ({"weights": {"9": 0.1}}, "version 9 of function my-fn does not exist"),
    ({"version": "9"}, "version 9 of function my-fn does not exist"),
    ({"weights": {"1": 0.1}}, "is the alias's primary version"),
]


@pytest.mark.parametrize(("change", "expected"), INVALID_UPDATES)
def test_invalid_updates_are_refused_and_leave_the_alias_as_it_was(
    world: LambdaWorld, change: dict[str, Any], expected: str
) -> None:
    world.function_with_versions(count=3)
    al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1", {"2": 0.05}), description="d")
    before = world.raw_alias("my-fn", "prod")
    client = world.recording()
    with pytest.raises(LambdaRuleError, match=expected):
        rel.update_alias(client, "my-fn", "prod", **change)
    assert client.calls_of("update_alias") == []
    assert world.raw_alias("my-fn", "prod") == before


def test_numeric_alias_name_is_refused_before_any_call(world: LambdaWorld) -> None:
    world.function_with_versions(count=1)
    client = world.recording()
    with pytest.raises(LambdaRuleError, match="all digits"):
        al.create_alias(client, "my-fn", "123", AliasTarget("1"))
    assert client.calls == []
    assert world.lam.list_aliases(FunctionName="my-fn")["Aliases"] == []


def test_routing_between_versions_with_different_roles_names_both(world: LambdaWorld) -> None:
    world.function_with_versions(count=1)
    other = world.role("other-role")
    world.lam.update_function_configuration(FunctionName="my-fn", Role=other)
    second = world.lam.publish_version(FunctionName="my-fn")["Version"]
    with pytest.raises(LambdaRuleError, match="different execution roles") as refused:
        al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1", {second: 0.1}))
    assert "layerkit-test-role" in refused.value.message and "other-role" in refused.value.message
    assert world.lam.list_aliases(FunctionName="my-fn")["Aliases"] == []


def test_promote_makes_the_canary_primary(world: LambdaWorld) -> None:
    world.function_with_versions(count=2)
    al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1", {"2": 0.3}))
    report = rel.promote_alias(world.lam, "my-fn", "prod", now=fixed_now)
    assert (report.function_version, report.additional_version_weights) == ("2", {})
    assert report.previous == AliasTarget("1", {"2": 0.3})
    with pytest.raises(UsageError, match="nothing to promote"):
        rel.promote_alias(world.lam, "my-fn", "prod")


def test_rollback_restores_the_state_before_the_last_change(world: LambdaWorld) -> None:
    world.function_with_versions(count=3)
    al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1", {"2": 0.25}), description="d1")
    before = world.raw_alias("my-fn", "prod")
    rel.update_alias(world.lam, "my-fn", "prod", version="3", weights={}, description="d2")
    assert al.get_alias(world.lam, "my-fn", "prod").user_description == "d2"
    report = rel.rollback_alias(world.lam, "my-fn", "prod")
    assert report.action == "rolled-back"
    assert world.raw_alias("my-fn", "prod") == before
    with pytest.raises(UsageError, match="nothing to roll back to"):
        rel.rollback_alias(world.lam, "my-fn", "prod")


def test_dry_run_changes_nothing(world: LambdaWorld) -> None:
    world.function_with_versions(count=2)
    al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1"))
    before = world.raw_alias("my-fn", "prod")
    report = rel.update_alias(world.lam, "my-fn", "prod", weights={"2": 0.5}, dry_run=True)
    assert report.routing == "50% -> 1, 50% -> 2" and report.dry_run
    assert world.raw_alias("my-fn", "prod") == before


def test_update_is_refused_while_a_shift_is_in_flight(world: LambdaWorld) -> None:
    world.function_with_versions(count=2)
    record = RollbackRecord("shift-running", AliasTarget("1"), AliasTarget("1", {"2": 0.1}), "t")
    world.lam.create_alias(
        FunctionName="my-fn",
        Name="prod",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
        Description=rp.compose_description("", record),
    )
    with pytest.raises(LambdaRuleError, match="traffic shift to version 2 is in flight") as err:
        rel.update_alias(world.lam, "my-fn", "prod", weights={})
    assert err.value.hint is not None and "alias rollback my-fn prod" in err.value.hint
    # the documented way out works: rollback restores the state before the shift
    rel.rollback_alias(world.lam, "my-fn", "prod")
    assert al.get_alias(world.lam, "my-fn", "prod").target == AliasTarget("1")


# --- failures moto cannot produce (botocore Stubber) ---------------------------------------------


def _stubbed_lambda() -> tuple[LambdaClient, Stubber]:
    import boto3

    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


ALIAS_RESPONSE = {
    "AliasArn": "arn:aws:lambda:us-east-1:123456789012:function:fn:prod",
    "Name": "prod",
    "FunctionVersion": "1",
    "Description": "",
    "RevisionId": "rev-1",
}


UPDATE_TO_CANARY = {
    "FunctionName": "fn",
    "Name": "prod",
    "FunctionVersion": "1",
    "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}},
    "Description": "[layerkit op=update from=1 to=1+2@0.1 at=2026-11-27T06:43:00Z]",
}


def _stale_update(stubber: Stubber) -> None:
    """get_alias, both versions checked, then UpdateAlias answers 412 (stale RevisionId)."""
    stubber.add_response("get_alias", ALIAS_RESPONSE, {"FunctionName": "fn", "Name": "prod"})
    for version in ("1", "2"):
        stubber.add_response(
            "get_function_configuration",
            {"Version": version, "Role": "arn:aws:iam::123456789012:role/r"},
            {"FunctionName": "fn", "Qualifier": version},
        )
    stubber.add_client_error(
        "update_alias",
        service_error_code="PreconditionFailedException",
        service_message="The Revision Id provided does not match the latest Revision Id.",
        http_status_code=412,
        expected_params={**UPDATE_TO_CANARY, "RevisionId": "rev-1"},
    )


def test_a_real_concurrent_change_is_reported_not_overwritten() -> None:
    client, stubber = _stubbed_lambda()
    _stale_update(stubber)
    moved = {**ALIAS_RESPONSE, "FunctionVersion": "3", "RevisionId": "rev-2"}
    stubber.add_response("get_alias", moved, {"FunctionName": "fn", "Name": "prod"})
    with stubber, pytest.raises(AwsError) as failed:
        rel.update_alias(client, "fn", "prod", weights={"2": 0.1}, now=fixed_now)
    stubber.assert_no_pending_responses()  # no second UpdateAlias
    assert failed.value.code == "PreconditionFailedException"
    assert "changed by someone else meanwhile: it now routes 100% -> 3" in failed.value.message
    assert "nothing was written" in failed.value.message


def test_a_stale_revision_alone_is_reapplied_once_on_the_fresh_one() -> None:
    client, stubber = _stubbed_lambda()
    _stale_update(stubber)
    same = {**ALIAS_RESPONSE, "RevisionId": "rev-2"}
    stubber.add_response("get_alias", same, {"FunctionName": "fn", "Name": "prod"})
    updated = {
        **same,
        "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}},
        "RevisionId": "rev-3",
    }
    stubber.add_response("update_alias", updated, {**UPDATE_TO_CANARY, "RevisionId": "rev-2"})
    with stubber:
        report = rel.update_alias(client, "fn", "prod", weights={"2": 0.1}, now=fixed_now)
    stubber.assert_no_pending_responses()
    assert report.additional_version_weights == {"2": 0.1}


def test_conflict_on_create_is_translated() -> None:
    client, stubber = _stubbed_lambda()
    stubber.add_response(
        "get_function_configuration", {"Version": "1"}, {"FunctionName": "fn", "Qualifier": "1"}
    )
    stubber.add_client_error(
        "create_alias", service_error_code="ResourceConflictException", http_status_code=409
    )
    with stubber, pytest.raises(UsageError) as failed:
        al.create_alias(client, "fn", "prod", AliasTarget("1"))
    assert failed.value.message == "alias fn:prod already exists"  # a usage error: exit 2
    assert failed.value.hint == "change it with `layerkit alias update fn prod --version 1`"


def test_routing_between_versions_with_different_dead_letter_configs() -> None:
    # moto does not keep DeadLetterConfig, so the versions' configurations are stubbed.
    client, stubber = _stubbed_lambda()
    queue = "arn:aws:sqs:us-east-1:123456789012:dlq"
    role = "arn:aws:iam::123456789012:role/r"
    stubber.add_response(
        "get_function_configuration",
        {"Version": "1", "Role": role},
        {"FunctionName": "fn", "Qualifier": "1"},
    )
    stubber.add_response(
        "get_function_configuration",
        {"Version": "2", "Role": role, "DeadLetterConfig": {"TargetArn": queue}},
        {"FunctionName": "fn", "Qualifier": "2"},
    )
    with stubber, pytest.raises(LambdaRuleError, match="different dead-letter configs") as refused:
        al.create_alias(client, "fn", "prod", AliasTarget("1", {"2": 0.1}))
    stubber.assert_no_pending_responses()  # refused before CreateAlias
    assert f"1: none, 2: {queue}" in refused.value.message
