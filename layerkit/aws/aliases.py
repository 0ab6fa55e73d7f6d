"""Lambda aliases: their state, Lambda's routing rules checked before each call, rollback records.

Lambda's rules, enforced here before any call (the test emulator enforces none of them): an alias
name is 1-128 of ``[a-zA-Z0-9-_]`` and not all digits; with routing, the primary version is never
``$LATEST``; at most one additional version, published (a number), different from the primary and
existing; its weight is a number in [0, 1); both versions share the execution role and the
dead-letter config. Every update sends the alias's ``RevisionId`` so a concurrent change makes
Lambda answer 412 instead of being overwritten.

The rollback record
-------------------
Each change layerkit makes to an existing alias (update, promote, shift, rollback excepted) appends
a compact marker to the alias's Description, written by the same ``UpdateAlias`` call as the change
(so it is atomic with it, guarded by the same ``RevisionId``, and survives between CI jobs)::

    <the user's description> [layerkit op=update from=11+12@0.1 to=11 at=2026-11-27T06:43:00Z]

``from`` is the alias's routing before the change and ``to`` the routing layerkit set; a routing is
the primary version, optionally followed by ``+<additional version>@<weight>``. When the change also
replaced the user's description, the old text follows as ``was="<JSON string>"``. ``op`` is
``update``, ``promote``, ``shift`` (a finished traffic shift) or ``shift-running`` (a shift in
flight: another shift refuses to start while it is there).

``alias rollback`` restores ``from`` (and the old description text) provided the alias still has
the routing ``to`` - a change made outside layerkit since is never undone silently - and writes the
description without a marker. Hence one level of undo: a second rollback reports that there is
nothing to roll back to. The record never counts against the user's text silently: when text plus
record exceed Lambda's 256 characters, layerkit refuses and says how long the text may be.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from layerkit.aws.errors import aws_call
from layerkit.aws.functions import get_configuration
from layerkit.errors import AwsError, LambdaRuleError, UsageError
from layerkit.limits import (
    ALIAS_NAME_PATTERN,
    MAX_ADDITIONAL_VERSIONS,
    MAX_ALIAS_NAME_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_ROUTING_WEIGHT,
    MIN_ROUTING_WEIGHT,
)

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        AliasConfigurationResponseTypeDef,
        AliasConfigurationTypeDef,
        CreateAliasRequestTypeDef,
        FunctionConfigurationResponseTypeDef,
        UpdateAliasRequestTypeDef,
    )

    from layerkit.aws.functions import FunctionConfig

LATEST = "$LATEST"

Now = Callable[[], datetime]
RecordOp = Literal["update", "promote", "shift", "shift-running"]

_ALIAS_NAME = re.compile(ALIAS_NAME_PATTERN)
_VERSION = re.compile(r"[0-9]+")
_TOKEN = re.compile(r"(?P<v>\$LATEST|[0-9]+)(?:\+(?P<extra>[0-9]+)@(?P<w>[0-9.eE+-]+))?")
_RECORD = re.compile(
    r"(?:^| )\[layerkit op=(?P<op>update|promote|shift|shift-running) from=(?P<src>\S+) "
    r"to=(?P<dst>\S+) at=(?P<at>\S+)(?: was=(?P<was>\".*\"))?\]$",
    re.DOTALL,
)


def utc_now() -> datetime:
    """The wall clock layerkit stamps records and events with (injectable where it is used)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class AliasTarget:
    """Where an alias sends traffic: a primary version and at most one weighted extra version."""

    function_version: str
    additional_version_weights: dict[str, float] = field(default_factory=dict)

    @property
    def routed(self) -> tuple[str, float] | None:
        """The (additional version, weight) pair, or None without routing."""
        if not self.additional_version_weights:
            return None
        version, weight = next(iter(self.additional_version_weights.items()))
        return version, weight

    def token(self) -> str:
        """Compact form used in the rollback record: ``11`` or ``11+12@0.1``."""
        routed = self.routed
        if routed is None:
            return self.function_version
        return f"{self.function_version}+{routed[0]}@{routed[1]!r}"

    def describe(self) -> str:
        """Human form: ``100% -> 11`` or ``90% -> 11, 10% -> 12``."""
        routed = self.routed
        if routed is None:
            return f"100% -> {self.function_version}"
        primary = percent_text(1.0 - routed[1])
        return f"{primary} -> {self.function_version}, {percent_text(routed[1])} -> {routed[0]}"

    @staticmethod
    def parse_token(token: str) -> AliasTarget:
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ValueError(f"not a routing token: {token!r}")
        if match["extra"] is None:
            return AliasTarget(match["v"])
        return AliasTarget(match["v"], {match["extra"]: float(match["w"])})


