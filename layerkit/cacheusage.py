"""What the build cache holds, and pruning it to a size: `layerkit cache info` / `cache prune`.

The cache directory (`layerkit.cache.cache_dir`) holds layerkit's own parts — ``builds/`` (a zip,
manifest and build details per input digest, and the record a rebuild by parts starts from,
`layerkit.layerparts`), ``lineage/`` (the last recorded build of each set of options: a few
bytes each), ``members/`` (compressed zip members, `layerkit.members`), ``bytecode/`` (`.pyc`
by source digest, `layerkit.bytecode`), ``interpreters/`` (which interpreter was found) — and,
when ``LAYERKIT_CACHE_DIR`` is set, the
installers' own caches (``uv/``, ``pip/``), which their tools manage (``uv cache prune``).

Each part keeps its own bound: members and bytecode after every build, builds after every build
stored (`trim_builds`, which never removes the build just stored).
`prune_cache` removes what was used least recently across builds, members and bytecode until
they fit a size: a build entry counts as used when it was stored or last placed into an output
directory, a pack or `.pyc` when it last served a build (marked at most once an hour or a day).
Anything removed is made again by the next build that needs it, with the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from layerkit.bytecode import STORE_LIMIT_BYTES as BYTECODE_LIMIT_BYTES
from layerkit.members import STORE_LIMIT_BYTES as MEMBERS_LIMIT_BYTES

DEFAULT_PRUNE_BYTES = 2 * 1024 * 1024 * 1024  # `cache prune` without --max-size
# ~25 data stacks (a zip of numpy+pandas+pyarrow is ~80 MB); a layer near Lambda's limit is a few
BUILDS_LIMIT_BYTES = 2 * 1024 * 1024 * 1024
PRUNABLE = ("builds", "members", "bytecode")
_OTHER_PARTS = ("interpreters", "uv", "pip")
_PRUNED_PREFIX = "pruned-"  # tmp/pruned-<uuid>: a build entry being removed
_LIMITS = {
    "builds": BUILDS_LIMIT_BYTES,
    "members": MEMBERS_LIMIT_BYTES,
    "bytecode": BYTECODE_LIMIT_BYTES,
}


@dataclass(frozen=True)
class CachePart:
    """One directory of the cache: how many entries, how many bytes, its standing bound."""

    name: str
    path: Path
    entries: int
    bytes: int
    limit_bytes: int | None  # the bound layerkit keeps after every build; None: none
    prunable: bool  # whether `cache prune` removes from it


@dataclass(frozen=True)
class CacheInfo:
    cache_dir: Path
    total_bytes: int
    parts: tuple[CachePart, ...]


@dataclass(frozen=True)
class PrunedPart:
    name: str
    entries: int
    bytes: int


@dataclass(frozen=True)
class PruneResult:
    cache_dir: Path
    max_bytes: int
    dry_run: bool
    before_bytes: int  # of builds, members and bytecode
    after_bytes: int
    removed: tuple[PrunedPart, ...]


@dataclass(frozen=True)
class _Item:
    """A unit prune removes whole: a build entry, a pack, a .pyc."""

    last_used: float
    size: int
    path: Path
    part: str


def _tree_bytes(path: Path) -> tuple[int, float]:
    """Bytes of the regular files under `path` and the latest mtime seen (of `path` too)."""
    total = 0
    latest = 0.0
    with contextlib.suppress(OSError):
        latest = path.stat().st_mtime
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = Path(dirpath, name).lstat()
                total += st.st_size
                latest = max(latest, st.st_mtime)
    return total, latest


def _files(root: Path, pattern: str, part: str) -> list[_Item]:
    items: list[_Item] = []
    for path in root.glob(pattern):
        with contextlib.suppress(OSError):
            st = path.stat()
            items.append(_Item(st.st_mtime, st.st_size, path, part))
    return items


def _build_items(root: Path) -> list[_Item]:
    items: list[_Item] = []
    for entry in (root / "builds").glob("??/*"):
        if entry.is_dir():
            size, last_used = _tree_bytes(entry)  # a placement writes into placed/
            items.append(_Item(last_used, size, entry, "builds"))
    return items


def _items(root: Path) -> list[_Item]:
    """Everything prune may remove, each with when it was last used."""
    items = _build_items(root)
    items += _files(root / "members", "*/*.pack", "members")
    items += _files(root / "bytecode", "??/*.pyc", "bytecode")
    return items


def cache_info(root: Path) -> CacheInfo:
    """What each part of the cache at `root` holds."""
    by_part: dict[str, list[_Item]] = {name: [] for name in PRUNABLE}
    for item in _items(root):
        by_part[item.part].append(item)
    parts = [
        CachePart(
            name,
            root / name,
            len(items),
            sum(i.size for i in items),
            _LIMITS.get(name),
            prunable=True,
        )
        for name, items in by_part.items()
    ]
    for name in _OTHER_PARTS:
        path = root / name
        if path.is_dir():
            size, _ = _tree_bytes(path)
            entries = sum(1 for _ in path.iterdir())
            parts.append(CachePart(name, path, entries, size, None, prunable=False))
    return CacheInfo(root, sum(p.bytes for p in parts), tuple(parts))


def _remove(item: _Item, root: Path) -> bool:
    if item.part != "builds":
        try:
            item.path.unlink()
        except FileNotFoundError:
            return False
        return True
    # Out of sight first (one rename), then deleted: a build never finds half an entry.
    doomed = root / "tmp" / f"{_PRUNED_PREFIX}{uuid.uuid4().hex}"
    try:
        doomed.parent.mkdir(parents=True, exist_ok=True)
        item.path.rename(doomed)
    except OSError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def _remove_pruned_leftovers(root: Path) -> None:
    """Entries renamed out of sight whose removal was cut short (Ctrl-C, a kill): nothing uses
    them, and `cache info` does not count them. Another process removing one at the same time
    does no harm."""
    for leftover in (root / "tmp").glob(f"{_PRUNED_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _remove_oldest(
    items: list[_Item], root: Path, *, max_bytes: int, dry_run: bool = False
) -> tuple[int, dict[str, list[int]]]:
    """Remove `items` used least recently until the rest hold at most `max_bytes`: the bytes
    left, and per part how many items and bytes went."""
    if not dry_run:
        _remove_pruned_leftovers(root)
    total = sum(i.size for i in items)
    removed: dict[str, list[int]] = {name: [0, 0] for name in PRUNABLE}
    for item in sorted(items, key=lambda i: (i.last_used, str(i.path))):
        if total <= max_bytes:
            break
        if dry_run or _remove(item, root):
            total -= item.size
            removed[item.part][0] += 1
            removed[item.part][1] += item.size
    return total, removed


def trim_builds(root: Path, *, keep: Path, limit_bytes: int = BUILDS_LIMIT_BYTES) -> int:
    """Hold the cached builds under `root` to `limit_bytes`, least recently used first, never
    removing `keep` (the entry just stored); the number of entries removed."""
    items = [item for item in _build_items(root) if item.path != keep]
    kept_bytes = _tree_bytes(keep)[0]
    _left, removed = _remove_oldest(items, root, max_bytes=max(0, limit_bytes - kept_bytes))
    return removed["builds"][0]


def prune_cache(root: Path, *, max_bytes: int, dry_run: bool = False) -> PruneResult:
    """Remove the builds, member packs and `.pyc` used least recently until those parts hold at
    most `max_bytes` together (0: all of them); with `dry_run`, only say what would go."""
    items = _items(root)
    before = sum(i.size for i in items)
    total, removed = _remove_oldest(items, root, max_bytes=max_bytes, dry_run=dry_run)
    pruned = tuple(PrunedPart(name, count, size) for name, (count, size) in removed.items())
    return PruneResult(root, max_bytes, dry_run, before, total, pruned)
