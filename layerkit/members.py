"""Compressed zip members kept across builds, so a rebuild compresses only what changed.

The zip writer (`layerkit.archive`) deflates every file in 1 MiB chunks, each primed with the
32 KiB before it. A chunk's deflate output depends only on the codec (`Codec.stream_identity`:
library and its runtime version, level, strategy, window, chunk size, machine type), the chunk's
bytes, its priming dictionary and whether it ends the file. The SHA-256 of those is the chunk's
key here; for a file of one chunk (nearly every file of a layer) that is the file's own digest
under the codec's identity. A hit hands the writer the stored deflate bytes instead of
compressing, so the zip is byte for byte the one a from-scratch build writes
(tests/test_archive.py compares them).

**Layout.** ``<cache>/members/<identity digest>/<name>.pack``: one pack per zip that compressed
something new, holding the new chunks' deflate bytes, then an index of fixed-size records (key,
offset, length, kind, SHA-256 of the bytes) and a trailer. A pack is written under a temporary
name and renamed when the zip is complete, so a reader never sees half of one; a killed build's
leftover is removed by the next write. A file that deflate does not shrink is recorded as "stored"
with no bytes.

**Integrity.** Each hit's bytes are hashed and compared with their record before use; a mismatch
(or an unreadable index) means a miss: the chunk is compressed again, never shipped from the
cache, and the damaged pack is removed when the zip is done.

**Bound.** The packs of every codec together stay under `STORE_LIMIT_BYTES`: after a write, the
packs used least recently go (a pack that serves a hit is marked used). `layerkit cache prune`
applies the same bound, or a smaller one, on demand.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import re
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from layerkit.safewrite import mark_used, remove_stale

STORE_LIMIT_BYTES = 1024 * 1024 * 1024  # several data stacks' worth of compressed members
_MAGIC = b"LKMEMB01"
_RECORD = struct.Struct("<32sQIB32s")  # key, offset, length, kind, SHA-256 of the bytes
_TRAILER = struct.Struct("<8sQI")  # magic, offset of the index, record count
_DEFLATED = 0
_STORED = 1  # deflate did not shrink it: the writer stores the file's own bytes
_PACK_SUFFIX = ".pack"
# <name>.pack.partial-<pid>: a pack being written (the pid tells a dead writer's leftovers)
_PARTIAL = re.compile(r"^[0-9a-f-]+\.pack\.partial-(\d+)$")
_TOUCH_AFTER_SECONDS = 3600  # a pack used again after this long is marked used (for the bound)


@dataclass(frozen=True)
class Member:
    """A chunk's compressed form: its deflate bytes, or `stored` (keep the raw bytes)."""

    payload: bytes
    stored: bool


def chunk_key(identity: bytes, data: bytes, zdict: bytes, last: bool) -> bytes:
    """The store's name for the deflate output of `data` primed with `zdict` under a codec."""
    digest = hashlib.sha256(identity)
    digest.update(struct.pack("<IB", len(zdict), last))
    digest.update(zdict)
    digest.update(data)
    return digest.digest()


@dataclass(frozen=True)
class _Location:
    pack: Path
    fd: int
    offset: int
    length: int
    stored: bool
    sha256: bytes


@dataclass(frozen=True)
class _Pack:
    """A pack as a session reads it: its index (`_RECORD`s, each parsed only when its key is
    asked for: a store of many packs holds records by the hundred thousand, and a zip asks for
    a few thousand) and where that index begins (every payload lies before it)."""

    path: Path
    fd: int
    records: bytes
    index_offset: int

    @property
    def keys(self) -> list[bytes]:
        size = _RECORD.size
        return [self.records[at : at + 32] for at in range(0, len(self.records), size)]

    def location(self, number: int) -> _Location | None:
        """Record `number`; None when it is damaged (a kind or a length that cannot be)."""
        _key, offset, length, kind, digest = _RECORD.unpack_from(
            self.records, number * _RECORD.size
        )
        if kind not in (_DEFLATED, _STORED) or offset + length > self.index_offset:
            return None
        return _Location(self.path, self.fd, offset, length, kind == _STORED, digest)


def _read_pack(path: Path, fd: int) -> _Pack:
    """The index of a pack; ValueError if its trailer or index is damaged."""
    size = os.fstat(fd).st_size
    if size < _TRAILER.size:
        raise ValueError("too short")
    magic, index_offset, count = _TRAILER.unpack(os.pread(fd, _TRAILER.size, size - _TRAILER.size))
    if magic != _MAGIC or index_offset + count * _RECORD.size + _TRAILER.size != size:
        raise ValueError("bad trailer")
    raw = os.pread(fd, count * _RECORD.size, index_offset)
    if len(raw) != count * _RECORD.size:
        raise ValueError("short index")
    return _Pack(path, fd, raw, index_offset)


