"""Attaching a layer version to a function without disturbing anything else.

Planning is pure (`plan_layers`, `check_compatibility`, `function_size_report`): current layers
in, new layers out, every Lambda rule checked. `attach_layer` then makes the one
``UpdateFunctionConfiguration`` call, guarded by the function's ``RevisionId`` and bracketed by
waits for any update in progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from layerkit.aws.content import Finder, check_overlap
from layerkit.aws.errors import aws_call
from layerkit.aws.functions import (
    DEFAULT_POLL_S,
    DEFAULT_UPDATE_TIMEOUT_S,
    Clock,
    Sleep,
    wait_until_updated,
)
from layerkit.aws.layers import LayerVersionInfo, get_version_by_arn
from layerkit.aws.rules import (
    check_function_name,
    check_layer_list,
    parse_layer_version_arn,
)
from layerkit.errors import AwsError, LambdaRuleError
from layerkit.limits import LAMBDA_UNZIPPED_LIMIT
from layerkit.runtimehints import RuntimeHint, unset_notes

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        FunctionConfigurationResponseTypeDef,
        UpdateFunctionConfigurationRequestTypeDef,
    )

    from layerkit.release_plan import FunctionConfig

Change = Literal["add", "replace", "none"]
AttachOutcome = Literal["attached", "replaced", "unchanged"]
# Lambda's answers to a change racing ours: 412 stale RevisionId, 409 update in progress.
RACE_CODES = ("PreconditionFailedException", "ResourceConflictException")
_OUTCOMES: dict[Change, AttachOutcome] = {
    "add": "attached",
    "replace": "replaced",
    "none": "unchanged",
}


@dataclass(frozen=True)
class AttachPlan:
    """The function's layer list before and after; `replaced` is the older version swapped out."""

    function: str
    layer: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    change: Change
    replaced: str | None = None


@dataclass(frozen=True)
class SizeItem:
    """One contributor to the function's unzipped size; `exact` False means a lower bound."""

    label: str
    bytes: int
    exact: bool
    note: str = ""


@dataclass(frozen=True)
class FunctionSizeReport:
    items: tuple[SizeItem, ...]
    total: int
    limit: int

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(item.label for item in self.items if not item.exact)


@dataclass(frozen=True)
class WaitSettings:
    """How long and how often to wait for an update in progress (sleep/clock for tests)."""

    timeout_s: float = DEFAULT_UPDATE_TIMEOUT_S
    poll_s: float = DEFAULT_POLL_S
    sleep: Sleep = time.sleep
    clock: Clock = time.monotonic


DEFAULT_WAIT = WaitSettings()


@dataclass(frozen=True)
class AttachResult:
    function: str
    region: str
    layer: str
    outcome: AttachOutcome
    before: tuple[str, ...]
    after: tuple[str, ...]
    replaced: str | None
    sizes: FunctionSizeReport
    dry_run: bool
    revision_id: str | None = None
    notes: tuple[str, ...] = ()


def layer_arns(config: FunctionConfig) -> tuple[str, ...]:
    """The function's layer version ARNs, in order."""
    return tuple(str(layer["Arn"]) for layer in config.get("Layers", []))


def plan_layers(
    current: Sequence[str], layer: str, *, function: str, allow_downgrade: bool = False
) -> AttachPlan:
    """Add `layer`, or swap it for an older version of the same layer in the same position.

    Other layers keep their place (order decides which file wins in /opt). Refuses a result
    with more than 5 layers or two versions of one layer, and a downgrade unless allowed.
    """
    new = parse_layer_version_arn(layer)
    parsed = check_layer_list(current, function=function) if current else ()
    before = tuple(current)
    same = [i for i, arn in enumerate(parsed) if arn.layer_arn == new.layer_arn]
    if not same:
        after = (*before, str(new))
        check_layer_list(after, function=function)
        return AttachPlan(function, str(new), before, after, "add")
    index = same[0]
    existing = parsed[index]
    if existing.version == new.version:
        return AttachPlan(function, str(new), before, before, "none")
    if existing.version > new.version and not allow_downgrade:
        raise LambdaRuleError(
            f"function {function} uses version {existing.version} of layer {new.name}, newer "
            f"than {new.version}",
            hint="pass --allow-downgrade to roll back to the older version on purpose",
        )
    after = (*before[:index], str(new), *before[index + 1 :])
    check_layer_list(after, function=function)
    return AttachPlan(function, str(new), before, after, "replace", replaced=before[index])


def check_compatibility(config: FunctionConfig, layer: LayerVersionInfo) -> None:
    """Refuse a layer whose declared architectures/runtimes exclude the function's."""
    name = config.get("FunctionName", "?")
    if config.get("PackageType", "Zip") == "Image":
        raise LambdaRuleError(
            f"function {name} is a container image; Lambda does not attach layers to those",
            hint="copy the layer's contents into the image instead",
        )
    arch = (config.get("Architectures") or ["x86_64"])[0]
    if layer.architectures and arch not in layer.architectures:
        raise LambdaRuleError(
            f"layer {layer.arn} is built for {', '.join(layer.architectures)}, but function "
            f"{name} runs on {arch}",
            hint=f"build the layer for {arch} (layerkit build --arch {arch}) and attach that one",
        )
    runtime = config.get("Runtime")
    if layer.runtimes and runtime and runtime not in layer.runtimes:
        raise LambdaRuleError(
            f"layer {layer.arn} is compatible with {', '.join(layer.runtimes)}, but function "
            f"{name} runs {runtime}",
            hint=f"build the layer for {runtime} and attach that one",
        )


