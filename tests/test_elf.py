"""The bounded ELF reader: what it reads, and that hostile headers end in a clean refusal.

The fuzz tests mutate valid fixtures (tests/elf_fixtures.py) with Hypothesis and ask for "a clean
result or a clean refusal" within a time cap; their example budget is small so the module runs in
a few seconds (LAYERKIT_FUZZ_EXAMPLES raises it for a longer run on demand).
"""

from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerkit import elf, verify
from layerkit.elf import MAX_TABLE, ElfError, read_elf
from layerkit.errors import VerificationError
from layerkit.targets import make_target
from tests.elf_fixtures import EM_AARCH64, EM_X86_64, Need, make_elf

PY311_X86 = make_target("3.11", "x86_64")
EXAMPLES = int(os.environ.get("LAYERKIT_FUZZ_EXAMPLES", "150"))
SECONDS_PER_FILE = 1.0
PEAK_BYTES = 64 << 20

SEED = make_elf(
    EM_X86_64,
    [Need("libc.so.6", "GLIBC_2.28", "memfd_create"), Need("libm.so.6", "GLIBC_2.17", "exp")],
    needed=["libc.so.6", "libm.so.6", "libfoo.so.1"],
    rpath="$ORIGIN/../foo.libs",
    interpreter="/lib64/ld-linux-x86-64.so.2",
    debug_bytes=64,
)


def _section_header(data: bytes, name: str) -> int:
    """The file offset of the header of the section called `name` in a fixture."""
    shoff: int = struct.unpack_from("<Q", data, 0x28)[0]
    shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
    names_offset = struct.unpack_from("<Q", data, shoff + shstrndx * 64 + 24)[0]
    for index in range(shnum):
        header = shoff + index * 64
        name_index = struct.unpack_from("<I", data, header)[0]
        end = data.index(b"\0", names_offset + name_index)
        if data[names_offset + name_index : end].decode() == name:
            return header
    raise AssertionError(name)


def test_reads_needs_search_paths_interpreter_and_versions() -> None:
    info = read_elf(io.BytesIO(SEED))
    assert info.machine == "EM_X86_64"
    assert info.kind == "executable"
    assert info.needed == ("libc.so.6", "libm.so.6", "libfoo.so.1")
    assert info.rpath == ("$ORIGIN/../foo.libs",)
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert {(n.library, n.version) for n in info.version_needs} == {
        ("libc.so.6", "GLIBC_2.28"),
        ("libm.so.6", "GLIBC_2.17"),
    }


def test_a_real_binary_reads_like_readelf_says() -> None:
    with open("/bin/ls", "rb") as stream:
        info = read_elf(stream)
    assert "libc.so.6" in info.needed
    assert info.interpreter is not None and "ld-linux" in info.interpreter
    assert any(n.version.startswith("GLIBC_2.") for n in info.version_needs)


@pytest.mark.timeout(10)
def test_a_version_need_count_of_0xffffffff_ends_not_loops() -> None:
    """issue 19: `.gnu.version_r` with vn_cnt 0xFFFFFFFF (and a vn_next pointing at itself) made
    the build's ELF reader loop forever; the walk is bounded by the section's real size."""
    data = bytearray(SEED)
    header = _section_header(bytes(data), ".gnu.version_r")
    offset = struct.unpack_from("<Q", data, header + 24)[0]
    struct.pack_into("<H", data, offset + 2, 0xFFFF)  # vn_cnt of the first record
    struct.pack_into("<I", data, offset + 12, 0)  # vna_next of its aux: itself
    struct.pack_into("<I", data, offset + 16 + 12, 0)  # keep the aux chain on itself
    struct.pack_into("<I", data, header + 44, 0xFFFFFFFF)  # sh_info: 0xFFFFFFFF records
    started = time.monotonic()
    info = elf.read_shared_object(io.BytesIO(bytes(data)), glibc_limit=(2, 26))
    assert time.monotonic() - started < 2
    assert info.format == "elf"


