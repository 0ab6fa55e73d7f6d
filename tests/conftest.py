"""Session fixtures: a moto server on 127.0.0.1 and environments that point the CLI at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultproxy import FaultProxy
from tests.support import isolated_env, reset_moto, start_moto_server

# Fixtures shared by several test modules live in their own modules, loaded here.
pytest_plugins = ["tests.build_fixtures", "tests.release_support"]


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server for the whole session, stopped by PID at the end."""
    server, endpoint = start_moto_server(tmp_path_factory.mktemp("moto"))
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """An isolated environment whose AWS calls reach a freshly reset moto server."""
    reset_moto(moto_endpoint)
    return isolated_env({"AWS_ENDPOINT_URL": moto_endpoint})


@pytest.fixture
def hermetic_env() -> dict[str, str]:
    """An isolated environment for installer runs (no host pip/uv configuration)."""
    return isolated_env()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def fault_proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy (tests/faultproxy.py) in front of a freshly reset moto server.

    Program it with `add_fault`, read it with `calls`/`count`/`forwarded`; it is stopped (threads
    joined, sockets closed) after the test, which fails if the proxy itself hit a bug.
    """
    reset_moto(moto_endpoint)
    with FaultProxy(moto_endpoint) as proxy:
        yield proxy
    assert not proxy.errors, "fault proxy internal errors:\n" + "\n".join(proxy.errors)


@pytest.fixture
def faulty_aws_env(fault_proxy: FaultProxy) -> dict[str, str]:
    """Like `aws_env`, but the CLI's AWS calls go through `fault_proxy`."""
    return isolated_env({"AWS_ENDPOINT_URL": fault_proxy.endpoint})


@pytest.fixture(autouse=True)
def _fresh_index_pages() -> Iterator[None]:
    """Index pages are kept per process (`layerkit.indexpages`); each test's local index is
    new, and a port may come round again: each test starts with none kept."""
    from layerkit.indexpages import project_files

    project_files.cache_clear()
    yield
    project_files.cache_clear()
