"""`layerkit publish` against a moto server: upload, publish, idempotency, regions, sharing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.endpoint
import pytest
from botocore.exceptions import ConnectionClosedError

from layerkit.aws import layers, s3
from layerkit.aws.session import AwsSettings, ClientFactory
from layerkit.errors import AwsError
from layerkit.publishing import load_zips, plan_publish, publish_layers

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
from tests.aws_support import (
    ACCOUNT,
    BUCKET,
    FakeReporter,
    aws,
    aws_cli,
    doc,
    environ,
    lk,
    make_bucket,
    version_numbers,
    write_layer_zip,
)
from tests.faultproxy import FaultProxy
from tests.support import run_cli


def test_publish_shows_up_in_the_aws_cli_and_a_second_publish_changes_nothing(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    zip_path, manifest = write_layer_zip(tmp_path / "dist")
    args = ("publish", str(zip_path), "--bucket", BUCKET, "--region", "eu-west-1", "--json")

    first = run_cli(*args, "--layer-name", "deps", env=aws_env)
    assert first.returncode == 0, first.output
    document = doc(first)
    assert document["schema"] == "layerkit/publish"
    (result,) = document["results"]
    assert result["region"] == "eu-west-1"
    assert result["outcome"] == "published"
    assert result["version"] == 1
    assert result["layer_arn"] == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:deps:1"
    assert result["code_sha256"] == manifest.code_sha256
    assert result["s3_key"] == f"layerkit/deps/{manifest.sha256}.zip"
    assert result["upload"] == "uploaded"
    assert result["error"] is None

    listed = aws_cli(
        aws_env, "lambda", "list-layer-versions", "--layer-name", "deps", "--region", "eu-west-1"
    )
    assert [v["Version"] for v in listed["LayerVersions"]] == [1]
    fetched = aws_cli(
        aws_env,
        "lambda",
        "get-layer-version",
        "--layer-name",
        "deps",
        "--version-number",
        "1",
        "--region",
        "eu-west-1",
    )
    assert fetched["Content"]["CodeSha256"] == manifest.code_sha256
    assert fetched["CompatibleRuntimes"] == ["python3.12"]
    assert fetched["CompatibleArchitectures"] == ["arm64"]
    recorded = layers.parse_recorded(fetched["Description"])
    assert recorded == (manifest.sha256, manifest.unzipped_bytes)
    head = aws(aws_env, "s3").head_object(Bucket=BUCKET, Key=result["s3_key"])
    assert head["Metadata"][s3.DIGEST_METADATA] == manifest.sha256

    again = run_cli(*args, "--layer-name", "deps", env=aws_env)
    assert again.returncode == 0, again.output
    (second,) = doc(again)["results"]
    assert second["outcome"] == "unchanged"
    assert second["layer_arn"] == result["layer_arn"]
    assert second["upload"] == "unneeded"
    listed = aws_cli(
        aws_env, "lambda", "list-layer-versions", "--layer-name", "deps", "--region", "eu-west-1"
    )
    assert [v["Version"] for v in listed["LayerVersions"]] == [1]


def test_text_report_has_one_line_per_region(aws_env: dict[str, str], tmp_path: Path) -> None:
    make_bucket(aws_env)
    zip_path, _ = write_layer_zip(tmp_path)
    result = lk(aws_env, "publish", str(zip_path), "--bucket", BUCKET, "--region", "eu-west-1")
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("eu-west-1  deps  published version 1  arn:aws:lambda:eu-west-1:")


def test_a_changed_zip_gives_a_new_version(aws_env: dict[str, str], tmp_path: Path) -> None:
    make_bucket(aws_env)
    one, _ = write_layer_zip(tmp_path / "one", payload="VALUE = 1\n")
    two, manifest_two = write_layer_zip(tmp_path / "two", payload="VALUE = 2\n")
    base = ("--bucket", BUCKET, "--region", "eu-west-1", "--json")
    assert lk(aws_env, "publish", str(one), *base).returncode == 0
    second = lk(aws_env, "publish", str(two), *base)
    assert second.returncode == 0, second.output
    (result,) = doc(second)["results"]
    assert (result["outcome"], result["version"]) == ("published", 2)
    assert result["code_sha256"] == manifest_two.code_sha256
    assert version_numbers(aws_env, "deps") == [1, 2]


def test_a_lost_response_is_not_published_twice(aws_env: dict[str, str], tmp_path: Path) -> None:
    """PublishLayerVersion has no idempotency token: the re-run must look before publishing."""
    zip_path, manifest = write_layer_zip(tmp_path)
    real = aws(aws_env, "lambda")

    class LosesTheAnswer:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def publish_layer_version(self, **params: Any) -> Any:
            real.publish_layer_version(**params)
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1")

    request = layers.PublishRequest(
        layer_name="deps",
        content=layers.LayerContent(zip_bytes=zip_path.read_bytes()),
        code_sha256=manifest.code_sha256,
        runtimes=("python3.12",),
        architectures=("arm64",),
        description="d",
    )
    with pytest.raises(AwsError, match="could not reach AWS"):
        layers.publish(cast("LambdaClient", LosesTheAnswer()), request)
    retried = layers.publish(real, request)
    assert retried.outcome == "unchanged"
    assert retried.version.version == 1
    assert version_numbers(aws_env, "deps") == [1]


# --- regions ------------------------------------------------------------------------------------


def test_regions_are_published_concurrently_one_result_each(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env, "art-eu-west-1", "eu-west-1")
    make_bucket(aws_env, "art-us-east-1", "us-east-1")
    zip_path, manifest = write_layer_zip(tmp_path)
    result = lk(
        aws_env,
        "publish",
        str(zip_path),
        "--bucket",
        "art-{region}",
        "--region",
        "eu-west-1",
        "--region",
        "us-east-1",
        "--json",
    )
    assert result.returncode == 0, result.output
    by_region = {r["region"]: r for r in doc(result)["results"]}
    assert set(by_region) == {"eu-west-1", "us-east-1"}
    for region, entry in by_region.items():
        assert entry["outcome"] == "published"
        assert entry["layer_arn"] == f"arn:aws:lambda:{region}:{ACCOUNT}:layer:deps:1"
        assert entry["s3_bucket"] == f"art-{region}"
        assert version_numbers(aws_env, "deps", region) == [1]
        fetched = aws(aws_env, "lambda", region).get_layer_version(
            LayerName="deps", VersionNumber=1
        )
        assert fetched["Content"]["CodeSha256"] == manifest.code_sha256


def test_a_failing_region_does_not_hide_the_others(aws_env: dict[str, str], tmp_path: Path) -> None:
    make_bucket(aws_env, "art-eu-west-1", "eu-west-1")  # no bucket in us-east-1
    zip_path, _ = write_layer_zip(tmp_path)
    result = lk(
        aws_env,
        "publish",
        str(zip_path),
        "--bucket",
        "art-{region}",
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
        "--json",
    )
    assert result.returncode == 6
    by_region = {r["region"]: r for r in doc(result)["results"]}
    assert by_region["eu-west-1"]["outcome"] == "published"
    assert by_region["eu-west-1"]["error"] is None
    assert by_region["us-east-1"]["outcome"] == "failed"
    assert "NoSuchBucket" in by_region["us-east-1"]["error"]
    assert "art-us-east-1" in by_region["us-east-1"]["error"]
    assert "error: publishing failed in 1 region: us-east-1" in result.stderr
    assert version_numbers(aws_env, "deps", "eu-west-1") == [1]


def test_a_bucket_in_another_region_is_refused_clearly(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env, BUCKET, "eu-west-1")
    zip_path, _ = write_layer_zip(tmp_path)
    result = lk(aws_env, "publish", str(zip_path), "--bucket", BUCKET, "--region", "us-east-1")
    assert result.returncode == 6
    assert f"bucket {BUCKET} is in eu-west-1, but the layer is published to us-east-1" in (
        result.stderr
    )
    assert "{region}" in result.stderr  # the hint shows how to use a bucket per region
    assert version_numbers(aws_env, "deps", "us-east-1") == []


def test_direct_upload_needs_no_bucket(aws_env: dict[str, str], tmp_path: Path) -> None:
    zip_path, manifest = write_layer_zip(tmp_path)
    result = lk(aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1", "--json")
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["results"]
    assert (entry["upload"], entry["s3_key"], entry["outcome"]) == ("direct", None, "published")
    assert entry["code_sha256"] == manifest.code_sha256


def test_without_bucket_or_direct_nothing_is_called(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    result = lk(aws_env, "publish", str(zip_path), "--region", "eu-west-1")
    assert result.returncode == 2
    assert "no S3 bucket" in result.stderr
    assert "--direct" in result.stderr


def test_a_zip_that_does_not_match_its_manifest_is_refused(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    zip_path, _ = write_layer_zip(tmp_path)
    zip_path.write_bytes(zip_path.read_bytes() + b"tampered")
    result = lk(aws_env, "publish", str(zip_path), "--bucket", BUCKET, "--region", "eu-west-1")
    assert result.returncode == 2
    assert "does not match its manifest" in result.stderr
    assert version_numbers(aws_env, "deps") == []


def test_without_zips_and_without_a_build_publish_says_to_build(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.layerkit]\nname = "deps"\npackages = ["six"]\npython = ["3.12"]\n'
        f'[tool.layerkit.publish]\nbucket = "{BUCKET}"\nregions = ["eu-west-1"]\n'
    )
    # Zips lying in dist/ that no build recorded are not guessed at from their names.
    write_layer_zip(project / "dist", python="3.12", arch="x86_64")
    missing = lk(aws_env, "publish", "--project", str(project))
    assert missing.returncode == 2
    assert "no build recorded" in missing.stderr and "layerkit build" in missing.stderr
    assert version_numbers(aws_env, "deps") == []


# --- S3 ------------------------------------------------------------------------------------------


def _big_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_large_zips_go_up_in_parts_and_are_skipped_next_time(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    path = tmp_path / "big.zip"
    sha = _big_file(path, 11 * 1024 * 1024)
    client = aws(aws_env, "s3")
    reporter = FakeReporter()
    options: dict[str, Any] = {
        "part_bytes": s3.MIN_PART_BYTES,
        "multipart_threshold": s3.MIN_PART_BYTES,
    }
    result = s3.ensure_uploaded(
        client,
        path=path,
        bucket=BUCKET,
        key="k/big.zip",
        sha256_hex=sha,
        owner=ACCOUNT,
        progress=reporter.transfer("big", path.stat().st_size),
        **options,
    )
    assert (result.outcome, result.parts) == ("uploaded", 3)
    assert reporter.transfers[-1] == (path.stat().st_size, path.stat().st_size)
    stored = client.get_object(Bucket=BUCKET, Key="k/big.zip")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == sha
    again = s3.ensure_uploaded(
        client,
        path=path,
        bucket=BUCKET,
        key="k/big.zip",
        sha256_hex=sha,
        owner=ACCOUNT,
        progress=lambda done, total: None,
        **options,
    )
    assert (again.outcome, again.parts) == ("skipped", 0)


def test_an_interrupted_multipart_upload_leaves_no_orphan_and_a_rerun_completes(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    path = tmp_path / "big.zip"
    sha = _big_file(path, 11 * 1024 * 1024)
    real = aws(aws_env, "s3")

    class DropsPartTwo:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def upload_part(self, **params: Any) -> Any:
            if params["PartNumber"] == 2:
                raise ConnectionClosedError(endpoint_url="http://127.0.0.1")
            return real.upload_part(**params)

    options: dict[str, Any] = {
        "path": path,
        "bucket": BUCKET,
        "key": "k/big.zip",
        "sha256_hex": sha,
        "owner": ACCOUNT,
        "progress": lambda done, total: None,
        "part_bytes": s3.MIN_PART_BYTES,
        "multipart_threshold": s3.MIN_PART_BYTES,
    }
    with pytest.raises(AwsError, match="UploadPart"):
        s3.ensure_uploaded(cast("S3Client", DropsPartTwo()), **options)
    assert real.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    result = s3.ensure_uploaded(real, **options)
    assert (result.outcome, result.parts) == ("uploaded", 3)


def test_orphans_of_a_crashed_run_are_aborted(aws_env: dict[str, str], tmp_path: Path) -> None:
    make_bucket(aws_env)
    path = tmp_path / "big.zip"
    sha = _big_file(path, 6 * 1024 * 1024)
    client = aws(aws_env, "s3")
    client.create_multipart_upload(Bucket=BUCKET, Key="k/big.zip")  # moto dates it in 2010
    client.create_multipart_upload(Bucket=BUCKET, Key="k/other.zip")  # not ours
    result = s3.ensure_uploaded(
        client,
        path=path,
        bucket=BUCKET,
        key="k/big.zip",
        sha256_hex=sha,
        owner=ACCOUNT,
        progress=lambda done, total: None,
        part_bytes=s3.MIN_PART_BYTES,
        multipart_threshold=s3.MIN_PART_BYTES,
    )
    assert result.aborted_orphans == 1
    left = [u["Key"] for u in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    assert left == ["k/other.zip"]


@pytest.mark.parametrize("size_mb", [1, 6])
def test_every_s3_call_names_the_expected_bucket_owner(
    aws_env: dict[str, str], tmp_path: Path, size_mb: int
) -> None:
    make_bucket(aws_env)
    owner = "999988887777"
    zip_dir = tmp_path / "dist"
    zip_path, _ = write_layer_zip(zip_dir, payload="x" * 10)
    path = tmp_path / "big.zip"
    sha = _big_file(path, size_mb * 1024 * 1024)
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        calls.append((model.name, dict(params)))

    with environ(aws_env):
        factory = ClientFactory(AwsSettings(region="eu-west-1"))
        client = factory.client("s3", "eu-west-1")
        client.meta.events.register("provide-client-params.s3.*", record)
        s3.check_bucket_region(client, bucket=BUCKET, region="eu-west-1", owner=owner)
        s3.ensure_uploaded(
            client,
            path=path,
            bucket=BUCKET,
            key=f"k/{size_mb}.zip",
            sha256_hex=sha,
            owner=owner,
            progress=lambda done, total: None,
            part_bytes=s3.MIN_PART_BYTES,
            multipart_threshold=s3.MIN_PART_BYTES,
        )
        from layerkit.config import PublishSettings

        plan = plan_publish(
            load_zips([zip_path], layer_name=None),
            PublishSettings(bucket=BUCKET, bucket_owner=owner),
            default_region="eu-west-1",
        )
        report = publish_layers(plan, clients=factory, reporter=FakeReporter())
    assert report.failed == ()
    operations = {name for name, _ in calls}
    expected_ops = {"GetBucketLocation", "HeadObject"}
    expected_ops |= (
        {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "ListMultipartUploads"}
        if size_mb > 5
        else {"PutObject"}
    )
    assert expected_ops <= operations
    assert all(params.get("ExpectedBucketOwner") == owner for _, params in calls), calls


def test_the_bucket_owner_defaults_to_the_caller_account(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket(aws_env)
    zip_path, _ = write_layer_zip(tmp_path)
    seen: list[str] = []

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        seen.append(str(params.get("ExpectedBucketOwner")))

    with environ(aws_env):
        factory = ClientFactory(AwsSettings(region="eu-west-1"))
        factory.client("s3", "eu-west-1").meta.events.register("provide-client-params.s3.*", record)
        from layerkit.config import PublishSettings

        plan = plan_publish(
            load_zips([zip_path], layer_name=None),
            PublishSettings(bucket=BUCKET),
            default_region="eu-west-1",
        )
        publish_layers(plan, clients=factory, reporter=FakeReporter())
    assert seen and set(seen) == {ACCOUNT}


# --- sharing while publishing -------------------------------------------------------------------


def _statements(env: Mapping[str, str], name: str, version: int) -> list[dict[str, Any]]:
    policy = aws(env, "lambda").get_layer_version_policy(LayerName=name, VersionNumber=version)
    statements: list[dict[str, Any]] = json.loads(policy["Policy"])["Statement"]
    return statements


def test_publish_grants_idempotently(aws_env: dict[str, str], tmp_path: Path) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    args = ("publish", str(zip_path), "--direct", "--region", "eu-west-1", "--json")
    grants = ("--grant", "111122223333", "--org", "o-a1b2c3d4e5")
    first = lk(aws_env, *args, *grants)
    assert first.returncode == 0, first.output
    (entry,) = doc(first)["results"]
    assert [g["outcome"] for g in entry["grants"]] == ["granted", "granted"]
    second = lk(aws_env, *args, *grants)
    (entry,) = doc(second)["results"]
    assert entry["outcome"] == "unchanged"
    assert [g["outcome"] for g in entry["grants"]] == ["unchanged", "unchanged"]
    statements = _statements(aws_env, "deps", 1)
    assert sorted(s["Sid"] for s in statements) == [
        "layerkit-account-111122223333",
        "layerkit-org-o-a1b2c3d4e5",
    ]
    org = next(s for s in statements if s["Sid"] == "layerkit-org-o-a1b2c3d4e5")
    assert (org["Principal"], org["OrganizationId"]) == ("*", "o-a1b2c3d4e5")


def test_public_needs_its_own_flag_and_warns(aws_env: dict[str, str], tmp_path: Path) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    args = ("publish", str(zip_path), "--direct", "--region", "eu-west-1")
    refused = lk(aws_env, *args, "--grant", "*")
    assert refused.returncode == 2
    assert "--public" in refused.stderr
    assert version_numbers(aws_env, "deps") == []
    public = lk(aws_env, *args, "--public")
    assert public.returncode == 0, public.output
    assert "warning: --public: every AWS account" in public.stderr
    (statement,) = _statements(aws_env, "deps", 1)
    assert (statement["Sid"], statement["Principal"]) == ("layerkit-public", "*")


def test_an_invalid_bucket_name_is_refused_before_any_call(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    result = lk(aws_env, "publish", str(zip_path), "--bucket", "My_Bucket", "--region", "eu-west-1")
    assert result.returncode == 6
    assert "bucket name 'My_Bucket' is not a valid S3 bucket name" in result.stderr
    assert result.stdout == ""


# --- faults moto never makes, through the fault proxy -------------------------------------------


def test_a_lost_publish_response_is_not_retried_blindly(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """botocore would re-send PublishLayerVersion after a lost answer: a second version."""
    zip_path, manifest = write_layer_zip(tmp_path)
    fault_proxy.add_fault("PublishLayerVersion", drop=True, forward=True)
    result = run_cli(
        "publish", str(zip_path), "--direct", "--region", "eu-west-1", "--json", env=faulty_aws_env
    )
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["results"]
    assert (entry["outcome"], entry["version"]) == ("published", 1)
    assert entry["code_sha256"] == manifest.code_sha256
    assert fault_proxy.forwarded("PublishLayerVersion") == 1
    assert version_numbers(faulty_aws_env, "deps") == [1]


def test_a_5xx_on_publish_is_retried_after_checking(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    fault_proxy.add_fault("PublishLayerVersion", status=503)  # not forwarded: nothing published
    result = lk(faulty_aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1")
    assert result.returncode == 0, result.output
    assert fault_proxy.count("PublishLayerVersion") == 2
    assert fault_proxy.forwarded("PublishLayerVersion") == 1
    assert version_numbers(faulty_aws_env, "deps") == [1]


def test_a_5xx_after_the_version_was_made_is_not_published_again(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    fault_proxy.add_fault("PublishLayerVersion", status=500, forward=True)
    result = lk(
        faulty_aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1", "--json"
    )
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["results"]
    assert (entry["outcome"], entry["version"]) == ("published", 1)
    assert fault_proxy.count("PublishLayerVersion") == 1  # the check found it: no second send
    assert version_numbers(faulty_aws_env, "deps") == [1]


def test_throttling_is_retried_with_backoff(
    faulty_aws_env: dict[str, str],
    fault_proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=slept.append))
    zip_path, _ = write_layer_zip(tmp_path)
    fault_proxy.add_fault("ListLayerVersions", status=429, times=2)
    result = lk(faulty_aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1")
    assert result.returncode == 0, result.output
    assert fault_proxy.count("ListLayerVersions") == 3
    assert len(slept) == 2
    assert version_numbers(faulty_aws_env, "deps") == [1]


def test_throttling_that_lasts_ends_with_a_clear_message(
    faulty_aws_env: dict[str, str],
    fault_proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    # botocore's own backoff sleeps, recorded instead of waited (in-process run only).
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=slept.append))
    zip_path, _ = write_layer_zip(tmp_path)
    fault_proxy.add_fault("ListLayerVersions", status=429, always=True)
    env = {**faulty_aws_env, "AWS_MAX_ATTEMPTS": "3"}  # in total, the first try included
    result = lk(env, "publish", str(zip_path), "--direct", "--region", "eu-west-1")
    assert result.returncode == 6
    assert "ListLayerVersions on layer deps failed: TooManyRequestsException" in result.stderr
    assert "throttled the calls even after retries" in result.stderr
    assert fault_proxy.count("ListLayerVersions") == 3
    assert len(slept) == 2 and all(0 <= delay <= 20 for delay in slept)
    assert "testing" not in result.output  # the (dummy) credentials never appear


def test_help_and_build_commands_never_import_boto3() -> None:
    code = (
        "import sys, layerkit.cli; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore') "
        "or m.startswith('layerkit.aws')); print(loaded); sys.exit(1 if loaded else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_regions_really_run_at_the_same_time(tmp_path: Path) -> None:
    """Each region's first call waits for the other's: a sequential run would break the barrier."""
    import threading

    from layerkit.config import PublishSettings

    barrier = threading.Barrier(2, timeout=5)
    zip_path, manifest = write_layer_zip(tmp_path)

    class Region:
        def __init__(self, region: str) -> None:
            self.region = region
            self.meta = SimpleNamespace(events=SimpleNamespace(register=lambda *a, **k: None))

        def list_layer_versions(self, **params: Any) -> Any:
            barrier.wait()
            return {"LayerVersions": []}

        def publish_layer_version(self, **params: Any) -> Any:
            return {
                "LayerVersionArn": f"arn:aws:lambda:{self.region}:{ACCOUNT}:layer:deps:1",
                "Version": 1,
                "Content": {"CodeSha256": manifest.code_sha256, "CodeSize": 1},
            }

    class Clients:
        def __init__(self) -> None:
            self.made = {r: Region(r) for r in ("eu-west-1", "us-east-1")}

        def client(self, service: str, region: str | None = None) -> Any:
            assert service == "lambda" and region is not None
            return self.made[region]

        def region(self, region: str | None = None) -> str:
            return region or "eu-west-1"

    plan = plan_publish(
        load_zips([zip_path], layer_name=None),
        PublishSettings(direct=True, regions=("eu-west-1", "us-east-1")),
        default_region="eu-west-1",
    )
    report = publish_layers(plan, clients=Clients(), reporter=FakeReporter())
    assert [(r.region, r.outcome) for r in report.results] == [
        ("eu-west-1", "published"),
        ("us-east-1", "published"),
    ]


def test_a_too_long_description_or_licence_is_refused_before_any_call(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    base = ("publish", str(zip_path), "--direct", "--region", "eu-west-1", "--region", "us-east-1")
    long_description = lk(aws_env, *base, "--description", "d" * 200)
    assert long_description.returncode == 6
    assert "Lambda allows 256" in long_description.stderr
    assert long_description.stdout == ""  # refused once, not once per region
    long_licence = lk(aws_env, *base, "--license", "l" * 513)
    assert long_licence.returncode == 6
    assert "Lambda allows 512" in long_licence.stderr
    assert version_numbers(aws_env, "deps") == []


def test_an_upload_cut_off_mid_part_leaves_no_orphan(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """A real connection cut (botocore retries the part, then gives up): the upload is aborted."""
    from botocore.config import Config

    make_bucket(faulty_aws_env)
    path = tmp_path / "big.zip"
    sha = _big_file(path, 11 * 1024 * 1024)
    client = boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=faulty_aws_env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    options: dict[str, Any] = {
        "path": path,
        "bucket": BUCKET,
        "key": "k/big.zip",
        "sha256_hex": sha,
        "owner": ACCOUNT,
        "progress": lambda done, total: None,
        "part_bytes": s3.MIN_PART_BYTES,
        "multipart_threshold": s3.MIN_PART_BYTES,
    }
    fault_proxy.add_fault("UploadPart", drop_mid_body=True, nth=2, always=True)
    with pytest.raises(AwsError, match=r"s3:UploadPart on s3://layerkit-artifacts/k/big\.zip"):
        s3.ensure_uploaded(client, **options)
    assert fault_proxy.count("AbortMultipartUpload") == 1
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    fault_proxy.reset()
    result = s3.ensure_uploaded(client, **options)
    assert (result.outcome, result.parts) == ("uploaded", 3)