@pytest.mark.timeout(10)
def test_a_self_referencing_version_need_chain_ends() -> None:
    data = bytearray(SEED)
    header = _section_header(bytes(data), ".gnu.version_r")
    offset = struct.unpack_from("<Q", data, header + 24)[0]
    struct.pack_into("<H", data, offset + 2, 0xFFFF)
    struct.pack_into("<I", data, offset + 16 + 12, 16)  # vna_next: 16 bytes on, forever
    info = read_elf(io.BytesIO(bytes(data)))
    assert len(info.version_needs) <= len(data) // 16


@pytest.mark.parametrize(
    ("field", "fmt", "value"),
    [
        (0x28, "<Q", 2**64 - 1),  # e_shoff far past the end
        (0x20, "<Q", 2**63),  # e_phoff
        (0x3C, "<H", 0xFFFF),  # e_shnum
        (0x3A, "<H", 1),  # e_shentsize too small
        (0x38, "<H", 0xFFFF),  # e_phnum
    ],
)
def test_fuzzed_headers_are_a_clean_refusal_naming_the_file(
    field: int, fmt: str, value: int
) -> None:
    """issue 19: fuzzed ELF headers raised OverflowError (exit 1, internal error)."""
    data = bytearray(SEED)
    struct.pack_into(fmt, data, field, value)
    with pytest.raises(ElfError):
        read_elf(io.BytesIO(bytes(data)))
    violations = verify.check_shared_objects(
        ["pkg/_x.abi3.so"], lambda _p: io.BytesIO(bytes(data)), PY311_X86, owners={}
    )
    with pytest.raises(VerificationError) as caught:
        verify.raise_for(violations)
    assert "pkg/_x.abi3.so" in caught.value.message
    assert "cannot be read" in caught.value.message


def test_a_huge_declared_table_is_not_read() -> None:
    data = bytearray(SEED)
    header = _section_header(bytes(data), ".gnu.version_r")
    struct.pack_into("<Q", data, header + 32, MAX_TABLE * 4)  # sh_size: 64 MiB
    data += b"\0" * 16  # still a small file
    with pytest.raises(ElfError, match=r"outside the file|more than"):
        read_elf(io.BytesIO(bytes(data)))


class _CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_only_headers_and_needed_tables_are_read_not_the_whole_file() -> None:
    big = make_elf(EM_X86_64, needed=["libc.so.6"], debug_bytes=8 << 20)
    stream = _CountingStream(big)
    info = elf.read_shared_object(stream, glibc_limit=(2, 26))
    assert info.elf is not None and info.elf.needed == ("libc.so.6",)
    assert stream.bytes_read < 64 * 1024 < len(big)


def _check_cleanly(data: bytes) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        info = elf.read_shared_object(io.BytesIO(data), glibc_limit=(2, 26))
        violations = verify.check_shared_objects(
            ["pkg/_x.abi3.so"], lambda _p: io.BytesIO(data), PY311_X86, owners={}
        )
        try:
            verify.raise_for(violations)
        except VerificationError as exc:
            assert "pkg/_x.abi3.so" in exc.message
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < SECONDS_PER_FILE
    assert peak < PEAK_BYTES
    assert info.format in ("elf", "unknown", "mach-o", "mach-o-universal", "pe")


_SEEDS = [SEED, make_elf(EM_AARCH64, needed=["libz.so.1"], runpath="$ORIGIN", debug_bytes=0)]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=600), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=8,
    ),
)
def test_fuzz_mutated_headers_give_a_clean_result_or_refusal(
    seed: bytes, edits: list[tuple[int, bytes]]
) -> None:
    data = bytearray(seed)
    for position, chunk in edits:
        data[position : position + len(chunk)] = chunk
    _check_cleanly(bytes(data))


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(seed=st.sampled_from(_SEEDS), cut=st.integers(min_value=0, max_value=2000))
def test_fuzz_truncated_files_give_a_clean_result_or_refusal(seed: bytes, cut: int) -> None:
    _check_cleanly(seed[: min(cut, len(seed))])


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(
    seed=st.sampled_from(_SEEDS),
    field=st.sampled_from([0x20, 0x28, 0x36, 0x38, 0x3A, 0x3C, 0x3E]),
    value=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_fuzz_header_fields_at_extremes(seed: bytes, field: int, value: int) -> None:
    data = bytearray(seed)
    width = 8 if field in (0x20, 0x28) else 2
    data[field : field + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    _check_cleanly(bytes(data))
