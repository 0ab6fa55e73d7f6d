"""`layerkit publish`, `attach`, `deploy` and `layers ...`: layers on AWS.

boto3 and `layerkit.aws.*` are imported inside the command functions so that `layerkit --help`
and `layerkit build` never import them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from layerkit.commands.common import (
    BuildKeys,
    DryRunOption,
    EnvOption,
    ForceManagedOption,
    JsonOption,
    Output,
    OutputEnvOption,
    Printing,
    ProfileOption,
    ProjectDirArgument,
    QuietOption,
    RegionOption,
    build_overrides,
    env_functions,
    examples,
    takes_flag_groups,
    write_ci_outputs,
)
from layerkit.errors import AwsError, UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from layerkit.aws.attach import AttachResult
    from layerkit.aws.layers import LayerVersionInfo
    from layerkit.aws.session import ClientFactory
    from layerkit.config import ProjectConfig, PublishSettings
    from layerkit.payloads import (
        LayerDeletion,
        LayerListing,
        LayerPruning,
        LayerStatements,
        LayerVersions,
    )
    from layerkit.publishing import AttachFailure, AttachReport, DetachReport, PublishReport

R = TypeVar("R")

layers_app = typer.Typer(
    name="layers",
    help="List, delete, prune and share layer versions.",
    no_args_is_help=True,
)

# --- options shared by publish and deploy -------------------------------------------------------
BucketOption = Annotated[
    str | None,
    typer.Option(
        "--bucket",
        metavar="BUCKET",
        help="S3 bucket for the zips, in the region published to; '{region}' in the name is "
        "replaced by the region (one bucket per region).",
    ),
]
PrefixOption = Annotated[
    str | None,
    typer.Option(
        "--prefix", metavar="PREFIX", help="Key prefix in the bucket (default: layerkit)."
    ),
]
BucketOwnerOption = Annotated[
    str | None,
    typer.Option(
        "--bucket-owner",
        metavar="ACCOUNT",
        help="Expected bucket owner account (default: the caller's).",
    ),
]
LayerNameOption = Annotated[
    str | None,
    typer.Option(
        "--layer-name",
        metavar="TEMPLATE",
        show_default="{name}",
        help="Layer name, with {name}, {python} (e.g. python313), {arch} filled in per zip.",
    ),
]
RegionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        metavar="REGION",
        help="Region to publish to (repeatable; default: the AWS chain's).",
    ),
]
DescriptionOption = Annotated[
    str | None,
    typer.Option(
        "--description", metavar="TEXT", help="Version description (digest/size appended)."
    ),
]
LicenseOption = Annotated[
    str | None,
    typer.Option("--license", metavar="SPDX", help="Licence info, e.g. an SPDX id (<= 512 chars)."),
]
AttachOption = Annotated[
    list[str] | None,
    typer.Option(
        "--attach",
        metavar="FUNCTION",
        help="Function to attach the layer to, in each region (repeatable).",
    ),
]
GrantOption = Annotated[
    list[str] | None,
    typer.Option(
        "--grant",
        metavar="ACCOUNT",
        help="Account id allowed to use the layer version (repeatable).",
    ),
]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", metavar="o-ID", help="Organization id (o-...) allowed to use the layer."),
]
PublicOption = Annotated[
    bool,
    typer.Option("--public", help="Let every AWS account use the layer version (be sure)."),
]
DirectOption = Annotated[
    bool | None,
    typer.Option(
        "--direct/--no-direct", help="Send zips <= 50 MB in the request instead of via S3."
    ),
]
DowngradeOption = Annotated[
    bool,
    typer.Option(
        "--allow-downgrade", help="Replace a newer attached version of the layer by this one."
    ),
]
OverlapOption = Annotated[
    bool,
    typer.Option(
        "--allow-overlap",
        help="Attach even if another layer of the function ships the same distribution.",
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout", metavar="SECONDS", help="Seconds to wait for a function's update in progress."
    ),
]


@dataclass(frozen=True)
class PublishFlags(Printing):
    """The flags `publish` and `deploy` share: where and how the zips become layer versions,
    and how to print."""

    bucket: BucketOption = None
    prefix: PrefixOption = None
    bucket_owner: BucketOwnerOption = None
    layer_name: LayerNameOption = None
    region: RegionsOption = None
    description: DescriptionOption = None
    license_info: LicenseOption = None
    attach: AttachOption = None
    grant: GrantOption = None
    org: OrgOption = None
    public: PublicOption = False
    direct: DirectOption = None
    allow_downgrade: DowngradeOption = False
    allow_overlap: OverlapOption = False
    dry_run: DryRunOption = False
    env: EnvOption = None
    output_env: OutputEnvOption = None
    profile: ProfileOption = None
    json_output: JsonOption = False
    quiet: QuietOption = False


def _factory(profile: str | None, region: str | None) -> ClientFactory:
    from layerkit.aws.session import make_factory

    return make_factory(profile=profile, region=region)


class _Reporter:
    """Progress on stderr: a bar per upload on a terminal, plain lines otherwise."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._bars: Progress | None = None

    def __enter__(self) -> _Reporter:
        if self._out.interactive:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=self._out.stderr,
                transient=True,
            )
            self._bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bars is not None:
            self._bars.stop()

    def step(self, message: str) -> None:
        if self._bars is not None:
            self._bars.console.print(f"[dim]{message}[/dim]")
        else:
            self._out.progress(message)

    def transfer(self, label: str, total: int) -> Any:
        bars = self._bars
        if bars is None:
            return lambda done, size: None
        task = bars.add_task(label, total=total)
        return lambda done, size: bars.update(task, completed=done, total=size)


