"""`layerkit version` / `layerkit alias` as a user runs them, against the moto server.

One flow runs the real CLI in subprocesses and checks what it reports against the AWS CLI on the
same endpoint; the rest runs in-process (`layerkit.cli.run`) for speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from layerkit.cli import run
from tests.support import (
    SHIFT_PROD_TO_2,
    assert_interrupted_shift_restores,
    live_prod_alias,
    run_cli,
)

if TYPE_CHECKING:
    from tests.faultproxy import FaultProxy

if TYPE_CHECKING:
    from tests.release_support import LambdaWorld


def aws_cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


def cli_json(*args: str, env: dict[str, str]) -> dict[str, Any]:
    result = run_cli(*args, "--json", env=env)
    assert result.returncode == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _prod_on_version_1(world: LambdaWorld) -> str:
    """my-fn with versions 1 and 2, alias prod on 1 made by `layerkit alias create`: its state."""
    world.function_with_versions(count=2)
    assert run(["alias", "create", "my-fn", "prod", "--version", "1"]) == 0
    return world.raw_alias("my-fn", "prod")


def test_release_flow_like_a_user(world: LambdaWorld) -> None:
    env = world.env
    world.function_with_versions(count=1)
    world.new_code("my-fn", "x = 'deps 7'")
    world.alarm("my-fn-errors", "OK")

    published = cli_json("version", "publish", "my-fn", "--description", "deps 7", env=env)
    assert published["schema"] == "layerkit/version-publish"
    assert (published["created"], published["version"]["version"]) == (True, "2")
    again = cli_json("version", "publish", "my-fn", env=env)
    assert (again["created"], again["version"]["version"]) == (False, "2")

    cli_json("alias", "create", "my-fn", "prod", "--version", "1", env=env)
    updated = cli_json(
        "alias", "update", "my-fn", "prod", "--version", "1", "--weight", "2=0.1", env=env
    )
    assert updated["schema"] == "layerkit/alias"
    assert updated["routing"] == "90% -> 1, 10% -> 2"
    seen = aws_cli(env, "lambda", "get-alias", "--function-name", "my-fn", "--name", "prod")
    assert seen["FunctionVersion"] == updated["function_version"] == "1"
    assert seen["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    assert updated["additional_version_weights"] == {"2": 0.1}
    got = cli_json("alias", "get", "my-fn", "prod", env=env)
    assert got["revision_id"] == seen["RevisionId"]

    shifted = cli_json(*SHIFT_PROD_TO_2, "--steps", "10,50,100", "--interval", "0s",
                       "--alarm", "my-fn-errors", env=env)  # fmt: skip
    assert shifted["schema"] == "layerkit/alias-shift"
    assert shifted["outcome"] == "completed"
    steps = [e for e in shifted["events"] if e["kind"] == "step"]
    assert [e["percent"] for e in steps] == [50, 100]  # 10% was already routed
    assert all(e["at"].endswith("Z") for e in shifted["events"])
    seen = aws_cli(env, "lambda", "get-alias", "--function-name", "my-fn", "--name", "prod")
    assert seen["FunctionVersion"] == "2"
    assert seen["RoutingConfig"]["AdditionalVersionWeights"] == {}

    rolled = cli_json("alias", "rollback", "my-fn", "prod", env=env)
    assert rolled["routing"] == "90% -> 1, 10% -> 2"
    promoted = cli_json("alias", "promote", "my-fn", "prod", env=env)
    assert promoted["routing"] == "100% -> 2"
    listing = cli_json("version", "list", "my-fn", env=env)
    assert [(v["version"], v["aliases"]) for v in listing["versions"]] == [
        ("1", []),
        ("2", ["prod"]),
    ]
    cli_json("alias", "delete", "my-fn", "prod", env=env)
    assert cli_json("alias", "list", "my-fn", env=env)["aliases"] == []


@pytest.fixture
def in_process(world: LambdaWorld, monkeypatch: pytest.MonkeyPatch) -> LambdaWorld:
    """Point this process's environment at moto for `layerkit.cli.run`."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    return world


INVALID = [
    (["alias", "update", "my-fn", "prod", "--weight", "2=1.5"], "below 1"),
    (
        ["alias", "update", "my-fn", "prod", "--weight", "2=0.1", "--weight", "3=0.1"],
        "at most one additional version",
    ),
    (
        ["alias", "update", "my-fn", "prod", "--version", "$LATEST", "--weight", "2=0.1"],
        "cannot point to $LATEST",
    ),
    (["alias", "update", "my-fn", "prod", "--version", "9"], "version 9 of function my-fn"),
    (["alias", "update", "my-fn", "prod", "--weight", "9=0.1"], "version 9 of function my-fn"),
    (["alias", "create", "my-fn", "123", "--version", "1"], "cannot be all digits"),
]


