"""The bad-input catalogue through the real CLI, for the entries other modules do not cover.

Each case asserts the exit code of its error class, one ``error:`` line and a ``hint:``, no
traceback, and that nothing was left behind (no zip or partial file; nothing created in AWS).
Where layerkit promises to refuse before any AWS call, the fault proxy counts the calls.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.aws_support import (
    ACCOUNT,
    aws,
    publish_layer_version,
    version_numbers,
    write_layer_zip,
)
from tests.build_fixtures import make_project
from tests.faultproxy import FaultProxy
from tests.release_support import LambdaWorld
from tests.support import CliResult, assert_clean_failure, run_cli
from tests.wheels import make_wheel, serve_index

EU = ("--region", "eu-west-1")


def leftovers(directory: Path) -> list[str]:
    """What a failed build left in its output directory (it may not exist at all)."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- AWS resources that do not exist ------------------------------------------------------------


NOT_FOUND = ("ResourceNotFoundException", "check that function nope exists")


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["attach", "nope", "--layer", "{layer}"], NOT_FOUND),
        (["version", "publish", "nope", *EU], NOT_FOUND),
        (["version", "list", "nope", *EU], NOT_FOUND),
        (["alias", "get", "nope", "prod", *EU], ("ResourceNotFoundException", "function:nope")),
        # (the function itself is read first: is a stack managing it?)
        (["alias", "create", "nope", "prod", "--version", "1", *EU], NOT_FOUND),
    ],
    ids=["attach", "version-publish", "version-list", "alias-get", "alias-create"],
)
def test_a_function_that_does_not_exist(
    aws_env: dict[str, str], argv: list[str], needles: tuple[str, ...]
) -> None:
    layer = publish_layer_version(aws_env, "deps")
    result = run_cli(*(a.format(layer=layer) for a in argv), env=aws_env)
    assert_clean_failure(result, 6, *needles)
    assert aws(aws_env, "lambda").list_functions()["Functions"] == []


@pytest.mark.parametrize(
    "argv",
    [
        ["alias", "get", "my-fn", "nope"],
        ["alias", "update", "my-fn", "nope", "--weight", "2=0.1"],
        ["alias", "shift", "my-fn", "nope", "--to", "2", "--interval", "0s"],
        ["alias", "promote", "my-fn", "nope"],
        ["alias", "rollback", "my-fn", "nope"],
        ["alias", "delete", "my-fn", "nope"],
    ],
    ids=["get", "update", "shift", "promote", "rollback", "delete"],
)
def test_an_alias_that_does_not_exist(world: LambdaWorld, argv: list[str]) -> None:
    world.function_with_versions(count=2)
    world.lam.create_alias(FunctionName="my-fn", Name="prod", FunctionVersion="1")
    before = world.raw_alias("my-fn", "prod")
    result = run_cli(*argv, env=world.env)
    assert_clean_failure(result, 6, "ResourceNotFoundException", "alias my-fn:nope")
    aliases = world.lam.list_aliases(FunctionName="my-fn")["Aliases"]
    assert [a["Name"] for a in aliases] == ["prod"]
    assert world.raw_alias("my-fn", "prod") == before


def test_a_bucket_that_does_not_exist(aws_env: dict[str, str], tmp_path: Path) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    result = run_cli(
        "publish", str(zip_path), "--bucket", "layerkit-no-such-bucket", *EU, env=aws_env
    )
    assert_clean_failure(result, 6, "NoSuchBucket", "layerkit-no-such-bucket")
    assert version_numbers(aws_env, "deps") == []
    assert aws(aws_env, "s3").list_buckets()["Buckets"] == []


# --- refused before any AWS call ----------------------------------------------------------------

