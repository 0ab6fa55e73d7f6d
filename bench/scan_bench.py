"""Offline: the cost of walking and slimming a many-small-files tree (issue 18, one pass).

Builds a site-packages-shaped tree of generated pure-Python distributions (default 84
distributions x ~126 files = ~10.6k files, the shape of the issue's lock workload), then times
what a build does between the install and the verification on a fresh copy each round: slimming
(plan + removals) and the listing of the tree's files the later steps use. It also counts
``os.scandir`` calls (os.walk lists through it). No network, no installer.

Run against this checkout, or against another with PYTHONPATH (e.g. main, for a before/after):

    python bench/scan_bench.py --rounds 5
    PYTHONPATH=/work/main python bench/scan_bench.py --rounds 5

Speed figures come from this script, never from unit tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import layerkit
from layerkit.config import SlimSettings
from layerkit.contents import scan_tree
from layerkit.targets import make_target

TARGET = make_target("3.12", "x86_64")


def make_tree(root: Path, distributions: int, packages: int, modules: int) -> int:
    """Write the tree; return its file count."""
    count = 0
    for d in range(distributions):
        name = f"dist{d:03d}"
        files: list[str] = []
        for p in range(packages):
            for m in range(modules):
                files.append(f"{name}/sub{p}/mod{m}.py")
            files.append(f"{name}/sub{p}/__init__.py")
        files += [f"{name}/__init__.py", f"{name}/tests/__init__.py"]
        files += [f"{name}/tests/test_{t}.py" for t in range(modules)]
        for relative in files:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {relative}\nVALUE = {len(relative)}\n" + _mentions(relative)
                            + "x = 1\n" * 100)  # fmt: skip
        dist_info = root / f"{name}-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        record = [*files, f"{name}-1.0.dist-info/METADATA", f"{name}-1.0.dist-info/RECORD"]
        (dist_info / "RECORD").write_text("".join(f"{r},,\n" for r in record))
        count += len(files) + 2
    return count


def _mentions(relative: str) -> str:
    """What real modules say about tests, in about their proportions (numpy+pandas+pyarrow: 37%
    contain ``test``, 17% as a whole word): the tests rule reads all, scans only the latter."""
    number = sum(map(ord, relative))
    if number % 6 == 0:
        return '"""Behaves as the tests expect."""\n'
    if number % 5 < 2:
        return "# see the latest docs; pytest and unittest both run it\n"
    return ""


def _slim_then_list(root: Path) -> Any:
    """What assembly does between install and verification, through this layerkit's API."""
    settings = SlimSettings()
    common: dict[str, Any] = {
        "runner": None, "which": lambda _name: None, "host_machine": "x86_64", "bytecode": None,
    }  # fmt: skip
    try:
        from layerkit.slim.tree import slim_tree  # the slim package: one walk, entries shared
    except ImportError:  # the single-module slim.py: slim walks, then the build walks again
        from layerkit.slim import slim_tree  # type: ignore[no-redef,attr-defined]

        slim_tree(root, TARGET, settings, **common)
        return scan_tree(root)
    return slim_tree(root, TARGET, settings, entries=scan_tree(root), **common).entries


def timed(template: Path, work: Path, step: Callable[[Path], Any], rounds: int) -> list[float]:
    times = []
    for index in range(rounds):
        root = work / f"round{index}"
        shutil.copytree(template, root)
        start = time.perf_counter()
        step(root)
        times.append(time.perf_counter() - start)
        shutil.rmtree(root)
    return times


def count_listings(template: Path, work: Path) -> int:
    root = work / "counted"
    shutil.copytree(template, root)
    calls = 0
    real = os.scandir

    def counting(path: Any = ".") -> Any:
        nonlocal calls
        calls += 1
        return real(path)

    os.scandir = counting
    try:
        _slim_then_list(root)
    finally:
        os.scandir = real
    shutil.rmtree(root)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distributions", type=int, default=84)
    parser.add_argument("--packages", type=int, default=10)
    parser.add_argument("--modules", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as scratch:
        template = Path(scratch) / "template"
        files = make_tree(template, args.distributions, args.packages, args.modules)
        dirs = sum(1 for _ in template.rglob("*") if _.is_dir()) + 1
        listings = count_listings(template, Path(scratch))
        scan = timed(template, Path(scratch), scan_tree, args.rounds)
        slim = timed(template, Path(scratch), _slim_then_list, args.rounds)
        load = os.getloadavg()
        print(f"layerkit {layerkit.__version__} from {Path(layerkit.__file__).parent}")
        print(f"tree: {files} files in {dirs} directories; load average {load[0]:.2f} "
              f"(cores: {os.cpu_count()})")  # fmt: skip
        print(f"directory listings in slim + file list: {listings} ({listings / dirs:.1f} per dir)")
        print(f"scan_tree alone: median {statistics.median(scan):.3f} s of {args.rounds}")
        print(f"slim + file list: median {statistics.median(slim):.3f} s "
              f"(min {min(slim):.3f}, max {max(slim):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
