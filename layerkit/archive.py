"""The one place layer zips are written: reproducible by construction, parallel, atomic on disk.

Reproducibility rules: entries are sorted; every timestamp is ``SOURCE_DATE_EPOCH`` (floored at
1980-01-01, read as UTC) or 1980-01-01; modes are 0644, or 0755 where any exec bit is set
(directories 0755); created by "unix"; no extra fields (a ZIP64 field only on an entry or archive
too large for the classic fields); no data descriptors; no comment.

Speed: files are cut into 1 MiB chunks that are deflated on every core (the deflate libraries
release the GIL). Like pigz, each chunk after the first is primed with the previous 32 KiB of the
file as a dictionary and ends on a sync flush (the last one finishes the stream), so concatenated
chunks form one ordinary deflate stream any unzip reads. Chunking depends on the data only, so the
bytes are identical for every thread count, including the single-threaded reference (threads=1).
The writer consumes chunks in member order with a bounded number in flight (memory stays a few MiB
per thread whatever the layer's size); a file spanning several chunks gets its local header
patched with its CRC and sizes once its last chunk is written.

Codecs were chosen by measurement on a numpy+pandas+pyarrow tree (268 MB, 1 MiB chunks, one
core): stdlib zlib level 6 40 MB/s; zlib-ng level 6 94 MB/s, level 5 113 MB/s at +0.3% (about
1.02x the size of ``zip -r``'s output, inside the 3% we allow the default); isal level 1 610 MB/s
at +13%; zlib-ng level 9 34 MB/s at -3%. A file that deflate does not shrink (and that fits in one
chunk) is stored, as ``zip -r`` does. The codec's name, version and level and the host's machine
type are part of the build cache key (`Codec.identity`): neither zlib-ng nor zlib promises the same
bytes across versions, and zlib-ng's SIMD paths are known to differ between x86_64 and aarch64.
So the bytes are the same for any thread count, umask, TZ or mtimes on one kind of machine; a zip
built elsewhere has the same contents, not necessarily the same digest.

Incremental: with a `MemberStore` (``<cache>/members``, see `layerkit.members`), each chunk's
deflate output is kept under the SHA-256 of the codec's full identity (`Codec.stream_identity`:
also the library's runtime version, strategy and window), the chunk, its priming dictionary and
whether it ends the file. A later zip copies a kept chunk's bytes, checked against their digest,
instead of compressing it again: after one dependency changes, only its files are compressed, and
the zip is byte for byte the one a build with an empty store writes.

The zip is written to a temporary name in the output directory (made with O_EXCL, see
`layerkit.safewrite`) and renamed into place only when complete, so a failure never leaves a
half-written zip behind and a planted symlink is never written through.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import platform
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from layerkit.config import CompressionName
from layerkit.errors import FilesystemError
from layerkit.members import Member, MemberSession, MemberStore, chunk_key
from layerkit.safewrite import commit, discard_partial, filesystem_error, temporary_beside

if TYPE_CHECKING:
    from layerkit.contents import FileEntry

ZIP_EPOCH = 315_532_800  # 1980-01-01T00:00:00Z, the earliest time a zip can store
COMPRESSION_LEVELS: dict[CompressionName, int] = {"fast": 1, "default": 5, "small": 9}
CHUNK_SIZE = 1 << 20
_WINDOW = 32 * 1024  # deflate's history: what a chunk may refer back to
_MAX_IN_FLIGHT = 64 << 20  # input bytes read but not yet written, whatever the core count
# Chunks this large are hashed and looked up in the member store by a worker, beside the reader
# (a warm zip of numpy + pandas + pyarrow, 2.7k files: 0.60 -> 0.52 s on 2 cores).
_LOOKED_UP_BY_WORKERS = 256 << 10
_FILE_MODE = 0o100644
_EXEC_MODE = 0o100755
_DIR_MODE = 0o040755
_MSDOS_DIRECTORY = 0x10
_MADE_BY_UNIX = 3 << 8
_UTF8_FLAG = 0x800
_STORED = 0
_DEFLATED = 8
_WBITS = -15  # raw deflate, 32 KiB window
_MEM_LEVEL = 8
_STRATEGY = 0  # Z_DEFAULT_STRATEGY
# Beyond these the classic fields overflow and ZIP64 records take over (module constants so a test
# can lower them instead of writing 4 GiB).
_ZIP64_LIMIT = 0xFFFF_FFFF
_ZIP64_COUNT_LIMIT = 0xFFFF
_MAX32 = 0xFFFF_FFFF  # "see the ZIP64 record" in a 32-bit field
_MAX16 = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_END64_LOCATOR = struct.Struct("<IIQI")
_MAX_YEAR = 2107  # the DOS date field ends here


@dataclass(frozen=True)
class CopiedEntry:
    """A file entry of a zip this module wrote, to be copied as it is: its compressed bytes
    (`length` of them at `offset`, its local header at `header_offset`) and the header fields
    that go with them."""

    header_offset: int
    offset: int
    length: int
    flags: int
    method: int
    external_attr: int
    crc: int
    size: int
    zip64: bool


@dataclass(frozen=True)
class ArchiveMember:
    """One zip entry: a file copied from `source`, or a directory when `source` is None. With
    `copied`, `source` is a zip this module wrote and the entry's compressed bytes are copied
    from it rather than compressed again (`copied_members`)."""

    arcname: str
    source: Path | None
    executable: bool = False
    copied: CopiedEntry | None = None

    @property
    def is_dir(self) -> bool:
        return self.source is None


@dataclass(frozen=True)
class ZipResult:
    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    entry_count: int
    chunks_reused: int = 0  # deflate chunks copied from the member store
    chunks_compressed: int = 0  # chunks compressed now and added to the member store


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


class _DeflateModule(Protocol):
    """What zlib, zlib_ng.zlib_ng and isal.isal_zlib have in common."""

    Z_SYNC_FLUSH: int
    Z_FINISH: int

    def compressobj(  # noqa: PLR0917 - zlib's own signature
        self,
        level: int,
        method: int,
        wbits: int,
        memLevel: int,
        strategy: int,
        zdict: bytes = ...,
    ) -> _Compressor: ...

    def crc32(self, data: bytes, value: int = ..., /) -> int: ...


@dataclass(frozen=True)
class Codec:
    """A deflate implementation and level: `--compression` maps to one of these."""

    distribution: str  # the PyPI name
    module: str  # the deflate module, inside a package that has a `__version__`
    level: int

    def load(self) -> _DeflateModule:
        module: _DeflateModule = importlib.import_module(self.module)
        return module

    def identity(self) -> str:
        """What decides the compressed bytes (a cache input), e.g.
        ``zlib-ng 1.1.0 level 5 chunk 1048576 on x86_64``."""
        # The package's own `__version__`: importing importlib.metadata would cost a no-op
        # rebuild ~10 ms, the package (not its deflate module) well under one.
        package = importlib.import_module(self.module.partition(".")[0])
        version = str(package.__version__)
        machine = platform.machine()
        return f"{self.distribution} {version} level {self.level} chunk {CHUNK_SIZE} on {machine}"

    def stream_identity(self, module: _DeflateModule) -> str:
        """`identity` with everything else that decides a chunk's deflate bytes: the deflate
        library's own runtime version (a build may link another), strategy, memLevel, window.
        Names the member store's entries; needs the loaded module, so not a build-cache input
        (a no-op rebuild must not load the codec)."""
        library = next(
            (
                str(getattr(module, name))
                for name in ("ZLIBNG_RUNTIME_VERSION", "ZLIB_RUNTIME_VERSION", "ISAL_VERSION")
                if hasattr(module, name)
            ),
            "unknown",
        )
        if library == "unknown":  # isal keeps its library version on the package
            package = importlib.import_module(self.module.partition(".")[0])
            library = str(getattr(package, "ISAL_VERSION", "unknown"))
        return (
            f"{self.identity()} library {library} strategy {_STRATEGY} memLevel {_MEM_LEVEL} "
            f"wbits {_WBITS}"
        )


CODECS: dict[CompressionName, Codec] = {
    "fast": Codec("isal", "isal.isal_zlib", COMPRESSION_LEVELS["fast"]),
    "default": Codec("zlib-ng", "zlib_ng.zlib_ng", COMPRESSION_LEVELS["default"]),
    "small": Codec("zlib-ng", "zlib_ng.zlib_ng", COMPRESSION_LEVELS["small"]),
}


def zip_timestamp(env: Mapping[str, str]) -> int:
    """Seconds since the epoch for every entry: SOURCE_DATE_EPOCH, floored at 1980."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return ZIP_EPOCH
    try:
        value = int(raw)
    except ValueError:
        return ZIP_EPOCH
    return max(value, ZIP_EPOCH)


