"""`layerkit build`: dependencies -> one verified, reproducible layer zip per target."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from layerkit.budget import DIRECT_UPLOAD_LIMIT
from layerkit.commands.common import JsonOption, Output, QuietOption, examples
from layerkit.layerreport import percent_of_budget
from layerkit.report import human_bytes, shown

if TYPE_CHECKING:
    from rich.console import Console

    from layerkit.budget import SizeReport
    from layerkit.config import BuildSettings, ProjectConfig
    from layerkit.importtest import LayerTestResult
    from layerkit.inspection import InspectResult
    from layerkit.layerreport import LayerReport
    from layerkit.workflow import BuildContext, BuildResult

DIRECT_UPLOAD_NOTE = (
    f"over {human_bytes(DIRECT_UPLOAD_LIMIT)} zipped: publish through S3 (--bucket), not --direct"
)


def _absolute(paths: list[str] | None) -> tuple[str, ...] | None:
    """Paths typed on the command line are relative to the current directory."""
    if not paths:
        return None
    return tuple(str(Path(p).expanduser().resolve()) for p in paths)


def _absolute_specs(specs: list[str] | None) -> tuple[str, ...] | None:
    if not specs:
        return None
    return tuple(
        str(Path(s).expanduser().resolve()) if s.startswith((".", "/", "~")) else s for s in specs
    )


# --- the build keys as flags: `build` and `deploy` take the same ones ---------------------------
RequirementOption = Annotated[
    list[str] | None,
    typer.Option("--requirement", "-r", metavar="FILE", help="Requirements file (repeatable)."),
]
PackageOption = Annotated[
    list[str] | None,
    typer.Option(
        "--package", "-p", metavar="SPEC", help="Requirement or local package path (repeatable)."
    ),
]
PythonOption = Annotated[
    list[str] | None,
    typer.Option(
        "--python",
        metavar="3.X",
        show_default="3.13",
        help="Target Python: 3.9 ... 3.14 (repeatable).",
    ),
]
RuntimeOption = Annotated[
    list[str] | None,
    typer.Option("--runtime", metavar="python3.X", help="Target runtime, e.g. python3.12."),
]
ArchOption = Annotated[
    list[str] | None,
    typer.Option(
        "--arch", metavar="ARCH", show_default="x86_64", help="x86_64 or arm64 (repeatable)."
    ),
]
NameOption = Annotated[
    str | None,
    typer.Option("--name", metavar="NAME", help="Layer / zip name (default: the project's)."),
]
OutputOption = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="DIR", show_default="dist", help="Output directory."),
]
InstallerOption = Annotated[
    str | None,
    typer.Option("--installer", metavar="uv|pip", show_default="uv", help="Installer backend."),
]
BudgetOption = Annotated[
    str | None,
    typer.Option(
        "--budget", metavar="SIZE", show_default="250MB", help="Unzipped budget, e.g. 200MB."
    ),
]
IndexUrlOption = Annotated[
    str | None, typer.Option("--index-url", metavar="URL", help="Package index URL.")
]
ExtraIndexUrlOption = Annotated[
    list[str] | None,
    typer.Option("--extra-index-url", metavar="URL", help="Extra index (repeatable)."),
]
FindLinksOption = Annotated[
    list[str] | None,
    typer.Option("--find-links", metavar="PATH|URL", help="Wheel directory/URL (repeatable)."),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude", metavar="DIST", help="Leave out a distribution, e.g. boto3 (repeatable)."
    ),
]
ExcludeGlobOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude-glob", metavar="GLOB", help="Leave out paths matching a glob (repeatable)."
    ),
]
KeepTestsOption = Annotated[
    bool | None,
    typer.Option(
        "--keep-tests/--drop-tests", show_default="drop", help="Keep tests/ dirs inside packages."
    ),
]
StripOption = Annotated[
    bool | None,
    typer.Option(
        "--strip/--no-strip", show_default="no", help="Strip debug symbols from .so files."
    ),
]
CompileOption = Annotated[
    bool | None,
    typer.Option(
        "--compile/--no-compile",
        show_default="when a Python of the target version is found",
        help="Require / never ship .pyc made by the target's Python.",
    ),
]
InterpreterOption = Annotated[
    str | None,
    typer.Option(
        "--interpreter", metavar="PATH", help="Python of the target version to compile .pyc with."
    ),
]
PythonDownloadsOption = Annotated[
    bool | None,
    typer.Option(
        "--python-downloads/--no-python-downloads",
        show_default="no",
        help="Let uv download a Python of the target version to compile with.",
    ),
]
AllowOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow", metavar="DIST", help="Waive compatibility errors of a distribution (repeatable)."
    ),
]
CompressionOption = Annotated[
    str | None,
    typer.Option(
        "--compression", metavar="LEVEL", show_default="default", help="fast, default or small."
    ),
]
DropOtherPlatformsOption = Annotated[
    bool | None,
    typer.Option(
        "--drop-other-platforms/--keep-other-platforms",
        show_default="keep",
        help="Leave out binaries for other platforms (macOS, Windows, the other arch).",
    ),
]
BuildSdistsOption = Annotated[
    bool | None,
    typer.Option(
        "--build-sdists/--no-build",
        show_default="build",
        help="Build sdist-only requirements into pure-Python wheels, or refuse them.",
    ),
]
SbomOption = Annotated[
    bool | None,
    typer.Option("--sbom/--no-sbom", show_default="no", help="Write a CycloneDX SBOM per zip."),
]


def build_overrides(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The build keys given as flags (None = not given), for `resolve_build_settings`.

    `flags` maps the parameter names `build` and `deploy` share (e.g. their `locals()`) to values.
    """
    requirement, package, python, runtime, arch = (
        flags[k] for k in ("requirement", "package", "python", "runtime", "arch")
    )
    interpreter = flags["interpreter"]
    exclude, exclude_glob, allow, find_links, extra_index_url, output = (
        flags[k]
        for k in ("exclude", "exclude_glob", "allow", "find_links", "extra_index_url", "output")
    )
    return {
        "requirements": _absolute(requirement),
        "packages": _absolute_specs(package),
        "python": tuple(python or ()) + tuple(runtime or ()) or None,
        "arch": tuple(arch) if arch else None,
        "name": flags["name"],
        "output": str(Path(output).resolve()) if output else None,
        "installer": flags["installer"],
        "budget": flags["budget"],
        "index-url": flags["index_url"],
        "extra-index-urls": tuple(extra_index_url) if extra_index_url else None,
        "find-links": _absolute_specs(find_links),
        "exclude": tuple(exclude) if exclude else None,
        "exclude-globs": tuple(exclude_glob) if exclude_glob else None,
        "keep-tests": flags["keep_tests"],
        "strip": flags["strip"],
        "compile": flags["compile_pyc"],
        # a path is relative to the current directory; a bare name is looked up on PATH
        "interpreter": str(Path(interpreter).expanduser().absolute())
        if interpreter and "/" in interpreter
        else interpreter,
        "python-downloads": flags["python_downloads"],
        "drop-other-platforms": flags["drop_other_platforms"],
        "build-sdists": flags["build_sdists"],
        "allow": tuple(allow) if allow else None,
        "compression": flags["compression"],
        "sbom": flags["sbom"],
    }


