"""Benchmark: time and peak RSS of `layerkit inspect` on the hostile inputs of issue 19.

    python bench/hostile_inspect.py              # every input, one run each
    python bench/hostile_inspect.py --only bomb-1g --json results.json

Each input is built in a temporary directory (big entries are streamed, never held in memory),
then `python -m layerkit inspect INPUT --python 3.12 --arch x86_64 --json` runs in a child
process; its wall time, exit code and peak resident set (`wait4`) are printed. The promise
(docs/reliability.md): every input ends in a report or a clean refusal, under 300 MB and within a
few seconds. Nothing is asserted here: CI does not run this; the unit tests hold the behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

SITE = "python/lib/python3.12/site-packages"
CHUNK = 1 << 24
ZIP64_SIZE = 0xFFFFFFFF


def _zeros(size: int) -> Iterator[bytes]:
    block = bytes(CHUNK)
    while size > 0:
        yield block[: min(size, CHUNK)]
        size -= CHUNK


class _Writer:
    """A streaming zip writer (ZIP64 sizes when needed) whose headers can lie on request."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.records: list[bytes] = []

    def add(
        self,
        name: str,
        chunks: Iterable[bytes],
        *,
        mode: int = 0o100644,
        declared: int | None = None,
        records: int = 1,
    ) -> None:
        """Deflate `chunks` as `name`; `declared` lies about the size; `records` central records
        all point at this one entry (the overlap bomb)."""
        offset = self.out.tell()
        header_at = offset
        raw = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)  # ZIP64 sizes, patched below
        self.out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, 0,
                                   ZIP64_SIZE, ZIP64_SIZE, len(raw), len(extra)))  # fmt: skip
        self.out.write(raw + extra)
        deflater = zlib.compressobj(1, zlib.DEFLATED, -15)
        crc = size = compressed = 0
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            data = deflater.compress(chunk)
            compressed += len(data)
            self.out.write(data)
        data = deflater.flush()
        compressed += len(data)
        self.out.write(data)
        end = self.out.tell()
        usize = size if declared is None else declared
        self.out.seek(header_at + 14)
        self.out.write(struct.pack("<I", crc))
        self.out.seek(header_at + 30 + len(raw) + 4)
        self.out.write(struct.pack("<QQ", usize, compressed))
        self.out.seek(end)
        for number in range(records):
            entry_name = raw if number == 0 else f"{name}.{number}".encode()
            central_extra = struct.pack("<HHQQQ", 1, 24, usize, compressed, offset)
            self.records.append(
                struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x032D, 45, 0, 8, 0, 0x21, crc,
                            ZIP64_SIZE, ZIP64_SIZE, len(entry_name), len(central_extra), 0, 0, 0,
                            mode << 16, ZIP64_SIZE)
                + entry_name + central_extra
            )  # fmt: skip

    def finish(self) -> None:
        start = self.out.tell()
        for record in self.records:
            self.out.write(record)
        size = self.out.tell() - start
        end64 = self.out.tell()
        count = len(self.records)
        self.out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count,
                                   size, start))  # fmt: skip
        self.out.write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
        self.out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, ZIP64_SIZE,
                                   ZIP64_SIZE, 0))  # fmt: skip


def _zip(path: Path, build: Callable[[_Writer], None]) -> Path:
    with path.open("wb") as out:
        writer = _Writer(out)
        build(writer)
        writer.finish()
    return path


