"""A bounded ELF reader: what a binary is and what it needs, read from any seekable stream.

Verification and slimming both ask the same questions of a binary (which machine, which libraries
and symbol versions it needs, where it searches for them, which sections a strip would drop, how
its loadable segments are aligned); this module answers them, and is the only one that reads a
binary's headers: which file names may hold a binary, which format its magic bytes announce
(ELF, Mach-O, PE), and whether it is for another platform than the target.

Untrusted input: every file comes from a wheel or a zip someone else made. So the reader
- reads only the headers and the few tables it needs (never the whole file): at most `MAX_TABLE`
  bytes per table, `MAX_STRING` per string;
- checks every offset and size against the file's real size before reading;
- bounds every loop by the size of the table it walks (a ``.gnu.version_r`` count of 0xFFFFFFFF
  or a ``vn_next`` that points back at itself ends the walk, it does not loop);
- reports anything it cannot make sense of as one `ElfError` whose message says what is wrong.
Nothing else escapes: no `struct.error`, `OverflowError` or `MemoryError` from a hostile header.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal

if TYPE_CHECKING:
    from layerkit.targets import Target

ELF_MAGIC = b"\x7fELF"
MAX_TABLE = 16 << 20  # bytes of one header table, dynamic section, version table or symbol table
MAX_STRING = 4096  # bytes of one name (a library, a version, a symbol, an RPATH)
MAX_SECTIONS = 1 << 16
MAX_SEGMENTS = 1 << 16
MAX_LISTED_SYMBOLS = 50  # symbols named as needing one version (the message shows three)

# e_machine numbers, spelled as pyelftools (and `targets.ArchInfo.elf_machine`) spell them.
MACHINES = {
    3: "EM_386",
    8: "EM_MIPS",
    20: "EM_PPC",
    21: "EM_PPC64",
    22: "EM_S390",
    40: "EM_ARM",
    62: "EM_X86_64",
    183: "EM_AARCH64",
    243: "EM_RISCV",
}
ElfKind = Literal["shared", "executable", "relocatable", "other"]
_KINDS: dict[int, ElfKind] = {1: "relocatable", 2: "executable", 3: "shared"}

_SHT_DYNAMIC = 6
_SHT_NOBITS = 8
_SHT_DYNSYM = 11
_SHT_GNU_VERNEED = 0x6FFFFFFE
_SHT_GNU_VERSYM = 0x6FFFFFFF
_PT_LOAD = 1
_PT_DYNAMIC = 2
_PT_INTERP = 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME, _DT_RPATH = 0, 1, 5, 10, 14, 15
_DT_RUNPATH = 29
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
_VERSION_INDEX_MASK = 0x7FFF  # the top bit of a versym entry marks a hidden symbol
_VERNEED_SIZE = 16  # Elf32_Verneed and Elf64_Verneed alike, and each Vernaux


class ElfError(Exception):
    """The file starts like an ELF file but its headers cannot be read safely."""


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass(frozen=True)
class LoadSegment:
    offset: int
    vaddr: int
    align: int


@dataclass(frozen=True)
class VersionNeed:
    """One ``version@library`` the file needs (``GLIBC_2.28`` from ``libc.so.6``)."""

    library: str
    version: str
    index: int  # vna_other: the versym value of the symbols that need it


@dataclass(frozen=True)
class ElfInfo:
    """What an ELF file is and needs, as its headers say."""

    machine: str  # MACHINES' name, or ``EM_<number>``
    bits: int  # 32 or 64
    kind: ElfKind
    needed: tuple[str, ...] = ()  # DT_NEEDED, in order
    rpath: tuple[str, ...] = ()  # DT_RPATH entries, split at ':'
    runpath: tuple[str, ...] = ()  # DT_RUNPATH entries
    soname: str | None = None
    interpreter: str | None = None  # PT_INTERP: set for a dynamically linked executable
    version_needs: tuple[VersionNeed, ...] = ()
    sections: tuple[Section, ...] = ()
    loads: tuple[LoadSegment, ...] = ()

    def section_named(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


@dataclass(frozen=True)
class _Layout:
    """The struct formats of one ELF class and byte order."""

    bits: int
    order: str

    def unpack(self, fmt: str, data: bytes, offset: int = 0) -> tuple[int, ...]:
        return struct.unpack_from(self.order + fmt, data, offset)

    @property
    def ehdr(self) -> str:
        return "HHIIIIIHHHHHH" if self.bits == 32 else "HHIQQQIHHHHHH"

    @property
    def shdr(self) -> str:
        return "IIIIIIIIII" if self.bits == 32 else "IIQQQQIIQQ"

    @property
    def phdr(self) -> str:
        return "IIIIIIII" if self.bits == 32 else "IIQQQQQQ"

    @property
    def dyn(self) -> str:
        return "iI" if self.bits == 32 else "qQ"

    @property
    def sym(self) -> str:
        return "IIIBBH" if self.bits == 32 else "IBBHQQ"


class _Reader:
    """Reads bounded ranges of a stream whose size is known."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        stream.seek(0, 2)
        self.size = stream.tell()

    def read(self, offset: int, length: int, what: str) -> bytes:
        if length > MAX_TABLE:
            raise ElfError(f"{what} is {length:,} bytes, more than the {MAX_TABLE:,} read at most")
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError(f"{what} lies outside the file ({self.size:,} bytes)")
        self.stream.seek(offset)
        data = self.stream.read(length)
        if len(data) != length:
            raise ElfError(f"{what} is cut short")
        return data

    def string(self, table_offset: int, table_size: int, index: int, what: str) -> str:
        """The NUL-terminated string at `index` of the string table at `table_offset`."""
        if index >= table_size:
            raise ElfError(f"{what} points past its string table")
        start = table_offset + index
        length = min(MAX_STRING, table_size - index, self.size - start)
        data = self.read(start, max(length, 0), what)
        end = data.find(b"\x00")
        if end < 0:
            raise ElfError(f"{what} is not terminated within {MAX_STRING} bytes")
        return data[:end].decode("utf-8", errors="replace")


