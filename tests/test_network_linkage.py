"""Issue 12 against real packages from PyPI (marked `network`; CI runs them): a wheel linking
libraries Lambda lacks is refused naming the library; the common stack raises no false alarm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import isolated_env, run_cli

pytestmark = pytest.mark.network


def _build(tmp_path: Path, requirements: str, python: str) -> tuple[int, str, str]:
    project = tmp_path / "proj"
    project.mkdir(parents=True)
    (project / "requirements.txt").write_text(requirements)
    # --no-compile: these builds judge the binaries; whether this machine has a Python of the
    # target version to compile bytecode with (and the warning when not) is another matter.
    result = run_cli("build", str(project), "--python", python, "--arch", "x86_64",
                     "--no-compile", "-o", str(tmp_path / "dist"), "--json", env=isolated_env(),
                     timeout=900)  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_opencv_python_is_refused_on_python312_naming_a_missing_library(tmp_path: Path) -> None:
    code, _out, err = _build(tmp_path, "opencv-python\n", "3.12")
    assert code == 5, err
    assert "libGL.so.1" in err and "(opencv-python)" in err
    assert "opencv-python-headless" in err  # the concrete fix
    assert not list((tmp_path / "dist").glob("*.zip"))


def test_opencv_python_headless_is_accepted_on_python312(tmp_path: Path) -> None:
    code, _out, err = _build(tmp_path, "opencv-python-headless\n", "3.12")
    assert code == 0, err
    assert "needs" not in err and "warning" not in err, err


# The common stack, in two layers that each fit the 250 MB budget (all of it is ~400 MB).
COMMON = [
    "requests\nnumpy\npandas\npyarrow\n",
    "scipy\ncryptography\nlxml\nPillow\npsycopg2-binary\npydantic\norjson\n",
]


@pytest.mark.parametrize("requirements", COMMON, ids=["dataframes", "the-rest"])
@pytest.mark.parametrize("python", ["3.12", "3.11"])
def test_no_false_alarm_on_the_common_stack(tmp_path: Path, requirements: str, python: str) -> None:
    code, out, err = _build(tmp_path, requirements, python)
    assert code == 0, err
    assert "needs" not in err and "warning" not in err, err
    names = {d["name"] for d in json.loads(out)["builds"][0]["distributions"]}
    assert {line.lower() for line in requirements.split()} <= {n.lower() for n in names}


def test_python_magic_is_refused_on_python311_and_accepted_on_python312(tmp_path: Path) -> None:
    """python-magic opens libmagic.so.1 by name: Amazon Linux 2 lacks it, 2023 has file-libs."""
    code, _out, err = _build(tmp_path / "a", "python-magic\n", "3.11")
    assert code == 5, err
    assert "libmagic.so.1" in err and "python-magic" in err
    code, _out, err = _build(tmp_path / "b", "python-magic\n", "3.12")
    assert code == 0, err
