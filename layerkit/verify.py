"""Will the layer run on its target? Checks over shared objects and over the zip's layout.

The checks import no boundary library: they read bytes only through an injected `Opener` (a
directory tree or a zip, so `inspect` can check a zip without extracting it) and return
`Violation` values; `raise_for` turns
the ones that are not waived into one `VerificationError`.

Binaries, found by their magic bytes (`read_binaries`; reading a binary's headers is
`layerkit.elf`'s alone): each one the target would load or run must be an ELF file (not Mach-O
or PE), for the target's machine, needing no ``GLIBC_x.y`` symbol version newer than the
runtime's glibc; an extension module's ABI tag must be the target's
(``cpython-312-x86_64-linux-gnu`` or ``abi3``); every library it needs must resolve
(`layerkit.linkage`). Binaries shipped for other platforms (`elf.is_other_platform`) are
reported as warnings.

Layout: only ``python/`` (and ``lib/``, Lambda's ``/opt/lib``) at the zip root, the target's
``python/lib/python3.X``, every entry world-readable, no symlink that is absolute or leaves the
layer, no absolute or ``..`` name.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import stat
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from packaging.utils import canonicalize_name

from layerkit.contents import FileEntry, Opener
from layerkit.elf import (
    BinaryHeaders,
    FileFormat,
    SharedObjectInfo,
    extension_abi_tag,
    is_other_platform,
    is_shared_object,
    may_be_binary,
)
from layerkit.errors import VerificationError
from layerkit.linkage import LAYER_LIB, check_linkage
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.safezip import CheckedZip

Rule = Literal[
    # shared objects
    "not-elf",
    "machine",
    "glibc",
    "python-abi",
    "missing-library",
    "other-platform",
    # layout
    "root",
    "python-version",
    "permissions",
    "symlink",
    "unsafe-name",
    "duplicate",
]

Severity = Literal["error", "warning"]

LAYER_ROOT = "python"
WAIVE_OPTION = "--allow"
MAX_LISTED = 25  # violations spelled out in one error message; the rest are counted


@dataclass(frozen=True)
class Violation:
    """One reason the layer would not run (or not be what the user expects) on the target.

    `found` is what the file has or needs, `expected` what the target offers; `hint` is the fix.
    A violation of a waived distribution is kept (to be shown) but does not fail the build.
    """

    path: str
    distribution: str | None
    rule: Rule
    found: str
    expected: str
    hint: str
    waived: bool = False
    severity: Severity = "error"  # a warning is shown but never fails the build

    def describe(self) -> str:
        """One line: file, distribution, what it needs against what the target offers, the fix."""
        owner = f" ({self.distribution})" if self.distribution else ""
        text = _TEMPLATES[self.rule].format(
            path=self.path, owner=owner, found=self.found, expected=self.expected
        )
        return f"{text} -> {self.hint}"


_TEMPLATES: dict[Rule, str] = {
    "not-elf": "{path}{owner} is {found}, but the target loads {expected}",
    "machine": "{path}{owner} is built for {found}, but the target runs {expected}",
    "glibc": "{path}{owner} needs {found}, but the target offers {expected}",
    "python-abi": "{path}{owner} is an extension for {found}, but the target loads {expected}",
    "missing-library": "{path}{owner} needs {found}, which is {expected}",
    "other-platform": "{path}{owner} is {found}, not for {expected} (reported, not an error)",
    "root": "{path} is {found} at the zip root, where the target only reads {expected}",
    "python-version": "{path} is under {found}, but the target reads {expected}",
    "permissions": "{path}{owner} has mode {found}, but Lambda needs {expected}",
    "symlink": "{path}{owner} is a symlink to {found}, but a layer needs {expected}",
    "unsafe-name": "{path} is {found}, but every name must be {expected}",
    "duplicate": "{path} appears {found} times in the zip, but must appear {expected}",
}


# --- reading bytes from a tree or a zip ------------------------------------------------------


def zip_opener(archive: CheckedZip, prefix: str = "") -> Opener:
    """An `Opener` over the members of a checked zip, `prefix` (e.g. site-packages) prepended.

    Each member comes as a seekable stream that is spooled to disk past 1 MiB and never longer
    than its declared (and measured) size: ELF parsing seeks, and seeking back in a deflated
    stream would inflate it again from the start.
    """
    base = f"{prefix.rstrip('/')}/" if prefix else ""

    def open_file(path: str) -> BinaryIO:
        return archive.open(base + path)

    return open_file


def zip_file_entries(archive: CheckedZip, prefix: str = "") -> tuple[FileEntry, ...]:
    """The files of a checked zip under `prefix`, with paths relative to it, sorted.

    A symlink to a file is listed under its own name with the size and mode of the file it
    lands on (as `scan_tree` does for a directory), so the checks judge what a loader opens.
    """
    base = f"{prefix.rstrip('/')}/" if prefix else ""
    entries: list[FileEntry] = []
    for member in archive.members:
        if member.is_dir or not member.name.startswith(base) or member.name in archive.link_issues:
            continue
        landing = archive.regular_file(member.name) if member.is_symlink else member
        entries.append(
            FileEntry(member.name[len(base) :], landing.size, bool(landing.mode & 0o111))
        )
    entries.sort(key=lambda e: e.path)
    return tuple(entries)


# --- shared objects and other binaries ---------------------------------------------------------

_MACHINE_NAMES = {
    "EM_X86_64": "x86-64",
    "EM_AARCH64": "AArch64",
    "EM_386": "x86 (32-bit)",
    "EM_ARM": "ARM (32-bit)",
    "EM_PPC64": "POWER (ppc64)",
    "EM_S390": "IBM Z (s390x)",
    "EM_RISCV": "RISC-V",
}

_FORMAT_NAMES: dict[FileFormat, str] = {
    "elf": "an ELF file",
    "mach-o": "a Mach-O file (macOS)",
    "mach-o-universal": "a universal Mach-O file (macOS)",
    "pe": "a PE file (Windows)",
    "unknown": "not an ELF file",
}


def expected_abi_tags(target: Target) -> tuple[str, ...]:
    """The ABI tags of extension modules the target's interpreter loads."""
    return (target.extension_suffix[1 : -len(".so")], "abi3")


