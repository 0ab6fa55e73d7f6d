"""The composite GitHub Action (`action.yml` in the repository root, shipped by `layerkit init`
beside the workflow): valid metadata, pinned actions, scripts that lint clean and take inputs
only through the environment, and outputs that are the keys `layerkit publish` writes — its build
and publish steps are run here as a runner would, against a local index and moto.

`tests/schemas/github-action.json` is SchemaStore's schema of action metadata (see the README
there for its source and licence)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from layerkit import scaffold
from layerkit.outputs import output_values
from tests.aws_support import ACCOUNT, BUCKET, aws, make_bucket
from tests.build_fixtures import make_project
from tests.support import REPO_ROOT
from tests.test_workflow_template import PINNED
from tests.workflow_support import SCRIPTS, run_step

ACTION = REPO_ROOT / "action.yml"
TEMPLATE_ACTION = ".github/actions/layerkit/action.yml"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "github-action.json").read_text())


def _action() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return document


def _steps() -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in _action()["runs"]["steps"]}


def _schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [error.message for error in validator.iter_errors(document)]


def test_action_metadata_is_valid_against_the_github_action_schema() -> None:
    assert SCHEMA["$id"] == "https://json.schemastore.org/github-action.json"
    assert _schema_errors(_action()) == []


def test_the_schema_check_catches_a_broken_action() -> None:
    broken = copy.deepcopy(_action())
    del broken["description"]
    broken["runs"]["steps"][0].pop("shell")  # a composite `run` step must name its shell
    broken["inputs"]["targets"]["requird"] = True
    assert len(_schema_errors(broken)) >= 3


def test_init_ships_the_action_unchanged_and_the_workflow_uses_it(tmp_path: Path) -> None:
    rendered = {f.path: f.text for f in scaffold.render_template("github-actions", tmp_path)}
    assert rendered[TEMPLATE_ACTION] == ACTION.read_text()
    workflow = yaml.safe_load(rendered[".github/workflows/layerkit.yml"])
    (use,) = [s for s in workflow["jobs"]["build"]["steps"] if s.get("uses", "").startswith("./")]
    assert use["uses"] == "./" + TEMPLATE_ACTION.rsplit("/", 1)[0]
    assert use["with"] == {
        "targets": "${{ matrix.slug }}",
        "layerkit-spec": "${{ env.LAYERKIT_SPEC }}",
    }
    assert set(use["with"]) <= set(_action()["inputs"])


def test_every_action_it_uses_is_pinned_like_the_workflow_s() -> None:
    uses = re.findall(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)", ACTION.read_text())
    assert len(uses) == len([s for s in _steps().values() if "uses" in s]) == 4
    for action, sha, release in uses:
        assert PINNED[action] == (sha, release)
    assert {action for action, _, _ in uses} == {"actions/cache", "actions/upload-artifact"}


def test_scripts_read_inputs_only_from_the_environment_and_pass_shellcheck(
    tmp_path: Path,
) -> None:
    scripts = [step for step in _steps().values() if "run" in step]
    assert len(scripts) == 4
    for step in scripts:
        # `${{ inputs.x }}` inside a script would be pasted into the shell code (injection).
        assert "${{" not in step["run"], step["name"]
        assert step["shell"] == "bash"
        script = tmp_path / "step.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            [str(SCRIPTS / "shellcheck"), "--shell=bash", str(script)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (result.returncode, result.stdout) == (0, ""), step["name"]


def test_cache_key_names_every_lock_format_and_the_targets() -> None:
    cache = _steps()["Cache layerkit's build cache and uv's cache"]["with"]
    assert cache["path"].split() == ["~/.cache/uv", "~/.cache/layerkit"]
    for pattern in ("uv.lock", "pylock*.toml", "poetry.lock", "Pipfile.lock", "requirements*.txt"):
        assert f"/{pattern}'" in cache["key"], pattern
    assert "steps.label.outputs.name" in cache["key"]


def test_the_outputs_are_the_keys_layerkit_publish_writes_for_one_target() -> None:
    outputs = _action()["outputs"]

    class One:
        region, target, layer_arn, version, code_sha256 = "r", "python3.12-arm64", "arn", 1, "c"

    written = {v.key for v in output_values([One()])}
    published = {k for k, v in outputs.items() if "steps.publish.outputs" in v["value"]}
    assert published == written == {"layer-arn", "layer-version", "code-sha256"}
    for key in published:
        assert outputs[key]["value"] == f"${{{{ steps.publish.outputs.{key} }}}}"
    assert _steps()["Publish"]["id"] == "publish"


def _step_env(step: dict[str, Any], **values: str) -> dict[str, str]:
    """The step's `env`, every `${{ ... }}` given a value by the test."""
    assert set(step["env"]) == set(values), step["name"]
    return values


