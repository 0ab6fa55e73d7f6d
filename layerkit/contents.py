"""What is in an installed tree: its files and which distribution owns each one.

Ownership comes from each ``*.dist-info/RECORD``; parsing is pure (text in, data out) so the same
code serves a directory being built and a zip being inspected.
"""

from __future__ import annotations

import csv
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import BinaryIO, Protocol

from packaging.utils import canonicalize_name

from layerkit.errors import InputFileError, VerificationError

# What a parser reads of a dist-info file at most: METADATA's headers come first (the long
# description after them is never needed); the largest RECORDs on PyPI are a few MiB.
METADATA_READ_LIMIT = 1 << 20
RECORD_READ_LIMIT = 32 << 20


@dataclass(frozen=True)
class FileEntry:
    """One regular file of a tree: path relative to the tree root (POSIX), size, exec bit."""

    path: str
    size: int
    executable: bool = False
    symlink: bool = False  # a link to a file of the tree, stored as that file


class ScanDir(Protocol):
    """`os.scandir`'s shape: a directory's entries, as a context manager (injected by tests to
    count the walks a build makes)."""

    def __call__(self, path: str, /) -> AbstractContextManager[Iterator[os.DirEntry[str]]]: ...


class Opener(Protocol):
    """Opens the file at a tree-relative POSIX path as a seekable binary stream."""

    def __call__(self, path: str) -> BinaryIO: ...


def tree_opener(root: Path) -> Opener:
    """An `Opener` over the files of a directory."""

    base = os.fspath(root)

    def open_file(path: str) -> BinaryIO:
        # `root / path` by text: a Path per file costs more than the open of a small module
        return open(f"{base}/{path}", "rb")  # noqa: PTH123

    return open_file


@dataclass(frozen=True)
class InstalledDistribution:
    """A distribution found in the tree, with the files its RECORD lists that are present."""

    name: str
    version: str
    dist_info: str
    files: tuple[str, ...]


def scan_tree(root: Path, *, scandir: ScanDir | None = None) -> tuple[FileEntry, ...]:
    """Every regular file under `root`, sorted by path: the one walk over a tree that a build
    makes (slimming, verification, the size report and the zip writer share its entries).

    Each directory is listed once with `scandir`, and each file is stat-ed once (from the
    listing where the platform allows). A symlink is stored as the file it points to when that
    file is inside the tree; a link that points outside, loops, or links a directory (which
    would duplicate content) is refused. FIFOs, sockets and devices are skipped: they are not
    files a layer can ship, and opening a FIFO would block. A directory that cannot be listed
    is skipped, as `os.walk` does. `scandir` defaults to `os.scandir` as it is when called.
    """
    listdir = scandir or os.scandir
    entries: list[FileEntry] = []
    real_root = root.resolve()
    pending = [("", str(root))]
    while pending:
        prefix, directory = pending.pop()
        try:
            opened = listdir(directory)
        except OSError:
            continue
        with opened as listing:
            for item in listing:
                relative = prefix + item.name
                if item.is_symlink():
                    _check_symlink(Path(item.path), real_root, root)
                    entry = _file_entry(relative, item.stat(), symlink=True)
                elif item.is_dir(follow_symlinks=False):
                    pending.append((f"{relative}/", item.path))
                    continue
                else:
                    entry = _file_entry(relative, item.stat(follow_symlinks=False))
                if entry is not None:
                    entries.append(entry)
    entries.sort(key=lambda e: e.path)
    return tuple(entries)


def _file_entry(relative: str, info: os.stat_result, *, symlink: bool = False) -> FileEntry | None:
    if not stat.S_ISREG(info.st_mode):
        return None
    return FileEntry(relative, info.st_size, bool(info.st_mode & 0o111), symlink)


def refresh_links(root: Path, entries: Iterable[FileEntry]) -> tuple[FileEntry, ...]:
    """`entries` with each symlink's size and mode read again (after the tree changed), and a
    link whose file has gone refused as `scan_tree` would; files not linked are not touched."""
    real_root = root.resolve()
    fresh: list[FileEntry] = []
    for entry in entries:
        if entry.symlink:
            path = root / entry.path
            _check_symlink(path, real_root, root)
            refreshed = _file_entry(entry.path, path.stat(), symlink=True)
            if refreshed is None:
                continue
            entry = refreshed
        fresh.append(entry)
    return tuple(fresh)


def _check_symlink(path: Path, real_root: Path, root: Path) -> None:
    relative = path.relative_to(root).as_posix()
    target = path.readlink()
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # a loop (ELOOP / RuntimeError) or a dangling link
        raise VerificationError(
            f"symlink {relative} -> {target} cannot be resolved: it loops or points at nothing",
            hint="remove the link or replace it by the file it should point to",
        ) from exc
    if target.is_absolute() or not resolved.is_relative_to(real_root):
        raise VerificationError(
            f"symlink {relative} -> {target} points outside the layer",
            hint="a layer is extracted to /opt; remove the link or replace it by the file",
        )
    if resolved.is_dir():
        raise VerificationError(
            f"symlink {relative} -> {target} links a directory",
            hint="replace the directory link by the directory itself",
        )


