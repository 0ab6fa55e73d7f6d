"""Compile: bytecode for a slimmed tree, within the budget.

The compile step itself (bytecode reuse, the budget) is `layerkit.bytecode`; finding the
interpreter is `layerkit.interpreter`.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from layerkit.bytecode import BytecodeStore, CompileReport, compile_bytecode, fit_budget, pyc_path
from layerkit.config import CompileMode
from layerkit.contents import FileEntry
from layerkit.interpreter import Discovery
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.installer import CommandRunner


def compile_command(interpreter: str, root: Path, target: Target) -> list[str]:
    """compileall for `root` (site-packages): unchecked-hash .pyc, paths as on Lambda (/opt/...).

    What `layerkit.bytecode.compile_bytecode` writes file by file, byte for byte.
    """
    return [
        interpreter,
        "-I",
        "-m",
        "compileall",
        "-q",
        "-f",
        "-j",
        "0",
        "-o",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        f"/opt/{target.site_packages}",
        "-e",
        str(root),
        str(root),
    ]


@dataclass(frozen=True)
class BytecodeRequest:
    """How a build compiles: the mode, the interpreter found (or why none), the store, budget."""

    mode: CompileMode
    discovery: Discovery
    store: BytecodeStore
    budget_bytes: int


def module_sources(entries: Iterable[FileEntry]) -> list[str]:
    """The ``*.py`` files compileall would compile among a tree's `entries` (what
    `layerkit.bytecode.sources` finds by walking): regular files, not links, none under a
    ``__pycache__`` directory; sorted."""
    return sorted(
        e.path
        for e in entries
        if e.path.endswith(".py") and not e.symlink and "__pycache__" not in e.path.split("/")[:-1]
    )


def compile_step(
    root: Path,
    target: Target,
    request: BytecodeRequest,
    *,
    entries: Sequence[FileEntry],
    runner: CommandRunner,
) -> tuple[CompileReport, tuple[FileEntry, ...]]:
    """Write bytecode for the modules among `entries` (the files of `root`), then drop what the
    budget cannot hold; the report and the tree's files afterwards (each ``.pyc`` stat-ed once,
    the rest of the tree not read again)."""
    interpreter = request.discovery.interpreter
    if interpreter is None:
        reason = request.discovery.reason
        return CompileReport(None, skipped_reason=reason, mode=request.mode), tuple(entries)
    modules = module_sources(entries)
    report = compile_bytecode(
        root, target, runner=runner, interpreter=interpreter, store=request.store,
        mode=request.mode, sources=modules,
    )  # fmt: skip
    pycs = [pyc_path(source, target) for source in modules]
    by_path = {e.path: e for e in entries}
    by_path.update(_present(root, pycs))
    tree_bytes = sum(e.size for e in by_path.values())
    fitted = fit_budget(
        root, report, pycs, tree_bytes=tree_bytes, budget_bytes=request.budget_bytes
    )
    if fitted.dropped:
        for pyc in pycs:
            if pyc in by_path and not (root / pyc).exists():
                del by_path[pyc]
    return fitted, tuple(sorted(by_path.values(), key=lambda e: e.path))


def _present(root: Path, paths: Iterable[str]) -> dict[str, FileEntry]:
    """The entries of those `paths` that are files of `root` now."""
    found: dict[str, FileEntry] = {}
    for path in paths:
        try:
            info = (root / path).lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode):
            found[path] = FileEntry(path, info.st_size, bool(info.st_mode & 0o111))
    return found