def function_size_report(
    config: FunctionConfig,
    after: Sequence[str],
    known_unzipped: Mapping[str, int],
    *,
    limit: int = LAMBDA_UNZIPPED_LIMIT,
) -> FunctionSizeReport:
    """Function code + every layer, unzipped, against Lambda's 262,144,000 bytes.

    Lambda reports only zipped sizes, so a size layerkit did not record is counted by its zipped
    size and flagged as a lower bound. Over the limit even so raises `LambdaRuleError`.
    """
    zipped = {
        str(layer["Arn"]): int(layer.get("CodeSize", 0)) for layer in config.get("Layers", [])
    }
    items = [
        SizeItem(
            "function code",
            int(config.get("CodeSize", 0)),
            exact=False,
            note="unzipped size unknown (Lambda reports the zipped size); counted zipped",
        )
    ]
    for arn in after:
        if arn in known_unzipped:
            items.append(SizeItem(arn, known_unzipped[arn], exact=True))
        else:
            items.append(
                SizeItem(
                    arn,
                    zipped.get(arn, 0),
                    exact=False,
                    note="not published by layerkit: unzipped size unknown, counted zipped",
                )
            )
    total = sum(item.bytes for item in items)
    report = FunctionSizeReport(tuple(items), total, limit)
    if total > limit:
        largest = sorted(items, key=lambda item: item.bytes, reverse=True)[:3]
        listing = ", ".join(f"{item.label} {item.bytes:,}" for item in largest)
        raise LambdaRuleError(
            f"function {config.get('FunctionName', '?')} would need at least {total:,} bytes "
            f"unzipped (function code + layers); Lambda allows {limit:,}",
            hint=f"largest: {listing}; slim the layer (layerkit build --strip, exclude) or "
            "detach a layer",
        )
    return report


def _known_sizes(
    client: LambdaClient, arns: Sequence[str], new: LayerVersionInfo
) -> dict[str, int]:
    """Unzipped sizes layerkit recorded in the descriptions of the given layer versions."""
    sizes: dict[str, int] = {}
    if new.unzipped_bytes is not None:
        sizes[new.arn] = new.unzipped_bytes
    for arn in arns:
        if arn in sizes:
            continue
        try:
            info = get_version_by_arn(client, parse_layer_version_arn(arn))
        except AwsError:
            # Another account's layer we may not read, or a deleted version: size stays unknown.
            continue
        if info.unzipped_bytes is not None:
            sizes[arn] = info.unzipped_bytes
    return sizes


def settler(
    client: LambdaClient, function: str, wait: WaitSettings
) -> Callable[[], FunctionConfigurationResponseTypeDef]:
    """Waiting out `function`'s update in progress, as `wait` says; returns its configuration."""

    def settle() -> FunctionConfigurationResponseTypeDef:
        return wait_until_updated(
            client,
            function,
            timeout_s=wait.timeout_s,
            poll_s=wait.poll_s,
            sleep=wait.sleep,
            clock=wait.clock,
        )

    return settle


def update_layers(
    client: LambdaClient, function: str, layers: Sequence[str], revision: str | None
) -> None:
    params: UpdateFunctionConfigurationRequestTypeDef = {
        "FunctionName": function,
        "Layers": list(layers),
    }
    if revision:
        # Optimistic locking: Lambda answers 412 if the function changed since we read it.
        params["RevisionId"] = revision
    with aws_call("UpdateFunctionConfiguration", f"function {function}"):
        client.update_function_configuration(**params)