def _publish_settings(config: ProjectConfig, flags: PublishFlags) -> PublishSettings:
    from layerkit.config import resolve_publish_settings

    direct = flags.direct
    if flags.bucket is not None and direct is None:
        direct = False  # flags win: --bucket means S3 even when the configuration says direct
    return resolve_publish_settings(
        config,
        {
            "bucket": flags.bucket,
            "prefix": flags.prefix,
            "bucket-owner": flags.bucket_owner,
            "layer-name": flags.layer_name,
            "regions": tuple(flags.region or ()),
            "description": flags.description,
            "license": flags.license_info,
            "functions": tuple(flags.attach or ()),
            "grant-accounts": tuple(flags.grant or ()),
            "grant-org": flags.org,
            "direct": direct,
        },
    )


def _run_publish(
    out: Output,
    zips: list[Path],
    settings: PublishSettings,
    *,
    config: ProjectConfig,
    flags: PublishFlags,
) -> PublishReport:
    from layerkit.naming import configured_builds
    from layerkit.publishing import load_zips, plan_publish, publish_layers

    if flags.public:
        out.warn("--public: every AWS account will be able to use this layer version")
    loaded = load_zips(zips, layer_name=settings.layer_name, configured=configured_builds(config))
    factory = _factory(flags.profile, settings.regions[0] if settings.regions else None)
    plan = plan_publish(
        loaded,
        settings,
        default_region=factory.region(),
        public=flags.public,
        allow_downgrade=flags.allow_downgrade,
        allow_overlap=flags.allow_overlap,
        known=_known_manifests(config.project_dir),
        dry_run=flags.dry_run,
    )
    with _Reporter(out) as reporter:
        return publish_layers(plan, clients=factory, reporter=reporter)


def _known_manifests(project: Path) -> list[Any]:
    """Manifests of the layers built in `project`'s output directory (the overlap check reads
    which distributions a layer ships from them)."""
    from layerkit.config import load_project
    from layerkit.errors import LayerkitError
    from layerkit.publishing import manifests_in

    try:
        config = load_project(project)
    except LayerkitError:
        return []
    return manifests_in(config.project_dir / config.build.get("output", "dist"))


