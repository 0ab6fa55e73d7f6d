"""Removing a layer from a function, keeping the other layers in place and in order.

The same safety as `attach`: updates in progress are waited out, the write is guarded by the
function's ``RevisionId``, and a conflict (409/412) makes layerkit re-read the function and
re-plan, with backoff, within the same time bound. The plan is pure (`plan_detach`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from layerkit.aws.attach import (
    DEFAULT_WAIT,
    RACE_CODES,
    WaitSettings,
    layer_arns,
    race_backoff,
    settler,
    update_layers,
)
from layerkit.aws.rules import check_function_name, check_layer_name, parse_layer_version_arn
from layerkit.errors import AwsError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient

DetachOutcome = Literal["detached", "unchanged"]


@dataclass(frozen=True)
class DetachResult:
    function: str
    region: str
    layer: str
    outcome: DetachOutcome
    before: tuple[str, ...]
    after: tuple[str, ...]
    removed: tuple[str, ...]
    dry_run: bool
    revision_id: str | None = None
    notes: tuple[str, ...] = ()


def check_layer_ref(layer: str) -> str | None:
    """Check a layer name, layer ARN or layer version ARN (what `detach --layer` takes);
    return the ARN's region (None for a name)."""
    if layer.startswith("arn:"):
        versioned = layer if layer.rsplit(":", 1)[-1].isdigit() else f"{layer}:1"
        return parse_layer_version_arn(versioned).region  # a layer's ARN checked as version 1's
    if not layer or ":" in layer:
        raise UsageError(
            f"{layer!r} is neither a layer name nor a layer ARN",
            hint="give the layer's name (e.g. deps) or its ARN (see `layerkit layers list`)",
        )
    check_layer_name(layer)
    return None


def _matches(arn: str, layer: str) -> bool:
    parsed = parse_layer_version_arn(arn)
    if layer.startswith("arn:"):
        return layer in (str(parsed), parsed.layer_arn)
    return parsed.name == layer


def plan_detach(current: tuple[str, ...], layer: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(layers after, layers removed): every version of `layer` (a name or a layer ARN), or
    exactly the version a version ARN names; the others keep their order."""
    removed = tuple(arn for arn in current if _matches(arn, layer))
    return tuple(arn for arn in current if arn not in removed), removed


def detach_layer(
    client: LambdaClient,
    *,
    function: str,
    layer: str,
    region: str,
    dry_run: bool = False,
    wait: WaitSettings = DEFAULT_WAIT,
) -> DetachResult:
    """Remove `layer` from `function` (no-op if it is not there), safely against races."""
    check_function_name(function)
    check_layer_ref(layer)
    deadline = wait.clock() + wait.timeout_s
    settle = settler(client, function, wait)

    config = settle()
    before = layer_arns(config)
    after, removed = plan_detach(before, layer)
    result = DetachResult(
        function=function,
        region=region,
        layer=layer,
        outcome="detached" if removed else "unchanged",
        before=before,
        after=after,
        removed=removed,
        dry_run=dry_run,
        revision_id=config.get("RevisionId"),
    )
    if not removed or dry_run:
        return result
    attempt = 0
    current = before
    while True:
        try:
            update_layers(client, function, after, config.get("RevisionId"))
            break
        except AwsError as error:
            if error.code not in RACE_CODES:
                raise
            attempt += 1
            if attempt > 1:
                what = f"function {function} (detaching {layer})"
                race_backoff(
                    error, attempt=attempt - 1, deadline=deadline, wait=wait, what=what,
                    layers=current,
                )  # fmt: skip
            config = settle()
            current = layer_arns(config)
            after, removed = plan_detach(current, layer)
            if not removed:
                return DetachResult(
                    function, region, layer, "unchanged", current, current, (), dry_run,
                    config.get("RevisionId"), (f"{layer} was detached by a concurrent change",),
                )  # fmt: skip
    final = settle()
    notes = (f"re-applied on top of a concurrent change ({attempt} conflicts)",) if attempt else ()
    return DetachResult(
        function, region, layer, "detached", current, after, removed, dry_run,
        final.get("RevisionId"), notes,
    )  # fmt: skip
