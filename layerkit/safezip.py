"""The one reader of layer zips: it refuses any zip that two extractors could read differently.

`inspect`, the build cache and every other reader of a layer zip go through `open_layer_zip`. The
zip is parsed here (not with `zipfile`, which believes the central directory and ignores the local
headers), and everything an extractor could interpret in more than one way is refused before a
byte of content is judged:

- the end-of-central-directory record must end the file (only its comment may follow) and the
  central directory must sit exactly where it says, so no data is prepended or appended; a ZIP64
  locator must point at the ZIP64 record just before it;
- every local header must agree with its central record: name bytes, flags, method, CRC and
  sizes (also through a data descriptor, which must follow the data and agree too);
- entry data must be contiguous, in central-directory order, from offset 0 to the central
  directory: no overlap (the classic "2,000 records pointing at one entry" bomb is refused after
  reading 2,000 local headers, without inflating anything), no gap that could hide an entry;
- no encryption (flag bits 0, 6, 13), only stored and deflate, stored sizes equal;
- names: UTF-8 when the UTF-8 flag says so, ASCII otherwise (a code page is the extractor's
  guess); no NUL, no backslash; an Info-ZIP Unicode Path field (0x7075) must name the same path;
  no two names equal after normalisation (``//``, ``./``, a trailing ``/``); no name both a file
  and a directory; no name below a symlink (an extractor would write through the link). Case is
  not folded: Lambda extracts onto a case-sensitive Linux file system, where ``A.py`` and
  ``a.py`` are two files, as they are to every extractor there;
- symlinks are resolved through every other symlink of the zip: why a link leaves the tree,
  loops, dangles or lands on a directory is kept in `CheckedZip.link_issues` (the layout check
  reports it); a link to a file is read as that file under the link's own name, so
  ``x.so -> wrong-arch.elf`` is checked as a shared object;
- no FIFOs, devices or sockets.

Problems that make the zip ambiguous raise `VerificationError` (exit 5) naming the entries; a zip
that cannot be parsed at all (not a zip, truncated, bytes cut out) raises `InputFileError` (exit 2),
as every unreadable input file does.

Sizes are measured, never believed: `CheckedZip.measure` inflates every entry once (streaming,
nothing kept) and refuses an entry that inflates to more or less than it declares or fails its
CRC; it stops at a byte cap so a bomb costs at most that much work. `CheckedZip.open` hands out an
entry as a seekable stream spooled to a temporary file past 1 MiB, never beyond its declared size.

The anchor is uv's hardening of its zip reader against parsing differentials in 2025
(astral-sh/uv#15136, uv 0.8.6: local/central mismatches incl. data descriptors, trailing contents,
wrong central-directory and ZIP64-locator offsets, repeated local entries). This reader goes
further: contiguity instead of repeated-entry detection, normalised-name duplicates, Unicode Path
fields, symlink resolution, and measured sizes with a cap.
"""

from __future__ import annotations

import dataclasses
import posixpath
import stat
import struct
import tempfile
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from layerkit.errors import BudgetExceededError, InputFileError, VerificationError

_EOCD = struct.Struct("<IHHHHIIH")
_EOCD64_LOCATOR = struct.Struct("<IIQI")
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_EOCD_SIG, _LOCATOR_SIG, _EOCD64_SIG = 0x06054B50, 0x07064B50, 0x06064B50
_CENTRAL_SIG, _LOCAL_SIG, _DESCRIPTOR_SIG = 0x02014B50, 0x04034B50, 0x08074B50
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF
_ENCRYPTED_FLAGS = 0x0001 | 0x0040 | 0x2000  # traditional, strong, central directory encrypted
_DESCRIPTOR_FLAG = 0x0008
_UTF8_FLAG = 0x0800
_STORED, _DEFLATED = 0, 8
_ZIP64_EXTRA, _UNICODE_PATH_EXTRA = 0x0001, 0x7075
_UNIX = 3
_MAX_CENTRAL_DIRECTORY = 64 << 20  # ~500,000 entries; a layer has far fewer
_MAX_LINK_TARGET = 4096  # PATH_MAX
_MAX_LINK_HOPS = 40  # Linux's limit on symlinks followed in one lookup
_SPOOL_IN_MEMORY = 1 << 20
_BLOCK = 1 << 16
MAX_LISTED = 25


