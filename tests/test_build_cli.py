"""`layerkit build` end to end, hermetic: wheels made here, served from 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.build_fixtures import make_project
from tests.support import run_cli


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def test_build_matrix_picks_the_right_wheel_per_arch(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "purepkg\nnatpkg==1.0\n")
    result = run_cli(
        "build", str(project), "-r", str(project / "requirements.txt"),
        "--python", "3.12", "--arch", "x86_64", "--arch", "arm64",
        "--name", "deps", "-o", str(tmp_path / "out"), "--index-url", index_url, "--json",
        "--no-compile",  # what the installer leaves: no .pyc of the host's interpreter
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["schema"] == "layerkit/build" and view["schema_version"] == 1
    assert [b["target"] for b in view["builds"]] == ["python3.12-arm64", "python3.12-x86_64"]
    for build, machine in zip(view["builds"], ("aarch64", "x86_64"), strict=True):
        zip_path = Path(build["zip"])
        assert zip_path == tmp_path / "out" / f"deps-{build['target']}.zip"
        names = _names(zip_path)
        prefix = "python/lib/python3.12/site-packages/"
        assert f"{prefix}natpkg/_core.cpython-312-{machine}-linux-gnu.so" in names
        assert f"{prefix}helperpkg/__init__.py" in names  # dependency resolved
        assert all(n.startswith(("python/", "python/lib/")) for n in names)
        assert not any(n.endswith((".pyc", "/.lock")) or "__pycache__" in n for n in names)
        digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        manifest = json.loads(zip_path.with_suffix(".json").read_text())
        assert manifest["sha256"] == build["sha256"] == digest
        assert manifest["runtime"] == "python3.12"
        assert manifest["unzipped_bytes"] == build["unzipped_bytes"] > 0
        assert {d["name"] for d in manifest["distributions"]} == {"purepkg", "helperpkg", "natpkg"}


def test_build_text_report(tmp_path: Path, index_url: str, env: dict[str, str]) -> None:
    project = make_project(
        tmp_path, "purepkg\n", 'requirements = "requirements.txt"\npython = "3.11"\n'
    )
    result = run_cli("build", str(project), "--index-url", index_url, env=env)
    assert result.returncode == 0, result.stderr
    assert f"built {project / 'dist' / 'proj-python3.11-x86_64.zip'}" in result.stdout
    assert "of 250.0 MiB budget" in result.stdout
    assert "helperpkg" in result.stdout
    # progress goes to stderr; uv cannot say glibc 2.26, but each release its manylinux_2_28
    # resolution takes has a wheel for it: uv installs the files pip would choose
    assert "resolved with uv" in result.stderr and "each release has a wheel" in result.stderr


def _build_digest(project: Path, out: Path, index_url: str, env: dict[str, str]) -> str:
    result = run_cli(
        "build", str(project), "-r", str(project / "requirements.txt"), "--python", "3.12",
        "-o", str(out), "--index-url", index_url, "--json", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["builds"][0]["sha256"])


def test_rebuild_elsewhere_is_byte_identical(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    first = _build_digest(
        make_project(tmp_path / "a", "purepkg\nnatpkg\n"), tmp_path / "o1", index_url, env
    )
    other_env = {**env, "TZ": "Asia/Kathmandu", "LC_ALL": "C"}
    old_umask = os.umask(0o077)
    try:
        project = make_project(tmp_path / "b", "purepkg\nnatpkg\n")
        os.utime(project / "requirements.txt", (1_000_000_000, 1_000_000_000))
        second = _build_digest(project, tmp_path / "o2", index_url, other_env)
    finally:
        os.umask(old_umask)
    assert first == second
    # and SOURCE_DATE_EPOCH really is what stamps the entries
    third = _build_digest(
        make_project(tmp_path / "c", "purepkg\nnatpkg\n"),
        tmp_path / "o3",
        index_url,
        {**env, "SOURCE_DATE_EPOCH": "1700000000"},
    )
    assert third != first


def test_zip_entries_are_normalised(tmp_path: Path, index_url: str, env: dict[str, str]) -> None:
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "-o", str(tmp_path / "o"), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(next((tmp_path / "o").glob("*.zip"))) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.extra == b""
        mode = info.external_attr >> 16
        assert mode in (0o100644, 0o100755, 0o040755), (info.filename, oct(mode))
        assert mode & 0o444 == 0o444  # world-readable


@pytest.mark.parametrize(
    ("requirement", "python", "exit_code", "message"),
    [
        ("sdistonly==0.1", "3.12", 4, "sdistonly"),
        ("does-not-exist-anywhere", "3.12", 4, "does-not-exist-anywhere"),
        ("purepkg==9.9", "3.12", 4, "purepkg"),
        ("newglibc", "3.11", 4, "glibc 2.26"),
        ("this is not a requirement !!", "3.12", 2, "requirement"),
    ],
)
def test_bad_requirements_fail_cleanly_without_a_zip(
    tmp_path: Path,
    index_url: str,
    env: dict[str, str],
    requirement: str,
    python: str,
    exit_code: int,
    message: str,
) -> None:
    project = make_project(tmp_path, requirement + "\n")
    out = tmp_path / "out"
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "--python", python, "-o", str(out), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == exit_code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "\nhint: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not list(out.glob("*")) if out.exists() else True


def test_newer_glibc_wheel_is_fine_on_al2023(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "newglibc\n")
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "--python", "3.12", "-o", str(tmp_path / "o"), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_over_budget_exits_3_and_writes_no_zip(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "fatpkg\n")
    out = tmp_path / "out"
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "--budget", "2KB", "-o", str(out), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == 3, result.output
    assert "over the budget of 2,048" in result.stderr
    assert "fatpkg" in result.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "missing.txt"], "does not exist"),
        (["--python", "3.8"], "unknown Lambda Python runtime '3.8'"),
        (["--runtime", "python2.7"], "unknown Lambda Python runtime"),
        (["--arch", "sparc"], "unknown Lambda architecture 'sparc'"),
        (["--installer", "conda"], "unknown installer"),
        (["--budget", "lots"], "cannot read size"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli("build", str(project), "-o", str(tmp_path / "o"), *args, env=env, cwd=project)
    assert result.returncode == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_malformed_config_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    project = make_project(
        tmp_path, "purepkg\n", "requirements = 'requirements.txt'\nbudgett = 5\n"
    )
    result = run_cli("build", str(project), env=env)
    assert result.returncode == 2
    assert "unknown key 'budgett'" in result.stderr
    assert "did you mean 'budget'" in result.stderr


def test_output_path_that_is_a_file_exits_8(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "purepkg\n")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "-o", str(blocker), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == 8, result.output
    assert "not a directory" in result.stderr


def test_pip_backend_builds_the_same_distributions(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "purepkg\nnatpkg\n")
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "--installer", "pip", "--python", "3.12", "--arch", "arm64", "--no-compile",
                     "-o", str(tmp_path / "o"), "--index-url", index_url, "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    build = json.loads(result.stdout)["builds"][0]
    assert {d["name"] for d in build["distributions"]} == {"purepkg", "helperpkg", "natpkg"}
    names = _names(Path(build["zip"]))
    assert (
        "python/lib/python3.12/site-packages/natpkg/_core.cpython-312-aarch64-linux-gnu.so" in names
    )
    assert not any(n.endswith(".pyc") for n in names)


IN_TREE_BACKEND = """
import base64, hashlib, zipfile
from pathlib import Path

