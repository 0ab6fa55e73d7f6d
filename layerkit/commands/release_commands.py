"""`layerkit version ...` and `layerkit alias ...`: publish versions, route and shift traffic.

boto3 and `layerkit.aws.*` are imported inside the command functions so that `layerkit --help`
and the commands that never reach AWS stay fast. Every command names its function (and alias, and
region) through `Where.target`: as given, else from `--env NAME`'s table (`config.release_target`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from layerkit.commands.common import (
    DryRunOption,
    ForceManagedOption,
    JsonOption,
    Printing,
    ProfileOption,
    QuietOption,
    RegionOption,
    env_keys,
    examples,
    takes_flag_groups,
)
from layerkit.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from layerkit.config import ReleaseTarget
    from layerkit.release_plan import (
        AliasListing,
        AliasReport,
        PruneResult,
        PublishResult,
        ShiftEvent,
        ShiftResult,
        VersionInfo,
        VersionListing,
    )

# With --env, what the command line leaves out comes from the environment's table.
_FROM_ENV = "With --env NAME, FUNCTION comes from [tool.layerkit.env.NAME]'s functions{alias} and"
_FROM_ENV += " the region from its regions when not given (each must name one)."
version_app = typer.Typer(
    name="version",
    help="Publish, list and prune function versions. " + _FROM_ENV.format(alias=""),
    no_args_is_help=True,
)
alias_app = typer.Typer(
    name="alias",
    help="Create and update aliases, route and shift traffic, promote and roll back. "
    + _FROM_ENV.format(alias=", ALIAS from its alias"),
    no_args_is_help=True,
)


def _argument(metavar: str, help_text: str) -> Any:
    """An optional positional (FUNCTION, ALIAS): with --env it may come from the environment."""
    return typer.Argument(metavar=f"[{metavar}]", help=help_text, show_default=False)


FunctionArg = Annotated[
    str | None,
    _argument("FUNCTION", "Function name or ARN (default with --env: the environment's one)."),
]
AliasArg = Annotated[
    str | None,
    _argument("ALIAS", "Alias name, e.g. prod (default with --env: the environment's alias)."),
]
_ENV_HELP = (
    "Take FUNCTION, ALIAS and the region, when not given, from [tool.layerkit.env.NAME] "
    "(functions, alias, regions)."
)
ReleaseEnvOption = Annotated[str | None, typer.Option("--env", metavar="NAME", help=_ENV_HELP)]
EnvProjectOption = Annotated[
    Path,
    typer.Option("--project", metavar="DIR", help="Project whose configuration --env reads."),
]
WeightOption = Annotated[
    list[str] | None,
    typer.Option(
        "--weight",
        help="Route a share of traffic to another published version: VERSION=WEIGHT, "
        "e.g. 12=0.1 for 10%.",
        show_default=False,
    ),
]


def _lambda(profile: str | None, region: str | None) -> Any:
    from layerkit.aws.session import make_factory

    return make_factory(profile=profile, region=region).lambda_client()


def _unmanaged(client: Any, function: str, action: str, *, force: bool) -> Any:
    """`client`, once the function is known not to be managed by a stack (or --force)."""
    from layerkit.aws.functions import refuse_if_managed

    refuse_if_managed(client, function, action=action, force=force)
    return client


@dataclass(frozen=True)
class Where:
    """Where a release command acts: the function, alias and region as given, else --env's."""

    env: ReleaseEnvOption = None
    project: EnvProjectOption = Path()
    profile: ProfileOption = None
    region: RegionOption = None

    def target(self, function: str | None) -> ReleaseTarget:
        """The function (and region) of a command that names no alias."""
        return self._resolve(function, None, needs_alias=False)

    def alias_target(self, function: str | None, alias: str | None) -> tuple[ReleaseTarget, str]:
        """The function (and region) and the alias of a command on an alias."""
        target = self._resolve(function, alias, needs_alias=True)
        assert target.alias is not None  # release_target refuses a missing alias
        return target, target.alias

    def _resolve(
        self, function: str | None, alias: str | None, *, needs_alias: bool
    ) -> ReleaseTarget:
        from layerkit.config import release_target

        keys = env_keys(self.project, self.env)
        return release_target(self.env, keys, function=function, alias=alias,
                              region=self.region, needs_alias=needs_alias)  # fmt: skip

    def lambda_client(self, target: ReleaseTarget) -> Any:
        return _lambda(self.profile, target.region)