def layer_members(root: Path, entries: Sequence[FileEntry], prefix: str) -> list[ArchiveMember]:
    """Members for the files of `root` placed under `prefix` (e.g. python/lib/.../site-packages),
    with an entry for every directory, sorted by name."""
    return with_directories(
        [ArchiveMember(f"{prefix}/{e.path}", root / e.path, e.executable) for e in entries]
    )


def with_directories(members: Sequence[ArchiveMember]) -> list[ArchiveMember]:
    """`members` and an entry for every directory above them that they lack, sorted by name."""
    dirs: set[str] = set()
    for member in members:
        parts = member.arcname.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]) + "/")
    dirs -= {m.arcname for m in members}
    every = [*members, *(ArchiveMember(d, None) for d in dirs)]
    every.sort(key=lambda m: m.arcname)
    return every


def copied_members(zip_path: Path, wanted: Callable[[str], bool]) -> list[ArchiveMember]:
    """The entries `wanted` keeps of `zip_path`, a zip `write_zip` wrote (a cached build's, its
    digest checked by the caller), as members whose bytes are copied as they are: with the same
    header fields, a zip holding them is byte for byte the one that compressing their files again
    writes. Directories too, so that runs of entries copy in one go. Read (and checked) by
    `safezip`, as every zip layerkit reads."""
    from layerkit.safezip import open_layer_zip

    members: list[ArchiveMember] = []
    with open_layer_zip(zip_path) as archive:
        for entry in archive.members:
            if entry.is_symlink or not wanted(entry.original):
                continue
            name_length = len(entry.original.encode("utf-8"))
            copied = CopiedEntry(
                header_offset=entry.header_offset,
                offset=entry.data_offset,
                length=entry.compressed_size,
                flags=entry.flags,
                method=entry.method,
                external_attr=entry.mode << 16 | (_MSDOS_DIRECTORY if entry.is_dir else 0),
                crc=entry.crc,
                size=entry.size,
                # this module writes an extra field only for ZIP64
                zip64=entry.data_offset - entry.header_offset > _LOCAL.size + name_length,
            )
            executable = entry.mode == _EXEC_MODE
            members.append(ArchiveMember(entry.original, zip_path, executable, copied))
    return members


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _dos_time(timestamp: int) -> tuple[int, int]:
    year, month, day, hour, minute, second = time.gmtime(max(timestamp, ZIP_EPOCH))[:6]
    if year > _MAX_YEAR:
        year, month, day, hour, minute, second = _MAX_YEAR, 12, 31, 23, 59, 58
    dos_date = (year - 1980) << 9 | month << 5 | day
    dos_time = hour << 11 | minute << 5 | second // 2
    return dos_time, dos_date


