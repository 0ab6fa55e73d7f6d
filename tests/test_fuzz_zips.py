"""Fuzzing the zip reader (issue 19): mutated layer zips give a clean result or a clean refusal.

Hypothesis mutates valid layer zips (bytes flipped, header fields set to edge values, ranges cut,
repeated or inserted) and `inspect` must either return a result or raise a `LayerkitError`, in
bounded time and memory. CI runs a short budget; a longer run on demand:

    LAYERKIT_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz_zips.py
"""

from __future__ import annotations

import os
import resource
import stat
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerkit.errors import LayerkitError
from layerkit.inspection import inspect_layer
from tests.elf_fixtures import EM_AARCH64, EM_X86_64, make_elf
from tests.zipcraft import SITE, Entry, craft, link

EXAMPLES = int(os.environ.get("LAYERKIT_FUZZ_EXAMPLES", "600"))
SECONDS_PER_EXAMPLE = 5.0
EXTRA_RSS_MB = 300

_DIST = f"{SITE}/demo-1.0.dist-info"
SEEDS = [
    craft([
        Entry(f"{_DIST}/METADATA", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"),
        Entry(f"{_DIST}/RECORD", b"demo/__init__.py,,\ndemo/_c.so,,\n"),
        Entry(f"{SITE}/demo/__init__.py", b"from . import _c\n" * 20),
        Entry(f"{SITE}/demo/_c.so", make_elf(EM_X86_64)),
    ]),
    craft([
        Entry("python/", b"", method=0, mode=stat.S_IFDIR | 0o755),
        Entry(f"{SITE}/arm.so", make_elf(EM_AARCH64), method=0),
        link(f"{SITE}/alias.so", "arm.so"),
        Entry(f"{SITE}/pkg/tests/test_x.py", b"import pkg\n"),
    ]),
]  # fmt: skip
EDGE_VALUES = [0, 1, 0x7F, 0xFF, 0xFFFF, 0xFFFFFFFF, 0x08074B50, 0x04034B50, 0x02014B50]


@st.composite
def mutated_zips(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "field", "cut", "repeat", "insert"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "field":
            width = draw(st.sampled_from([2, 4]))
            value = draw(st.sampled_from(EDGE_VALUES)) & ((1 << (8 * width)) - 1)
            data[at : at + width] = value.to_bytes(width, "little")
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            chunk = data[at : at + draw(st.integers(1, 256))]
            data[at:at] = chunk
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
    return bytes(data)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # timed below, against a fixed cap rather than Hypothesis' adaptive one
    database=None,
    derandomize="LAYERKIT_FUZZ_EXAMPLES" not in os.environ,  # CI: the same examples every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated_zips())
def test_a_mutated_zip_is_inspected_or_refused_cleanly(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzzed.zip"
    path.write_bytes(data)
    before = _peak_rss_mb()
    started = time.perf_counter()
    try:
        inspect_layer(path, python="3.12", arch="x86_64")
    except LayerkitError as error:
        assert error.message and error.exit_code != 1  # a documented code, never "internal"
    assert time.perf_counter() - started < SECONDS_PER_EXAMPLE
    assert _peak_rss_mb() - before < EXTRA_RSS_MB


def test_every_seed_is_a_valid_layer(tmp_path: Path) -> None:
    """The mutations start from zips the reader accepts, so they probe past the first check."""
    for number, seed in enumerate(SEEDS):
        path = tmp_path / f"seed{number}.zip"
        path.write_bytes(seed)
        inspect_layer(path, python="3.12", arch="x86_64")
