"""Issue 14, the build's words: hints and errors name paths as the user typed them (relative to
the current directory), so they can be pasted back, while JSON and manifests keep absolute paths;
counts are singular or plural as they should be ("1 file")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerkit.report import plural, shown_path
from tests.build_fixtures import make_project
from tests.support import run_cli
from tests.wheels import make_wheel


def test_shown_path_is_relative_below_the_current_directory_else_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert shown_path(tmp_path / "work" / "proj" / "dist" / "x.zip") == "proj/dist/x.zip"
    assert shown_path(tmp_path / "work") == "."
    assert shown_path("../typed/as/is") == "../typed/as/is"
    # Not below the current directory: absolute, as a user who typed it absolute typed it.
    assert shown_path(tmp_path / "other") == str(tmp_path / "other")
    assert shown_path(tmp_path / "work" / "bad\x1bname") == "bad\\x1bname"  # still escaped


def test_errors_name_the_project_and_requirements_as_typed(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    missing = run_cli("build", "../nowhere", cwd=tmp_path / "work")
    assert missing.returncode == 2, missing.output
    assert "error: project directory ../nowhere does not exist" in missing.stderr
    assert str(tmp_path) not in missing.stderr

    make_project(tmp_path / "work", "")
    (tmp_path / "work" / "proj" / "layerkit.toml").write_text('requirements = ["reqs/none.txt"]\n')
    absent = run_cli("build", "proj", cwd=tmp_path / "work")
    assert absent.returncode != 0, absent.output
    assert "requirements file proj/reqs/none.txt does not exist" in absent.stderr
    assert str(tmp_path) not in absent.stderr


def test_the_build_summary_names_the_zip_as_typed_and_json_keeps_it_absolute(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    make_project(tmp_path, "purepkg\n", 'python = "3.12"\n')
    common = ("--index-url", index_url, "--no-compile")
    result = run_cli("build", "proj", *common, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "built proj/dist/proj-python3.12-x86_64.zip (" in result.stdout
    assert str(tmp_path) not in result.output
    again = run_cli("build", "proj", *common, "--json", env=env, cwd=tmp_path)
    assert json.loads(again.stdout)["builds"][0]["zip"] == str(
        tmp_path / "proj" / "dist" / "proj-python3.12-x86_64.zip"
    )


def test_init_tells_the_user_to_cd_into_the_directory_they_named(tmp_path: Path) -> None:
    result = run_cli("init", "new layer", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "into new layer" in result.stdout
    assert "cd 'new layer'" in result.stdout
    assert str(tmp_path) not in result.stdout


def test_plural_counts() -> None:
    assert [plural(n, "file") for n in (0, 1, 2, 1234)] == [
        "0 files",
        "1 file",
        "2 files",
        "1,234 files",
    ]


def test_one_slimmed_file_is_one_file(tmp_path: Path, env: dict[str, str]) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(
        wheels,
        "onetest",
        "1.0",
        files={"onetest/__init__.py": b"", "onetest/tests/test_a.py": b"x = 1\n"},
    )
    (tmp_path / "empty-index").mkdir()
    project = make_project(tmp_path, "onetest\n", 'python = "3.12"\n')
    result = run_cli(
        "build", str(project), "--find-links", str(wheels),
        "--index-url", (tmp_path / "empty-index").as_uri(), "--no-compile", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert "slimming: tests -" in result.stdout
    assert "(1 file)" in result.stdout and "(1 files)" not in result.stdout
    assert "zipping 1 files" not in result.stderr