def test_the_build_and_publish_steps_run_and_write_the_arn_to_github_output(
    aws_env: dict[str, str], env: dict[str, str], index_url: str, tmp_path: Path
) -> None:
    config = f'name = "deps"\npython = "3.12"\narch = "arm64"\nindex-url = "{index_url}"\n'
    project = make_project(tmp_path, "purepkg==1.0\n", config)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(project)]
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=60)
    subprocess.run([*git, "add", "."], check=True, timeout=60)
    subprocess.run([*git, "commit", "-q", "-m", "layer"], check=True, timeout=60)
    make_bucket(aws_env)
    steps, dist, reports = _steps(), tmp_path / "dist", tmp_path / "reports"
    runner = {**env, "AWS_ENDPOINT_URL": aws_env["AWS_ENDPOINT_URL"]}

    label, outputs = run_step({}, steps["Name the targets"], cwd=project,
                              env={**runner, "TARGETS": "python3.12-arm64\n"})  # fmt: skip
    assert label.returncode == 0, label.stderr
    assert outputs == {"name": "python3.12-arm64"}

    build_env = _step_env(steps["Build the layers"], PROJECT_DIR=".", TARGETS="python3.12-arm64",
                          DIST=str(dist), REPORTS=str(reports))  # fmt: skip
    build, outputs = run_step(
        {}, steps["Build the layers"], cwd=project, env={**runner, **build_env}
    )
    assert build.returncode == 0, build.stderr
    assert outputs == {"dist": str(dist), "reports": str(reports)}
    # (and .layerkit-last-build.json, which upload-artifact leaves out: a hidden file)
    assert sorted(p.name for p in dist.iterdir() if not p.name.startswith(".")) == [
        "deps-python3.12-arm64.cdx.json", "deps-python3.12-arm64.json", "deps-python3.12-arm64.zip",
    ]  # fmt: skip
    assert sorted(p.name for p in reports.iterdir()) == [
        "build-python3.12-arm64.json", "deps-python3.12-arm64.html",
    ]  # fmt: skip

    publish_env = _step_env(steps["Publish"], PROJECT_DIR=".", DIST=str(dist), BUCKET=BUCKET,
                            REGIONS="eu-west-1", FUNCTIONS="", LAYERKIT_ENV="",
                            REPORT=str(tmp_path / "publish" / "publish.json"))  # fmt: skip
    publish, outputs = run_step({}, steps["Publish"], cwd=project, env={**runner, **publish_env})
    assert publish.returncode == 0, publish.stderr
    arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:deps:1"
    assert outputs["layer-arn"] == arn and outputs["layer-version"] == "1"
    manifest = json.loads((dist / "deps-python3.12-arm64.json").read_text())
    assert outputs["code-sha256"] == manifest["code_sha256"]
    listed = aws(aws_env, "lambda").list_layer_versions(LayerName="deps")["LayerVersions"]
    assert [v["LayerVersionArn"] for v in listed] == [arn]
    report = json.loads((tmp_path / "publish" / "publish.json").read_text())
    assert report["results"][0]["layer_arn"] == arn
