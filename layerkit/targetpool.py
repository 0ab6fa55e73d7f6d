"""The targets of one build at once, in child processes or in threads; bounded, in order.

A build's targets are independent (each has its own staging directory, install, slimming, zip and
manifest), so while one target waits on its installer another can verify or zip. How many are in
flight at once (`default_jobs`): at most four, twice the cores this process may use, the targets,
and what the memory available allows at `TARGET_MEMORY_BYTES` each. Resolving and installing are
mostly waits on the index and on uv's processes, so more targets can be at those stages than
there are cores. ``build --jobs N`` overrides it; ``--jobs 1`` is the plain loop.

**Processes** (`processes=True`, where `fork_is_safe`: Linux, and no other thread running in this
process). Each target is built in a forked child of its own, so one target's slimming, ELF checks
and zip run on one core while another's run on the next: in threads that work holds the GIL and
only takes turns. A fork needs nothing pickled to start; the child sends its lines and its
outcome (the result, or the failure with its traceback as text) back through a pipe, and this
process says the lines and raises the failure as for threads. A child stops when this process
dies (``PR_SET_PDEATHSIG``) and always leaves with `os._exit`, never back into the caller's
frames (whose `with` blocks would remove the build's staging directory).

**Threads** (elsewhere). Slimming, verifying and zipping take one target at a time
(`BuildContext.processing`): that work holds the GIL, or keeps every core busy compressing, so two
targets processing at once would only contend.

Either way, whatever the order of completion, the results come back in the targets' order, so the
report, the manifests and the record of the last build are the same as one after another, and so
are the zips (each is reproducible on its own). When a target fails, no other target starts, the
others stop (a thread at its next step; a child at once, on the SIGTERM this process sends it,
which sets its `stopping` and kills a command under way as Ctrl-C does), and the failure of the
first target (in the targets' order) that failed is raised, naming its target when the message
does not. Ctrl-C stops every worker the same way, and every one is waited for before this returns
and the build's staging directory is removed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from layerkit.errors import LayerkitError

T = TypeVar("T")
R = TypeVar("R")

# numpy + pandas for python3.11/3.12 x x86_64/arm64 on 2 cores against a local index (bench/):
# 4 workers 3.26 s (median of 6) against 5.25 s in threads taking turns; threads, 4 in flight and
# one processing: 4.35-4.48 s; 2 in flight: 4.6-5.5 s; 4 all processing: 5.2-5.7 s.
MAX_DEFAULT_JOBS = 4
CORE_SHARE = 2  # targets in flight per core: one processing, the other resolving or installing
# What one target in flight may take: its installer (a uv or pip process), slimming and ELF
# checks, and the zip writer's buffers (a few MiB per thread). bench/README.md has the memory of
# the build's processes together.
TARGET_MEMORY_BYTES = 256 * 1024 * 1024
_POLL_SECONDS = 0.2  # waits wake at least this often, so Ctrl-C is seen at once


class Cancelled(Exception):
    """Raised inside a target's work at its next step once the build is stopping."""


@dataclass(frozen=True)
class Lines:
    """Where a target's work says things: its progress lines and its warnings."""

    progress: Callable[[str], None]
    warn: Callable[[str], None]


Work = Callable[[T, threading.Event, Lines], R]


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


def fork_is_safe(*, wait: float = 0.0) -> bool:
    """Whether `run_targets` may build targets in forked children: on Linux (elsewhere fork is
    unsafe or missing, and threads serve), from the main thread (it handles Ctrl-C), while no
    other thread runs in this process (a child would inherit the locks it holds, held forever),
    waiting up to `wait` seconds for other threads that are ending.
    """
    if not (
        sys.platform == "linux"
        and hasattr(os, "fork")
        and threading.current_thread() is threading.main_thread()
    ):
        return False
    deadline = time.monotonic() + wait
    while threading.active_count() > 1:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def run_targets(
    items: Sequence[T],
    work: Work[T, R],
    *,
    jobs: int,
    name: Callable[[T], str],
    lines: Lines,
    processes: bool = False,
) -> list[R]:
    """`work(item, stopping, lines)` for each item, `jobs` at a time; the results in `items`'
    order. `work` says its progress and warnings through the `Lines` it is given.

    `work` should check `stopping` between its steps and raise `Cancelled` once it is set. With
    one job (or one item) the items run one after another in this thread, errors unchanged.
    With `processes`, where `fork_is_safe`, the items run in forked children (see the module's
    docstring); otherwise each runs in a thread.
    """
    if jobs <= 1 or len(items) <= 1:
        stopping = threading.Event()
        return [work(item, stopping, lines) for item in items]
    if processes and fork_is_safe():
        workers = _Workers(items, work, lines=lines)
        if workers.start(min(jobs, len(items))):
            return workers.run(name)
    return _run_in_threads(items, work, jobs=jobs, name=name, lines=lines)


