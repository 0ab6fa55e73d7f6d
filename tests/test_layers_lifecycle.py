"""`layerkit layers list|versions|delete|prune|grant|revoke` against the moto server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from layerkit.aws.layers import plan_layer_prune as plan_prune
from layerkit.errors import UsageError
from tests.aws_support import (
    aws,
    doc,
    lk,
    make_function,
    publish_layer_version,
    version_numbers,
    write_layer_zip,
)


def test_plan_prune_keeps_the_newest_and_the_used() -> None:
    plan = plan_prune(
        [1, 2, 3, 4, 5], keep=2, in_use={1: ("fn:1",), 4: ("fn:$LATEST",)}, force=False
    )
    assert plan.keep == (5, 4)
    assert plan.delete == (3, 2)
    assert dict(plan.in_use) == {1: ("fn:1",)}


def test_plan_prune_with_force_deletes_used_versions_too() -> None:
    plan = plan_prune([1, 2, 3], keep=1, in_use={1: ("fn:1",)}, force=True)
    assert (plan.delete, dict(plan.in_use)) == ((2, 1), {})


def test_plan_prune_keeps_at_least_one() -> None:
    with pytest.raises(UsageError, match="--keep must be at least 1"):
        plan_prune([1, 2], keep=0, in_use={}, force=False)


def test_list_versions_and_delete(aws_env: dict[str, str], tmp_path: Path) -> None:
    zip_path, manifest = write_layer_zip(tmp_path, unzipped_bytes=4321)
    assert (
        lk(aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1").returncode == 0
    )
    publish_layer_version(aws_env, "deps", payload="by hand")

    listed = lk(aws_env, "layers", "list", "--region", "eu-west-1", "--json")
    assert listed.returncode == 0, listed.output
    document = doc(listed)
    assert document["schema"] == "layerkit/layers-list"
    assert [(layer["name"], layer["latest"]["version"]) for layer in document["layers"]] == [
        ("deps", 2)
    ]

    versions = doc(lk(aws_env, "layers", "versions", "deps", "--region", "eu-west-1", "--json"))
    assert versions["schema"] == "layerkit/layer-versions"
    by_version = {v["version"]: v for v in versions["versions"]}
    assert list(by_version) == [2, 1]  # newest first
    assert by_version[1]["unzipped_bytes"] == 4321
    assert by_version[1]["recorded_sha256"] == manifest.sha256
    assert by_version[2]["unzipped_bytes"] is None  # not published by layerkit

    text = lk(aws_env, "layers", "versions", "deps", "--region", "eu-west-1")
    assert "4,321 bytes unzipped" in text.stdout
    assert "size unknown" in text.stdout

    deleted = lk(aws_env, "layers", "delete", "deps", "1", "--region", "eu-west-1", "--json")
    assert deleted.returncode == 0, deleted.output
    assert doc(deleted)["schema"] == "layerkit/layer-delete"
    assert version_numbers(aws_env, "deps") == [2]


def test_invalid_names_are_refused_before_any_call(aws_env: dict[str, str]) -> None:
    result = lk(aws_env, "layers", "delete", "de.ps", "1", "--region", "eu-west-1")
    assert result.returncode == 6
    assert "layer name 'de.ps' is not valid" in result.stderr


def _used_versions(env: dict[str, str]) -> list[str]:
    """deps 1..5; function version fn:1 uses deps:1, fn:$LATEST uses deps:2."""
    arns = [publish_layer_version(env, "deps", payload=str(i)) for i in range(5)]
    make_function(env, "fn", layers_=[arns[0]])
    lam = aws(env, "lambda")
    lam.publish_version(FunctionName="fn")
    lam.update_function_configuration(FunctionName="fn", Layers=[arns[1]])
    return arns


def test_prune_never_deletes_a_version_in_use_and_says_which(aws_env: dict[str, str]) -> None:
    _used_versions(aws_env)
    result = lk(
        aws_env, "layers", "prune", "deps", "--keep", "2", "--region", "eu-west-1", "--json"
    )
    assert result.returncode == 0, result.output
    document = doc(result)
    assert document["schema"] == "layerkit/layer-prune"
    assert document["deleted"] == [3]
    assert document["kept"] == [5, 4]
    assert document["in_use"] == {"1": ["fn:1"], "2": ["fn:$LATEST"]}
    assert "kept deps version 1: used by fn:1" in result.stderr
    assert version_numbers(aws_env, "deps") == [1, 2, 4, 5]


def test_prune_dry_run_deletes_nothing(aws_env: dict[str, str]) -> None:
    _used_versions(aws_env)
    result = lk(
        aws_env, "layers", "prune", "deps", "--keep", "1", "--dry-run", "--region", "eu-west-1"
    )
    assert result.returncode == 0, result.output
    assert "would delete 4, 3" in result.stdout
    assert version_numbers(aws_env, "deps") == [1, 2, 3, 4, 5]


def test_prune_force_deletes_used_versions(aws_env: dict[str, str]) -> None:
    _used_versions(aws_env)
    result = lk(
        aws_env, "layers", "prune", "deps", "--keep", "2", "--force", "--region", "eu-west-1"
    )
    assert result.returncode == 0, result.output
    assert version_numbers(aws_env, "deps") == [4, 5]


def _policy(env: dict[str, str], version: int = 1) -> list[dict[str, Any]]:
    answer = aws(env, "lambda").get_layer_version_policy(LayerName="deps", VersionNumber=version)
    statements: list[dict[str, Any]] = json.loads(answer["Policy"])["Statement"]
    return statements


def test_grant_and_revoke_are_idempotent(aws_env: dict[str, str]) -> None:
    publish_layer_version(aws_env, "deps")
    who = ("--account", "111122223333", "--account", "444455556666", "--org", "o-a1b2c3d4e5")
    region = ("--region", "eu-west-1", "--json")
    first = lk(aws_env, "layers", "grant", "deps", "1", *who, *region)
    assert first.returncode == 0, first.output
    document = doc(first)
    assert document["schema"] == "layerkit/layer-grant"
    assert [s["outcome"] for s in document["statements"]] == ["granted"] * 3
    again = doc(lk(aws_env, "layers", "grant", "deps", "1", *who, *region))
    assert [s["outcome"] for s in again["statements"]] == ["unchanged"] * 3
    assert len(_policy(aws_env)) == 3

    revoked = lk(aws_env, "layers", "revoke", "deps", "1", "--account", "111122223333", *region)
    assert revoked.returncode == 0, revoked.output
    assert doc(revoked)["statements"][0]["outcome"] == "revoked"
    assert sorted(s["Sid"] for s in _policy(aws_env)) == [
        "layerkit-account-444455556666",
        "layerkit-org-o-a1b2c3d4e5",
    ]
    absent = doc(lk(aws_env, "layers", "revoke", "deps", "1", "--account", "111122223333", *region))
    assert absent["statements"][0]["outcome"] == "absent"


def test_grant_public_warns_and_is_revocable(aws_env: dict[str, str]) -> None:
    publish_layer_version(aws_env, "deps")
    result = lk(aws_env, "layers", "grant", "deps", "1", "--public", "--region", "eu-west-1")
    assert result.returncode == 0, result.output
    assert (
        "warning: --public: every AWS account will be able to use deps version 1" in result.stderr
    )
    assert [(s["Sid"], s["Principal"]) for s in _policy(aws_env)] == [("layerkit-public", "*")]
    revoked = lk(aws_env, "layers", "revoke", "deps", "1", "--public", "--region", "eu-west-1")
    assert revoked.returncode == 0, revoked.output
    assert "revoked" in revoked.stdout


def test_grant_needs_a_principal_and_valid_ids(aws_env: dict[str, str]) -> None:
    publish_layer_version(aws_env, "deps")
    nobody = lk(aws_env, "layers", "grant", "deps", "1", "--region", "eu-west-1")
    assert nobody.returncode == 2
    bad_org = lk(aws_env, "layers", "grant", "deps", "1", "--org", "o-x", "--region", "eu-west-1")
    assert bad_org.returncode == 6
    assert "organization id 'o-x' is not valid" in bad_org.stderr
    star = lk(aws_env, "layers", "grant", "deps", "1", "--account", "*", "--region", "eu-west-1")
    assert star.returncode == 2
    assert "--public" in star.stderr
