"""The zip writer: valid for every reader, byte-identical for any thread count, bounded memory."""

from __future__ import annotations

import hashlib
import os
import platform
import random
import shutil
import struct
import subprocess
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from zlib_ng import zlib_ng

from layerkit import archive
from layerkit.archive import (
    CHUNK_SIZE,
    CODECS,
    COMPRESSION_LEVELS,
    ZIP_EPOCH,
    ArchiveMember,
    copied_members,
    layer_members,
    with_directories,
    write_zip,
    zip_timestamp,
)
from layerkit.config import CompressionName
from layerkit.contents import scan_tree
from layerkit.errors import FilesystemError
from layerkit.members import MemberStore

PREFIX = "python/lib/python3.12/site-packages"


def _text(size: int, seed: int) -> bytes:
    """Compressible but not trivial data (source-code-like)."""
    rng = random.Random(seed)
    words = [f"name_{i} = value_{i * 7}\n".encode() for i in range(400)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


def _noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# path -> (content, executable)
TREE: dict[str, tuple[bytes, bool]] = {
    "pkg/__init__.py": (b"", False),
    "pkg/core.py": (_text(5_000, 1), False),
    "pkg/big.so": (_text(2 * CHUNK_SIZE + 12_345, 2), True),  # three chunks
    "pkg/exact.bin": (_text(2 * CHUNK_SIZE, 3), False),  # ends exactly on a chunk
    "pkg/one_chunk.dat": (_text(CHUNK_SIZE, 4), False),
    "pkg/random.bin": (_noise(3_000, 5), False),  # deflate cannot shrink it: stored
    "pkg/random_big.bin": (_noise(CHUNK_SIZE + 77, 6), False),  # incompressible, two chunks
    "pkg/data/ünïcode.txt": (b"caf\xc3\xa9\n" * 50, False),
    "pkg-1.0.dist-info/RECORD": (b"pkg/__init__.py,,\n", False),
    "bin/tool": (b"#!/bin/sh\necho hi\n", True),
}


def make_tree(root: Path, *, umask: int = 0o022, mtime: float | None = None) -> Path:
    old = os.umask(umask)
    try:
        for rel, (content, executable) in TREE.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if executable:
                path.chmod(0o777 & ~umask)
            if mtime is not None:
                os.utime(path, (mtime, mtime))
    finally:
        os.umask(old)
    return root


def members_of(root: Path) -> list[ArchiveMember]:
    return layer_members(root, scan_tree(root), PREFIX)


def unzip_test(path: Path) -> None:
    unzip = shutil.which("unzip")
    assert unzip, "Info-ZIP unzip is needed for these tests (apt-get install unzip)"
    proc = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No errors detected" in proc.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "site")


def test_every_reader_accepts_the_zip_and_gets_the_files_back(tree: Path, tmp_path: Path) -> None:
    result = write_zip(members_of(tree), tmp_path / "layer.zip", threads=2)

    unzip_test(result.path)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.testzip() is None  # every CRC checked
        for rel, (content, _) in TREE.items():
            assert zf.read(f"{PREFIX}/{rel}") == content
    assert result.unzipped_bytes == sum(len(c) for c, _ in TREE.values())
    assert result.zipped_bytes == result.path.stat().st_size
    assert result.entry_count == len(members_of(tree))


def test_entries_are_sorted_plain_and_normalised(tree: Path, tmp_path: Path) -> None:
    stamp = 1_700_000_000
    result = write_zip(members_of(tree), tmp_path / "layer.zip", timestamp=stamp)

    with zipfile.ZipFile(result.path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert f"{PREFIX}/pkg/" in names and "python/" in names  # every directory has an entry
    expected_time = time.gmtime(stamp)[:5]
    for info in infos:
        assert info.extra == b""
        assert info.create_system == 3
        assert info.date_time[:5] == expected_time
        assert info.comment == b""
        mode = info.external_attr >> 16
        if info.is_dir():
            assert mode == 0o040755
            assert info.external_attr & 0x10
        elif info.filename.endswith(("big.so", "bin/tool")):
            assert mode == 0o100755
        else:
            assert mode == 0o100644
    flags = {i.filename: i.flag_bits for i in infos}
    assert flags[f"{PREFIX}/pkg/data/ünïcode.txt"] & 0x800  # UTF-8 name flagged
    assert not flags[f"{PREFIX}/pkg/core.py"] & 0x808  # ASCII, no data descriptor


def test_stored_when_deflate_does_not_shrink(tree: Path, tmp_path: Path) -> None:
    result = write_zip(members_of(tree), tmp_path / "layer.zip")
    with zipfile.ZipFile(result.path) as zf:
        methods = {i.filename.removeprefix(f"{PREFIX}/"): i.compress_type for i in zf.infolist()}
    assert methods["pkg/random.bin"] == zipfile.ZIP_STORED
    assert methods["pkg/__init__.py"] == zipfile.ZIP_STORED  # empty
    assert methods["pkg/core.py"] == zipfile.ZIP_DEFLATED
    assert methods["pkg/big.so"] == zipfile.ZIP_DEFLATED


def test_chunks_of_a_large_file_form_one_deflate_stream(tree: Path, tmp_path: Path) -> None:
    result = write_zip(members_of(tree), tmp_path / "layer.zip", threads=3)
    with zipfile.ZipFile(result.path) as zf:
        info = zf.getinfo(f"{PREFIX}/pkg/big.so")
    with result.path.open("rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        raw = fh.read(info.compress_size)
    # The patched local header agrees with the central directory.
    assert struct.unpack("<III", local[14:26]) == (info.CRC, info.compress_size, info.file_size)
    content = TREE["pkg/big.so"][0]
    assert zlib.decompress(raw, -15) == content
    assert zlib.crc32(content) == info.CRC
    # Chunks primed with the previous window compress about as well as one stream.
    whole = zlib_ng.compressobj(COMPRESSION_LEVELS["default"], zlib.DEFLATED, -15)
    single = len(whole.compress(content) + whole.flush())
    assert info.compress_size < single * 1.003  # unprimed chunks: +0.9%


@pytest.fixture
def other_tz() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"  # UTC+14
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_same_bytes_whatever_umask_tz_mtimes_and_threads(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "a", umask=0o022, mtime=1_000_000_000)
    reference = write_zip(members_of(first), tmp_path / "one.zip", threads=1)

    second = make_tree(tmp_path / "b", umask=0o077, mtime=1_600_000_000)
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"
    time.tzset()
    try:
        digests = {
            write_zip(members_of(second), tmp_path / f"t{n}.zip", threads=n).sha256
            for n in (1, 2, 4)
        }
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
    assert digests == {reference.sha256}


def test_small_chunks_still_identical_across_threads(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many chunks per file and a deep queue: the order of completion must not matter.
    monkeypatch.setattr(archive, "CHUNK_SIZE", 64 * 1024)
    digests = {
        write_zip(members_of(tree), tmp_path / f"t{n}.zip", threads=n).sha256 for n in (1, 2, 8)
    }
    assert len(digests) == 1
    unzip_test(tmp_path / "t8.zip")


@pytest.mark.parametrize("compression", ["fast", "default", "small"])
def test_every_compression_level_is_valid(
    compression: CompressionName, tree: Path, tmp_path: Path
) -> None:
    result = write_zip(members_of(tree), tmp_path / "layer.zip", compression=compression)
    unzip_test(result.path)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.testzip() is None


def test_levels_trade_size_for_speed(tree: Path, tmp_path: Path) -> None:
    sizes = {
        c: write_zip(members_of(tree), tmp_path / f"{c}.zip", compression=c).zipped_bytes
        for c in ("fast", "default", "small")
    }
    assert sizes["small"] <= sizes["default"] < sizes["fast"]


def test_codec_identity_names_library_version_and_level() -> None:
    identity = CODECS["default"].identity()
    assert identity.startswith("zlib-ng ")
    assert f"level {COMPRESSION_LEVELS['default']}" in identity
    assert identity.endswith(f" on {platform.machine()}")
    assert CODECS["fast"].identity().startswith("isal ")


def test_zip64_records_when_the_classic_fields_overflow(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lowered limits exercise the same code paths as a 4 GiB file or 65,535 entries.
    monkeypatch.setattr(archive, "_ZIP64_LIMIT", 40_000)
    monkeypatch.setattr(archive, "_ZIP64_COUNT_LIMIT", 5)
    result = write_zip(members_of(tree), tmp_path / "layer.zip", threads=2)

    unzip_test(result.path)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.testzip() is None
        big = zf.getinfo(f"{PREFIX}/pkg/big.so")
        assert big.extract_version == 45
        assert zf.read(big) == TREE["pkg/big.so"][0]
    data = result.path.read_bytes()
    assert data.count(b"PK\x06\x06") == 1  # ZIP64 end of central directory
    assert data.count(b"PK\x06\x07") == 1  # and its locator
    entries_in_end = struct.unpack("<H", data[-22 + 8 : -22 + 10])[0]
    assert entries_in_end == 0xFFFF  # the real count is in the ZIP64 record


def test_no_zip64_for_a_normal_layer(tree: Path, tmp_path: Path) -> None:
    data = write_zip(members_of(tree), tmp_path / "layer.zip").path.read_bytes()
    assert b"PK\x06\x06" not in data


def _peak_traced(members: list[ArchiveMember], dest: Path, threads: int) -> int:
    tracemalloc.start()
    try:
        write_zip(members, dest, threads=threads)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def huge(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    with (root / "huge.bin").open("wb") as fh:
        for i in range(48):
            fh.write(bytes([i]) * CHUNK_SIZE)  # 48 MiB that compresses quickly
    return root


def test_memory_stays_bounded_for_a_large_file(huge: Path, tmp_path: Path) -> None:
    peak = _peak_traced(members_of(huge), tmp_path / "layer.zip", threads=2)
    assert peak < 16 * CHUNK_SIZE, f"peak {peak / CHUNK_SIZE:.1f} MiB"


def test_memory_is_capped_whatever_the_thread_count(
    huge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "_MAX_IN_FLIGHT", 4 * CHUNK_SIZE)
    peak = _peak_traced(members_of(huge), tmp_path / "layer.zip", threads=64)
    assert peak < 12 * CHUNK_SIZE, f"peak {peak / CHUNK_SIZE:.1f} MiB"


def test_timestamp_comes_from_source_date_epoch_floored_at_1980() -> None:
    assert zip_timestamp({}) == ZIP_EPOCH
    assert zip_timestamp({"SOURCE_DATE_EPOCH": "1700000000"}) == 1_700_000_000
    assert zip_timestamp({"SOURCE_DATE_EPOCH": "5"}) == ZIP_EPOCH
    assert zip_timestamp({"SOURCE_DATE_EPOCH": "soon"}) == ZIP_EPOCH


def test_unwritable_output_is_a_filesystem_error(tree: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    with pytest.raises(FilesystemError):
        write_zip(members_of(tree), blocked / "layer.zip")


def test_failure_leaves_no_partial_zip(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    members = [*members_of(tree), ArchiveMember("zzz/gone.py", tree / "missing.py")]
    with pytest.raises(FilesystemError, match=r"missing\.py"):
        write_zip(members, out / "layer.zip", threads=2)
    assert list(out.iterdir()) == []


def test_existing_zip_is_replaced_atomically(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "layer.zip"
    dest.write_bytes(b"old")
    result = write_zip(members_of(tree), dest)
    assert dest.read_bytes()[:4] == b"PK\x03\x04"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert result.path == dest


# --- the member store: incremental zips (issue 18) ----------------------------------------------


def _packs(store: Path) -> list[Path]:
    return sorted(store.glob("*/*.pack"))


@pytest.mark.parametrize("threads", [1, 2])
def test_a_warm_member_store_gives_the_bytes_of_a_zip_from_scratch(
    tree: Path, tmp_path: Path, threads: int
) -> None:
    scratch = write_zip(members_of(tree), tmp_path / "scratch.zip", threads=threads)
    store = MemberStore(tmp_path / "members")
    cold = write_zip(members_of(tree), tmp_path / "cold.zip", threads=threads, store=store)
    assert cold.chunks_reused == 0
    assert cold.chunks_compressed > 0
    warm = write_zip(members_of(tree), tmp_path / "warm.zip", threads=threads, store=store)
    assert warm.chunks_compressed == 0
    assert warm.chunks_reused == cold.chunks_compressed
    assert scratch.sha256 == cold.sha256 == warm.sha256
    unzip_test(warm.path)


def test_after_one_file_changes_only_its_chunks_are_compressed(tree: Path, tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "members")
    first = write_zip(members_of(tree), tmp_path / "first.zip", store=store)
    (tree / "pkg/core.py").write_bytes(_text(6_000, 99))  # one file of one chunk changes
    changed = write_zip(members_of(tree), tmp_path / "changed.zip", store=store)
    assert changed.chunks_compressed == 1
    # the changed file's old chunk is the only one not reused
    assert changed.chunks_reused == first.chunks_compressed - 1
    scratch = write_zip(members_of(tree), tmp_path / "scratch.zip")
    assert changed.sha256 == scratch.sha256
    assert len(_packs(tmp_path / "members")) == 2  # the first zip's pack and this one's


def test_a_damaged_member_is_compressed_again_never_shipped(tree: Path, tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "members")
    write_zip(members_of(tree), tmp_path / "first.zip", store=store)
    (pack,) = _packs(tmp_path / "members")
    data = bytearray(pack.read_bytes())
    data[10] ^= 0xFF  # a payload byte: the index and trailer still parse
    pack.write_bytes(bytes(data))
    rebuilt = write_zip(members_of(tree), tmp_path / "again.zip", store=store)
    scratch = write_zip(members_of(tree), tmp_path / "scratch.zip")
    assert rebuilt.sha256 == scratch.sha256
    assert rebuilt.chunks_compressed > 0
    assert not pack.exists()  # a damaged pack is removed, its members kept anew
    assert len(_packs(tmp_path / "members")) == 1
    unzip_test(rebuilt.path)


@pytest.mark.parametrize("field", ["kind", "length"])
def test_a_damaged_index_record_is_compressed_again_never_read(
    tree: Path, tmp_path: Path, field: str
) -> None:
    """Records are parsed when their key is asked for: one that cannot be (a kind that is
    none, a payload running into the index) is a miss, and its pack goes."""
    import struct

    store = MemberStore(tmp_path / "members")
    first = write_zip(members_of(tree), tmp_path / "first.zip", store=store)
    (pack,) = _packs(tmp_path / "members")
    data = bytearray(pack.read_bytes())
    _magic, index_offset, _count = struct.unpack("<8sQI", data[-20:])
    if field == "kind":  # key 32, offset 8, length 4, then the kind
        data[index_offset + 44] = 7
    else:
        data[index_offset + 40 : index_offset + 44] = struct.pack("<I", index_offset)
    pack.write_bytes(bytes(data))
    rebuilt = write_zip(members_of(tree), tmp_path / "again.zip", store=store)
    assert rebuilt.chunks_compressed >= 1
    assert rebuilt.chunks_reused + rebuilt.chunks_compressed >= first.chunks_compressed
    assert rebuilt.sha256 == write_zip(members_of(tree), tmp_path / "scratch.zip").sha256
    assert not pack.exists()
    unzip_test(rebuilt.path)


def test_a_truncated_pack_is_ignored_and_removed(tree: Path, tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "members")
    write_zip(members_of(tree), tmp_path / "first.zip", store=store)
    (pack,) = _packs(tmp_path / "members")
    pack.write_bytes(pack.read_bytes()[:-5])
    rebuilt = write_zip(members_of(tree), tmp_path / "again.zip", store=store)
    assert rebuilt.chunks_reused == 0
    assert rebuilt.sha256 == write_zip(members_of(tree), tmp_path / "scratch.zip").sha256
    assert not pack.exists()


def test_another_codec_does_not_see_the_members_of_another(tree: Path, tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "members")
    write_zip(members_of(tree), tmp_path / "default.zip", store=store)
    small = write_zip(members_of(tree), tmp_path / "small.zip", store=store, compression="small")
    assert small.chunks_reused == 0
    scratch = write_zip(members_of(tree), tmp_path / "s.zip", compression="small")
    assert small.sha256 == scratch.sha256


def test_the_stream_identity_names_the_library_strategy_and_window() -> None:
    for name in ("fast", "default", "small"):
        codec = CODECS[name]
        identity = codec.stream_identity(codec.load())
        assert identity.startswith(codec.identity())
        assert " library unknown " not in identity
        assert "strategy 0 memLevel 8 wbits -15" in identity
    default = CODECS["default"]
    assert f"library {zlib_ng.ZLIBNG_RUNTIME_VERSION} " in default.stream_identity(default.load())


def test_the_member_store_stays_within_its_bound(tree: Path, tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "members", limit_bytes=1)
    write_zip(members_of(tree), tmp_path / "a.zip", store=store)
    (tree / "pkg/core.py").write_bytes(_text(6_000, 7))
    write_zip(members_of(tree), tmp_path / "b.zip", store=store)
    assert store.usage().packs == 0  # every pack is over a bound of one byte
    roomy = MemberStore(tmp_path / "members")
    write_zip(members_of(tree), tmp_path / "c.zip", store=roomy)
    usage = roomy.usage()
    assert usage.packs == 1
    assert roomy.trim(usage.bytes - 1) == usage.bytes
    assert roomy.usage().packs == 0


def test_an_unwritable_member_store_does_not_fail_the_zip(tree: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "members"
    blocked.write_text("a file where the store's directory would be")
    result = write_zip(members_of(tree), tmp_path / "layer.zip", store=MemberStore(blocked))
    assert result.sha256 == write_zip(members_of(tree), tmp_path / "scratch.zip").sha256


class _ReadSizes:
    """A file whose reads are recorded (and which may hold more than was stat-ed)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0
        self.asked: list[int] = []

    def read(self, size: int) -> bytes:
        self.asked.append(size)
        piece = self._data[self._at : self._at + size]
        self._at += len(piece)
        return piece


@pytest.mark.parametrize("stated", [0, 10, 4000, 4095, 4096, 5000])
@pytest.mark.parametrize("actual", [0, 10, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 7])
def test_a_chunk_is_read_as_read_chunk_size_would_but_sized_for_the_file(
    stated: int, actual: int
) -> None:
    """The chunks (hence the bytes) are those of ``read(CHUNK_SIZE)`` even when the file grew or
    shrank since it was stat-ed; a file of a few KiB asks for a few KiB, not a 1 MiB buffer."""
    data = random.Random(actual).randbytes(actual)
    source = _ReadSizes(data)
    assert archive._read_chunk(source, stated) == data[:CHUNK_SIZE]  # type: ignore[arg-type]
    if actual <= stated:
        assert source.asked == [stated + 1]


@pytest.mark.parametrize("zip64", [False, True])
def test_entries_copied_from_a_zip_give_the_bytes_of_a_zip_from_scratch(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zip64: bool
) -> None:
    """What a rebuild by parts does: some entries copied from the cached zip as they are (runs
    of them in one go), the others compressed from their files, directories made anew where
    the copied ones lack them."""
    if zip64:  # lowered, as above: local ZIP64 fields, ZIP64 offsets in the central directory
        monkeypatch.setattr(archive, "_ZIP64_LIMIT", 40_000)
    scratch = write_zip(members_of(tree), tmp_path / "scratch.zip", threads=2)
    redone = {f"{PREFIX}/pkg/core.py", f"{PREFIX}/bin/tool", f"{PREFIX}/bin/"}
    copied = copied_members(scratch.path, lambda name: name not in redone)
    assert {m.arcname for m in copied} == {m.arcname for m in members_of(tree)} - redone
    fresh = [m for m in members_of(tree) if m.arcname in redone and not m.is_dir]
    spliced = write_zip(with_directories([*copied, *fresh]), tmp_path / "spliced.zip", threads=2)
    assert spliced.path.read_bytes() == scratch.path.read_bytes()
    assert (spliced.sha256, spliced.unzipped_bytes) == (scratch.sha256, scratch.unzipped_bytes)
    # scratch patched its multi-chunk files' headers (its digest read back); spliced did not
    assert spliced.sha256 == hashlib.sha256(spliced.path.read_bytes()).hexdigest()


def test_the_digest_taken_while_writing_is_the_zips(tmp_path: Path) -> None:
    for name, (content, _executable) in TREE.items():
        if len(content) < CHUNK_SIZE:  # single chunks only: nothing patched, nothing read back
            (tmp_path / "site" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "site" / name).write_bytes(content)
    result = write_zip(members_of(tmp_path / "site"), tmp_path / "layer.zip", threads=2)
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
