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
   target still cannot take). Each project held so has pip's candidates, release for release
   (yanked files and Requires-Python as pip reads them); a few rounds settle it (`_ROUNDS`).
   A release with several wheels for the target is checked against its page too: pip skips a
   yanked one.
3. Else pip resolves: where pip or uv has settings the other does not read
   (`installer.pip_settings`, `installer.uv_settings`: indexes, hashes, configuration files,
   variables), or uv cannot tell (an index page unreadable, a release layerkit cannot pin).

"The releases pip would take" holds where both resolvers take the newest release of each
project that fits; where dependencies conflict, two resolvers may settle differently on the
same candidates (as uv and pip may for any target), and the tests compare the layers with pip's.
pip evaluates dependency markers for the machine it runs on, uv for the target: there uv's is
the layer that is right for Lambda.

`newest_for_target` answers the old-versions probe's question (the newest release of each direct
requirement the target can take) the same way, without dependencies.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
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
    uv_settings,
)
from layerkit.provenance import Choice, Requested, Resolution
from layerkit.targets import Target

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
        constraints file; the request's own `no_deps` kept), with no uv configuration file
        (pip reads none of them), in a scratch directory of its own."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        where = Path(tempfile.mkdtemp(prefix="uv-", dir=self.scratch))
        constraints_file = None
        if constraints:
            constraints_file = where / "layerkit-constraints.txt"
            constraints_file.write_text(constraints, encoding="utf-8")
        return resolve_with_uv(request, uv=self.uv, runner=self.runner, scratch=where,
                               env=self.env, output_format=output, platform=platform,
                               no_deps=no_deps or request.no_deps, emit_indexes=emit_indexes,
                               constraints=constraints_file, no_config=True)  # fmt: skip


def _pages(index: str, names: Sequence[str]) -> list[tuple[indexpages.IndexFile, ...] | None]:
    with ThreadPoolExecutor(max_workers=_FETCHES, thread_name_prefix="layerkit-index") as pool:
        return list(pool.map(lambda name: indexpages.project_files(index, name), names))


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
            return "uv used more than one index, or none layerkit reads"
        new = [c for c in unusable if canonical(c) not in self.target_releases]
        for choice, files in zip(new, _pages(self.index, [c.name for c in new]), strict=True):
            if files is None:
                return f"the index page of {choice.name} could not be read"
            releases = indexpages.releases_the_target_takes(files, choice.name, request.target)
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
            if newest.local is not None:  # `<=1.0+cpu` is no valid specifier
                return (
                    f"the newest release of {choice.name} the target takes, {newest}, is a "
                    "local version, which no <= can name"
                )
            if taken > newest:
                self.below[name] = newest
            else:
                self.excluded.setdefault(name, set()).add(taken)
        return ""

    def _bounds(self, name: NormalizedName) -> str:
        bounds = [f"<={self.below[name]}"] if name in self.below else []
        return ",".join(bounds + [f"!={v}" for v in sorted(self.excluded.get(name, ()))])

    def _held(self) -> list[NormalizedName]:
        return sorted({*self.below, *self.excluded})

    def constraints(self) -> str:
        """The constraints file: ``numpy<=2.2.6``, one line per project held."""
        return "".join(f"{name}{self._bounds(name)}\n" for name in self._held())

    def said(self) -> str:
        """The holds as a reader wants them: ``numpy <=2.2.6``, ..."""
        return ", ".join(f"{name} {self._bounds(name)}" for name in self._held())


def canonical(choice: Choice) -> NormalizedName:
    return canonicalize_name(choice.name)


def _contested(choices: Mapping[NormalizedName, Choice], index: str | None, target: Target) -> str:
    """'' when the file chosen of each release that also has other wheels (for the target or
    not: uv may have taken the release for a wheel the target cannot load) is one pip would
    install: not yanked, its Requires-Python admitting the target (the index's page says);
    else why not. A release with one wheel, for the target, uv took for that very file."""
    others = [c for c in choices.values() if c.wheel and (c.for_target > 1 or c.others)]
    if not others:
        return ""
    if index is None:
        return "uv used more than one index, or none layerkit reads"
    for choice, files in zip(others, _pages(index, [c.name for c in others]), strict=True):
        if files is None:
            return f"the index page of {choice.name} could not be read"
        assert choice.wheel is not None
        chosen = provenance.filename_of(choice.wheel.url)
        listed = [f for f in files if f.filename == chosen]
        if not listed:
            return f"{chosen} is not on the index page of {choice.name}"
        if not indexpages.takeable(listed[0], choice.name, target):
            return f"{chosen} is yanked, or its Requires-Python excludes {target.python}"
    return ""