def build(
    project_dir: Annotated[
        Path,
        typer.Argument(metavar="[DIR]", help="Project directory (pyproject.toml / layerkit.toml)."),
    ] = Path(),
    requirement: RequirementOption = None,
    package: PackageOption = None,
    python: PythonOption = None,
    runtime: RuntimeOption = None,
    arch: ArchOption = None,
    name: NameOption = None,
    output: OutputOption = None,
    installer: InstallerOption = None,
    budget: BudgetOption = None,
    index_url: IndexUrlOption = None,
    extra_index_url: ExtraIndexUrlOption = None,
    find_links: FindLinksOption = None,
    exclude: ExcludeOption = None,
    exclude_glob: ExcludeGlobOption = None,
    keep_tests: KeepTestsOption = None,
    strip: StripOption = None,
    drop_other_platforms: DropOtherPlatformsOption = None,
    compile_pyc: CompileOption = None,
    interpreter: InterpreterOption = None,
    python_downloads: PythonDownloadsOption = None,
    allow: AllowOption = None,
    compression: CompressionOption = None,
    sbom: SbomOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if the build cache has these inputs.")
    ] = False,
    build_sdists: BuildSdistsOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            show_default="min(2, cores, targets)",
            help="Targets built at once (1: one after another).",
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

    out = Output(json=json_output, quiet=quiet)
    config = load_project(project_dir.resolve())
    settings = resolve_build_settings(
        config,
        build_overrides(locals()),
    )
    context = build_context(settings, out, force=force)
    from layerkit.workflow import build_layers  # loaded by build_context, beside the version ask

    with out.stages():
        result = build_layers(settings, context, jobs=jobs)
    remember_build(settings, config, result)
    tests = _import_tests(result) if import_test else {}
    out.emit(
        "build",
        build_view(result, tests),
        lambda console, _view: render_build(console, result, tests),
    )
    if tests:
        from layerkit.importtest import raise_for_failures

        for built in result.builds:
            raise_for_failures(tests[built.zip_path], label=f"layer {built.zip_path.name}")