def attach_layer(
    client: LambdaClient,
    *,
    function: str,
    layer: LayerVersionInfo,
    region: str,
    dry_run: bool = False,
    allow_downgrade: bool = False,
    wait: WaitSettings = DEFAULT_WAIT,
    env_hints: Sequence[RuntimeHint] = (),
    find_distributions: Finder | None = None,
    allow_overlap: bool = False,
) -> AttachResult:
    """Attach `layer` to `function` (see `plan_layers`), safely against concurrent changes.

    `env_hints` (what the layer's packages write at run time) become notes when the function's
    environment does not set their variable. With `find_distributions`, a layer list in which
    two layers ship the same distribution is refused unless `allow_overlap` (see
    `layerkit.aws.content.check_overlap`).

    A stale RevisionId (412) or an update that started meanwhile (409) makes layerkit re-read the
    function and re-apply — only if our layer's slot is as it was; otherwise it stops and names
    the concurrent change. Conflicts in a row are retried with backoff within `wait.timeout_s`.
    Nothing is written with `dry_run`.
    """
    check_function_name(function)
    settle = settler(client, function, wait)

    def prepare(config: FunctionConfig) -> tuple[AttachPlan, FunctionSizeReport, tuple[str, ...]]:
        check_compatibility(config, layer)
        plan = plan_layers(
            layer_arns(config), layer.arn, function=function, allow_downgrade=allow_downgrade
        )
        sizes = function_size_report(config, plan.after, _known_sizes(client, plan.after, layer))
        notes: tuple[str, ...] = ()
        if find_distributions is not None and plan.change != "none":
            notes = check_overlap(
                plan.after,
                layer.arn,
                find_distributions,
                function=function,
                allow_overlap=allow_overlap,
            )
        return plan, sizes, notes

    deadline = wait.clock() + wait.timeout_s
    config = settle()
    plan, sizes, notes = prepare(config)
    env_notes = unset_notes(env_hints, config.get("Environment", {}).get("Variables", {}))
    outcome = _OUTCOMES[plan.change]
    result = AttachResult(
        function=function,
        region=region,
        layer=layer.arn,
        outcome=outcome,
        before=plan.before,
        after=plan.after,
        replaced=plan.replaced,
        sizes=sizes,
        dry_run=dry_run,
        revision_id=config.get("RevisionId"),
        notes=tuple(dict.fromkeys((*env_notes, *notes))),
    )
    if plan.change == "none" or dry_run:
        return result
    try:
        update_layers(client, function, plan.after, config.get("RevisionId"))
    except AwsError as exc:
        if exc.code not in RACE_CODES:
            raise
        result = _reapply(
            client,
            function=function,
            layer=layer,
            plan=plan,
            settle=settle,
            prepare=prepare,
            result=result,
            first_error=exc,
            wait=wait,
            deadline=deadline,
        )
    final = settle()
    notes = tuple(dict.fromkeys((*env_notes, *result.notes)))
    if layer_arns(final) != result.after:
        notes = (*notes, f"the function's layers changed again right after: {layer_arns(final)}")
    return replace(result, revision_id=final.get("RevisionId"), notes=notes)


def race_backoff(
    error: AwsError,
    *,
    attempt: int,
    deadline: float,
    wait: WaitSettings,
    what: str,
    layers: Sequence[str],
) -> None:
    """After the `attempt`-th 409/412 in a row: wait the next backoff if it fits the time bound
    (the same `--timeout` that bounds waiting for updates), else stop with what is there."""
    delay = min(0.5 * 2 ** (attempt - 1), 8.0)
    if wait.clock() + delay > deadline:
        raise AwsError(
            f"{what} kept changing ({error.code} {attempt + 1} times in a row within "
            f"{wait.timeout_s:.0f}s); nothing was applied, its layers are {list(layers)}",
            hint="another deployment is changing this function right now; re-run when it is done",
            code=error.code,
        ) from error
    wait.sleep(delay)


def _reapply(
    client: LambdaClient,
    *,
    function: str,
    layer: LayerVersionInfo,
    plan: AttachPlan,
    settle: Callable[[], FunctionConfigurationResponseTypeDef],
    prepare: Callable[[FunctionConfig], tuple[AttachPlan, FunctionSizeReport, tuple[str, ...]]],
    result: AttachResult,
    first_error: AwsError,
    wait: WaitSettings,
    deadline: float,
) -> AttachResult:
    """Someone changed the function between our read and write: re-read, re-check the plan and
    re-apply if safe — at once the first time, then with backoff while the time bound allows."""
    error = first_error
    attempt = 0
    current = plan.before
    while True:
        if attempt:
            what = f"function {function} (attaching {layer.arn})"
            race_backoff(
                error, attempt=attempt, deadline=deadline, wait=wait, what=what, layers=current
            )
        attempt += 1
        fresh = settle()
        current = layer_arns(fresh)
        if layer.arn in current:
            return replace(
                result,
                outcome="unchanged",
                before=current,
                after=current,
                notes=(f"{layer.arn} was attached by a concurrent change",),
            )
        if _slot(current, layer.arn) != _slot(plan.before, layer.arn):
            raise AwsError(
                f"function {function} changed while layerkit was attaching {layer.arn}: its "
                f"layers went from {list(plan.before)} to {list(current)} ({error.code}); "
                "nothing was applied",
                hint="another deployment changed this layer on the function; check it, then re-run",
                code=error.code,
            )
        new_plan, sizes, notes = prepare(fresh)
        try:
            update_layers(client, function, new_plan.after, fresh.get("RevisionId"))
        except AwsError as exc:
            if exc.code not in RACE_CODES:
                raise
            error = exc
            continue
        tries = f", {attempt + 1} tries" if attempt > 1 else ""
        return replace(
            result,
            before=new_plan.before,
            after=new_plan.after,
            replaced=new_plan.replaced,
            sizes=sizes,
            notes=(*notes, f"re-applied on top of a concurrent change ({first_error.code}{tries})"),
        )


def _slot(layers: Sequence[str], layer: str) -> str | None:
    """The version of `layer`'s layer present in `layers` (None if absent)."""
    target = parse_layer_version_arn(layer).layer_arn
    for arn in layers:
        if parse_layer_version_arn(arn).layer_arn == target:
            return arn
    return None
