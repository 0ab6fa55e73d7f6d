"""`[tool.layerkit.env.<name>]` selected with `--env`: one project, staging and production."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerkit.config import load_project, resolve_publish_settings, select_env
from layerkit.errors import ConfigError, UsageError
from tests.aws_support import ACCOUNT, aws, doc, lk, make_bucket, make_function, write_layer_zip

PROJECT = """\
[tool.layerkit]
name = "deps"
python = "3.12"
arch = "arm64"

[tool.layerkit.publish]
bucket = "base-bucket"
regions = ["eu-west-1"]
layer-name = "{name}"

[tool.layerkit.env.staging]
bucket = "staging-bucket"
functions = ["fn-staging"]
layer-name = "{name}-staging"

[tool.layerkit.env.prod]
bucket = "prod-bucket"
functions = ["fn-prod-a", "fn-prod-b"]
"""


def _project(tmp_path: Path, text: str = PROJECT) -> Path:
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    (project / "pyproject.toml").write_text(text)
    return project


def test_flags_win_over_the_environment_which_wins_over_the_publish_table(
    tmp_path: Path,
) -> None:
    config = load_project(_project(tmp_path))
    assert resolve_publish_settings(config, {}).bucket == "base-bucket"
    staging = resolve_publish_settings(select_env(config, "staging"), {})
    assert (staging.bucket, staging.layer_name, staging.functions, staging.regions) == (
        "staging-bucket", "{name}-staging", ("fn-staging",), ("eu-west-1",),
    )  # fmt: skip
    flagged = resolve_publish_settings(select_env(config, "prod"), {"bucket": "flag-bucket"})
    assert (flagged.bucket, flagged.layer_name) == ("flag-bucket", "{name}")
    assert select_env(config, None) is config


def test_an_unknown_environment_is_a_usage_error_naming_the_known_ones(tmp_path: Path) -> None:
    config = load_project(_project(tmp_path))
    with pytest.raises(UsageError) as caught:
        select_env(config, "prdo")
    assert caught.value.exit_code == 2
    assert "(known: prod, staging)" in caught.value.message


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ("[tool.layerkit.env.staging]\nbuckett = 'x'\n", "env.staging: unknown key 'buckett'"),
        ("[tool.layerkit.env.staging]\nfunctions = 3\n", "'functions' must be"),
        ("[tool.layerkit]\nenv = 'staging'\n", "'env' must hold one table per environment"),
    ],
)
def test_environment_tables_are_checked_like_the_publish_table(
    tmp_path: Path, table: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_project(_project(tmp_path, table))


def test_staging_and_prod_publish_to_their_own_buckets_and_functions(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    project = _project(tmp_path)
    for bucket in ("base-bucket", "staging-bucket", "prod-bucket"):
        make_bucket(aws_env, bucket)
    for function in ("fn-staging", "fn-prod-a", "fn-prod-b"):
        make_function(aws_env, function)
    zip_path, manifest = write_layer_zip(tmp_path / "dist")
    s3 = aws(aws_env, "s3")

    def keys(bucket: str) -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]

    def layers(function: str) -> list[str]:
        found = aws(aws_env, "lambda").get_function_configuration(FunctionName=function)
        return [layer["Arn"] for layer in found.get("Layers", [])]

    def publish(env_name: str) -> str:
        result = lk(aws_env, "publish", str(zip_path), "--project", str(project), "--env",
                    env_name, "--json")  # fmt: skip
        assert result.returncode == 0, result.output
        (entry,) = doc(result)["results"]
        return str(entry["layer_arn"])

    staging_arn = publish("staging")
    assert staging_arn == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:deps-staging:1"
    assert keys("staging-bucket") == [f"layerkit/deps-staging/{manifest.sha256}.zip"]
    assert layers("fn-staging") == [staging_arn]
    assert layers("fn-prod-a") == layers("fn-prod-b") == []

    prod_arn = publish("prod")
    assert prod_arn == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:deps:1"
    assert keys("prod-bucket") == [f"layerkit/deps/{manifest.sha256}.zip"]
    assert layers("fn-prod-a") == layers("fn-prod-b") == [prod_arn]
    assert layers("fn-staging") == [staging_arn]
    assert keys("base-bucket") == []

    # attach --env takes the environment's functions when none are named
    attached = lk(aws_env, "attach", "--layer", staging_arn, "--project", str(project),
                  "--env", "prod", "--allow-overlap", "--json")  # fmt: skip
    assert attached.returncode == 0, attached.output
    assert [r["function"] for r in doc(attached)["results"]] == ["fn-prod-a", "fn-prod-b"]
    assert layers("fn-prod-a") == [prod_arn, staging_arn]

    unknown = lk(aws_env, "publish", str(zip_path), "--project", str(project), "--env", "qa")
    assert unknown.returncode == 2
    assert "unknown environment 'qa' (known: prod, staging)" in unknown.stderr
