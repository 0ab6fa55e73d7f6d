"""`layerkit test`: import a layer's modules in a fresh interpreter of the target's version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layerkit.commands.common import (
    JsonOption,
    Output,
    QuietOption,
    examples,
    render_layer_test,
)


def layer_test(
    path: Annotated[Path, typer.Argument(help="A layer zip or a directory.")],
    python: Annotated[
        str | None, typer.Option("--python", help="Target Python (default: as inspect infers).")
    ] = None,
    arch: Annotated[str | None, typer.Option("--arch", help="Target architecture.")] = None,
    module: Annotated[
        list[str] | None,
        typer.Option("--import", help="Import this module (repeatable; default: all declared)."),
    ] = None,
    interpreter: Annotated[
        str | None,
        typer.Option("--interpreter", help="Python of the target's version to import with."),
    ] = None,
    require_run: Annotated[
        bool,
        typer.Option(
            "--no-skip", help="Fail (exit 2) instead of skipping when this machine cannot run it."
        ),
    ] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Import every module of a layer as Lambda would: read-only copy, fresh interpreter."""
    from layerkit.errors import UsageError
    from layerkit.importtest import raise_for_failures, run_layer_test
    from layerkit.payloads import layer_test_payload
    from layerkit.wiring import import_host

    out = Output(json=json_output, quiet=quiet)
    result = run_layer_test(
        path.resolve(),
        host=import_host(),
        python=python,
        arch=arch,
        modules=tuple(module or ()),
        interpreter=interpreter,
    )
    payload = layer_test_payload(result)
    out.emit("test", payload, lambda console, _payload: render_layer_test(console, result))
    if result.status == "skipped" and require_run:
        raise UsageError(
            f"the import test of {path.name} did not run: {result.reason}",
            hint="run it where the target can run, or drop --no-skip to accept a skip",
        )
    raise_for_failures(result, label=f"layer {path.name}")


def register(app: typer.Typer) -> None:
    """Add `test` to the app."""
    app.command(
        "test",
        epilog=examples(
            "layerkit test dist/deps-python3.12-x86_64.zip",
            "layerkit test layer.zip --python 3.12 --import numpy --import pandas",
            "layerkit test layer.zip --interpreter /usr/bin/python3.12 --no-skip --json",
        ),
    )(layer_test)
