"""Issue 14: Ctrl-C prints one line (`error: interrupted`), exits 130, and leaves no installer
running. Ctrl-C reaches the whole foreground process group, so the test signals the group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.build_fixtures import make_project
from tests.support import isolated_env


@pytest.fixture
def silent_index() -> Iterator[tuple[str, list[socket.socket]]]:
    """An index on 127.0.0.1 that accepts connections and never answers: a build waits on it."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    accepting = threading.Thread(target=accept, daemon=True)
    accepting.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/simple", held
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
    server.close()
    accepting.join(timeout=10)
    for connection in held:
        connection.close()


@pytest.mark.parametrize("archs", [("x86_64",), ("x86_64", "arm64")], ids=["1", "2-targets"])
def test_ctrl_c_during_a_build_prints_one_line_and_stops_the_installer(
    tmp_path: Path, silent_index: tuple[str, list[socket.socket]], archs: tuple[str, ...]
) -> None:
    """With two targets each is built in a child process of its own (`layerkit.targetpool`):
    Ctrl-C stops those, their installers and the build alike."""
    url, connections = silent_index
    project = make_project(tmp_path, "somepkg\n")
    build = subprocess.Popen(
        [sys.executable, "-m", "layerkit", "build", str(project), "--no-compile",
         "--index-url", url, *(f"--arch={arch}" for arch in archs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=isolated_env(), start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(connections) < len(archs) and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.05)
    assert len(connections) >= len(archs), "the installers never asked the index"
    os.killpg(build.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    stdout, stderr = build.communicate(timeout=60)
    assert build.returncode == 130, stderr
    assert stderr.count("error: interrupted") == 1
    assert stderr.rstrip("\n").splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in stderr and "Aborted" not in stderr and stdout == ""
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(build.pid, 0)  # nothing of the build's process group is left running