@dataclass(frozen=True)
class _Piece:
    """One chunk of one member on its way to the writer (a directory is a single empty piece)."""

    member: ArchiveMember
    deflated: _Outcome | None
    first: bool
    last: bool
    raw: bytes | None = None  # kept for a single-chunk file, which may end up stored
    crc: int = 0  # of the whole file; set on the last piece
    size: int = 0  # of the whole file; set on the last piece
    size_hint: int = 0  # the file's size when opened; decides ZIP64 before its sizes are known

    @property
    def weight(self) -> int:
        """Bytes this piece holds in memory while in flight (input chunk; output is smaller)."""
        return len(self.raw) if self.raw is not None else CHUNK_SIZE * (self.deflated is not None)


def _deflate(module: _DeflateModule, level: int, data: bytes, zdict: bytes, last: bool) -> bytes:
    """One chunk as raw deflate: primed with the previous 32 KiB, ending on a byte boundary."""
    if zdict:
        compressor = module.compressobj(level, _DEFLATED, _WBITS, _MEM_LEVEL, _STRATEGY, zdict)
    else:
        compressor = module.compressobj(level, _DEFLATED, _WBITS, _MEM_LEVEL, _STRATEGY)
    flush = module.Z_FINISH if last else module.Z_SYNC_FLUSH
    return compressor.compress(data) + compressor.flush(flush)


