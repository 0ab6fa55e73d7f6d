"""No command prints credentials, session tokens or presigned URLs, also with --debug.

Fake but realistic credentials go into the environment of the real CLI; every byte of stdout and
stderr of a broad set of commands (successes and failures, plain and --debug, which prints
tracebacks) is scanned for them and for the markers of a presigned URL.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws_support import (
    BUCKET,
    aws,
    make_bucket,
    make_function,
    publish_layer_version,
    write_layer_zip,
)
from tests.build_fixtures import make_project
from tests.faultproxy import FaultProxy
from tests.support import CliResult, run_cli

ACCESS_KEY = "AKIAZQ3FAKEKEY7EXMPL"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKESECRET"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFAKE//////////wEaCWV1LXdlc3QtMSJHMEUCIQDfakeSessionToken0123="
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
# Parts of each secret, so that a truncated or re-wrapped copy is caught too.
FRAGMENTS = tuple(s[i : i + 12] for s in SECRETS for i in range(0, len(s) - 11, 6))
PRESIGNED_MARKERS = (
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "Signature=",
    "AWSAccessKeyId",
    "Credential=",
)


def leaks(text: str) -> list[str]:
    """Every secret fragment and presigned-URL marker found in `text` (case-insensitive)."""
    lowered = text.lower()
    found = [f for f in FRAGMENTS if f.lower() in lowered]
    found += [m for m in PRESIGNED_MARKERS if m.lower() in lowered]
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    assert leaks(f"key {SECRET_KEY[5:30]} ...") != []
    assert leaks(f"token={SESSION_TOKEN}") != []
    assert leaks("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=x&x-amz-signature=ab") != []
    assert leaks("published deps:1 (eu-west-1)") == []


def with_secrets(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
    }


def run_both_ways(env: dict[str, str], *args: str) -> Iterator[tuple[str, CliResult]]:
    """The command plain and with --debug (tracebacks shown)."""
    for prefix in ((), ("--debug",)):
        label = " ".join((*prefix, *args))
        yield label, run_cli(*prefix, *args, env=env)


def assert_nothing_leaks(results: list[tuple[str, CliResult]]) -> None:
    found = {label: leaks(r.stdout + r.stderr) for label, r in results}
    assert {label: hits for label, hits in found.items() if hits} == {}


@pytest.fixture
def secret_env(aws_env: dict[str, str]) -> dict[str, str]:
    return with_secrets(aws_env)


def test_aws_commands_never_print_credentials(secret_env: dict[str, str], tmp_path: Path) -> None:
    make_bucket(secret_env)
    make_function(secret_env, "my-fn")
    lam = aws(secret_env, "lambda")
    lam.publish_version(FunctionName="my-fn")
    lam.create_alias(FunctionName="my-fn", Name="prod", FunctionVersion="1")
    zip_path, _ = write_layer_zip(tmp_path)
    changed, _ = write_layer_zip(tmp_path / "changed", payload="VALUE = 2\n")
    eu = ("--region", "eu-west-1")
    published = run_cli("publish", str(zip_path), "--bucket", BUCKET, *eu, "--json",
                        env=secret_env)  # fmt: skip
    assert published.returncode == 0, published.output
    layer = "arn:aws:lambda:eu-west-1:123456789012:layer:deps:1"
    commands = [
        ("publish", str(zip_path), "--bucket", BUCKET, *eu),  # unchanged: checks the upload
        ("attach", "my-fn", "--layer", layer),
        ("layers", "list", *eu),
        ("layers", "versions", "deps", *eu),
        ("layers", "grant", "deps", "1", "--account", "210987654321", *eu),
        ("version", "list", "my-fn", *eu),
        ("alias", "get", "my-fn", "prod", *eu),
        ("alias", "list", "my-fn", *eu, "--json"),
        # failures, whose --debug runs print tracebacks
        # (new bytes: an unchanged layer needs no bucket at all)
        ("publish", str(changed), "--bucket", "layerkit-no-such-bucket", *eu),
        ("attach", "nope", "--layer", layer),
        ("alias", "get", "my-fn", "nope", *eu),
        ("layers", "delete", "de.ps", "1", *eu),
    ]
    results = [("publish --json", published)]
    for command in commands:
        results.extend(run_both_ways(secret_env, *command))
    assert [label for label, r in results if r.returncode == 0][:1] == ["publish --json"]
    assert sum(r.returncode == 6 for _, r in results) == 8  # the four failures, both ways
    assert_nothing_leaks(results)


def test_aws_failures_under_faults_never_print_credentials(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    env = {
        **with_secrets(faulty_aws_env),
        "LAYERKIT_AWS_READ_TIMEOUT": "1",
        "AWS_MAX_ATTEMPTS": "2",
    }
    make_bucket(env)
    make_function(env, "my-fn")
    layer = publish_layer_version(env, "deps")
    zip_path, _ = write_layer_zip(tmp_path)
    eu = ("--region", "eu-west-1")
    fault_proxy.add_fault("GetCallerIdentity", status=400, code="ExpiredToken",
                          message="The security token included in the request is expired",
                          always=True)  # fmt: skip
    fault_proxy.add_fault("ListLayers", status=403, code="UnrecognizedClientException",
                          message="The security token included in the request is invalid.",
                          always=True)  # fmt: skip
    fault_proxy.add_fault("UpdateFunctionConfiguration", hang=math.inf, always=True)
    fault_proxy.add_fault("UploadPart", drop_mid_body=True, always=True)
    fault_proxy.add_fault("PutObject", status=403, code="SignatureDoesNotMatch", always=True)
    results: list[tuple[str, CliResult]] = []
    for command in (
        ("publish", str(zip_path), "--bucket", BUCKET, *eu),  # ExpiredToken from STS
        ("layers", "list", *eu),  # invalid token
        ("attach", "my-fn", "--layer", layer),  # read timeout (an internal error today)
        ("publish", str(zip_path), "--bucket", BUCKET, "--bucket-owner", "123456789012", *eu),
    ):
        results.extend(run_both_ways(env, *command))
    assert all(r.returncode != 0 for _, r in results), [(lb, r.output) for lb, r in results]
    assert any("Traceback" in r.stderr for _, r in results)  # --debug really printed some
    assert_nothing_leaks(results)


def test_build_never_prints_credentials(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "purepkg\n")
    secret = with_secrets({**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")})
    results: list[tuple[str, CliResult]] = []
    for args in (
        ("build", str(project), "-r", str(project / "requirements.txt"), "-o",
         str(tmp_path / "out"), "--index-url", index_url),
        ("build", str(project), "-p", "does-not-exist-anywhere", "-o", str(tmp_path / "o2"),
         "--index-url", index_url),
    ):  # fmt: skip
        results.extend(run_both_ways(secret, *args))
    assert [r.returncode for _, r in results] == [0, 0, 4, 4], [r.output for _, r in results]
    assert_nothing_leaks(results)
