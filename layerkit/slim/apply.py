"""Applying a slimming plan to a directory: remove the planned files, then emptied directories."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from layerkit.slim.plan import Removal, RulePlan, SlimPlan

if TYPE_CHECKING:
    from layerkit.bytecode import CompileReport
    from layerkit.slim.strip import StripReport


@dataclass(frozen=True)
class SlimReport:
    """What slimming did to a tree: per rule, files and bytes removed; strip and compile results."""

    rules: tuple[RulePlan, ...]
    strip: StripReport | None = None
    compile: CompileReport | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def files(self) -> int:
        return sum(rule.files for rule in self.rules)

    @property
    def bytes(self) -> int:
        return sum(rule.bytes for rule in self.rules)


class Confined:
    """Paths under `root` that stay inside it (no ``..``, no symlinked parent): each parent
    directory is resolved once, however many of its files are asked about (the tree's
    directories are not changed while one is in use). By text, not `Path`: slimming asks about
    thousands of files, and a Path per file cost more than its removal."""

    def __init__(self, root: Path) -> None:
        self._root = os.fspath(root)
        self._real_root = root.resolve()
        self._parents: dict[str, bool] = {}

    def where(self, relative: str) -> str | None:
        """``root/relative`` when that stays inside `root`, else None."""
        parts = relative.split("/")
        if any(part in ("", ".", "..") for part in parts):  # also "/x", "x/", "a//b": not ours
            return None
        path = f"{self._root}/{relative}"
        parent = path.rpartition("/")[0]
        inside_root = self._parents.get(parent)
        if inside_root is None:
            inside_root = Path(parent).resolve().is_relative_to(self._real_root)
            self._parents[parent] = inside_root
        return path if inside_root else None

    def __call__(self, relative: str) -> Path | None:
        """`where`, as a Path."""
        path = self.where(relative)
        return None if path is None else Path(path)


def apply(root: Path, slim_plan: SlimPlan) -> SlimReport:
    """Remove the planned files from `root` (the site-packages directory the plan was made for).

    Reports what was actually removed (sizes measured now); emptied directories go too.
    """
    rules: list[RulePlan] = []
    warnings = list(slim_plan.warnings)
    touched_dirs: set[str] = set()
    confined = Confined(root)
    for rule in slim_plan.rules:
        removed: list[Removal] = []
        for removal in rule.removals:
            path = confined.where(removal.path)
            if path is None:
                warnings.append(f"refused to remove {removal.path!r}: outside {root}")
                continue
            try:
                size = os.lstat(path).st_size
                os.unlink(path)  # noqa: PTH108 - by text, see Confined
            except FileNotFoundError:
                continue
            removed.append(Removal(removal.path, size, removal.reason))
            touched_dirs.add(path.rpartition("/")[0])
        rules.append(RulePlan(rule.rule, rule.description, tuple(removed)))
    _remove_empty_dirs(os.fspath(root), touched_dirs)
    return SlimReport(tuple(rules), warnings=tuple(warnings), notes=slim_plan.notes)


def _remove_empty_dirs(root: str, directories: Iterable[str]) -> None:
    """Remove each of `directories` (below `root`) and its parents while they are empty."""
    for directory in sorted(directories, key=lambda d: d.count("/"), reverse=True):
        current = directory
        while current.startswith(f"{root}/"):
            try:
                os.rmdir(current)  # noqa: PTH106 - by text, see Confined
            except OSError:
                break  # not empty (or already gone with a child's walk up)
            current = current.rpartition("/")[0]