LAYER = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:deps:1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["layers", "versions", "de.ps", *EU], "layer name 'de.ps' is not valid"),
        (["layers", "prune", "de ps", "--keep", "1", *EU], "layer name 'de ps' is not valid"),
        (["layers", "grant", "dé", "1", "--account", ACCOUNT, *EU], "layer name 'dé' is not"),
        (["layers", "delete", "x" * 141, "1", *EU], "is not valid"),
        (["attach", "my-fn", "--layer", LAYER[:-2]], "is not a layer version ARN"),
        (["attach", "my-fn", "--layer", LAYER.replace(ACCOUNT, "12345")], "is not a layer"),
        (["attach", "my-fn", "--layer", LAYER.replace(":deps:", ":de.ps:")], "is not a layer"),
        (["attach", "my-fn", "--layer", "arn:aws:s3:::deps"], "is not a layer version ARN"),
        (["attach", "bad/fn", "--layer", LAYER], "function name 'bad/fn' is not valid"),
        (
            [
                "attach",
                "my-fn",
                *EU,
                "--layer",
                f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:layer:d:1",
            ],
            "is in cn-north-1; functions in eu-west-1 cannot use it",
        ),
        (
            [
                "attach",
                f"arn:aws-us-gov:lambda:us-gov-west-1:{ACCOUNT}:function:f",
                "--layer",
                LAYER,
            ],
            "is in us-gov-west-1",
        ),
    ],
)
def test_invalid_names_and_arns_are_refused_before_any_call(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, argv: list[str], message: str
) -> None:
    result = run_cli(*argv, env=faulty_aws_env)
    assert_clean_failure(result, 6, message)
    assert fault_proxy.operations() == []