def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        "localpkg/__init__.py": b"HELLO = 'from local'\\n",
        "localpkg-0.3.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: localpkg\\nVersion: 0.3\\n",
        "localpkg-0.3.dist-info/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = "".join(f"{p},{_hash(d)},{len(d)}\\n" for p, d in files.items())
    files["localpkg-0.3.dist-info/RECORD"] = (record + "localpkg-0.3.dist-info/RECORD,,\\n").encode()
    name = "localpkg-0.3-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
    return name

def get_requires_for_build_wheel(config_settings=None):
    return []
"""


def test_local_path_package_is_built_into_a_wheel(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    local = tmp_path / "localpkg"
    local.mkdir()
    (local / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    (local / "backend.py").write_text(IN_TREE_BACKEND)
    project = make_project(
        tmp_path, "purepkg\n", 'packages = ["../localpkg"]\nrequirements = "requirements.txt"\n'
    )
    result = run_cli("build", str(project), "--index-url", index_url, "--json", env=env)
    assert result.returncode == 0, result.stderr
    build = json.loads(result.stdout)["builds"][0]
    assert {d["name"] for d in build["distributions"]} == {"purepkg", "helperpkg", "localpkg"}
    assert "python/lib/python3.13/site-packages/localpkg/__init__.py" in _names(Path(build["zip"]))


def test_python_dash_m_and_version(env: dict[str, str]) -> None:
    result = run_cli("--version", env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == "layerkit 0.1.0"


def test_hash_mismatch_exits_4(tmp_path: Path, index_url: str, env: dict[str, str]) -> None:
    project = make_project(tmp_path, "purepkg==1.0 --hash=sha256:" + "0" * 64 + "\n")
    result = run_cli("build", str(project), "-r", str(project / "requirements.txt"),
                     "-o", str(tmp_path / "o"), "--index-url", index_url, env=env)  # fmt: skip
    assert result.returncode == 4, result.output
    assert "--hash" in result.stderr or "hash" in result.stderr.lower()
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_requirements_path_that_is_a_directory_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli("build", str(project), "-r", str(tmp_path), env=env)
    assert result.returncode == 2, result.output
    assert "is not a readable file" in result.stderr


def test_sbom_beside_the_zip(tmp_path: Path, index_url: str, env: dict[str, str]) -> None:
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli("build", str(project), "-o", str(tmp_path / "o"), "--index-url", index_url,
                     "--sbom", "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    build = json.loads(result.stdout)["builds"][0]
    sbom = json.loads(Path(build["sbom"]).read_text())
    assert Path(build["sbom"]) == Path(build["zip"]).with_suffix(".cdx.json")
    assert sbom["bomFormat"] == "CycloneDX"
    purls = sorted(c["purl"] for c in sbom["components"])
    assert purls == ["pkg:pypi/helperpkg@1.2", "pkg:pypi/purepkg@1.0"]


def _build_json(
    project: Path, out: Path, index_url: str, env: dict[str, str], *extra: str
) -> dict[str, Any]:
    result = run_cli("build", str(project), "-o", str(out), "--index-url", index_url, "--json",
                     *extra, env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    build: dict[str, Any] = json.loads(result.stdout)["builds"][0]
    return build


def test_unchanged_inputs_reuse_the_cached_build(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    project = make_project(tmp_path, "purepkg\n")
    first = _build_json(project, tmp_path / "o", index_url, env)
    second = _build_json(project, tmp_path / "o", index_url, env)
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["sha256"] == first["sha256"]
    assert second["distributions"] == first["distributions"]
    assert second["slim"] == first["slim"]
    sizes = ("unzipped_bytes", "zipped_bytes", "file_count", "budget_bytes", "headroom_bytes")
    assert [second[k] for k in sizes] == [first[k] for k in sizes]
    # placed into another output directory: copied, same bytes
    elsewhere = _build_json(project, tmp_path / "o2", index_url, env)
    assert elsewhere["cached"] and elsewhere["sha256"] == first["sha256"]
    assert hashlib.sha256(Path(elsewhere["zip"]).read_bytes()).hexdigest() == first["sha256"]
    # --force rebuilds; so does any change of input
    assert _build_json(project, tmp_path / "o", index_url, env, "--force")["cached"] is False
    stripped = _build_json(project, tmp_path / "o", index_url, env, "--strip")
    assert stripped["cached"] is False and stripped["slim"]["strip"] is not None
    again = _build_json(project, tmp_path / "o", index_url, env, "--strip")
    assert again["cached"] is True and again["slim"] == stripped["slim"]
    (project / "requirements.txt").write_text("purepkg\nfatpkg\n")
    changed = _build_json(project, tmp_path / "o", index_url, env)
    assert changed["cached"] is False and changed["sha256"] != first["sha256"]


def test_a_no_op_rebuild_says_unchanged_inputs_once(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    project = make_project(tmp_path, "purepkg\n")
    argv = ("build", str(project), "-o", str(tmp_path / "o"), "--index-url", index_url)
    assert run_cli(*argv, env=env).returncode == 0
    again = run_cli(*argv, env=env)
    assert again.returncode == 0, again.output
    assert (again.stdout + again.stderr).count("unchanged inputs") == 1
    assert again.stdout.startswith(f"reused {tmp_path / 'o'}")


@pytest.fixture
def cached(tmp_path: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A private build cache, and the environment that points layerkit at it."""
    cache = tmp_path / "cache"
    return cache, {**env, "LAYERKIT_CACHE_DIR": str(cache)}


