"""Safe writes (issue 19): no write through a planted symlink, stale leftovers removed, one build
at a time per output directory, the zip and its manifest from the same build."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from layerkit.archive import ArchiveMember, write_zip
from layerkit.cli import run
from layerkit.errors import ExitCode, FilesystemError
from layerkit.safewrite import remove_stale_partials, remove_stale_staging, write_text_atomic
from tests.build_fixtures import make_project
from tests.support import run_cli

DEAD_PID = 2**22 + 17  # above the kernel's pid_max default (4,194,304): never a live process


def _plant(directory: Path, name: str, victim: Path) -> list[Path]:
    """Symlinks at every temporary name the old code used (pid-based) pointing at `victim`."""
    links = [directory / f".{name}.partial-{os.getpid()}"]
    for link in links:
        link.symlink_to(victim)
    return links


def test_write_zip_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    _plant(out, "layer.zip", victim)
    source = tmp_path / "a.py"
    source.write_text("a = 1\n")
    write_zip([ArchiveMember("python/a.py", source)], out / "layer.zip", threads=1)
    assert victim.read_text() == "precious"
    assert (out / "layer.zip").stat().st_size > 0


def test_a_symlink_at_the_destination_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    dest = tmp_path / "report.html"
    dest.symlink_to(victim)
    _plant(tmp_path, "report.html", victim)
    write_text_atomic(dest, "<html></html>")
    assert victim.read_text() == "precious"
    assert not dest.is_symlink() and dest.read_text() == "<html></html>"


def test_written_files_are_readable_as_the_umask_says(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "m.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644


def test_init_refuses_a_symlinked_github_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / ".github").symlink_to(elsewhere)
    assert run(["init", str(project), "-t", "github-actions"]) == ExitCode.FILESYSTEM
    assert list(elsewhere.rglob("*")) == []


def test_write_text_atomic_with_a_root_refuses_symlinked_directories(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(FilesystemError, match="is a symlink"):
        write_text_atomic(tmp_path / "link" / "x.txt", "x", root=tmp_path)
    assert not (tmp_path / "real" / "x.txt").exists()


def test_stale_partials_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f".deps.zip.partial-{DEAD_PID}-abc123"
    alive = tmp_path / f".deps.zip.partial-{os.getppid()}-abc123"
    mine = tmp_path / f".deps.zip.partial-{os.getpid()}-abc123"
    for path in (dead, alive, mine):
        path.write_text("half")
    assert remove_stale_partials(tmp_path) == [dead.name]
    assert alive.exists() and mine.exists()


def test_stale_staging_directories_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"layerkit-{DEAD_PID}-xyz"
    (dead / "site").mkdir(parents=True)
    alive = tmp_path / f"layerkit-{os.getppid()}-xyz"
    alive.mkdir()
    assert remove_stale_staging(tmp_path) == [dead.name]
    assert alive.exists()


def _build(project: Path, out: Path, index_url: str) -> list[str]:
    return [sys.executable, "-m", "layerkit", "build", str(project), "-r",
            str(project / "requirements.txt"), "--python", "3.12", "--arch", "x86_64",
            "--name", "deps", "-o", str(out), "--index-url", index_url, "--force"]  # fmt: skip


def test_a_build_removes_leftovers_of_a_killed_build(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    leftover = out / f".deps-python3.12-x86_64.zip.partial-{DEAD_PID}-k1ll3d"
    leftover.write_bytes(b"PK half a zip")
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli(*_build(project, out, index_url)[3:], env=env)
    assert result.returncode == 0, result.stderr
    assert not leftover.exists()


def test_a_second_build_into_the_same_directory_waits_for_the_first(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    project = make_project(tmp_path, "purepkg\n")
    held = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # another build is running
        child = subprocess.Popen(
            _build(project, out, index_url), env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # Wait for the child to say it waits (a fixed sleep raced the child's start-up on a
        # loaded machine), then check it really wrote nothing while the lock was held.
        assert child.stderr is not None
        said: list[str] = []
        watchdog = threading.Timer(120, child.kill)  # never hang the suite on a silent child
        watchdog.start()
        for line in child.stderr:
            said.append(line)
            if "waiting for another layerkit build" in line:
                break
        watchdog.cancel()
        assert child.poll() is None, "".join(said)  # still waiting
        assert not list(out.glob("*.zip"))
        fcntl.flock(held, fcntl.LOCK_UN)
    finally:
        os.close(held)
    _, rest = child.communicate(timeout=300)
    stderr = "".join(said) + rest
    assert child.returncode == 0, stderr
    assert "waiting for another layerkit build" in stderr
    assert len(list(out.glob("*.zip"))) == 1


def test_two_concurrent_builds_leave_a_matching_zip_and_manifest(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    projects = [make_project(tmp_path / f"p{i}", req) for i, req in
                enumerate(["purepkg\n", "purepkg\nnatpkg==1.0\n"])]  # fmt: skip
    children = [
        subprocess.Popen(_build(p, out, index_url), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for p in projects
    ]  # fmt: skip
    for child in children:
        _, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr
    zip_path = out / "deps-python3.12-x86_64.zip"
    manifest = json.loads(zip_path.with_suffix(".json").read_text())
    assert manifest["sha256"] == hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert [p.name for p in out.iterdir() if ".partial-" in p.name] == []


def test_the_old_manifest_goes_just_before_a_new_zip_replaces_the_old_one(tmp_path: Path) -> None:
    dest, manifest = tmp_path / "deps.zip", tmp_path / "deps.json"
    dest.write_bytes(b"old zip")
    manifest.write_text("old manifest")
    missing = ArchiveMember("python/gone.py", tmp_path / "gone.py")
    with pytest.raises(FilesystemError):
        write_zip([missing], dest, threads=1, stale=(manifest,))
    assert (dest.read_bytes(), manifest.read_text()) == (b"old zip", "old manifest")
    source = tmp_path / "a.py"
    source.write_text("a = 1\n")
    write_zip([ArchiveMember("python/a.py", source)], dest, threads=1, stale=(manifest,))
    assert dest.read_bytes() != b"old zip" and not manifest.exists()
