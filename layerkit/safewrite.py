"""How layerkit writes into directories other people may also write to.

- A file is written under a temporary name made by `tempfile.mkstemp` in the target directory:
  ``O_CREAT|O_EXCL|O_NOFOLLOW`` and a random suffix, so a planted file or symlink is never opened,
  then renamed over the destination (`os.replace` replaces a symlink there, it does not follow it).
  `write_text_atomic` does this for a text file; an OS error becomes a `FilesystemError` that
  says what ran out or what to choose instead (`filesystem_error`).
- `refuse_symlinked_dirs` refuses to write below a directory that is a symlink (e.g. a planted
  ``.github -> /etc``) between a root the user chose and the file.
- Temporary names carry the writer's process id (``.NAME.partial-PID-XXXX``, staging directories
  ``layerkit-PID-XXXX``): the next run removes those whose process is gone.
- `output_lock` serialises builds into one output directory (an advisory `flock` on the directory
  itself, so no lock file is left behind): the second build waits for the first.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from layerkit.errors import FilesystemError

STAGING_PREFIX = "layerkit-"
_PARTIAL = re.compile(r"^\..+\.partial-(\d+)-[A-Za-z0-9_]+$")
_STAGING = re.compile(rf"^{STAGING_PREFIX}(\d+)-[A-Za-z0-9_]+$")


def temporary_beside(dest: Path) -> tuple[int, Path]:
    """A new, empty file in `dest`'s directory (open descriptor, path), readable as `umask` says.

    `mkstemp` creates it with O_EXCL (and O_NOFOLLOW): never an existing file or symlink.
    """
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.partial-{os.getpid()}-", dir=dest.parent)
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)  # mkstemp's 0600 would make the zip unreadable to others
    return fd, Path(name)


def commit(partial: Path, dest: Path, *, stale: Sequence[Path] = ()) -> None:
    """Rename `partial` over `dest`; first remove `stale`, the files that describe the old `dest`
    (its manifest): a crash in between leaves a zip without a manifest, never with a wrong one."""
    for path in stale:
        path.unlink(missing_ok=True)
    partial.replace(dest)  # rename(2): a symlink at dest is replaced, not followed


def filesystem_error(exc: OSError, dest: Path) -> FilesystemError:
    """The `FilesystemError` for an OS error met writing `dest`: what ran out, or what to choose."""
    out_of_room = {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "file size limit reached",
    }
    if exc.errno in out_of_room:
        return FilesystemError(
            f"{out_of_room[exc.errno]} while writing {dest}",
            hint="free space in the output directory's disk (or raise the quota / `ulimit -f`)",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return FilesystemError(
            f"cannot write {dest}: {exc.strerror}",
            hint="choose a writable output directory (-o / output in [tool.layerkit])",
        )
    return FilesystemError(f"writing {dest} failed: {exc}")


def discard_partial(partial: Path | None) -> None:
    """Remove a half-written file; the error being reported matters more than this one."""
    if partial is not None:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def mark_used(path: Path, *, after_seconds: float, mtime: float | None = None) -> None:
    """Set `path`'s mtime to now when it is older than `after_seconds`: the stores' "last used"
    for pruning, written at most that often so a hit costs a stat, not a write (none when the
    caller has just stat-ed it: `mtime`)."""
    with contextlib.suppress(OSError):
        if time.time() - (path.stat().st_mtime if mtime is None else mtime) > after_seconds:
            os.utime(path)


def write_text_atomic(dest: Path, text: str, *, root: Path | None = None) -> None:
    """Write a small text file (a manifest) atomically, translating OS errors.

    With `root`, no directory between `root` and `dest` may be a symlink (`init`'s ``.github``).
    """
    partial: Path | None = None
    try:
        if root is not None:
            refuse_symlinked_dirs(dest, root=root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if root is not None:  # mkdir may have met a link planted meanwhile
            refuse_symlinked_dirs(dest, root=root)
        fd, partial = temporary_beside(dest)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        commit(partial, dest)
    except OSError as exc:
        discard_partial(partial)
        raise filesystem_error(exc, dest) from exc


def write_companion(main: Path, path: Path, text: str) -> Path:
    """Write `path`, a file that travels with `main` (a zip's manifest or SBOM); if it cannot be
    written, `main` is removed too: a layer without its manifest cannot be published, nor one
    without the SBOM that was asked for."""
    try:
        write_text_atomic(path, text)
    except FilesystemError:
        main.unlink(missing_ok=True)
        raise
    return path


def refuse_symlinked_dirs(dest: Path, *, root: Path) -> None:
    """Raise `FilesystemError` if a directory between `root` and `dest` is a symlink."""
    relative = dest.parent.relative_to(root)
    current = root
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise FilesystemError(
                f"refusing to write {dest}: {current} is a symlink",
                hint="remove the link (or write somewhere else); layerkit never writes through "
                "a symlinked directory",
            )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _stale(name: str, pattern: re.Pattern[str]) -> bool:
    match = pattern.match(name)
    return (
        match is not None
        and int(match.group(1)) != os.getpid()
        and not _pid_alive(int(match.group(1)))
    )


def remove_stale(parent: Path, pattern: re.Pattern[str]) -> list[str]:
    """Remove this user's files and directories in `parent` whose name matches `pattern` (its
    first group a process id) when that process is gone; return their names."""
    removed: list[str] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            if not _stale(entry.name, pattern):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if info.st_uid != os.getuid():
                    continue
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(entry.path)
                else:
                    Path(entry.path).unlink()
                removed.append(entry.name)
    return removed


def remove_stale_partials(directory: Path) -> list[str]:
    """Remove the ``.NAME.partial-PID-*`` files in `directory` whose writer is gone."""
    return remove_stale(directory, _PARTIAL)


def staging_directory() -> tempfile.TemporaryDirectory[str]:
    """A private staging directory named after this process (see `remove_stale_staging`)."""
    return tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-")


def remove_stale_staging(directory: Path | None = None) -> list[str]:
    """Remove this user's ``layerkit-PID-*`` staging directories whose process is gone."""
    return remove_stale(directory or Path(tempfile.gettempdir()), _STAGING)


@contextlib.contextmanager
def output_lock(directory: Path, *, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock of an output directory; wait (saying so through `on_wait`) while another
    layerkit process holds it."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise FilesystemError(
            f"cannot open the output directory {directory}: {exc.strerror}",
            hint="choose a readable output directory (-o / output in [tool.layerkit])",
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"waiting for another layerkit build writing to {directory}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