def _run_in_threads(
    items: Sequence[T], work: Work[T, R], *, jobs: int, name: Callable[[T], str], lines: Lines
) -> list[R]:
    stopping = threading.Event()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="layerkit-target")
    futures: list[Future[R]] = []
    try:
        futures = [pool.submit(work, item, stopping, lines) for item in items]
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


# --- targets in child processes ------------------------------------------------------------------

_FRAME = struct.Struct("<Q")  # the length of the pickled message that follows
_INDEX = struct.Struct("<Q")  # a command: build the item of this index
_READ_BYTES = 1 << 16
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when its parent dies


class RemoteTraceback(Exception):
    """The traceback of a failure in a target's child process, as the cause of that failure
    raised again here (pickling keeps the exception, not its traceback)."""

    def __str__(self) -> str:
        return f"in the process building the target:\n{self.args[0]}"


class _Pipe:
    """A worker's end of its messages: pickled tuples, each whole or, if cut short, the last."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()  # the worker's own threads say lines too
        self._broken = False

    def send(self, *message: object) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        frame = memoryview(_FRAME.pack(len(data)) + data)
        with self._lock:
            if self._broken:  # a frame was cut short: another would be read as its rest
                raise BrokenPipeError("the build's main process is no longer listening")
            try:
                while frame:
                    frame = frame[os.write(self._fd, frame) :]
            except BaseException:
                self._broken = True
                raise

    def say(self, kind: str) -> Callable[[str], None]:
        return lambda text: self.send(kind, text)


def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker when `parent` dies, so an orphan stops rather than builds on."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (ImportError, OSError, AttributeError):  # no ctypes or no prctl: the pipe breaking
        pass  # (this process gone) stops it at its next line instead
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _portable(error: BaseException) -> tuple[BaseException, str]:
    """`error` as it can be pickled and read back, with its traceback as text."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301
    except Exception:  # any failure to pickle, or to unpickle there: send what can be
        error = RuntimeError(f"{type(error).__name__}: {error}")
    return error, text


def _read_index(fd: int) -> int | None:
    """The next command of this worker's parent: an item's index, or None (no more work)."""
    data = b""
    while len(data) < _INDEX.size:
        chunk = os.read(fd, _INDEX.size - len(data))
        if not chunk:
            return None
        data += chunk
    (index,) = _INDEX.unpack(data)
    return int(index)


def _worker_main(
    items: Sequence[T], work: Work[T, R], *, commands: int, messages: int, parent: int
) -> None:
    """A forked worker: builds the items its parent names through `commands`, one at a time,
    saying its lines and each outcome through `messages`; ends at the end of its commands or
    after a failure. Its caller leaves with `os._exit`."""
    stopping = threading.Event()
    busy = [False]

    def stop(number: int, frame: object) -> None:
        # The build is stopping: an item under way stops now (a command it waits for is
        # killed, as on Ctrl-C), and at every later step should anything catch this.
        if not stopping.is_set():
            stopping.set()
            if busy[0]:
                raise Cancelled("stopped")

    signal.signal(signal.SIGTERM, stop)
    _die_with_parent(parent)
    pipe = _Pipe(messages)
    lines = Lines(pipe.say("progress"), pipe.say("warn"))
    while (index := _read_index(commands)) is not None:
        busy[0] = True
        try:
            outcome: tuple[object, ...] = ("done", index, work(items[index], stopping, lines))
        except BaseException as error:  # every failure goes to the parent
            busy[0] = False  # first: a SIGTERM now must not cut the failure short
            outcome = ("failed", index, _portable(error))
        busy[0] = False
        if outcome[0] == "done":
            try:
                pickle.loads(pickle.dumps(outcome))  # noqa: S301 - it must read back there
            except Exception as error:
                unsent = RuntimeError(
                    f"its result could not be sent back ({type(error).__name__}: {error})"
                )
                outcome = ("failed", index, _portable(unsent))
        pipe.send(*outcome)
        if outcome[0] == "failed":
            return