@dataclass(frozen=True)
class ZipMember:
    """One entry, as an extractor on Linux writes it."""

    name: str  # normalised: no ``//``, no ``.`` part, no trailing ``/``
    original: str  # as written in the zip (absolute and ``..`` names are judged on this)
    is_dir: bool
    mode: int  # st_mode from a Unix-made zip, else 0 (unknown)
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int  # declared uncompressed size (checked by `CheckedZip.measure`)
    header_offset: int
    data_offset: int
    link_target: str | None = None

    @property
    def is_symlink(self) -> bool:
        return self.link_target is not None


def normalise(name: str) -> str:
    """A name as an extractor writes it: ``python//lib/./x/`` -> ``python/lib/x``."""
    return "/".join(part for part in name.split("/") if part not in ("", "."))


class CheckedZip:
    """A layer zip that passed every check in this module's docstring. Use as a context manager."""

    def __init__(self, path: Path, handle: BinaryIO, members: tuple[ZipMember, ...]) -> None:
        self.path = path
        self._handle = handle
        self.members = members
        self._by_name = {m.name: m for m in members}
        self._links = {m.name: m.link_target for m in members if m.link_target is not None}
        # symlink name -> why it lands nowhere valid (the layout check reports these)
        self.link_issues = _link_issues(members)

    def __enter__(self) -> CheckedZip:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def regular_file(self, name: str) -> ZipMember:
        """The regular file `name` stands for, following symlinks (checked at open time)."""
        return self._by_name[self._resolve(name)]

    def open(self, name: str) -> BinaryIO:
        """The content of `name` (a file, or a symlink to one) as a seekable stream.

        Past 1 MiB the content is spooled to a temporary file, never held in memory; it is never
        longer than the declared size (more data is refused).
        """
        member = self.regular_file(name)
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            for chunk in _inflate(self._handle, self.path, member, verify=True):
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return cast(BinaryIO, spool)

    def read_head(self, name: str, limit: int) -> bytes:
        """At most the first `limit` bytes of `name` (a parser that needs no more reads this)."""
        member = self.regular_file(name)
        parts: list[bytes] = []
        got = 0
        for chunk in _inflate(self._handle, self.path, member, verify=False):
            parts.append(chunk[: limit - got])
            got += len(parts[-1])
            if got >= limit:
                break
        return b"".join(parts)

    def measure(self, cap: int) -> bool:
        """Inflate every regular file (nothing kept) to prove its declared size and CRC.

        Stops once `cap` bytes were inflated in total; returns whether every file was measured.
        """
        total = 0
        for member in self.members:
            if member.is_dir or member.is_symlink:
                continue
            for chunk in _inflate(
                self._handle, self.path, member, verify=True, stop_after=cap - total
            ):
                total += len(chunk)
            if total > cap:
                return False
        return True

    # --- internals -----------------------------------------------------------------------------

    def _resolve(self, name: str) -> str:
        """The regular file a path lands on once every symlink on the way is followed."""
        try:
            resolved = _resolve_links(normalise(name), self._links)
        except ValueError as exc:
            raise KeyError(name) from exc
        member = self._by_name.get(resolved)
        if member is None or member.is_dir or member.is_symlink:
            raise KeyError(name)
        return resolved


def _compressed_blocks(handle: BinaryIO, path: Path, member: ZipMember) -> Iterator[bytes]:
    offset, remaining = member.data_offset, member.compressed_size
    while remaining > 0:
        block = _read_at(handle, path, offset, min(_BLOCK, remaining))
        offset += len(block)
        remaining -= len(block)
        yield block


def _inflate(
    handle: BinaryIO,
    path: Path,
    member: ZipMember,
    *,
    verify: bool,
    stop_after: int | None = None,
) -> Iterator[bytes]:
    """The member's bytes in chunks; never more than its declared size.

    With `verify`, the whole entry must inflate to exactly its declared size and CRC.
    `stop_after` ends the stream early (the measuring cap).
    """
    produced = 0
    crc = 0
    inflater = zlib.decompressobj(-15) if member.method == _DEFLATED else None
    try:
        for block in _compressed_blocks(handle, path, member):
            pending = block
            while pending:
                if inflater is None:
                    out, pending = pending, b""
                else:
                    # Ask for one byte more than declared: that byte proves a lie.
                    out = inflater.decompress(pending, member.size - produced + 1)
                    pending = inflater.unconsumed_tail
                produced += len(out)
                if produced > member.size:
                    raise _refusal(
                        [(member.name, f"inflates to more than its declared {member.size:,} "
                          "bytes (an extractor would write more than was counted)")]
                    )  # fmt: skip
                crc = zlib.crc32(out, crc)
                if out:
                    yield out
                if stop_after is not None and produced > stop_after:
                    return
                if inflater is not None and inflater.eof:
                    break
    except zlib.error as exc:
        raise _damaged(path, f"{member.name} cannot be inflated ({exc})") from exc
    if not verify:
        return
    if inflater is not None and (not inflater.eof or inflater.unused_data):
        raise _damaged(path, f"{member.name}'s deflate stream does not end its data")
    if produced != member.size:
        raise _refusal([(member.name, f"holds {produced:,} bytes but declares {member.size:,}")])
    if crc != member.crc:
        raise _damaged(path, f"{member.name} fails its CRC check")


