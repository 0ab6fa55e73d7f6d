"""`layerkit inspect` on zips and directories, including hostile and damaged ones."""

from __future__ import annotations

import json
import py_compile
import stat
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest

from layerkit.cli import run
from tests.elf_fixtures import EM_AARCH64, EM_X86_64, Need, make_elf

SITE = "python/lib/python3.12/site-packages"
FILE_MODE = (stat.S_IFREG | 0o644) << 16


def _zip(path: Path, members: dict[str, bytes], *, modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (modes or {}).get(name, FILE_MODE)
            archive.writestr(info, data)
    return path


def _dist(prefix: str, name: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """Files of a distribution plus its dist-info (METADATA, RECORD) under `prefix`."""
    dist_info = f"{name}-1.0.dist-info"
    record = "".join(f"{p},,\n" for p in files) + f"{dist_info}/METADATA,,\n{dist_info}/RECORD,,\n"
    members = {f"{prefix}/{p}": d for p, d in files.items()}
    members[f"{prefix}/{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
    )
    members[f"{prefix}/{dist_info}/RECORD"] = record.encode()
    return members


def _inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = run(["inspect", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def test_a_good_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    so = make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.17", "strlen"),))
    members = _dist(
        SITE,
        "fast",
        {"fast/__init__.py": b"x = 1\n", "fast/_c.cpython-312-x86_64-linux-gnu.so": so},
    )
    code, view, err = _inspect(capsys, str(_zip(tmp_path / "l.zip", members)))
    assert code == 0, err
    assert view["schema"] == "layerkit/inspect"
    assert (view["runtime"], view["architecture"], view["target_origin"]) == (
        "python3.12",
        "x86_64",
        "inferred",
    )
    assert view["packages_dir"] == SITE
    assert view["problems"] == []
    assert [d["name"] for d in view["distributions"]] == ["fast"]
    assert view["unzipped_bytes"] == sum(len(d) for d in members.values())


def test_the_aws_recipe_layout_and_its_host_bytecode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 42\n")
    host_pyc = Path(
        cast(str, py_compile.compile(str(source), cfile=str(tmp_path / "mod.pyc")))
    ).read_bytes()
    members = _dist("python", "recipe", {
        "recipe/__init__.py": b"VALUE = 42\n",
        "recipe/__pycache__/__init__.cpython-311.pyc": host_pyc,
    })  # fmt: skip
    code, view, err = _inspect(capsys, str(_zip(tmp_path / "l.zip", members)), "--python", "3.12")
    assert code == 0, err
    assert view["packages_dir"] == "python"
    rules = {r["rule"]: r for r in view["slimming"]["rules"]}
    assert rules["foreign-bytecode"]["files"] == 1
    assert rules["foreign-bytecode"]["bytes"] == len(host_pyc)


def test_wrong_arch_binary_exits_5_and_still_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = _dist(SITE, "arm", {"arm/_c.abi3.so": make_elf(EM_AARCH64)})
    code, view, err = _inspect(capsys, str(_zip(tmp_path / "l.zip", members)), "--arch", "x86_64")
    assert code == 5
    assert view["problems"][0]["rule"] == "machine"
    assert "arm/_c.abi3.so" in err and "(arm)" in err


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("python/../../etc/evil", "unsafe-name"),
        ("/etc/absolute", "unsafe-name"),
        ("nodejs/node_modules/x.js", "root"),
        ("python/lib/python3.11/site-packages/old.py", "python-version"),
    ],
)
def test_bad_layouts_exit_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, rule: str
) -> None:
    members = {f"{SITE}/ok.py": b"", name: b"x"}
    code, view, _ = _inspect(
        capsys, str(_zip(tmp_path / "l.zip", members)), "--python", "3.12", "--arch", "x86_64"
    )
    assert code == 5
    assert rule in {p["rule"] for p in view["problems"]}


def test_symlink_escaping_the_layer_exits_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = f"{SITE}/passwd"
    members = {f"{SITE}/ok.py": b"", link: b"../../../../../../etc/passwd"}
    zip_path = _zip(tmp_path / "l.zip", members, modes={link: (stat.S_IFLNK | 0o777) << 16})
    code, view, _ = _inspect(capsys, str(zip_path), "--python", "3.12", "--arch", "x86_64")
    assert code == 5
    assert "symlink" in {p["rule"] for p in view["problems"]}


def test_unreadable_entry_mode_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"{SITE}/secret.py"
    zip_path = _zip(tmp_path / "l.zip", {name: b""}, modes={name: (stat.S_IFREG | 0o600) << 16})
    code, view, _ = _inspect(capsys, str(zip_path), "--python", "3.12", "--arch", "x86_64")
    assert code == 5
    assert "permissions" in {p["rule"] for p in view["problems"]}


def test_not_a_zip_and_truncated_zip_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    code, _, err = _inspect(capsys, str(text))
    assert code == 2 and "not a zip file, or it is truncated" in err
    good = _zip(tmp_path / "good.zip", {f"{SITE}/a.py": b"a" * 5000})
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:-30])
    code, _, err = _inspect(capsys, str(truncated))
    assert code == 2 and "truncated" in err
    code, _, err = _inspect(capsys, str(tmp_path / "missing.zip"))
    assert code == 2 and "does not exist" in err


