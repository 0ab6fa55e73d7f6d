"""Traffic shifting: move an alias to a new version in steps, watching alarms, undoing on trouble.

The plan is pure data (`plan_shift`), so ``--dry-run`` prints it and tests check it without AWS.
`execute_shift` writes one UpdateAlias per step (each carrying the alias's RevisionId and the
``shift-running`` rollback record, see `layerkit.aws.aliases`), checks the alarms before each step
and every `poll_s` during each wait, and on an alarm in ALARM, any failure, or an interrupt
restores the alias to exactly its state before the shift (version, routing, description) and
raises `ShiftAbortedError`. Waiting goes through the injected `sleep` and `clock`; timestamps
through `now`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from typing import TYPE_CHECKING, Literal

from layerkit.aws.alarms import AlarmState, AlarmWatch
from layerkit.aws.aliases import (
    AliasState,
    AliasTarget,
    Now,
    check_target_versions,
    get_alias,
    percent_text,
    plan_change,
    refuse_while_shifting,
    utc_now,
    validate_target,
    write_alias,
)
from layerkit.aws.functions import Clock, Sleep
from layerkit.errors import (
    AwsError,
    LambdaRuleError,
    LayerkitError,
    ReleaseAbortedError,
    UsageError,
)

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient

DEFAULT_ALARM_POLL_S = 10.0
_INTERVAL = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

EventKind = Literal["start", "check", "step", "wait", "alarm", "failure", "restored", "done"]
# "canary": the steps ended below 100%, so the new version serves that share and no more.
Outcome = Literal["planned", "completed", "canary", "aborted", "unchanged"]


def parse_interval(text: str) -> float:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"250ms"`` or plain seconds (``"90"``) -> seconds."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise UsageError(
            f"invalid interval {text!r}", hint="use seconds or a unit: 30s, 5m, 1h, 250ms"
        )
    return float(match[1]) * _UNIT_SECONDS[(match[2] or "s").lower()]


def parse_steps(text: str) -> tuple[float, ...]:
    """``"10,50,100"`` -> (10.0, 50.0, 100.0): increasing percentages in (0, 100].

    The shift stops where the steps say: ``10,50`` leaves a 50% canary in place (finish it with
    another shift or `alias promote`); only a last step of 100 completes it.
    """
    steps: list[float] = []
    for part in text.split(","):
        try:
            value = float(part.strip().rstrip("%"))
        except ValueError:
            raise UsageError(
                f"invalid step {part.strip()!r} in --steps {text!r}",
                hint="give percentages of traffic, e.g. --steps 10,50,100",
            ) from None
        if not math.isfinite(value) or not 0 < value <= 100:
            raise UsageError(
                f"step {part.strip()} in --steps {text!r} is not a percentage in (0, 100]"
            )
        if steps and value <= steps[-1]:
            raise UsageError(f"--steps {text!r} must increase strictly", hint="e.g. 10,50,100")
        steps.append(value)
    return tuple(steps)


@dataclass(frozen=True)
class ShiftStep:
    percent: float
    target: AliasTarget


@dataclass(frozen=True)
class ShiftPlan:
    """The steps from `before` to `to_version` as primary with no routing."""

    function: str
    alias: str
    from_version: str
    to_version: str
    steps: tuple[ShiftStep, ...]
    interval_s: float
    alarms: tuple[str, ...]
    before: AliasState


@dataclass(frozen=True)
class ShiftEvent:
    at: str  # UTC, ISO 8601 with milliseconds
    kind: EventKind
    message: str
    percent: float | None = None


@dataclass(frozen=True)
class ShiftResult:
    function: str
    alias: str
    from_version: str
    to_version: str
    outcome: Outcome
    reason: str
    steps: tuple[float, ...]
    interval_s: float
    alarms: tuple[str, ...]
    before: AliasTarget
    final: AliasTarget
    events: tuple[ShiftEvent, ...] = field(default=())


class ShiftAbortedError(ReleaseAbortedError):
    """The shift stopped and the alias was restored; `result` tells what happened, step by step."""

    def __init__(self, message: str, *, hint: str | None, result: ShiftResult) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class _AlarmFired(Exception):
    def __init__(self, alarms: tuple[AlarmState, ...]) -> None:
        names = ", ".join(f"{a.name} ({a.reason})" if a.reason else a.name for a in alarms)
        super().__init__(f"alarm in ALARM: {names}")


def plan_shift(
    function: str,
    before: AliasState,
    *,
    to_version: str,
    steps: Sequence[float],
    interval_s: float,
    alarms: Sequence[str] = (),
) -> ShiftPlan:
    """Plan the shift, refusing when the alias routes to a third version or a shift is running."""
    refuse_while_shifting(function, before, "shift")
    if interval_s < 0 or not math.isfinite(interval_s):
        raise UsageError(f"invalid interval {interval_s}")
    current = before.target
    if not re.fullmatch(r"[0-9]+", to_version):
        raise LambdaRuleError(
            f"cannot shift to {to_version!r}: traffic shifts between published versions, and a "
            "published version is a number",
            hint="publish one with `layerkit version publish FUNCTION` and shift to its number",
        )
    routed = current.routed
    if routed is not None and routed[0] != to_version:
        raise LambdaRuleError(
            f"alias {function}:{before.name} already routes {percent_text(routed[1])} to version "
            f"{routed[0]}; shifting to {to_version} would need a third version",
            hint=f"finish or undo that first: `layerkit alias promote {function} {before.name}` "
            f"or `layerkit alias update {function} {before.name} --no-routing`",
        )
    if current.function_version == to_version:
        raise UsageError(
            f"alias {function}:{before.name} already has version {to_version} as primary",
            hint="nothing to shift; see it with `layerkit alias get`",
        )
    already = routed[1] * 100 if routed is not None else 0.0
    if any(percent < 100 for percent in steps):
        validate_target(AliasTarget(current.function_version, {to_version: 0.0}))
    planned = tuple(
        ShiftStep(
            percent,
            AliasTarget(to_version)
            if percent >= 100
            else AliasTarget(current.function_version, {to_version: percent / 100}),
        )
        for percent in steps
        if percent > already
    )
    return ShiftPlan(
        function=function,
        alias=before.name,
        from_version=current.function_version,
        to_version=to_version,
        steps=planned,
        interval_s=interval_s,
        alarms=tuple(dict.fromkeys(alarms)),
        before=before,
    )


def describe_step(plan: ShiftPlan, step: ShiftStep) -> str:
    return f"{step.percent:g}% to version {plan.to_version} ({step.target.describe()})"


def _stamp_ms(now: Now) -> str:
    return now().astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Run:
    """The mutable bookkeeping of one execution; the result it yields is frozen."""

    def __init__(self, plan: ShiftPlan, now: Now, on_event: Callable[[ShiftEvent], None]) -> None:
        self.plan = plan
        self.now = now
        self.on_event = on_event
        self.events: list[ShiftEvent] = []
        # Every (routing, description) layerkit sent, answered or not: a lost answer may still
        # have taken effect, and only these states (or the one before) are ours to undo.
        self.written: list[tuple[AliasTarget, str]] = []

    def event(self, kind: EventKind, message: str, percent: float | None = None) -> None:
        event = ShiftEvent(_stamp_ms(self.now), kind, message, percent)
        self.events.append(event)
        self.on_event(event)

    def result(self, outcome: Outcome, reason: str, final: AliasTarget) -> ShiftResult:
        plan = self.plan
        return ShiftResult(
            function=plan.function,
            alias=plan.alias,
            from_version=plan.from_version,
            to_version=plan.to_version,
            outcome=outcome,
            reason=reason,
            steps=tuple(step.percent for step in plan.steps),
            interval_s=plan.interval_s,
            alarms=plan.alarms,
            before=plan.before.target,
            final=final,
            events=tuple(self.events),
        )


def planned_result(plan: ShiftPlan) -> ShiftResult:
    """The result of ``--dry-run``: the plan, no events."""
    return _Run(plan, utc_now, lambda _: None).result("planned", "dry run", plan.before.target)


def execute_shift(
    lambda_client: LambdaClient,
    plan: ShiftPlan,
    *,
    alarms: AlarmWatch,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    now: Now = utc_now,
    poll_s: float = DEFAULT_ALARM_POLL_S,
    on_event: Callable[[ShiftEvent], None] = lambda _: None,
) -> ShiftResult:
    """Run the plan. On an alarm, a failure or KeyboardInterrupt: restore, raise ShiftAbortedError.

    If the alias cannot be restored (someone else changed it meanwhile, or AWS keeps failing) an
    `AwsError` says so, with the state to restore by hand; the rollback record in the alias still
    names the pre-shift state, so `layerkit alias rollback` can finish the job.
    """
    run = _Run(plan, now, on_event)
    run.event(
        "start",
        f"shift {plan.function}:{plan.alias} from version {plan.from_version} to "
        f"{plan.to_version} in {len(plan.steps)} step(s), {plan.interval_s:g}s apart"
        + (f", watching {', '.join(plan.alarms)}" if plan.alarms else ""),
    )
    check_shift_versions(lambda_client, plan)
    current = plan.before
    try:
        for index, step in enumerate(plan.steps):
            _check_alarms(run, alarms, f"before step {index + 1}")
            last = index == len(plan.steps) - 1
            change = plan_change(
                plan.function,
                current,
                step.target,
                op="shift" if last else "shift-running",
                now=now,
                record_from=plan.before.target,
            )
            run.written.append((step.target, change.description))
            current = write_alias(
                lambda_client, plan.function, current, step.target, change.description
            )
            run.event(
                "step",
                f"step {index + 1}/{len(plan.steps)}: " + describe_step(plan, step),
                step.percent,
            )
            if not last:
                _wait(run, alarms, plan.interval_s, sleep=sleep, clock=clock, poll_s=poll_s)
    except (Exception, KeyboardInterrupt) as exc:
        reason = _reason(exc)
        run.event("alarm" if isinstance(exc, _AlarmFired) else "failure", reason)
        restored = _restore(lambda_client, run)
        run.event(
            "restored",
            f"alias restored to its state before the shift: {restored.target.describe()}",
        )
        result = run.result("aborted", reason, restored.target)
        raise ShiftAbortedError(
            f"traffic shift of {plan.function}:{plan.alias} to version {plan.to_version} "
            f"aborted ({reason}); the alias was restored to {restored.target.describe()}",
            hint="investigate, then re-run `layerkit alias shift` when ready",
            result=result,
        ) from exc
    final = plan.steps[-1].percent
    if final < 100:
        run.event("done", canary_message(plan, final), final)
        return run.result("canary", f"stopped at {final:g}% as --steps said", current.target)
    run.event("done", f"version {plan.to_version} takes 100% of {plan.function}:{plan.alias}")
    return run.result("completed", "", current.target)


def canary_message(plan: ShiftPlan, percent: float) -> str:
    """What a shift that ends below 100% leaves, and how to finish or undo it."""
    where = f"{plan.function} {plan.alias}"
    return (
        f"stopped at {percent:g}% as --steps said: version {plan.to_version} takes {percent:g}% "
        f"of {plan.function}:{plan.alias}, version {plan.from_version} the rest (a canary left in "
        f"place); finish with `layerkit alias shift {where} --to {plan.to_version} --steps 100` "
        f"or `layerkit alias promote {where}`, undo with `layerkit alias rollback {where}`"
    )


def check_shift_versions(lambda_client: LambdaClient, plan: ShiftPlan) -> None:
    """Versions that do not exist or cannot share an alias: refused before anything is changed
    (or, with --dry-run, before a plan is printed)."""
    routed = [step.target for step in plan.steps if step.target.routed is not None]
    try:
        for target in (*routed[:1], plan.steps[-1].target):
            check_target_versions(lambda_client, plan.function, target)
    except LambdaRuleError as missing:
        if missing.code != "ResourceNotFoundException":
            raise
        raise UsageError(missing.message, hint=missing.hint) from missing


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, (_AlarmFired, LayerkitError)):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def _check_alarms(run: _Run, alarms: AlarmWatch, when: str) -> None:
    if not alarms.names:
        return
    firing = alarms.firing()
    if firing:
        raise _AlarmFired(firing)
    run.event("check", f"alarms OK {when}: {', '.join(alarms.names)}")


def _wait(
    run: _Run, alarms: AlarmWatch, seconds: float, *, sleep: Sleep, clock: Clock, poll_s: float
) -> None:
    run.event("wait", f"waiting {seconds:g}s")
    deadline = clock() + seconds
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return
        sleep(min(poll_s, remaining) if alarms.names else remaining)
        firing = alarms.firing() if alarms.names else ()
        if firing:
            raise _AlarmFired(firing)


def _restore(lambda_client: LambdaClient, run: _Run) -> AliasState:
    """Put the alias back exactly as it was before the shift, never over someone else's change."""
    plan = run.plan
    before = plan.before
    try:
        now_state = get_alias(lambda_client, plan.function, plan.alias)
    except (LayerkitError, KeyboardInterrupt) as exc:
        raise _restore_failed(plan, exc) from exc
    if now_state.same_as(before):
        return now_state
    if (now_state.target, now_state.description) not in run.written:
        raise AwsError(
            f"the shift of {plan.function}:{plan.alias} stopped, but the alias was changed by "
            f"someone else meanwhile (it now has {now_state.target.describe()}); layerkit did "
            "not overwrite that change",
            hint="decide which state is right; the state before the shift was "
            f"{before.target.describe()}",
        )
    try:
        return write_alias(
            lambda_client, plan.function, now_state, before.target, before.description
        )
    except (LayerkitError, KeyboardInterrupt) as exc:
        raise _restore_failed(plan, exc) from exc


def _restore_failed(plan: ShiftPlan, exc: BaseException) -> AwsError:
    before = plan.before
    return AwsError(
        f"the shift of {plan.function}:{plan.alias} stopped and restoring the alias failed "
        f"({_reason(exc)}); it should be {before.target.describe()}",
        hint=f"restore it with `layerkit alias rollback {plan.function} {plan.alias}` (the "
        "alias records its state before the shift)",
    )