class _Unreadable(Exception):
    """A worker's message that does not unpickle here."""


@dataclass
class _Worker:
    pid: int
    messages: int  # read end of its messages (open until it ends)
    commands: int | None  # write end of its commands (None once closed: it ends when idle)
    buffer: bytearray = field(default_factory=bytearray)
    current: int | None = None  # the index of the item it builds
    stopped: bool = False  # this process told it to stop its current item (SIGTERM)

    def messages_in(self, chunk: bytes) -> Iterator[tuple[Any, ...]]:
        self.buffer += chunk
        while len(self.buffer) >= _FRAME.size:
            (length,) = _FRAME.unpack_from(self.buffer)
            if len(self.buffer) < _FRAME.size + length:
                return
            data = bytes(self.buffer[_FRAME.size : _FRAME.size + length])
            del self.buffer[: _FRAME.size + length]
            try:
                message = pickle.loads(data)  # noqa: S301 - a fork of this process wrote it
            except Exception as error:  # e.g. a class whose pickle does not read back
                raise _Unreadable(str(error)) from error
            yield message


class _Workers(Generic[T, R]):
    """`run_targets` in forked workers (see the module's docstring). All are forked at once, at
    the start, while this process runs no other thread; each builds the items it is given, one
    at a time, until told there are no more."""

    def __init__(self, items: Sequence[T], work: Work[T, R], *, lines: Lines) -> None:
        self._items = items
        self._work = work
        self._lines = lines
        self._selector = selectors.DefaultSelector()
        self._workers: dict[int, _Worker] = {}  # by their messages' read end, until they end
        self._next = 0  # the next item to hand out
        self._outcomes: dict[int, tuple[str, Any]] = {}  # by item index
        self._lost: dict[int, str] = {}  # items whose worker ended without their outcome: why
        self._told: set[int] = set()  # items this process told to stop
        self._stopping = False
        self._interrupts = 0
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)

    def start(self, count: int) -> bool:
        """Fork `count` workers (fewer if the system refuses more); False if not one."""
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # else each worker would hold, and might write, a copy of the buffer
        try:
            while len(self._workers) < count:
                try:
                    self._fork()
                except OSError:  # EAGAIN (process limit), ENOMEM, EMFILE: build with fewer
                    break
        except BaseException:  # Ctrl-C between two forks: none is left waiting for commands
            self._end()
            raise
        if not self._workers:
            self._close_all()
        return bool(self._workers)

    def _fork(self) -> None:
        commands_read, commands_write = os.pipe()
        try:
            messages_read, messages_write = os.pipe()
        except OSError:
            os.close(commands_read)
            os.close(commands_write)
            raise
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            for fd in (commands_read, commands_write, messages_read, messages_write):
                os.close(fd)
            raise
        if pid == 0:  # the worker: never back into the caller's frames (`with`, atexit)
            status = 1
            try:
                # Only its own two ends: a pipe end held by another worker would keep that one
                # from seeing the end of its commands, or this process from seeing it end.
                for fd in (commands_write, messages_read, self._wake_read, self._wake_write):
                    os.close(fd)
                for other in self._workers.values():
                    os.close(other.messages)
                    if other.commands is not None:
                        os.close(other.commands)
                self._selector.close()
                _worker_main(self._items, self._work, commands=commands_read,
                             messages=messages_write, parent=parent)  # fmt: skip
                status = 0
            finally:
                os._exit(status)
        os.close(commands_read)
        os.close(messages_write)
        worker = _Worker(pid, messages_read, commands_write)
        self._workers[messages_read] = worker
        self._selector.register(messages_read, selectors.EVENT_READ, worker)

    def run(self, name: Callable[[T], str]) -> list[R]:
        # Ctrl-C is counted, not raised, while the workers run: this process's bookkeeping is
        # never cut in half, and the loop wakes at once to stop them.
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        previous = signal.signal(signal.SIGINT, self._interrupted)
        try:
            for worker in list(self._workers.values()):
                self._hand_out(worker)
            self._loop()
        finally:
            signal.signal(signal.SIGINT, previous)
            self._end()
        if self._interrupts:
            raise KeyboardInterrupt
        return self._results(name)

    def _interrupted(self, number: int, frame: object) -> None:
        self._interrupts += 1
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"!")

    def _loop(self) -> None:
        seen = 0
        while self._workers:
            if self._interrupts != seen:
                seen = self._interrupts
                self._stop()
                if seen > 1:  # a second Ctrl-C: no more waiting
                    return
            for key, _ in self._selector.select(_POLL_SECONDS):
                if key.data is None:
                    os.read(self._wake_read, _READ_BYTES)
                else:
                    self._listen(key.data)

    def _hand_out(self, worker: _Worker) -> None:
        """Give an idle worker the next item; with none left (or stopping), tell it to end."""
        if worker.commands is None:
            return
        if self._stopping or self._next >= len(self._items):
            os.close(worker.commands)
            worker.commands = None
            return
        try:
            os.write(worker.commands, _INDEX.pack(self._next))
        except BrokenPipeError:  # it has ended: its end of the messages says so next
            return
        worker.current = self._next
        self._next += 1

    def _listen(self, worker: _Worker) -> None:
        chunk = os.read(worker.messages, _READ_BYTES)
        if not chunk:
            self._ended(worker)
            return
        try:
            for message in worker.messages_in(chunk):
                self._heard(worker, message)
        except _Unreadable as error:
            if worker.current is not None:
                self._lost[worker.current] = f"its outcome could not be read back ({error})"
            self._stop()

    def _heard(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind in ("progress", "warn"):
            if not self._interrupts:
                (self._lines.progress if kind == "progress" else self._lines.warn)(message[1])
            return
        index, value = message[1], message[2]
        self._outcomes[index] = (kind, value)
        worker.current = None
        if kind == "failed" and not (isinstance(value[0], Cancelled) and index in self._told):
            self._stop()
        self._hand_out(worker)

    def _ended(self, worker: _Worker) -> None:
        self._selector.unregister(worker.messages)
        os.close(worker.messages)
        del self._workers[worker.messages]
        if worker.commands is not None:
            os.close(worker.commands)
            worker.commands = None
        status = _reap(worker.pid)
        if worker.current is not None:
            self._lost[worker.current] = (
                f"the process building it ended without a result ({status})"
            )
            if worker.current not in self._told:
                self._stop()

    def _stop(self) -> None:
        """No item starts any more; those under way stop now (SIGTERM), idle workers end."""
        self._stopping = True
        for worker in self._workers.values():
            if worker.current is not None and not worker.stopped:
                worker.stopped = True
                self._told.add(worker.current)
                _signal(worker.pid, signal.SIGTERM)
            if worker.current is None:
                self._hand_out(worker)

    def _end(self) -> None:
        """Nothing left behind: a worker still running (after a second Ctrl-C, or a failure
        here) is killed and waited for. Never raises."""
        for worker in list(self._workers.values()):
            _signal(worker.pid, signal.SIGKILL)
            _reap(worker.pid)
            for fd in (worker.messages, worker.commands):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        self._workers.clear()
        self._close_all()

    def _close_all(self) -> None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            self._selector.close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _results(self, name: Callable[[T], str]) -> list[R]:
        """The results in the items' order; or the first item's failure, as threads raise it."""
        results: list[R] = []
        for index, item in enumerate(self._items):
            told = index in self._told
            if index in self._outcomes:
                kind, value = self._outcomes[index]
                if kind == "done":
                    results.append(value)
                    continue
                error, text = value
                if isinstance(error, Cancelled):
                    if told:
                        continue
                    error = LayerkitError(
                        "the process building it was stopped by a signal from outside layerkit",
                        hint="build again; if the system stops it for its memory, with --jobs 1",
                    )
                if isinstance(error, LayerkitError):
                    raise _named(error, name(item)) from RemoteTraceback(text)
                raise error from RemoteTraceback(text)
            if index in self._lost and not told:
                raise LayerkitError(
                    f"{name(item)}: {self._lost[index]}",
                    hint="it may have run out of memory: try --jobs 1",
                )
        if len(results) != len(self._items):  # never a build that silently lacks a target
            raise LayerkitError(
                f"{len(self._items) - len(results)} of {len(self._items)} targets were not built, "
                "and none of them said why"
            )
        return results


def _signal(pid: int, number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just ended, not yet reaped
        os.kill(pid, number)


def _reap(pid: int) -> str:
    """Wait for a worker that has ended (or been killed); how it ended."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "already waited for"
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"
