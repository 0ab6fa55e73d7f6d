"""`layerkit cache info` / `cache prune`: what the build cache holds, least recently used out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from layerkit.cache import BuildCache
from layerkit.cacheusage import cache_info, prune_cache, trim_builds
from tests.build_fixtures import make_project
from tests.support import run_cli
from tests.test_cache import make_manifest, make_zip


def _build(project: Path, out: Path, index_url: str, env: dict[str, str]) -> dict[str, Any]:
    result = run_cli("build", str(project), "-o", str(out), "--index-url", index_url,
                     "--python", "3.12", "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    build: dict[str, Any] = json.loads(result.stdout)["builds"][0]
    return build


def _parts(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {part["name"]: part for part in document["parts"]}


def test_info_counts_builds_and_members_and_prune_removes_the_oldest_first(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    cache = tmp_path / "cache"
    env = {**env, "LAYERKIT_CACHE_DIR": str(cache)}
    empty = json.loads(run_cli("cache", "info", "--json", env=env).stdout)
    assert empty["total_bytes"] == 0 and empty["cache_dir"] == str(cache)
    old = _build(make_project(tmp_path / "a", "purepkg\n"), tmp_path / "o1", index_url, env)
    new = _build(make_project(tmp_path / "b", "fatpkg\n"), tmp_path / "o2", index_url, env)
    info = json.loads(run_cli("cache", "info", "--json", env=env).stdout)
    parts = _parts(info)
    assert parts["builds"]["entries"] == 2
    assert parts["members"]["entries"] == 2  # one pack per zip that compressed something new
    assert (
        parts["members"]["limit_bytes"] == 1024**3 and parts["builds"]["limit_bytes"] == 2 * 1024**3
    )
    assert parts["builds"]["bytes"] >= old["zipped_bytes"] + new["zipped_bytes"]
    assert info["total_bytes"] == sum(p["bytes"] for p in info["parts"])
    text = run_cli("cache", "info", env=env)
    assert text.returncode == 0 and str(cache) in text.stdout and "members" in text.stdout

    # the first build's entry and pack were used least recently: they go first
    (old_entry,) = [
        p for p in cache.glob("builds/*/*") if old["sha256"] in (p / "manifest.json").read_text()
    ]
    oldest_pack = min(cache.glob("members/*/*.pack"), key=lambda p: p.name)  # named by time
    for path in [old_entry, *old_entry.rglob("*"), oldest_pack]:
        os.utime(path, (1_000_000_000, 1_000_000_000))
    kept = parts["builds"]["bytes"] + parts["members"]["bytes"] + parts["bytecode"]["bytes"]
    dry = json.loads(
        run_cli(
            "cache", "prune", "--dry-run", "--max-size", str(kept - 1), "--json", env=env
        ).stdout
    )
    assert dry["dry_run"] and dry["before_bytes"] == kept and dry["after_bytes"] < kept
    assert _parts(json.loads(run_cli("cache", "info", "--json", env=env).stdout)) == parts
    result = prune_cache(cache, max_bytes=kept - 1)
    assert {r.name: r.entries for r in result.removed} == {"builds": 1, "members": 0, "bytecode": 0}
    assert not old_entry.exists() and oldest_pack.exists()
    # the newer build is still served from the cache; the older one is built again
    assert _build(make_project(tmp_path / "c", "fatpkg\n"), tmp_path / "o3", index_url, env)[
        "cached"
    ]
    assert not _build(make_project(tmp_path / "d", "purepkg\n"), tmp_path / "o4", index_url, env)[
        "cached"
    ]
    everything = json.loads(run_cli("cache", "prune", "--all", "--json", env=env).stdout)
    assert everything["after_bytes"] == 0
    assert cache_info(cache).parts[0].entries == 0


def test_prune_refuses_all_with_a_size_and_reads_sizes(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    both = run_cli("cache", "prune", "--all", "--max-size", "1GB", env=env)
    assert both.returncode == 2 and "exclude each other" in both.stderr
    bad = run_cli("cache", "prune", "--max-size", "lots", env=env)
    assert bad.returncode == 2 and "cannot read size" in bad.stderr
    fine = run_cli("cache", "prune", env=env)
    assert fine.returncode == 0 and "limit 2.0 GiB" in fine.stdout


def test_storing_a_build_holds_the_builds_to_their_bound(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    keys = [c * 64 for c in "abc"]
    for age, key in enumerate(keys):
        zip_path = make_zip(tmp_path / key / "deps.zip", b"PK\x05\x06" + bytes(4018))
        cache.store(key, zip_path, make_manifest(zip_path, key))
        for path in [cache.entry_dir(key), *cache.entry_dir(key).rglob("*")]:
            os.utime(path, (1_000_000_000 + age, 1_000_000_000 + age))
    entry_bytes = cache_info(cache.root).parts[0].bytes // 3
    # a bound of two entries: the trim after storing the third removes the least recently used ("a"), and
    # the one just stored stays even when it alone is over the bound
    trimmed = trim_builds(cache.root, keep=cache.entry_dir("c" * 64), limit_bytes=2 * entry_bytes)
    assert trimmed == 1
    assert [cache.lookup(k) is not None for k in keys] == [False, True, True]
    assert trim_builds(cache.root, keep=cache.entry_dir("c" * 64), limit_bytes=1) == 1
    assert [cache.lookup(k) is not None for k in keys] == [False, False, True]


def test_an_entry_whose_removal_was_cut_short_goes_at_the_next_trim_or_prune(
    tmp_path: Path,
) -> None:
    """A pruned entry is renamed to tmp/pruned-* and then deleted; a Ctrl-C in between left it
    there for good, counted nowhere. The next trim (after any build) or prune removes it, and
    leaves a build's scratch directory alone."""
    cache = BuildCache(tmp_path / "cache")
    scratch = cache.root / "tmp" / f"{'a' * 64}.{os.getpid()}.0123"  # a store under way
    scratch.mkdir(parents=True)
    for name in ("pruned-0a1b", "pruned-2c3d"):
        (cache.root / "tmp" / name / "placed").mkdir(parents=True)
        (cache.root / "tmp" / name / "deps.zip").write_bytes(bytes(4096))
    prune_cache(cache.root, max_bytes=1 << 30, dry_run=True)
    assert len(list((cache.root / "tmp").glob("pruned-*"))) == 2  # a dry run removes nothing
    trim_builds(cache.root, keep=cache.entry_dir("c" * 64))
    assert list((cache.root / "tmp").iterdir()) == [scratch]
    (cache.root / "tmp" / "pruned-4e5f").mkdir()
    prune_cache(cache.root, max_bytes=1 << 30)
    assert list((cache.root / "tmp").iterdir()) == [scratch]
