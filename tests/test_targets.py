from __future__ import annotations

import pytest

from layerkit.errors import TargetError
from layerkit.targets import PYTHON_VERSIONS, make_target, target_matrix


@pytest.mark.parametrize(
    ("python", "glibc", "os_name"),
    [
        ("3.9", (2, 26), "Amazon Linux 2"),
        ("3.10", (2, 26), "Amazon Linux 2"),
        ("3.11", (2, 26), "Amazon Linux 2"),
        ("3.12", (2, 34), "Amazon Linux 2023"),
        ("3.13", (2, 34), "Amazon Linux 2023"),
        ("3.14", (2, 34), "Amazon Linux 2023"),
    ],
)
def test_runtime_table(python: str, glibc: tuple[int, int], os_name: str) -> None:
    target = make_target(python, "x86_64")
    assert target.glibc == glibc
    assert target.base.os_name == os_name
    assert target.site_packages == f"python/lib/python{python}/site-packages"
    assert target.cpython_abi == "cp" + python.replace(".", "")


def test_manylinux_tags_stop_at_the_runtime_glibc() -> None:
    al2 = make_target("3.11", "x86_64").manylinux_tags
    assert al2[0] == "manylinux_2_26_x86_64"
    assert "manylinux_2_28_x86_64" not in al2
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(al2)
    al2023 = make_target("3.12", "arm64").manylinux_tags
    assert al2023[0] == "manylinux_2_34_aarch64"
    assert "manylinux_2_28_aarch64" in al2023
    assert "manylinux_2_35_aarch64" not in al2023
    assert all(tag.endswith("_aarch64") for tag in al2023)


def test_uv_platform_never_exceeds_glibc() -> None:
    assert make_target("3.11", "x86_64").uv_platform == "x86_64-manylinux_2_17"
    assert make_target("3.12", "x86_64").uv_platform == "x86_64-manylinux_2_34"
    assert make_target("3.13", "arm64").uv_platform == "aarch64-manylinux_2_34"


@pytest.mark.parametrize("spelling", ["3.12", "python3.12", "py3.12", " Python3.12 "])
def test_python_spellings(spelling: str) -> None:
    assert make_target(spelling, "arm64").runtime == "python3.12"


@pytest.mark.parametrize(("spelling", "arch"), [("aarch64", "arm64"), ("amd64", "x86_64")])
def test_arch_aliases(spelling: str, arch: str) -> None:
    assert make_target("3.12", spelling).arch == arch


@pytest.mark.parametrize("python", ["3.8", "3.15", "2.7", "python3", ""])
def test_unknown_python_is_an_error_never_the_host(python: str) -> None:
    with pytest.raises(TargetError, match="unknown Lambda Python runtime"):
        make_target(python, "x86_64")


@pytest.mark.parametrize("arch", ["i386", "armv7", "riscv64", ""])
def test_unknown_arch_is_an_error(arch: str) -> None:
    with pytest.raises(TargetError, match="unknown Lambda architecture"):
        make_target("3.12", arch)


def test_matrix_is_deduplicated_and_ordered() -> None:
    matrix = target_matrix(["3.12", "python3.11", "3.12"], ["arm64", "x86_64"])
    assert [t.slug for t in matrix] == [
        "python3.11-arm64",
        "python3.11-x86_64",
        "python3.12-arm64",
        "python3.12-x86_64",
    ]
    assert PYTHON_VERSIONS == ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