def _import_tests(result: BuildResult) -> dict[Path, LayerTestResult]:
    """`layerkit test` of each zip just built, against its own target."""
    from layerkit.commands.test_commands import import_host
    from layerkit.importtest import run_layer_test

    host = import_host()
    return {
        b.zip_path: run_layer_test(
            b.zip_path, host=host, python=b.target.python, arch=b.target.arch
        )
        for b in result.builds
    }


def remember_build(settings: BuildSettings, config: ProjectConfig, result: BuildResult) -> None:
    """Leave the record `publish` reads to find exactly these zips (see `layerkit.lastbuild`)."""
    from layerkit.lastbuild import record_last_build

    record_last_build(
        settings,
        config,
        [(b.zip_path, b.manifest.sha256, b.target.slug) for b in result.builds],
    )


def _ask_quietly(ask: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        ask()


def build_context(settings: BuildSettings, out: Output, *, force: bool = False) -> BuildContext:
    """Wire a build's collaborators: the real installer, subprocess runner, host tools, cache."""
    from uv import find_uv_bin

    from layerkit.installer import UvBackend, installer_environment, make_backend, run_command

    backend = make_backend(settings.installer)
    # Every cache key names the installer's version, which takes a subprocess to learn (~6 ms
    # with uv): ask it while the build machinery loads. A failure is reported when the build
    # asks again, in this thread.
    asking = threading.Thread(target=_ask_quietly, args=(backend.version,), name="layerkit-ask")
    asking.start()
    from layerkit.cache import BuildCache, cache_dir, installer_cache_env
    from layerkit.workflow import BuildContext

    env = {**installer_environment(), **installer_cache_env(os.environ, settings.installer)}
    asking.join()
    return BuildContext(
        backend=backend,
        runner=run_command,
        env=env,
        progress=out.progress,
        warn=out.warn,
        which=shutil.which,
        host_machine=platform.machine(),
        # uv resolves (cache-key pins, the wheel lock) whatever installs; the uv installer serves.
        resolver=backend
        if isinstance(backend, UvBackend)
        else UvBackend(uv=find_uv_bin(), python=sys.executable),
        cache=BuildCache(cache_dir(os.environ)),
        force=force,
    )


def build_view(
    result: BuildResult, tests: Mapping[Path, LayerTestResult] | None = None
) -> dict[str, Any]:
    """The `--json` payload of a build: one entry per target (with its import test, if run)."""
    views: dict[Path, dict[str, Any]] = {}
    if tests:
        from layerkit.commands.test_commands import layer_test_view

        views = {path: layer_test_view(test) for path, test in tests.items()}
    return {
        "name": result.name,
        "installer": result.installer,
        "installer_version": result.installer_version,
        "builds": [
            {
                "target": build.target.slug,
                "runtime": build.target.runtime,
                "architecture": build.target.arch,
                "zip": str(build.zip_path),
                "manifest_path": str(build.manifest_path),
                "sha256": build.manifest.sha256,
                "code_sha256": build.manifest.code_sha256,
                "file_count": build.manifest.file_count,
                "unzipped_bytes": build.size.total_bytes,
                "zipped_bytes": build.manifest.zipped_bytes,
                "budget_bytes": build.size.budget_bytes,
                "headroom_bytes": build.size.headroom_bytes,
                "direct_upload_ok": build.manifest.zipped_bytes <= DIRECT_UPLOAD_LIMIT,
                "distributions": [
                    {"name": d.name, "version": d.version, "files": d.files, "bytes": d.bytes}
                    for d in build.size.distributions
                ],
                "sbom": str(build.sbom_path) if build.sbom_path else None,
                "cached": build.cached,
                "slim": build.slim,
                "waived": list(build.waived),
                "built_from_sdist": list(build.manifest.built_from_sdist),
                "notes": list(build.notes),
                "import_test": views.get(build.zip_path),
            }
            for build in result.builds
        ],
    }


def _render_slim(console: Console, slim: Mapping[str, Any]) -> None:
    parts = [
        f"{r['rule']} -{human_bytes(r['bytes'])} ({r['files']} files)"
        for r in slim["rules"]
        if r["files"]
    ]
    if slim["strip"] is not None:
        strip = slim["strip"]
        parts.append(
            f"strip skipped: {strip['skipped_reason']}"
            if strip["skipped_reason"]
            else f"strip -{human_bytes(strip['bytes_saved'])} ({strip['files']} files)"
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
            f"{'reused' if build.cached else 'built'} {build.zip_path} "
            f"({human_bytes(build.manifest.zipped_bytes)} zipped)\n"
            f"  sha256 {build.manifest.sha256}",
            markup=False,
        )
        if build.sbom_path is not None:
            console.print(f"  sbom {build.sbom_path}", markup=False)
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
            from layerkit.commands.test_commands import render_layer_test

            render_layer_test(console, tests[build.zip_path])


def register(app: typer.Typer) -> None:
    """Add `build` and `inspect` to the app."""
    app.command(
        "build",
        epilog=examples(
            "layerkit build examples/requests-layer",
            "layerkit build . -r requirements.txt --arch x86_64 --arch arm64 --jobs 2",
            "layerkit build . --python 3.11 --python 3.12 --test --json",
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
    from layerkit.archive import write_text_atomic
    from layerkit.config import parse_size
    from layerkit.htmlreport import files_by_distribution, render_html
    from layerkit.inspection import inspect_layer
    from layerkit.layerreport import layer_report

    out = Output(json=json_output, quiet=quiet)
    budget_bytes = parse_size(budget) if budget else None
    with out.stages():
        out.stage(f"inspecting {path.name}")
        result = inspect_layer(path, python=python, arch=arch, budget_bytes=budget_bytes)
    report = layer_report(result, python_given=python is not None, arch_given=arch is not None)
    if html is not None:
        files = files_by_distribution(result.entries, result.distributions)
        write_text_atomic(html, render_html(report, files_by_distribution=files))
        out.progress(f"wrote {html}")
    out.emit(
        "inspect", inspect_view(report), lambda console, _view: render_inspect(console, report)
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


def _distribution_views(size: SizeReport) -> list[dict[str, Any]]:
    return [
        {
            "name": d.name,
            "version": d.version,
            "files": d.files,
            "bytes": d.bytes,
            "percent_of_budget": percent_of_budget(d.bytes, size.budget_bytes),
        }
        for d in size.distributions
    ]


def inspect_view(report: LayerReport) -> dict[str, Any]:
    """The `--json` payload of `inspect`: the same report the text and HTML show, in bytes."""
    size = report.size
    savings = [s for s in report.savings if not s.estimated]
    return {
        "source": report.source,
        "kind": report.kind,
        "target": f"{report.runtime}-{report.architecture}",
        "runtime": report.runtime,
        "architecture": report.architecture,
        # Where the parts named by no flag came from; `target_origins` says it per part.
        "target_origin": report.python_origin
        if report.python_origin != "given"
        else report.architecture_origin,
        "target_origins": {
            "python": report.python_origin,
            "architecture": report.architecture_origin,
        },
        "packages_dir": report.packages_dir,
        "state": report.state,
        "verdict": report.verdict,
        "file_count": size.file_count,
        "unzipped_bytes": size.total_bytes,
        "zipped_bytes": report.zipped_bytes,
        "budget_bytes": size.budget_bytes,
        "headroom_bytes": size.headroom_bytes,
        "percent_of_budget": percent_of_budget(size.total_bytes, size.budget_bytes),
        "distributions": _distribution_views(size),
        "top_level": [{"path": t.path, "bytes": t.bytes} for t in size.top_level],
        "largest_files": [{"path": f.path, "bytes": f.bytes} for f in size.largest_files],
        "problems": [
            {
                "path": p.path,
                "distribution": p.package,
                "rule": p.rule,
                "found": p.needs,
                "expected": p.offers,
                "hint": p.fix,
                "summary": p.summary,
                "waived": p.waived,
                "severity": p.severity,
            }
            for p in report.problems
        ],
        "slimming": {
            "removable_files": sum(s.files for s in savings),
            "removable_bytes": sum(s.bytes for s in savings),
            "strip_estimate_bytes": sum(s.bytes for s in report.savings if s.estimated),
            "rules": [
                {
                    "rule": s.rule,
                    "description": s.description,
                    "files": s.files,
                    "bytes": s.bytes,
                    "percent_of_budget": percent_of_budget(s.bytes, size.budget_bytes),
                }
                for s in savings
            ],
            "warnings": list(report.warnings),
        },
        "notes": list(report.notes),
    }


def render_inspect(console: Console, report: LayerReport) -> None:
    """Human-readable inspection (see `charts.render_layer_report`)."""
    from layerkit.charts import render_layer_report

    render_layer_report(console, report)