@dataclass(frozen=True)
class Reading(Where, Printing):
    """Where and how to print: the flags of a command that reads (`version publish` and
    `version prune` add their own --force / --dry-run)."""

    json_output: JsonOption = False
    quiet: QuietOption = False


@dataclass(frozen=True)
class Changing(Where, Printing):
    """The flags of a command that changes an alias: where, --dry-run, --force, how to print."""

    dry_run: DryRunOption = False
    force: ForceManagedOption = False
    json_output: JsonOption = False
    quiet: QuietOption = False

    def client(self, target: ReleaseTarget, action: str = "changing an alias") -> Any:
        """A Lambda client, once the function is known not to be managed by a stack (or --force)."""
        client = self.lambda_client(target)
        return _unmanaged(client, target.function, action, force=self.force)


# ---------------------------------------------------------------------------------------------
# version


@version_app.command(
    "publish",
    epilog=examples(
        "layerkit version publish my-fn",
        'layerkit version publish my-fn --description "deps 3"',
        "layerkit version publish --env staging",
    ),
)
@takes_flag_groups
def version_publish(
    function: FunctionArg = None,
    description: Annotated[
        str, typer.Option("--description", help="Description of the new version.")
    ] = "",
    force: ForceManagedOption = False,
    *,
    flags: Reading,
) -> None:
    """Publish $LATEST as a new version (after any update in progress finishes)."""
    from layerkit.releasing import publish_version

    out, target = flags.output(), flags.target(function)
    client = _unmanaged(flags.lambda_client(target), target.function, "publishing a version",
                        force=force)  # fmt: skip
    result = out.run_with_status(
        f"publishing a version of {target.function}",
        lambda: publish_version(client, target.function, description=description),
    )
    out.emit("version-publish", result, _render_publish)


def _render_publish(console: Console, result: PublishResult) -> None:
    console.print(f"{result.function}: {result.message}", markup=False)
    _render_version(console, result.version)


def _render_version(console: Console, info: VersionInfo) -> None:
    console.print(
        f"version {info.version}  {info.last_modified}  code {info.code_sha256}"
        + (f"  aliases: {', '.join(info.aliases)}" if info.aliases else ""),
        markup=False,
    )
    if info.description:
        console.print(f"  description: {info.description}", markup=False)
    for layer in info.layers:
        console.print(f"  layer {layer}", markup=False)
    if not info.layers:
        console.print("  no layers", markup=False)


@version_app.command(
    "list",
    epilog=examples(
        "layerkit version list my-fn",
        "layerkit version list my-fn --json",
    ),
)
@takes_flag_groups
def version_list(function: FunctionArg = None, *, flags: Reading) -> None:
    """List published versions with their date, description, layers and aliases."""
    from layerkit.release_plan import VersionListing
    from layerkit.releasing import list_versions

    target = flags.target(function)
    versions = list_versions(flags.lambda_client(target), target.function)
    listing = VersionListing(target.function, versions)
    flags.output().emit("version-list", listing, _render_version_list)


def _render_version_list(console: Console, listing: VersionListing) -> None:
    if not listing.versions:
        console.print(f"{listing.function}: no published versions", markup=False)
    for info in listing.versions:
        _render_version(console, info)


@version_app.command(
    "prune",
    epilog=examples(
        "layerkit version prune my-fn --keep 5 --dry-run",
        "layerkit version prune my-fn --keep 5",
    ),
)
@takes_flag_groups
def version_prune(
    function: FunctionArg = None,
    *,
    keep: Annotated[
        int, typer.Option("--keep", min=0, help="How many of the newest versions to keep.")
    ],
    dry_run: DryRunOption = False,
    flags: Reading,
) -> None:
    """Delete old versions that no alias routes to, keeping the newest --keep."""
    from layerkit.releasing import prune_versions

    target = flags.target(function)
    client = flags.lambda_client(target)
    result = prune_versions(client, target.function, keep=keep, dry_run=dry_run)
    flags.output().emit("version-prune", result, _render_prune)


