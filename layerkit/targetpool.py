"""The targets of one build at once: one processing, others installing; bounded, in order.

A build's targets are independent (each has its own staging directory, install, slimming, zip and
manifest), so while one target waits on its installer another can verify or zip. Slimming,
verifying and zipping take one target at a time (`BuildContext.processing`): that work holds the
GIL, or keeps every core busy compressing, so two targets at once would only take turns and
contend. Resolving and installing are mostly waits on the index and on uv's processes, so more
targets can be at those stages than there are cores. How many are in flight at once
(`default_jobs`): at most four, twice the cores this process may use, the targets, and what the
memory available allows at `TARGET_MEMORY_BYTES` each. ``build --jobs N`` overrides it;
``--jobs 1`` is the plain loop.

Whatever the order of completion, the results come back in the targets' order, so the report,
the manifests and the record of the last build are the same as one after another, and so are the
zips (each is reproducible on its own). When a target fails, no other target starts, those
running stop at their next step, and the failure of the first target (in the targets' order)
that failed is raised, naming its target when the message does not. Ctrl-C stops every worker
the same way before the build's staging directory is removed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

from layerkit.errors import LayerkitError

T = TypeVar("T")
R = TypeVar("R")

# numpy + pandas for python3.11/3.12 x x86_64/arm64 on 2 cores (bench/incremental.py matrix):
# 4 in flight, one processing: 4.35-4.48 s; 2 in flight: 4.6-5.5 s; 4, all processing: 5.2-5.7 s.
MAX_DEFAULT_JOBS = 4
CORE_SHARE = 2  # targets in flight per core: one processing, the other resolving or installing
# What one target in flight may take: its installer (a uv or pip process), slimming and ELF
# checks, and the zip writer's buffers (a few MiB per thread). bench/README.md has the peak RSS.
TARGET_MEMORY_BYTES = 256 * 1024 * 1024
_POLL_SECONDS = 0.2  # the main thread wakes this often, so Ctrl-C is seen at once


class Cancelled(Exception):
    """Raised inside a target's work at its next step once the build is stopping."""


def available_memory() -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes; None where there is none (not Linux)."""
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def default_jobs(targets: int, *, cores: int, memory: int | None) -> int:
    """Targets in flight at once: min(4, 2 x cores, targets, memory / `TARGET_MEMORY_BYTES`), at
    least 1."""
    jobs = min(MAX_DEFAULT_JOBS, CORE_SHARE * cores, targets)
    if memory is not None:
        jobs = min(jobs, memory // TARGET_MEMORY_BYTES)
    return max(1, jobs)


def _named(error: LayerkitError, name: str) -> LayerkitError:
    """`error`, its message naming `name` (the target) first unless it already names it."""
    if name not in error.message:
        error.message = f"{name}: {error.message}"
        error.args = (error.message, *error.args[1:])
    return error


def run_targets(
    items: Sequence[T],
    work: Callable[[T, threading.Event], R],
    *,
    jobs: int,
    name: Callable[[T], str],
) -> list[R]:
    """`work(item, stopping)` for each item, `jobs` at a time; the results in `items`' order.

    `work` should check `stopping` between its steps and raise `Cancelled` once it is set. With
    one job (or one item) the items run one after another in this thread, errors unchanged.
    """
    stopping = threading.Event()
    if jobs <= 1 or len(items) <= 1:
        return [work(item, stopping) for item in items]
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="layerkit-target")
    futures: list[Future[R]] = []
    try:
        futures = [pool.submit(work, item, stopping) for item in items]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=_POLL_SECONDS, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                break
    except BaseException:  # Ctrl-C (or SIGTERM turned into an exception): stop every worker
        stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    stopping.set()  # a target failed (or all are done): the rest stop at their next step
    pool.shutdown(wait=True, cancel_futures=True)
    for item, future in zip(items, futures, strict=True):
        error = None if future.cancelled() else future.exception()
        if error is not None and not isinstance(error, Cancelled):
            raise _named(error, name(item)) if isinstance(error, LayerkitError) else error
    return [future.result() for future in futures]