def test_a_layer_of_another_partition_is_refused_before_any_call(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    function = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:my-fn"
    layer = f"arn:aws-cn:lambda:eu-west-1:{ACCOUNT}:layer:deps:1"
    result = run_cli("attach", function, "--layer", layer, env=faulty_aws_env)
    assert_clean_failure(result, 6, "partition")
    assert fault_proxy.operations() == []


@pytest.mark.parametrize("weight", ["2=-0.1", "2=1", "2=1.0", "2=nan", "2=inf"])
def test_a_weight_out_of_range_leaves_the_alias_alone(world: LambdaWorld, weight: str) -> None:
    world.function_with_versions(count=2)
    world.lam.create_alias(FunctionName="my-fn", Name="prod", FunctionVersion="1")
    before = world.raw_alias("my-fn", "prod")
    result = run_cli("alias", "update", "my-fn", "prod", "--weight", weight, env=world.env)
    assert_clean_failure(result, 6, "weight of version 2")
    assert world.raw_alias("my-fn", "prod") == before


def test_a_weight_that_is_not_a_number_is_a_usage_error(world: LambdaWorld) -> None:
    result = run_cli("alias", "update", "my-fn", "prod", "--weight", "2=abc", env=world.env)
    assert_clean_failure(result, 2, "'abc' is not a number")


# --- files that cannot be read ------------------------------------------------------------------


@pytest.fixture
def bare_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The build env with a private, cold layerkit cache: every build really writes its zip."""
    return {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "layerkit-cache")}


def test_a_requirements_path_that_is_a_fifo_is_refused(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "purepkg\n")
    fifo = project / "reqs.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    result = run_cli("build", str(project), "-r", str(fifo), "-o", str(out), env=bare_env)
    assert_clean_failure(result, 2, "is not a readable file")
    assert leftovers(out) == []


def test_a_requirements_file_that_is_not_text_is_refused(
    tmp_path: Path, bare_env: dict[str, str], index_url: str
) -> None:
    project = make_project(tmp_path, "purepkg\n")
    (project / "requirements.txt").write_bytes(b"purepkg\n\xff\xfe\x00bad\n")
    out = tmp_path / "out"
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "-o", str(out), "--index-url", index_url, env=bare_env)  # fmt: skip
    assert_clean_failure(result, 2, "requirements.txt")
    assert leftovers(out) == []


def test_a_zip_to_publish_without_its_manifest_is_refused(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    zip_path.with_suffix(".json").unlink()
    result = run_cli("publish", str(zip_path), "--direct", *EU, env=faulty_aws_env)
    assert_clean_failure(result, 2, "no manifest")
    assert fault_proxy.operations() == []


# --- output that cannot be written: disk full, read-only ----------------------------------------


@pytest.fixture(scope="module")
def noise_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An index with `noisepkg`: 4 x 48 KiB of incompressible bytes (a ~192 KiB zip)."""
    dists = tmp_path_factory.mktemp("noise-dists")
    rng = random.Random(7)
    files = {f"noisepkg/blob{i}.bin": rng.randbytes(48 * 1024) for i in range(4)}
    make_wheel(dists, "noisepkg", "1.0", files={"noisepkg/__init__.py": b"", **files})
    with serve_index(dists, tmp_path_factory.mktemp("noise-index")) as url:
        yield url


def _build_argv(project: Path, out: Path, index_url: str) -> list[str]:
    return [sys.executable, "-m", "layerkit", "build", str(project), "-r",
            str(project / "requirements.txt"), "--python", "3.12", "--arch", "x86_64",
            "-o", str(out), "--index-url", index_url]  # fmt: skip


def _run(argv: list[str], env: Mapping[str, str], **kwargs: object) -> CliResult:
    proc = subprocess.run(
        argv, env=dict(env), capture_output=True, text=True, timeout=300, check=False, **kwargs
    )  # type: ignore[call-overload]
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


_SMALL_DISK = """
set -e
mount -t tmpfs -o size=64k tmpfs "$1"
out=$1; report=$2; shift 2
set +e
"$@"
code=$?
ls -A "$out" > "$report"
exit $code
"""


def _small_disk_runner() -> list[str] | None:
    """A command prefix that runs a command with a 64 KiB tmpfs mounted on its first argument:
    directly as root, else in a user + mount namespace; None where neither is allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
         "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"],
        capture_output=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        return None
    return [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", _SMALL_DISK, "sh"]


def test_disk_full_during_the_zip_exits_8_and_leaves_nothing(
    tmp_path: Path, bare_env: dict[str, str], noise_index: str
) -> None:
    """A real full disk: the output directory is a 64 KiB tmpfs, the zip needs ~192 KiB."""
    runner = _small_disk_runner()
    if runner is None:
        pytest.skip("cannot mount a tmpfs here (no user namespaces); the RLIMIT_FSIZE test runs")
    project = make_project(tmp_path, "noisepkg\n")
    out = tmp_path / "out"
    out.mkdir()
    report = tmp_path / "left-on-the-small-disk.txt"
    argv = [*runner, str(out), str(report), *_build_argv(project, out, noise_index)]
    result = _run(argv, bare_env)
    assert_clean_failure(result, 8, "disk full while writing", "proj-python3.12-x86_64.zip")
    assert "free space" in result.stderr
    assert report.read_text().split() == []  # no zip, no partial file, no manifest


def _limit_file_size() -> None:
    """What a quota or `ulimit -f` does: writes past 64 KiB fail with EFBIG (not SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_file_size_limit_during_the_zip_exits_8_and_leaves_nothing(
    tmp_path: Path, bare_env: dict[str, str], noise_index: str
) -> None:
    project = make_project(tmp_path, "noisepkg\n")
    out = tmp_path / "out"
    argv = _build_argv(project, out, noise_index)
    result = _run(argv, bare_env, preexec_fn=_limit_file_size)
    assert result.returncode == 8, result.output
    assert "proj-python3.12-x86_64.zip" in result.stderr
    assert "Traceback" not in result.output
    assert leftovers(out) == []


def test_a_file_size_limit_is_explained_like_a_full_disk(
    tmp_path: Path, bare_env: dict[str, str], noise_index: str
) -> None:
    project = make_project(tmp_path, "noisepkg\n")
    out = tmp_path / "out"
    result = _run(_build_argv(project, out, noise_index), bare_env, preexec_fn=_limit_file_size)
    assert_clean_failure(result, 8, "proj-python3.12-x86_64.zip")


def test_an_output_directory_that_is_not_writable_exits_8(
    tmp_path: Path, bare_env: dict[str, str], index_url: str
) -> None:
    project = make_project(tmp_path, "purepkg\n")
    out = tmp_path / "out"
    out.mkdir()
    argv = _build_argv(project, out, index_url)
    if os.geteuid() == 0:  # root writes through permissions: make the directory read-only
        runner = _small_disk_runner()
        if runner is None:
            pytest.skip("running as root without mount namespaces: cannot make a read-only dir")
        script = 'mount -t tmpfs -o ro,size=64k tmpfs "$1" && shift && exec "$@"'
        argv = [*runner[:4], "sh", "-c", script, "sh", str(out), *argv]
    else:
        out.chmod(0o555)
    try:
        result = _run(argv, bare_env)
    finally:
        out.chmod(0o755)
    assert_clean_failure(result, 8, "cannot write", "writable output directory")
    assert leftovers(out) == []