def _render_prune(console: Console, result: PruneResult) -> None:
    verb = "would delete" if result.dry_run else "deleted"
    deleted = ", ".join(result.deleted) or "nothing"
    console.print(f"{result.function}: {verb} {deleted}", markup=False)
    if result.kept_newest:
        console.print(f"  kept (newest {result.keep}): {', '.join(result.kept_newest)}")
    if result.kept_aliased:
        console.print(f"  kept (an alias routes to them): {', '.join(result.kept_aliased)}")


# ---------------------------------------------------------------------------------------------
# alias


def _render_alias(console: Console, report: AliasReport) -> None:
    prefix = "would be " if report.dry_run and report.action not in ("get", "unchanged") else ""
    heading = {
        "get": "",
        "created": "created",
        "updated": "updated",
        "promoted": "promoted",
        "rolled-back": "rolled back",
        "unchanged": "unchanged",
        "deleted": "deleted",
    }[report.action]
    label = f" ({prefix}{heading})" if heading else ""
    console.print(f"alias {report.function}:{report.name}{label}: {report.routing}", markup=False)
    if report.previous is not None:
        console.print(f"  before: {report.previous.describe()}", markup=False)
    if report.description:
        console.print(f"  description: {report.description}", markup=False)
    if report.rollback is not None:
        console.print(
            f"  rollback restores: {report.rollback.before.describe()} "
            f"(recorded by {report.rollback.op} at {report.rollback.at})",
            markup=False,
        )


def _routing_option(weight: list[str] | None, no_routing: bool) -> dict[str, float] | None:
    from layerkit.release_plan import parse_weight_option

    if weight and no_routing:
        raise UsageError("--weight and --no-routing contradict each other")
    if no_routing:
        return {}
    return parse_weight_option(weight) if weight else None


@alias_app.command(
    "create",
    epilog=examples(
        "layerkit alias create my-fn prod --version 11",
        "layerkit alias create my-fn prod --version 11 --weight 12=0.1",
        "layerkit alias create --env staging --version 11",
    ),
)
@takes_flag_groups
def alias_create(
    function: FunctionArg = None,
    name: AliasArg = None,
    *,
    version: Annotated[
        str, typer.Option("--version", help="The primary version.", show_default=False)
    ],
    weight: WeightOption = None,
    description: Annotated[str, typer.Option("--description", help="Alias description.")] = "",
    flags: Changing,
) -> None:
    """Create an alias pointing to a version, optionally routing a share to another."""
    from layerkit.aws.aliases import create_alias
    from layerkit.release_plan import AliasTarget, alias_report

    routing = AliasTarget(version, _routing_option(weight, no_routing=False) or {})
    target, name = flags.alias_target(function, name)
    client, fn, dry_run = flags.client(target, "creating an alias"), target.function, flags.dry_run
    state = create_alias(client, fn, name, routing, description=description, dry_run=dry_run)
    report = alias_report(fn, state, "created", dry_run=dry_run)
    flags.output().emit("alias", report, _render_alias)


@alias_app.command(
    "get",
    epilog=examples(
        "layerkit alias get my-fn prod",
        "layerkit alias get my-fn prod --json",
        "layerkit alias get --env prod",
    ),
)
@takes_flag_groups
def alias_get(function: FunctionArg = None, name: AliasArg = None, *, flags: Reading) -> None:
    """Show an alias: its versions, weights, description and rollback record."""
    from layerkit.aws.aliases import get_alias
    from layerkit.release_plan import alias_report

    target, name = flags.alias_target(function, name)
    state = get_alias(flags.lambda_client(target), target.function, name)
    flags.output().emit("alias", alias_report(target.function, state, "get"), _render_alias)


@alias_app.command(
    "list",
    epilog=examples(
        "layerkit alias list my-fn",
        "layerkit alias list my-fn --json",
    ),
)
@takes_flag_groups
def alias_list(function: FunctionArg = None, *, flags: Reading) -> None:
    """List the function's aliases with their routing."""
    from layerkit.aws.aliases import list_aliases
    from layerkit.release_plan import AliasListing, alias_report

    target = flags.target(function)
    fn = target.function
    states = list_aliases(flags.lambda_client(target), fn)
    listing = AliasListing(fn, tuple(alias_report(fn, s, "get") for s in states))
    flags.output().emit("alias-list", listing, _render_alias_list)