def is_elf(head: bytes) -> bool:
    return head.startswith(ELF_MAGIC)


def read_elf(stream: BinaryIO) -> ElfInfo:
    """Read an ELF file's identity, dynamic needs, sections and loadable segments.

    Raises `ElfError` (never anything else for bad bytes) when the headers are inconsistent.
    """
    try:
        return _read(_Reader(stream))
    except (struct.error, OverflowError, ValueError, MemoryError) as exc:
        raise ElfError(f"malformed headers ({type(exc).__name__}: {exc})") from exc


def _read(reader: _Reader) -> ElfInfo:
    ident = reader.read(0, 16, "the ELF identification")
    if not is_elf(ident):
        raise ElfError("no ELF magic")
    if ident[4] not in (1, 2):
        raise ElfError(f"unknown ELF class {ident[4]}")
    if ident[5] not in (1, 2):
        raise ElfError(f"unknown ELF byte order {ident[5]}")
    layout = _Layout(32 if ident[4] == 1 else 64, "<" if ident[5] == 1 else ">")
    header_size = struct.calcsize(layout.order + layout.ehdr)
    header = layout.unpack(layout.ehdr, reader.read(16, header_size, "the ELF header"))
    e_type, e_machine = header[0], header[1]
    phoff, shoff = header[4], header[5]
    phentsize, phnum, shentsize, shnum, shstrndx = header[8:13]
    sections = _sections(reader, layout, shoff, (shentsize, shnum, shstrndx))
    loads, dynamic_segment, interpreter = _segments(reader, layout, phoff, phentsize, phnum)
    info = ElfInfo(
        machine=MACHINES.get(e_machine, f"EM_{e_machine}"),
        bits=layout.bits,
        kind=_KINDS.get(e_type, "other"),
        interpreter=interpreter,
        sections=sections,
        loads=loads,
    )
    return _with_dynamic(reader, layout, info, dynamic_segment)