def _last_build(
    out: Output, config: ProjectConfig, output: Path | None, *, allow_stale: bool
) -> list[Path]:
    """The zips of the last build into `output` (default: the configured output directory)."""
    from layerkit.lastbuild import zips_of_last_build

    configured = config.build.get("output", "dist")
    output_dir = output.resolve() if output else config.project_dir / configured
    paths, changes = zips_of_last_build(config, output_dir, allow_stale=allow_stale)
    for change in changes:
        out.warn(f"publishing a stale build (--allow-stale): {change}")
    return list(paths)


def _fail_for(failures: Sequence[AttachFailure], doing: str) -> None:
    """One error for every function that failed, said once, on stderr (the text report on
    stdout lists only what was done)."""
    if failures:
        detail = "; ".join(f"{f.function}: {f.error}" for f in failures)
        raise AwsError(f"{doing} failed for {detail}", hint=failures[0].hint)


def _fail_if_any(report: PublishReport) -> None:
    if report.failed:
        regions = sorted({r.region for r in report.failed})
        first = report.failed[0]
        raise AwsError(
            f"publishing failed in {len(regions)} region{'s' if len(regions) != 1 else ''}: "
            f"{', '.join(regions)}: {first.error}",
            hint=first.hint
            or "fix the cause and re-run the same command: finished steps are skipped",
        )


@takes_flag_groups
def publish(
    zips: Annotated[
        list[Path] | None,
        typer.Argument(help="Layer zips built by `layerkit build` (default: the last build's)."),
    ] = None,
    project: Annotated[
        Path,
        typer.Option("--project", metavar="DIR", help="Project directory (for config and dist/)."),
    ] = Path(),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Where the last build is (default: the configured output, dist).",
        ),
    ] = None,
    allow_stale: Annotated[
        bool,
        typer.Option(
            "--allow-stale", help="Publish the last build even if its inputs changed since."
        ),
    ] = False,
    *,
    flags: PublishFlags,
) -> None:
    """Upload layer zips and publish them as layer versions (one per region), then share/attach."""
    from layerkit.config import load_project, select_env

    out = flags.output()
    config = select_env(load_project(project), flags.env)
    settings = _publish_settings(config, flags)
    if not zips:
        zips = _last_build(out, config, output, allow_stale=allow_stale)
    report = _run_publish(out, zips, settings, config=config, flags=flags)
    out.emit("publish", report, render_publish)
    write_ci_outputs(report.results, flags.output_env)
    _fail_if_any(report)


@takes_flag_groups
def deploy(
    project_dir: ProjectDirArgument = Path(),
    *,
    keys: BuildKeys,
    flags: PublishFlags,
) -> None:
    """Build, publish and attach in one step, all configured by [tool.layerkit]."""
    from layerkit.config import load_project, resolve_build_settings, select_env
    from layerkit.naming import check_distinct, configured_builds
    from layerkit.payloads import DeployPayload, build_payload
    from layerkit.wiring import build_context, remember_build
    from layerkit.workflow import build_layers

    out = flags.output()
    config = select_env(load_project(project_dir), flags.env)
    settings = _publish_settings(config, flags)
    build_settings = resolve_build_settings(config, build_overrides(keys))
    # A layer name that two targets share is refused before the build, not after it.
    built_here = [(build_settings.name, target) for target in build_settings.targets]
    check_distinct(settings.layer_name, [*configured_builds(config), *built_here])
    context = build_context(build_settings, progress=out.progress, warn=out.warn, settle=out.settle)
    built = build_layers(build_settings, context)
    remember_build(build_settings, config, built)
    zips = [b.zip_path for b in built.builds]
    report = _run_publish(out, zips, settings, config=config, flags=flags)
    out.emit(
        "deploy",
        DeployPayload(build_payload(built), report),
        lambda console, payload: render_publish(console, payload.publish),
    )
    write_ci_outputs(report.results, flags.output_env)
    _fail_if_any(report)


