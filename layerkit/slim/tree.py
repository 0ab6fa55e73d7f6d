"""Every slimming step, in order, on a freshly installed site-packages directory.

The tree is walked once, by the caller (`contents.scan_tree`); each step says what it changed, so
the files after slimming are derived from those entries rather than walked again: what `apply`
removed goes, what strip shrank gets its new size, the ``.pyc`` written are stat-ed one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from layerkit.config import SlimSettings
from layerkit.contents import (
    FileEntry,
    InstalledDistribution,
    read_distributions,
    refresh_links,
    tree_opener,
)
from layerkit.elf import BinaryHeaders
from layerkit.interpreter import Which
from layerkit.slim.apply import SlimReport, apply
from layerkit.slim.compile import BytecodeRequest, compile_step
from layerkit.slim.plan import plan
from layerkit.slim.strip import StripReport, find_strip, strip_shared_objects
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.installer import CommandRunner


@dataclass(frozen=True)
class SlimmedTree:
    """What slimming did, and the tree's files afterwards (as a new walk would list them), with
    the binaries' headers it read (true of the files as they are now) for verification."""

    report: SlimReport
    entries: tuple[FileEntry, ...]
    headers: BinaryHeaders
    installed: tuple[InstalledDistribution, ...] = ()  # the distributions before slimming


def slim_tree(
    root: Path,
    target: Target,
    options: SlimSettings,
    *,
    entries: Sequence[FileEntry],
    runner: CommandRunner,
    which: Which,
    host_machine: str,
    bytecode: BytecodeRequest | None = None,
) -> SlimmedTree:
    """Plan, remove, then strip and compile as `options` ask, on the site-packages dir `root`
    whose files are `entries` (`contents.scan_tree`).

    Bytecode is written when `bytecode` says how (its mode is not ``never``); without an
    interpreter the report says why none was.
    """
    distributions = read_distributions(root, entries)
    opener = tree_opener(root)
    headers = BinaryHeaders(opener, glibc_limit=target.glibc)
    slim_plan = plan(entries, opener, target, options, distributions, headers=headers)
    report = apply(root, slim_plan)
    removed = {r.path for rule in report.rules for r in rule.removals}
    left = [e for e in entries if e.path not in removed]
    strip_report = None
    if options.strip:
        tool = find_strip(target, which=which, host_machine=host_machine)
        strip_report = strip_shared_objects(
            root, slim_plan.strip, target, runner=runner, tool=tool, headers=headers
        )
        left = _with_stripped_sizes(left, strip_report)
    if any(e.symlink for e in left) and (removed or (strip_report and strip_report.files)):
        left = list(refresh_links(root, left))  # a link reads its file: size or presence changed
        if strip_report and strip_report.files:
            for link in (e.path for e in left if e.symlink):
                headers.forget(link)  # its file may be one strip replaced
    compile_report = None
    if bytecode is not None and bytecode.mode != "never":
        compile_report, after = compile_step(root, target, bytecode, entries=left, runner=runner)
        left = list(after)
    warnings = [*report.warnings]
    for step in (strip_report, compile_report):
        if step is not None:
            warnings.extend(step.warnings)
    slimmed = SlimReport(report.rules, strip_report, compile_report, tuple(warnings), report.notes)
    return SlimmedTree(slimmed, tuple(left), headers, tuple(distributions))


def _with_stripped_sizes(entries: Sequence[FileEntry], report: StripReport) -> list[FileEntry]:
    after = {f.path: f.after for f in report.files}
    return [replace(e, size=after[e.path]) if e.path in after else e for e in entries]