def test_a_cache_entry_without_its_size_report_measures_the_zip(
    tmp_path: Path, index_url: str, cached: tuple[Path, dict[str, str]]
) -> None:
    """Entries saved before the size report was kept with them still report the same sizes."""
    cache, env = cached
    project = make_project(tmp_path, "purepkg\nfatpkg\n")
    first = _build_json(project, tmp_path / "o", index_url, env)
    (details_file,) = cache.rglob("details.json")
    details = json.loads(details_file.read_text())
    assert details["size"]["total_bytes"] == first["unzipped_bytes"]
    del details["size"]
    details_file.write_text(json.dumps(details))
    again = _build_json(project, tmp_path / "o", index_url, env)
    assert again["cached"] is True
    assert again["distributions"] == first["distributions"]
    assert again["unzipped_bytes"] == first["unzipped_bytes"]


def test_a_reused_build_writes_the_sbom_kept_with_it(
    tmp_path: Path, index_url: str, cached: tuple[Path, dict[str, str]]
) -> None:
    cache, env = cached
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    project = make_project(tmp_path, "purepkg\n")
    first = _build_json(project, tmp_path / "o", index_url, env, "--sbom")
    made = Path(first["sbom"]).read_text()
    (kept_file,) = cache.rglob("sbom.json")
    kept = json.loads(kept_file.read_text())
    assert kept["sbom"] == made and kept["generator"].startswith("cyclonedx-python-lib ")
    Path(first["sbom"]).unlink()
    again = _build_json(project, tmp_path / "o", index_url, env, "--sbom")
    assert again["cached"] is True
    assert Path(again["sbom"]).read_text() == made
    # none kept, a damaged one, one another CycloneDX made, or one of another zip: made anew on
    # the next reuse with --sbom, and kept
    foreign = made.replace(
        json.loads(made)["serialNumber"], "urn:uuid:" + "0" * 8 + "-0000-5000-8000-" + "0" * 12
    )
    for damage in (
        kept_file.unlink,
        lambda: kept_file.write_text("{}"),
        lambda: kept_file.write_bytes(b"\xff"),
        lambda: kept_file.write_text(json.dumps({**kept, "generator": "cyclonedx-python-lib 0"})),
        lambda: kept_file.write_text(json.dumps({**kept, "sbom": foreign})),
    ):
        damage()
        again = _build_json(project, tmp_path / "o2", index_url, env, "--sbom")
        assert again["cached"] is True
        assert Path(again["sbom"]).read_text() == made
        assert json.loads(kept_file.read_text()) == kept