def percent_text(weight: float) -> str:
    return f"{round(weight * 100, 4):g}%"


@dataclass(frozen=True)
class RollbackRecord:
    """The state before the last change layerkit made to an alias (see the module docstring)."""

    op: RecordOp
    before: AliasTarget
    after: AliasTarget
    at: str
    previous_description: str | None = None

    def render(self) -> str:
        text = (
            f"[layerkit op={self.op} from={self.before.token()} to={self.after.token()} "
            f"at={self.at}"
        )
        if self.previous_description is not None:
            text += " was=" + json.dumps(self.previous_description, ensure_ascii=True)
        return text + "]"


def split_description(description: str) -> tuple[str, RollbackRecord | None]:
    """The user's text and the rollback record (None when the description carries none)."""
    match = _RECORD.search(description)
    if match is None:
        return description, None
    try:
        before = AliasTarget.parse_token(match["src"])
        after = AliasTarget.parse_token(match["dst"])
        was = json.loads(match["was"]) if match["was"] else None
    except (ValueError, json.JSONDecodeError):
        return description, None
    op: RecordOp = match["op"]  # type: ignore[assignment]  # the regex admits only RecordOp values
    record = RollbackRecord(op, before, after, match["at"], was if isinstance(was, str) else None)
    return description[: match.start()], record


def compose_description(user_text: str, record: RollbackRecord | None) -> str:
    """The alias Description holding the user's text and the record; refuses over 256 chars."""
    if record is None:
        text = user_text
    else:
        marker = record.render()
        text = f"{user_text} {marker}" if user_text else marker
    if len(text) > MAX_DESCRIPTION_CHARS:
        room = MAX_DESCRIPTION_CHARS - (len(text) - len(user_text))
        raise LambdaRuleError(
            f"the alias description would be {len(text)} characters; Lambda allows "
            f"{MAX_DESCRIPTION_CHARS}",
            hint=(
                f"shorten the description to at most {max(room, 0)} characters: layerkit keeps "
                "its rollback record in the same field"
                if record is not None
                else f"shorten the description to at most {MAX_DESCRIPTION_CHARS} characters"
            ),
        )
    return text


@dataclass(frozen=True)
class AliasState:
    """An alias as Lambda reports it."""

    name: str
    function_version: str
    additional_version_weights: dict[str, float]
    description: str
    revision_id: str
    arn: str = ""

    @property
    def target(self) -> AliasTarget:
        return AliasTarget(self.function_version, dict(self.additional_version_weights))

    @property
    def user_description(self) -> str:
        return split_description(self.description)[0]

    @property
    def record(self) -> RollbackRecord | None:
        return split_description(self.description)[1]

    def same_as(self, other: AliasState) -> bool:
        """Same routing and description (revision ids aside): what "restored exactly" means."""
        return (
            self.function_version == other.function_version
            and self.additional_version_weights == other.additional_version_weights
            and self.description == other.description
        )


def alias_state_from_response(
    response: AliasConfigurationResponseTypeDef | AliasConfigurationTypeDef,
) -> AliasState:
    """Build an `AliasState` from a GetAlias / CreateAlias / UpdateAlias / ListAliases item."""
    weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasState(
        name=str(response["Name"]),
        function_version=str(response["FunctionVersion"]),
        additional_version_weights={str(k): float(v) for k, v in weights.items()},
        description=str(response.get("Description") or ""),
        revision_id=str(response.get("RevisionId") or ""),
        arn=str(response.get("AliasArn") or ""),
    )


# ---------------------------------------------------------------------------------------------
# Lambda's rules, pure


def validate_alias_name(name: str) -> None:
    """1-128 of ``[a-zA-Z0-9-_]``, not all digits (a number would read as a version)."""
    if not _ALIAS_NAME.fullmatch(name):
        raise LambdaRuleError(
            f"invalid alias name {name!r}: Lambda allows 1-{MAX_ALIAS_NAME_CHARS} letters, digits, "
            "'-' and '_'",
            hint="choose a name such as prod, live or canary",
        )
    if name.isdigit():
        raise LambdaRuleError(
            f"invalid alias name {name!r}: an alias name cannot be all digits (it would read as "
            "a version number)",
            hint="choose a name with a letter, such as prod or v" + name,
        )


