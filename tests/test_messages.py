"""Issue 14, messages: usage errors exit 2 with the right hint, a missing profile is named,
--debug works after the command, and the root help says where the exit codes are."""

from __future__ import annotations

from tests.aws_support import lk
from tests.release_support import LambdaWorld
from tests.support import run_cli


def test_a_layer_name_where_an_arn_is_needed_is_a_usage_error(aws_env: dict[str, str]) -> None:
    result = lk(aws_env, "attach", "my-fn", "--layer", "deps", "--region", "eu-west-1")
    assert result.returncode == 2, result.output
    assert "--layer needs a layer version ARN; 'deps' is not one" in result.stderr
    assert "layerkit layers versions deps" in result.stderr


def test_an_alias_that_exists_is_a_usage_error_pointing_to_update(world: LambdaWorld) -> None:
    world.function_with_versions(count=1)
    create = ("alias", "create", "my-fn", "prod", "--version", "1")
    assert lk(world.env, *create).returncode == 0
    again = lk(world.env, *create)
    assert again.returncode == 2, again.output
    assert "alias my-fn:prod already exists" in again.stderr
    assert "layerkit alias update my-fn prod --version 1" in again.stderr


def test_a_missing_profile_from_aws_profile_is_named(aws_env: dict[str, str]) -> None:
    result = run_cli("layers", "list", env={**aws_env, "AWS_PROFILE": "no-such-profile"})
    assert result.returncode == 6, result.output
    assert "cannot load AWS profile 'no-such-profile' (named by AWS_PROFILE)" in result.stderr
    assert "None" not in result.stderr


def test_debug_is_accepted_after_the_command(aws_env: dict[str, str]) -> None:
    result = lk(aws_env, "layers", "list", "--region", "eu-west-1", "--debug")
    assert result.returncode == 0, result.output
    failing = lk(aws_env, "attach", "my-fn", "--layer", "deps", "--debug")
    assert failing.returncode == 2 and "Traceback" in failing.stderr


def test_root_help_names_json_quiet_and_the_exit_codes_table() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--json" in text and "-q/--quiet" in text
    assert "Exit codes: 0 ok, 2 usage" in text and "README.md (section 'Exit codes')" in text


def test_each_result_is_said_once_in_a_terminal(aws_env: dict[str, str]) -> None:
    from tests.aws_support import make_function, publish_layer_version

    layer = publish_layer_version(aws_env, "deps")
    make_function(aws_env, "my-fn")
    result = lk(aws_env, "attach", "my-fn", "missing-fn", "--layer", layer)
    assert result.returncode == 6, result.output
    assert "my-fn (eu-west-1): attached" in result.stdout
    assert "missing-fn" not in result.stdout  # the failure is the error on stderr, said once
    assert [line for line in result.stderr.splitlines() if "failed" in line] == [
        line for line in result.stderr.splitlines() if line.startswith("error: ")
    ]
    assert "error: attaching failed for missing-fn: GetFunction" in result.stderr
