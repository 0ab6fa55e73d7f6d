"""A tiny zip writer for hostile test inputs: every header field can be set on its own.

`zipfile` refuses to write most of what these tests need (a central name that differs from the
local one, a size that lies, records pointing at one entry), so the bytes are laid out here.
"""

from __future__ import annotations

import stat
import struct
import zlib
from dataclasses import dataclass, field

LOCAL = struct.Struct("<IHHHHHIIIHH")
CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
END = struct.Struct("<IHHHHIIH")
SITE = "python/lib/python3.12/site-packages"


@dataclass
class Entry:
    """One entry; the `central_*`/`local_*` overrides make the two headers disagree."""

    name: str | bytes
    data: bytes = b""
    method: int = 8
    flags: int = 0
    mode: int = stat.S_IFREG | 0o644
    extra: bytes = b""
    central_name: bytes | None = None
    local_name: bytes | None = None
    central: dict[str, int] = field(default_factory=dict)  # crc, csize, usize, flags, method
    local: dict[str, int] = field(default_factory=dict)
    offset: int | None = None  # where its central record says the local header is

    @property
    def raw_name(self) -> bytes:
        return self.name if isinstance(self.name, bytes) else self.name.encode()


def payload(entry: Entry) -> bytes:
    if entry.method == 8:
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        return deflater.compress(entry.data) + deflater.flush()
    return entry.data


def craft(
    entries: list[Entry], *, prefix: bytes = b"", suffix: bytes = b"", count: int | None = None
) -> bytes:
    """The bytes of a zip holding `entries` (plus `prefix`/`suffix` around it)."""
    body = bytearray(prefix)
    records = bytearray()
    for entry in entries:
        compressed = payload(entry)
        fields = {
            "crc": zlib.crc32(entry.data),
            "csize": len(compressed),
            "usize": len(entry.data),
            "flags": entry.flags
            | (0x800 if isinstance(entry.name, str) and not entry.name.isascii() else 0),
            "method": entry.method,
        }
        local = {**fields, **entry.local}
        central = {**fields, **entry.central}
        offset = len(body) - len(prefix) if entry.offset is None else entry.offset
        local_name = entry.local_name if entry.local_name is not None else entry.raw_name
        central_name = entry.central_name if entry.central_name is not None else entry.raw_name
        body += LOCAL.pack(
            0x04034B50, 20, local["flags"], local["method"], 0, 0x21, local["crc"],
            local["csize"], local["usize"], len(local_name), len(entry.extra),
        )  # fmt: skip
        body += local_name + entry.extra + compressed
        records += CENTRAL.pack(
            0x02014B50, 0x0314, 20, central["flags"], central["method"], 0, 0x21,
            central["crc"], central["csize"], central["usize"], len(central_name),
            len(entry.extra), 0, 0, 0, entry.mode << 16, offset,
        )  # fmt: skip
        records += central_name + entry.extra
    cd_offset = len(body) - len(prefix)
    total = len(entries) if count is None else count
    end = END.pack(0x06054B50, 0, 0, total, total, len(records), cd_offset, 0)
    return bytes(body + records + end + suffix)


def link(name: str, target: str) -> Entry:
    return Entry(name, target.encode(), method=0, mode=stat.S_IFLNK | 0o777)
