"""Helpers the tests share: isolated environments, running the real CLI, local servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.release_support import LambdaWorld

REPO_ROOT = Path(__file__).resolve().parent.parent

# Variables that would let this machine's (or a developer's) configuration leak into a test.
_LEAKY_PREFIXES = (
    "PIP_", "UV_", "AWS_", "LAYERKIT_", "SOURCE_DATE_EPOCH", "PYTHONPATH",
    "GITHUB_OUTPUT",  # a test run inside GitHub Actions must not write the job's outputs
)  # fmt: skip


def isolated_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a test runs tools in: no pip/uv/AWS config of the host, dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES)}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_NO_CONFIG": "1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_COLOR": "1",
            "COLUMNS": "200",
            # The build cache of tests, away from the user's; content-addressed, so sharing it
            # between tests is safe (each local index has its own URL, part of every key).
            "LAYERKIT_CACHE_DIR": str(Path(tempfile.gettempdir()) / "layerkit-tests-cache"),
        }
    )
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> CliResult:
    """Run the real `layerkit` CLI in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "layerkit", *args],
        env=dict(env) if env is not None else isolated_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_failure(result: CliResult, code: int, *needles: str) -> None:
    """The exit code of the error class, one `error:` line, a `hint:`, no traceback."""
    assert result.returncode == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "\nhint: " in result.stderr, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `condition` until it holds, or fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


# `alias shift` of my-fn:prod to version 2 (with --steps and --interval to follow).
SHIFT_PROD_TO_2 = ("alias", "shift", "my-fn", "prod", "--to", "2")


def live_prod_alias(world: LambdaWorld) -> str:
    """my-fn with versions 1 and 2, alias prod on 1 (described, no routing): its raw state."""
    world.function_with_versions(count=2)
    world.lam.create_alias(
        FunctionName="my-fn",
        Name="prod",
        FunctionVersion="1",
        Description="live",
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    return world.raw_alias("my-fn", "prod")


def assert_interrupted_shift_restores(world: LambdaWorld, signum: signal.Signals) -> None:
    """A shift in a real process gets `signum` once its first step is live: it exits 7 as
    interrupted, says it restored the alias, shows no traceback, and the alias is as before."""
    before = live_prod_alias(world)
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerkit", *SHIFT_PROD_TO_2, "--steps", "10,100",
         "--interval", "60s"],
        env=world.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip

    def first_step_done() -> bool:
        alias = world.lam.get_alias(FunctionName="my-fn", Name="prod")
        return bool(alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1})

    try:
        wait_for(first_step_done, "the shift's first step")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 7, err
    assert "aborted (interrupted)" in err
    assert "alias restored to its state before the shift" in out
    assert "Traceback" not in out + err
    assert world.raw_alias("my-fn", "prod") == before


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, *, timeout: float = 20.0) -> None:
    """Poll `url` until it answers (any HTTP status) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last_error = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last_error}")


class ServerProcess:
    """A local server started as a subprocess and stopped by its PID."""

    def __init__(self, argv: list[str], *, health_url: str, log_path: Path) -> None:
        self.argv = argv
        self.health_url = health_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(self.health_url)
        except RuntimeError as exc:
            self.stop()
            log_tail = self.log_path.read_text()[-2000:]
            raise RuntimeError(f"server failed to start: {log_tail}") from exc

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def start_moto_server(log_dir: Path) -> tuple[ServerProcess, str]:
    """Start `moto_server` on a free 127.0.0.1 port; return it and its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        health_url=f"{endpoint}/moto-api/",
        log_path=log_dir / "moto_server.log",
    )
    server.start()
    return server, endpoint


def reset_moto(endpoint: str) -> None:
    """Wipe every resource in the moto server."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