class MemberSession:
    """The store as one zip write sees it: `get` from any thread, `add` from the writer's."""

    def __init__(self, directory: Path, store: MemberStore) -> None:
        self._directory = directory
        self._store = store
        self._fds: list[int] = []
        self._packs: list[_Pack] = []
        self._firsts: list[int] = []  # the number of each pack's first record, in `_index`
        self._index: dict[bytes, int] = {}  # key -> record number, counted across the packs
        self._used: set[Path] = set()
        self._damaged: set[Path] = set()
        self._lock = threading.Lock()
        self._added: set[bytes] = set()
        self._records: list[bytes] = []
        self._partial: Path | None = None
        self._fh: BinaryIO | None = None
        self._offset = 0
        self._broken = False  # the new pack could not be written: keep nothing more
        self.hits = 0
        self.misses = 0
        self._load()

    def _load(self) -> None:
        packs = sorted(self._directory.glob(f"*{_PACK_SUFFIX}"), key=_mtime)
        first = 0
        for path in packs:  # oldest first: a newer record of the same key wins
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            self._fds.append(fd)
            try:
                pack = _read_pack(path, fd)
            except (OSError, ValueError):
                self._damaged.add(path)
                continue
            keys = pack.keys
            self._packs.append(pack)
            self._firsts.append(first)
            self._index.update(zip(keys, range(first, first + len(keys)), strict=True))
            first += len(keys)

    def _pack_of(self, number: int) -> tuple[_Pack, int]:
        """The pack of record `number`, and its number within that pack."""
        slot = bisect.bisect_right(self._firsts, number) - 1
        return self._packs[slot], number - self._firsts[slot]

    def get(self, key: bytes) -> Member | None:
        """The stored member `key`, checked against its digest; None when absent or damaged."""
        number = self._index.get(key)
        if number is None:
            return None
        pack, within = self._pack_of(number)
        if pack.path in self._damaged:
            return None
        where = pack.location(within)
        payload = b""
        if where is not None:
            try:
                payload = os.pread(where.fd, where.length, where.offset)
            except OSError:
                payload = b""
        if (
            where is None
            or len(payload) != where.length
            or hashlib.sha256(payload).digest() != where.sha256
        ):
            with self._lock:
                self._damaged.add(pack.path)
            return None
        with self._lock:
            self._used.add(pack.path)
            self.hits += 1
        return Member(payload, where.stored)

    def add(self, key: bytes, member: Member) -> None:
        """Keep a member compressed by this write (the writer's thread only). A store that
        cannot be written only costs the next zip the compression: the zip goes on."""
        known = self._index.get(key)
        kept = known is not None and self._pack_of(known)[0].path not in self._damaged
        if self._broken or key in self._added or kept:
            return
        self._added.add(key)
        self.misses += 1
        payload = b"" if member.stored else member.payload
        try:
            if self._fh is None:
                self._directory.mkdir(parents=True, exist_ok=True)
                remove_stale(self._directory, _PARTIAL)
                name = f"{time.time_ns():x}-{uuid.uuid4().hex}{_PACK_SUFFIX}"
                self._partial = self._directory / f"{name}.partial-{os.getpid()}"
                self._fh = self._partial.open("xb")
            self._fh.write(payload)
        except OSError:
            self._broken = True
            return
        digest = hashlib.sha256(payload).digest()
        kind = _STORED if member.stored else _DEFLATED
        self._records.append(_RECORD.pack(key, self._offset, len(payload), kind, digest))
        self._offset += len(payload)

    def close(self, *, complete: bool) -> None:
        """Finish the write: keep the new pack when the zip is `complete`, drop damaged packs,
        mark the packs used, and hold the store to its bound."""
        fh, partial = self._fh, self._partial
        self._fh = self._partial = None
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        for pack in self._damaged:
            with contextlib.suppress(OSError):
                pack.unlink()
        if fh is not None and partial is not None:
            complete = complete and not self._broken
            try:
                if complete:
                    fh.write(b"".join(self._records))
                    fh.write(_TRAILER.pack(_MAGIC, self._offset, len(self._records)))
                fh.close()
                if complete:
                    partial.rename(partial.with_name(partial.name.rsplit(".partial-", 1)[0]))
            except OSError:
                pass  # only an optimisation is lost
            finally:
                with contextlib.suppress(OSError):
                    partial.unlink(missing_ok=True)
        for pack in self._used - self._damaged:
            mark_used(pack, after_seconds=_TOUCH_AFTER_SECONDS)
        if complete and fh is not None:
            self._store.trim()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class StoreUsage:
    """What a store holds: its packs and their bytes."""

    packs: int
    bytes: int


class MemberStore:
    """Packs of compressed members under `root` (``<cache>/members``), one directory per codec."""

    def __init__(self, root: Path, *, limit_bytes: int = STORE_LIMIT_BYTES) -> None:
        self.root = root
        self.limit_bytes = limit_bytes

    def session(self, identity: str) -> MemberSession:
        """The store for one zip written by the codec `identity` (see `Codec.stream_identity`)."""
        name = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
        return MemberSession(self.root / name, self)

    def _packs(self) -> list[tuple[float, int, Path]]:
        found: list[tuple[float, int, Path]] = []
        for pack in self.root.glob(f"*/*{_PACK_SUFFIX}"):
            with contextlib.suppress(OSError):
                st = pack.stat()
                found.append((st.st_mtime, st.st_size, pack))
        return found

    def usage(self) -> StoreUsage:
        packs = self._packs()
        return StoreUsage(len(packs), sum(size for _, size, _ in packs))

    def trim(self, limit_bytes: int | None = None) -> int:
        """Remove the packs used least recently while the store is over `limit_bytes` (default:
        its own limit); return the bytes freed."""
        limit = self.limit_bytes if limit_bytes is None else limit_bytes
        packs = self._packs()
        total = sum(size for _, size, _ in packs)
        freed = 0
        for _, size, pack in sorted(packs):
            if total - freed <= limit:
                break
            with contextlib.suppress(OSError):
                pack.unlink()
                freed += size
        return freed
