"""Helpers the AWS test modules share: the CLI against moto, fixtures made with boto3."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import boto3

from layerkit.cli import run
from layerkit.manifest import Manifest, code_sha256
from tests.support import CliResult

ACCOUNT = "123456789012"
BUCKET = "layerkit-artifacts"

# The services the tests talk to in moto; `aws()` returns each one's typed client.
AwsService = Literal["lambda", "s3", "cloudwatch", "iam"]

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.literals import ArchitectureType, RuntimeType
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType


@contextlib.contextmanager
def environ(env: Mapping[str, str]) -> Iterator[None]:
    """Run in-process code with exactly `env` as the environment (restored afterwards)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def lk(env: Mapping[str, str], *args: str) -> CliResult:
    """Run the CLI in-process (fast) with `env`; the subprocess is used where a user's view matters."""
    out, err = io.StringIO(), io.StringIO()
    with environ(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


def doc(result: CliResult) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@overload
def aws(env: Mapping[str, str], service: Literal["lambda"], region: str = ...) -> LambdaClient: ...
@overload
def aws(env: Mapping[str, str], service: Literal["s3"], region: str = ...) -> S3Client: ...
@overload
def aws(
    env: Mapping[str, str], service: Literal["cloudwatch"], region: str = ...
) -> CloudWatchClient: ...
@overload
def aws(env: Mapping[str, str], service: Literal["iam"], region: str = ...) -> IAMClient: ...
def aws(env: Mapping[str, str], service: AwsService, region: str = "eu-west-1") -> object:
    """A boto3 client for the moto server (test set-up and inspection only)."""
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class FakeReporter:
    def __init__(self) -> None:
        self.steps: list[str] = []
        self.transfers: list[tuple[int, int]] = []

    def step(self, message: str) -> None:
        self.steps.append(message)

    def transfer(self, label: str, total: int) -> Any:
        return lambda done, size: self.transfers.append((done, size))


def write_layer_zip(
    directory: Path,
    *,
    name: str = "deps",
    python: str = "3.12",
    arch: str = "arm64",
    payload: str = "VALUE = 1\n",
    unzipped_bytes: int | None = None,
) -> tuple[Path, Manifest]:
    """A tiny layer zip and its manifest, as `layerkit build` would leave them."""
    directory.mkdir(parents=True, exist_ok=True)
    zip_path = directory / f"{name}-python{python}-{arch}.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"python/lib/python{python}/site-packages/mod.py", payload)
    data = buffer.getvalue()
    zip_path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    manifest = Manifest(
        layerkit_version="0.1.0",
        name=name,
        python=python,
        arch=arch,
        runtime=f"python{python}",
        abi="cp" + python.replace(".", ""),
        glibc="2.34",
        installer="uv",
        installer_version="0.5.0",
        zip=zip_path.name,
        sha256=sha,
        code_sha256=code_sha256(sha),
        file_count=1,
        unzipped_bytes=len(payload) if unzipped_bytes is None else unzipped_bytes,
        zipped_bytes=len(data),
        budget_bytes=262_144_000,
        distributions=(),
    )
    zip_path.with_suffix(".json").write_text(manifest.to_json())
    return zip_path, manifest


def make_bucket(env: Mapping[str, str], name: str = BUCKET, region: str = "eu-west-1") -> None:
    client = aws(env, "s3", region)
    if region == "us-east-1":
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={
                "LocationConstraint": cast("BucketLocationConstraintType", region)
            },
        )


def make_function(
    env: Mapping[str, str],
    name: str,
    *,
    region: str = "eu-west-1",
    layers_: list[str] | None = None,
    arch: str = "arm64",
    runtime: str = "python3.12",
) -> None:
    """A function in moto (which needs an IAM role first)."""
    iam = aws(env, "iam", "us-east-1")
    try:
        role = iam.get_role(RoleName="layerkit-test")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="layerkit-test", AssumeRolePolicyDocument="{}")["Role"][
            "Arn"
        ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    aws(env, "lambda", region).create_function(
        FunctionName=name,
        Runtime=cast("RuntimeType", runtime),
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
        Architectures=[cast("ArchitectureType", arch)],
        Layers=layers_ or [],
    )


def publish_layer_version(
    env: Mapping[str, str], name: str, *, region: str = "eu-west-1", payload: str = "x"
) -> str:
    """A layer version published behind layerkit's back (set-up for attach/prune tests)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/m.py", payload)
    answer = aws(env, "lambda", region).publish_layer_version(
        LayerName=name,
        Content={"ZipFile": buffer.getvalue()},
        CompatibleRuntimes=["python3.12"],
        CompatibleArchitectures=["arm64"],
    )
    return str(answer["LayerVersionArn"])


def version_numbers(env: Mapping[str, str], name: str, region: str = "eu-west-1") -> list[int]:
    answer = aws(env, "lambda", region).list_layer_versions(LayerName=name)
    return sorted(int(v["Version"]) for v in answer["LayerVersions"])


def aws_cli(env: Mapping[str, str], *args: str) -> dict[str, Any]:
    """The real AWS CLI (installed beside this Python), pointed at the same endpoint."""
    executable = shutil.which("aws", path=str(Path(sys.executable).parent)) or "aws"
    proc = subprocess.run(
        [executable, *args, "--output", "json"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(proc.stdout)
    return parsed


# --- the done criterion: real CLI, real AWS CLI ------------------------------------------------
