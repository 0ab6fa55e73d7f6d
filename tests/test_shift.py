"""Traffic shifting: parsing, planning, and execution against moto with a fake clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from layerkit import release_plan as rp
from layerkit import releasing as rel
from layerkit.aws import aliases as al
from layerkit.aws.alarms import CloudWatchAlarms
from layerkit.errors import AwsError, LambdaRuleError, UsageError
from layerkit.release_plan import AliasState, AliasTarget, RollbackRecord

if TYPE_CHECKING:
    from tests.release_support import FakeTime, LambdaWorld


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("90", 90),
        ("0s", 0),
        ("1.5m", 90),
        ("250ms", 0.25),
        (" 2M ", 120),
    ],
)
def test_parse_interval(text: str, seconds: float) -> None:
    assert rp.parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "-1s", "m", "1 h 2", "five"])
def test_parse_interval_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="invalid interval"):
        rp.parse_interval(text)


def test_parse_steps() -> None:
    assert rp.parse_steps("10,50,100") == (10, 50, 100)
    assert rp.parse_steps("1, 5%,25") == (1, 5, 25)  # a shift stops where its steps say
    assert rp.parse_steps("100") == (100,)
    for bad in ("50,10", "10,10", "0", "150", "ten", "10,,50", "nan"):
        with pytest.raises(UsageError):
            rp.parse_steps(bad)


# --- planning (pure) ----------------------------------------------------------------------------


def _state(version: str, weights: dict[str, float] | None = None, desc: str = "") -> AliasState:
    return AliasState("prod", version, weights or {}, desc, "rev")


def test_plan_steps_keep_the_old_version_primary_until_100() -> None:
    plan = rp.plan_shift("fn", _state("11"), to_version="12", steps=(10, 50, 100), interval_s=300)
    assert [(s.percent, s.target) for s in plan.steps] == [
        (10, AliasTarget("11", {"12": 0.1})),
        (50, AliasTarget("11", {"12": 0.5})),
        (100, AliasTarget("12")),
    ]


def test_plan_starts_from_the_weight_already_routed() -> None:
    plan = rp.plan_shift(
        "fn", _state("11", {"12": 0.2}), to_version="12", steps=(10, 50, 100), interval_s=1
    )
    assert [s.percent for s in plan.steps] == [50, 100]


def test_plan_refuses_a_third_version() -> None:
    with pytest.raises(LambdaRuleError, match="already routes 10% to version 13") as refused:
        rp.plan_shift("fn", _state("11", {"13": 0.1}), to_version="12", steps=(100,), interval_s=0)
    assert refused.value.hint is not None and "alias promote fn prod" in refused.value.hint


def test_plan_refuses_while_another_shift_is_in_flight() -> None:
    record = RollbackRecord("shift-running", AliasTarget("10"), AliasTarget("10", {"11": 0.5}), "t")
    state = _state("10", {"11": 0.5}, rp.compose_description("", record))
    with pytest.raises(LambdaRuleError, match="is in flight") as refused:
        rp.plan_shift("fn", state, to_version="11", steps=(100,), interval_s=0)
    assert refused.value.hint is not None and "alias rollback fn prod" in refused.value.hint


def test_plan_refuses_routing_from_latest_and_a_no_op() -> None:
    with pytest.raises(LambdaRuleError, match="LATEST"):
        rp.plan_shift("fn", _state("$LATEST"), to_version="12", steps=(50, 100), interval_s=0)
    with pytest.raises(UsageError, match="already has version 12"):
        rp.plan_shift("fn", _state("12"), to_version="12", steps=(100,), interval_s=0)
    with pytest.raises(LambdaRuleError, match="published version is a number"):
        rp.plan_shift("fn", _state("11"), to_version="$LATEST", steps=(50, 100), interval_s=0)


# --- execution against moto ----------------------------------------------------------------------


def _setup(world: LambdaWorld, description: str = "prod traffic") -> None:
    world.function_with_versions(count=3)
    al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1"), description=description)


def _plan(world: LambdaWorld, *, to: str = "2", alarms: tuple[str, ...] = ()) -> rp.ShiftPlan:
    return rp.plan_shift(
        "my-fn",
        al.get_alias(world.lam, "my-fn", "prod"),
        to_version=to,
        steps=(10, 50, 100),
        interval_s=300,
        alarms=alarms,
    )


def _run(
    world: LambdaWorld, fake: FakeTime, plan: rp.ShiftPlan, client: Any = None, **kwargs: Any
) -> rp.ShiftResult:
    return rel.execute_shift(
        client if client is not None else world.lam,
        plan,
        alarms=CloudWatchAlarms(world.cloudwatch, plan.alarms),
        sleep=fake.sleep,
        clock=fake.clock,
        now=fake.now,
        poll_s=60,
        **kwargs,
    )


def test_shift_moves_traffic_in_steps_and_ends_without_routing(
    world: LambdaWorld, fake_time: FakeTime
) -> None:
    _setup(world)
    world.alarm("my-fn-errors", "OK")
    seen: list[dict[str, float]] = []

    def observe(fake: FakeTime) -> None:
        raw = world.lam.get_alias(FunctionName="my-fn", Name="prod")
        seen.append(dict(raw["RoutingConfig"]["AdditionalVersionWeights"]))

    fake_time.on_sleep = observe
    printed: list[rp.ShiftEvent] = []
    result = _run(world, fake_time, _plan(world, alarms=("my-fn-errors",)), on_event=printed.append)

    assert result.outcome == "completed"
    assert sum(fake_time.slept) == 600  # two waits of 5 minutes, polled every minute
    assert fake_time.slept == [60.0] * 10
    assert seen[0] == {"2": 0.1} and seen[-1] == {"2": 0.5}
    raw = world.lam.get_alias(FunctionName="my-fn", Name="prod")
    assert raw["FunctionVersion"] == "2"
    assert raw["RoutingConfig"]["AdditionalVersionWeights"] == {}
    assert raw["Description"].startswith("prod traffic [layerkit op=shift from=1 to=2 at=")
    steps = [e for e in result.events if e.kind == "step"]
    assert [e.percent for e in steps] == [10, 50, 100]
    assert [e.at for e in steps] == [
        "2026-01-02T03:04:05.000Z",
        "2026-01-02T03:09:05.000Z",
        "2026-01-02T03:14:05.000Z",
    ]
    assert printed == list(result.events)
    # a finished shift can be rolled back to the version before it
    rel.rollback_alias(world.lam, "my-fn", "prod")
    assert al.get_alias(world.lam, "my-fn", "prod").target == AliasTarget("1")


def test_alarm_mid_shift_restores_the_alias_byte_for_byte(
    world: LambdaWorld, fake_time: FakeTime
) -> None:
    world.function_with_versions(count=3)
    # A pre-state with routing and an older layerkit record in the description.
    al.create_alias(world.lam, "my-fn", "prod", AliasTarget("1"), description="live")
    rel.update_alias(world.lam, "my-fn", "prod", weights={"2": 0.05})
    before = world.raw_alias("my-fn", "prod")
    world.alarm("my-fn-errors", "OK")

    def fire_after_first_step(fake: FakeTime) -> None:
        weights = world.lam.get_alias(FunctionName="my-fn", Name="prod")["RoutingConfig"]
        if weights["AdditionalVersionWeights"] == {"2": 0.1} and fake.monotonic >= 120:
            world.set_alarm("my-fn-errors", "ALARM")

    fake_time.on_sleep = fire_after_first_step
    with pytest.raises(rel.ShiftAbortedError) as aborted:
        _run(world, fake_time, _plan(world, alarms=("my-fn-errors",)))

    assert world.raw_alias("my-fn", "prod") == before
    assert "alarm in ALARM: my-fn-errors (test)" in aborted.value.message
    assert aborted.value.exit_code == 7
    result = aborted.value.result
    assert result.outcome == "aborted"
    assert [e.kind for e in result.events][-3:] == ["wait", "alarm", "restored"]
    assert [e.percent for e in result.events if e.kind == "step"] == [10]
    assert fake_time.monotonic == 120  # stopped by the poll that saw the alarm, mid-wait


def test_alarm_already_firing_changes_nothing(world: LambdaWorld, fake_time: FakeTime) -> None:
    _setup(world)
    world.alarm("my-fn-errors", "ALARM")
    before = world.raw_alias("my-fn", "prod")
    client = world.recording()
    with pytest.raises(rel.ShiftAbortedError, match="alarm in ALARM"):
        _run(world, fake_time, _plan(world, alarms=("my-fn-errors",)), client=client)
    assert client.calls_of("update_alias") == []
    assert world.raw_alias("my-fn", "prod") == before


def test_missing_alarm_is_refused(world: LambdaWorld) -> None:
    world.alarm("my-fn-errors")
    with pytest.raises(AwsError, match="alarm\\(s\\) not found: typo"):
        CloudWatchAlarms(world.cloudwatch, ["my-fn-errors", "typo"]).states()


def test_ctrl_c_during_a_wait_restores(world: LambdaWorld, fake_time: FakeTime) -> None:
    _setup(world)
    before = world.raw_alias("my-fn", "prod")

    def interrupt(fake: FakeTime) -> None:
        raise KeyboardInterrupt

    fake_time.on_sleep = interrupt
    with pytest.raises(rel.ShiftAbortedError, match=r"aborted \(interrupted\)"):
        _run(world, fake_time, _plan(world))
    assert world.raw_alias("my-fn", "prod") == before


def test_failed_step_restores(world: LambdaWorld, fake_time: FakeTime) -> None:
    _setup(world)
    before = world.raw_alias("my-fn", "prod")
    client = world.recording()
    client.fail(
        "update_alias",
        lambda n: client.error("TooManyRequestsException", 429, "UpdateAlias") if n == 2 else None,
    )
    with pytest.raises(rel.ShiftAbortedError, match="TooManyRequestsException"):
        _run(world, fake_time, _plan(world), client=client)
    assert len(client.calls_of("update_alias")) == 3  # step 1, failed step 2, restore
    assert world.raw_alias("my-fn", "prod") == before


def test_missing_version_is_refused_before_any_change(
    world: LambdaWorld, fake_time: FakeTime
) -> None:
    _setup(world)
    before = world.raw_alias("my-fn", "prod")
    with pytest.raises(UsageError, match="version 9 of function my-fn does not exist"):
        _run(world, fake_time, _plan(world, to="9"))
    assert world.raw_alias("my-fn", "prod") == before


def test_someone_elses_change_is_never_overwritten(world: LambdaWorld, fake_time: FakeTime) -> None:
    _setup(world)

    def meddle(fake: FakeTime) -> None:
        world.lam.update_alias(
            FunctionName="my-fn",
            Name="prod",
            FunctionVersion="3",
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        raise KeyboardInterrupt

    fake_time.on_sleep = meddle
    with pytest.raises(AwsError, match="changed by someone else meanwhile"):
        _run(world, fake_time, _plan(world))
    assert al.get_alias(world.lam, "my-fn", "prod").function_version == "3"


def test_restore_failure_leaves_a_record_rollback_can_use(
    world: LambdaWorld, fake_time: FakeTime
) -> None:
    _setup(world)
    before = world.raw_alias("my-fn", "prod")
    client = world.recording()
    client.fail(
        "update_alias",
        lambda n: client.error("ServiceException", 500, "UpdateAlias") if n >= 2 else None,
    )
    with pytest.raises(AwsError, match="restoring the alias failed") as failed:
        _run(world, fake_time, _plan(world), client=client)
    assert failed.value.hint is not None and "alias rollback my-fn prod" in failed.value.hint
    # the job "died" mid-shift: the next shift refuses, rollback restores the pre-shift state
    with pytest.raises(LambdaRuleError, match="in flight"):
        _plan(world)
    rel.rollback_alias(world.lam, "my-fn", "prod")
    assert world.raw_alias("my-fn", "prod") == before


def test_someone_elses_description_change_is_never_overwritten(
    world: LambdaWorld, fake_time: FakeTime
) -> None:
    _setup(world)

    def meddle(fake: FakeTime) -> None:
        world.lam.update_alias(FunctionName="my-fn", Name="prod", Description="theirs")
        raise KeyboardInterrupt

    fake_time.on_sleep = meddle
    with pytest.raises(AwsError, match="changed by someone else meanwhile"):
        _run(world, fake_time, _plan(world))
    assert al.get_alias(world.lam, "my-fn", "prod").description == "theirs"
