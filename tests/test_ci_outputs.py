"""What `publish`/`deploy` hand to the next CI step: GITHUB_OUTPUT and `--output-env`."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from layerkit.outputs import (
    OutputValue,
    append_github_output,
    env_file_text,
    github_output_text,
    output_values,
)
from tests.aws_support import ACCOUNT, BUCKET, aws, doc, lk, make_bucket, write_layer_zip
from tests.build_fixtures import make_project
from tests.support import run_cli
from tests.workflow_support import read_step_outputs


@dataclass(frozen=True)
class _Result:
    region: str
    target: str
    layer_arn: str | None
    version: int | None
    code_sha256: str = "q0Jx+/abc="


def test_one_target_in_one_region_gives_plain_keys() -> None:
    arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:deps:3"
    values = output_values([_Result("eu-west-1", "python3.12-arm64", arn, 3)])
    assert {v.key: v.value for v in values} == {
        "layer-arn": arn,
        "layer-version": "3",
        "code-sha256": "q0Jx+/abc=",
    }
    assert [v.env_key for v in values] == ["CODE_SHA256", "LAYER_ARN", "LAYER_VERSION"]


def test_several_targets_and_regions_are_named_in_the_keys_and_unpublished_ones_left_out() -> None:
    results = [
        _Result(region, target, f"arn:{region}:{target}", 1)
        for region in ("eu-west-1", "us-east-1")
        for target in ("python3.12-arm64", "python3.13-x86_64")
    ]
    results.append(_Result("eu-west-1", "python3.11-arm64", None, None))  # failed / dry run
    keys = {v.key: v.value for v in output_values(results)}
    assert len(keys) == 12
    assert keys["layer-arn-python312-arm64-eu-west-1"] == "arn:eu-west-1:python3.12-arm64"
    assert keys["layer-version-python313-x86_64-us-east-1"] == "1"
    assert not any("python311" in key for key in keys)
    two_targets = output_values(results[:2])
    assert {v.key for v in two_targets} >= {
        "layer-arn-python312-arm64",
        "code-sha256-python313-x86_64",
    }
    assert {v.env_key for v in two_targets} >= {"LAYER_ARN_PYTHON312_ARM64"}


def test_a_multi_line_value_uses_github_s_delimiter_form_and_the_env_file_quotes_it(
    tmp_path: Path,
) -> None:
    values = [OutputValue("plain", "a=b"), OutputValue("multi", "one\ntwo")]
    text = github_output_text(values)
    assert text.startswith("plain=a=b\nmulti<<ghadelimiter_")
    (tmp_path / "out").write_text(text)
    assert read_step_outputs(tmp_path / "out") == {"plain": "a=b", "multi": "one\ntwo"}
    env_text = env_file_text([*values, OutputValue("spaced", "x y; rm -rf /")])
    shell = subprocess.run(
        ["sh", "-c", f'{env_text}printf "%s|%s|%s" "$PLAIN" "$MULTI" "$SPACED"'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shell.stdout == "a=b|one\ntwo|x y; rm -rf /"
    assert "MULTI=" + shlex.quote("one\ntwo") in env_text


def test_the_github_output_file_is_appended_to_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "github_output"
    path.write_text("earlier-step=kept\n")
    append_github_output(path, [OutputValue("layer-arn", "arn:x")])
    append_github_output(path, [OutputValue("layer-version", "2")])
    assert path.read_text() == "earlier-step=kept\nlayer-arn=arn:x\nlayer-version=2\n"


def test_publish_with_github_output_set_writes_the_arn_that_exists(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    arm, arm_manifest = write_layer_zip(tmp_path / "dist", python="3.12", arch="arm64")
    x86, _ = write_layer_zip(tmp_path / "dist", python="3.12", arch="x86_64", payload="B = 2\n")
    github_output = tmp_path / "github_output"
    github_output.write_text("before=1\n")
    env_file = tmp_path / "layer.env"
    result = lk(
        {**aws_env, "GITHUB_OUTPUT": str(github_output)},
        "publish", str(arm), str(x86), "--bucket", BUCKET, "--region", "eu-west-1",
        "--layer-name", "{name}-{python}-{arch}", "--output-env", str(env_file), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.output
    published = {r["target"]: r for r in doc(result)["results"]}
    outputs = read_step_outputs(github_output)
    assert outputs["before"] == "1"
    arn = outputs["layer-arn-python312-arm64"]
    assert arn == published["python3.12-arm64"]["layer_arn"]
    assert arn == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:deps-python312-arm64:1"
    assert outputs["layer-version-python312-arm64"] == "1"
    assert outputs["code-sha256-python312-arm64"] == arm_manifest.code_sha256
    assert outputs["layer-arn-python312-x86_64"] == published["python3.12-x86_64"]["layer_arn"]
    # the ARN names a real layer version in the account, with the bytes that were built (moto
    # answers GetLayerVersionByArn with a 500, so the version is looked up by its name's listing)
    region, name, version = arn.split(":")[3], arn.split(":")[6], arn.split(":")[7]
    listed = aws(aws_env, "lambda", region).list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["LayerVersionArn"] for v in listed] == [arn]
    fetched = aws(aws_env, "lambda", region).get_layer_version(
        LayerName=name, VersionNumber=int(version)
    )
    assert fetched["Content"]["CodeSha256"] == arm_manifest.code_sha256
    assert fetched["CompatibleArchitectures"] == ["arm64"]
    # the env file holds the same values, and a shell reads them back
    shell = subprocess.run(
        ["sh", "-c", f'. "{env_file}" && printf %s "$LAYER_ARN_PYTHON312_ARM64"'],
        capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert shell.stdout == arn
    assert len(env_file.read_text().splitlines()) == 6


def test_a_dry_run_writes_no_outputs(aws_env: dict[str, str], tmp_path: Path) -> None:
    make_bucket(aws_env)
    zip_path, _ = write_layer_zip(tmp_path / "dist")
    github_output = tmp_path / "github_output"
    result = lk(
        {**aws_env, "GITHUB_OUTPUT": str(github_output)},
        "publish", str(zip_path), "--bucket", BUCKET, "--region", "eu-west-1", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert github_output.read_text() == ""


def test_deploy_writes_the_same_outputs(
    aws_env: dict[str, str], env: dict[str, str], index_url: str, tmp_path: Path
) -> None:
    make_bucket(aws_env)
    project = make_project(
        tmp_path, "purepkg==1.0\n",
        f'name = "deps"\npython = "3.12"\narch = "arm64"\nindex-url = "{index_url}"\n'
        f'[publish]\nbucket = "{BUCKET}"\nregions = ["eu-west-1"]\n',
    )  # fmt: skip
    github_output, env_file = tmp_path / "github_output", tmp_path / "layer.env"
    deploy_env = {**env, "AWS_ENDPOINT_URL": aws_env["AWS_ENDPOINT_URL"],
                  "GITHUB_OUTPUT": str(github_output)}  # fmt: skip
    result = run_cli("deploy", str(project), "--output-env", str(env_file), "--json",
                     env=deploy_env)  # fmt: skip
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["publish"]["results"]
    outputs = read_step_outputs(github_output)
    assert outputs == {
        "layer-arn": entry["layer_arn"],
        "layer-version": "1",
        "code-sha256": entry["code_sha256"],
    }
    assert env_file.read_text() == (
        f"CODE_SHA256={entry['code_sha256']}\nLAYER_ARN={entry['layer_arn']}\nLAYER_VERSION=1\n"
    )