def _strip_missing_keys(details: dict[str, Any]) -> None:
    details["slim"]["strip"] = {"files": 0, "bytes_saved": 0}


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(slim=3),
        lambda d: d.update(waived="numpy"),
        lambda d: d.update(slim={"rules": [{"rule": "tests"}]}),
        _strip_missing_keys,
        lambda d: d.update(size="garbage"),
        lambda d: d["size"].update(total_bytes=float("inf")),
    ],
)
def test_damaged_build_details_mean_a_rebuild(
    tmp_path: Path,
    index_url: str,
    cached: tuple[Path, dict[str, str]],
    damage: Callable[[dict[str, Any]], None],
) -> None:
    cache, env = cached
    project = make_project(tmp_path, "purepkg\n")
    first = _build_json(project, tmp_path / "o", index_url, env)
    (details_file,) = cache.rglob("details.json")
    details = json.loads(details_file.read_text())
    damage(details)
    details_file.write_text(json.dumps(details))
    # the text report, which reads every field of the summary
    argv = ["build", str(project), "-o", str(tmp_path / "o"), "--index-url", index_url]
    again = run_cli(*argv, env=env)
    assert again.returncode == 0, again.output
    assert "built " in again.stdout and "reused " not in again.stdout  # rebuilt, not reused
    assert (
        json.loads((tmp_path / "o" / Path(first["zip"]).name).with_suffix(".json").read_text())[
            "sha256"
        ]
        == first["sha256"]
    )
    assert _build_json(project, tmp_path / "o", index_url, env)["cached"] is True


