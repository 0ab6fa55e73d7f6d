"""uv's resolution for a target whose glibc uv cannot name (2.26: python3.9-3.11), where it is
pip's.

uv's ``--python-platform`` knows manylinux_2_17, then 2_28 and up. Told 2_17 it refuses the
manylinux_2_18..2_26 wheels pip installs on glibc 2.26; told 2_28 it takes wheels the target
cannot load. pip, told every tag of the target, resolves exactly, but parses every link of every
page it reads: ~3 CPU-seconds for numpy + pandas, ~25 for a lock of 84 distributions, against
~0.2 s for a ``uv pip compile``. So, before pip:

1. uv resolves for manylinux_2_28 (`pylock.toml`: every candidate wheel of each release). When
   each release it takes has a wheel the target loads, those releases are pip's: everything the
   target accepts, manylinux_2_28 accepts, so the newest releases there are the newest the
   target can take. Of each, the file pip would install is chosen by pip's tag order
   (`provenance.pylock_choices`).
2. When some release has none (numpy 2.4.6 ships only manylinux_2_27/2_28 wheels), the index's
   page of that project says which of its releases the target can take
   (`indexpages.releases_the_target_takes`, from the one index uv used), and uv resolves again
   within them: ``numpy<=2.2.6``, the newest such release (``!=`` for one below it that the
   target still cannot take). Each project held so has pip's candidates, release for release; a
   few rounds settle it (`_ROUNDS`).
3. Else, or with pip settings uv does not read (`installer.pip_settings`), pip resolves.

`newest_for_target` answers the old-versions probe's question (the newest release of each direct
requirement the target can take) the same way, without dependencies.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from layerkit import indexpages, provenance
from layerkit.errors import LayerkitError
from layerkit.installer import (
    CommandRunner,
    InstallRequest,
    ResolutionFormat,
    UvBackend,
    pip_settings,
    resolve_with_uv,
    single_index,
)
from layerkit.provenance import Choice, Resolution

_ROUNDS = 4  # resolutions within what the target takes; numpy + pandas settle in one
_FETCHES = 4  # index pages read at once
Progress = Callable[[str], None]


@dataclass(frozen=True)
class UvAsker:
    """What asking uv takes: the binary, the one runner, the environment, a scratch directory."""

    uv: UvBackend
    runner: CommandRunner
    env: Mapping[str, str]
    scratch: Path

    def compile(
        self, request: InstallRequest, *, platform: str, no_deps: bool = False,
        output: ResolutionFormat = "pylock.toml", emit_indexes: bool = False,
        constraints: str = "",
    ) -> str:  # fmt: skip
        """``uv pip compile`` of `request` for `platform` (within `constraints`, the text of a
        constraints file), in a scratch directory of its own."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        where = Path(tempfile.mkdtemp(prefix="uv-", dir=self.scratch))
        constraints_file = None
        if constraints:
            constraints_file = where / "layerkit-constraints.txt"
            constraints_file.write_text(constraints, encoding="utf-8")
        return resolve_with_uv(request, uv=self.uv, runner=self.runner, scratch=where,
                               env=self.env, output_format=output, platform=platform,
                               no_deps=no_deps, emit_indexes=emit_indexes,
                               constraints=constraints_file)  # fmt: skip


@dataclass
class _Holds:
    """Per project, the releases the target can take, as constraints: ``<=newest`` and ``!=``
    for older ones it cannot; read from the index page of each project that needed it."""

    index: str | None
    target_releases: dict[NormalizedName, frozenset[Version]] = field(default_factory=dict)
    below: dict[NormalizedName, Version] = field(default_factory=dict)
    excluded: dict[NormalizedName, set[Version]] = field(default_factory=dict)

    def hold(self, unusable: list[Choice], request: InstallRequest) -> str:
        """Hold each project of `unusable` (releases with no wheel for the target) to releases
        the target takes; '' or why that cannot be done."""
        if self.index is None:
            return "uv used more than one index, or one layerkit cannot read"
        index = self.index
        new = [c for c in unusable if canonical(c) not in self.target_releases]
        with ThreadPoolExecutor(max_workers=_FETCHES, thread_name_prefix="layerkit-index") as pool:
            pages = list(pool.map(lambda c: indexpages.project_filenames(index, c.name), new))
        for choice, files in zip(new, pages, strict=True):
            if files is None:
                return f"the index page of {choice.name} could not be read"
            releases = indexpages.releases_the_target_takes(files, request.target)
            if not releases:
                return f"no release of {choice.name} has a wheel for it"
            self.target_releases[canonical(choice)] = releases
        for choice in unusable:
            name = canonical(choice)
            try:
                taken = Version(choice.version)
            except InvalidVersion:
                return f"{choice.name} {choice.version} is no version layerkit can compare"
            newest = max(self.target_releases[name])
            if taken > newest:
                self.below[name] = newest
            else:
                self.excluded.setdefault(name, set()).add(taken)
        return ""

    def constraints(self) -> str:
        lines = []
        for name in sorted({*self.below, *self.excluded}):
            bounds = [f"<={self.below[name]}"] if name in self.below else []
            bounds += [f"!={v}" for v in sorted(self.excluded.get(name, ()))]
            lines.append(f"{name}{','.join(bounds)}\n")
        return "".join(lines)