def _metadata(name: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n".encode()


def build_inputs(directory: Path) -> dict[str, Path]:
    """Every hostile input of issue 19 that concerns the zip reader, by name."""
    inputs: dict[str, Path] = {}

    def so_of_zeros(size: int) -> Callable[[_Writer], None]:
        return lambda w: w.add(f"{SITE}/zeros.so", _zeros(size))

    inputs["bomb-1g-so"] = _zip(directory / "bomb1g.zip", so_of_zeros(1 << 30))
    inputs["bomb-5g-so"] = _zip(directory / "bomb5g.zip", so_of_zeros(5 << 30))

    def big_metadata(w: _Writer) -> None:
        w.add(f"{SITE}/big-1.0.dist-info/METADATA",
              [_metadata("big"), *_zeros(512 << 20)])  # fmt: skip
        w.add(f"{SITE}/big-1.0.dist-info/RECORD", [b"big-1.0.dist-info/METADATA,,\n"])

    inputs["metadata-512m"] = _zip(directory / "metadata.zip", big_metadata)

    def under_budget(w: _Writer) -> None:  # read, not only measured: METADATA and the .so
        w.add(f"{SITE}/big-1.0.dist-info/METADATA",
              [_metadata("big"), *_zeros(100 << 20)])  # fmt: skip
        w.add(f"{SITE}/big-1.0.dist-info/RECORD", [b"big-1.0.dist-info/METADATA,,\n"])
        w.add(f"{SITE}/zeros.so", _zeros(140 << 20))

    inputs["metadata-100m+so-140m"] = _zip(directory / "under.zip", under_budget)
    inputs["overlap-2000x50m"] = _zip(
        directory / "overlap.zip",
        lambda w: w.add(f"{SITE}/blob.bin", _zeros(50 << 20), records=2000),
    )
    inputs["size-lie-314m"] = _zip(
        directory / "lie.zip", lambda w: w.add(f"{SITE}/x.so", _zeros(314 << 20), declared=10)
    )
    inputs["outside-300m"] = _zip(
        directory / "outside.zip",
        lambda w: (
            w.add(f"{SITE}/a.py", [b"a = 1\n"]),
            w.add("python/blob.bin", _zeros(300 << 20)),
        ),
    )
    dots = b"from " + b"." * 80_000 + b" import x\n" + b"from " + b"." * 80_000 + b"\n"
    inputs["py-80000-dots"] = _zip(
        directory / "dots.zip",
        lambda w: (w.add(f"{SITE}/pkg/__init__.py", [b""]),
                   w.add(f"{SITE}/pkg/tests/__init__.py", [b""]),
                   w.add(f"{SITE}/pkg/mod.py", [dots])),
    )  # fmt: skip
    fifo_dir = directory / "fifo-layer"
    (fifo_dir / SITE).mkdir(parents=True)
    (fifo_dir / SITE / "ok.py").write_text("")
    os.mkfifo(fifo_dir / SITE / "evil.so")
    inputs["dir-fifo-so"] = fifo_dir
    loop_dir = directory / "loop-layer"
    (loop_dir / SITE).mkdir(parents=True)
    (loop_dir / SITE / "a").symlink_to("b")
    (loop_dir / SITE / "b").symlink_to("a")
    inputs["dir-symlink-loop"] = loop_dir
    return inputs


def measure(target: Path, timeout: float) -> dict[str, object]:
    """Run `inspect` on `target` in a child; its exit code, wall time and peak RSS."""
    argv = [sys.executable, "-m", "layerkit", "inspect", str(target), "--python", "3.12",
            "--arch", "x86_64", "--json"]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            child.kill()
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    first = next((line for line in stderr.splitlines() if line.startswith("error:")), "")
    return {
        "exit": child.returncode,
        "seconds": round(elapsed, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "timed_out": elapsed > timeout,
        "error": first[:110],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this input (repeatable)")
    parser.add_argument("--timeout", type=float, default=120.0, help="kill a run after this")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="layerkit-hostile-") as scratch:
        inputs = build_inputs(Path(scratch))
        for name, path in inputs.items():
            if args.only and name not in args.only:
                continue
            size = path.stat().st_size if path.is_file() else 0
            results[name] = {"input_bytes": size, **measure(path, args.timeout)}
            row = results[name]
            print(f"{name:22} exit {row['exit']}  {row['seconds']:6.2f} s  "
                  f"{row['peak_rss_mb']:7.1f} MB  {row['error']}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