def _render_alias_list(console: Console, listing: AliasListing) -> None:
    if not listing.aliases:
        console.print(f"{listing.function}: no aliases", markup=False)
    for report in listing.aliases:
        _render_alias(console, report)


@alias_app.command(
    "update",
    epilog=examples(
        "layerkit alias update my-fn prod --weight 12=0.25",
        "layerkit alias update my-fn prod --no-routing",
        "layerkit alias update --env prod --version 12",
    ),
)
@takes_flag_groups
def alias_update(
    function: FunctionArg = None,
    name: AliasArg = None,
    *,
    version: Annotated[
        str | None,
        typer.Option("--version", help="New primary version (default: keep).", show_default=False),
    ] = None,
    weight: WeightOption = None,
    no_routing: Annotated[
        bool, typer.Option("--no-routing", help="Send all traffic to the primary version.")
    ] = False,
    description: Annotated[
        str | None,
        typer.Option("--description", help="New description (default: keep).", show_default=False),
    ] = None,
    flags: Changing,
) -> None:
    """Change an alias's version, weighted routing or description (records the state before)."""
    from layerkit.releasing import update_alias

    weights = _routing_option(weight, no_routing)  # usage errors before any AWS call
    target, name = flags.alias_target(function, name)
    report = update_alias(
        flags.client(target),
        target.function,
        name,
        version=version,
        weights=weights,
        description=description,
        dry_run=flags.dry_run,
    )
    flags.output().emit("alias", report, _render_alias)


def _change_alias(
    use_case: Callable[..., AliasReport], function: str | None, name: str | None, flags: Changing
) -> None:
    """Promote or roll back: `use_case` on the alias, its report printed."""
    target, name = flags.alias_target(function, name)
    report = use_case(flags.client(target), target.function, name, dry_run=flags.dry_run)
    flags.output().emit("alias", report, _render_alias)


@alias_app.command(
    "promote",
    epilog=examples(
        "layerkit alias promote my-fn prod",
        "layerkit alias promote my-fn prod --dry-run",
    ),
)
@takes_flag_groups
def alias_promote(function: FunctionArg = None, name: AliasArg = None, *, flags: Changing) -> None:
    """Make the routed (canary) version primary and drop the routing."""
    from layerkit.releasing import promote_alias

    _change_alias(promote_alias, function, name, flags)


@alias_app.command(
    "rollback",
    epilog=examples(
        "layerkit alias rollback my-fn prod",
        "layerkit alias rollback my-fn prod --dry-run",
    ),
)
@takes_flag_groups
def alias_rollback(function: FunctionArg = None, name: AliasArg = None, *, flags: Changing) -> None:
    """Restore the alias to its state before the last change layerkit made to it."""
    from layerkit.releasing import rollback_alias

    _change_alias(rollback_alias, function, name, flags)


