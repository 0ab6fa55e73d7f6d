"""Editable requirements are built as regular wheels, never shipped as links to the build machine."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from layerkit.editables import without_editables
from tests.build_fixtures import make_project
from tests.support import run_cli
from tests.test_build_cli import IN_TREE_BACKEND

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _local_package(tmp_path: Path) -> Path:
    local = tmp_path / "localpkg"
    local.mkdir()
    (local / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    (local / "backend.py").write_text(IN_TREE_BACKEND)
    return local


def test_an_editable_requirement_ships_the_package_not_a_link(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    _local_package(tmp_path)
    project = make_project(tmp_path, "purepkg\n-e ../localpkg\n")
    result = run_cli("build", str(project), "--index-url", index_url, "--python", HOST_PYTHON,
                     "-o", str(tmp_path / "o"), "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    build = json.loads(result.stdout)["builds"][0]
    names = zipfile.ZipFile(build["zip"]).namelist()
    site = f"python/lib/python{HOST_PYTHON}/site-packages/"
    assert f"{site}localpkg/__init__.py" in names
    assert not [n for n in names if n.endswith(".pth") or "__editable__" in n]
    assert {d["name"] for d in build["distributions"]} == {"purepkg", "helperpkg", "localpkg"}
    tested = run_cli("test", build["zip"], "--import", "localpkg", "--interpreter", sys.executable)
    assert tested.returncode == 0, tested.output


def test_an_editable_vcs_checkout_is_refused_clearly(tmp_path: Path, env: dict[str, str]) -> None:
    project = make_project(tmp_path, "-e git+https://example.invalid/org/repo.git#egg=repo\n")
    result = run_cli("build", str(project), "-o", str(tmp_path / "o"), env=env)
    assert result.returncode == 2, result.output
    assert "requirements.txt:1: `-e git+https://example.invalid/org/repo.git#egg=repo` is an " \
        "editable checkout of a repository" in result.stderr  # fmt: skip
    assert "hint: write it as a regular requirement, e.g. `name @ git+https://" in result.stderr


def test_includes_and_relative_paths_keep_working_from_the_private_copy(tmp_path: Path) -> None:
    local = _local_package(tmp_path)
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("--editable=../localpkg\nsix\n")
    (tmp_path / "reqs" / "constraints.txt").write_text("six<2\n")
    main = tmp_path / "reqs" / "main.txt"
    main.write_text("-r base.txt\n-c constraints.txt\n-f ../wheels\n./vendored\nrequests\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    rewritten, found = without_editables(main, scratch)
    assert found == (local,)
    lines = rewritten.read_text().splitlines()
    base_copy = Path(lines[0].removeprefix("-r "))
    assert base_copy.parent == scratch and base_copy.read_text() == "six\n"
    assert lines[1:] == [f"-c {tmp_path}/reqs/constraints.txt", f"-f {tmp_path}/reqs/../wheels",
                         f"{tmp_path}/reqs/vendored", "requests"]  # fmt: skip
    plain = tmp_path / "reqs" / "constraints.txt"
    assert without_editables(plain, scratch) == (plain, ())