@dataclass(frozen=True)
class FunctionUpdate(Printing):
    """The flags `attach` and `detach` end with: how to change a function, how to print."""

    force: ForceManagedOption = False
    timeout: TimeoutOption = 300.0
    profile: ProfileOption = None
    json_output: JsonOption = False
    quiet: QuietOption = False


def _update_functions(
    out: Output,
    functions: list[str],
    use_case: Callable[..., R],
    flags: FunctionUpdate,
    *,
    region: str | None,
    dry_run: bool,
) -> R:
    """Run `use_case` (attach or detach, its own arguments bound) on `functions`, with progress."""
    from layerkit.aws.attach import WaitSettings

    with _Reporter(out) as reporter:
        return use_case(
            functions,
            region=region,
            clients=_factory(flags.profile, region),
            reporter=reporter,
            dry_run=dry_run,
            force=flags.force,
            waiting=WaitSettings(timeout_s=flags.timeout),
        )


FunctionsArgument = Annotated[
    list[str], typer.Argument(metavar="FUNCTION...", help="Function names or ARNs.")
]


@takes_flag_groups
def attach(
    layer: Annotated[
        str, typer.Option("--layer", help="Layer version ARN to attach.", show_default=False)
    ],
    functions: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FUNCTION...",
            help="Function names or ARNs (default with --env: the environment's functions).",
        ),
    ] = None,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    allow_downgrade: DowngradeOption = False,
    allow_overlap: OverlapOption = False,
    project: Annotated[
        Path,
        typer.Option(
            "--project",
            metavar="DIR",
            help="Project whose built manifests say what a layer ships (overlap check).",
        ),
    ] = Path(),
    env: EnvOption = None,
    *,
    flags: FunctionUpdate,
) -> None:
    """Attach a layer version to functions, keeping their other layers in place and in order."""
    from layerkit.publishing import attach_layer_to_functions

    out = flags.output()
    attach_to = partial(
        attach_layer_to_functions,
        layer_arn=layer,
        allow_downgrade=allow_downgrade,
        allow_overlap=allow_overlap,
        known=_known_manifests(project),
    )
    targets = env_functions(functions, project=project, env=env)
    report = _update_functions(out, targets, attach_to, flags, region=region, dry_run=dry_run)
    out.emit("attach", report, render_attach)
    _fail_for(report.failures, "attaching")


@takes_flag_groups
def detach(
    functions: FunctionsArgument,
    layer: Annotated[
        str,
        typer.Option(
            "--layer",
            metavar="NAME_OR_ARN",
            help="Layer to remove: its name or ARN (every version), or one version's ARN.",
            show_default=False,
        ),
    ],
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    *,
    flags: FunctionUpdate,
) -> None:
    """Remove a layer from functions, keeping their other layers in place and in order."""
    from layerkit.publishing import detach_layer_from_functions

    out = flags.output()
    detach_from = partial(detach_layer_from_functions, layer=layer)
    report = _update_functions(out, functions, detach_from, flags, region=region, dry_run=dry_run)
    out.emit("detach", report, render_detach)
    _fail_for(report.failures, "detaching")


# --- layers ... ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerAccess(Printing):
    """The flags every `layers ...` command ends with: where, and how to print."""

    region: RegionOption = None
    profile: ProfileOption = None
    json_output: JsonOption = False
    quiet: QuietOption = False

    def lambda_client(self) -> tuple[Any, str]:
        """A Lambda client and the region it talks to."""
        factory = _factory(self.profile, self.region)
        return factory.lambda_client(), factory.region()


@layers_app.command(
    "list",
    epilog=examples(
        "layerkit layers list",
        "layerkit layers list --region eu-west-1 --json",
    ),
)
@takes_flag_groups
def layers_list(*, flags: LayerAccess) -> None:
    """List the account's layers in a region with their latest version."""
    from layerkit.aws.layers import list_layers
    from layerkit.payloads import LayerListing

    client, where = flags.lambda_client()
    result = LayerListing(where, list_layers(client))
    flags.output().emit("layers-list", result, render_layers)