@dataclass(frozen=True)
class _Deflated:
    """A chunk's compressed form, and its member-store key when it was compressed now."""

    member: Member
    key: bytes | None = None


def _kept_chunk(
    chunk: tuple[bytes, bytes, bool], *, session: MemberSession | None, identity: bytes
) -> tuple[Member | None, bytes | None]:
    """The member store's deflate output of one chunk (`data`, `zdict`, `last`) if it has it,
    and the chunk's key in the store (None without a store)."""
    if session is None:
        return None, None
    data, zdict, last = chunk
    key = chunk_key(identity, data, zdict, last)
    kept = session.get(key)
    single = last and not zdict  # the only chunk of its file: the only one that may be stored
    return (kept if kept is not None and (single or not kept.stored) else None), key


def _compress_chunk(
    module: _DeflateModule, level: int, chunk: tuple[bytes, bytes, bool], key: bytes | None
) -> _Deflated:
    """Deflate one chunk (`data`, `zdict`, `last`) the store did not have (`key`: its name there).

    A file of one chunk that deflate does not shrink is marked stored (``zip -r`` does the same).
    """
    data, zdict, last = chunk
    single = last and not zdict  # the only chunk of its file
    deflated = _deflate(module, level, data, zdict, last)
    stored = single and len(deflated) >= len(data)
    return _Deflated(Member(b"" if stored else deflated, stored), key)


class _Outcome(Protocol):
    """A chunk's deflate output on its way: a worker's Future, or `_Ready`."""

    def result(self) -> _Deflated: ...


class _Ready:
    """A chunk's deflate output known at once (a store hit, or compressed by the reader): a
    Future would cost a lock and a condition per chunk, more than a hit's own work."""

    __slots__ = ("_value",)

    def __init__(self, value: _Deflated) -> None:
        self._value = value

    def result(self) -> _Deflated:
        return self._value


Submit = Callable[[bytes, bytes, bool], _Outcome]


def _read_chunk(src: BinaryIO, expected: int) -> bytes:
    """``src.read(CHUNK_SIZE)``, without making a CHUNK_SIZE buffer for the few KiB most files
    hold: `expected` is what is left of the file as stat-ed (a file that grew since is read on
    to CHUNK_SIZE as before, so the chunks are the same)."""
    if expected >= CHUNK_SIZE:
        return src.read(CHUNK_SIZE)
    data = src.read(max(expected, 0) + 1)
    if len(data) > max(expected, 0):
        data += src.read(CHUNK_SIZE - len(data))
    return data