def _within_target(
    request: InstallRequest, asker: UvAsker, *, no_deps: bool
) -> tuple[Resolution | None, str, str]:
    """uv's resolution for manylinux_2_28 held to the releases the target takes (see the
    module's docstring), with its files, and the holds said; else None and why. Beside the
    first resolution, the direct requirements alone give the requested names and the index
    uv used."""
    target = request.target
    above = target.uv_platform_above
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerkit-direct") as pool:
        direct_job = pool.submit(asker.compile, request, platform=above, no_deps=True,
                                 output="requirements.txt", emit_indexes=True)  # fmt: skip
        try:
            first = asker.compile(request, platform=above, no_deps=no_deps)
            direct = direct_job.result()
        except LayerkitError:
            return None, f"uv could not resolve the requirements for {above}", ""
    requested = Requested() if no_deps else provenance.requested_names(direct)
    index = single_index(direct)
    holds = _Holds(index)
    wheels: dict[tuple[NormalizedName, str], tuple[provenance.LockedWheel, ...]] = {}
    pylock = first
    for round_number in range(_ROUNDS):
        if round_number:
            try:
                pylock = asker.compile(request, platform=above, no_deps=no_deps,
                                       constraints=holds.constraints())  # fmt: skip
            except LayerkitError:
                again = f"uv could not resolve the requirements again with {holds.said()}"
                return None, again, ""
        choices = provenance.pylock_choices(pylock, ranks=target.wheel_tag_ranks,
                                            requested=requested)  # fmt: skip
        wheels.update(provenance.read_pylock(pylock))
        if trouble := next((c for c in choices.values() if c.problem), None):
            return None, f"{trouble.name} {trouble.version} {trouble.problem}", ""
        unusable = [c for c in choices.values() if c.wheel is None]
        if not unusable:
            contested = _contested(choices, index, target)
            if contested:
                return None, contested, ""
            resolution, _ = provenance.chosen_resolution(choices, wheels)
            return resolution, "", holds.said()
        why = holds.hold(unusable, request)
        if why:
            taken = ", ".join(f"{c.name} {c.version}" for c in unusable)
            glibc = f"glibc {target.glibc[0]}.{target.glibc[1]}"
            return None, f"uv took {taken}, with no wheel for {glibc}, and {why}", ""
    return None, f"{_ROUNDS} rounds of holding releases back did not settle", ""


def _guarded(
    request: InstallRequest, asker: UvAsker, *, no_deps: bool
) -> tuple[Resolution | None, str, str]:
    """`_within_target` where neither pip nor uv has settings the other does not read;
    anything unexpected (an unreadable home directory...) leaves the question to pip and says
    what: the old-versions probe must never fail a build, and pip answered here before."""
    try:
        for settings in (pip_settings(request, asker.env), uv_settings(asker.env)):
            if settings:
                return None, settings, ""
        return _within_target(request, asker, no_deps=no_deps)
    except Exception as exc:
        return None, f"layerkit could not tell ({type(exc).__name__}: {exc})", ""


def resolve_for_target(
    request: InstallRequest, asker: UvAsker, *, progress: Progress
) -> Resolution | None:
    """uv's resolution of `request` for its target, with the file pip would choose of each
    release, where it is the one pip would make (see the module's docstring); else None, having
    said why through `progress`, and pip resolves."""
    resolution, why, held = _guarded(request, asker, no_deps=False)
    target = request.target
    if resolution is None:
        progress(f"{target}: pip resolves, because {why}")
    elif held:
        progress(f"{target}: held to the releases with a wheel for glibc "
                 f"{target.glibc[0]}.{target.glibc[1]}: {held}")  # fmt: skip
    return resolution


def newest_for_target(request: InstallRequest, asker: UvAsker) -> dict[NormalizedName, str] | None:
    """The newest release of each direct requirement of `request` that its target can take,
    ignoring dependencies (the old-versions probe's question), where uv can tell; else None, and
    pip is asked."""
    resolution, _why, _held = _guarded(request, asker, no_deps=True)
    if resolution is None:
        return None
    return {canonicalize_name(w.name): w.version for w in resolution.chosen}