@layers_app.command(
    "versions",
    epilog=examples(
        "layerkit layers versions deps",
        "layerkit layers versions deps --region eu-west-1 --json",
    ),
)
@takes_flag_groups
def layers_versions(
    name: Annotated[str, typer.Argument(help="Layer name.")],
    *,
    flags: LayerAccess,
) -> None:
    """List a layer's versions, newest first, with the digest and size layerkit recorded."""
    from layerkit.aws.layers import list_layer_versions as list_versions
    from layerkit.payloads import LayerVersions

    client, where = flags.lambda_client()
    result = LayerVersions(where, name, list_versions(client, name))
    flags.output().emit("layer-versions", result, render_versions)


@layers_app.command(
    "delete",
    epilog=examples(
        "layerkit layers delete deps 3 --dry-run",
        "layerkit layers delete deps 3",
        "layerkit layers delete deps 3 --force --region eu-west-1",
    ),
)
@takes_flag_groups
def layers_delete(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Layer name.")],
    version: Annotated[int, typer.Argument(metavar="VERSION", help="Version number.")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete it even if functions still use it.")
    ] = False,
    dry_run: DryRunOption = False,
    *,
    flags: LayerAccess,
) -> None:
    """Delete one layer version, unless a function (or a published version) still uses it."""
    from layerkit.aws.layers import delete_checked
    from layerkit.payloads import LayerDeletion

    client, where = flags.lambda_client()
    users = delete_checked(client, name, version, force=force, dry_run=dry_run)
    result = LayerDeletion(
        where, name, version, deleted=not dry_run, dry_run=dry_run, used_by=users
    )
    flags.output().emit("layer-delete", result, render_delete)


@layers_app.command(
    "prune",
    epilog=examples(
        "layerkit layers prune deps --keep 3 --dry-run",
        "layerkit layers prune deps --keep 3",
    ),
)
@takes_flag_groups
def layers_prune(
    name: Annotated[str, typer.Argument(help="Layer name.")],
    keep: Annotated[int, typer.Option("--keep", help="How many newest versions to keep.")],
    force: Annotated[
        bool, typer.Option("--force", help="Also delete versions that functions still use.")
    ] = False,
    dry_run: DryRunOption = False,
    *,
    flags: LayerAccess,
) -> None:
    """Delete all but the newest versions, never one a function still uses (unless --force)."""
    from layerkit.aws.layers import prune
    from layerkit.payloads import LayerPruning

    out = flags.output()
    client, where = flags.lambda_client()
    result = prune(client, name, keep=keep, force=force, dry_run=dry_run)
    pruning = LayerPruning(
        where, result.name, result.deleted, result.kept, result.in_use, result.dry_run
    )
    out.emit("layer-prune", pruning, render_prune)
    for version, users in result.in_use.items():
        out.warn(f"kept {name} version {version}: used by {', '.join(users)}")


def _principals(accounts: list[str] | None, org: str | None, public: bool) -> tuple[Any, ...]:
    from layerkit.aws.layers import principals

    chosen = principals(accounts or (), org, public=public)
    if not chosen:
        raise UsageError("say who: --account ID, --org o-... or --public")
    return chosen


AccountsOption = Annotated[
    list[str] | None, typer.Option("--account", help="Account id (repeatable).")
]