def _pieces(
    members: Sequence[ArchiveMember], module: _DeflateModule, submit: Submit
) -> Iterator[_Piece]:
    """Read members in order, handing each chunk to `submit` (which may compress it elsewhere)."""
    for member in members:
        if member.source is None or member.copied is not None:
            size = member.copied.size if member.copied is not None else 0
            yield _Piece(member, None, first=True, last=True, size=size)
            continue
        with member.source.open("rb") as src:
            size_hint = os.fstat(src.fileno()).st_size
            chunk = _read_chunk(src, size_hint)
            following = (
                _read_chunk(src, size_hint - len(chunk)) if len(chunk) == CHUNK_SIZE else b""
            )
            crc = size = 0
            first = True
            zdict = b""
            while True:
                last = not following
                crc = module.crc32(chunk, crc)
                size += len(chunk)
                yield _Piece(
                    member,
                    submit(chunk, zdict, last),
                    first=first,
                    last=last,
                    raw=chunk if first and last else None,
                    crc=crc,
                    size=size,
                    size_hint=size_hint,
                )
                if last:
                    break
                first = False
                zdict = chunk[-_WINDOW:]
                chunk = following
                left = size_hint - size - len(chunk)
                following = _read_chunk(src, left) if len(chunk) == CHUNK_SIZE else b""


@dataclass(frozen=True)
class _Entry:
    """One entry's header fields: written in its local header and the central directory."""

    name: bytes
    flags: int
    method: int
    external_attr: int
    offset: int
    zip64: bool  # sizes in a ZIP64 field of the local header (an entry of ~4 GiB or more)
    crc: int = 0
    compressed: int = 0
    size: int = 0

    @property
    def version(self) -> int:
        """The zip spec version needed to extract it: 1.0 stored, 2.0 deflate/dir, 4.5 ZIP64."""
        if self.zip64:
            return 45
        return 20 if self.method == _DEFLATED or self.name.endswith(b"/") else 10

    def local_header(self, dos_stamp: tuple[int, int]) -> bytes:
        extra = _zip64_extra(self.size, self.compressed) if self.zip64 else b""
        sizes = (_MAX32, _MAX32) if self.zip64 else (self.compressed, self.size)
        fields = (self.version, self.flags, self.method, *dos_stamp, self.crc, *sizes)
        return _LOCAL.pack(0x04034B50, *fields, len(self.name), len(extra)) + self.name + extra

    def central_record(self, dos_stamp: tuple[int, int]) -> bytes:
        sizes_big = self.zip64 or max(self.size, self.compressed) >= _ZIP64_LIMIT
        offset_big = self.offset >= _ZIP64_LIMIT
        values = [self.size, self.compressed] if sizes_big else []
        if offset_big:
            values.append(self.offset)
        extra = _zip64_extra(*values) if values else b""
        version = 45 if extra else self.version
        sizes = (_MAX32, _MAX32) if sizes_big else (self.compressed, self.size)
        offset = _MAX32 if offset_big else self.offset
        fields = (_MADE_BY_UNIX | max(version, 20), version, self.flags, self.method, *dos_stamp)
        lengths = (len(self.name), len(extra), 0)  # name, extra field, comment
        disk_and_attrs = (0, 0, self.external_attr)  # disk number, internal, external attributes
        header = _CENTRAL.pack(0x02014B50, *fields, self.crc, *sizes, *lengths, *disk_and_attrs,
                               offset)  # fmt: skip
        return header + self.name + extra


def _needs_zip64(size: int) -> bool:
    # Deflate can grow incompressible data by a few bytes per 16 KiB block: keep a margin.
    return size + (size >> 10) + 4096 >= _ZIP64_LIMIT


def _zip64_extra(*values: int) -> bytes:
    return struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values)


