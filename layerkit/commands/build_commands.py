"""`layerkit build`: dependencies -> one verified, reproducible layer zip per target."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from layerkit.commands.common import (
    BuildKeys,
    JsonOption,
    Output,
    ProjectDirArgument,
    QuietOption,
    build_overrides,
    examples,
    render_layer_test,
    takes_flag_groups,
)
from layerkit.limits import DIRECT_UPLOAD_LIMIT
from layerkit.report import human_bytes, plural, shown, shown_path

if TYPE_CHECKING:
    from rich.console import Console

    from layerkit.build_model import BuildResult
    from layerkit.importtest import LayerTestResult
    from layerkit.inspection import InspectResult
    from layerkit.layerreport import LayerReport

DIRECT_UPLOAD_NOTE = (
    f"over {human_bytes(DIRECT_UPLOAD_LIMIT)} zipped: publish through S3 (--bucket), not --direct"
)


@takes_flag_groups
def build(
    project_dir: ProjectDirArgument = Path(),
    *,
    keys: BuildKeys,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if the build cache has these inputs.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            show_default="min(4, 2 x cores, targets)",
            help="Targets in flight at once, each in a process of its own on Linux "
            "(1: one after another).",
        ),
    ] = None,
    import_test: Annotated[
        bool, typer.Option("--test", help="Then import each layer's modules (`layerkit test`).")
    ] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build a Lambda layer zip (and manifest) per target from a project's dependencies."""
    from layerkit.config import load_project, resolve_build_settings
    from layerkit.payloads import build_payload
    from layerkit.wiring import build_context, remember_build

    out = Output(json=json_output, quiet=quiet)
    config = load_project(project_dir)
    settings = resolve_build_settings(config, build_overrides(keys))
    context = build_context(
        settings, progress=out.progress, warn=out.warn, settle=out.settle, force=force
    )
    from layerkit.workflow import build_layers  # loaded by build_context, beside the version ask

    with out.stages():
        result = build_layers(settings, context, jobs=jobs)
    remember_build(settings, config, result)
    tests = _import_tests(result) if import_test else {}
    out.emit(
        "build",
        build_payload(result, tests),
        lambda console, _payload: render_build(console, result, tests),
    )
    if tests:
        from layerkit.importtest import raise_for_failures

        for built in result.builds:
            raise_for_failures(tests[built.zip_path], label=f"layer {built.zip_path.name}")


def _import_tests(result: BuildResult) -> dict[Path, LayerTestResult]:
    """`layerkit test` of each zip just built, against its own target."""
    from layerkit.importtest import run_layer_test
    from layerkit.wiring import import_host

    host = import_host()
    return {
        b.zip_path: run_layer_test(
            b.zip_path, host=host, python=b.target.python, arch=b.target.arch
        )
        for b in result.builds
    }


def _render_slim(console: Console, slim: Mapping[str, Any]) -> None:
    parts = [
        f"{r['rule']} -{human_bytes(r['bytes'])} ({plural(r['files'], 'file')})"
        for r in slim["rules"]
        if r["files"]
    ]
    if slim["strip"] is not None:
        strip = slim["strip"]
        parts.append(
            f"strip skipped: {strip['skipped_reason']}"
            if strip["skipped_reason"]
            else f"strip -{human_bytes(strip['bytes_saved'])} ({plural(strip['files'], 'file')})"
        )
    if slim["compile"] is not None:
        parts.append(_bytecode_summary(slim["compile"]))
    if parts:
        console.print(shown("  slimming: " + "; ".join(parts)), markup=False)


def _bytecode_summary(compiled: Mapping[str, Any]) -> str:
    """The bytecode part of the slimming line (why there is none was said once, as a warning)."""
    if not compiled["files"]:
        return "no bytecode"
    text = (
        f"bytecode +{human_bytes(compiled['bytes'])} ({compiled['files']} .pyc by Python "
        f"{compiled['interpreter_version']}, {compiled['reused_files']} reused)"
    )
    if compiled["dropped"]:
        names = ", ".join(d["package"] for d in compiled["dropped"])
        text += f", left out for the budget: {names}"
    return text