@layers_app.command(
    "grant",
    epilog=examples(
        "layerkit layers grant deps 3 --account 210987654321",
        "layerkit layers grant deps 3 --org o-abcdefghij",
    ),
)
@takes_flag_groups
def layers_grant(
    name: Annotated[str, typer.Argument(help="Layer name.")],
    version: Annotated[int, typer.Argument(help="Version number.")],
    account: AccountsOption = None,
    org: OrgOption = None,
    public: PublicOption = False,
    *,
    flags: LayerAccess,
) -> None:
    """Let accounts, an organization or (--public) everyone use a layer version."""
    from layerkit.aws.layers import grant
    from layerkit.payloads import LayerStatements

    out = flags.output()
    principals = _principals(account, org, public)
    if public:
        out.warn(f"--public: every AWS account will be able to use {name} version {version}")
    client, where = flags.lambda_client()
    statements = LayerStatements(where, name, version, grant(client, name, version, principals))
    out.emit("layer-grant", statements, render_grants)


@layers_app.command(
    "revoke",
    epilog=examples(
        "layerkit layers revoke deps 3 --account 210987654321",
        "layerkit layers revoke deps 3 --public",
    ),
)
@takes_flag_groups
def layers_revoke(
    name: Annotated[str, typer.Argument(help="Layer name.")],
    version: Annotated[int, typer.Argument(help="Version number.")],
    account: AccountsOption = None,
    org: OrgOption = None,
    public: Annotated[bool, typer.Option("--public", help="Remove the public statement.")] = False,
    *,
    flags: LayerAccess,
) -> None:
    """Remove what `grant` allowed (statements layerkit added)."""
    from layerkit.aws.layers import revoke
    from layerkit.payloads import LayerStatements

    principals = _principals(account, org, public)
    client, where = flags.lambda_client()
    statements = LayerStatements(where, name, version, revoke(client, name, version, principals))
    flags.output().emit("layer-revoke", statements, render_grants)


# --- rendering ----------------------------------------------------------------------------------


def _render_attach_result(console: Console, result: AttachResult, indent: str = "") -> None:
    verb = "would be" if result.dry_run else "was"
    console.print(f"{indent}{result.function} ({result.region}): {result.outcome}", markup=False)
    if result.dry_run or result.outcome != "unchanged":
        console.print(f"{indent}  before: {', '.join(result.before) or '(none)'}", markup=False)
        console.print(f"{indent}  after:  {', '.join(result.after) or '(none)'}", markup=False)
    if result.replaced:
        console.print(f"{indent}  {result.replaced} {verb} replaced", markup=False)
    unknown = result.sizes.unknown
    console.print(
        f"{indent}  unzipped: at least {result.sizes.total:,} of {result.sizes.limit:,} bytes"
        + (f" (size unknown, counted zipped: {', '.join(unknown)})" if unknown else ""),
        markup=False,
    )
    for note in result.notes:
        console.print(f"{indent}  note: {note}", markup=False)


def render_publish(console: Console, report: PublishReport) -> None:
    for r in report.results:
        if r.outcome == "failed":
            continue  # said once, by the error on stderr
        if r.outcome == "would-publish":
            console.print(
                f"{r.region}  {r.layer_name}  would publish a new version from {r.zip}",
                markup=False,
            )
            continue
        where = {
            "uploaded": f"uploaded to s3://{r.s3_bucket}/{r.s3_key}",
            "skipped": f"already in s3://{r.s3_bucket}/{r.s3_key}",
            "direct": "sent directly",
            "unneeded": "nothing sent: the latest version has these bytes",
        }.get(r.upload or "", "")
        console.print(
            f"{r.region}  {r.layer_name}  {r.outcome} version {r.version}  "
            f"{r.layer_arn}  ({where})",
            markup=False,
        )
        for g in r.grants:
            console.print(f"  {g.outcome}: {g.principal} ({g.statement_id})", markup=False)
        for a in r.attachments:
            _render_attach_result(console, a, indent="  ")
    if report.would_attach:
        console.print(f"would attach to: {', '.join(report.would_attach)}", markup=False)
    if report.dry_run:
        console.print("(dry run: nothing uploaded, published or attached)", markup=False)


def render_attach(console: Console, report: AttachReport) -> None:
    for result in report.results:
        _render_attach_result(console, result)