def _sections(
    reader: _Reader, layout: _Layout, shoff: int, counts: tuple[int, int, int]
) -> tuple[Section, ...]:
    if shoff == 0:
        return ()
    shentsize, shnum, shstrndx = counts
    fmt = layout.shdr
    entry = struct.calcsize(layout.order + fmt)
    if shentsize < entry:
        raise ElfError(f"section header entries of {shentsize} bytes (at least {entry} needed)")
    first = layout.unpack(fmt, reader.read(shoff, entry, "the first section header"))
    if shnum == 0:  # extended numbering: the count is in section 0's sh_size
        shnum = first[5]
    if shstrndx == 0xFFFF:  # SHN_XINDEX: the index is in section 0's sh_link
        shstrndx = first[6]
    if shnum > MAX_SECTIONS:
        raise ElfError(f"{shnum:,} sections (at most {MAX_SECTIONS:,} are read)")
    table = reader.read(shoff, shnum * shentsize, "the section header table")
    raw = [layout.unpack(fmt, table, i * shentsize) for i in range(shnum)]
    names_offset = names_size = 0
    if 0 < shstrndx < shnum and raw[shstrndx][1] != _SHT_NOBITS:
        names_offset, names_size = raw[shstrndx][4], raw[shstrndx][5]
    sections = []
    for name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in raw:
        text = ""
        if names_size and name:
            text = reader.string(names_offset, names_size, name, "a section name")
        if kind != _SHT_NOBITS and size and offset + size > reader.size:
            raise ElfError(f"section {text or '?'} lies outside the file ({reader.size:,} bytes)")
        sections.append(
            Section(text, kind, offset, 0 if kind == _SHT_NOBITS else size, link, entsize)
        )
    return tuple(sections)


def _segments(
    reader: _Reader, layout: _Layout, phoff: int, phentsize: int, phnum: int
) -> tuple[tuple[LoadSegment, ...], tuple[int, int] | None, str | None]:
    """PT_LOAD segments, the PT_DYNAMIC range (offset, size) and the PT_INTERP path."""
    if phoff == 0 or phnum == 0:
        return (), None, None
    fmt = layout.phdr
    entry = struct.calcsize(layout.order + fmt)
    if phentsize < entry:
        raise ElfError(f"program header entries of {phentsize} bytes (at least {entry} needed)")
    if phnum > MAX_SEGMENTS:
        raise ElfError(f"{phnum:,} program headers")
    table = reader.read(phoff, phnum * phentsize, "the program header table")
    loads: list[LoadSegment] = []
    dynamic: tuple[int, int] | None = None
    interpreter: str | None = None
    for i in range(phnum):
        fields = layout.unpack(fmt, table, i * phentsize)
        if layout.bits == 32:
            p_type, offset, vaddr, _paddr, filesz, _memsz, _flags, align = fields
        else:
            p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, align = fields
        if p_type == _PT_LOAD:
            loads.append(LoadSegment(offset, vaddr, align))
        elif p_type == _PT_DYNAMIC:
            dynamic = (offset, filesz)
        elif p_type == _PT_INTERP and filesz:
            interpreter = reader.string(offset, filesz, 0, "the program interpreter")
    return tuple(loads), dynamic, interpreter


def _with_dynamic(
    reader: _Reader, layout: _Layout, info: ElfInfo, dynamic_segment: tuple[int, int] | None
) -> ElfInfo:
    """Fill in DT_NEEDED, RPATH, RUNPATH, SONAME and the version needs."""
    dynamic = next((s for s in info.sections if s.type == _SHT_DYNAMIC), None)
    strtab: tuple[int, int] | None = None
    if dynamic is not None:
        dyn_range = (dynamic.offset, dynamic.size)
        if 0 < dynamic.link < len(info.sections):
            linked = info.sections[dynamic.link]
            strtab = (linked.offset, linked.size)
    elif dynamic_segment is not None:
        dyn_range = dynamic_segment
    else:  # statically linked, or a relocatable object: only a version table, if any
        return dataclasses.replace(info, version_needs=_section_version_needs(reader, layout, info))
    entries = list(_dynamic_entries(reader, layout, dyn_range))
    if strtab is None:  # no section headers: find the string table through the segments
        address = next((v for t, v in entries if t == _DT_STRTAB), None)
        size = next((v for t, v in entries if t == _DT_STRSZ), 0)
        if address is None:
            return info
        strtab = (_offset_of(reader, info, address), size)
    table_offset, table_size = strtab

    def text(index: int, what: str) -> str:
        return reader.string(table_offset, table_size, index, what)

    needed = tuple(text(v, "a needed library") for t, v in entries if t == _DT_NEEDED)
    rpath = tuple(p for t, v in entries if t == _DT_RPATH for p in text(v, "RPATH").split(":"))
    runpath = tuple(
        p for t, v in entries if t == _DT_RUNPATH for p in text(v, "RUNPATH").split(":")
    )
    soname = next((text(v, "the SONAME") for t, v in entries if t == _DT_SONAME), None)
    needs = _section_version_needs(reader, layout, info)
    if not any(s.type == _SHT_GNU_VERNEED for s in info.sections):
        address = next((v for t, v in entries if t == _DT_VERNEED), None)
        count = next((v for t, v in entries if t == _DT_VERNEEDNUM), 0)
        if address is not None:
            start = _offset_of(reader, info, address)
            # Without a section size, bound the walk by the count and what a table may hold.
            span = min(reader.size - start, MAX_TABLE, max(count, 0) * 64 * _VERNEED_SIZE)
            needs = _version_needs(reader, layout, start, span, text)
    return dataclasses.replace(
        info,
        needed=needed,
        rpath=tuple(p for p in rpath if p),
        runpath=tuple(p for p in runpath if p),
        soname=soname,
        version_needs=needs,
    )


