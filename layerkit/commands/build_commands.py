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
from layerkit.commands.common import JsonOption, Output, QuietOption
from layerkit.report import human_bytes, shown

if TYPE_CHECKING:
    from rich.console import Console

    from layerkit.config import BuildSettings
    from layerkit.importtest import LayerTestResult
    from layerkit.inspection import InspectResult
    from layerkit.workflow import BuildContext, BuildResult

DIRECT_UPLOAD_NOTE = "over 50 MB zipped: publish through S3 (--bucket), not --direct"


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


def build(
    project_dir: Annotated[
        Path, typer.Argument(help="Project directory (pyproject.toml / layerkit.toml).")
    ] = Path(),
    requirement: Annotated[
        list[str] | None,
        typer.Option("--requirement", "-r", help="Requirements file (repeatable)."),
    ] = None,
    package: Annotated[
        list[str] | None,
        typer.Option("--package", "-p", help="Requirement or local package path (repeatable)."),
    ] = None,
    python: Annotated[
        list[str] | None, typer.Option("--python", help="Target Python: 3.9 ... 3.14 (repeatable).")
    ] = None,
    runtime: Annotated[
        list[str] | None, typer.Option("--runtime", help="Target runtime, e.g. python3.12.")
    ] = None,
    arch: Annotated[
        list[str] | None, typer.Option("--arch", help="x86_64 or arm64 (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Layer / zip name.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output directory.")] = None,
    installer: Annotated[
        str | None, typer.Option("--installer", help="uv (default) or pip.")
    ] = None,
    budget: Annotated[
        str | None, typer.Option("--budget", help="Unzipped budget, e.g. 200MB (max 250MB).")
    ] = None,
    index_url: Annotated[str | None, typer.Option("--index-url", help="Package index URL.")] = None,
    extra_index_url: Annotated[
        list[str] | None, typer.Option("--extra-index-url", help="Extra index (repeatable).")
    ] = None,
    find_links: Annotated[
        list[str] | None, typer.Option("--find-links", help="Wheel directory/URL (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Leave out a distribution, e.g. boto3 (repeatable)."),
    ] = None,
    exclude_glob: Annotated[
        list[str] | None,
        typer.Option("--exclude-glob", help="Leave out paths matching a glob (repeatable)."),
    ] = None,
    keep_tests: Annotated[
        bool | None,
        typer.Option("--keep-tests/--drop-tests", help="Keep tests/ dirs inside packages."),
    ] = None,
    strip: Annotated[
        bool | None, typer.Option("--strip/--no-strip", help="Strip debug symbols from .so files.")
    ] = None,
    drop_other_platforms: Annotated[
        bool | None,
        typer.Option(
            "--drop-other-platforms/--keep-other-platforms",
            help="Leave out binaries for other platforms (macOS, Windows, the other arch).",
        ),
    ] = None,
    compile_pyc: Annotated[
        bool | None,
        typer.Option(
            "--compile/--no-compile",
            help="Require / never ship .pyc made by the target's Python (default: when found).",
        ),
    ] = None,
    interpreter: Annotated[
        str | None,
        typer.Option("--interpreter", help="Python of the target version to compile .pyc with."),
    ] = None,
    python_downloads: Annotated[
        bool | None,
        typer.Option(
            "--python-downloads/--no-python-downloads",
            help="Let uv download a Python of the target version to compile with.",
        ),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Waive compatibility errors of a distribution (repeatable)."),
    ] = None,
    compression: Annotated[
        str | None, typer.Option("--compression", help="fast, default or small.")
    ] = None,
    sbom: Annotated[
        bool | None, typer.Option("--sbom/--no-sbom", help="Write a CycloneDX SBOM per zip.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if the build cache has these inputs.")
    ] = False,
    build_sdists: Annotated[
        bool | None,
        typer.Option(
            "--build-sdists/--no-build",
            help="Build sdist-only requirements into pure-Python wheels (default) or refuse them.",
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
        {
            "requirements": _absolute(requirement),
            "packages": _absolute_specs(package),
            "python": tuple(python or ()) + tuple(runtime or ()) or None,
            "arch": tuple(arch) if arch else None,
            "name": name,
            "output": str(Path(output).resolve()) if output else None,
            "installer": installer,
            "budget": budget,
            "index-url": index_url,
            "extra-index-urls": tuple(extra_index_url) if extra_index_url else None,
            "find-links": _absolute_specs(find_links),
            "exclude": tuple(exclude) if exclude else None,
            "exclude-globs": tuple(exclude_glob) if exclude_glob else None,
            "keep-tests": keep_tests,
            "strip": strip,
            "compile": compile_pyc,
            # a path is relative to the current directory; a bare name is looked up on PATH
            "interpreter": str(Path(interpreter).expanduser().absolute())
            if interpreter and "/" in interpreter
            else interpreter,
            "python-downloads": python_downloads,
            "drop-other-platforms": drop_other_platforms,
            "allow": tuple(allow) if allow else None,
            "compression": compression,
            "sbom": sbom,
            "build-sdists": build_sdists,
        },
    )
    context = build_context(settings, out, force=force)
    from layerkit.workflow import build_layers  # loaded by build_context, beside the version ask

    result = build_layers(settings, context)
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
            f"built {build.zip_path} ({human_bytes(build.manifest.zipped_bytes)} zipped)\n"
            f"  sha256 {build.manifest.sha256}",
            markup=False,
        )
        if build.sbom_path is not None:
            console.print(f"  sbom {build.sbom_path}", markup=False)
        render_size_chart(console, build.size)
        if build.cached:
            console.print("  unchanged inputs: reused from the build cache", markup=False)
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
    app.command("build")(build)
    app.command("inspect")(inspect)


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
    from layerkit.budget import check_budget
    from layerkit.config import parse_size
    from layerkit.htmlreport import files_by_distribution, render_html
    from layerkit.inspection import inspect_layer
    from layerkit.verify import raise_for

    out = Output(json=json_output, quiet=quiet)
    budget_bytes = parse_size(budget) if budget else None
    result = inspect_layer(path, python=python, arch=arch, budget_bytes=budget_bytes)
    if html is not None:
        write_text_atomic(
            html,
            render_html(
                result.size,
                title=f"{path.name}: {result.target.runtime} {result.target.arch}",
                files_by_distribution=files_by_distribution(result.entries, result.distributions),
            ),
        )
        out.progress(f"wrote {html}")
    out.emit(
        "inspect", inspect_view(result), lambda console, _view: render_inspect(console, result)
    )
    label = f"layer {path.name}"
    raise_for(result.violations, label=label)
    check_budget(result.size, label=label)


def inspect_view(result: InspectResult) -> dict[str, Any]:
    """The `--json` payload of `inspect`."""
    from layerkit.runtimehints import notes_for

    size, slim = result.size, result.slim
    return {
        "source": str(result.source),
        "kind": result.kind,
        "target": result.target.slug,
        "runtime": result.target.runtime,
        "architecture": result.target.arch,
        "target_origin": result.target_origin,
        "packages_dir": result.packages_dir,
        "file_count": size.file_count,
        "unzipped_bytes": size.total_bytes,
        "zipped_bytes": result.zipped_bytes,
        "budget_bytes": size.budget_bytes,
        "headroom_bytes": size.headroom_bytes,
        "distributions": [
            {"name": d.name, "version": d.version, "files": d.files, "bytes": d.bytes}
            for d in size.distributions
        ],
        "top_level": [{"path": t.path, "bytes": t.bytes} for t in size.top_level],
        "largest_files": [{"path": f.path, "bytes": f.bytes} for f in size.largest_files],
        "problems": [
            {
                "path": v.path,
                "distribution": v.distribution,
                "rule": v.rule,
                "found": v.found,
                "expected": v.expected,
                "hint": v.hint,
                "waived": v.waived,
                "severity": v.severity,
            }
            for v in result.violations
        ],
        "slimming": {
            "removable_files": slim.files,
            "removable_bytes": slim.bytes,
            "strip_estimate_bytes": slim.strip_estimate,
            "rules": [
                {"rule": r.rule, "description": r.description, "files": r.files, "bytes": r.bytes}
                for r in slim.rules
            ],
            "warnings": list(slim.warnings),
        },
        "notes": list(result.notes) + list(notes_for(d.name for d in result.distributions)),
    }


def render_inspect(console: Console, result: InspectResult) -> None:
    """Human-readable inspection: a chart against the budget, problems, slimming potential."""
    from layerkit.charts import render_size_chart

    view = inspect_view(result)

    def say(text: str) -> None:  # names from the zip: escaped, never markup
        console.print(shown(text), markup=False)

    zipped = f", {human_bytes(view['zipped_bytes'])} zipped" if view["zipped_bytes"] else ""
    say(
        f"{view['source']} ({view['kind']}{zipped}), judged as {view['runtime']} "
        f"{view['architecture']} ({view['target_origin']}); packages in {view['packages_dir']}/"
    )
    render_size_chart(console, result.size)
    say("  top-level: " + ", ".join(
        f"{t['path']} {human_bytes(t['bytes'])}" for t in view["top_level"][:6]
    ))  # fmt: skip
    problems = [p for p in view["problems"] if not p["waived"]]
    errors = sum(p["severity"] == "error" for p in problems)
    say(
        f"problems: {errors or 'none'}"
        + (f" (and {len(problems) - errors} warnings)" if len(problems) > errors else "")
    )
    listed = [v for v in result.violations if not v.waived]
    for violation in listed[:25]:  # errors and warnings alike, in the words of the error message
        level = "warning: " if violation.severity == "warning" else ""
        say(f"  - {level}{violation.describe()}")
    slim = view["slimming"]
    savings = [f"{r['rule']} {human_bytes(r['bytes'])} ({r['files']} files)"
               for r in slim["rules"] if r["files"]]  # fmt: skip
    if slim["strip_estimate_bytes"]:
        savings.append(f"strip ~{human_bytes(slim['strip_estimate_bytes'])}")
    say("slimming would save: " + ("; ".join(savings) or "nothing"))
    for note in view["notes"]:
        say(f"note: {note}")
