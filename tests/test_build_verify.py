"""Issue 3 end to end: wheels that lie about what runs on the target are refused by `build`."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.build_fixtures import make_project
from tests.elf_fixtures import EM_AARCH64, EM_X86_64, MACHO_UNIVERSAL, Need, make_elf
from tests.support import run_cli
from tests.wheels import make_wheel, serve_index

GOOD_X86 = make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.17", "strlen"),))


@pytest.fixture(scope="module")
def liars_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("liars")
    # Tagged for x86_64 but carrying an AArch64 object.
    make_wheel(d, "wrongarch", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64",
               files={"wrongarch/_c.cpython-312-x86_64-linux-gnu.so": make_elf(EM_AARCH64)})  # fmt: skip
    # Tagged manylinux2014 but needing GLIBC_2.34 (fails on Amazon Linux 2 at import).
    make_wheel(d, "newsym", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64",
               files={"newsym/_c.cpython-311-x86_64-linux-gnu.so":
                      make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.34", "__libc_start_main"),))})  # fmt: skip
    # A "pure" wheel shipping a cp311 extension: loads on 3.11, not on 3.12.
    make_wheel(d, "wrongabi", "1.0",
               files={"wrongabi/__init__.py": b"", "wrongabi/_c.cpython-311-x86_64-linux-gnu.so": GOOD_X86})  # fmt: skip
    # A macOS binary inside a wheel tagged for Linux.
    make_wheel(d, "macho", "1.0", tag="py3-none-manylinux_2_17_x86_64",
               files={"macho/_c.abi3.so": MACHO_UNIVERSAL})  # fmt: skip
    # A package with tests inside: slimming drops them by default.
    make_wheel(d, "withtests", "1.0", files={
        "withtests/__init__.py": b"",
        "withtests/tests/__init__.py": b"",
        "withtests/tests/test_big.py": b"#" * 10_000,
    })  # fmt: skip
    with serve_index(d, tmp_path_factory.mktemp("liars-index")) as url:
        yield url


@pytest.mark.parametrize(
    ("requirement", "python", "message"),
    [
        ("wrongarch", "3.12", "AArch64"),
        ("newsym", "3.11", "GLIBC_2.34"),
        ("wrongabi", "3.12", "cpython-311"),
        ("macho", "3.12", "Mach-O"),
    ],
)
def test_incompatible_binaries_are_refused(
    tmp_path: Path,
    liars_index: str,
    env: dict[str, str],
    requirement: str,
    python: str,
    message: str,
) -> None:
    project = make_project(tmp_path, requirement + "\n")
    out = tmp_path / "out"
    result = run_cli("build", str(project), "--python", python, "-o", str(out),
                     "--index-url", liars_index, env=env)  # fmt: skip
    assert result.returncode == 5, result.output
    assert message in result.stderr
    assert "_c." in result.stderr  # names the file
    assert requirement in result.stderr  # and its distribution
    assert "--allow" in result.stderr
    assert not list(out.glob("*.zip"))


def test_allow_waives_a_distribution(tmp_path: Path, liars_index: str, env: dict[str, str]) -> None:
    project = make_project(tmp_path, "wrongabi\n")
    result = run_cli("build", str(project), "--python", "3.12", "-o", str(tmp_path / "o"),
                     "--index-url", liars_index, "--allow", "wrongabi", "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    build = json.loads(result.stdout)["builds"][0]
    assert len(build["waived"]) == 1 and "cpython-311" in build["waived"][0]


def test_tests_directories_are_slimmed_and_reported(
    tmp_path: Path, liars_index: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "withtests\n")
    result = run_cli("build", str(project), "-o", str(tmp_path / "o"), "--index-url", liars_index,
                     "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    build = json.loads(result.stdout)["builds"][0]
    tests_rule = next(r for r in build["slim"]["rules"] if r["rule"] == "tests")
    assert tests_rule["files"] == 2 and tests_rule["bytes"] == 10_000
    with zipfile.ZipFile(build["zip"]) as archive:
        names = archive.namelist()
    assert not any("/withtests/tests/" in n for n in names)
    assert any(n.endswith("withtests-1.0.dist-info/METADATA") for n in names)

    kept = run_cli("build", str(project), "-o", str(tmp_path / "o2"), "--index-url", liars_index,
                   "--keep-tests", "--json", env=env)  # fmt: skip
    assert kept.returncode == 0, kept.output
    assert (
        json.loads(kept.stdout)["builds"][0]["unzipped_bytes"] == build["unzipped_bytes"] + 10_000
    )