def _section_version_needs(
    reader: _Reader, layout: _Layout, info: ElfInfo
) -> tuple[VersionNeed, ...]:
    """The needs of the ``.gnu.version_r`` section, with names from its linked string table."""
    verneed = next((s for s in info.sections if s.type == _SHT_GNU_VERNEED), None)
    if verneed is None or not 0 < verneed.link < len(info.sections):
        return ()
    strings = info.sections[verneed.link]

    def text(index: int, what: str) -> str:
        return reader.string(strings.offset, strings.size, index, what)

    return _version_needs(reader, layout, verneed.offset, verneed.size, text)


def _offset_of(reader: _Reader, info: ElfInfo, address: int) -> int:
    for segment in info.loads:
        if segment.vaddr <= address and address - segment.vaddr < reader.size:
            offset = segment.offset + (address - segment.vaddr)
            if offset < reader.size:
                return offset
    raise ElfError(f"address {address:#x} is in no loadable segment")


def _dynamic_entries(
    reader: _Reader, layout: _Layout, dyn_range: tuple[int, int]
) -> Iterator[tuple[int, int]]:
    offset, size = dyn_range
    fmt = layout.dyn
    entry = struct.calcsize(layout.order + fmt)
    data = reader.read(offset, size - size % entry, "the dynamic section")
    for position in range(0, len(data), entry):
        tag, value = layout.unpack(fmt, data, position)
        if tag == _DT_NULL:
            return
        yield tag, value


def _version_needs(
    reader: _Reader, layout: _Layout, offset: int, size: int, text: Callable[[int, str], str]
) -> tuple[VersionNeed, ...]:
    """Walk a ``.gnu.version_r`` table, never past its `size` bytes nor twice over one record."""
    data = reader.read(offset, size, "the version needs (.gnu.version_r)")
    needs: list[VersionNeed] = []
    seen: set[int] = set()
    position = 0
    budget = len(data) // _VERNEED_SIZE  # records the table can hold: no walk is longer
    while budget > 0 and position not in seen and position + _VERNEED_SIZE <= len(data):
        seen.add(position)
        budget -= 1
        _version, count, file_index, aux, following = layout.unpack("HHIII", data, position)
        library = text(file_index, "a version need's library")
        aux_position = position + aux
        for _ in range(min(count, budget + 1)):
            if aux_position in seen or aux_position + _VERNEED_SIZE > len(data):
                break
            seen.add(aux_position)
            budget -= 1
            _hash, _flags, other, name, aux_next = layout.unpack("IHHII", data, aux_position)
            needs.append(VersionNeed(library, text(name, "a needed version"), other))
            if aux_next == 0:
                break
            aux_position += aux_next
        if following == 0:
            break
        position += following
    return tuple(needs)


