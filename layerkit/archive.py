"""The one place layer zips are written: reproducible by construction, atomic on disk.

Entries are sorted; every timestamp is ``SOURCE_DATE_EPOCH`` (floored at 1980-01-01, read as UTC) or
1980-01-01; modes are 0644, or 0755 where any exec bit is set (directories 0755); no extra fields.
The zip is written to a temporary name in the output directory and renamed into place only when
complete, so a failure never leaves a half-written zip behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from layerkit.config import CompressionName
from layerkit.contents import FileEntry
from layerkit.errors import FilesystemError

ZIP_EPOCH = 315_532_800  # 1980-01-01T00:00:00Z, the earliest time a zip can store
COMPRESSION_LEVELS: dict[CompressionName, int] = {"fast": 1, "default": 6, "small": 9}
_FILE_MODE = 0o100644
_EXEC_MODE = 0o100755
_DIR_MODE = 0o040755
_UNIX = 3
_MSDOS_DIRECTORY = 0x10


@dataclass(frozen=True)
class ArchiveMember:
    """One zip entry: a file copied from `source`, or a directory when `source` is None."""

    arcname: str
    source: Path | None
    executable: bool = False

    @property
    def is_dir(self) -> bool:
        return self.source is None


@dataclass(frozen=True)
class ZipResult:
    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    entry_count: int


def zip_timestamp(env: Mapping[str, str]) -> int:
    """Seconds since the epoch for every entry: SOURCE_DATE_EPOCH, floored at 1980."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return ZIP_EPOCH
    try:
        value = int(raw)
    except ValueError:
        return ZIP_EPOCH
    return max(value, ZIP_EPOCH)


def layer_members(root: Path, entries: Sequence[FileEntry], prefix: str) -> list[ArchiveMember]:
    """Members for the files of `root` placed under `prefix` (e.g. python/lib/.../site-packages),
    with an entry for every directory, sorted by name."""
    dirs: set[str] = set()
    members: list[ArchiveMember] = []
    for entry in entries:
        arcname = f"{prefix}/{entry.path}"
        parts = arcname.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]) + "/")
        members.append(ArchiveMember(arcname, root / entry.path, entry.executable))
    members.extend(ArchiveMember(d, None) for d in dirs)
    members.sort(key=lambda m: m.arcname)
    return members


def _zip_info(
    member: ArchiveMember, date_time: tuple[int, int, int, int, int, int]
) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(member.arcname, date_time=date_time)
    info.create_system = _UNIX
    if member.is_dir:
        info.external_attr = (_DIR_MODE << 16) | _MSDOS_DIRECTORY
        info.compress_type = zipfile.ZIP_STORED
    else:
        mode = _EXEC_MODE if member.executable else _FILE_MODE
        info.external_attr = mode << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _filesystem_error(exc: OSError, dest: Path) -> FilesystemError:
    if exc.errno == errno.ENOSPC:
        return FilesystemError(
            f"disk full while writing {dest}", hint="free space in the output directory's disk"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return FilesystemError(
            f"cannot write {dest}: {exc.strerror}",
            hint="choose a writable output directory (-o / output in [tool.layerkit])",
        )
    return FilesystemError(f"writing {dest} failed: {exc}")


def write_zip(
    members: Sequence[ArchiveMember],
    dest: Path,
    *,
    timestamp: int = ZIP_EPOCH,
    compression: CompressionName = "default",
) -> ZipResult:
    """Write `members` to `dest` reproducibly and atomically; return its digest and sizes."""
    date_time = time.gmtime(max(timestamp, ZIP_EPOCH))[:6]
    level = COMPRESSION_LEVELS[compression]
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    unzipped = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            for member in members:
                info = _zip_info(member, date_time)
                if member.source is None:
                    archive.writestr(info, b"")
                    continue
                # Public as `compress_level` only from 3.13; `_compresslevel` works on 3.10+.
                info._compresslevel = level  # type: ignore[attr-defined]
                with (
                    member.source.open("rb") as src,
                    archive.open(info, "w", force_zip64=True) as out,
                ):
                    shutil.copyfileobj(src, out, 1024 * 1024)
                unzipped += info.file_size
        digest = hashlib.sha256()
        with partial.open("rb") as built:
            for block in iter(lambda: built.read(1024 * 1024), b""):
                digest.update(block)
        zipped = partial.stat().st_size
        partial.replace(dest)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _filesystem_error(exc, dest) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ZipResult(dest, digest.hexdigest(), zipped, unzipped, len(members))


def write_text_atomic(dest: Path, text: str) -> None:
    """Write a small text file (a manifest) atomically, translating OS errors."""
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(dest)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _filesystem_error(exc, dest) from exc
