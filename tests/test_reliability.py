"""Nothing lost under faults: the promises of docs/reliability.md that other modules do not prove.

Every fault here is real HTTP (tests/faultproxy.py in front of moto) or a real process event
(SIGKILL, SIGINT, a one-core CPU mask), and each test watches the state left in moto afterwards.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import botocore.endpoint
import pytest

from tests.aws_support import (
    aws,
    doc,
    lk,
    make_function,
    publish_layer_version,
    version_numbers,
    write_layer_zip,
)
from tests.build_fixtures import make_project
from tests.faultproxy import FaultProxy
from tests.release_support import LambdaWorld
from tests.support import (
    assert_clean_failure,
    assert_interrupted_shift_restores,
    run_cli,
    wait_for,
)

IN_PROGRESS = {"LastUpdateStatus": "InProgress"}


def layers_of(env: Mapping[str, str], function: str) -> list[str]:
    config = aws(env, "lambda").get_function_configuration(FunctionName=function)
    return [layer["Arn"] for layer in config.get("Layers", [])]


# --- an update in progress (moto never reports one: the proxy rewrites its answer) --------------


def test_an_update_in_progress_is_waited_out_then_the_layer_is_attached(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    alpha = publish_layer_version(faulty_aws_env, "alpha")
    make_function(faulty_aws_env, "my-fn", layers_=[alpha])
    ours = publish_layer_version(faulty_aws_env, "deps")
    fault_proxy.add_fault("GetFunctionConfiguration", rewrite=IN_PROGRESS, times=2)
    started = time.monotonic()
    result = lk(faulty_aws_env, "attach", "my-fn", "--layer", ours, "--timeout", "30")
    assert result.returncode == 0, result.output
    assert time.monotonic() - started >= 1.5  # two polls, a second apart, really waited
    calls = fault_proxy.calls()
    in_progress = [i for i, c in enumerate(calls) if c.fault == "rewrite"]
    updates = [i for i, c in enumerate(calls) if c.operation == "UpdateFunctionConfiguration"]
    assert len(in_progress) == 2 and len(updates) == 1, fault_proxy.operations()
    assert updates[0] > in_progress[-1]  # the write came only after the update had finished
    assert layers_of(faulty_aws_env, "my-fn") == [alpha, ours]


def test_an_update_in_progress_past_the_bound_fails_and_changes_nothing(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    alpha = publish_layer_version(faulty_aws_env, "alpha")
    make_function(faulty_aws_env, "my-fn", layers_=[alpha])
    ours = publish_layer_version(faulty_aws_env, "deps")
    fault_proxy.add_fault("GetFunctionConfiguration", rewrite=IN_PROGRESS, always=True)
    started = time.monotonic()
    result = lk(faulty_aws_env, "attach", "my-fn", "--layer", ours, "--timeout", "1")
    assert time.monotonic() - started < 15  # bounded: --timeout, not the 300 s default
    assert_clean_failure(result, 6, "my-fn is still updating after 1s", "nothing was changed")
    assert fault_proxy.count("UpdateFunctionConfiguration") == 0
    fault_proxy.reset()
    assert layers_of(faulty_aws_env, "my-fn") == [alpha]


def test_version_publish_waits_out_an_update_in_progress(
    world: LambdaWorld, fault_proxy: FaultProxy, faulty_aws_env: dict[str, str]
) -> None:
    world.function()
    fault_proxy.add_fault("GetFunctionConfiguration", rewrite=IN_PROGRESS, times=1)
    result = lk(faulty_aws_env, "version", "publish", "my-fn")
    assert result.returncode == 0, result.output
    calls = fault_proxy.calls()
    waited = next(i for i, c in enumerate(calls) if c.fault == "rewrite")
    published = next(i for i, c in enumerate(calls) if c.operation == "PublishVersion")
    assert published > waited
    versions = world.lam.list_versions_by_function(FunctionName="my-fn")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


# --- 5xx that lasts, a hang past the read timeout -------------------------------------------------


def test_5xx_that_lasts_is_retried_then_ends_with_a_clear_error(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=slept.append))
    make_function(faulty_aws_env, "my-fn")
    ours = publish_layer_version(faulty_aws_env, "deps")
    fault_proxy.add_fault("GetFunctionConfiguration", status=503, always=True)
    env = {**faulty_aws_env, "AWS_MAX_ATTEMPTS": "3"}
    result = lk(env, "attach", "my-fn", "--layer", ours)
    assert_clean_failure(result, 6, "ServiceException", "AWS had an internal error")
    assert fault_proxy.count("GetFunctionConfiguration") == 3  # retried, then gave up
    assert len(slept) == 2 and all(delay > 0 for delay in slept)  # with backoff
    assert fault_proxy.count("UpdateFunctionConfiguration") == 0
    fault_proxy.reset()
    assert layers_of(faulty_aws_env, "my-fn") == []


TIMEOUTS = {"LAYERKIT_AWS_READ_TIMEOUT": "1", "AWS_MAX_ATTEMPTS": "2"}


def test_a_hang_past_the_read_timeout_fails_clearly_and_changes_nothing(
    world: LambdaWorld, fault_proxy: FaultProxy, faulty_aws_env: dict[str, str]
) -> None:
    world.function_with_versions(count=2)
    world.lam.create_alias(FunctionName="my-fn", Name="prod", FunctionVersion="1")
    before = world.raw_alias("my-fn", "prod")
    fault_proxy.add_fault("UpdateAlias", hang=math.inf, always=True)
    started = time.monotonic()
    result = run_cli(
        "alias", "update", "my-fn", "prod", "--weight", "2=0.1",
        env={**faulty_aws_env, **TIMEOUTS},
    )  # fmt: skip
    assert time.monotonic() - started < 20  # the client's timeout, not the proxy's patience
    assert_clean_failure(result, 6, "could not reach AWS (ReadTimeoutError)", "alias my-fn:prod")
    assert fault_proxy.count("UpdateAlias") == 2  # AWS_MAX_ATTEMPTS, the first try included
    assert fault_proxy.forwarded("UpdateAlias") == 0
    assert world.raw_alias("my-fn", "prod") == before


def test_a_hang_on_the_attach_write_fails_clearly_and_changes_nothing(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    alpha = publish_layer_version(faulty_aws_env, "alpha")
    make_function(faulty_aws_env, "my-fn", layers_=[alpha])
    ours = publish_layer_version(faulty_aws_env, "deps")
    fault_proxy.add_fault("UpdateFunctionConfiguration", hang=math.inf, always=True)
    result = run_cli("attach", "my-fn", "--layer", ours, env={**faulty_aws_env, **TIMEOUTS})
    fault_proxy.reset()
    assert layers_of(faulty_aws_env, "my-fn") == [alpha]
    assert_clean_failure(result, 6, "could not reach AWS (ReadTimeoutError)", "function my-fn")


def test_a_hang_on_a_grant_fails_clearly(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy
) -> None:
    publish_layer_version(faulty_aws_env, "deps")
    fault_proxy.add_fault("AddLayerVersionPermission", hang=math.inf, always=True)
    result = run_cli(
        "layers", "grant", "deps", "1", "--account", "210987654321", "--region", "eu-west-1",
        env={**faulty_aws_env, **TIMEOUTS},
    )  # fmt: skip
    assert_clean_failure(result, 6, "could not reach AWS (ReadTimeoutError)")


def test_a_publish_whose_answer_never_comes_is_not_published_twice(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """The version is made, the client times out: layerkit finds it instead of publishing again."""
    zip_path, manifest = write_layer_zip(tmp_path)
    fault_proxy.add_fault("PublishLayerVersion", hang=math.inf, forward=True)
    result = run_cli(
        "publish", str(zip_path), "--direct", "--region", "eu-west-1", "--json",
        env={**faulty_aws_env, **TIMEOUTS},
    )  # fmt: skip
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["results"]
    assert (entry["outcome"], entry["version"]) == ("published", 1)
    assert entry["code_sha256"] == manifest.code_sha256
    assert fault_proxy.count("PublishLayerVersion") == 1
    assert version_numbers(faulty_aws_env, "deps") == [1]


# --- a crash between publish and attach ---------------------------------------------------------


def test_a_crash_between_publish_and_attach_is_finished_by_a_rerun(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    alpha = publish_layer_version(faulty_aws_env, "alpha")
    make_function(faulty_aws_env, "my-fn", layers_=[alpha])
    zip_path, _ = write_layer_zip(tmp_path)
    command = ("publish", str(zip_path), "--direct", "--region", "eu-west-1",
               "--attach", "my-fn", "--json")  # fmt: skip
    # The attach's write never answers; the process is killed (no cleanup runs) meanwhile.
    fault_proxy.add_fault("UpdateFunctionConfiguration", hang=math.inf, always=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerkit", *command],
        env=faulty_aws_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: fault_proxy.count("UpdateFunctionConfiguration") > 0, "the attach")
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert version_numbers(faulty_aws_env, "deps") == [1]  # published ...
    assert layers_of(faulty_aws_env, "my-fn") == [alpha]  # ... never attached

    fault_proxy.reset()
    rerun = run_cli(*command, env=faulty_aws_env)
    assert rerun.returncode == 0, rerun.output
    (entry,) = doc(rerun)["results"]
    assert entry["outcome"] == "unchanged"
    assert [a["outcome"] for a in entry["attachments"]] == ["attached"]
    assert fault_proxy.count("PublishLayerVersion") == 0
    assert version_numbers(faulty_aws_env, "deps") == [1]
    assert layers_of(faulty_aws_env, "my-fn") == [alpha, entry["layer_arn"]]


# --- Ctrl-C mid-shift (SIGTERM is test_release_cli.py's) ----------------------------------------


def test_ctrl_c_mid_shift_restores_the_alias_exactly(world: LambdaWorld) -> None:
    assert_interrupted_shift_restores(world, signal.SIGINT)


# --- determinism across environments, through the CLI -------------------------------------------


def _one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _build(
    tmp: Path, index_url: str, env: dict[str, str], *, one_core: bool = False, old: bool = False
) -> tuple[str, str]:
    project = make_project(tmp, "purepkg\nnatpkg\n")
    if old:
        os.utime(project / "requirements.txt", (1_000_000_000, 1_000_000_000))
    out = tmp / "out"
    cache = tmp / "cache"  # a cold build cache: the zip is really written, not copied
    proc = subprocess.run(
        [sys.executable, "-m", "layerkit", "build", str(project), "-r",
         str(project / "requirements.txt"), "--python", "3.12", "-o", str(out),
         "--index-url", index_url, "--json"],
        env={**env, "LAYERKIT_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=_one_core if one_core else None,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (build,) = json.loads(proc.stdout)["builds"]
    threads = subprocess.run(
        [sys.executable, "-c", "import layerkit.archive as a; print(a.default_threads())"],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=_one_core if one_core else None,
    ).stdout.strip()
    return str(build["sha256"]), threads


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to vary threads")
def test_the_same_build_is_byte_identical_under_another_tz_umask_locale_mtime_and_cores(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    first, threads_first = _build(tmp_path / "a", index_url, {**env, "TZ": "UTC", "LC_ALL": "C"})
    other = {**env, "TZ": "Pacific/Chatham", "LC_ALL": "C.UTF-8", "LANG": "tr_TR.UTF-8"}
    old_umask = os.umask(0o027)
    try:
        second, threads_second = _build(tmp_path / "b", index_url, other, one_core=True, old=True)
    finally:
        os.umask(old_umask)
    assert (threads_first, threads_second) != ("1", "1") and threads_second == "1"
    assert first == second
    # The digest does see what changes the bytes (so the equality above is not a cache echo).
    third, _ = _build(tmp_path / "c", index_url, {**env, "SOURCE_DATE_EPOCH": "1700000000"})
    assert third != first


# --- docs/reliability.md names only tests that exist ----------------------------------------------


def test_every_test_the_reliability_doc_cites_exists() -> None:
    root = Path(__file__).resolve().parent.parent
    cited = re.findall(
        r"`(tests/[\w/]+\.py)::(\w+)`", (root / "docs" / "reliability.md").read_text()
    )
    assert len(cited) > 40
    missing = []
    for path, name in cited:
        tree = ast.parse((root / path).read_text())
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if name not in names:
            missing.append(f"{path}::{name}")
    assert missing == []
