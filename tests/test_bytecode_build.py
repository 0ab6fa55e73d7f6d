"""`layerkit build` and bytecode end to end: compile=auto by default, --compile / --no-compile, the
interpreter in the cache key and the manifest, the budget, and the same bytes however the
bytecode was obtained. Hermetic: wheels from the local index; "no interpreter" is a PATH with
none and an empty uv Python directory."""

from __future__ import annotations

import json
import os
import platform
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any

from tests.build_fixtures import make_project
from tests.support import run_cli

HOST = f"{sys.version_info.major}.{sys.version_info.minor}"
PREFIX = f"python/lib/python{HOST}/site-packages/"
HOST_PYTHON = ("--python", HOST, "--interpreter", sys.executable)  # this Python compiles


def _build(
    project: Path, out: Path, index_url: str, env: dict[str, str], *args: str
) -> dict[str, Any]:
    result = run_cli("build", str(project), "-o", str(out), "--index-url", index_url, "--json",
                     *args, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    build: dict[str, Any] = json.loads(result.stdout)["builds"][0]
    build["stderr"] = result.stderr
    return build


def _pyc_sizes(zip_path: str) -> dict[str, int]:
    with zipfile.ZipFile(zip_path) as archive:
        return {i.filename: i.file_size for i in archive.infolist() if i.filename.endswith(".pyc")}


def _no_pythons(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """An environment where neither PATH nor uv knows a Python (uv itself is found by path)."""
    (tmp_path / "empty-bin").mkdir()
    (tmp_path / "uv-pythons").mkdir()
    return {**env, "PATH": str(tmp_path / "empty-bin"),
            "UV_PYTHON_INSTALL_DIR": str(tmp_path / "uv-pythons")}  # fmt: skip


def test_without_an_interpreter_the_build_ships_no_bytecode_and_says_why_once(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = _no_pythons({**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}, tmp_path)
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli("build", str(project), "--python", "3.12", "--arch", "x86_64", "--arch",
                     "arm64", "-o", str(tmp_path / "o"), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("no Python 3.12 interpreter found") == 1, result.stderr
    assert "so the layer ships without bytecode" in result.stderr
    assert "`uv python install 3.12`, or --interpreter PATH" in result.stderr
    assert result.stdout.count("slimming: no bytecode") == 2
    for zip_path in (tmp_path / "o").glob("*.zip"):
        assert _pyc_sizes(str(zip_path)) == {}
        manifest = json.loads(zip_path.with_suffix(".json").read_text())
        assert (manifest["bytecode_interpreter"], manifest["bytecode_files"]) == ("", 0)

    # the reused build says it again (once), and --json carries the reason
    again = _build(project, tmp_path / "o", index_url, env, "--python", "3.12")
    assert again["cached"] is True
    assert again["stderr"].count("no Python 3.12 interpreter found") == 1
    compiled = again["slim"]["compile"]
    assert (compiled["files"], compiled["mode"], compiled["interpreter"]) == (0, "auto", None)
    assert "no python3.12 on PATH" in compiled["skipped_reason"]


def test_compile_required_without_an_interpreter_is_a_clean_error(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = _no_pythons(env, tmp_path)
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli("build", str(project), "--python", "3.12", "--compile",
                     "-o", str(tmp_path / "o"), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == 2, result.output
    assert result.stderr.startswith(
        "error: --compile needs a Python 3.12 interpreter to compile the layer's bytecode"
    )
    assert "hint: `uv python install 3.12`, --interpreter PATH" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_default_ships_bytecode_and_records_it_no_compile_ships_none(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    project = make_project(tmp_path, "purepkg\n")
    build = _build(project, tmp_path / "a", index_url, env, *HOST_PYTHON)
    pycs = _pyc_sizes(build["zip"])
    tag = f"cpython-{HOST.replace('.', '')}"
    assert set(pycs) == {
        f"{PREFIX}purepkg/__pycache__/__init__.{tag}.pyc",
        f"{PREFIX}helperpkg/__pycache__/__init__.{tag}.pyc",
    }
    compiled = build["slim"]["compile"]
    assert compiled["interpreter_version"] == platform.python_version()
    assert (compiled["files"], compiled["bytes"]) == (2, sum(pycs.values()))
    assert compiled["mode"] == "auto" and compiled["dropped"] == []
    manifest = json.loads(Path(build["manifest_path"]).read_text())
    assert manifest["bytecode_interpreter"] == platform.python_version()
    assert (manifest["bytecode_files"], manifest["bytecode_bytes"]) == (2, sum(pycs.values()))
    # the bytecode weighs on the distribution that owns its module, not on "(not in any RECORD)"
    assert {d["name"] for d in build["distributions"]} == {"purepkg", "helperpkg"}

    none = _build(project, tmp_path / "b", index_url, env, *HOST_PYTHON, "--no-compile")
    assert _pyc_sizes(none["zip"]) == {}
    assert none["slim"]["compile"] is None
    assert none["unzipped_bytes"] == build["unzipped_bytes"] - sum(pycs.values())
    assert "interpreter found" not in none["stderr"]

    (project / "layerkit.toml").write_text("compile = false\n")
    off = _build(project, tmp_path / "c", index_url, env, *HOST_PYTHON)
    assert _pyc_sizes(off["zip"]) == {}
    (project / "layerkit.toml").write_text('compile = "sometimes"\n')
    result = run_cli("build", str(project), "--index-url", index_url, env=env)
    assert result.returncode == 2
    assert "'compile' must be true, false or 'auto'" in result.stderr


def _fake_interpreter(directory: Path, version: str) -> Path:
    """The host's Python, except that it reports `version` when layerkit asks which it is."""
    script = directory / "python-fake"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$2" = "-S" ]; then\n'
        f'  printf "{version}\\ncpython-{HOST.replace(".", "")}\\n'
        f"{int.from_bytes(__import__('importlib.util').util.MAGIC_NUMBER[:2], 'little')}\\n"
        f'{directory}/python-fake\\n"\n'
        "  exit 0\n"
        "fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_the_interpreter_version_is_part_of_the_cache_key(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    project = make_project(tmp_path, "purepkg==1.0\nhelperpkg==1.2\n")
    real = _build(project, tmp_path / "o", index_url, env, *HOST_PYTHON)
    real_manifest = json.loads(Path(real["manifest_path"]).read_text())
    fake = _fake_interpreter(tmp_path, f"{HOST}.99")
    other = _build(project, tmp_path / "o", index_url, env, "--python", HOST,
                   "--interpreter", str(fake))  # fmt: skip
    assert other["cached"] is False
    assert other["slim"]["compile"]["interpreter_version"] == f"{HOST}.99"
    other_manifest = json.loads(Path(other["manifest_path"]).read_text())
    assert other_manifest["inputs_digest"] != real_manifest["inputs_digest"]
    assert other_manifest["bytecode_interpreter"] == f"{HOST}.99"
    # the store is keyed by the interpreter's version too: nothing of the first build reused
    assert other["slim"]["compile"]["reused_files"] == 0
    back = _build(project, tmp_path / "o", index_url, env, *HOST_PYTHON)
    assert back["cached"] is True and back["sha256"] == real["sha256"]


def test_the_same_bytes_from_a_cold_and_a_warm_bytecode_store_under_another_tz_umask_mtime(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    args = HOST_PYTHON
    cache_a = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache-a")}
    first = _build(make_project(tmp_path / "1", "purepkg\nnatpkg\n"), tmp_path / "o1",
                   index_url, {**cache_a, "TZ": "UTC"}, *args)  # fmt: skip
    assert first["slim"]["compile"]["compiled_files"] == first["slim"]["compile"]["files"] > 0

    old_umask = os.umask(0o077)
    try:
        project = make_project(tmp_path / "2", "purepkg\nnatpkg\n")
        os.utime(project / "requirements.txt", (1_000_000_000, 1_000_000_000))
        warm = _build(project, tmp_path / "o2", index_url,
                      {**cache_a, "TZ": "Asia/Kathmandu", "LC_ALL": "C"}, *args, "--force")  # fmt: skip
    finally:
        os.umask(old_umask)
    assert warm["slim"]["compile"]["compiled_files"] == 0
    assert warm["slim"]["compile"]["reused_files"] == first["slim"]["compile"]["files"]

    cold = _build(make_project(tmp_path / "3", "purepkg\nnatpkg\n"), tmp_path / "o3", index_url,
                  {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache-b"), "TZ": "America/Lima"},
                  *args)  # fmt: skip
    assert cold["slim"]["compile"]["compiled_files"] == first["slim"]["compile"]["files"]
    assert first["sha256"] == warm["sha256"] == cold["sha256"]
    assert _pyc_sizes(first["zip"])


def test_bytecode_over_the_budget_is_dropped_not_the_build(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    project = make_project(tmp_path, "purepkg\n")
    args = HOST_PYTHON
    without = _build(project, tmp_path / "a", index_url, env, *args, "--no-compile")
    full = _build(project, tmp_path / "b", index_url, env, *args)
    pycs = _pyc_sizes(full["zip"])
    helper = next(size for name, size in pycs.items() if "/helperpkg/" in name)
    purepkg = next(size for name, size in pycs.items() if "/purepkg/" in name)
    assert full["unzipped_bytes"] == without["unzipped_bytes"] + helper + purepkg

    # one byte over: the smaller package's bytecode that covers it goes
    budget = full["unzipped_bytes"] - 1
    fitted = _build(project, tmp_path / "c", index_url, env, *args, "--budget", str(budget))
    dropped = fitted["slim"]["compile"]["dropped"]
    smaller = "helperpkg" if helper <= purepkg else "purepkg"
    assert [(d["package"], d["files"]) for d in dropped] == [(smaller, 1)]
    assert fitted["unzipped_bytes"] <= budget
    assert len(_pyc_sizes(fitted["zip"])) == 1
    assert (
        f"bytecode left out to stay within the budget of {budget:,} bytes: {smaller}"
        in (fitted["stderr"])
    )
    text = run_cli("build", str(project), "-o", str(tmp_path / "c"), "--index-url", index_url,
                   "--budget", str(budget), *args, env=env)  # fmt: skip
    assert f"left out for the budget: {smaller}" in text.stdout

    # exactly the size without bytecode: every .pyc goes, the build still succeeds
    bare = _build(project, tmp_path / "d", index_url, env, *args,
                  "--budget", str(without["unzipped_bytes"]))  # fmt: skip
    assert _pyc_sizes(bare["zip"]) == {} and bare["sha256"] == without["sha256"]
    assert "no bytecode shipped" in bare["slim"]["compile"]["skipped_reason"]
    # a layer that does not fit even without bytecode fails as before
    over = run_cli("build", str(project), "-o", str(tmp_path / "e"), "--index-url", index_url,
                   "--budget", str(without["unzipped_bytes"] - 1), *args, env=env)  # fmt: skip
    assert over.returncode == 3, over.output
