"""Reading the GitHub Actions workflow layerkit generates, and running its steps as a runner would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support import isolated_env

WORKFLOW = ".github/workflows/layerkit.yml"
# The console scripts of the environment running the tests (layerkit, actionlint, shellcheck).
SCRIPTS = Path(sys.executable).parent


def load_workflow(text: str) -> dict[str, Any]:
    """The workflow as GitHub reads it."""
    # Any keys: YAML may give a bool key, which the next lines rename.
    document: dict[Any, Any] = yaml.safe_load(text)
    # YAML 1.1 reads the key `on` as the boolean true; GitHub reads it as "on".
    if True in document:
        document["on"] = document.pop(True)
    return document


def read_step_outputs(path: Path) -> dict[str, str]:
    """The outputs a step wrote to $GITHUB_OUTPUT: `name=value` lines and `name<<DELIM` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        name, equals, value = line.partition("=")
        if "<<" in name or not equals:
            name, _, delimiter = line.partition("<<")
            block: list[str] = []
            for body in lines:
                if body == delimiter:
                    break
                block.append(body)
            else:
                raise AssertionError(f"$GITHUB_OUTPUT: no line {delimiter!r} closes {name!r}")
            value = "\n".join(block)
        outputs[name] = value
    return outputs


def run_step(
    workflow: Mapping[str, Any],
    step: Mapping[str, Any],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    path: Path = SCRIPTS,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run a step's `run:` script as an ubuntu runner does (bash -eo pipefail, the workflow's and
    the step's `env`), with `path` first on PATH; return the process and its step outputs."""
    output_file = cwd.parent / f"github-output-{os.getpid()}"
    output_file.write_text("")
    script = cwd.parent / f"step-{os.getpid()}.sh"
    script.write_text(str(step["run"]))
    variables = isolated_env({
        **{k: str(v) for k, v in workflow.get("env", {}).items()},
        **{k: str(v) for k, v in step.get("env", {}).items()},
        **(env or {}),
        "GITHUB_OUTPUT": str(output_file),
        "PATH": f"{path}{os.pathsep}{os.environ['PATH']}",
    })  # fmt: skip
    process = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd, env=variables, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return process, read_step_outputs(output_file)