def render_build(
    console: Console, result: BuildResult, tests: Mapping[Path, LayerTestResult] | None = None
) -> None:
    """Human-readable build report: per target, the zip, a chart against the budget, slimming
    (and the import test, if run)."""
    from layerkit.charts import render_size_chart

    for build in result.builds:
        console.print(
            # A cache hit was announced on stderr as it happened ("unchanged inputs"): once.
            f"{'reused' if build.cached else 'built'} {shown_path(build.zip_path)} "
            f"({human_bytes(build.manifest.zipped_bytes)} zipped)\n"
            f"  sha256 {build.manifest.sha256}",
            markup=False,
        )
        if build.sbom_path is not None:
            console.print(f"  sbom {shown_path(build.sbom_path)}", markup=False)
        render_size_chart(console, build.size)
        _render_slim(console, build.slim)
        for waived in build.waived:
            console.print(f"  waived: {shown(waived)}", markup=False)
        for note in build.notes:
            console.print(f"  note: {shown(note)}", markup=False)
        for package in build.manifest.built_from_sdist:
            console.print(f"  built from its sdist (pure Python): {shown(package)}", markup=False)
        if build.manifest.zipped_bytes > DIRECT_UPLOAD_LIMIT:
            console.print(f"  note: {DIRECT_UPLOAD_NOTE}", markup=False)
        if tests and build.zip_path in tests:
            render_layer_test(console, tests[build.zip_path])


def register(app: typer.Typer) -> None:
    """Add `build` and `inspect` to the app."""
    app.command(
        "build",
        epilog=examples(
            "layerkit build examples/requests-layer",
            "layerkit build . -r requirements.txt --arch x86_64 --arch arm64 --jobs 2",
            "layerkit build . --lock uv.lock --extra s3 --python 3.11 --python 3.12 --test --json",
        ),
    )(build)
    app.command(
        "inspect",
        epilog=examples(
            "layerkit inspect dist/deps-python3.12-x86_64.zip",
            "layerkit inspect layer.zip --python 3.12 --arch arm64 --html report.html",
            "layerkit inspect python/ --budget 200MB --json",
        ),
    )(inspect)


def inspect(
    path: Annotated[Path, typer.Argument(help="A layer zip (any tool's) or a directory.")],
    python: Annotated[
        str | None, typer.Option("--python", help="Judge against this Python (default: inferred).")
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="Judge against this architecture.")
    ] = None,
    budget: Annotated[
        str | None, typer.Option("--budget", help="Unzipped budget, e.g. 200MB (max 250MB).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Show a layer's sizes, compatibility problems and what slimming would save."""
    from layerkit.config import parse_size
    from layerkit.htmlreport import files_by_distribution, render_html
    from layerkit.inspection import inspect_layer
    from layerkit.layerreport import layer_report
    from layerkit.payloads import inspect_payload
    from layerkit.safewrite import write_text_atomic

    out = Output(json=json_output, quiet=quiet)
    budget_bytes = parse_size(budget) if budget else None
    with out.stages():
        out.stage(f"inspecting {path.name}")
        result = inspect_layer(path, python=python, arch=arch, budget_bytes=budget_bytes)
    report = layer_report(result, python_given=python is not None, arch_given=arch is not None)
    if html is not None:
        files = files_by_distribution(result.entries, result.distributions)
        write_text_atomic(html, render_html(report, files_by_distribution=files))
        out.progress(f"wrote {shown_path(html)}")
    out.emit(
        "inspect", inspect_payload(report), lambda console, _view: render_inspect(console, report)
    )
    _raise_for_inspection(result, label=f"layer {path.name}", shown_above=out.text)


def _raise_for_inspection(result: InspectResult, *, label: str, shown_above: bool) -> None:
    """Fail an inspection with the documented exit code. When the report was just printed, the
    `error:` line says so instead of listing the problems a second time in other words."""
    from layerkit.budget import check_budget
    from layerkit.errors import BudgetExceededError, VerificationError
    from layerkit.verify import blocking, raise_for

    try:
        raise_for(result.violations, label=label)
        check_budget(result.size, label=label)
    except VerificationError as error:
        if not shown_above:
            raise
        count = len(blocking(result.violations))
        raise VerificationError(
            f"{count} problem{'s' if count != 1 else ''} would stop {label} from working on its "
            "target (listed above)",
            hint=error.hint,
        ) from None
    except BudgetExceededError as error:
        if not shown_above:
            raise
        size = result.size
        raise BudgetExceededError(
            f"{label} is {human_bytes(-size.headroom_bytes)} over the budget of "
            f"{human_bytes(size.budget_bytes)} (largest packages above)",
            hint=error.hint,
        ) from None


def render_inspect(console: Console, report: LayerReport) -> None:
    """Human-readable inspection (see `charts.render_layer_report`)."""
    from layerkit.charts import render_layer_report

    render_layer_report(console, report)
