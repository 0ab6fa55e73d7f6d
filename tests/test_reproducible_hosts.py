"""Issue 14: the same inputs give the same zip bytes whichever Python layerkit runs from.

Two virtual environments at different paths, really created, each running the real CLI with
each installer: the sha256 of the zips must match (a CI runner must never publish a new layer
version for the same inputs just because its Python lives elsewhere).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.build_fixtures import make_project
from tests.support import REPO_ROOT, isolated_env, run_cli
from tests.test_build_cli import IN_TREE_BACKEND
from tests.wheels import make_wheel, serve_index


@pytest.fixture(scope="module")
def script_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An index with a distribution that has a console script (written to bin/ on install)."""
    dists = tmp_path_factory.mktemp("script-dists")
    make_wheel(
        dists,
        "clipkg",
        "1.0",
        files={
            "clipkg/__init__.py": b"def main():\n    return 0\n",
            "clipkg-1.0.dist-info/entry_points.txt": b"[console_scripts]\nclitool = clipkg:main\n",
        },
    )
    with serve_index(dists, tmp_path_factory.mktemp("script-index")) as url:
        yield url


def _venv(where: Path) -> Path:
    """A new virtual environment at `where` that runs this checkout's layerkit."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # This environment's packages (layerkit's dependencies, pip, uv) and the checkout itself.
    (Path(purelib) / "layerkit-tests.pth").write_text(
        f"{sysconfig.get_paths()['purelib']}\n{REPO_ROOT}\n"
    )
    return python


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_two_virtual_environments_at_different_paths_build_the_same_bytes(
    tmp_path: Path, script_index: str, installer: str
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "requirements.txt").write_text("clipkg\n")
    digests = []
    for where in (tmp_path / "a" / "venv", tmp_path / "b" / "much" / "deeper" / "env"):
        python = _venv(where)
        out = where.parent / "out"
        env = isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache")})
        built = subprocess.run(
            [str(python), "-m", "layerkit", "build", str(project), "-q", "--force",
             "--installer", installer, "--index-url", script_index, "--python", "3.12",
             "-o", str(out)],
            env=env, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
        zip_path = out / "proj-python3.12-x86_64.zip"
        with zipfile.ZipFile(zip_path) as archive:
            record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
            text = archive.read(record).decode()
        assert "clipkg/__init__.py" in text
        assert "bin/clitool" not in text  # the deleted script's hash named this Python
        digests.append(hashlib.sha256(zip_path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_a_local_package_builds_the_same_bytes_twice(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    """uv's uv_cache.json (a timestamp) and direct_url.json (the wheel's temporary path) are
    the build machine's, not the package's: they and their RECORD lines stay out."""
    local = tmp_path / "localpkg"
    local.mkdir()
    (local / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    (local / "backend.py").write_text(IN_TREE_BACKEND)
    project = make_project(tmp_path, "purepkg\n", 'packages = ["../localpkg"]\n')
    digests = []
    for run in ("one", "two"):
        out = tmp_path / run
        result = run_cli(
            "build", str(project), "--index-url", index_url, "-q", "-o", str(out), env=env
        )
        assert result.returncode == 0, result.stderr
        (zip_path,) = out.glob("*.zip")
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            record = next(n for n in names if n.endswith("localpkg-0.3.dist-info/RECORD"))
            text = archive.read(record).decode()
        assert not any(n.endswith(("/direct_url.json", "/uv_cache.json")) for n in names)
        assert "direct_url.json" not in text and "uv_cache.json" not in text
        digests.append(hashlib.sha256(zip_path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
