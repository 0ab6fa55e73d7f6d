"""The release use cases: alias update, promote and rollback, traffic shifts, version publish.

They read and write Lambda through `layerkit.aws` and decide with `layerkit.release_plan`, as
`layerkit.publishing` does for layers.

Traffic shifts
==============
A shift moves an alias to a new version in steps, watching alarms, undoing on trouble. The plan is
pure data (`plan_shift`), so ``--dry-run`` prints it and tests check it without AWS. `execute_shift`
writes one UpdateAlias per step (each carrying the alias's RevisionId and the ``shift-running``
rollback record, see `layerkit.release_plan`), checks the alarms before each step and every `poll_s`
during each wait, and on an alarm in ALARM, any failure, or an interrupt restores the alias to
exactly its state before the shift (version, routing, description) and raises `ShiftAbortedError`.
Waiting goes through the injected `sleep` and `clock`; timestamps through `now`.

Versions
========
Published function versions are published (without pretending), listed and pruned. Lambda does not
publish a new version when neither code nor configuration changed since the newest one; it returns
that version instead. The test emulator does not always behave so, and a user must never be told
that a version was created when it was not, so `publish_version` compares ``$LATEST`` with the
newest published version itself (code hash, layers and the configuration a version pins) and skips
the call when nothing changed; it also treats a returned version number that already existed as
"nothing changed".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timezone
from typing import TYPE_CHECKING

from layerkit.aws.alarms import AlarmState, AlarmWatch
from layerkit.aws.aliases import check_target_versions, get_alias, list_aliases, write_alias
from layerkit.aws.functions import Clock, Sleep, wait_until_updated
from layerkit.aws.versions import (
    delete_function_version,
    list_version_configs,
    publish_function_version,
)
from layerkit.errors import (
    AwsError,
    LambdaRuleError,
    LayerkitError,
    ReleaseAbortedError,
    UsageError,
)
from layerkit.limits import MAX_DESCRIPTION_CHARS
from layerkit.release_plan import (
    AliasAction,
    AliasChange,
    AliasReport,
    AliasState,
    AliasTarget,
    EventKind,
    Now,
    Outcome,
    PruneResult,
    PublishResult,
    ShiftEvent,
    ShiftPlan,
    ShiftResult,
    VersionInfo,
    alias_report,
    canary_message,
    describe_step,
    plan_change,
    plan_prune,
    promote_change,
    refuse_while_shifting,
    rollback_change,
    unchanged_since,
    utc_now,
    validate_alias_name,
    version_info,
    version_number,
)

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient


# --- aliases -----------------------------------------------------------------------------------


def apply_change(
    lambda_client: LambdaClient, change: AliasChange, *, dry_run: bool = False
) -> AliasState:
    """Check the versions (AWS reads), then write the change unless `dry_run`."""
    check_target_versions(lambda_client, change.function, change.target)
    if dry_run:
        return replace(
            change.before,
            function_version=change.target.function_version,
            additional_version_weights=dict(change.target.additional_version_weights),
            description=change.description,
        )
    try:
        return write_alias(
            lambda_client, change.function, change.before, change.target, change.description
        )
    except AwsError as stale:
        if stale.code != "PreconditionFailedException":
            raise
        # Someone wrote the alias after we read it. If it still routes as we planned from (only
        # its RevisionId moved), the change is still right: re-apply once on the fresh revision.
        # A second 412 fails as it is. Anything else is their change, never overwritten.
        fresh = get_alias(lambda_client, change.function, change.before.name)
        if (fresh.target, fresh.description) != (change.before.target, change.before.description):
            raise AwsError(
                f"alias {change.function}:{change.before.name} was changed by someone else "
                f"meanwhile: it now routes {fresh.target.describe()} (it routed "
                f"{change.before.target.describe()} when read); nothing was written",
                hint="look at the alias, then re-run if your change still makes sense",
                code=stale.code,
            ) from stale
        return write_alias(lambda_client, change.function, fresh, change.target, change.description)


def _apply_and_report(
    lambda_client: LambdaClient, change: AliasChange, action: AliasAction, *, dry_run: bool
) -> AliasReport:
    if not change.changes_anything:
        return alias_report(change.function, change.before, "unchanged", dry_run=dry_run)
    after = apply_change(lambda_client, change, dry_run=dry_run)
    return alias_report(
        change.function, after, action, dry_run=dry_run, previous=change.before.target
    )


def update_alias(
    lambda_client: LambdaClient,
    function: str,
    name: str,
    *,
    version: str | None = None,
    weights: dict[str, float] | None = None,
    description: str | None = None,
    dry_run: bool = False,
    now: Now = utc_now,
) -> AliasReport:
    """Change version, routing (`weights`: None keeps it, ``{}`` clears it) or description.

    Refused while a traffic shift is in flight. Records the state before for `rollback_alias`.
    """
    validate_alias_name(name)
    current = get_alias(lambda_client, function, name)
    refuse_while_shifting(function, current, "update")
    target = AliasTarget(
        version if version is not None else current.function_version,
        dict(current.additional_version_weights if weights is None else weights),
    )
    if target == current.target and description in (None, current.user_description):
        return alias_report(function, current, "unchanged", dry_run=dry_run)
    change = plan_change(
        function, current, target, op="update", now=now, user_description=description
    )
    return _apply_and_report(lambda_client, change, "updated", dry_run=dry_run)


def promote_alias(
    lambda_client: LambdaClient,
    function: str,
    name: str,
    *,
    dry_run: bool = False,
    now: Now = utc_now,
) -> AliasReport:
    """Make the routed (canary) version primary, without routing."""
    current = get_alias(lambda_client, function, name)
    change = promote_change(function, current, now=now)
    return _apply_and_report(lambda_client, change, "promoted", dry_run=dry_run)


def rollback_alias(
    lambda_client: LambdaClient, function: str, name: str, *, dry_run: bool = False
) -> AliasReport:
    """Restore the state recorded before layerkit's last change to the alias."""
    current = get_alias(lambda_client, function, name)
    change = rollback_change(function, current)
    return _apply_and_report(lambda_client, change, "rolled-back", dry_run=dry_run)