class _ZipStream:
    """Writes entries in order to a seekable file, then the central directory."""

    def __init__(self, out: BinaryIO, *, timestamp: int) -> None:
        self._out = out
        self._dos_stamp = _dos_time(timestamp)
        self._entries: list[_Entry] = []
        self._offset = 0
        self._open: _Entry | None = None  # a multi-chunk file whose local header awaits its sizes
        self._sources: dict[Path, BinaryIO] = {}  # zips that copied entries come from
        self._run: tuple[Path, int, int] | None = None  # copied bytes not written yet: where
        # The zip's SHA-256 as it is written, while it is written in order (None once a local
        # header was patched in place: the file is then read again, `write_zip`).
        self._digest: hashlib._Hash | None = hashlib.sha256()

    @property
    def entry_count(self) -> int:
        return len(self._entries)

    def _write(self, data: bytes) -> None:
        self._flush_run()
        self._emit(data)
        self._offset += len(data)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        if self._digest is not None:
            self._digest.update(data)

    @property
    def sha256(self) -> str | None:
        """The digest of what was written, when it was written in order."""
        return self._digest.hexdigest() if self._digest is not None else None

    def _header(self, entry: _Entry) -> bytes:
        return entry.local_header(self._dos_stamp)

    def write(self, piece: _Piece) -> None:
        """Write one piece; pieces of a member arrive in order, first to last."""
        member = piece.member
        name = member.arcname.encode("utf-8")
        flags = 0 if member.arcname.isascii() else _UTF8_FLAG
        if member.is_dir:
            mode = (_DIR_MODE << 16) | _MSDOS_DIRECTORY
            self._add(_Entry(name, flags, _STORED, mode, self._offset, zip64=False), b"")
            return
        if member.copied is not None:
            self._copy(member, name)
            return
        mode = (_EXEC_MODE if member.executable else _FILE_MODE) << 16
        assert piece.deflated is not None
        deflated = piece.deflated.result().member
        data = deflated.payload
        if piece.first and piece.last:
            raw = piece.raw if piece.raw is not None else b""
            stored = deflated.stored
            entry = _Entry(
                name, flags, _STORED if stored else _DEFLATED, mode, self._offset,
                zip64=_needs_zip64(piece.size), crc=piece.crc,
                compressed=len(raw) if stored else len(data), size=piece.size,
            )  # fmt: skip
            self._add(entry, raw if stored else data)
            return
        if piece.first:
            zip64 = _needs_zip64(piece.size_hint)
            self._open = _Entry(name, flags, _DEFLATED, mode, self._offset, zip64=zip64)
            self._write(self._header(self._open))
        assert self._open is not None
        self._write(data)
        self._open = replace(self._open, compressed=self._open.compressed + len(data))
        if piece.last:
            self._close_open(piece)

    def _copy(self, member: ArchiveMember, name: bytes) -> None:
        """Copy a copied entry: its local header is the one this module writes for its fields,
        so a run of entries that follow one another in their zip is copied in one go."""
        copied, source = member.copied, member.source
        assert copied is not None and source is not None
        entry = _Entry(
            name, copied.flags, copied.method, copied.external_attr, self._offset,
            zip64=copied.zip64, crc=copied.crc, compressed=copied.length, size=copied.size,
        )  # fmt: skip
        header = self._header(entry)
        end = copied.offset + copied.length
        if copied.offset - copied.header_offset != len(header):
            self._write(header)  # a header of another length: not ours, so written anew
            self._copy_run(source, copied.offset, end)
        elif (
            self._run is not None
            and self._run[0] == source
            and self._run[2] == copied.header_offset
        ):
            self._run = (source, self._run[1], end)
        else:
            self._flush_run()
            self._run = (source, copied.header_offset, end)
        self._offset = entry.offset + len(header) + copied.length
        self._entries.append(entry)

    def _flush_run(self) -> None:
        """Write the pending run of copied entries (already counted in `_offset`)."""
        if self._run is not None:
            source, start, end = self._run
            self._run = None
            self._copy_run(source, start, end)

    def _copy_run(self, source: Path, start: int, end: int) -> None:
        stream = self._sources.get(source)
        if stream is None:
            stream = self._sources[source] = source.open("rb")
        stream.seek(start)
        left = end - start
        while left:
            block = stream.read(min(left, CHUNK_SIZE))
            if not block:
                raise FilesystemError(f"{source} ended before its entries did")
            self._emit(block)
            left -= len(block)

    def close_sources(self) -> None:
        for stream in self._sources.values():
            stream.close()
        self._sources.clear()

    def _add(self, entry: _Entry, data: bytes) -> None:
        self._write(self._header(entry))
        self._write(data)
        self._entries.append(entry)

    def _close_open(self, piece: _Piece) -> None:
        assert self._open is not None
        self._flush_run()
        entry = replace(self._open, crc=piece.crc, size=piece.size)
        if not entry.zip64 and max(entry.compressed, entry.size) >= _ZIP64_LIMIT:
            raise FilesystemError(
                f"{piece.member.source} grew while it was being zipped",
                hint="build again when nothing else writes into the layer's directory",
            )
        self._digest = None
        self._out.seek(entry.offset)
        self._out.write(self._header(entry))  # same length: only CRC and sizes change
        self._out.seek(self._offset)
        self._entries.append(entry)
        self._open = None

    def finish(self) -> None:
        """Write the central directory and the end records (ZIP64 ones only when needed)."""
        start = self._offset
        for entry in self._entries:
            self._write(entry.central_record(self._dos_stamp))
        self._write_end(start, self._offset - start)

    def _write_end(self, cd_offset: int, cd_size: int) -> None:
        count = len(self._entries)
        if count >= _ZIP64_COUNT_LIMIT or max(cd_offset, cd_size) >= _ZIP64_LIMIT:
            end64_offset = self._offset
            version = (_MADE_BY_UNIX | 45, 45)
            disks = (0, 0)  # this disk, the disk where the central directory starts
            sizes = (count, count, cd_size, cd_offset)
            self._write(_END64.pack(0x06064B50, _END64.size - 12, *version, *disks, *sizes))
            self._write(_END64_LOCATOR.pack(0x07064B50, 0, end64_offset, 1))
        short_count = _MAX16 if count >= _ZIP64_COUNT_LIMIT else count
        short_size = _MAX32 if cd_size >= _ZIP64_LIMIT else cd_size
        short_offset = _MAX32 if cd_offset >= _ZIP64_LIMIT else cd_offset
        self._write(
            _END.pack(0x06054B50, 0, 0, short_count, short_count, short_size, short_offset, 0)
        )


