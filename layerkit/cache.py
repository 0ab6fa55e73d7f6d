"""Content-addressed build cache: the inputs of a build -> the zip and manifest they produce.

A key is the SHA-256 of a canonical JSON document of every input that changes the output: the
contents of the requirement files, the requirement specs, the resolved pins, the target, the
installer and its version, the options that shape the tree or the zip (slim, verify, codec...) and
layerkit's version. An entry is a directory ``builds/<key[:2]>/<key>/`` holding ``layer.zip`` and
``manifest.json``, made in a scratch directory and renamed into place, so a reader never sees half
an entry. A cached zip is copied out only when its size and SHA-256 match its manifest; a damaged
or partial entry is removed and reported as a miss. When the output directory still holds the very
file the cache put (or saw) there last — same size, inode, mtime and ctime — a rebuild reads and
copies nothing (`BuildCache.place`).

Pins. Asking the index is the only way to know that unpinned requirements still resolve to the
same versions: ``uv pip compile`` for the target, ~0.3 s with a warm uv cache here (anchored with
``--python``; without it uv's interpreter discovery took ~7 s); where pip installs (glibc 2.26),
pip's dry run with the install's tags instead. Both run behind the installer boundary
(`installer.resolve_with_uv`, `installer.resolve_with_pip`, chosen by `workflow._resolve`), which
hands `find_build` their output; `layerkit.pins` reads the pins from it. A lock (every requirement
an exact ``name==version``, as ``uv pip compile`` or ``pip-compile`` write) pins itself, so no
resolution is needed once a cached build shows that the lock covers every distribution it
installed; see `find_build`.

The cache lives in ``LAYERKIT_CACHE_DIR`` or the platform's user cache directory (platformdirs).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerkit.errors import FilesystemError, LayerkitError
from layerkit.manifest import Manifest, parse_manifest, sbom_serial_number
from layerkit.pins import canonical_name, format_pins, lock_pins, normalize_pins, pins_cover
from layerkit.report import to_jsonable
from layerkit.safewrite import (
    commit,
    discard_partial,
    mark_used,
    remove_stale,
    temporary_beside,
    write_text_atomic,
)

CACHE_ENV = "LAYERKIT_CACHE_DIR"
# Bump when the key document or the entry layout changes. 2: zips cached before the RECORD fix
# (issue 14) kept host-dependent bytes; the code digest below now keys every entry as well.
CACHE_LAYOUT = 2
_ZIP_NAME = "layer.zip"
_MANIFEST_NAME = "manifest.json"
_DETAILS_NAME = "details.json"
_SBOM_NAME = "sbom.json"  # {"generator": ..., "sbom": the CycloneDX text}
_PARTS_NAME = "parts.json"  # layerparts.parts_document: what a rebuild by parts starts from
_LINEAGE_DIR = "lineage"  # lineage/<lineage key>: the key of the last build stored there
_TOUCH_AFTER_SECONDS = 3600  # as the member store marks its packs (`layerkit.members`)
# tmp/<key>.<pid>.<uuid>: an entry being stored (the pid tells a dead store's leftovers)
_SCRATCH = re.compile(r"^[0-9a-f]+\.(\d+)\.[0-9a-f]{32}$")


def cache_dir(env: Mapping[str, str]) -> Path:
    """``LAYERKIT_CACHE_DIR`` if set, else the platform's cache dir (``~/.cache/layerkit``...)."""
    override = env.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs  # only builds need it

    return Path(platformdirs.user_cache_dir("layerkit", appauthor=False))


def installer_cache_env(env: Mapping[str, str], installer: str) -> dict[str, str]:
    """Point the installer's wheel cache inside ``LAYERKIT_CACHE_DIR`` when that is set.

    One directory then holds everything a CI job should persist between runs. Without it, uv and
    pip keep their own platform-conventional caches (shared with the user's other projects), and a
    user's own ``UV_CACHE_DIR`` / ``PIP_CACHE_DIR`` always wins.
    """
    override = env.get(CACHE_ENV, "").strip()
    variable = "UV_CACHE_DIR" if installer == "uv" else "PIP_CACHE_DIR"
    if not override or env.get(variable):
        return {}
    return {variable: str(Path(override).expanduser() / installer)}