def validate_version_reference(version: str) -> None:
    if version != LATEST and not _VERSION.fullmatch(version):
        raise LambdaRuleError(
            f"invalid function version {version!r}: a version is a number or $LATEST",
            hint="see the published versions with `layerkit version list FUNCTION`",
        )


def validate_target(target: AliasTarget) -> None:
    """Lambda's routing rules that need no AWS call."""
    validate_version_reference(target.function_version)
    weights = target.additional_version_weights
    if not weights:
        return
    if len(weights) > MAX_ADDITIONAL_VERSIONS:
        raise LambdaRuleError(
            f"an alias routes to at most one additional version; got {len(weights)}: "
            + ", ".join(sorted(weights)),
            hint="give a single --weight VERSION=WEIGHT",
        )
    version, weight = next(iter(weights.items()))
    if target.function_version == LATEST:
        raise LambdaRuleError(
            "an alias with weighted routing cannot point to $LATEST",
            hint="publish a version (`layerkit version publish FUNCTION`) and route between "
            "published versions",
        )
    if version == LATEST or not _VERSION.fullmatch(version):
        raise LambdaRuleError(
            f"the additional version {version!r} is not a published version: routing needs "
            "published versions (never $LATEST)",
            hint="publish a version with `layerkit version publish FUNCTION` and route to its "
            "number",
        )
    if version == target.function_version:
        raise LambdaRuleError(
            f"the additional version {version} is the alias's primary version",
            hint="route to a different version, or use --no-routing",
        )
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or math.isnan(weight):
        raise LambdaRuleError(
            f"the weight of version {version} is not a number: {weight!r}",
            hint="the weight is a fraction of traffic, e.g. 0.1 for 10%",
        )
    # A full weight is refused: sending all traffic to it is a promote, not routing.
    if not MIN_ROUTING_WEIGHT <= weight < MAX_ROUTING_WEIGHT:
        raise LambdaRuleError(
            f"the weight of version {version} is {weight!r}; it must be at least 0 and below 1",
            hint=f"to send all traffic to {version}, use --version {version} --no-routing "
            "or `layerkit alias promote`",
        )


def parse_weight_option(values: Iterable[str]) -> dict[str, float]:
    """``["12=0.1"]`` -> ``{"12": 0.1}`` (syntax only; `validate_target` checks the rules)."""
    weights: dict[str, float] = {}
    for value in values:
        version, sep, weight_text = value.partition("=")
        version = version.strip()
        if not sep or not version:
            raise UsageError(
                f"--weight {value!r} is not VERSION=WEIGHT", hint="e.g. --weight 12=0.1"
            )
        try:
            weight = float(weight_text)
        except ValueError:
            raise UsageError(
                f"--weight {value!r}: {weight_text!r} is not a number",
                hint="the weight is a fraction of traffic, e.g. 0.1 for 10%",
            ) from None
        if version in weights:
            raise UsageError(f"--weight gives version {version} twice")
        weights[version] = weight
    return weights


# ---------------------------------------------------------------------------------------------
# Rules that need AWS reads


def _version_configuration(
    lambda_client: LambdaClient, function: str, version: str
) -> FunctionConfigurationResponseTypeDef:
    try:
        return get_configuration(lambda_client, function, version)
    except AwsError as error:
        if error.code == "ResourceNotFoundException":
            raise LambdaRuleError(
                f"version {version} of function {function} does not exist",
                hint=f"see the published versions with `layerkit version list {function}`",
                code=error.code,
            ) from error
        raise


def _dead_letter(config: FunctionConfig) -> str:
    return str((config.get("DeadLetterConfig") or {}).get("TargetArn") or "")


