"""Issue 14: `inspect --html` shows every problem and what slimming would save, as the
terminal and JSON do (a zip with four problems was shown as a green "within budget")."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from layerkit.cli import run
from tests.elf_fixtures import EM_AARCH64, make_elf

SITE = "python/lib/python3.12/site-packages"


def _layer(path: Path) -> Path:
    files = {f"armpkg/_m{i}.abi3.so": make_elf(EM_AARCH64) for i in range(4)}
    files["armpkg/__pycache__/mod.cpython-311.pyc"] = b"\0" * 400  # another Python's bytecode
    dist_info = "armpkg-1.0.dist-info"
    record = "".join(f"{p},,\n" for p in files) + f"{dist_info}/METADATA,,\n{dist_info}/RECORD,,\n"
    files[f"{dist_info}/METADATA"] = b"Metadata-Version: 2.1\nName: armpkg\nVersion: 1.0\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{SITE}/{name}")
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
    return path


def test_html_shows_every_problem_and_the_slimming_savings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = _layer(tmp_path / "layer.zip")
    html = tmp_path / "report.html"
    code = run(["inspect", str(zip_path), "--arch", "x86_64", "--json", "--html", str(html)])
    view = json.loads(capsys.readouterr().out)
    assert code == 5
    assert len(view["problems"]) == 4
    page = html.read_text()
    # the page's verdict is the report model's, shared with the terminal and JSON
    assert "fails: 4 problems" in page and view["verdict"].startswith("fails: 4 problems")
    assert "within budget" not in page
    for problem in view["problems"]:
        assert problem["path"] in page
    assert "What could be smaller?" in page
    assert "foreign-bytecode" in page  # the other Python's .pyc, with what removing it saves
    assert run(["inspect", str(zip_path), "--arch", "x86_64"]) == 5
    text = capsys.readouterr().out
    assert "problems: 4" in text and "(<1% of the budget, 1 file)" in text  # singular
