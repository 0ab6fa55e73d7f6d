"""Issue 12: uv and pip pick the same releases for python3.10/3.11 (glibc 2.26).

uv's --python-platform jumps from manylinux_2_17 to manylinux_2_28, so uv alone refused wheels
tagged manylinux_2_24 .. 2_26 that pip installs; layerkit lets pip resolve such targets (and uv
install the files pip chose, pinned by hash).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerkit.installer import PipBackend, UvBackend, backend_for_target
from layerkit.targets import make_target
from tests.build_fixtures import make_project
from tests.elf_fixtures import EM_X86_64, Need, make_elf
from tests.support import run_cli
from tests.wheels import make_wheel, serve_index


def _so(glibc: str) -> bytes:
    return make_elf(EM_X86_64, [Need("libc.so.6", f"GLIBC_{glibc}", "strlen")])


@pytest.fixture(scope="module")
def tagged_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("tagged")
    for name, newest in (("m224", "2_24"), ("m226", "2_26"), ("m228", "2_28")):
        make_wheel(d, name, "1.0", tag="cp311-abi3-manylinux_2_17_x86_64",
                   files={f"{name}/_c.abi3.so": _so("2.17")})  # fmt: skip
        make_wheel(d, name, "2.0", tag=f"cp311-abi3-manylinux_{newest}_x86_64",
                   files={f"{name}/_c.abi3.so": _so(newest.replace("_", "."))})  # fmt: skip
    with serve_index(d, tmp_path_factory.mktemp("tagged-index")) as url:
        yield url


def _resolved(
    tmp_path: Path, index: str, env: dict[str, str], installer: str
) -> tuple[set[str], tuple[str, str]]:
    project = make_project(tmp_path / installer, "m224\nm226\nm228\n")
    result = run_cli("build", str(project), "--python", "3.11", "--installer", installer,
                     "--index-url", index, "-o", str(tmp_path / installer / "out"), "--json",
                     env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    build = json.loads(result.stdout)["builds"][0]
    manifest = json.loads(Path(build["manifest_path"]).read_text())
    pins = {f"{d['name']}=={d['version']}" for d in manifest["distributions"]}
    return pins, (manifest["installer"], manifest["resolver"].split(" ")[0])


def test_uv_and_pip_resolve_the_same_set_for_glibc_2_26(
    tmp_path: Path, tagged_index: str, env: dict[str, str]
) -> None:
    with_uv, made_by_uv = _resolved(tmp_path, tagged_index, env, "uv")
    with_pip, made_by_pip = _resolved(tmp_path, tagged_index, env, "pip")
    assert with_uv == with_pip == {"m224==2.0", "m226==2.0", "m228==1.0"}
    # The manifest says who really installed (and resolved) it: uv, held to the releases the
    # target takes (m228 2.0 ships only manylinux_2_28), needs no pip (`layerkit.uvchoice`).
    assert (made_by_uv, made_by_pip) == (("uv", ""), ("pip", ""))


def test_pip_installs_only_the_targets_uv_cannot_express() -> None:
    uv = UvBackend(uv="/bin/uv", python="/host/python")
    for python in ("3.9", "3.10", "3.11"):
        backend, why = backend_for_target(uv, make_target(python, "arm64"))
        assert isinstance(backend, PipBackend) and backend.python == "/host/python"
        assert "glibc 2.26" in why
    for python in ("3.12", "3.13", "3.14"):
        assert backend_for_target(uv, make_target(python, "x86_64")) == (uv, "")
    pip = PipBackend(python="/host/python")
    assert backend_for_target(pip, make_target("3.11", "x86_64")) == (pip, "")