@alias_app.command(
    "delete",
    epilog=examples(
        "layerkit alias delete my-fn canary --dry-run",
        "layerkit alias delete my-fn canary",
    ),
)
@takes_flag_groups
def alias_delete(function: FunctionArg = None, name: AliasArg = None, *, flags: Changing) -> None:
    """Delete an alias."""
    from layerkit.aws.aliases import delete_alias, get_alias
    from layerkit.release_plan import alias_report

    target, name = flags.alias_target(function, name)
    client, fn = flags.client(target, "deleting an alias"), target.function
    state = get_alias(client, fn, name)
    if not flags.dry_run:
        delete_alias(client, fn, name)
    report = alias_report(fn, state, "deleted", dry_run=flags.dry_run)
    flags.output().emit("alias", report, _render_alias)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (CI cancelling a job) interrupts like Ctrl-C, so the shift restores the alias."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (e.g. run() called from a worker thread)
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@alias_app.command(
    "shift",
    epilog=examples(
        "layerkit alias shift my-fn prod --to 12 --steps 10,50,100 --interval 5m "
        "--alarm my-fn-errors",
        "layerkit alias shift my-fn prod --to 12 --dry-run",
        "layerkit alias shift --env prod --to 12 --steps 10 --interval 0s",
    ),
)
@takes_flag_groups
def alias_shift(
    function: FunctionArg = None,
    name: AliasArg = None,
    *,
    to: Annotated[
        str, typer.Option("--to", help="The version to move traffic to.", show_default=False)
    ],
    steps: Annotated[
        str,
        typer.Option(
            "--steps",
            metavar="P1,P2,...",
            help="Percentages of traffic, in order; ending below 100 leaves a canary.",
        ),
    ] = "10,50,100",
    interval: Annotated[
        str, typer.Option("--interval", help="Wait between steps: 30s, 5m, 1h or seconds.")
    ] = "5m",
    alarm: Annotated[
        list[str] | None,
        typer.Option(
            "--alarm",
            help="CloudWatch alarm to watch (repeatable); ALARM restores the alias.",
            show_default=False,
        ),
    ] = None,
    flags: Changing,
) -> None:
    """Shift traffic to a version step by step; on alarm, failure or Ctrl-C restore the alias."""
    from layerkit.aws.alarms import CloudWatchAlarms
    from layerkit.aws.aliases import get_alias
    from layerkit.aws.session import make_factory
    from layerkit.release_plan import parse_interval, parse_steps, plan_shift
    from layerkit.releasing import (
        ShiftAbortedError,
        check_shift_versions,
        execute_shift,
        planned_result,
    )

    out = flags.output()
    step_percents, interval_s = parse_steps(steps), parse_interval(interval)
    target, name = flags.alias_target(function, name)
    factory = make_factory(profile=flags.profile, region=target.region)
    client = _unmanaged(factory.lambda_client(), target.function, "shifting an alias",
                        force=flags.force)  # fmt: skip
    plan = plan_shift(
        target.function,
        get_alias(client, target.function, name),
        to_version=to,
        steps=step_percents,
        interval_s=interval_s,
        alarms=alarm or (),
    )
    alarms = CloudWatchAlarms(factory.client("cloudwatch") if alarm else None, alarm or ())
    alarms.states()  # a misspelt alarm would never fire: refuse before the first step
    check_shift_versions(client, plan)  # a missing version: refused before any plan is shown
    if flags.dry_run:
        out.emit("alias-shift", planned_result(plan), _render_shift)
        return

    def show(event: ShiftEvent) -> None:
        if not out.json and not out.quiet:
            out.stdout.print(f"{event.at}  {event.message}", markup=False)

    try:
        with _sigterm_interrupts():
            result = execute_shift(client, plan, alarms=alarms, on_event=show)
    except ShiftAbortedError as aborted:
        if out.json:
            out.emit("alias-shift", aborted.result, _render_shift)
        raise
    out.emit("alias-shift", result, _render_shift)


def _render_shift(console: Console, result: ShiftResult) -> None:
    if result.outcome != "planned":
        stopped = " (stopped as --steps said: a canary left in place)"
        console.print(
            f"alias {result.function}:{result.alias}: {result.final.describe()}"
            + (stopped if result.outcome == "canary" else ""),
            markup=False,
        )
        return
    console.print(
        f"plan: shift {result.function}:{result.alias} from version {result.from_version} to "
        f"{result.to_version} (now {result.before.describe()})",
        markup=False,
    )
    for index, percent in enumerate(result.steps):
        wait = "" if index == len(result.steps) - 1 else f", then wait {result.interval_s:g}s"
        console.print(f"  step {index + 1}: {percent:g}% to {result.to_version}{wait}")
    if result.steps and result.steps[-1] < 100:
        console.print(
            f"  then stop: version {result.to_version} would keep {result.steps[-1]:g}% "
            f"(a canary), version {result.from_version} the rest",
            markup=False,
        )
    if result.alarms:
        console.print(f"  watching alarms: {', '.join(result.alarms)}", markup=False)
    console.print("  (dry run: nothing changed)")


def register(app: typer.Typer) -> None:
    """Add the `version` and `alias` command groups to `app`."""
    app.add_typer(version_app, name="version")
    app.add_typer(alias_app, name="alias")
