"""Why a version is old: a direct requirement resolved to a release older than the newest on the
index, because the newer ones publish no wheel for the target.

Two resolutions of the direct requirements alone (binary-only, no dependencies): one by uv for
the same Python on the newest Linux it knows (glibc 2.40), then one for the target (``uv pip
compile --no-deps``; for glibc 2.26 targets, which uv cannot name, uv's on manylinux_2_28 held to
the releases the target takes, `uvchoice.newest_for_target`, or where uv cannot tell ``pip
install --dry-run --no-deps`` with the same tags as the install). When the first finds a newer
release than the second, those newer releases have no wheel for the target's glibc: one note per
package says so. Dependency conflicts are not blamed on wheels: a package the
full resolution held back below what the target could take gets no note. The second is not
asked when the target resolved to the newest releases already (nothing to note; each question
is a round trip to the index).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from layerkit.errors import InstallerError, LayerkitError
from layerkit.installer import (
    CommandRunner,
    InstallRequest,
    PipBackend,
    UvBackend,
    resolve_with_pip,
)
from layerkit.pins import lock_pins
from layerkit.provenance import pip_report_resolution
from layerkit.targets import Target

# The newest manylinux uv accepts as --python-platform (its list ends there).
NEWEST_GLIBC_MINOR = 40
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*$")


def newest_platform(target: Target) -> str:
    """uv's --python-platform for the target's machine on the newest glibc it knows."""
    return f"{target.machine}-manylinux_2_{NEWEST_GLIBC_MINOR}"


def direct_pins(compile_output: str) -> dict[NormalizedName, Version]:
    """``name==version`` lines of ``uv pip compile`` output (other lines ignored)."""
    pins: dict[NormalizedName, Version] = {}
    for line in compile_output.splitlines():
        match = _PIN.match(line)
        if match:
            try:
                pins[canonicalize_name(match.group(1))] = Version(match.group(2))
            except InvalidVersion:
                continue
    return pins


def probe_command(
    uv: UvBackend,
    request: InstallRequest,
    specs_file: Path | None,
    *,
    platform: str,
) -> list[str]:
    """The lock's resolution (`UvBackend.resolve_command`) of the direct requirements only, on
    `platform`."""
    return uv.resolve_command(request, specs_file, platform=platform, no_deps=True)


def notes_for(
    target: Target,
    installed: Mapping[NormalizedName, Version],
    *,
    for_target: Mapping[NormalizedName, Version],
    newest: Mapping[NormalizedName, Version],
    spelled: Mapping[NormalizedName, str] | None = None,
) -> tuple[str, ...]:
    """One note per direct requirement held back by missing wheels (pure). Each package is named
    as its distribution spells itself (`spelled`: METADATA's Name), as every other view does."""
    glibc = f"glibc {target.glibc[0]}.{target.glibc[1]}"
    notes = []
    for name, latest in sorted(newest.items()):
        possible, picked = for_target.get(name), installed.get(name)
        if possible is None or picked is None or latest <= possible or picked < possible:
            continue
        shown_name = (spelled or {}).get(name, name)
        notes.append(
            f"{shown_name} {picked}: newer releases (up to {latest}) have no wheel for "
            f"{target.runtime} {target.arch} / {glibc}"
        )
    return tuple(notes)


Pins = Mapping[NormalizedName, Version]


def probe_versions(
    request: InstallRequest,
    *,
    uv: UvBackend,
    runner: CommandRunner,
    scratch: Path,
    env: Mapping[str, str] | None = None,
    pip: PipBackend | None = None,
    resolved: Callable[[], str] | None = None,
) -> tuple[Pins, Pins] | None:
    """The newest release of each direct requirement (for the target, on the newest glibc).

    `pip`, when pip installs the target: the target's side is then pip's, with its tags.
    `resolved`, the ``name==version`` lines the target resolved to: when no requirement has a
    newer release on the newest glibc than those, no note is possible, and the target's side is
    not asked. Advice only: when a probe cannot resolve (an index down, a pin on a local file)
    the answer is None, never a failed build. Requirements that each pin one version (a lock)
    hold nothing back: the answer is None without asking the index.
    """
    if _all_pinned(request):
        return None
    specs_file: Path | None = None
    if request.requirements:
        specs_file = scratch / "layerkit-direct.in"
        specs_file.write_text("".join(f"{r}\n" for r in request.requirements), encoding="utf-8")
    newest = _compiled(
        uv, request, specs_file, newest_platform(request.target), runner=runner, env=env
    )
    if newest is None or _nothing_newer(newest, resolved):
        return None
    if pip is None:
        for_target = _compiled(
            uv, request, specs_file, request.target.uv_platform, runner=runner, env=env
        )
        return None if for_target is None else (for_target, newest)
    # uv answers where it can tell (`uvchoice.newest_for_target`); else pip is asked.
    from layerkit.uvchoice import UvAsker, newest_for_target

    asker = UvAsker(uv, runner, os.environ if env is None else env, scratch / "uv")
    chosen = newest_for_target(request, asker)
    if chosen is not None:
        return direct_pins("".join(f"{name}=={v}\n" for name, v in chosen.items())), newest
    alone = dataclasses.replace(request, dest=scratch / "target")  # a dry run writes none
    try:
        report = resolve_with_pip(alone, pip=pip, runner=runner, env=env, no_deps=True,
                                  report=scratch / "report.json")  # fmt: skip
    except LayerkitError:
        return None
    return direct_pins(pip_report_resolution(report).pins), newest


def _compiled(
    uv: UvBackend,
    request: InstallRequest,
    specs_file: Path | None,
    platform: str,
    *,
    runner: CommandRunner,
    env: Mapping[str, str] | None,
) -> Pins | None:
    """The direct requirements' pins on `platform` (`probe_command`); None when uv cannot tell."""
    try:
        result = runner(probe_command(uv, request, specs_file, platform=platform), env=env)
    except InstallerError:
        return None
    return direct_pins(result.stdout) if result.returncode == 0 else None


def _nothing_newer(newest: Pins, resolved: Callable[[], str] | None) -> bool:
    """Whether the target resolved to each of `newest`'s releases or a newer one (`notes_for`
    then has nothing to say: the target took the newest there is). Unknown (no resolution, or
    one that failed): False."""
    if resolved is None:
        return False
    try:
        picked = direct_pins(resolved())
    except Exception:  # the resolution's failure is the install's to report; this is advice
        return False
    return all(name in picked and version <= picked[name] for name, version in newest.items())


def _all_pinned(request: InstallRequest) -> bool:
    """Whether every requirement of `request` is an exact ``name==version`` (`pins.lock_pins`):
    both probes would then answer each pin with itself, and `notes_for` says nothing."""
    try:
        texts = [p.read_text(encoding="utf-8", errors="replace") for p in request.requirement_files]
    except OSError:  # the install says what is wrong with the file
        return False
    return lock_pins(texts, request.requirements) is not None


def version_notes(
    target: Target, installed: Iterable[tuple[str, str]], probed: tuple[Pins, Pins] | None
) -> tuple[str, ...]:
    """`notes_for` the installed (name, version) pairs and what `probe_versions` found."""
    if probed is None:
        return ()
    pins, spelled = {}, {}
    for name, version in installed:
        try:
            pins[canonicalize_name(name)] = Version(version)
        except InvalidVersion:
            continue
        spelled[canonicalize_name(name)] = name
    return notes_for(target, pins, for_target=probed[0], newest=probed[1], spelled=spelled)