def _write_members(
    members: Sequence[ArchiveMember],
    out: BinaryIO,
    *,
    timestamp: int,
    codec: Codec,
    threads: int,
    session: MemberSession | None,
) -> tuple[int, int, str | None]:
    """Stream `members` into `out`; return (entry count, unzipped bytes, the SHA-256 of what was
    written when known without reading it again)."""
    module = codec.load()
    identity = codec.stream_identity(module).encode("utf-8")
    stream = _ZipStream(out, timestamp=timestamp)
    unzipped = 0
    # Enough work queued to keep every worker busy while the writer waits for the oldest piece,
    # capped so that many cores never mean much memory.
    max_pieces = 16 * threads
    max_bytes = min(4 * threads * CHUNK_SIZE, _MAX_IN_FLIGHT)
    pending: deque[_Piece] = deque()
    pending_bytes = 0

    def compress(data: bytes, zdict: bytes, last: bool, key: bytes | None) -> _Deflated:
        return _compress_chunk(module, codec.level, (data, zdict, last), key)

    def kept_or_compressed(data: bytes, zdict: bytes, last: bool) -> _Deflated:
        kept, key = _kept_chunk((data, zdict, last), session=session, identity=identity)
        return _Deflated(kept) if kept is not None else compress(data, zdict, last, key)

    # A small chunk the store has is taken here, by the reader: handing each to a worker would
    # cost more in GIL hand-offs than its hash and copy (a warm zip of 11k files: 1.4 s vs
    # 0.8 s). A large one is looked up by a worker, whose hashing lets go of the GIL while the
    # reader reads on (`_LOOKED_UP_BY_WORKERS`).
    def lookup_or(
        compress_later: Callable[[bytes, bytes, bool, bytes | None], _Outcome],
        look_up_later: Callable[[bytes, bytes, bool], _Outcome] | None = None,
    ) -> Submit:
        def submit(data: bytes, zdict: bytes, last: bool) -> _Outcome:
            if look_up_later is not None and len(data) >= _LOOKED_UP_BY_WORKERS:
                return look_up_later(data, zdict, last)
            kept, key = _kept_chunk((data, zdict, last), session=session, identity=identity)
            return (
                _Ready(_Deflated(kept))
                if kept is not None
                else compress_later(data, zdict, last, key)
            )

        return submit

    def write_oldest() -> None:
        nonlocal pending_bytes, unzipped
        piece = pending.popleft()
        stream.write(piece)
        if session is not None and piece.deflated is not None:
            deflated = piece.deflated.result()
            if deflated.key is not None:
                session.add(deflated.key, deflated.member)
        if piece.last and not piece.member.is_dir:
            unzipped += piece.size
        pending_bytes -= piece.weight

    try:
        if threads == 1:
            submit = lookup_or(
                lambda data, zdict, last, key: _Ready(compress(data, zdict, last, key))
            )
            for piece in _pieces(members, module, submit):
                pending.append(piece)
                write_oldest()
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="layerkit-zip") as pool:
                try:
                    submit = lookup_or(
                        lambda data, zdict, last, key: pool.submit(
                            compress, data, zdict, last, key
                        ),
                        lambda data, zdict, last: pool.submit(
                            kept_or_compressed, data, zdict, last
                        ),
                    )
                    for piece in _pieces(members, module, submit):
                        pending.append(piece)
                        pending_bytes += piece.weight
                        while len(pending) > max_pieces or pending_bytes > max_bytes:
                            write_oldest()
                    while pending:
                        write_oldest()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        stream.finish()
    finally:
        stream.close_sources()
    return stream.entry_count, unzipped, stream.sha256