def _glibc_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _target_text(target: Target) -> str:
    return f"{target.runtime} on {target.arch}"


def check_shared_object(
    path: str, info: SharedObjectInfo, target: Target, *, distribution: str | None
) -> tuple[Violation, ...]:
    """The violations of one binary whose headers were read into `info`."""
    what = distribution or "the package that installed it"
    found: list[Violation] = []

    def add(rule: Rule, found_text: str, expected: str, hint: str) -> None:
        found.append(Violation(path, distribution, rule, found_text, expected, hint))

    if is_other_platform(path, info, target):
        kind = (
            f"an ELF file for {_MACHINE_NAMES.get(info.machine, info.machine)}"
            if info.format == "elf"
            else _FORMAT_NAMES[info.format]
        )
        found.append(
            Violation(
                path,
                distribution,
                "other-platform",
                kind,
                f"Linux {target.machine}",
                f"{what} ships binaries for several platforms and picks one at run time; "
                f"--drop-other-platforms leaves such files out",
                severity="warning",
            )
        )
        return tuple(found)
    if info.format != "elf" or info.error:
        add(
            "not-elf",
            f"an ELF file that cannot be read ({info.error})"
            if info.error
            else _FORMAT_NAMES[info.format],
            f"ELF shared objects for Linux {target.machine}",
            f"{what} was installed from a wheel for another OS; install the manylinux wheel "
            f"for {target.machine} (or remove the file)",
        )
    else:
        if info.machine != target.elf_machine:
            add(
                "machine",
                _MACHINE_NAMES.get(info.machine, info.machine),
                f"{_MACHINE_NAMES.get(target.elf_machine, target.elf_machine)} "
                f"({_target_text(target)})",
                f"install the {target.machine} wheel of {what}, or build for the architecture "
                f"this file is for",
            )
        if info.glibc is not None and info.glibc > target.glibc:
            symbols = ", ".join(info.glibc_symbols[:3])
            more = ", ..." if len(info.glibc_symbols) > 3 else ""
            hint = f"pin an older {what} whose wheel is manylinux_2_{target.glibc[1]} or older"
            if target.glibc < (2, 34) and info.glibc <= (2, 34):
                hint += ", or target python3.12+ (Amazon Linux 2023, glibc 2.34)"
            add(
                "glibc",
                f"GLIBC_{_glibc_text(info.glibc)}" + (f" (for {symbols}{more})" if symbols else ""),
                f"glibc {_glibc_text(target.glibc)} ({_target_text(target)}, "
                f"{target.base.os_name})",
                hint,
            )
    tag = extension_abi_tag(path)
    if tag is not None and tag not in expected_abi_tags(target):
        wanted = " or ".join(expected_abi_tags(target))
        add(
            "python-abi",
            tag,
            f"{wanted} ({_target_text(target)})",
            f"install {what} for {target.runtime} (the installer must target the runtime, not "
            f"the host's Python), or build for {target.runtime}",
        )
    return tuple(found)