def symbols_needing(stream: BinaryIO, info: ElfInfo, indexes: frozenset[int]) -> tuple[str, ...]:
    """The dynamic symbols whose version index (``.gnu.version``) is in `indexes`, sorted.

    Reads the version and symbol tables (bounded) only when asked: it is the slow part.
    At most `MAX_LISTED_SYMBOLS` names are returned.
    """
    versym = next((s for s in info.sections if s.type == _SHT_GNU_VERSYM), None)
    dynsym = next((s for s in info.sections if s.type == _SHT_DYNSYM), None)
    if versym is None or dynsym is None or not indexes:
        return ()
    try:
        reader = _Reader(stream)
        layout = _Layout(info.bits, _byte_order(reader))
        entry = struct.calcsize(layout.order + layout.sym)
        versions = reader.read(versym.offset, versym.size - versym.size % 2, "the symbol versions")
        count = min(len(versions) // 2, dynsym.size // entry)
        strtab = info.sections[dynsym.link] if 0 < dynsym.link < len(info.sections) else None
        if strtab is None:
            return ()
        names: set[str] = set()
        for number in range(count):
            (ndx,) = layout.unpack("H", versions, number * 2)
            if ndx & _VERSION_INDEX_MASK not in indexes:
                continue
            raw = reader.read(dynsym.offset + number * entry, entry, "a dynamic symbol")
            name_index = layout.unpack(layout.sym, raw)[0]
            if name_index:
                names.add(reader.string(strtab.offset, strtab.size, name_index, "a symbol name"))
            if len(names) >= MAX_LISTED_SYMBOLS:
                break
        return tuple(sorted(names))
    except (ElfError, struct.error, OverflowError, ValueError):
        return ()  # the needs were read; naming the symbols is a courtesy


def _byte_order(reader: _Reader) -> str:
    ident = reader.read(0, 6, "the ELF identification")
    return "<" if ident[5] == 1 else ">"


# --- binaries: which files may be one, their format, and whose platform they are ------------

# Named like a Linux shared object: ``.so``, ``.so.1.2``, ``.so.1.1.1k``; or a Windows extension.
_SHARED_OBJECT_NAME = re.compile(r"\.(?:so(?:\.[0-9][0-9A-Za-z_]*)*|pyd|dylib)$")
# The middle part of ``mod.<tag>.so`` when it names a Python ABI (else the name is not a tag).
_ABI_TAG = re.compile(r"^(?:cpython-\d+[a-z]*(?:-.+)?|pypy\d+-pp\d+(?:-.+)?|graalpy.+|abi3)$")
_GLIBC_VERSION = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.\d+)*$")
_GLIBCXX_VERSION = re.compile(r"^GLIBCXX_(\d+)\.(\d+)\.(\d+)$")
# Files no loader ever maps or runs: not read for magic bytes (a zip member costs a decompression).
_NEVER_BINARY_SUFFIXES = frozenset(
    {".py", ".pyc", ".pyi", ".pyx", ".pxd", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp", ".rs",
     ".txt", ".md", ".rst", ".json", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".html", ".js",
     ".css", ".csv", ".xml", ".typed", ".pem", ".png", ".jpg", ".gif", ".svg", ".class",
     ".jar", ".gz", ".zip", ".npz", ".npy", ".pkl", ".mo", ".po", ".ttf"}
)  # fmt: skip

FileFormat = Literal["elf", "mach-o", "mach-o-universal", "pe", "unknown"]
_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe")
# 0xCAFEBABE also starts a Java class file, whose next word (minor, major version) is >= 45;
# a universal Mach-O's is its count of architectures.
_JAVA_CLASS_MIN_VERSION = 45
MAGIC_BYTES = 8  # what `file_format` looks at


@dataclass(frozen=True)
class SharedObjectInfo:
    """What a binary is and needs, read from its headers."""

    format: FileFormat
    machine: str = ""  # e_machine name, e.g. EM_X86_64
    glibc: tuple[int, int] | None = None  # the newest GLIBC_x.y version it needs
    glibc_symbols: tuple[str, ...] = ()  # the symbols that need that version
    error: str = ""  # why the ELF could not be parsed, if it could not
    elf: ElfInfo | None = None  # everything else the headers say (needed libraries, ...)

    @property
    def glibcxx(self) -> tuple[int, int, int] | None:
        """The newest GLIBCXX_x.y.z (libstdc++) version it needs."""
        found = [
            (int(m[1]), int(m[2]), int(m[3]))
            for need in (self.elf.version_needs if self.elf else ())
            if (m := _GLIBCXX_VERSION.match(need.version))
        ]
        return max(found) if found else None


def is_shared_object(path: str) -> bool:
    """Whether `path` is named like a shared object (``.so``, ``.so.1.2``, ``.so.1.1.1k``,
    ``.pyd``, ``.dylib``)."""
    return bool(_SHARED_OBJECT_NAME.search(posixpath.basename(path)))


def may_be_binary(path: str) -> bool:
    """Whether a file could be a binary a loader maps or runs: named like a shared object, or
    of any name but those of source, text and data files (whose magic bytes are not read)."""
    if is_shared_object(path):
        return True
    suffix = posixpath.splitext(path)[1].lower()
    return suffix not in _NEVER_BINARY_SUFFIXES and ".dist-info/" not in path


