"""Bytecode for a layer: unchecked-hash ``.pyc`` made by the target's interpreter, reused across
builds, and left out where the budget cannot hold it.

**What is written.** For every ``*.py`` under site-packages, ``__pycache__/<name>.<tag>.pyc`` as
``python -m compileall -o 0 --invalidation-mode unchecked-hash -d /opt/<site-packages>`` writes
it: the same ``py_compile.compile`` call, the same ``co_filename`` (the path on Lambda), the same
bytes (tests/test_bytecode.py compares them). Unchecked-hash ``.pyc`` do not depend on mtimes,
which the zip fixes, and load without reading the source — what a cold start on read-only
``/opt`` wants.

**Reuse.** Each ``.pyc`` is kept in a content-addressed store in the build cache, keyed by the
SHA-256 of the source bytes, the interpreter's full version and the path it was compiled for. A
build asks the interpreter only for the sources the store does not hold (so a warm build of an
unchanged tree starts no interpreter at all) and hard-links (or copies) the rest into the tree. A
store entry is written atomically (by `py_compile` itself) and checked (magic number, flags) before
use. The store is bounded (`STORE_LIMIT_BYTES`): when a build adds to it beyond that, the entries
used least recently go.

**Budget.** When the tree with its bytecode is over the budget, bytecode is dropped, never the
build. What goes first buys least at a cold start: the ``.pyc`` of ``tests``/``test`` directories
(nothing imports them at start), then whole top-level packages, choosing the fewest bytes that fit
— the smallest package whose bytecode covers what is still over, else the largest and repeat —
since a module's compile time, which its ``.pyc`` saves, grows with its code.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING

from layerkit.config import CompileMode
from layerkit.interpreter import Interpreter
from layerkit.pyc import PYC_MAGIC, cache_tag
from layerkit.safewrite import mark_used
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.installer import CommandRunner

STORE_LIMIT_BYTES = 1024 * 1024 * 1024  # ~70 interpreter versions x data stacks of 14 MiB
_STORE_LAYOUT = b"layerkit-bytecode-1"
_HEADER = 16
_UNCHECKED_HASH_FLAGS = 0b01
_TOUCH_AFTER_SECONDS = 24 * 3600  # a hit older than this is marked used (for the bound)
_TESTS_DIRS = frozenset({"tests", "test"})
_IO_THREADS = 2

# Run by the target's interpreter: compile each (source, dfile, cfile) as compileall would.
_DRIVER = """
import json, py_compile, sys
failed = []
for source, dfile, cfile in json.load(open(sys.argv[1], encoding="utf-8")):
    try:
        py_compile.compile(source, cfile, dfile, True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except Exception as exc:
        failed.append([dfile, str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)])
print(json.dumps(failed))
"""


@dataclass(frozen=True)
class DroppedBytecode:
    """Bytecode left out to stay within the budget: a package (or its tests) and what it weighed."""

    package: str
    files: int
    bytes: int


@dataclass(frozen=True)
class CompileReport:
    """Whether .pyc were written, by which interpreter, how many and how big, and what was
    reused from the store, compiled now or dropped for the budget."""

    interpreter: str | None
    files: int = 0
    bytes: int = 0
    skipped_reason: str | None = None
    warnings: tuple[str, ...] = ()
    version: str | None = None  # the interpreter's full version
    mode: CompileMode = "auto"
    reused: int = 0  # .pyc taken from the bytecode store
    compiled: int = 0  # .pyc the interpreter compiled in this build
    dropped: tuple[DroppedBytecode, ...] = ()


def store_key(source: bytes, *, version: str, dfile: str) -> str:
    """The store's name for the .pyc of `source`, compiled by `version` for path `dfile`."""
    digest = sha256(_STORE_LAYOUT)
    digest.update(f"\0{version}\0{dfile}\0".encode())
    digest.update(source)
    return digest.hexdigest()


def find_sources(root: Path) -> list[str]:
    """Every regular ``*.py`` file under `root` (relative, sorted), as compileall finds them."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            path = Path(dirpath, name)
            if name.endswith(".py") and not path.is_symlink() and path.is_file():
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def pyc_path(source: str, target: Target) -> str:
    """``a/b.py`` -> ``a/__pycache__/b.cpython-312.pyc``."""
    directory, name = posixpath.split(source)
    return posixpath.join(directory, "__pycache__", f"{name[:-3]}.{cache_tag(target)}.pyc")


def _sound(path: Path, target: Target) -> os.stat_result | None:
    """The stat of a stored .pyc of the target's magic number, unchecked-hash flags and some
    code; None when it is not one (or absent)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEADER + 1)
            info = os.fstat(stream.fileno())
    except OSError:
        return None
    magic = PYC_MAGIC[target.python].to_bytes(2, "little") + b"\r\n"
    sound = (
        len(head) > _HEADER
        and head[:4] == magic
        and int.from_bytes(head[4:8], "little") == _UNCHECKED_HASH_FLAGS
    )
    return info if sound else None