# --- traffic shifts ----------------------------------------------------------------------------

DEFAULT_ALARM_POLL_S = 10.0


class ShiftAbortedError(ReleaseAbortedError):
    """The shift stopped and the alias was restored; `result` tells what happened, step by step."""

    def __init__(self, message: str, *, hint: str | None, result: ShiftResult) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class _AlarmFired(Exception):
    def __init__(self, alarms: tuple[AlarmState, ...]) -> None:
        names = ", ".join(f"{a.name} ({a.reason})" if a.reason else a.name for a in alarms)
        super().__init__(f"alarm in ALARM: {names}")


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


# --- versions ----------------------------------------------------------------------------------


def list_versions(lambda_client: LambdaClient, function: str) -> tuple[VersionInfo, ...]:
    """Published versions, oldest first, each with the aliases that route to it."""
    aliases = list_aliases(lambda_client, function)
    return tuple(version_info(c, aliases) for c in list_version_configs(lambda_client, function))


def publish_version(
    lambda_client: LambdaClient,
    function: str,
    *,
    description: str = "",
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> PublishResult:
    """Wait out any update in progress, then publish $LATEST as a new version if it changed."""
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise LambdaRuleError(
            f"the version description is {len(description)} characters; Lambda allows "
            f"{MAX_DESCRIPTION_CHARS}",
            hint="shorten --description",
        )
    latest = wait_until_updated(lambda_client, function, sleep=sleep, clock=clock)
    published = list_version_configs(lambda_client, function)
    newest = published[-1] if published else None
    if newest is not None and unchanged_since(latest, newest):
        return PublishResult(
            function,
            version_info(newest),
            created=False,
            message=f"nothing changed since version {newest['Version']}: no new version published",
        )
    # Publish only the code we compared: a concurrent code update makes the call fail.
    response = publish_function_version(
        lambda_client,
        function,
        description=description,
        code_sha256=latest.get("CodeSha256"),
        revision_id=latest.get("RevisionId"),
    )
    info = version_info(response)
    if newest is not None and int(info.version) <= version_number(newest):
        return PublishResult(
            function,
            info,
            created=False,
            message=f"Lambda returned the existing version {info.version}: nothing changed "
            "since it",
        )
    return PublishResult(function, info, created=True, message=f"published version {info.version}")


def prune_versions(
    lambda_client: LambdaClient, function: str, *, keep: int, dry_run: bool = False
) -> PruneResult:
    """Delete published versions older than the `keep` newest that no alias routes to."""
    configs = list_version_configs(lambda_client, function)
    aliases = list_aliases(lambda_client, function)
    deleted, newest, aliased = plan_prune((str(c["Version"]) for c in configs), aliases, keep=keep)
    if not dry_run:
        for version in deleted:
            delete_function_version(lambda_client, function, version)
    return PruneResult(function, keep, deleted, newest, aliased, dry_run)