def read_binaries(
    paths: Iterable[str],
    opener: Opener,
    *,
    glibc_limit: tuple[int, int] | None = None,
    headers: BinaryHeaders | None = None,
) -> dict[str, SharedObjectInfo]:
    """Every binary among `paths`, found by its magic bytes (ELF, Mach-O, PE), plus every file
    named like a shared object whatever it holds; keyed by path, in path order. Headers already
    read into `headers` (with the same `glibc_limit`) are not read again."""
    if headers is None or headers.glibc_limit != glibc_limit:
        headers = BinaryHeaders(opener, glibc_limit=glibc_limit)
    found: dict[str, SharedObjectInfo] = {}
    for path in sorted(p for p in paths if may_be_binary(p)):
        info = headers(path)
        if info.format != "unknown" or is_shared_object(path):
            found[path] = info
    return found


def check_shared_objects(
    paths: Iterable[str],
    opener: Opener,
    target: Target,
    *,
    owners: Mapping[str, str],
    waived: Collection[str] = (),
    layer_prefix: str | None = None,
    layer_names: Collection[str] = (),
    headers: BinaryHeaders | None = None,
) -> tuple[Violation, ...]:
    """Check every binary among `paths` (read through `opener`, or taken from `headers` where
    slimming read them) against `target`: what each
    is (`check_shared_object`) and whether what it needs is there (`layerkit.linkage`).

    `owners` maps a path to its distribution's name; violations of the distributions in `waived`
    (any spelling PEP 503 normalises alike) are returned with ``waived=True``. `layer_prefix` is
    where `paths` sit in the layer (``python/lib/python3.X/site-packages``; None when unknown) and
    `layer_names` every file name in the layer, for the layer's own ``lib/`` (``/opt/lib``).
    """
    binaries = read_binaries(paths, opener, glibc_limit=target.glibc, headers=headers)
    violations: list[Violation] = []
    for path, info in binaries.items():
        violations.extend(check_shared_object(path, info, target, distribution=owners.get(path)))
    violations.extend(
        check_linkage(
            binaries,
            target,
            owners=owners,
            layer_prefix=layer_prefix,
            layer_names=layer_names,
        )
    )
    waived_names = {canonicalize_name(name) for name in waived}
    return tuple(
        _with_waiver(
            v, v.distribution is not None and canonicalize_name(v.distribution) in waived_names
        )
        for v in violations
    )


def _with_waiver(violation: Violation, waived: bool) -> Violation:
    return dataclasses.replace(violation, waived=True) if waived else violation


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutEntry:
    """A name in a zip (or a path in a tree) with its mode; `link_target` for a symlink.

    `mode` is the full ``st_mode`` (type and permission bits); 0 means unknown (a zip written
    without Unix attributes), which the permission check cannot judge and skips.
    """

    name: str
    mode: int = 0
    link_target: str | None = None
    link_issue: str | None = None  # why the link lands on no file of the layer (through the
    # other links), e.g. "leaves the layer"; None when it lands on one

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/") or stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return self.link_target is not None or stat.S_ISLNK(self.mode)


def layout_entries_from_zip(archive: CheckedZip) -> tuple[LayoutEntry, ...]:
    """Every member of a checked zip (in zip order) with its name as written, mode and link."""
    return tuple(
        LayoutEntry(m.original, m.mode, m.link_target, archive.link_issues.get(m.name))
        for m in archive.members
    )