@pytest.mark.parametrize(("argv", "expected"), INVALID)
def test_invalid_requests_exit_6_and_leave_the_alias_alone(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    world = in_process
    world.function_with_versions(count=3)
    assert run(["alias", "create", "my-fn", "prod", "--version", "1", "--weight", "2=0.2"]) == 0
    before = world.raw_alias("my-fn", "prod")
    capsys.readouterr()
    assert run(argv) == 6
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err
    assert "hint: " in err
    assert world.raw_alias("my-fn", "prod") == before
    assert [a["Name"] for a in world.lam.list_aliases(FunctionName="my-fn")["Aliases"]] == ["prod"]


def test_shift_aborted_by_alarm_exits_7_with_the_alias_unchanged(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = in_process
    before = _prod_on_version_1(world)
    world.alarm("my-fn-errors", "ALARM")
    capsys.readouterr()
    code = run([*SHIFT_PROD_TO_2, "--interval", "0s", "--alarm", "my-fn-errors", "--json"])
    out, err = capsys.readouterr()
    assert code == 7
    document = json.loads(out)
    assert (document["schema"], document["outcome"]) == ("layerkit/alias-shift", "aborted")
    assert "alarm in ALARM: my-fn-errors" in document["reason"]
    assert "error: traffic shift of my-fn:prod to version 2 aborted" in err
    assert world.raw_alias("my-fn", "prod") == before


def test_shift_dry_run_prints_the_plan_and_changes_nothing(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = in_process
    before = _prod_on_version_1(world)
    capsys.readouterr()
    assert run([*SHIFT_PROD_TO_2, "--steps", "10,50", "--interval", "5m", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "plan: shift my-fn:prod from version 1 to 2 (now 100% -> 1)",
        "  step 1: 10% to 2, then wait 300s",
        "  step 2: 50% to 2",
        "  then stop: version 2 would keep 50% (a canary), version 1 the rest",
        "  (dry run: nothing changed)",
    ]
    assert world.raw_alias("my-fn", "prod") == before


def test_shift_refuses_a_misspelt_alarm_before_changing_anything(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = in_process
    before = _prod_on_version_1(world)
    assert run([*SHIFT_PROD_TO_2, "--alarm", "nope"]) == 6
    assert "alarm(s) not found: nope" in capsys.readouterr().err
    assert world.raw_alias("my-fn", "prod") == before


def test_prune_and_usage_errors(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = in_process
    world.function_with_versions(count=3)
    assert run(["version", "prune", "my-fn", "--keep", "1", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == ["1", "2"]
    assert run(["alias", "update", "my-fn", "prod", "--weight", "2=0.1", "--no-routing"]) == 2
    assert run([*SHIFT_PROD_TO_2, "--interval", "5x"]) == 2
    assert "invalid interval '5x'" in capsys.readouterr().err


def test_help_does_not_import_boto3() -> None:
    code = (
        "import sys; from layerkit.cli import run; "
        "rc = run(['alias', 'shift', '--help']); rc2 = run(['version', '--help']); "
        "print(rc, rc2, 'boto3' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "0 0 False"


def test_sigterm_mid_shift_restores_the_alias(world: LambdaWorld) -> None:
    assert_interrupted_shift_restores(world, signal.SIGTERM)


# --- faults moto cannot produce, through the fault proxy ------------------------------------------


def test_a_stale_revision_alone_is_reapplied_once(
    world: LambdaWorld, fault_proxy: FaultProxy, faulty_aws_env: dict[str, str]
) -> None:
    world.function_with_versions(count=2)
    world.lam.create_alias(FunctionName="my-fn", Name="prod", FunctionVersion="1")
    fault_proxy.add_fault("UpdateAlias", status=412)  # a revision bump, no real change
    result = run_cli("alias", "update", "my-fn", "prod", "--weight", "2=0.1", env=faulty_aws_env)
    assert result.returncode == 0, result.output
    assert fault_proxy.count("UpdateAlias") == 2 and fault_proxy.forwarded("UpdateAlias") == 1
    alias = world.lam.get_alias(FunctionName="my-fn", Name="prod")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}


def test_a_revision_that_stays_stale_is_refused_and_reported(
    world: LambdaWorld, fault_proxy: FaultProxy, faulty_aws_env: dict[str, str]
) -> None:
    world.function_with_versions(count=2)
    world.lam.create_alias(FunctionName="my-fn", Name="prod", FunctionVersion="1")
    before = world.raw_alias("my-fn", "prod")
    fault_proxy.add_fault("UpdateAlias", status=412, always=True)
    result = run_cli("alias", "update", "my-fn", "prod", "--weight", "2=0.1", env=faulty_aws_env)
    assert result.returncode == 6, result.output
    assert "PreconditionFailedException" in result.stderr
    assert "was changed by someone else meanwhile" in result.stderr
    assert fault_proxy.count("UpdateAlias") == 2  # re-applied once, not more
    assert fault_proxy.forwarded("UpdateAlias") == 0
    assert world.raw_alias("my-fn", "prod") == before


def test_publish_conflict_is_reported(
    world: LambdaWorld, fault_proxy: FaultProxy, faulty_aws_env: dict[str, str]
) -> None:
    world.function()
    fault_proxy.add_fault("PublishVersion", status=409)
    result = run_cli("version", "publish", "my-fn", env=faulty_aws_env)
    assert result.returncode == 6, result.output
    assert "ResourceConflictException" in result.stderr
    assert world.lam.list_versions_by_function(FunctionName="my-fn")["Versions"][-1]["Version"] == (
        "$LATEST"
    )


def test_lost_answers_mid_shift_still_restore_exactly(
    world: LambdaWorld, fault_proxy: FaultProxy, faulty_aws_env: dict[str, str]
) -> None:
    before = live_prod_alias(world)
    # Step 2 takes effect in moto but its answer is lost; botocore's retry then meets the
    # changed RevisionId, as on AWS (moto does not check it): 412.
    fault_proxy.add_fault("UpdateAlias", drop=True, forward=True, nth=2)
    fault_proxy.add_fault("UpdateAlias", status=412, nth=3)
    result = run_cli(
        *SHIFT_PROD_TO_2, "--steps", "10,50,100", "--interval", "0s", env=faulty_aws_env
    )
    assert result.returncode == 7, result.output
    assert "aborted (UpdateAlias on alias my-fn:prod failed: PreconditionFailedException" in (
        result.stderr
    )
    assert fault_proxy.count("UpdateAlias") == 4  # step 1, step 2 (lost), its retry, restore
    assert world.raw_alias("my-fn", "prod") == before


def test_alias_text_and_json_output(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = in_process
    world.function_with_versions(count=2)
    assert run(["alias", "create", "my-fn", "prod", "--version", "1", "--description", "live"]) == 0
    assert capsys.readouterr().out == "alias my-fn:prod (created): 100% -> 1\n  description: live\n"
    assert run(["alias", "update", "my-fn", "prod", "--weight", "2=0.25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "alias my-fn:prod (updated): 75% -> 1, 25% -> 2",
        "  before: 100% -> 1",
        "  description: live",
    ]
    assert lines[3].startswith("  rollback restores: 100% -> 1 (recorded by update at 20")
    assert run(["alias", "get", "my-fn", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document) == [
        "schema",
        "schema_version",
        "function",
        "name",
        "arn",
        "function_version",
        "additional_version_weights",
        "routing",
        "description",
        "rollback",
        "revision_id",
        "action",
        "dry_run",
        "previous",
    ]
    assert document["rollback"]["before"] == {
        "function_version": "1",
        "additional_version_weights": {},
    }
    assert document["rollback"]["op"] == "update"


def test_a_shift_stops_where_its_steps_say_leaving_the_canary(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = in_process
    _prod_on_version_1(world)
    capsys.readouterr()
    args = [*SHIFT_PROD_TO_2, "--interval", "0s"]
    assert run([*args, "--steps", "10,50"]) == 0
    out = capsys.readouterr().out
    assert "stopped at 50% as --steps said: version 2 takes 50% of my-fn:prod" in out
    assert "a canary left in place" in out and "--steps 100" in out
    alias = world.lam.get_alias(FunctionName="my-fn", Name="prod")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.5}
    # Steps ending in 100 complete the shift (here from the canary where it stopped).
    assert run([*args, "--steps", "100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "completed"
    alias = world.lam.get_alias(FunctionName="my-fn", Name="prod")
    assert alias["FunctionVersion"] == "2"
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")


def test_a_shift_to_a_missing_version_is_a_usage_error_before_any_plan(
    in_process: LambdaWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = in_process
    _prod_on_version_1(world)
    capsys.readouterr()
    code = run(["alias", "shift", "my-fn", "prod", "--to", "9", "--dry-run"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""  # no plan printed
    assert "version 9 of function my-fn does not exist" in captured.err
