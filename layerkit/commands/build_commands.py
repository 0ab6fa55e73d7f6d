"""`layerkit build`: dependencies -> one verified, reproducible layer zip per target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from layerkit.budget import DIRECT_UPLOAD_LIMIT
from layerkit.commands.common import JsonOption, Output, QuietOption
from layerkit.report import human_bytes

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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build a Lambda layer zip (and manifest) per target from a project's dependencies."""
    from layerkit.config import load_project, resolve_build_settings
    from layerkit.installer import installer_environment, make_backend, run_command
    from layerkit.workflow import BuildContext, build_layers

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
        },
    )
    env = installer_environment()
    ctx = BuildContext(
        backend=make_backend(settings.installer), runner=run_command, env=env, progress=out.progress
    )
    result = build_layers(settings, ctx)
    out.emit("build", build_view(result), render_build)


def build_view(result: Any) -> dict[str, Any]:
    """The `--json` payload of a build: one entry per target."""
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
            }
            for build in result.builds
        ],
    }


def render_build(console: Console, view: dict[str, Any]) -> None:
    """Human-readable build report: per target, totals against the budget and the biggest parts."""
    for build in view["builds"]:
        used = build["unzipped_bytes"] / build["budget_bytes"]
        console.print(
            f"built {build['zip']}\n"
            f"  {build['file_count']} files, {human_bytes(build['unzipped_bytes'])} unzipped "
            f"({used:.0%} of {human_bytes(build['budget_bytes'])} budget, "
            f"{human_bytes(build['headroom_bytes'])} left), "
            f"{human_bytes(build['zipped_bytes'])} zipped\n"
            f"  sha256 {build['sha256']}",
            markup=False,
        )
        if not build["direct_upload_ok"]:
            console.print(f"  note: {DIRECT_UPLOAD_NOTE}", markup=False)
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("distribution")
        table.add_column("version")
        table.add_column("files", justify="right")
        table.add_column("unzipped", justify="right")
        table.add_column("share", justify="right")
        for dist in build["distributions"][:10]:
            share = dist["bytes"] / build["unzipped_bytes"] if build["unzipped_bytes"] else 0
            table.add_row(
                dist["name"], dist["version"], str(dist["files"]), human_bytes(dist["bytes"]),
                f"{share:.0%}",
            )  # fmt: skip
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add `build` to the app."""
    app.command("build")(build)
