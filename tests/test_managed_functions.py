"""Issue 14: functions a CloudFormation stack (or SAM) manages are not changed behind its back.

The tags AWS puts on them (`aws:cloudformation:stack-name`, SAM's `lambda:createdBy`) make
attach, detach, alias writes and version publish refuse (exit 6) unless --force.
"""

from __future__ import annotations

import pytest

from tests.aws_support import aws, doc, lk, make_function, publish_layer_version


def _managed(env: dict[str, str], name: str, tags: dict[str, str], layers: list[str]) -> None:
    make_function(env, name, layers_=layers)
    client = aws(env, "lambda")
    arn = client.get_function_configuration(FunctionName=name)["FunctionArn"]
    client.tag_resource(Resource=arn, Tags=tags)


def _layers(env: dict[str, str], function: str) -> list[str]:
    config = aws(env, "lambda").get_function_configuration(FunctionName=function)
    return [layer["Arn"] for layer in config.get("Layers", [])]


@pytest.mark.parametrize(
    ("tags", "owner"),
    [
        ({"aws:cloudformation:stack-name": "shop-prod"}, "CloudFormation stack shop-prod"),
        ({"lambda:createdBy": "SAM"}, "SAM (tag lambda:createdBy)"),
    ],
)
def test_layer_changes_to_a_stack_managed_function_are_refused_unless_forced(
    aws_env: dict[str, str], tags: dict[str, str], owner: str
) -> None:
    alpha = publish_layer_version(aws_env, "alpha")
    deps = publish_layer_version(aws_env, "deps")
    _managed(aws_env, "stack-fn", tags, [alpha])
    for args in (("attach", "stack-fn", "--layer", deps), ("detach", "stack-fn", "--layer", alpha)):
        refused = lk(aws_env, *args)
        assert refused.returncode == 6, refused.output
        assert f"function stack-fn is managed by {owner}" in refused.stderr
        assert "change in the stack's template" in refused.stderr and "--force" in refused.stderr
    assert _layers(aws_env, "stack-fn") == [alpha]
    forced = lk(aws_env, "attach", "stack-fn", "--layer", deps, "--force")
    assert forced.returncode == 0, forced.output
    assert _layers(aws_env, "stack-fn") == [alpha, deps]


def test_versions_and_alias_writes_of_a_stack_managed_function_are_refused_unless_forced(
    aws_env: dict[str, str],
) -> None:
    _managed(aws_env, "stack-fn", {"aws:cloudformation:stack-name": "shop-prod"}, [])
    client = aws(aws_env, "lambda")
    refused = lk(aws_env, "version", "publish", "stack-fn", "--region", "eu-west-1")
    assert refused.returncode == 6, refused.output
    assert "publishing a version here would be reverted" in refused.stderr
    assert [v["Version"] for v in client.list_versions_by_function(FunctionName="stack-fn")[
        "Versions"]] == ["$LATEST"]  # fmt: skip
    forced = lk(aws_env, "version", "publish", "stack-fn", "--region", "eu-west-1", "--force",
                "--json")  # fmt: skip
    assert forced.returncode == 0, forced.output
    version = str(doc(forced)["version"]["version"])

    create = ("alias", "create", "stack-fn", "live", "--version", version, "--region", "eu-west-1")
    assert lk(aws_env, *create).returncode == 6
    assert client.list_aliases(FunctionName="stack-fn")["Aliases"] == []
    assert lk(aws_env, *create, "--force").returncode == 0
    for args in (
        ("alias", "update", "stack-fn", "live", "--description", "x"),
        ("alias", "delete", "stack-fn", "live"),
        ("alias", "shift", "stack-fn", "live", "--to", version, "--steps", "100"),
    ):
        refused = lk(aws_env, *args, "--region", "eu-west-1")
        assert refused.returncode == 6, (args, refused.output)
        assert "is managed by CloudFormation stack shop-prod" in refused.stderr
    assert [a["Name"] for a in client.list_aliases(FunctionName="stack-fn")["Aliases"]] == ["live"]
