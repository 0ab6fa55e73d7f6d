"""Attaching a layer: the pure plan, the guarded call (Stubber for what moto can't do), the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import botocore.session
import pytest
from botocore.stub import Stubber

from layerkit.aws.attach import (
    WaitSettings,
    attach_layer,
    check_compatibility,
    plan_layers,
)
from layerkit.aws.attach import function_size_report as size_report
from layerkit.aws.layers import LayerVersionInfo
from layerkit.errors import AwsError, LambdaRuleError
from tests.aws_support import (
    ACCOUNT,
    BUCKET,
    aws,
    doc,
    lk,
    make_bucket,
    make_function,
    publish_layer_version,
    version_numbers,
    write_layer_zip,
)
from tests.faultproxy import FaultProxy
from tests.support import run_cli

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.type_defs import FunctionConfigurationResponseTypeDef

    # A Lambda client and the botocore Stubber that answers its calls.
    Stubbed = tuple[LambdaClient, Stubber]


def arn(name: str, version: int, account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:eu-west-1:{account}:layer:{name}:{version}"


A, B = arn("alpha", 1), arn("beta", 4)


# --- the plan (pure) ----------------------------------------------------------------------------


def test_a_new_layer_goes_last_and_keeps_the_others_in_order() -> None:
    plan = plan_layers([A, B], arn("deps", 2), function="fn")
    assert plan.after == (A, B, arn("deps", 2))
    assert (plan.change, plan.replaced) == ("add", None)


def test_an_older_version_is_replaced_in_its_place() -> None:
    plan = plan_layers([A, arn("deps", 1), B], arn("deps", 2), function="fn")
    assert plan.after == (A, arn("deps", 2), B)
    assert (plan.change, plan.replaced) == ("replace", arn("deps", 1))


def test_the_same_version_changes_nothing() -> None:
    plan = plan_layers([A, arn("deps", 2)], arn("deps", 2), function="fn")
    assert (plan.change, plan.after) == ("none", (A, arn("deps", 2)))


def test_a_same_named_layer_of_another_account_is_not_replaced() -> None:
    theirs = arn("deps", 9, account="999999999999")
    plan = plan_layers([theirs], arn("deps", 2), function="fn")
    assert plan.after == (theirs, arn("deps", 2))


def test_a_downgrade_needs_to_be_asked_for() -> None:
    with pytest.raises(LambdaRuleError, match="newer than 2") as caught:
        plan_layers([arn("deps", 5)], arn("deps", 2), function="fn")
    assert "--allow-downgrade" in (caught.value.hint or "")
    plan = plan_layers([arn("deps", 5)], arn("deps", 2), function="fn", allow_downgrade=True)
    assert plan.after == (arn("deps", 2),)


def test_more_than_five_layers_are_refused() -> None:
    five = [arn(f"l{i}", 1) for i in range(5)]
    with pytest.raises(LambdaRuleError, match="6 layers"):
        plan_layers(five, arn("deps", 1), function="fn")
    # Replacing within five is fine.
    plan = plan_layers([*five[:4], arn("deps", 1)], arn("deps", 2), function="fn")
    assert len(plan.after) == 5


def test_a_function_already_holding_two_versions_is_refused() -> None:
    with pytest.raises(LambdaRuleError, match="two versions of layer deps"):
        plan_layers([arn("deps", 1), arn("deps", 2)], arn("deps", 3), function="fn")


def info(
    version: int = 2,
    *,
    archs: tuple[str, ...] = ("arm64",),
    runtimes: tuple[str, ...] = ("python3.12",),
    unzipped: int | None = 1000,
) -> LayerVersionInfo:
    return LayerVersionInfo(
        arn=arn("deps", version),
        name="deps",
        version=version,
        description="",
        created="",
        runtimes=runtimes,
        architectures=archs,
        license="",
        code_sha256="x",
        code_size=10,
        unzipped_bytes=unzipped,
    )


def config(**overrides: Any) -> FunctionConfigurationResponseTypeDef:
    base: dict[str, Any] = {
        "FunctionName": "fn",
        "Runtime": "python3.12",
        "Architectures": ["arm64"],
        "PackageType": "Zip",
        "CodeSize": 100,
        "Layers": [],
        "LastUpdateStatus": "Successful",
        "State": "Active",
    }
    base.update(overrides)
    return cast("FunctionConfigurationResponseTypeDef", base)


def test_the_layer_must_fit_the_function_architecture() -> None:
    with pytest.raises(LambdaRuleError, match="built for x86_64, but function fn runs on arm64"):
        check_compatibility(config(), info(archs=("x86_64",)))
    check_compatibility(config(), info(archs=()))  # undeclared: nothing to check


def test_the_layer_must_fit_the_function_runtime() -> None:
    with pytest.raises(LambdaRuleError, match=r"compatible with python3\.11"):
        check_compatibility(config(), info(runtimes=("python3.11",)))


def test_container_image_functions_take_no_layers() -> None:
    with pytest.raises(LambdaRuleError, match="container image"):
        check_compatibility(config(PackageType="Image"), info())


def test_size_counts_code_and_every_layer_and_says_what_is_unknown() -> None:
    cfg = config(CodeSize=5_000, Layers=[{"Arn": A, "CodeSize": 7_000}])
    report = size_report(cfg, [A, arn("deps", 2)], {arn("deps", 2): 200_000_000})
    assert report.total == 5_000 + 7_000 + 200_000_000
    assert report.unknown == ("function code", A)


def test_over_262144000_bytes_is_refused() -> None:
    cfg = config(CodeSize=1_000_000, Layers=[{"Arn": A, "CodeSize": 2_000_000}])
    sizes = {A: 100_000_000, arn("deps", 2): 161_144_001}
    with pytest.raises(LambdaRuleError, match="262,144,000"):
        size_report(cfg, [A, arn("deps", 2)], sizes)
    sizes[arn("deps", 2)] = 161_144_000
    assert size_report(cfg, [A, arn("deps", 2)], sizes).total == 262_144_000


# --- the call, with botocore's Stubber for what moto never does ---------------------------------


@pytest.fixture
def stubbed() -> Iterator[Stubbed]:
    # botocore's own session (no boto3 default session involved); the stubs type it BaseClient.
    client = cast(
        "LambdaClient",
        botocore.session.get_session().create_client(
            "lambda",
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ),
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _layers(*arns: str) -> list[dict[str, Any]]:
    return [{"Arn": a, "CodeSize": 10} for a in arns]


def _read(stubber: Stubber, revision: str | None, *arns: str, status: str = "Successful") -> None:
    response = config(Layers=_layers(*arns), LastUpdateStatus=status)
    if revision:
        response["RevisionId"] = revision
    stubber.add_response("get_function_configuration", response, {"FunctionName": "fn"})


def _sizes(stubber: Stubber, *arns: str) -> None:
    for a in arns:  # unreadable (e.g. another account's layer): size unknown, counted zipped
        layer_arn, version = a.rsplit(":", 1)
        stubber.add_client_error(
            "get_layer_version",
            "AccessDeniedException",
            http_status_code=403,
            expected_params={"LayerName": layer_arn, "VersionNumber": int(version)},
        )


def _update(stubber: Stubber, layers: list[str], revision: str | None, error: str = "") -> None:
    expected: dict[str, Any] = {"FunctionName": "fn", "Layers": layers}
    if revision:
        expected["RevisionId"] = revision
    if error:
        status = {"PreconditionFailedException": 412, "ResourceConflictException": 409}.get(
            error, 403
        )
        stubber.add_client_error(
            "update_function_configuration",
            error,
            http_status_code=status,
            expected_params=expected,
        )
    else:
        stubber.add_response("update_function_configuration", {}, expected)


NO_WAIT = WaitSettings(timeout_s=5, poll_s=1, sleep=lambda s: None, clock=lambda: 0.0)


def test_the_revision_id_is_sent_and_waits_bracket_the_update(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    new = arn("deps", 2)
    _read(stubber, "rev-1", A, arn("deps", 1), B)
    _sizes(stubber, A, B)
    _update(stubber, [A, new, B], "rev-1")
    _read(stubber, "rev-2", A, new, B)
    result = attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=NO_WAIT)
    assert result.outcome == "replaced"
    assert result.after == (A, new, B)
    assert result.revision_id == "rev-2"


def test_without_a_revision_id_none_is_sent(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    _read(stubber, None, A)
    _sizes(stubber, A)
    _update(stubber, [A, arn("deps", 2)], None)
    _read(stubber, None, A, arn("deps", 2))
    result = attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=NO_WAIT)
    assert result.outcome == "attached"


def test_an_update_in_progress_is_waited_out_before_changing(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    slept: list[float] = []
    _read(stubber, "r0", A, status="InProgress")
    _read(stubber, "r1", A)
    _sizes(stubber, A)
    _update(stubber, [A, arn("deps", 2)], "r1")
    _read(stubber, "r2", A, arn("deps", 2), status="InProgress")
    _read(stubber, "r3", A, arn("deps", 2))
    wait = WaitSettings(timeout_s=10, poll_s=1, sleep=slept.append, clock=lambda: 0.0)
    result = attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=wait)
    assert slept == [1, 1]
    assert result.revision_id == "r3"


def test_an_update_that_never_finishes_times_out_clearly(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    for _ in range(4):
        _read(stubber, "r0", A, status="InProgress")
    wait = WaitSettings(timeout_s=3, poll_s=1, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(AwsError, match="still updating after 3s"):
        attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=wait)


def test_a_stale_revision_is_reapplied_once_on_top_of_the_other_change(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    new = arn("deps", 2)
    _read(stubber, "rev-1", A, arn("deps", 1))
    _sizes(stubber, A)
    _update(stubber, [A, new], "rev-1", error="PreconditionFailedException")
    _read(stubber, "rev-2", A, arn("deps", 1), B)  # someone added B meanwhile
    _sizes(stubber, A, B)
    _update(stubber, [A, new, B], "rev-2")
    _read(stubber, "rev-3", A, new, B)
    result = attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=NO_WAIT)
    assert result.after == (A, new, B)
    assert result.notes == (
        "re-applied on top of a concurrent change (PreconditionFailedException)",
    )


def test_an_update_in_progress_race_409_is_handled_like_a_stale_revision(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    new = arn("deps", 2)
    _read(stubber, "rev-1", A)
    _sizes(stubber, A)
    _update(stubber, [A, new], "rev-1", error="ResourceConflictException")
    _read(stubber, "rev-2", A)
    _sizes(stubber, A)
    _update(stubber, [A, new], "rev-2")
    _read(stubber, "rev-3", A, new)
    result = attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=NO_WAIT)
    assert result.after == (A, new)


def test_a_concurrent_change_of_our_layer_stops_without_writing(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    _read(stubber, "rev-1", A, arn("deps", 1))
    _sizes(stubber, A)
    _update(stubber, [A, arn("deps", 2)], "rev-1", error="PreconditionFailedException")
    _read(stubber, "rev-2", A, arn("deps", 3))  # another deployment attached version 3
    with pytest.raises(AwsError, match="changed while layerkit was attaching") as caught:
        attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=NO_WAIT)
    assert arn("deps", 3) in caught.value.message
    # No second update was made: the Stubber fails on any call not queued above.


def test_our_version_attached_concurrently_is_reported_unchanged(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    _read(stubber, "rev-1", A)
    _sizes(stubber, A)
    _update(stubber, [A, arn("deps", 2)], "rev-1", error="PreconditionFailedException")
    _read(stubber, "rev-2", A, arn("deps", 2))
    _read(stubber, "rev-2", A, arn("deps", 2))
    result = attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=NO_WAIT)
    assert result.outcome == "unchanged"
    assert "concurrent" in result.notes[0]


def test_conflicts_that_outlast_the_time_bound_stop_with_a_message(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    _read(stubber, "rev-1", A)
    _sizes(stubber, A)
    _update(stubber, [A, arn("deps", 2)], "rev-1", error="PreconditionFailedException")
    _read(stubber, "rev-2", B)
    _sizes(stubber, B)
    _update(stubber, [B, arn("deps", 2)], "rev-2", error="PreconditionFailedException")
    _read(stubber, "rev-3", B)
    _sizes(stubber, B)
    _update(stubber, [B, arn("deps", 2)], "rev-3", error="ResourceConflictException")
    # 0.5 s of backoff fits the 1 s bound, the next 1 s does not: three writes, then a message.
    wait = WaitSettings(timeout_s=1, poll_s=1, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(AwsError, match="kept changing") as caught:
        attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=wait)
    assert caught.value.code == "ResourceConflictException"
    assert now[0] == 0.5


def test_access_denied_names_the_permission(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    _read(stubber, "rev-1")
    _update(stubber, [arn("deps", 2)], "rev-1", error="AccessDeniedException")
    with pytest.raises(AwsError) as caught:
        attach_layer(client, function="fn", layer=info(), region="eu-west-1", wait=NO_WAIT)
    assert "UpdateFunctionConfiguration on function fn" in caught.value.message
    assert "lambda:UpdateFunctionConfiguration" in (caught.value.hint or "")


def test_dry_run_reads_but_never_writes(stubbed: Stubbed) -> None:
    client, stubber = stubbed
    _read(stubber, "rev-1", A, arn("deps", 1))
    _sizes(stubber, A)
    result = attach_layer(
        client, function="fn", layer=info(), region="eu-west-1", dry_run=True, wait=NO_WAIT
    )
    assert (result.dry_run, result.before, result.after) == (
        True,
        (A, arn("deps", 1)),
        (A, info().arn),
    )


# --- against moto, through the CLI --------------------------------------------------------------


def test_attach_keeps_the_other_two_layers_in_place_and_in_order(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    alpha = publish_layer_version(aws_env, "alpha")
    ours_v1 = publish_layer_version(aws_env, "deps", payload="old")
    beta = publish_layer_version(aws_env, "beta")
    make_function(aws_env, "my-fn", layers_=[alpha, ours_v1, beta])
    ours_v2 = publish_layer_version(aws_env, "deps", payload="new")

    dry = lk(aws_env, "attach", "my-fn", "--layer", ours_v2, "--dry-run")
    assert dry.returncode == 0, dry.output
    assert f"before: {alpha}, {ours_v1}, {beta}" in dry.stdout
    assert f"after:  {alpha}, {ours_v2}, {beta}" in dry.stdout
    current = aws(aws_env, "lambda").get_function_configuration(FunctionName="my-fn")
    assert [layer["Arn"] for layer in current["Layers"]] == [alpha, ours_v1, beta]

    result = lk(aws_env, "attach", "my-fn", "--layer", ours_v2, "--json")
    assert result.returncode == 0, result.output
    document = doc(result)
    assert document["schema"] == "layerkit/attach"
    (attached,) = document["results"]
    assert attached["outcome"] == "replaced"
    assert attached["replaced"] == ours_v1
    current = aws(aws_env, "lambda").get_function_configuration(FunctionName="my-fn")
    assert [layer["Arn"] for layer in current["Layers"]] == [alpha, ours_v2, beta]
    # Sizes of layers layerkit did not publish are unknown, and the report says so.
    assert set(attached["sizes"]["items"][0]) >= {"label", "bytes", "exact", "note"}
    assert alpha in [item["label"] for item in attached["sizes"]["items"] if not item["exact"]]


def test_attach_refuses_a_layer_of_another_region(aws_env: dict[str, str]) -> None:
    result = lk(aws_env, "attach", "fn", "--layer", arn("deps", 1), "--region", "us-east-1")
    assert result.returncode == 6
    assert "functions in us-east-1 cannot use it" in result.stderr


def test_attach_refuses_a_sixth_layer_and_changes_nothing(aws_env: dict[str, str]) -> None:
    five = [publish_layer_version(aws_env, f"l{i}") for i in range(5)]
    make_function(aws_env, "my-fn", layers_=five)
    ours = publish_layer_version(aws_env, "deps")
    result = lk(aws_env, "attach", "my-fn", "--layer", ours)
    assert result.returncode == 6
    assert "would have 6 layers; Lambda allows 5" in result.stderr
    current = aws(aws_env, "lambda").get_function_configuration(FunctionName="my-fn")
    assert [layer["Arn"] for layer in current["Layers"]] == five


def test_attach_refuses_a_layer_of_the_wrong_architecture(aws_env: dict[str, str]) -> None:
    make_function(aws_env, "x86-fn", arch="x86_64")
    ours = publish_layer_version(aws_env, "deps")  # arm64
    result = lk(aws_env, "attach", "x86-fn", "--layer", ours)
    assert result.returncode == 6
    assert "built for arm64, but function x86-fn runs on x86_64" in result.stderr


def test_attach_checks_the_unzipped_size_layerkit_recorded(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path, unzipped_bytes=262_144_000)
    published = lk(aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1", "--json")
    layer = doc(published)["results"][0]["layer_arn"]
    make_function(aws_env, "my-fn")
    result = lk(aws_env, "attach", "my-fn", "--layer", layer)
    assert result.returncode == 6
    assert "Lambda allows 262,144,000" in result.stderr


def test_publish_attach_then_rerun_after_a_crash_makes_no_second_version(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    other = publish_layer_version(aws_env, "alpha")
    make_function(aws_env, "my-fn", layers_=[other])
    zip_path, _ = write_layer_zip(tmp_path)
    base = ("publish", str(zip_path), "--bucket", BUCKET, "--region", "eu-west-1", "--json")
    # The "crash": published, never attached.
    assert lk(aws_env, *base).returncode == 0
    rerun = lk(aws_env, *base, "--attach", "my-fn")
    assert rerun.returncode == 0, rerun.output
    (entry,) = doc(rerun)["results"]
    assert entry["outcome"] == "unchanged"
    assert [a["outcome"] for a in entry["attachments"]] == ["attached"]
    assert version_numbers(aws_env, "deps") == [1]
    current = aws(aws_env, "lambda").get_function_configuration(FunctionName="my-fn")
    assert [layer["Arn"] for layer in current["Layers"]] == [other, entry["layer_arn"]]


def test_publish_attaches_the_zip_matching_each_function(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_function(aws_env, "arm-fn", arch="arm64")
    make_function(aws_env, "x86-fn", arch="x86_64")
    arm, _ = write_layer_zip(tmp_path, arch="arm64")
    x86, _ = write_layer_zip(tmp_path, arch="x86_64", payload="X = 86\n")
    result = lk(
        aws_env,
        "publish",
        str(arm),
        str(x86),
        "--layer-name",
        "{name}-{python}-{arch}",
        "--direct",
        "--region",
        "eu-west-1",
        "--attach",
        "arm-fn",
        "--attach",
        "x86-fn",
        "--json",
    )
    assert result.returncode == 0, result.output
    lam = aws(aws_env, "lambda")
    for function, layer in (
        ("arm-fn", "deps-python312-arm64"),
        ("x86-fn", "deps-python312-x86_64"),
    ):
        arns = [
            item["Arn"] for item in lam.get_function_configuration(FunctionName=function)["Layers"]
        ]
        assert arns == [arn(layer, 1)]


def test_a_failed_attach_fails_the_command_but_keeps_the_other_results(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_function(aws_env, "my-fn")
    zip_path, _ = write_layer_zip(tmp_path)
    result = lk(
        aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1",
        "--attach", "my-fn", "--attach", "nope", "--json",
    )  # fmt: skip
    assert result.returncode == 6
    (entry,) = doc(result)["results"]
    assert entry["outcome"] == "published"
    assert [a["function"] for a in entry["attachments"]] == ["my-fn"]
    assert [f["function"] for f in entry["attach_failures"]] == ["nope"]
    assert "function nope" in entry["error"]
    current = aws(aws_env, "lambda").get_function_configuration(FunctionName="my-fn")
    assert [layer["Arn"] for layer in current["Layers"]] == [entry["layer_arn"]]


# --- 409/412 from a real HTTP exchange, through the fault proxy ---------------------------------


@pytest.mark.parametrize("status", [409, 412])
def test_a_racing_change_is_survived_through_the_cli(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, status: int
) -> None:
    alpha = publish_layer_version(faulty_aws_env, "alpha")
    make_function(faulty_aws_env, "my-fn", layers_=[alpha])
    ours = publish_layer_version(faulty_aws_env, "deps")
    fault_proxy.add_fault("UpdateFunctionConfiguration", status=status)
    result = lk(faulty_aws_env, "attach", "my-fn", "--layer", ours, "--json")
    assert result.returncode == 0, result.output
    (attached,) = doc(result)["results"]
    assert any("re-applied on top of a concurrent change" in n for n in attached["notes"])
    assert fault_proxy.count("UpdateFunctionConfiguration") == 2
    current = aws(faulty_aws_env, "lambda").get_function_configuration(FunctionName="my-fn")
    assert [layer["Arn"] for layer in current["Layers"]] == [alpha, ours]


# --- deploy: build + publish + attach in one step -----------------------------------------------


def test_deploy_builds_publishes_and_attaches_from_the_project_config(
    aws_env: dict[str, str], env: dict[str, str], index_url: str, tmp_path: Path
) -> None:
    make_bucket(aws_env)
    alpha = publish_layer_version(aws_env, "alpha")
    make_function(aws_env, "my-fn", layers_=[alpha])
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.layerkit]\nname = "deps"\npackages = ["purepkg"]\npython = ["3.12"]\n'
        f'arch = ["arm64"]\nindex-url = "{index_url}"\n\n'
        f'[tool.layerkit.publish]\nbucket = "{BUCKET}"\nregions = ["eu-west-1"]\n'
        'functions = ["my-fn"]\n'
    )
    deploy_env = {**env, "AWS_ENDPOINT_URL": aws_env["AWS_ENDPOINT_URL"]}  # uv cache + moto
    result = run_cli("deploy", str(project), "--json", env=deploy_env)
    assert result.returncode == 0, result.output
    document = doc(result)
    assert document["schema"] == "layerkit/deploy"
    (build,) = document["build"]["builds"]
    (entry,) = document["publish"]["results"]
    assert (entry["outcome"], entry["version"]) == ("published", 1)
    assert entry["code_sha256"] == build["code_sha256"]
    assert [a["outcome"] for a in entry["attachments"]] == ["attached"]
    current = aws(aws_env, "lambda").get_function_configuration(FunctionName="my-fn")
    assert [layer["Arn"] for layer in current["Layers"]] == [alpha, entry["layer_arn"]]

    again = run_cli("deploy", str(project), "--json", env=deploy_env)
    assert again.returncode == 0, again.output
    (entry,) = doc(again)["publish"]["results"]
    assert entry["outcome"] == "unchanged"  # the build is reproducible: same bytes, no version
    assert [a["outcome"] for a in entry["attachments"]] == ["unchanged"]
    assert version_numbers(aws_env, "deps") == [1]


def test_publish_attaches_in_every_region_to_that_region_s_layer(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    for region in ("eu-west-1", "us-east-1"):
        make_function(aws_env, "my-fn", region=region)
    zip_path, _ = write_layer_zip(tmp_path)
    result = lk(
        aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1",
        "--region", "us-east-1", "--attach", "my-fn", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.output
    for region in ("eu-west-1", "us-east-1"):
        config = aws(aws_env, "lambda", region).get_function_configuration(FunctionName="my-fn")
        assert [layer["Arn"] for layer in config["Layers"]] == [
            f"arn:aws:lambda:{region}:{ACCOUNT}:layer:deps:1"
        ]


def test_a_function_arn_of_a_region_not_published_to_is_refused_first(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-fn"
    result = lk(
        aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1", "--attach", function
    )
    assert result.returncode == 6
    assert "is in us-east-1, which is not published to" in result.stderr
    assert version_numbers(aws_env, "deps") == []