def write_zip(
    members: Sequence[ArchiveMember],
    dest: Path,
    *,
    timestamp: int = ZIP_EPOCH,
    compression: CompressionName = "default",
    threads: int | None = None,
    stale: Sequence[Path] = (),
    store: MemberStore | None = None,
) -> ZipResult:
    """Write `members` to `dest` reproducibly and atomically; return its digest and sizes.

    `threads` (default: every core) changes the speed, never the bytes; so does `store`, where
    compressed chunks are kept for the next zip and taken from. `stale` (the old zip's manifest)
    is removed just before the new zip replaces the old one.
    """
    codec = CODECS[compression]
    workers = default_threads() if threads is None else max(1, threads)
    partial: Path | None = None
    session = store.session(codec.stream_identity(codec.load())) if store is not None else None
    complete = False
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = temporary_beside(dest)
        with os.fdopen(fd, "wb") as out:
            count, unzipped, written = _write_members(
                members, out, timestamp=timestamp, codec=codec, threads=workers, session=session
            )
        complete = True
        if written is None:  # a local header was patched after its data: read the zip again
            digest = hashlib.sha256()
            with partial.open("rb") as built:
                for block in iter(lambda: built.read(1024 * 1024), b""):
                    digest.update(block)
            written = digest.hexdigest()
        zipped = partial.stat().st_size
        commit(partial, dest, stale=stale)
    except OSError as exc:
        discard_partial(partial)
        raise filesystem_error(exc, dest) from exc
    except BaseException:
        discard_partial(partial)
        raise
    finally:
        if session is not None:
            session.close(complete=complete)
    reused, compressed = (session.hits, session.misses) if session is not None else (0, 0)
    return ZipResult(dest, written, zipped, unzipped, count, reused, compressed)
