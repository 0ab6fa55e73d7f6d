"""Issue 14: `detach`, and conflicts (409) that last retried with backoff within the bound.

The CLI against moto; 409s are real HTTP answers injected by the fault proxy.
"""

from __future__ import annotations

import pytest

from tests.aws_support import aws, doc, lk, make_function, publish_layer_version
from tests.faultproxy import FaultProxy


def _layers(env: dict[str, str], function: str) -> list[str]:
    config = aws(env, "lambda").get_function_configuration(FunctionName=function)
    return [layer["Arn"] for layer in config.get("Layers", [])]


def test_detach_by_name_keeps_the_other_layers_in_order(aws_env: dict[str, str]) -> None:
    alpha = publish_layer_version(aws_env, "alpha")
    deps = publish_layer_version(aws_env, "deps")
    omega = publish_layer_version(aws_env, "omega")
    make_function(aws_env, "fn-a", layers_=[alpha, deps, omega])
    make_function(aws_env, "fn-b", layers_=[deps])

    dry = lk(aws_env, "detach", "fn-a", "--layer", "deps", "--dry-run", "--region", "eu-west-1")
    assert dry.returncode == 0, dry.output
    assert f"fn-a (eu-west-1): would detach {deps}" in dry.stdout
    assert _layers(aws_env, "fn-a") == [alpha, deps, omega]

    result = lk(aws_env, "detach", "fn-a", "fn-b", "--layer", "deps", "--region", "eu-west-1",
                "--json")  # fmt: skip
    assert result.returncode == 0, result.output
    document = doc(result)
    assert document["schema"] == "layerkit/detach"
    assert [(r["function"], r["outcome"], r["removed"]) for r in document["results"]] == [
        ("fn-a", "detached", [deps]),
        ("fn-b", "detached", [deps]),
    ]
    assert _layers(aws_env, "fn-a") == [alpha, omega]
    assert _layers(aws_env, "fn-b") == []

    again = lk(aws_env, "detach", "fn-a", "--layer", deps)  # by version ARN: already gone
    assert again.returncode == 0, again.output
    assert "is not attached; nothing to do" in again.stdout
    assert _layers(aws_env, "fn-a") == [alpha, omega]


def test_detach_refuses_what_is_not_a_layer_before_any_call(aws_env: dict[str, str]) -> None:
    result = lk(aws_env, "detach", "fn", "--layer", "deps:3", "--region", "eu-west-1")
    assert result.returncode == 2, result.output
    assert "neither a layer name nor a layer ARN" in result.stderr


@pytest.mark.parametrize("command", ["attach", "detach"])
def test_conflicts_in_a_row_are_retried_with_backoff_and_the_plan_rechecked(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, command: str
) -> None:
    alpha = publish_layer_version(faulty_aws_env, "alpha")
    deps = publish_layer_version(faulty_aws_env, "deps")
    layers = [alpha, deps] if command == "detach" else [alpha]
    make_function(faulty_aws_env, "my-fn", layers_=layers)
    fault_proxy.add_fault("UpdateFunctionConfiguration", status=409, times=3)
    result = lk(faulty_aws_env, command, "my-fn", "--layer", deps, "--json")
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["results"]
    assert any("concurrent change" in note for note in entry["notes"])
    assert fault_proxy.count("UpdateFunctionConfiguration") == 4
    # Each retry re-read the function first (one read before the plan, one per conflict, one
    # after the write at least).
    assert fault_proxy.count("GetFunctionConfiguration") >= 5
    expected = [alpha] if command == "detach" else [alpha, deps]
    assert _layers(faulty_aws_env, "my-fn") == expected


def test_conflicts_that_last_past_the_timeout_fail_and_change_nothing(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    alpha = publish_layer_version(faulty_aws_env, "alpha")
    deps = publish_layer_version(faulty_aws_env, "deps")
    make_function(faulty_aws_env, "my-fn", layers_=[alpha])
    fault_proxy.add_fault("UpdateFunctionConfiguration", status=409, always=True)
    result = lk(faulty_aws_env, "attach", "my-fn", "--layer", deps, "--timeout", "1")
    assert result.returncode == 6, result.output
    assert "kept changing (ResourceConflictException" in result.stderr
    assert _layers(faulty_aws_env, "my-fn") == [alpha]