def check_target_versions(lambda_client: LambdaClient, function: str, target: AliasTarget) -> None:
    """The versions exist; with routing, both share the execution role and dead-letter config."""
    validate_target(target)
    primary = _version_configuration(lambda_client, function, target.function_version)
    routed = target.routed
    if routed is None:
        return
    extra = _version_configuration(lambda_client, function, routed[0])
    a, b = target.function_version, routed[0]
    if primary.get("Role") != extra.get("Role"):
        raise LambdaRuleError(
            f"versions {a} and {b} of {function} have different execution roles "
            f"({a}: {primary.get('Role')}, {b}: {extra.get('Role')}); Lambda routes an alias "
            "only between versions with the same role",
            hint=f"publish a version with the role of {a}, or point the alias to one version",
        )
    if _dead_letter(primary) != _dead_letter(extra):
        raise LambdaRuleError(
            f"versions {a} and {b} of {function} have different dead-letter configs "
            f"({a}: {_dead_letter(primary) or 'none'}, {b}: {_dead_letter(extra) or 'none'}); "
            "Lambda routes an alias only between versions with the same dead-letter config",
            hint=f"publish a version with the dead-letter config of {a}, or point the alias "
            "to one version",
        )


# ---------------------------------------------------------------------------------------------
# Reading and writing aliases


def get_alias(lambda_client: LambdaClient, function: str, name: str) -> AliasState:
    with aws_call("GetAlias", f"alias {function}:{name}"):
        response = lambda_client.get_alias(FunctionName=function, Name=name)
    return alias_state_from_response(response)


def list_aliases(lambda_client: LambdaClient, function: str) -> tuple[AliasState, ...]:
    aliases: list[AliasState] = []
    with aws_call("ListAliases", f"function {function}"):
        for page in lambda_client.get_paginator("list_aliases").paginate(FunctionName=function):
            aliases.extend(alias_state_from_response(item) for item in page.get("Aliases", []))
    return tuple(sorted(aliases, key=lambda alias: alias.name))


def create_alias(
    lambda_client: LambdaClient,
    function: str,
    name: str,
    target: AliasTarget,
    *,
    description: str = "",
    dry_run: bool = False,
) -> AliasState:
    """Create an alias after checking every rule; with `dry_run` return what would be created."""
    validate_alias_name(name)
    text = compose_description(description, None)
    check_target_versions(lambda_client, function, target)
    if dry_run:
        return AliasState(
            name, target.function_version, target.additional_version_weights, text, ""
        )
    kwargs: CreateAliasRequestTypeDef = {
        "FunctionName": function,
        "Name": name,
        "FunctionVersion": target.function_version,
        "Description": text,
        # Always explicit, so the alias reads the same before and after routing is cleared.
        "RoutingConfig": {"AdditionalVersionWeights": dict(target.additional_version_weights)},
    }
    try:
        with aws_call("CreateAlias", f"alias {function}:{name}"):
            response = lambda_client.create_alias(**kwargs)
    except AwsError as error:
        # AWS answers ResourceConflictException, the emulator ConflictException.
        if error.code not in ("ResourceConflictException", "ConflictException"):
            raise
        raise UsageError(
            f"alias {function}:{name} already exists",
            hint=f"change it with `layerkit alias update {function} {name} --version "
            f"{target.function_version}`",
        ) from error
    return alias_state_from_response(response)


def write_alias(
    lambda_client: LambdaClient,
    function: str,
    current: AliasState,
    target: AliasTarget,
    description: str,
) -> AliasState:
    """One UpdateAlias call setting version, routing (cleared when empty) and description.

    Sends ``current.revision_id`` so that a change made meanwhile by someone else fails with 412
    instead of being overwritten. Checks nothing: callers validate first.
    """
    kwargs: UpdateAliasRequestTypeDef = {
        "FunctionName": function,
        "Name": current.name,
        "FunctionVersion": target.function_version,
        "RoutingConfig": {"AdditionalVersionWeights": dict(target.additional_version_weights)},
        "Description": description,
    }
    if current.revision_id:
        kwargs["RevisionId"] = current.revision_id
    with aws_call("UpdateAlias", f"alias {function}:{current.name}"):
        response = lambda_client.update_alias(**kwargs)
    return alias_state_from_response(response)


def stamp(now: Now) -> str:
    return now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AliasChange:
    """A planned change of an alias: from `before` to `target` with the new description."""

    function: str
    before: AliasState
    target: AliasTarget
    description: str

    @property
    def changes_anything(self) -> bool:
        return self.before.target != self.target or self.before.description != self.description


