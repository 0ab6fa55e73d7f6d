"""Strip: drop symbol tables and debug info from a layer's shared objects, with a tool found on
PATH and run through the injected command runner; a result that is not sound is thrown away."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from layerkit.elf import BinaryHeaders, SharedObjectInfo, read_shared_object
from layerkit.interpreter import Which
from layerkit.slim.apply import Confined
from layerkit.slim.plan import StripCandidate, is_vendored_library
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.installer import CommandRunner

_LLVM_STRIP_VERSIONS = tuple(range(21, 13, -1))


def strip_tool_names(target: Target, host_machine: str) -> tuple[str, ...]:
    """The strip programs that understand the target's ELF files, best first.

    GNU strip only knows the host's architecture, so a plain ``strip`` counts only when the
    host's machine is the target's; ``llvm-strip`` handles every architecture.
    """
    names = [f"{target.machine}-linux-gnu-strip", "llvm-strip"]
    names.extend(f"llvm-strip-{version}" for version in _LLVM_STRIP_VERSIONS)
    if host_machine == target.machine:
        names.append("strip")
    return tuple(names)


def find_strip(target: Target, *, which: Which, host_machine: str) -> str | None:
    """The first strip program on PATH that can process the target's shared objects."""
    for name in strip_tool_names(target, host_machine):
        found = which(name)
        if found:
            return found
    return None


def strip_install_hint(target: Target) -> str:
    """What to install to get a strip for the target, in words a user can act on."""
    return (
        f"install llvm (llvm-strip) or binutils-{target.machine.replace('_', '-')}-linux-gnu "
        f"({target.machine}-linux-gnu-strip)"
    )


@dataclass(frozen=True)
class StrippedFile:
    path: str
    before: int
    after: int


@dataclass(frozen=True)
class StripReport:
    """What strip did: files shrunk (before/after), failures, whether it ran at all."""

    tool: str | None
    files: tuple[StrippedFile, ...] = ()
    hard_links_kept: int = 0  # files whose installer-cache link was left untouched
    skipped_reason: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def bytes_saved(self) -> int:
        return sum(f.before - f.after for f in self.files)


def strip_shared_objects(
    root: Path,
    candidates: Sequence[StripCandidate],
    target: Target,
    *,
    runner: CommandRunner,
    tool: str | None,
    headers: BinaryHeaders | None = None,
) -> StripReport:
    """Strip unneeded symbols and debug info from each candidate under `root`.

    A file is never modified in place: strip writes a new file which replaces the old name, so a
    file hard-linked from an installer's cache (uv does that) keeps its cached content. A result
    that is not a sound ELF of the target's machine, or not smaller, is thrown away. The headers
    read to judge a result that replaces a file are kept in `headers` for verification.
    """
    if tool is None:
        reason = f"no strip for {target.machine} found on PATH: {strip_install_hint(target)}"
        return StripReport(None, skipped_reason=reason, warnings=(f"strip skipped: {reason}",))
    stripped: list[StrippedFile] = []
    warnings: list[str] = []
    hard_links = 0
    confined = Confined(root)
    for candidate in candidates:
        path = confined(candidate.path)
        if path is None or is_vendored_library(candidate.path):
            warnings.append(f"strip: refused {candidate.path!r}")
            continue
        before = path.lstat()
        output = path.with_name(f".{path.name}.layerkit-strip")
        result = runner([tool, "--strip-unneeded", "-o", str(output), str(path)])
        problem = None
        info = None
        if result.returncode != 0:
            problem = f"{tool} failed ({result.returncode}): {result.tail(3)}"
        elif not output.is_file():
            problem = f"{tool} wrote no output"
        else:
            glibc_limit = headers.glibc_limit if headers is not None else None
            info = _read_result(output, glibc_limit)
            problem = _stripped_problem(info, target)
        if problem is None and output.stat().st_size >= before.st_size:
            output.unlink()  # nothing worth stripping after all (alignment padding ate it)
            continue
        if problem is not None:
            output.unlink(missing_ok=True)
            warnings.append(f"strip: kept {candidate.path} as it was: {problem}")
            continue
        output.chmod(stat.S_IMODE(before.st_mode))
        output.replace(path)
        if headers is not None and info is not None:
            headers.put(candidate.path, info)
        if before.st_nlink > 1:
            hard_links += 1
        stripped.append(StrippedFile(candidate.path, before.st_size, path.lstat().st_size))
    return StripReport(tool, tuple(stripped), hard_links, warnings=tuple(warnings))


def _read_result(output: Path, glibc_limit: tuple[int, int] | None) -> SharedObjectInfo:
    with output.open("rb") as stream:
        return read_shared_object(stream, glibc_limit=glibc_limit)


def _stripped_problem(info: SharedObjectInfo, target: Target) -> str | None:
    """Why a stripped file (its headers `info`) must not replace the original, or None when it
    is sound."""
    if info.format != "elf" or info.error:
        return f"the result is not a readable ELF file ({info.error or info.format})"
    if info.machine != target.elf_machine:
        return f"the result is for {info.machine}"
    for segment in info.elf.loads if info.elf else ():
        if segment.align > 1 and (segment.offset - segment.vaddr) % segment.align:
            return "a loadable segment lost its alignment (the loader would refuse it)"
    return None
