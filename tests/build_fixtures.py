"""Fixtures for build tests: a local package index on 127.0.0.1 with wheels made here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.elf_fixtures import EM_AARCH64, EM_X86_64, Need, make_elf
from tests.support import isolated_env
from tests.wheels import make_sdist, make_wheel, serve_index

# Real (tiny) ELF shared objects per machine, needing glibc 2.17 / 2.28 symbol versions.
SO = {
    "x86_64": make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.17", "strlen"),)),
    "aarch64": make_elf(EM_AARCH64, (Need("libc.so.6", "GLIBC_2.17", "strlen"),)),
}
SO_GLIBC_2_28 = make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.28", "fcntl64"),))


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dists")
    make_wheel(d, "purepkg", "1.0", requires=["helperpkg>=1"])
    make_wheel(d, "helperpkg", "1.2")
    for machine in ("x86_64", "aarch64"):
        for abi in ("cp311", "cp312"):
            make_wheel(
                d,
                "natpkg",
                "1.0",
                tag=f"{abi}-{abi}-manylinux_2_17_{machine}",
                files={
                    "natpkg/__init__.py": b"",
                    f"natpkg/_core.cpython-{abi[2:]}-{machine}-linux-gnu.so": SO[machine],
                },
            )
    make_wheel(
        d,
        "newglibc",
        "1.0",
        tag="cp311-abi3-manylinux_2_28_x86_64",
        files={"newglibc/__init__.py": b"", "newglibc/_x.abi3.so": SO_GLIBC_2_28},
    )
    make_wheel(
        d, "fatpkg", "1.0", files={"fatpkg/__init__.py": b"", "fatpkg/blob.bin": b"x" * 4096}
    )
    make_sdist(d, "sdistonly", "0.1")
    return d


@pytest.fixture(scope="module")
def index_url(dists: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_index(dists, tmp_path_factory.mktemp("index")) as url:
        yield url


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return isolated_env({"UV_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "uv-cache")})


def make_project(tmp_path: Path, requirements: str, config: str = "") -> Path:
    """A project directory with a requirements.txt (and a layerkit.toml if `config`)."""
    project = tmp_path / "proj"
    project.mkdir(parents=True)
    (project / "requirements.txt").write_text(requirements)
    if config:
        (project / "layerkit.toml").write_text(config)
    return project
