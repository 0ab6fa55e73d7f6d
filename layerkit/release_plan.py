"""Releases as data: alias records and routings, version listings, weight and shift plans.

Pure: no boto3, no I/O (the clock is injected as `Now`). The use cases that read and write Lambda
with these are in `layerkit.releasing`; the calls themselves in `layerkit.aws.aliases` and
`layerkit.aws.versions`.

Aliases
=======
An alias's state, Lambda's routing rules (checked before each call) and rollback records.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from layerkit.errors import LambdaRuleError, UsageError
from layerkit.limits import (
    ALIAS_NAME_PATTERN,
    MAX_ADDITIONAL_VERSIONS,
    MAX_ALIAS_NAME_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_ROUTING_WEIGHT,
    MIN_ROUTING_WEIGHT,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    from mypy_boto3_lambda.type_defs import (
        FunctionConfigurationResponseTypeDef,
        FunctionConfigurationTypeDef,
    )

    # A function's configuration: as GetFunctionConfiguration answers, or as a listing holds it.
    FunctionConfig: TypeAlias = FunctionConfigurationResponseTypeDef | FunctionConfigurationTypeDef

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


# --- traffic shifts ----------------------------------------------------------------------------

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


def canary_message(plan: ShiftPlan, percent: float) -> str:
    """What a shift that ends below 100% leaves, and how to finish or undo it."""
    where = f"{plan.function} {plan.alias}"
    return (
        f"stopped at {percent:g}% as --steps said: version {plan.to_version} takes {percent:g}% "
        f"of {plan.function}:{plan.alias}, version {plan.from_version} the rest (a canary left in "
        f"place); finish with `layerkit alias shift {where} --to {plan.to_version} --steps 100` "
        f"or `layerkit alias promote {where}`, undo with `layerkit alias rollback {where}`"
    )


# --- published versions ------------------------------------------------------------------------

# The configuration a version pins besides its code; compared to detect "nothing changed".
_PINNED_KEYS = (
    "CodeSha256",
    "PackageType",
    "Runtime",
    "Handler",
    "Role",
    "MemorySize",
    "Timeout",
    "Environment",
    "TracingConfig",
    "DeadLetterConfig",
    "KMSKeyArn",
    "Architectures",
    "EphemeralStorage",
    "FileSystemConfigs",
    "ImageConfigResponse",
    "LoggingConfig",
)


@dataclass(frozen=True)
class VersionInfo:
    """One published version (or $LATEST) and what it pinned."""

    version: str
    code_sha256: str
    layers: tuple[str, ...]
    description: str
    last_modified: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishResult:
    """The outcome of `version publish`: `created` is False when Lambda kept the newest version."""

    function: str
    version: VersionInfo
    created: bool
    message: str


@dataclass(frozen=True)
class VersionListing:
    function: str
    versions: tuple[VersionInfo, ...]


@dataclass(frozen=True)
class PruneResult:
    function: str
    keep: int
    deleted: tuple[str, ...]
    kept_newest: tuple[str, ...]
    kept_aliased: tuple[str, ...]
    dry_run: bool


def version_info(config: FunctionConfig, aliases: Iterable[AliasState] = ()) -> VersionInfo:
    version = str(config.get("Version", ""))
    pointing = tuple(
        alias.name
        for alias in aliases
        if alias.function_version == version or version in alias.additional_version_weights
    )
    return VersionInfo(
        version=version,
        code_sha256=str(config.get("CodeSha256", "")),
        layers=tuple(str(layer["Arn"]) for layer in config.get("Layers") or []),
        description=str(config.get("Description") or ""),
        last_modified=str(config.get("LastModified", "")),
        aliases=pointing,
    )


def _normalised(config: FunctionConfig) -> dict[str, object]:
    """The pinned configuration with empty values dropped (AWS omits or empties them at will)."""
    pinned: dict[str, object] = {k: config.get(k) for k in _PINNED_KEYS if config.get(k)}
    pinned["Layers"] = [layer["Arn"] for layer in config.get("Layers") or []]
    vpc = config.get("VpcConfig") or {}
    pinned["Vpc"] = (sorted(vpc.get("SubnetIds") or []), sorted(vpc.get("SecurityGroupIds") or []))
    pinned["SnapStart"] = (config.get("SnapStart") or {}).get("ApplyOn", "None")
    return pinned


def unchanged_since(latest: FunctionConfig, published: FunctionConfig) -> bool:
    """True when $LATEST pins exactly what the published version does (code, layers, config)."""
    return _normalised(latest) == _normalised(published)


def version_number(config: FunctionConfig) -> int:
    return int(config["Version"])


def plan_prune(
    versions: Iterable[str], aliases: Iterable[AliasState], *, keep: int
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(to delete, kept as newest, kept because an alias routes to them); pure."""
    if keep < 0:
        raise UsageError(f"--keep must be 0 or more, got {keep}")
    ordered = sorted(set(versions), key=int)
    # max(): keeping more versions than exist keeps them all (a negative start would wrap).
    newest = ordered[max(len(ordered) - keep, 0) :] if keep else []
    referenced = {
        v for alias in aliases for v in (alias.function_version, *alias.additional_version_weights)
    }
    deleted = tuple(v for v in ordered if v not in newest and v not in referenced)
    aliased = tuple(v for v in ordered if v not in newest and v in referenced)
    return deleted, tuple(newest), aliased