@dataclass(frozen=True)
class BuildInputs:
    """Everything, besides the resolved pins, that decides a layer zip's bytes."""

    requirement_texts: tuple[str, ...]  # contents of each requirements file, in order
    requirements: tuple[str, ...]  # specs given directly (config or command line)
    target: str  # Target.slug, e.g. python3.12-arm64
    installer: str
    installer_version: str
    layerkit_version: str
    options: Mapping[str, Any] = field(default_factory=dict)  # slim, verify, codec, index...
    layerkit_code: str = ""  # layerkit_code_digest(): a fix without a version bump still misses

    def document(self, pins: str) -> dict[str, Any]:
        return {
            "layout": CACHE_LAYOUT,
            "requirement_files": [
                hashlib.sha256(t.encode("utf-8")).hexdigest() for t in self.requirement_texts
            ],
            "requirements": list(self.requirements),
            "pins": pins,
            "target": self.target,
            "installer": [self.installer, self.installer_version],
            "layerkit": self.layerkit_version,
            "layerkit_code": self.layerkit_code,
            "options": to_jsonable(dict(self.options)),
        }


@functools.cache
def layerkit_code_digest(package_dir: Path = Path(__file__).parent) -> str:
    """The SHA-256 of layerkit's own code and data: what builds the zip, so part of its key.

    The version alone is not enough: a fix that changes a zip's bytes (issue 14's RECORD fix)
    shipped without a version bump would otherwise keep serving zips built before it, and an
    editable install changes under the same version all the time. About 1 MB, read once.
    """
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        if path.suffix in {".pyc", ".pyo"} or not path.is_file():
            continue
        digest.update(f"{path.relative_to(package_dir).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def canonical_digest(document: Mapping[str, Any]) -> str:
    """The SHA-256 of `document`'s canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def lineage_key(inputs: BuildInputs) -> str:
    """The key shared by the builds of `inputs` whatever their requirements and pins: builds one
    may be rebuilt from by parts (`layerkit.layerparts`), as every other input is the same."""
    document = inputs.document("")
    document["requirement_files"] = document["requirements"] = []
    return canonical_digest(document)


def cache_key(inputs: BuildInputs, pins: str) -> str:
    """The SHA-256 of the canonical JSON of `inputs` and `pins`."""
    return canonical_digest(inputs.document(pins))


@dataclass(frozen=True)
class CacheEntry:
    """A verified cached build."""

    key: str
    zip_path: Path
    manifest: Manifest
    details: Mapping[str, Any] = field(default_factory=dict)  # what the build reported (JSON)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class BuildCache:
    """Cached builds under `root`; every method is safe against concurrent builds."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry_dir(self, key: str) -> Path:
        return self.root / "builds" / key[:2] / key

    def lookup(self, key: str) -> CacheEntry | None:
        """The entry for `key` if it is complete (its zip's digest is checked by `place`).

        A damaged or partial entry is removed and reported as a miss.
        """
        directory = self.entry_dir(key)
        if not directory.is_dir():
            return None
        zip_path = directory / _ZIP_NAME
        try:
            document = json.loads((directory / _MANIFEST_NAME).read_text(encoding="utf-8"))
            if not isinstance(document, dict):
                raise ValueError("not a manifest")
            manifest = parse_manifest(document, source=str(directory))
            details = json.loads((directory / _DETAILS_NAME).read_text(encoding="utf-8"))
            if not isinstance(details, dict):
                raise ValueError("damaged details")
            complete = (
                manifest.inputs_digest == key and zip_path.stat().st_size == manifest.zipped_bytes
            )
        except (OSError, ValueError, RecursionError, LayerkitError):  # deep JSON: damaged
            complete = False
        if not complete:
            self.discard(key)
            return None
        return CacheEntry(key, zip_path, manifest, details)

    def discard(self, key: str) -> None:
        """Forget the entry `key` (damaged, or unwanted)."""
        _remove_tree(self.entry_dir(key))

    def store(
        self,
        key: str,
        zip_path: Path,
        manifest: Manifest,
        details: Mapping[str, Any] | None = None,
        *,
        parts: Mapping[str, Any] | None = None,
        lineage: str = "",
    ) -> CacheEntry:
        """Add the build `key`: its zip, its manifest (which must carry `key`) and `details`,
        any JSON-able summary the build reported (size report, slimming) to show again on a hit.
        `zip_path` (the build's output) is remembered as holding this build (see `place`).
        With `parts` (`layerparts.parts_document`), it becomes the last build of `lineage` (see
        `last_of_lineage`).
        """
        if manifest.inputs_digest != key:
            raise ValueError("the manifest's inputs_digest must be the cache key")
        remove_stale(self.root / "tmp", _SCRATCH)  # left by builds killed while storing
        scratch = self.root / "tmp" / f"{key}.{os.getpid()}.{uuid.uuid4().hex}"
        directory = self.entry_dir(key)
        try:
            scratch.mkdir(parents=True)
            shutil.copyfile(zip_path, scratch / _ZIP_NAME)
            (scratch / _MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
            document = json.dumps(to_jsonable(dict(details or {})), sort_keys=True)
            (scratch / _DETAILS_NAME).write_text(document, encoding="utf-8")
            if parts is not None:
                (scratch / _PARTS_NAME).write_text(json.dumps(parts), encoding="utf-8")
            directory.parent.mkdir(parents=True, exist_ok=True)
            _remove_tree(directory)  # a stale or damaged entry of the same key
            try:
                scratch.rename(directory)
            except OSError:
                if not directory.is_dir():
                    raise
                _remove_tree(scratch)  # another build stored the same key first
        except OSError as exc:
            _remove_tree(scratch)
            raise FilesystemError(
                f"cannot write the build cache at {self.root}: {exc}",
                hint=f"set {CACHE_ENV} to a writable directory, or build with --force",
            ) from exc
        self.remember(key, zip_path)
        if parts is not None and lineage:
            # only a later rebuild by parts is lost if this fails
            with contextlib.suppress(OSError, FilesystemError):
                write_text_atomic(self._lineage_file(lineage), key)
        return CacheEntry(key, directory / _ZIP_NAME, manifest, json.loads(document))

    def _lineage_file(self, lineage: str) -> Path:
        return self.root / _LINEAGE_DIR / lineage

    def last_of_lineage(self, lineage: str) -> tuple[CacheEntry, Any] | None:
        """The last build stored for `lineage` that kept its parts, with its parts' JSON; None
        when there is none (or it was pruned, or is damaged)."""
        try:
            key = self._lineage_file(lineage).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if not re.fullmatch(r"[0-9a-f]{64}", key):
            return None
        entry = self.lookup(key)
        if entry is None:
            return None
        try:
            parts = json.loads((self.entry_dir(key) / _PARTS_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        return entry, parts

    def kept_sbom(self, key: str, manifest: Manifest, generator: str) -> str | None:
        """The SBOM kept with build `key` (see `keep_sbom`) if `generator` made it and it names
        the build's zip by its serial number; else None (a damaged one is made anew)."""
        try:
            kept = json.loads((self.entry_dir(key) / _SBOM_NAME).read_text(encoding="utf-8"))
            text = kept["sbom"]
            made_by, serial = kept["generator"], json.loads(text)["serialNumber"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None
        expected = f"urn:uuid:{sbom_serial_number(manifest)}"
        return text if (made_by, serial) == (generator, expected) else None

    def keep_sbom(self, key: str, text: str, generator: str) -> None:
        """Keep the SBOM `generator` made for build `key`: it follows from the manifest and the
        time stamp, both fixed by the key, so a reuse can write it again without making it."""
        directory = self.entry_dir(key)
        if directory.is_dir():  # else not cached (or discarded meanwhile): nothing to keep it with
            write_text_atomic(
                directory / _SBOM_NAME, json.dumps({"generator": generator, "sbom": text})
            )

    def place(self, entry: CacheEntry, dest: Path, *, stale: Sequence[Path] = ()) -> bool:
        """Make `dest` the cached zip; False (and the entry forgotten) if its digest is wrong.
        `stale` (the old zip's manifest) is removed just before the old zip is replaced.

        When `dest` is still the very file this cache put or saw there last (same size, inode,
        mtime and ctime: any write or replacement changes one), nothing is read or copied: that
        is a no-op rebuild. Otherwise the entry's SHA-256 is checked and the zip copied into
        place atomically. Copies, not hard links: a tool that rewrites the output in place
        (``cp``, ``zip -d``) must not reach into the cache.
        """
        if self._is_placed(entry.key, dest):
            self._mark_used(entry.key, dest)
            return True
        partial: Path | None = None
        try:
            # One read: the copy is hashed as it is written, from one open file, so an entry
            # pruned or replaced meanwhile by another process is a miss, never half a zip.
            source = entry.zip_path.open("rb")
        except OSError:
            self.discard(entry.key)
            return False
        try:
            with source:
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, partial = temporary_beside(dest)
                digest = hashlib.sha256()
                with os.fdopen(fd, "wb") as out:
                    for block in iter(lambda: source.read(1024 * 1024), b""):
                        digest.update(block)
                        out.write(block)
            if digest.hexdigest() != entry.manifest.sha256:
                discard_partial(partial)
                self.discard(entry.key)
                return False
            commit(partial, dest, stale=stale)
        except OSError as exc:
            discard_partial(partial)
            raise FilesystemError(f"cannot write {dest}: {exc}") from exc
        self.remember(entry.key, dest)
        return True

    def remember(self, key: str, dest: Path) -> None:
        """Record that `dest` now holds the zip of `key` (after a build wrote it, or `place`)."""
        try:
            record = self._fingerprint_file(key, dest)
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(_fingerprint(dest)), encoding="utf-8")
        except OSError:
            return  # only an optimisation: the next rebuild verifies and copies instead

    def _mark_used(self, key: str, dest: Path) -> None:
        """A no-op rebuild uses the entry too: mark it (at most once an hour, one utime) so
        pruning, which removes the builds used least recently, keeps it."""
        mark_used(self._fingerprint_file(key, dest), after_seconds=_TOUCH_AFTER_SECONDS)

    def _fingerprint_file(self, key: str, dest: Path) -> Path:
        where = hashlib.sha256(str(dest.resolve()).encode("utf-8")).hexdigest()[:32]
        return self.entry_dir(key) / "placed" / f"{where}.json"

    def _is_placed(self, key: str, dest: Path) -> bool:
        try:
            recorded = json.loads(self._fingerprint_file(key, dest).read_text(encoding="utf-8"))
            return bool(recorded == _fingerprint(dest))
        except (OSError, ValueError, RecursionError):
            return False


def _fingerprint(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_ino, stat.st_dev, stat.st_mtime_ns, stat.st_ctime_ns]


@dataclass(frozen=True)
class CacheDecision:
    """What the cache says about a build: its key, and the entry when it can be reused."""

    key: str
    entry: CacheEntry | None
    resolved: bool  # whether the index was asked (unpinned requirements, or an incomplete lock)


def find_build(
    cache: BuildCache, inputs: BuildInputs, *, resolve: Callable[[], str]
) -> CacheDecision:
    """The key to build (and store) under, and the reusable entry if there is one.

    With a lock, the key uses the lock's pins and no resolution happens — provided the cached
    build shows the lock covers everything it installed (else the index is asked, as for
    unpinned requirements). `resolve` returns ``name==version`` lines (see
    `installer.resolve_with_uv`).
    """
    lock = lock_pins(inputs.requirement_texts, inputs.requirements)
    if lock is not None:
        key = cache_key(inputs, lock)
        entry = cache.lookup(key)
        if entry is None or pins_cover(lock, entry.manifest):
            return CacheDecision(key, entry, resolved=False)
    pins = normalize_pins(resolve())
    key = cache_key(inputs, pins)
    return CacheDecision(key, cache.lookup(key), resolved=True)


def key_after_install(inputs: BuildInputs, installed: Iterable[tuple[str, str]]) -> str:
    """The key of a build that skipped `find_build` (``--force``), from what it installed.

    `installed` are the (name, version) pairs found right after the install, before slimming
    excludes any: for uv they are what ``uv pip compile`` resolves, so a later `find_build` finds
    this build without the forced one paying for a resolution. A lock keys on itself, as there.
    """
    lock = lock_pins(inputs.requirement_texts, inputs.requirements)
    return cache_key(inputs, lock) if lock is not None else key_of_installed(inputs, installed)


def key_of_installed(inputs: BuildInputs, installed: Iterable[tuple[str, str]]) -> str:
    """The key of the (name, version) pairs an install put in the tree, as `find_build` keys
    the same pins resolved."""
    return cache_key(inputs, format_pins((canonical_name(n), v) for n, v in installed))