def test_a_damaged_cache_entry_is_rebuilt(
    tmp_path: Path, index_url: str, cached: tuple[Path, dict[str, str]]
) -> None:
    cache, env = cached
    project = make_project(tmp_path, "purepkg\n")
    first = _build_json(project, tmp_path / "o", index_url, env)
    for cached_zip in cache.rglob("layer.zip"):
        cached_zip.write_bytes(b"garbage")
    again = _build_json(project, tmp_path / "o2", index_url, env)
    assert again["cached"] is False
    assert again["sha256"] == first["sha256"]


def test_manifest_names_the_wheel_each_distribution_came_from(
    tmp_path: Path, index_url: str, env: dict[str, str], dists: Path
) -> None:
    project = make_project(tmp_path, "purepkg\nnatpkg\n")
    build = _build_json(project, tmp_path / "o", index_url, env, "--python", "3.12", "--sbom")
    manifest = json.loads(Path(build["manifest_path"]).read_text())
    served = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in dists.glob("*.whl")}
    recorded = {d["name"]: d["wheel_sha256"] for d in manifest["distributions"]}
    assert recorded == {
        "helperpkg": served["helperpkg-1.2-py3-none-any.whl"],
        "natpkg": served["natpkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"],
        "purepkg": served["purepkg-1.0-py3-none-any.whl"],
    }
    sbom = json.loads(Path(build["sbom"]).read_text())
    hashes = {c["name"]: c["hashes"][0]["content"] for c in sbom["components"]}
    assert hashes["natpkg"] == recorded["natpkg"]


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_malformed_requirement_is_named_by_file_and_line(
    tmp_path: Path, index_url: str, env: dict[str, str], installer: str
) -> None:
    project = make_project(tmp_path, "helperpkg\nfoo bar baz\n")
    result = run_cli("build", "-r", "requirements.txt", "--python", "3.12", "--installer",
                     installer, "-o", str(tmp_path / "out"), "--index-url", index_url,
                     "--no-compile", env=env, cwd=project)  # fmt: skip
    assert result.returncode == 2, result.output
    # the file as the user typed it, the line number and the line, whichever installer parsed it
    assert f"error: requirements.txt:2: foo bar baz: {installer} could not read this line" in (
        result.stderr
    )


def test_requirement_location_from_pip_and_uv_output(tmp_path: Path) -> None:
    from layerkit.installer import requirement_location

    pip = "ERROR: Invalid requirement: 'foo bar' (from line 3 of /nowhere/req.txt)\n"
    assert requirement_location(pip) == "/nowhere/req.txt:3: foo bar"
    requirements = tmp_path / "req.txt"
    requirements.write_text("a\nb==1\nfoo bar\n")
    uv = f"error: Couldn't parse requirement in `{requirements}` at position 11\n"
    assert requirement_location(uv) == f"{requirements}:3: foo bar"
    missing = "error: Couldn't parse requirement in `/nowhere/x.txt` at position 1\n"
    assert requirement_location(missing) is None
    assert requirement_location("error: something else\n") is None