def file_format(head: bytes) -> FileFormat:
    """The executable format a file's first bytes announce."""
    if is_elf(head):
        return "elf"
    if head[:4] in _MACHO_MAGICS:
        return "mach-o"
    if head.startswith(b"\xca\xfe\xba\xbe"):
        if len(head) >= 8 and int.from_bytes(head[4:8], "big") >= _JAVA_CLASS_MIN_VERSION:
            return "unknown"  # a Java class file
        return "mach-o-universal"
    if head.startswith(b"MZ"):
        return "pe"
    return "unknown"


def read_shared_object(
    stream: BinaryIO, *, glibc_limit: tuple[int, int] | None = None
) -> SharedObjectInfo:
    """Parse a binary's format, machine, needs and glibc needs from a seekable stream.

    Only headers and the tables needed are read (`layerkit.elf`). The symbols that need the
    newest glibc version are listed only when that version is newer than `glibc_limit` (listing
    them reads the dynamic symbol table: the slow part).
    """
    head = stream.read(MAGIC_BYTES)
    kind = file_format(head)
    if kind != "elf":
        return SharedObjectInfo(kind)
    try:
        elf = read_elf(stream)
    except ElfError as exc:
        return SharedObjectInfo("elf", error=str(exc))
    versions = {
        need.index: (int(m[1]), int(m[2]))
        for need in elf.version_needs
        if (m := _GLIBC_VERSION.match(need.version))
    }
    if not versions:
        return SharedObjectInfo("elf", elf.machine, elf=elf)
    newest = max(versions.values())
    symbols: tuple[str, ...] = ()
    if glibc_limit is not None and newest > glibc_limit:
        indexes = frozenset(index for index, version in versions.items() if version == newest)
        symbols = symbols_needing(stream, elf, indexes)
    return SharedObjectInfo("elf", elf.machine, newest, symbols, elf=elf)


class BinaryHeaders:
    """Each binary's headers (`read_shared_object` with `glibc_limit`) read at most once per
    build: slimming (other platforms, strip candidates) and verification share what was read.

    `opener` opens a tree-relative path (`layerkit.contents.Opener`). A step that rewrites a file
    says so: `put` the headers it read of the new content, or `forget` the path."""

    def __init__(
        self, opener: Callable[[str], BinaryIO], *, glibc_limit: tuple[int, int] | None
    ) -> None:
        self._opener = opener
        self._glibc_limit = glibc_limit
        self._known: dict[str, SharedObjectInfo] = {}

    @property
    def glibc_limit(self) -> tuple[int, int] | None:
        return self._glibc_limit

    def __call__(self, path: str) -> SharedObjectInfo:
        """The headers of the file at `path`, read now unless read before."""
        info = self._known.get(path)
        if info is None:
            with self._opener(path) as stream:
                info = read_shared_object(stream, glibc_limit=self._glibc_limit)
            self._known[path] = info
        return info

    def put(self, path: str, info: SharedObjectInfo) -> None:
        self._known[path] = info

    def forget(self, path: str) -> None:
        self._known.pop(path, None)


def extension_abi_tag(path: str) -> str | None:
    """The ABI tag of an extension module's file name (``cpython-312-x86_64-linux-gnu``, ``abi3``),
    or None when the name carries none (``_foo.so``, ``libbar.so.1``)."""
    name = posixpath.basename(path)
    if not name.endswith(".so"):
        return None
    parts = name[: -len(".so")].split(".")
    if len(parts) < 2 or not _ABI_TAG.match(parts[-1]):
        return None
    return parts[-1]


def is_extension_module(path: str) -> bool:
    """Whether Python would import the file as an extension module: ``*.so`` with an ABI tag,
    or a plain ``name.so`` that is not named like a library (``lib*.so``)."""
    name = posixpath.basename(path)
    if extension_abi_tag(path) is not None:
        return True
    return name.endswith(".so") and name.count(".") == 1 and not name.startswith("lib")


def is_other_platform(path: str, info: SharedObjectInfo, target: Target) -> bool:
    """A binary for another platform that the target never loads by itself: a Mach-O or PE file
    not named like a Linux shared object or Python extension, or an ELF file for another machine
    that is not an extension module. Packages ship such files to pick one at run time (see
    docs/reliability.md); whether something links one is judged with the needed libraries."""
    if info.format in ("mach-o", "mach-o-universal", "pe"):
        name = posixpath.basename(path)
        return not (name.endswith(".pyd") or ".so" in name)
    return (
        info.format == "elf"
        and not info.error
        and info.machine != target.elf_machine
        and not is_extension_module(path)
    )