class BytecodeStore:
    """Compiled .pyc by `store_key`, under `root` (``<cache>/bytecode``)."""

    def __init__(self, root: Path, *, limit_bytes: int = STORE_LIMIT_BYTES) -> None:
        self.root = root
        self.limit_bytes = limit_bytes
        # The __pycache__ directories `fetch` made: thousands of modules share a few hundred,
        # and a mkdir per module cost a sixth of taking them from the store.
        self._made: set[Path] = set()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pyc"

    def fetch(self, key: str, dest: Path, target: Target) -> bool:
        """Put the stored .pyc `key` at `dest` (hard link, else copy); False when absent/bad."""
        stored = self.path(key)
        info = _sound(stored, target)
        if info is None:
            stored.unlink(missing_ok=True)
            return False
        if dest.parent not in self._made:
            dest.parent.mkdir(exist_ok=True)  # safe when another thread made it first
            self._made.add(dest.parent)
        try:
            os.link(stored, dest)
        except OSError:
            try:
                shutil.copyfile(stored, dest)
            except FileNotFoundError:  # trimmed by another build since it was checked: a miss
                return False
        mark_used(stored, after_seconds=_TOUCH_AFTER_SECONDS, mtime=info.st_mtime)
        return True

    def trim(self) -> int:
        """Remove the least recently used entries while the store is over its limit; bytes freed."""
        entries: list[tuple[float, int, Path]] = []
        for shard in self.root.glob("??"):
            for path in shard.glob("*.pyc"):
                try:
                    st = path.stat()
                except OSError:
                    continue
                entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        freed = 0
        for _, size, path in sorted(entries):
            if total - freed <= self.limit_bytes:
                break
            path.unlink(missing_ok=True)
            freed += size
        return freed


@dataclass(frozen=True)
class _Job:
    source: str  # relative to site-packages
    key: str
    pyc: str  # relative to site-packages