def test_corrupt_member_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _zip(tmp_path / "good.zip", _dist(SITE, "p", {"p/__init__.py": b"x" * 4000}))
    data = bytearray(good.read_bytes())
    start = data.index(b"p-1.0.dist-info/METADATA") + 40  # inside the compressed METADATA bytes
    data[start : start + 8] = b"\xff" * 8
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    code, _, err = _inspect(capsys, str(tmp_path / "bad.zip"))
    assert code == 2 and "damaged" in err


def test_over_budget_exits_3_with_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = _zip(tmp_path / "l.zip", _dist(SITE, "big", {"big/blob.bin": b"x" * 5000}))
    code, view, err = _inspect(capsys, str(zip_path), "--budget", "1KB")
    assert code == 3
    assert view["headroom_bytes"] < 0
    assert "over the budget" in err


def test_a_layer_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "layer" / SITE
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("")
    code, view, err = _inspect(capsys, str(tmp_path / "layer"))
    assert code == 0, err
    assert view["kind"] == "directory" and view["runtime"] == "python3.12"


def test_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zip_path = _zip(tmp_path / "l.zip", _dist(SITE, "fast", {"fast/__init__.py": b"x"}))
    assert run(["inspect", str(zip_path)]) == 0
    out = capsys.readouterr().out
    assert "target    python3.12 x86_64, from the layer's files" in out
    assert "problems: none" in out
    assert "slimming would save: nothing" in out


def test_html_report_and_the_manifest_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = _zip(tmp_path / "deps.zip", _dist(SITE, "fast", {"fast/__init__.py": b"x" * 100}))
    manifest = {
        "schema": "layerkit/manifest", "schema_version": 1, "layerkit_version": "0.1.0",
        "name": "deps", "python": "3.12", "arch": "arm64", "runtime": "python3.12", "abi": "cp312",
        "glibc": "2.34", "installer": "uv", "installer_version": "0", "zip": "deps.zip",
        "sha256": "0" * 64, "code_sha256": "", "file_count": 3, "unzipped_bytes": 1,
        "zipped_bytes": 1, "budget_bytes": 1_000_000, "distributions": [],
    }  # fmt: skip
    (tmp_path / "deps.json").write_text(json.dumps(manifest))
    html = tmp_path / "report.html"
    code, view, err = _inspect(capsys, str(zip_path), "--html", str(html))
    assert code == 0, err
    assert (view["target_origin"], view["architecture"], view["budget_bytes"]) == (
        "manifest",
        "arm64",
        1_000_000,
    )
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "fast" in page


def test_each_binary_of_a_directory_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification and the slimming plan share one read of each binary's headers."""
    import builtins

    from layerkit.inspection import inspect_layer

    site = tmp_path / "layer" / SITE
    for path, data in _dist(".", "pkg", {"pkg/__init__.py": b"", "pkg/_a.abi3.so": make_elf(
        EM_X86_64, debug_bytes=2000)}).items():  # fmt: skip
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    result = inspect_layer(tmp_path / "layer", python="3.12", arch="x86_64")
    assert [p for p in opened if p.endswith(".so")] == [str(site / "pkg/_a.abi3.so")]
    assert result.slim.strip  # the plan saw the binary's symbols