def render_detach(console: Console, report: DetachReport) -> None:
    for r in report.results:
        if r.outcome == "unchanged":
            line = f"{r.function} ({r.region}): {report.layer} is not attached; nothing to do"
        else:
            verb = "would detach" if r.dry_run else "detached"
            line = f"{r.function} ({r.region}): {verb} {', '.join(r.removed)}"
        console.print(line, markup=False)
        if r.outcome != "unchanged":
            console.print(f"  before: {', '.join(r.before) or '(none)'}", markup=False)
            console.print(f"  after:  {', '.join(r.after) or '(none)'}", markup=False)
        for note in r.notes:
            console.print(f"  note: {note}", markup=False)


def _version_line(v: LayerVersionInfo) -> str:
    size = (
        f"{v.unzipped_bytes:,} bytes unzipped" if v.unzipped_bytes is not None else "size unknown"
    )
    runtimes = ",".join(v.runtimes) or "any runtime"
    arches = ",".join(v.architectures) or "any arch"
    return f"{v.version:>4}  {v.created}  {runtimes}  {arches}  {size}  {v.arn}"


def render_layers(console: Console, result: LayerListing) -> None:
    if not result.layers:
        console.print(f"no layers in {result.region}", markup=False)
    for layer in result.layers:
        latest = f"latest version {layer.latest.version}" if layer.latest else "no versions"
        console.print(f"{layer.name}  {latest}  {layer.layer_arn}", markup=False)


def render_versions(console: Console, result: LayerVersions) -> None:
    if not result.versions:
        console.print(f"layer {result.name} has no versions in {result.region}", markup=False)
    for v in result.versions:
        console.print(_version_line(v), markup=False)


def render_prune(console: Console, result: LayerPruning) -> None:
    verb = "would delete" if result.dry_run else "deleted"
    deleted = ", ".join(map(str, result.deleted)) or "nothing"
    console.print(f"{result.name}: {verb} {deleted}", markup=False)
    console.print(f"kept: {', '.join(map(str, result.kept)) or 'none'}", markup=False)
    for version, users in result.in_use.items():
        console.print(f"kept {version}: in use by {', '.join(users)}", markup=False)


def render_delete(console: Console, result: LayerDeletion) -> None:
    verb = "would delete" if result.dry_run else "deleted"
    users = result.used_by
    still = f"; still used by {', '.join(users)} (they keep working)" if users else ""
    console.print(
        f"{verb} {result.name} version {result.version} ({result.region}){still}",
        markup=False,
    )


def render_grants(console: Console, result: LayerStatements) -> None:
    for s in result.statements:
        console.print(
            f"{result.name}:{result.version}  {s.outcome}: {s.principal} ({s.statement_id})",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command(
        "publish",
        epilog=examples(
            "layerkit publish --bucket my-artifacts",
            "layerkit publish dist/deps-python3.13-x86_64.zip --direct --region eu-west-1",
            "layerkit publish --dry-run --attach my-fn",
        ),
    )(publish)
    app.command(
        "attach",
        epilog=examples(
            "layerkit attach my-fn --layer arn:aws:lambda:eu-west-1:123456789012:layer:deps:3",
            "layerkit attach fn-a fn-b --dry-run --layer "
            "arn:aws:lambda:eu-west-1:123456789012:layer:deps:3",
        ),
    )(attach)
    app.command(
        "detach",
        epilog=examples(
            "layerkit detach my-fn --layer deps",
            "layerkit detach fn-a fn-b --layer arn:aws:lambda:eu-west-1:123456789012:layer:deps:3",
            "layerkit detach my-fn --layer deps --dry-run",
        ),
    )(detach)
    app.command(
        "deploy",
        epilog=examples(
            "layerkit deploy",
            "layerkit deploy . --python 3.12 --arch arm64 --bucket my-artifacts",
            "layerkit deploy --attach my-fn --dry-run",
        ),
    )(deploy)
    app.add_typer(layers_app)
