"""Issue 18, one pass over the tree: a build lists each directory of the installed tree once,
and slimming, verification, the size report and the zip writer share that listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from layerkit.contents import FileEntry, scan_tree
from tests.build_fixtures import make_project
from tests.elf_fixtures import EM_X86_64, Need, make_elf
from tests.wheels import make_wheel, serve_index

HOST = f"{sys.version_info.major}.{sys.version_info.minor}"

# Runs one build in a fresh interpreter with os.scandir counted: os.walk, Path.glob and
# scan_tree all list directories through it (the installers run in their own processes).
# shutil.rmtree deleting the staging directory at the end lists it too: that is not a scan.
_COUNTED_BUILD = """
import json, os, sys
listed = []
real_scandir = os.scandir
def counting_scandir(path="."):
    if not sys._getframe(1).f_code.co_filename.endswith("shutil.py"):
        listed.append(os.path.abspath(os.fspath(path)))
    return real_scandir(path)
os.scandir = counting_scandir
from layerkit.cli import run
code = run(json.loads(sys.argv[1]))
with open(sys.argv[2], "w") as out:
    json.dump({"code": code, "listed": listed}, out)
"""


@pytest.fixture(scope="module")
def deep_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("deep")
    make_wheel(d, "deeppkg", "1.0", files={
        "deeppkg/__init__.py": b"",
        "deeppkg/sub/__init__.py": b"from . import mod\n",
        "deeppkg/sub/mod.py": b"X = 1\n",
        "deeppkg/sub/inner/__init__.py": b"",
        "deeppkg/tests/__init__.py": b"",
        "deeppkg/tests/test_x.py": b"import deeppkg\n",
        "deeppkg/_c.abi3.so": make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.17", "strlen"),)),
    })  # fmt: skip
    with serve_index(d, tmp_path_factory.mktemp("deep-index")) as url:
        yield url


def test_a_build_lists_each_directory_of_the_tree_once(
    tmp_path: Path, deep_index: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "deeppkg==1.0\n")
    argv = ["build", str(project), "-o", str(tmp_path / "out"), "--index-url", deep_index,
            "--python", HOST, "--interpreter", sys.executable, "--strip", "--force", "--json"]  # fmt: skip
    result_file = tmp_path / "listed.json"
    proc = subprocess.run(
        [sys.executable, "-c", _COUNTED_BUILD, json.dumps(argv), str(result_file)],
        env={**env}, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(result_file.read_text())
    assert outcome["code"] == 0, proc.stderr
    # the installed tree (the layer's site-packages) is staged as <tmp>/python3.X-x86_64
    (root,) = {p for p in outcome["listed"] if p.endswith(f"/python{HOST}-x86_64")}
    times = Counter(p for p in outcome["listed"] if p.startswith(f"{root}/"))
    package_dirs = {p for p in times if p.endswith(("/deeppkg", "/deeppkg/sub", "/sub/inner"))}
    assert len(package_dirs) == 3, outcome["listed"]  # the counting saw the walk
    assert {p: n for p, n in times.items() if n > 1} == {}
    # every step that changes the tree ran: tests removed, bytecode written
    (build,) = json.loads(proc.stdout)["builds"]
    assert [r["rule"] for r in build["slim"]["rules"]] == ["tests"]
    assert build["slim"]["compile"]["files"] == 4
    assert build["slim"]["strip"] is not None


def test_scan_tree_lists_each_directory_once_through_the_scandir_given(tmp_path: Path) -> None:
    for name in ("a/b/c.py", "a/d.txt", "e/f/g/h.so", "top.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * len(name))
    (tmp_path / "a/link.py").symlink_to("b/c.py")
    listed: list[str] = []

    def counting(path: str) -> AbstractContextManager[Iterator[os.DirEntry[str]]]:
        listed.append(path)
        return os.scandir(path)

    entries = scan_tree(tmp_path, scandir=counting)
    assert sorted(listed) == sorted(
        str(p)
        for p in [tmp_path, *(d for d in tmp_path.rglob("*") if d.is_dir() and not d.is_symlink())]
    )
    assert entries == (
        FileEntry("a/b/c.py", len("a/b/c.py")),
        FileEntry("a/d.txt", len("a/d.txt")),
        FileEntry("a/link.py", len("a/b/c.py"), symlink=True),
        FileEntry("e/f/g/h.so", len("e/f/g/h.so")),
        FileEntry("top.py", len("top.py")),
    )