def compile_bytecode(
    root: Path,
    target: Target,
    *,
    runner: CommandRunner,
    interpreter: Interpreter,
    store: BytecodeStore,
    mode: CompileMode = "auto",
    workers: int | None = None,
    sources: Sequence[str] | None = None,
) -> CompileReport:
    """Write the .pyc of every module under `root` (site-packages), from the store where it has
    them and compiled by `interpreter` (in `workers` parallel processes) where it does not.

    `sources` are those modules when the caller has listed the tree already (else found by
    walking it, `sources`)."""
    prefix = f"/opt/{target.site_packages}"

    def reuse(source: str) -> tuple[_Job, bool]:
        data = (root / source).read_bytes()
        key = store_key(data, version=interpreter.version, dfile=f"{prefix}/{source}")
        job = _Job(source, key, pyc_path(source, target))
        return job, store.fetch(key, root / job.pyc, target)

    def reuse_run(run: Sequence[str]) -> list[tuple[_Job, bool]]:
        return [reuse(source) for source in run]

    # Reading, hashing and linking thousands of small files: threads overlap waits on a cold
    # disk, but each hand-off of the GIL costs more than a small file's work. So a few threads,
    # each a contiguous run of the list (3,536 modules from the page cache: 0.6 s; a task per
    # file on 4 threads: 1.2 s; one thread: 0.55 s).
    listed = list(find_sources(root) if sources is None else sources)
    runs = [listed[i * len(listed) // _IO_THREADS : (i + 1) * len(listed) // _IO_THREADS]
            for i in range(_IO_THREADS)]  # fmt: skip
    with ThreadPoolExecutor(max_workers=_IO_THREADS, thread_name_prefix="layerkit-pyc") as pool:
        looked_up = [found for run in pool.map(reuse_run, runs) for found in run]
    jobs = [job for job, _ in looked_up]
    missing = [job for job, found in looked_up if not found]
    failed = _compile_into_store(
        root, missing, target, runner=runner, interpreter=interpreter, store=store, workers=workers
    )
    compiled = 0
    for job in missing:
        if job.source in failed:
            continue
        if store.fetch(job.key, root / job.pyc, target):
            compiled += 1
        else:  # trimmed by another build in the meantime: shipped as source
            failed[job.source] = "its bytecode was removed from the store by another build"
    if missing:
        store.trim()
    warnings = []
    if failed:
        names = ", ".join(f"{path} ({why})" for path, why in sorted(failed.items())[:5])
        warnings.append(
            f"compile: {len(failed)} module(s) did not compile for {target.runtime} (they are "
            f"shipped as source): {names}"
        )
    files = [root / job.pyc for job in jobs if job.source not in failed]
    return CompileReport(
        interpreter.path,
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        warnings=tuple(warnings),
        version=interpreter.version,
        mode=mode,
        reused=len(jobs) - len(missing),
        compiled=compiled,
    )


def _compile_into_store(
    root: Path,
    jobs: Sequence[_Job],
    target: Target,
    *,
    runner: CommandRunner,
    interpreter: Interpreter,
    store: BytecodeStore,
    workers: int | None,
) -> dict[str, str]:
    """Compile `jobs` straight into the store; the sources that failed -> why."""
    if not jobs:
        return {}
    prefix = f"/opt/{target.site_packages}"
    count = max(1, min(workers or os.cpu_count() or 1, len(jobs) // 50 + 1))
    chunks = [jobs[i::count] for i in range(count)]
    for job in jobs:
        store.path(job.key).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="layerkit-compile-") as scratch:

        def run(index: int, chunk: Sequence[_Job]) -> dict[str, str]:
            listing = Path(scratch) / f"jobs-{index}.json"
            listing.write_text(json.dumps([
                [str(root / j.source), f"{prefix}/{j.source}", str(store.path(j.key))]
                for j in chunk
            ]), encoding="utf-8")  # fmt: skip
            result = runner([interpreter.path, "-I", "-c", _DRIVER, str(listing)])
            by_dfile = {f"{prefix}/{j.source}": j.source for j in chunk}
            try:
                reported = json.loads(result.stdout.strip().splitlines()[-1])
                return {by_dfile[dfile]: why for dfile, why in reported}
            except (ValueError, IndexError, KeyError, TypeError):
                why = f"{interpreter.path} failed ({result.returncode}): {result.tail(2)}"
                return {j.source: why for j in chunk}

        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="layerkit-compile") as pool:
            results = list(pool.map(run, range(count), chunks))
    return {source: why for result in results for source, why in result.items()}


# --- the budget --------------------------------------------------------------------------------


def _group_of(pyc: str) -> str:
    """The package a .pyc's bytecode is reported under: its top-level name, or ``<top> tests``."""
    parts = pyc.split("/")
    top = parts[0]
    if top == "__pycache__":  # a top-level module: __pycache__/six.cpython-312.pyc
        return parts[1].rsplit(".", 2)[0]
    if any(part in _TESTS_DIRS for part in parts[1:-2]):
        return f"{top} tests"
    return top


def choose_drops(groups: dict[str, int], over: int) -> list[str]:
    """Which groups (name -> bytecode bytes) to drop to shed `over` bytes, in order: tests
    first, then the smallest package that covers the rest, else the largest and repeat."""
    chosen: list[str] = []
    tests = sorted((g for g in groups if g.endswith(" tests")), key=lambda g: (-groups[g], g))
    for group in tests:
        if over <= 0:
            return chosen
        chosen.append(group)
        over -= groups[group]
    rest = {g: b for g, b in groups.items() if g not in chosen}
    while over > 0 and rest:
        covering = [g for g in rest if rest[g] >= over]
        pick = (
            min(covering, key=lambda g: (rest[g], g))
            if covering
            else max(rest, key=lambda g: (rest[g], g))
        )
        chosen.append(pick)
        over -= rest.pop(pick)
    return chosen


def fit_budget(
    root: Path, report: CompileReport, pycs: Iterable[str], *, tree_bytes: int, budget_bytes: int
) -> CompileReport:
    """Drop bytecode (see the module doc) until a tree of `tree_bytes` fits `budget_bytes`."""
    over = tree_bytes - budget_bytes
    if over <= 0 or report.files == 0:
        return report
    sizes: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for pyc in pycs:
        path = root / pyc
        if path.is_file():
            sizes[_group_of(pyc)].append((pyc, path.stat().st_size))
    totals = {group: sum(size for _, size in files) for group, files in sizes.items()}
    dropped = []
    for group in choose_drops(totals, over):
        for pyc, _ in sizes[group]:
            (root / pyc).unlink()
        dropped.append(DroppedBytecode(group, len(sizes[group]), totals[group]))
    for directory in {(root / pyc).parent for group in sizes for pyc, _ in sizes[group]}:
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when emptied
    files = report.files - sum(d.files for d in dropped)
    shed = sum(d.bytes for d in dropped)
    names = ", ".join(f"{d.package} ({d.bytes:,} bytes)" for d in dropped)
    note = (
        f"bytecode left out to stay within the budget of {budget_bytes:,} bytes: {names}; "
        "those modules compile at each cold start"
        if files
        else f"no bytecode shipped: with it the layer would be over the budget of "
        f"{budget_bytes:,} bytes (it fits without)"
    )
    return CompileReport(
        report.interpreter,
        files=files,
        bytes=report.bytes - shed,
        skipped_reason=None if files else note,
        warnings=(*report.warnings, note),
        version=report.version,
        mode=report.mode,
        reused=report.reused,
        compiled=report.compiled,
        dropped=tuple(dropped),
    )