def plan_change(
    function: str,
    current: AliasState,
    target: AliasTarget,
    *,
    op: RecordOp,
    now: Now,
    user_description: str | None = None,
    record_from: AliasTarget | None = None,
) -> AliasChange:
    """Validate `target` (pure rules) and build the description carrying the rollback record.

    `record_from` overrides the recorded "before" routing (a shift records its starting point at
    every step); `user_description` replaces the user's text when given.
    """
    validate_target(target)
    old_text = current.user_description
    new_text = old_text if user_description is None else user_description
    record = RollbackRecord(
        op=op,
        before=record_from if record_from is not None else current.target,
        after=target,
        at=stamp(now),
        previous_description=old_text if new_text != old_text else None,
    )
    return AliasChange(function, current, target, compose_description(new_text, record))


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


def refuse_while_shifting(function: str, current: AliasState, action: str) -> None:
    """A shift in flight owns the alias: refuse other changes and say how to resolve."""
    record = current.record
    if record is not None and record.op == "shift-running":
        raise LambdaRuleError(
            f"cannot {action} alias {function}:{current.name}: a traffic shift to version "
            f"{_shift_destination(record)} is in flight (started {record.at}, now at "
            f"{record.after.describe()})",
            hint="wait for it to finish; if the job running it died, "
            f"`layerkit alias rollback {function} {current.name}` restores the state before the "
            f"shift, or `layerkit alias promote {function} {current.name}` completes it",
        )


def _shift_destination(record: RollbackRecord) -> str:
    routed = record.after.routed
    return routed[0] if routed is not None else record.after.function_version


def promote_change(function: str, current: AliasState, *, now: Now) -> AliasChange:
    """Plan making the routed version primary with no routing."""
    routed = current.target.routed
    if routed is None:
        raise UsageError(
            f"nothing to promote: alias {function}:{current.name} routes all traffic to version "
            f"{current.function_version}",
            hint="promote makes the additional (canary) version primary; this alias has none",
        )
    return plan_change(function, current, AliasTarget(routed[0]), op="promote", now=now)


def rollback_change(function: str, current: AliasState) -> AliasChange:
    """Plan restoring the state recorded before layerkit's last change to this alias."""
    record = current.record
    if record is None:
        raise UsageError(
            f"nothing to roll back to: alias {function}:{current.name} carries no record of a "
            "change by layerkit (none was made, it was already rolled back, or the description "
            "was replaced outside layerkit)",
            hint=f"set the routing explicitly with `layerkit alias update {function} "
            f"{current.name} --version N`",
        )
    if record.after != current.target:
        raise LambdaRuleError(
            f"alias {function}:{current.name} was changed outside layerkit after its last "
            f"change: layerkit set {record.after.describe()}, it now has "
            f"{current.target.describe()}; rolling back would undo that change too",
            hint=f"set the routing explicitly with `layerkit alias update {function} "
            f"{current.name} --version {record.before.function_version}`",
        )
    text = (
        current.user_description
        if record.previous_description is None
        else (record.previous_description)
    )
    validate_target(record.before)
    return AliasChange(function, current, record.before, compose_description(text, None))


def delete_alias(lambda_client: LambdaClient, function: str, name: str) -> None:
    with aws_call("DeleteAlias", f"alias {function}:{name}"):
        lambda_client.delete_alias(FunctionName=function, Name=name)


AliasAction = Literal[
    "get", "created", "updated", "promoted", "rolled-back", "unchanged", "deleted"
]


@dataclass(frozen=True)
class AliasReport:
    """What the alias commands report (text or the ``alias`` JSON document)."""

    function: str
    name: str
    arn: str
    function_version: str
    additional_version_weights: dict[str, float]
    routing: str
    description: str
    rollback: RollbackRecord | None
    revision_id: str
    action: AliasAction
    dry_run: bool = False
    previous: AliasTarget | None = None


def alias_report(
    function: str,
    state: AliasState,
    action: AliasAction,
    *,
    dry_run: bool = False,
    previous: AliasTarget | None = None,
) -> AliasReport:
    return AliasReport(
        function=function,
        name=state.name,
        arn=state.arn,
        function_version=state.function_version,
        additional_version_weights=dict(state.additional_version_weights),
        routing=state.target.describe(),
        description=state.user_description,
        rollback=state.record,
        revision_id=state.revision_id,
        action=action,
        dry_run=dry_run,
        previous=previous,
    )


@dataclass(frozen=True)
class AliasListing:
    function: str
    aliases: tuple[AliasReport, ...]


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