def parse_metadata(text: str) -> tuple[str, str]:
    """(Name, Version) from a METADATA file's headers (the body after them is not parsed)."""
    head = text.split("\n\n", 1)[0]
    headers = HeaderParser().parsestr(head, headersonly=True)
    return str(headers.get("Name", "")).strip(), str(headers.get("Version", "")).strip()


def record_rows(text: str, dist_info: str) -> list[tuple[str, str]]:
    """(path, hash field) of each file a RECORD lists inside the tree, paths normalised and
    relative to the tree root.

    Entries that leave the tree (``../../bin/x`` of console scripts) are dropped. A RECORD that
    is not CSV (e.g. a field over csv's 128 KiB limit) is refused.
    """
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise VerificationError(
            f"{dist_info}/RECORD cannot be parsed: {exc}",
            hint="the distribution's wheel is damaged or hostile; reinstall it from its index",
        ) from exc
    found: list[tuple[str, str]] = []
    for row in rows:
        if not row or not row[0]:
            continue
        path = posixpath.normpath(row[0])
        if path.startswith(("../", "/")) or path == "..":
            continue
        found.append((path, row[1] if len(row) > 1 else ""))
    return found


def parse_record(text: str, dist_info: str) -> tuple[str, ...]:
    """The files a RECORD lists (`record_rows`), its own RECORD always among them."""
    files = [path for path, _hash in record_rows(text, dist_info)]
    record_path = f"{dist_info}/RECORD"
    if record_path not in files:
        files.append(record_path)
    return tuple(files)


def files_shipped_differently(records: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The paths that two or more distributions ship with different contents, each with the
    ``*.dist-info`` directories whose RECORD (`records`: dist-info -> RECORD text) lists it.
    Installers write such a file once per distribution: the last one wins, and uv installs in
    parallel, so which content the tree holds may change from one install to the next."""
    claims: dict[str, dict[str, str]] = {}
    for dist_info, text in records.items():
        for path, digest in record_rows(text, dist_info):
            claims.setdefault(path, {})[dist_info] = digest
    return {
        path: tuple(sorted(by))
        for path, by in sorted(claims.items())
        if len(by) > 1 and len(set(by.values())) > 1
    }


def distributions_from_texts(
    dist_infos: Mapping[str, tuple[str, str]], present: Iterable[str]
) -> tuple[InstalledDistribution, ...]:
    """Distributions from ``{dist_info_dir: (METADATA text, RECORD text)}``.

    Only files in `present` count (slimming may have removed some); sorted by name.
    """
    existing = set(present)
    found: list[InstalledDistribution] = []
    for dist_info, (metadata, record) in dist_infos.items():
        name, version = parse_metadata(metadata)
        if not name:
            name = dist_info.rsplit("/", 1)[-1].split("-", 1)[0]
        files = tuple(f for f in parse_record(record, dist_info) if f in existing)
        found.append(InstalledDistribution(name, version, dist_info, files))
    found.sort(key=lambda d: canonicalize_name(d.name))
    return tuple(found)


def dist_info_dirs(paths: Iterable[str]) -> list[str]:
    """Top-level ``*.dist-info`` directories among `paths` (relative to site-packages)."""
    dirs = {p.split("/", 1)[0] for p in paths if "/" in p}
    return sorted(d for d in dirs if d.endswith(".dist-info"))


def distributions_read_with(
    read: Callable[[str, int], bytes], entries: Iterable[FileEntry]
) -> tuple[InstalledDistribution, ...]:
    """The distributions among `entries`, reading their METADATA and RECORD with `read`
    (a path relative to the tree root, a byte limit -> at most that many bytes): the same for a
    directory and a zip. A RECORD longer than `RECORD_READ_LIMIT` is refused."""
    paths = [e.path for e in entries]
    present = set(paths)

    def text(member: str, limit: int) -> str:
        if member not in present:
            return ""
        data = read(member, limit + 1)
        if len(data) > limit and member.endswith("/RECORD"):
            raise VerificationError(
                f"{member} is larger than {limit:,} bytes",
                hint="the distribution's wheel is damaged or hostile; reinstall it from its index",
            )
        return data[:limit].decode("utf-8", errors="replace")

    texts = {
        dist_info: (
            text(f"{dist_info}/METADATA", METADATA_READ_LIMIT),
            text(f"{dist_info}/RECORD", RECORD_READ_LIMIT),
        )
        for dist_info in dist_info_dirs(paths)
    }
    return distributions_from_texts(texts, paths)


def read_head(path: Path, limit: int) -> bytes:
    """At most the first `limit` bytes of a file."""
    try:
        with path.open("rb") as stream:
            return stream.read(limit)
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from exc


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest()


def read_distributions(
    root: Path, entries: Iterable[FileEntry]
) -> tuple[InstalledDistribution, ...]:
    """The distributions installed in `root` (a site-packages directory)."""
    return distributions_read_with(lambda member, limit: read_head(root / member, limit), entries)


def owners(distributions: Iterable[InstalledDistribution]) -> dict[str, str]:
    """Map each file path to the name of the distribution that installed it."""
    return {path: dist.name for dist in distributions for path in dist.files}