def canonical(choice: Choice) -> NormalizedName:
    return canonicalize_name(choice.name)


def _within_target(
    request: InstallRequest, asker: UvAsker, *, no_deps: bool
) -> tuple[Resolution | None, str]:
    """uv's resolution for manylinux_2_28 held to the releases the target takes (see the
    module's docstring), with its files; else None and why. Beside the first resolution, the
    direct requirements alone (`no_deps`) give the requested names and the index uv used."""
    target = request.target
    above = target.uv_platform_above
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerkit-direct") as pool:
        direct_job = pool.submit(asker.compile, request, platform=above, no_deps=True,
                                 output="requirements.txt", emit_indexes=True)  # fmt: skip
        try:
            first = asker.compile(request, platform=above, no_deps=no_deps)
            direct = direct_job.result()
        except LayerkitError as exc:  # pip resolves next, and says what is wrong
            return None, f"uv could not resolve it ({exc.message.splitlines()[0]})"
    requested = frozenset() if no_deps else provenance.requested_names(direct)
    holds = _Holds(single_index(direct))
    wheels: dict[tuple[NormalizedName, str], tuple[provenance.LockedWheel, ...]] = {}
    for round_number in range(_ROUNDS):
        try:
            pylock = (
                first
                if round_number == 0
                else asker.compile(
                    request, platform=above, no_deps=no_deps, constraints=holds.constraints()
                )
            )
        except LayerkitError as exc:
            return None, f"uv could not resolve within them ({exc.message.splitlines()[0]})"
        choices = provenance.pylock_choices(pylock, ranks=target.wheel_tag_ranks,
                                            requested=requested)  # fmt: skip
        wheels.update(provenance.read_pylock(pylock))
        unusable = [c for c in choices.values() if c.wheel is None]
        if not unusable:
            resolution, _ = provenance.chosen_resolution(choices, wheels)
            return resolution, ""
        why = holds.hold(unusable, request)
        if why:
            return None, f"{unusable[0].name} {unusable[0].version} has none, and {why}"
    return None, f"{_ROUNDS} resolutions did not settle on releases with one"


def resolve_for_target(
    request: InstallRequest, asker: UvAsker, *, progress: Progress
) -> Resolution | None:
    """uv's resolution of `request` for its target, with the file pip would choose of each
    release, where it is the one pip would make (see the module's docstring); else None, having
    said why through `progress`, and pip resolves."""
    target = request.target
    settings = pip_settings(request, asker.env)
    if settings:
        progress(f"{target}: pip resolves: {settings}, which uv does not read")
        return None
    resolution, why = _within_target(request, asker, no_deps=False)
    if resolution is None:
        major, minor = target.glibc
        progress(f"{target}: a release with no wheel for glibc {major}.{minor}: {why}; pip "
                 "resolves instead")  # fmt: skip
    return resolution


def newest_for_target(request: InstallRequest, asker: UvAsker) -> dict[NormalizedName, str] | None:
    """The newest release of each direct requirement of `request` that its target can take,
    ignoring dependencies (the old-versions probe's question), where uv can tell; else None, and
    pip is asked."""
    if pip_settings(request, asker.env):
        return None
    resolution, _why = _within_target(request, asker, no_deps=True)
    if resolution is None:
        return None
    return {canonicalize_name(w.name): w.version for w in resolution.chosen}
