"""Shared objects for tests: real ones compiled by the host's gcc, and ELF files written byte by byte.

The written ones let a test ask for any machine and any ``GLIBC_x.y`` need without a cross
compiler; they are well-formed enough for pyelftools and for llvm-strip (section headers, a
dynamic symbol table with GNU symbol versions, a local symbol table and a debug section).
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EM_X86_64 = 62
EM_AARCH64 = 183
EM_386 = 3

# A function whose default symbol version is GLIBC_2.27 on every architecture glibc had then.
C_NEEDS_GLIBC_2_27 = """
#define _GNU_SOURCE
#include <sys/mman.h>
int make_fd(void) { return memfd_create("layerkit", 0); }
"""
# Only symbols every glibc since 2.2.5 (x86_64) has.
C_BASELINE = """
#include <string.h>
static int helper(const char *s) { return (int)strlen(s); }
int exported(const char *s) { return helper(s) + 1; }
"""


def gcc_shared_object(directory: Path, name: str, source: str, *, debug: bool = True) -> Path:
    """Compile `source` into ``directory/name`` as a shared object for the host (x86_64 here)."""
    c_file = directory / f"{name}.c"
    c_file.write_text(source)
    output = directory / name
    flags = ["-g"] if debug else []
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O0", *flags, "-o", str(output), str(c_file)],
        check=True,
        capture_output=True,
    )
    c_file.unlink()
    return output


@dataclass(frozen=True)
class Need:
    """One versioned undefined symbol: ``symbol@version`` from ``library``."""

    library: str
    version: str
    symbol: str


def _elf_hash(name: str) -> int:
    value = 0
    for byte in name.encode():
        value = (value << 4) + byte
        high = value & 0xF0000000
        if high:
            value ^= high >> 24
        value &= ~high
    return value & 0xFFFFFFFF


class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\x00")
        self.offsets: dict[str, int] = {"": 0}

    def add(self, text: str) -> int:
        if text not in self.offsets:
            self.offsets[text] = len(self.data)
            self.data += text.encode() + b"\x00"
        return self.offsets[text]


_SYM = struct.Struct("<IBBHQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_DYNSYM = 1, 2, 3, 11
SHT_GNU_VERNEED, SHT_GNU_VERSYM = 0x6FFFFFFE, 0x6FFFFFFF
SHF_ALLOC, SHF_EXECINSTR = 2, 4
SHT_DYNAMIC = 6
DT_NEEDED, DT_RPATH, DT_RUNPATH = 1, 15, 29


def make_elf(
    machine: int = EM_AARCH64,
    needs: Sequence[Need] = (Need("libc.so.6", "GLIBC_2.17", "strlen"),),
    *,
    debug_bytes: int = 4096,
    text: bytes = b"\x00" * 64,
    needed: Sequence[str] = (),
    rpath: str | None = None,
    runpath: str | None = None,
    interpreter: str | None = None,
) -> bytes:
    """An ELF64 little-endian shared object for `machine` that needs the given symbol versions.

    `debug_bytes` of ``.debug_info`` and a local ``.symtab`` give a strip something to remove.
    `needed`, `rpath` and `runpath` make a ``.dynamic`` section (DT_NEEDED, DT_RPATH,
    DT_RUNPATH); `interpreter` makes it an executable with a ``PT_INTERP``.
    """
    dynstr = _Strings()
    dynamic = [(DT_NEEDED, dynstr.add(name)) for name in needed]
    if rpath is not None:
        dynamic.append((DT_RPATH, dynstr.add(rpath)))
    if runpath is not None:
        dynamic.append((DT_RUNPATH, dynstr.add(runpath)))
    symbols = [_SYM.pack(0, 0, 0, 0, 0, 0)]
    versym = [0]
    version_index: dict[tuple[str, str], int] = {}
    by_library: dict[str, list[str]] = {}
    for need in needs:
        key = (need.library, need.version)
        if key not in version_index:
            version_index[key] = len(version_index) + 2  # 0 local, 1 global
            by_library.setdefault(need.library, []).append(need.version)
        symbols.append(_SYM.pack(dynstr.add(need.symbol), 0x12, 0, 0, 0, 0))
        versym.append(version_index[key])
    verneed = bytearray()
    libraries = list(by_library)
    for number, library in enumerate(libraries):
        versions = by_library[library]
        entry_size = 16 + 16 * len(versions)
        following = entry_size if number < len(libraries) - 1 else 0
        verneed += struct.pack("<HHIII", 1, len(versions), dynstr.add(library), 16, following)
        for aux_number, version in enumerate(versions):
            next_aux = 16 if aux_number < len(versions) - 1 else 0
            verneed += struct.pack(
                "<IHHII",
                _elf_hash(version),
                0,
                version_index[(library, version)],
                dynstr.add(version),
                next_aux,
            )

    strtab = _Strings()
    symtab = _SYM.pack(0, 0, 0, 0, 0, 0) + _SYM.pack(strtab.add("local_helper"), 0x02, 0, 5, 0, 8)
    shstrtab = _Strings()
    # (name, type, flags, data, link, info, align, entsize)
    sections: list[tuple[str, int, int, bytes, int, int, int, int]] = [
        (".dynstr", SHT_STRTAB, SHF_ALLOC, bytes(dynstr.data), 0, 0, 1, 0),
        (".dynsym", SHT_DYNSYM, SHF_ALLOC, b"".join(symbols), 1, 1, 8, _SYM.size),
        (
            ".gnu.version",
            SHT_GNU_VERSYM,
            SHF_ALLOC,
            struct.pack(f"<{len(versym)}H", *versym),
            2,
            0,
            2,
            2,
        ),
        (".gnu.version_r", SHT_GNU_VERNEED, SHF_ALLOC, bytes(verneed), 1, len(libraries), 8, 0),
        (".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text, 0, 0, 16, 0),
    ]
    if dynamic:
        table = b"".join(struct.pack("<qQ", tag, value) for tag, value in [*dynamic, (0, 0)])
        sections.append((".dynamic", SHT_DYNAMIC, SHF_ALLOC, table, 1, 0, 8, 16))
    if interpreter is not None:
        sections.insert(0, (".interp", SHT_PROGBITS, SHF_ALLOC, interpreter.encode() + b"\0",
                            0, 0, 1, 0))  # fmt: skip
        # every sh_link above counted from .dynstr at index 1: shift them by one
        sections = [
            (n, k, f, d, link + 1 if link else 0, info, a, e)
            if n != ".interp"
            else (n, k, f, d, link, info, a, e)
            for n, k, f, d, link, info, a, e in sections
        ]
    if debug_bytes:
        sections.append((".debug_info", SHT_PROGBITS, 0, b"\x01" * debug_bytes, 0, 0, 1, 0))
    symtab_index = len(sections) + 1
    sections.append((".symtab", SHT_SYMTAB, 0, symtab, symtab_index + 1, 1, 8, _SYM.size))
    sections.append((".strtab", SHT_STRTAB, 0, bytes(strtab.data), 0, 0, 1, 0))
    for section in sections:
        shstrtab.add(section[0])
    shstrtab.add(".shstrtab")
    sections.append((".shstrtab", SHT_STRTAB, 0, bytes(shstrtab.data), 0, 0, 1, 0))

    program_count = 2 if interpreter is not None else 1
    body = bytearray()
    offset = _EHDR.size + _PHDR.size * program_count
    interp_range = (0, 0)
    headers = [_SHDR.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    alloc_end = offset
    for name, kind, flags, data, link, info, align, entsize in sections:
        padding = (-offset) % align
        body += b"\x00" * padding
        offset += padding
        address = offset if flags & SHF_ALLOC else 0
        headers.append(
            _SHDR.pack(
                shstrtab.offsets[name],
                kind,
                flags,
                address,
                offset,
                len(data),
                link,
                info,
                align,
                entsize,
            )
        )
        if name == ".interp":
            interp_range = (offset, len(data))
        body += data
        offset += len(data)
        if flags & SHF_ALLOC:
            alloc_end = offset
    padding = (-offset) % 8
    body += b"\x00" * padding
    section_offset = offset + padding
    program = _PHDR.pack(1, 5, 0, 0, 0, alloc_end, alloc_end, 0x1000)  # PT_LOAD, R+X
    if interpreter is not None:
        start, size = interp_range
        program += _PHDR.pack(3, 4, start, start, start, size, size, 1)  # PT_INTERP
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    header = _EHDR.pack(
        ident,
        2 if interpreter is not None else 3,  # ET_EXEC or ET_DYN
        machine,
        1,
        0,
        _EHDR.size,
        section_offset,
        0,
        _EHDR.size,
        _PHDR.size,
        program_count,
        _SHDR.size,
        len(headers),
        len(headers) - 1,
    )
    return header + program + bytes(body) + b"".join(headers)


def header_only_elf(machine: int = EM_AARCH64) -> bytes:
    """The smallest ELF pyelftools accepts: a 64-bit header, no sections, no segments."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    return _EHDR.pack(ident, 3, machine, 1, 0, 0, 0, 0, _EHDR.size, _PHDR.size, 0, _SHDR.size, 0, 0)


MACHO_64 = b"\xcf\xfa\xed\xfe" + b"\x07\x00\x00\x01" + b"\x00" * 56  # MH_MAGIC_64, x86_64
MACHO_UNIVERSAL = b"\xca\xfe\xba\xbe" + b"\x00\x00\x00\x02" + b"\x00" * 56
PE_DLL = b"MZ" + b"\x00" * 62