def layout_entries_from_tree(root: Path) -> tuple[LayoutEntry, ...]:
    """Every file, directory and symlink under `root` (not following links), sorted by name."""
    entries: list[LayoutEntry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            info = path.lstat()
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                entries.append(LayoutEntry(relative, info.st_mode, str(path.readlink())))
            elif stat.S_ISDIR(info.st_mode):
                entries.append(LayoutEntry(relative + "/", info.st_mode))
            else:
                entries.append(LayoutEntry(relative, info.st_mode))
    entries.sort(key=lambda e: e.name)
    return tuple(entries)


def unsafe_name_reason(name: str) -> str | None:
    """Why `name` must not be written or extracted (absolute, ``..``), or None when it is safe."""
    if not name:
        return "an empty name"
    if "\x00" in name:
        return "a name containing NUL"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute name"
    if ".." in re.split(r"[/\\]", name):
        return "a name containing '..'"
    return None


def check_layout(
    entries: Iterable[LayoutEntry],
    target: Target,
    *,
    owners: Mapping[str, str] | None = None,
) -> tuple[Violation, ...]:
    """Check the names, modes and symlinks of a layer zip (or staged tree) against `target`.

    `owners` (optional) maps a name to its distribution, for the messages.
    """
    owned = owners or {}
    violations: list[Violation] = []
    seen: dict[str, int] = {}
    version_dir = f"python{target.python}"
    for entry in entries:
        name = entry.name
        seen[name] = seen.get(name, 0) + 1
        reason = unsafe_name_reason(name)
        if reason is not None:
            violations.append(
                Violation(
                    name,
                    None,
                    "unsafe-name",
                    reason,
                    "relative and inside the layer",
                    "the zip could write outside /opt when extracted; rebuild it with layerkit",
                )
            )
            continue
        parts = name.rstrip("/").split("/")
        distribution = owned.get(name)
        if parts[0] not in (LAYER_ROOT, LAYER_LIB):
            violations.append(
                Violation(
                    name,
                    distribution,
                    "root",
                    f"'{parts[0]}'",
                    f"'{LAYER_ROOT}/' (and '{LAYER_LIB}/' for libraries, /opt/lib)",
                    f"a Python layer keeps everything under {LAYER_ROOT}/ (packages in "
                    f"{target.site_packages}/); move or remove it",
                )
            )
        elif (
            parts[0] == LAYER_ROOT
            and len(parts) >= 3
            and parts[1] == "lib"
            and parts[2] != version_dir
        ):
            violations.append(
                Violation(
                    name,
                    distribution,
                    "python-version",
                    f"python/lib/{parts[2]}/",
                    f"python/lib/{version_dir}/ ({target.runtime})",
                    f"Python {target.python} never looks there; build the layer for "
                    f"{target.runtime} (or choose the runtime this layer was built for)",
                )
            )
        violations.extend(_mode_violations(entry, distribution))
    violations.extend(
        Violation(
            name,
            None,
            "duplicate",
            str(count),
            "once",
            "which copy is extracted depends on the tool; rebuild the zip with layerkit",
        )
        for name, count in seen.items()
        if count > 1
    )
    return tuple(violations)


def _mode_violations(entry: LayoutEntry, distribution: str | None) -> list[Violation]:
    if entry.is_symlink:
        target = entry.link_target or ""
        landing = posixpath.normpath(posixpath.join(posixpath.dirname(entry.name), target))
        escapes = target.startswith("/") or landing == ".." or landing.startswith("../")
        if escapes or entry.link_issue:
            return [
                Violation(
                    entry.name,
                    distribution,
                    "symlink",
                    repr(target) + (f", which {entry.link_issue}" if entry.link_issue else ""),
                    "a relative link that stays inside the layer",
                    "the layer is extracted to /opt; replace the link by the file it points to",
                )
            ]
        return []
    if entry.mode == 0:
        return []
    needed = 0o005 if entry.is_dir else 0o004
    if entry.mode & needed != needed:
        wanted = "o+rx (directories)" if entry.is_dir else "o+r"
        return [
            Violation(
                entry.name,
                distribution,
                "permissions",
                oct(stat.S_IMODE(entry.mode)),
                f"{wanted}: the function runs as another user than the one who built the zip",
                "rebuild the zip with layerkit (it writes 0644/0755), or chmod o+r before zipping",
            )
        ]
    return []


# --- failing the build -------------------------------------------------------------------------


def blocking(violations: Iterable[Violation]) -> tuple[Violation, ...]:
    """The violations that fail a build: errors not waived."""
    return tuple(v for v in violations if not v.waived and v.severity == "error")


def raise_for(violations: Sequence[Violation], *, label: str = "the layer") -> None:
    """Raise one `VerificationError` listing every violation that is not waived (if any)."""
    failing = blocking(violations)
    if not failing:
        return
    lines = [v.describe() for v in failing[:MAX_LISTED]]
    if len(failing) > MAX_LISTED:
        lines.append(f"... and {len(failing) - MAX_LISTED} more")
    count = len(failing)
    message = (
        f"{count} problem{'s' if count != 1 else ''} would stop {label} from working on its "
        f"target:\n" + "\n".join(f"  - {line}" for line in lines)
    )
    waivable = sorted({v.distribution for v in failing if v.distribution})
    hint = "fix each as suggested above"
    if waivable:
        example = waivable[0]
        hint += (
            f"; if you know a package works anyway, waive it with {WAIVE_OPTION} {example} "
            f'(or allow = ["{example}"] in [tool.layerkit])'
        )
    raise VerificationError(message, hint=hint)