def open_layer_zip(path: Path) -> CheckedZip:
    """Open and check a layer zip; see the module docstring for what is refused and how."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # opening a FIFO would block
            raise InputFileError(f"{path} is not a regular file", hint="give a layer zip")
        handle = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        members = _read_members(handle, path)
        return CheckedZip(path, handle, members)
    except BaseException:
        handle.close()
        raise


def central_names(handle: BinaryIO, label: str) -> tuple[str, ...]:
    """The entry names in the central directory of the zip `handle` reads (seekable), checked as
    `open_layer_zip` checks them, without reading any entry's data or local header.

    For listing a zip that is only reachable piecewise (a layer version's download URL, read with
    HTTP range requests); a zip that is to be judged goes through `open_layer_zip`.
    """
    where = Path(label)
    return tuple(
        record.name for record in _central_records(handle, where, _find_directory(handle, where))
    )


def measured_size(path: Path, *, cap: int) -> int:
    """The unzipped bytes of a checked zip's files, each inflated and counted (not believed).

    Raise `BudgetExceededError` once more than `cap` bytes were inflated.
    """
    with open_layer_zip(path) as archive:
        if not archive.measure(cap):
            raise BudgetExceededError(
                f"{path} inflates to more than {cap:,} bytes",
                hint="Lambda would refuse this layer; rebuild it smaller (see `layerkit inspect`)",
            )
        return sum(m.size for m in archive.members if not m.is_dir and not m.is_symlink)


# --- parsing -------------------------------------------------------------------------------------


def _damaged(path: Path, detail: str) -> InputFileError:
    return InputFileError(
        f"{path} is not a zip file, or it is truncated or damaged: {detail}",
        hint="give a layer zip (or a directory); re-download or rebuild a damaged zip",
    )


def _refusal(problems: list[tuple[str, str]]) -> VerificationError:
    lines = [f"  - {name}: {reason}" for name, reason in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
    return VerificationError(
        "the zip could be extracted differently by different tools:\n" + "\n".join(lines),
        hint="rebuild the layer with layerkit (or another zip tool) from the installed files; "
        "layerkit refuses to judge a zip whose contents depend on the extractor",
    )


def _read_at(handle: BinaryIO, path: Path, offset: int, size: int) -> bytes:
    handle.seek(offset)
    data = handle.read(size)
    if len(data) != size:
        raise _damaged(path, f"it ends before byte {offset + size:,}")
    return data


@dataclass(frozen=True)
class _Directory:
    offset: int
    size: int
    count: int
    end: int  # where the central directory must end: the ZIP64 record or the EOCD


def _find_directory(handle: BinaryIO, path: Path) -> _Directory:
    file_size = handle.seek(0, 2)
    tail_size = min(file_size, _EOCD.size + _MAX16)
    tail = _read_at(handle, path, file_size - tail_size, tail_size)
    # The last record whose comment runs exactly to the end of the file: nothing may follow it.
    position = tail.rfind(b"PK\x05\x06")
    while position >= 0:
        if position + _EOCD.size <= len(tail):
            fields = _EOCD.unpack_from(tail, position)
            if position + _EOCD.size + fields[7] == len(tail):
                break
        position = tail.rfind(b"PK\x05\x06", 0, position)
    else:
        raise _damaged(path, "no end-of-central-directory record ends the file")
    eocd = file_size - tail_size + position
    _sig, disk, cd_disk, on_disk, count, cd_size, cd_offset, _comment = _EOCD.unpack_from(
        tail, position
    )
    if disk or cd_disk or on_disk != count:
        raise _damaged(path, "it is one part of a multi-part archive")
    end = eocd
    locator_at = eocd - _EOCD64_LOCATOR.size
    has_locator = locator_at >= 0 and _read_at(handle, path, locator_at, 4) == b"PK\x06\x07"
    if has_locator:
        _s, _d, record_at, _disks = _EOCD64_LOCATOR.unpack(
            _read_at(handle, path, locator_at, _EOCD64_LOCATOR.size)
        )
        if record_at != locator_at - _EOCD64.size:
            raise _refusal([("(zip64 locator)", "does not point at the record before it")])
        record = _EOCD64.unpack(_read_at(handle, path, record_at, _EOCD64.size))
        if record[0] != _EOCD64_SIG or record[1] != _EOCD64.size - 12:
            raise _damaged(path, "its ZIP64 end record is malformed")
        count, cd_size, cd_offset = record[7], record[8], record[9]
        end = record_at
    elif _MAX32 in (cd_size, cd_offset) or count == _MAX16:
        raise _damaged(path, "it announces ZIP64 fields but has no ZIP64 record")
    if cd_offset + cd_size != end:
        raise _refusal(
            [("(central directory)", "is not where the end record says: data was prepended, "
              "appended or removed")]
        )  # fmt: skip
    if cd_size > _MAX_CENTRAL_DIRECTORY:
        raise _damaged(path, f"its central directory is {cd_size:,} bytes")
    return _Directory(cd_offset, cd_size, count, end)


def _extras(data: bytes, where: str, path: Path) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    position = 0
    while position < len(data):
        if position + 4 > len(data):
            raise _damaged(path, f"{where} has a truncated extra field")
        kind, size = struct.unpack_from("<HH", data, position)
        body = data[position + 4 : position + 4 + size]
        if len(body) != size:
            raise _damaged(path, f"{where} has a truncated extra field")
        if kind in found:
            raise _refusal([(where, f"has two extra fields of type {kind:#06x}")])
        found[kind] = body
        position += 4 + size
    return found


def _zip64_values(extras: dict[int, bytes], wanted: list[int], where: str, path: Path) -> list[int]:
    """Replace each 0xFFFFFFFF among `wanted` (usize, csize, offset order) by its ZIP64 value."""
    body = extras.get(_ZIP64_EXTRA, b"")
    values = list(wanted)
    position = 0
    for index, value in enumerate(wanted):
        if value == _MAX32:
            if position + 8 > len(body):
                raise _damaged(path, f"{where} lacks its ZIP64 sizes")
            values[index] = struct.unpack_from("<Q", body, position)[0]
            position += 8
    return values


def _decode_name(raw: bytes, flags: int, extras: dict[int, bytes]) -> tuple[str | None, str]:
    """(name, problem): the name an extractor writes, or why extractors may disagree."""
    if flags & _UTF8_FLAG:
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, "is flagged UTF-8 but its name is not valid UTF-8"
    elif raw.isascii():
        name = raw.decode("ascii")
    else:
        return None, "has a non-ASCII name without the UTF-8 flag (each tool guesses a code page)"
    unicode_path = extras.get(_UNICODE_PATH_EXTRA)
    if unicode_path is not None:
        try:
            other = unicode_path[5:].decode("utf-8")
        except UnicodeDecodeError:
            other = None
        if unicode_path[:1] != b"\x01" or other != name:
            return name, f"has a Unicode Path field naming {other!r}, not its own name"
    if "\x00" in name:
        return name, "has a NUL in its name (some tools cut the name there)"
    if "\\" in name:
        return name, "has a backslash in its name (a directory separator to some tools)"
    return name, ""


@dataclass
class _Raw:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    offset: int
    mode: int


def _central_records(handle: BinaryIO, path: Path, directory: _Directory) -> list[_Raw]:
    data = _read_at(handle, path, directory.offset, directory.size)
    records: list[_Raw] = []
    problems: list[tuple[str, str]] = []
    position = 0
    count = 0
    while position < len(data):
        count += 1
        if position + _CENTRAL.size > len(data):
            raise _damaged(path, "its central directory is truncated")
        fields = _CENTRAL.unpack_from(data, position)
        if fields[0] != _CENTRAL_SIG:
            raise _damaged(path, "its central directory holds something that is not an entry")
        made_by, flags, method = fields[1], fields[3], fields[4]
        crc, csize, usize = fields[7], fields[8], fields[9]
        name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
        disk, external, offset = fields[13], fields[15], fields[16]
        start = position + _CENTRAL.size
        raw_name = data[start : start + name_len]
        extra = data[start + name_len : start + name_len + extra_len]
        position = start + name_len + extra_len + comment_len
        if position > len(data):
            raise _damaged(path, "its central directory is truncated")
        shown = raw_name.decode("utf-8", errors="replace")
        extras = _extras(extra, shown, path)
        usize, csize, offset = _zip64_values(extras, [usize, csize, offset], shown, path)
        name, problem = _decode_name(raw_name, flags, extras)
        if problem:
            problems.append((name or shown, problem))
            continue
        assert name is not None
        if flags & _ENCRYPTED_FLAGS:
            problems.append((name, "is encrypted"))
        if method not in (_STORED, _DEFLATED):
            problems.append((name, f"uses compression method {method} (only stored and deflate)"))
        if method == _STORED and csize != usize:
            problems.append((name, "is stored but its two sizes differ"))
        if disk not in (0, _MAX16):
            problems.append((name, "claims to start on another disk"))
        mode = (external >> 16) & 0xFFFF if made_by >> 8 == _UNIX else 0
        records.append(_Raw(name, raw_name, flags, method, crc, csize, usize, offset, mode))
    if count != directory.count:
        raise _damaged(path, "its entry count disagrees with its central directory")
    if problems:
        raise _refusal(problems)
    return records


def _local_data_span(handle: BinaryIO, path: Path, record: _Raw) -> tuple[int, int, list[str]]:
    """(data offset, end of the entry and its data descriptor, what disagrees with the record)."""
    header = _read_at(handle, path, record.offset, _LOCAL.size)
    sig, _needed, flags, method, _t, _d, crc, csize, usize, name_len, extra_len = _LOCAL.unpack(
        header
    )
    if sig != _LOCAL_SIG:
        raise _damaged(path, f"{record.name} has no local header where its record points")
    raw_name = _read_at(handle, path, record.offset + _LOCAL.size, name_len)
    extra = _read_at(handle, path, record.offset + _LOCAL.size + name_len, extra_len)
    data_offset = record.offset + _LOCAL.size + name_len + extra_len
    extras = _extras(extra, record.name, path)
    mismatches: list[str] = []
    if raw_name != record.raw_name:
        mismatches.append(f"name {raw_name.decode('utf-8', 'replace')!r}")
    if flags != record.flags:
        mismatches.append("flags")
    if method != record.method:
        mismatches.append("method")
    unicode_path = extras.get(_UNICODE_PATH_EXTRA)
    if unicode_path is not None and unicode_path[5:] != record.name.encode("utf-8"):
        mismatches.append("Unicode Path field")
    end = data_offset + record.csize
    if flags & _DESCRIPTOR_FLAG:
        if (crc, csize, usize) != (0, 0, 0) and (crc, csize, usize) != (
            record.crc, record.csize, record.usize,
        ):  # fmt: skip
            mismatches.append("CRC or sizes")
        end, found = _descriptor(handle, path, end, record)
        if found != (record.crc, record.csize, record.usize):
            mismatches.append("data descriptor")
    else:
        usize, csize = _zip64_values(extras, [usize, csize], record.name, path)
        if (crc, csize, usize) != (record.crc, record.csize, record.usize):
            mismatches.append("CRC or sizes")
    return data_offset, end, mismatches


def _descriptor(
    handle: BinaryIO, path: Path, at: int, record: _Raw
) -> tuple[int, tuple[int, int, int]]:
    wide = max(record.csize, record.usize) >= _MAX32
    size_format = "<QQ" if wide else "<II"
    head = _read_at(handle, path, at, 4)
    if head == struct.pack("<I", _DESCRIPTOR_SIG):
        at += 4
    crc = struct.unpack("<I", _read_at(handle, path, at, 4))[0]
    span = struct.calcsize(size_format)
    csize, usize = struct.unpack(size_format, _read_at(handle, path, at + 4, span))
    return at + 4 + span, (crc, csize, usize)


def _read_members(handle: BinaryIO, path: Path) -> tuple[ZipMember, ...]:
    directory = _find_directory(handle, path)
    records = _central_records(handle, path, directory)
    problems: list[tuple[str, str]] = []
    members: list[ZipMember] = []
    expected_at = 0
    for record in records:
        if record.offset != expected_at:
            what = "overlaps the entry before it" if record.offset < expected_at else (
                "leaves a gap before it (room for a hidden entry)"
            )  # fmt: skip
            problems.append((record.name, f"has data that {what} or is out of order"))
            break  # the offsets of the rest mean nothing now: stop before reading them
        data_offset, end, mismatches = _local_data_span(handle, path, record)
        if mismatches:
            problems.append(
                (record.name, "local header disagrees with the central directory on "
                 + ", ".join(mismatches))
            )  # fmt: skip
        expected_at = end
        is_dir = record.name.endswith("/") or stat.S_ISDIR(record.mode)
        members.append(
            ZipMember(
                normalise(record.name), record.name, is_dir, record.mode, record.method,
                record.flags, record.crc, record.csize, record.usize, record.offset, data_offset,
            )
        )  # fmt: skip
    if not problems and expected_at != directory.offset:
        problems.append(("(central directory)", "is not right after the last entry's data"))
    if problems:
        raise _refusal(problems)
    members = _with_links(handle, path, members)
    _check_tree(members)
    return tuple(members)


def _with_links(handle: BinaryIO, path: Path, members: list[ZipMember]) -> list[ZipMember]:
    """Members with their symlink targets read (bounded); special files refused."""
    problems: list[tuple[str, str]] = []
    result: list[ZipMember] = []
    for member in members:
        kind = stat.S_IFMT(member.mode)
        if kind in (stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK):
            problems.append((member.name, "is a FIFO, device or socket, not a file"))
            continue
        if kind == stat.S_IFLNK and not member.is_dir:
            if member.size > _MAX_LINK_TARGET or member.compressed_size > 2 * _MAX_LINK_TARGET:
                problems.append((member.name, "is a symlink with an over-long target"))
                continue
            raw = b"".join(_inflate(handle, path, member, verify=True))
            try:
                target = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append((member.name, "is a symlink whose target is not UTF-8"))
                continue
            if not target or "\x00" in target:
                problems.append((member.name, "is a symlink with an empty or NUL target"))
                continue
            member = dataclasses.replace(member, link_target=target)
        result.append(member)
    if problems:
        raise _refusal(problems)
    return result


def _check_tree(members: list[ZipMember]) -> None:
    """No duplicate, no file used as a directory, no name under a link, every link resolvable."""
    problems: list[tuple[str, str]] = []
    kinds: dict[str, str] = {}
    for member in members:
        kind = "directory" if member.is_dir else "symlink" if member.is_symlink else "file"
        if member.name in kinds:
            problems.append((member.name, f"appears twice once normalised ({kinds[member.name]} "
                             f"and {kind}); which copy an extractor keeps varies"))  # fmt: skip
        kinds[member.name] = kind
    clear: set[str] = set()  # names that are, with every ancestor, neither a file nor a link
    for member in members:
        parent = posixpath.dirname(member.name)
        walked: list[str] = []
        while parent and parent not in clear:
            if kinds.get(parent) == "file":
                problems.append((member.name, f"is inside {parent!r}, which is a file"))
                break
            if kinds.get(parent) == "symlink":
                problems.append(
                    (member.name, f"is inside {parent!r}, a symlink an extractor writes through")
                )
                break
            walked.append(parent)
            parent = posixpath.dirname(parent)
        else:  # reached the top, or a directory known to be clear: so is each one walked
            clear.update(walked)
    if problems:
        raise _refusal(problems)


def _link_issues(members: tuple[ZipMember, ...]) -> dict[str, str]:
    """Why each bad symlink does not land on a file inside the zip (resolved through the other
    links): it leaves the tree, is absolute, loops, dangles or names a directory."""
    kinds = {m.name: m for m in members}
    links = {m.name: m.link_target for m in members if m.link_target is not None}
    parents: set[str] = set()  # every directory a name implies, with an entry of its own or not
    for name in kinds:
        parent = posixpath.dirname(name)
        while parent and parent not in parents:
            parents.add(parent)
            parent = posixpath.dirname(parent)
    issues: dict[str, str] = {}
    for name in links:
        try:
            landing = _resolve_links(name, links)
        except ValueError as exc:
            issues[name] = str(exc)
            continue
        member = kinds.get(landing)
        if member is None or member.is_dir:
            directory = member is not None or landing in parents
            issues[name] = "is a directory" if directory else "is not in the zip"
    return issues


def _resolve_links(name: str, links: Mapping[str, str]) -> str:
    """Follow every symlink along `name` (physically, like the kernel); raise ValueError when the
    path leaves the tree, is absolute or loops."""
    pending = deque(name.split("/"))
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise ValueError("leaves the layer")
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is None:
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS:
            raise ValueError("loops (or takes more than 40 hops)")
        if target.startswith("/"):
            raise ValueError("is absolute (the layer is extracted to /opt)")
        resolved.pop()
        pending.extendleft(reversed(target.split("/")))
    return "/".join(resolved)
