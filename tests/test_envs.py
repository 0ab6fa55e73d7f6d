"""`[tool.layerkit.env.<name>]` selected with `--env`: one project, staging and production."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer

from layerkit.commands.release_commands import alias_app, version_app
from layerkit.config import (
    ReleaseTarget,
    load_project,
    release_target,
    resolve_publish_settings,
    select_env,
)
from layerkit.errors import ConfigError, UsageError
from tests.aws_support import ACCOUNT, aws, doc, lk, make_bucket, make_function, write_layer_zip
from tests.release_support import LambdaWorld
from tests.support import assert_clean_failure

if TYPE_CHECKING:
    from tests.support import CliResult

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


# --- the release commands (`layerkit alias ...`, `layerkit version ...`) with --env -----------

RELEASE_PROJECT = """\
[tool.layerkit]
name = "deps"

[tool.layerkit.publish]
regions = ["us-east-1"]

[tool.layerkit.env.staging]
functions = ["orders-staging"]
alias = "live"

[tool.layerkit.env.prod]
functions = ["orders-prod"]
regions = ["eu-west-1"]
alias = "prod"

[tool.layerkit.env.both]
functions = ["orders-a", "orders-b"]
regions = ["us-east-1", "eu-west-1"]
"""


def _release(
    *,
    function: str | None = None,
    alias: str | None = None,
    region: str | None = None,
    env: str | None = "staging",
    keys: dict[str, Any] | None = None,
    needs_alias: bool = True,
) -> ReleaseTarget:
    table = {"functions": ("fn-a",), "regions": ("eu-west-1",), "alias": "live"}
    return release_target(env, table if keys is None else keys, function=function, alias=alias,
                          region=region, needs_alias=needs_alias)  # fmt: skip


def test_a_release_command_takes_what_is_not_given_from_the_environment() -> None:
    assert _release() == ReleaseTarget("fn-a", "live", "eu-west-1")
    given = _release(function="fn-x", alias="canary", region="us-east-1")
    assert given == ReleaseTarget("fn-x", "canary", "us-east-1")
    assert _release(needs_alias=False) == ReleaseTarget("fn-a", None, "eu-west-1")
    # no regions in the table: the AWS chain's region, as without --env
    no_region = _release(keys={"functions": ("fn-a",), "alias": "live"})
    assert no_region == ReleaseTarget("fn-a", "live", None)
    # without --env the table is not read: the command line alone says what is meant
    assert _release(function="fn-x", alias="prod", env=None) == ReleaseTarget("fn-x", "prod", None)


@pytest.mark.parametrize(
    ("kwargs", "message", "hint"),
    [
        ({"env": None}, "missing argument FUNCTION", "or --env NAME"),
        ({"env": None, "function": "fn-x"}, "missing argument ALIAS", "give ALIAS after FUNCTION"),
        (
            {"keys": {"functions": ("fn-a", "fn-b"), "alias": "live"}},
            "environment 'staging' names 2 functions: fn-a, fn-b",
            "pass FUNCTION",
        ),
        (
            {"keys": {"alias": "live"}},
            "environment 'staging' names no function",
            "set functions in [tool.layerkit.env.staging]",
        ),
        (
            {"keys": {"functions": ("fn-a",)}},
            "environment 'staging' sets no alias",
            'set alias = "..." in [tool.layerkit.env.staging]',
        ),
        (
            {"keys": {"functions": ("fn-a",), "alias": "l", "regions": ("eu-west-1", "us-east-1")}},
            "environment 'staging' names 2 regions: eu-west-1, us-east-1",
            "--region",
        ),
    ],
    ids=[
        "no-function-no-env",
        "no-alias-no-env",
        "two-functions",
        "no-function",
        "no-alias",
        "two-regions",
    ],
)
def test_what_cannot_be_told_from_the_environment_is_asked_for(
    kwargs: dict[str, Any], message: str, hint: str
) -> None:
    with pytest.raises(UsageError) as caught:
        _release(**kwargs)
    assert caught.value.message == message
    assert hint in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("123", "cannot be all digits"),
        ("pr od", "letters, digits, '-' and '_'"),
        ("a" * 129, "1-128 letters"),
    ],
)
def test_an_environment_alias_is_checked_by_lambda_s_alias_rule(
    tmp_path: Path, value: str, complaint: str
) -> None:
    project = _project(tmp_path, f"[tool.layerkit.env.prod]\nalias = '{value}'\n")
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    assert "[tool.layerkit].env.prod: 'alias': invalid alias name" in caught.value.message
    assert complaint in caught.value.message
    assert caught.value.hint and "choose a name" in caught.value.hint


def _commands(app: typer.Typer) -> list[tuple[str, Any]]:
    return [(info.name or "", info.callback) for info in app.registered_commands]


@pytest.mark.parametrize(
    ("name", "callback"),
    [*_commands(alias_app), *_commands(version_app)],
    ids=[f"alias-{n}" for n, _ in _commands(alias_app)]
    + [f"version-{n}" for n, _ in _commands(version_app)],
)
def test_every_release_command_takes_env_and_may_leave_function_out(
    name: str, callback: Any
) -> None:
    import inspect

    params = inspect.signature(callback).parameters
    assert {"env", "project"} <= set(params), name
    assert params["function"].default is None, name


def _release_cli(world: LambdaWorld, project: Path, *args: str) -> dict[str, Any]:
    result = lk(world.env, *args, "--project", str(project), "--json")
    assert result.returncode == 0, result.output
    return doc(result)


def test_staging_and_prod_aliases_are_their_own_functions_aliases_and_regions(
    world: LambdaWorld, tmp_path: Path
) -> None:
    project = _project(tmp_path, RELEASE_PROJECT)
    staging = world  # us-east-1, the publish table's region
    prod = LambdaWorld(world.env, aws(world.env, "lambda", "eu-west-1"), world.cloudwatch,
                       world.iam)  # fmt: skip
    staging.function_with_versions("orders-staging", count=2)
    prod.function_with_versions("orders-prod", count=2)

    def routing(lam_world: LambdaWorld, function: str, alias: str) -> str:
        return str(lam_world.lam.get_alias(FunctionName=function, Name=alias)["FunctionVersion"])

    created = _release_cli(world, project, "alias", "create", "--env", "staging", "--version", "1")
    assert (created["function"], created["name"], created["function_version"]) == (
        "orders-staging", "live", "1",
    )  # fmt: skip
    assert routing(staging, "orders-staging", "live") == "1"
    created = _release_cli(world, project, "alias", "create", "--env", "prod", "--version", "2")
    assert (created["function"], created["name"]) == ("orders-prod", "prod")
    assert created["arn"].startswith(f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:orders-prod")
    assert routing(prod, "orders-prod", "prod") == "2"

    _release_cli(world, project, "alias", "update", "--env", "staging", "--version", "2")
    assert routing(staging, "orders-staging", "live") == "2"
    assert routing(prod, "orders-prod", "prod") == "2"
    _release_cli(world, project, "alias", "update", "--env", "prod", "--version", "1")
    assert routing(prod, "orders-prod", "prod") == "1"
    assert routing(staging, "orders-staging", "live") == "2"

    got = _release_cli(world, project, "alias", "get", "--env", "prod")
    assert (got["function"], got["name"], got["function_version"]) == ("orders-prod", "prod", "1")
    got = _release_cli(world, project, "alias", "get", "--env", "staging")
    assert (got["function"], got["name"], got["function_version"]) == (
        "orders-staging", "live", "2",
    )  # fmt: skip
    # what the command line gives wins over the environment's function, alias and region
    got = _release_cli(world, project, "alias", "get", "orders-staging", "live", "--env", "prod",
                       "--region", "us-east-1")  # fmt: skip
    assert (got["function"], got["function_version"]) == ("orders-staging", "2")
    # the version commands and `alias list` take the environment's function and region too
    listing = _release_cli(world, project, "alias", "list", "--env", "prod")
    assert [a["name"] for a in listing["aliases"]] == ["prod"]
    versions = _release_cli(world, project, "version", "list", "--env", "prod")
    assert (versions["function"], [v["version"] for v in versions["versions"]]) == (
        "orders-prod", ["1", "2"],
    )  # fmt: skip
    assert staging.lam.list_aliases(FunctionName="orders-staging")["Aliases"][0]["Name"] == "live"


def _env_failure(project: Path, *args: str) -> CliResult:
    from tests.support import isolated_env

    return lk(isolated_env(), *args, "--project", str(project))


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ("alias", "get", "--env", "both"),
            ("environment 'both' names 2 functions: orders-a, orders-b", "pass FUNCTION"),
        ),
        (
            ("version", "list", "--env", "both"),
            ("environment 'both' names 2 functions: orders-a, orders-b", "pass FUNCTION"),
        ),
        (
            ("alias", "update", "orders-a", "live", "--env", "both", "--version", "2"),
            ("environment 'both' names 2 regions: us-east-1, eu-west-1", "--region"),
        ),
        (
            ("alias", "shift", "orders-a", "--env", "both", "--region", "eu-west-1", "--to", "2"),
            ("environment 'both' sets no alias", "pass FUNCTION ALIAS"),
        ),
        (
            ("alias", "promote", "--env", "qa"),
            ("unknown environment 'qa' (known: both, prod, staging)",),
        ),
        (("alias", "rollback"), ("missing argument FUNCTION", "or --env NAME")),
    ],
    ids=[
        "two-functions",
        "version-two-functions",
        "two-regions",
        "no-alias",
        "unknown-env",
        "no-function-no-env",
    ],
)
def test_release_commands_say_what_the_environment_cannot_tell(
    tmp_path: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    assert_clean_failure(_env_failure(_project(tmp_path, RELEASE_PROJECT), *args), 2, *needles)


def test_a_bad_alias_in_an_environment_table_stops_a_release_command(tmp_path: Path) -> None:
    project = _project(tmp_path, RELEASE_PROJECT.replace('alias = "live"', 'alias = "42"'))
    result = _env_failure(project, "alias", "get", "--env", "prod")
    assert_clean_failure(
        result, 2, "[tool.layerkit].env.staging: 'alias': invalid alias name '42'", "choose a name"
    )
