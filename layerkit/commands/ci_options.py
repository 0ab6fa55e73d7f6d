"""The options that fit layerkit into CI and deployment environments, shared by the AWS commands:
`--env NAME` (``[tool.layerkit.env.NAME]``) and `--output-env FILE` (see `layerkit.outputs`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from layerkit.outputs import Published

EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        metavar="NAME",
        help="Use [tool.layerkit.env.NAME] (bucket, regions, functions, layer-name, ...) over "
        "[tool.layerkit.publish]; flags still win.",
    ),
]
OutputEnvOption = Annotated[
    Path | None,
    typer.Option(
        "--output-env",
        metavar="FILE",
        help="Write LAYER_ARN, LAYER_VERSION and CODE_SHA256 (per target/region when several) "
        "as KEY=value lines; GITHUB_OUTPUT, when set, gets them too.",
    ),
]


def write_ci_outputs(results: Sequence[Published], output_env: Path | None) -> None:
    """Hand what was published to the next CI step: GITHUB_OUTPUT (when set) and --output-env."""
    from layerkit.outputs import GITHUB_OUTPUT, write_outputs

    write_outputs(results, github_output=os.environ.get(GITHUB_OUTPUT), env_file=output_env)


def env_functions(given: Sequence[str] | None, *, project: Path, env: str | None) -> list[str]:
    """The functions named on the command line, else those of `--env`'s ``functions``."""
    from layerkit.errors import UsageError

    configured: tuple[str, ...] = ()
    if env is not None:  # read even when FUNCTION... is given: an unknown name is an error
        from layerkit.config import load_project, select_env

        configured = select_env(load_project(project.resolve()), env).publish.get("functions", ())
    chosen = list(given or configured)
    if not chosen:
        raise UsageError(
            "no function to attach to",
            hint="give FUNCTION..., or --env NAME whose table sets functions",
        )
    return chosen
