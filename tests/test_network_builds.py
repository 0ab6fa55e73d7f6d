"""Real layers from PyPI (marked `network`; CI runs them): they must import on the target."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.interpreters import find_python
from tests.support import REPO_ROOT, isolated_env, run_cli

pytestmark = pytest.mark.network

HOST = f"{sys.version_info.major}.{sys.version_info.minor}"
EM_X86_64, EM_AARCH64 = 62, 183


def _build(tmp_path: Path, *args: str) -> dict[str, Any]:
    result = run_cli("build", str(tmp_path), *args, "-o", str(tmp_path / "dist"), "--json",
                     env=isolated_env(), timeout=900)  # fmt: skip
    assert result.returncode == 0, result.output
    view: dict[str, Any] = json.loads(result.stdout)
    return view


def _extract(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
        archive.extractall(into)
    return into


def _import_from_layer(python: str, site_packages: Path, module: str, code: str = "") -> str:
    """Import `module` in an isolated interpreter that sees only the layer; return its __file__."""
    script = (
        "import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p]; "
        f"sys.path.insert(0, {str(site_packages)!r}); import {module}; {code}; "
        f"print({module}.__file__)"
    )
    out = subprocess.run([python, "-I", "-S", "-c", script], capture_output=True, text=True,
                         timeout=300, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _elf_machines(root: Path) -> set[int]:
    machines = set()
    for so in root.rglob("*.so*"):
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", so
        machines.add(int.from_bytes(header[18:20], "little"))
    return machines


def test_requests_layer_imports_on_the_host_runtime(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests\n")
    view = _build(tmp_path, "--python", HOST)
    build = view["builds"][0]
    root = _extract(Path(build["zip"]), tmp_path / "opt")
    site = root / f"python/lib/python{HOST}/site-packages"
    origin = _import_from_layer(sys.executable, site, "requests", "import charset_normalizer.md")
    assert origin.startswith(str(site))


@pytest.mark.parametrize(
    ("arch", "machine", "em"), [("x86_64", "x86_64", EM_X86_64), ("arm64", "aarch64", EM_AARCH64)]
)
def test_numpy_layers_contain_only_target_binaries(
    tmp_path: Path, arch: str, machine: str, em: int
) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n")
    view = _build(tmp_path, "--python", "3.12", "--arch", arch)
    build = view["builds"][0]
    root = _extract(Path(build["zip"]), tmp_path / "opt")
    site = root / "python/lib/python3.12/site-packages"
    assert _elf_machines(site) == {em}
    extensions = [p.name for p in site.rglob("*.cpython-*.so")]
    assert extensions
    assert all(name.endswith(f".cpython-312-{machine}-linux-gnu.so") for name in extensions)
    if arch == "x86_64":
        python312 = find_python("3.12")
        if python312 is not None:  # the import check needs an interpreter of the target version
            origin = _import_from_layer(python312, site, "numpy", "numpy.arange(3).sum()")
            assert origin.startswith(str(site))


@pytest.mark.parametrize(
    ("example", "targets"),
    [
        ("requests-layer", ["python3.12-arm64", "python3.12-x86_64"]),
        ("arm64-layer", ["python3.13-arm64"]),
    ],
)
def test_the_examples_build(tmp_path: Path, example: str, targets: list[str]) -> None:
    result = run_cli("build", str(REPO_ROOT / "examples" / example),
                     "-o", str(tmp_path), "--json", env=isolated_env(), timeout=900)  # fmt: skip
    assert result.returncode == 0, result.output
    assert [b["target"] for b in json.loads(result.stdout)["builds"]] == targets


PARQUET_ROUND_TRIP = (
    "import pandas, pyarrow, tempfile, os; "
    "frame = pandas.DataFrame({'n': range(1000), 's': [str(i) for i in range(1000)]}); "
    "path = os.path.join(tempfile.mkdtemp(), 'x.parquet'); frame.to_parquet(path); "
    "assert pandas.read_parquet(path).equals(frame)"
)


def test_the_data_example_fits_and_round_trips_parquet(tmp_path: Path) -> None:
    """numpy+pandas+pyarrow (~268 MB raw) with default slimming fits, then really works."""
    result = run_cli("build", str(REPO_ROOT / "examples" / "data-layer"), "--no-strip",
                     "-o", str(tmp_path / "dist"), "--json", env=isolated_env(), timeout=900)  # fmt: skip
    assert result.returncode == 0, result.output
    build = json.loads(result.stdout)["builds"][0]
    assert build["unzipped_bytes"] <= 262_144_000
    rules = {r["rule"]: r for r in build["slim"]["rules"]}
    assert rules["tests"]["bytes"] > 10_000_000  # what made it fit, reported
    python312 = find_python("3.12")
    if python312 is None:
        pytest.skip("no python3.12 interpreter here: the layer fits, the import check did not run")
    root = _extract(Path(build["zip"]), tmp_path / "opt")
    site = root / "python/lib/python3.12/site-packages"
    origin = _import_from_layer(python312, site, "pyarrow", PARQUET_ROUND_TRIP)
    assert origin.startswith(str(site))