def _pack_records(pack: Path) -> int:
    """How many chunks a member-store pack holds (its trailer's count)."""
    trailer = pack.read_bytes()[-20:]
    assert trailer[:8] == b"LKMEMB01"
    return int.from_bytes(trailer[16:20], "little")


def test_a_rebuild_compresses_only_the_changed_dependency_and_writes_the_same_bytes(
    tmp_path: Path, index_url: str, cached: tuple[Path, dict[str, str]], env: dict[str, str]
) -> None:
    cache, cached_env = cached
    project = make_project(tmp_path, "purepkg\nnatpkg\n", 'python = "3.12"\n')
    cold = _build_json(project, tmp_path / "o", index_url, cached_env)
    packs = sorted((cache / "members").glob("*/*.pack"))
    assert len(packs) == 1
    # --force zips again: every member comes from the store, no new pack, the same bytes
    warm = _build_json(project, tmp_path / "o", index_url, cached_env, "--force")
    assert warm["cached"] is False and warm["sha256"] == cold["sha256"]
    assert sorted((cache / "members").glob("*/*.pack")) == packs
    # one more dependency: only its files are compressed, and the zip is the one a build with
    # empty caches writes
    (project / "requirements.txt").write_text("purepkg\nnatpkg\nfatpkg\n")
    changed = _build_json(project, tmp_path / "o", index_url, cached_env)
    (new_pack,) = set((cache / "members").glob("*/*.pack")) - set(packs)
    with zipfile.ZipFile(changed["zip"]) as layer:
        fatpkg_files = [n for n in layer.namelist() if "fatpkg" in n and not n.endswith("/")]
    assert 0 < _pack_records(new_pack) <= len(fatpkg_files) < _pack_records(packs[0])
    scratch_env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "scratch-cache")}
    scratch = _build_json(project, tmp_path / "o2", index_url, scratch_env)
    assert changed["sha256"] == scratch["sha256"] != cold["sha256"]


def test_targets_built_at_once_give_the_bytes_and_report_of_one_after_another(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "purepkg\nnatpkg\n")
    reports: dict[str, str] = {}
    outputs: dict[str, dict[str, bytes]] = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"o{jobs}"
        result = run_cli(
            "build", str(project), "--python", "3.12", "--arch", "x86_64", "--arch", "arm64",
            "--no-compile", "-o", str(out), "--index-url", index_url,
            "--jobs", jobs, env={**env, "LAYERKIT_CACHE_DIR": str(tmp_path / f"cache-{jobs}")},
        )  # fmt: skip
        assert result.returncode == 0, result.output
        reports[jobs] = result.stdout.replace(str(out), "OUT")
        outputs[jobs] = {p.name: p.read_bytes() for p in out.iterdir() if not p.is_dir()}
        installing = [line for line in result.stderr.splitlines() if "installing with" in line]
        assert len(installing) == 2
        assert all(line.startswith("python3.12-") for line in installing)  # names its target
    built = [line.split()[1] for line in reports["2"].splitlines() if line.startswith("built ")]
    assert built == [
        "OUT/proj-python3.12-arm64.zip",
        "OUT/proj-python3.12-x86_64.zip",
    ]  # matrix order
    assert reports["2"] == reports["1"]  # the same report, in the same order
    assert len(outputs["1"]) >= 4 and outputs["2"] == outputs["1"]  # zips and manifests


def test_a_failing_target_among_several_is_named(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "natpkg\n")
    result = run_cli(
        "build", str(project), "--python", "3.12", "--python", "3.13", "--no-compile",
        "-o", str(tmp_path / "o"), "--index-url", index_url, "--jobs", "2",
        env={**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 4, result.output
    assert "error: python3.13-x86_64: " in result.stderr
    assert "error: python3.12" not in result.stderr
