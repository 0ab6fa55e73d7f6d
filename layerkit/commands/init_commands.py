"""`layerkit init`: write a starting point (configuration, requirements, CI workflow)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from layerkit.commands.common import JsonOption, Output, QuietOption, examples
from layerkit.report import plural, shown_path

if TYPE_CHECKING:
    from rich.console import Console

    from layerkit.payloads import TemplateListing
    from layerkit.scaffold import InitResult


def init(
    directory: Annotated[
        Path, typer.Argument(help="Directory to write into (created when missing).")
    ] = Path(),
    template: Annotated[
        str, typer.Option("--template", "-t", help="Template to write (see --list).")
    ] = "minimal",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    list_templates: Annotated[
        bool, typer.Option("--list", help="List the templates and write nothing.")
    ] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write a working starting point from a template: config, requirements and a CI workflow."""
    from layerkit import scaffold
    from layerkit.payloads import TemplateListing

    out = Output(json=json_output, quiet=quiet)
    if list_templates:
        out.emit("templates", TemplateListing(scaffold.list_templates()), render_templates)
        return
    result = scaffold.init_project(directory.resolve(), template, force=force)
    out.emit("init", result, render_init)


def render_templates(console: Console, listing: TemplateListing) -> None:
    """The templates, one per line with what they hold."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("template")
    table.add_column("what it writes")
    for template in listing.templates:
        table.add_row(template.name, template.description)
    console.print(table)


def render_init(console: Console, result: InitResult) -> None:
    """The files written, then what to do next."""
    directory = result.directory
    console.print(
        f"wrote {plural(len(result.written), 'file')} of template {result.template} "
        f"into {shown_path(directory)}",
        markup=False,
    )
    overwritten = set(result.overwritten)
    for path in result.written:
        console.print(f"  {path}{' (overwritten)' if path in overwritten else ''}", markup=False)
    steps = list(result.next_steps)
    if steps and directory != Path.cwd():
        steps.insert(0, f"cd {shlex.quote(shown_path(directory))}")
    if steps:
        console.print("next:", markup=False)
        for step in steps:
            console.print(f"  {step}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `init` to the app."""
    app.command(
        "init",
        epilog=examples(
            "layerkit init my-layer --template minimal",
            "layerkit init . --template github-actions",
            "layerkit init --list",
        ),
    )(init)
