"""Will the loader find what each binary needs? DT_NEEDED and dlopen'd libraries, resolved as on
Lambda.

For every ELF of the target's machine that the target would load (extension modules, the
libraries beside them, executables), each DT_NEEDED name must resolve:

1. inside the layer: the directories of its RPATH/RUNPATH (``$ORIGIN`` is the file's directory,
   ``/opt/...`` the layer), its own directory, a vendored ``*.libs/`` directory of site-packages
   (where auditwheel puts what a wheel links), or the layer's top-level ``lib/`` (Lambda puts
   ``/opt/lib`` on ``LD_LIBRARY_PATH``);
2. or in the runtime image (`layerkit.runtime_libs`: one sourced list per runtime family and
   architecture). A name the list marks unsure gives a warning, not an error.

``libstdc++.so.6`` from the image must also define every ``GLIBCXX_x.y.z`` version the file needs.
Distributions known to ``dlopen`` a system library by name (``layerkit/data/dlopen.txt``) are
checked the same way. Pure: works on headers already read by `verify.read_binaries`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from layerkit.elf import is_other_platform
from layerkit.runtime_libs import RuntimeLibraries, dlopen_table, runtime_libraries
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.elf import SharedObjectInfo
    from layerkit.verify import Violation

LAYER_LIB = "lib"  # the layer's top-level lib/: /opt/lib, on LD_LIBRARY_PATH
_OPT = "/opt/"
# A better distribution where one is known: (distribution -> what to install instead).
KNOWN_FIXES = {
    "opencv-python": "opencv-python-headless",
    "opencv-contrib-python": "opencv-contrib-python-headless",
}


def _known_fix(distribution: str | None) -> str | None:
    if distribution is None:
        return None
    replacement = KNOWN_FIXES.get(canonicalize_name(distribution))
    return (
        f"install {replacement} instead of {distribution} (it links no GUI libraries)"
        if (replacement)
        else None
    )


class _Layer:
    """Which file names exist where, in layer coordinates (``python/lib/...``, ``lib/...``)."""

    def __init__(self, paths: Collection[str], prefix: str | None, names: Collection[str]) -> None:
        self.prefix = prefix
        self.files = {self.full(p) for p in paths} | {n.rstrip("/") for n in names}
        top = {p.split("/", 1)[0] for p in paths if "/" in p}
        self.vendored = sorted(self.full(d) for d in top if d.endswith(".libs"))

    def full(self, path: str) -> str:
        """`path` (relative to site-packages) relative to the layer root, when that is known."""
        joined = posixpath.join(self.prefix, path) if self.prefix else path
        return posixpath.normpath(joined)

    def search_dirs(self, path: str, search: tuple[str, ...]) -> list[str]:
        """Where the loader looks for the needs of `path`, in layer coordinates."""
        origin = posixpath.dirname(self.full(path))
        dirs: list[str] = []
        for entry in search:
            expanded = entry.replace("${ORIGIN}", "$ORIGIN").replace("$ORIGIN", origin or ".")
            if expanded.startswith(_OPT):
                dirs.append(posixpath.normpath(expanded[len(_OPT) :]))
            elif not expanded.startswith("/"):
                dirs.append(posixpath.normpath(expanded))
        dirs.append(origin)
        dirs.extend(self.vendored)
        if self.prefix is not None:
            dirs.append(LAYER_LIB)
        return dirs

    def find(self, name: str, dirs: list[str]) -> str | None:
        for directory in dirs:
            candidate = posixpath.normpath(posixpath.join(directory, name))
            if candidate in self.files:
                return candidate
        return None


def _system_text(target: Target) -> str:
    return f"{target.runtime}'s image ({target.base.os_name}, {target.arch})"


def _missing_hint(
    names: list[str], distribution: str | None, target: Target, runtime: RuntimeLibraries
) -> str:
    fix = _known_fix(distribution)
    general = (
        f"ship {', '.join(names)} built for {target.base.os_name} {target.machine} in the "
        f"layer's lib/ (Lambda puts /opt/lib on LD_LIBRARY_PATH)"
    )
    return f"{fix}; or {general}" if fix else general + f" (runtime list: {runtime.data_file})"


def check_linkage(
    binaries: Mapping[str, SharedObjectInfo],
    target: Target,
    *,
    owners: Mapping[str, str],
    layer_prefix: str | None,
    layer_names: Collection[str] = (),
) -> list[Violation]:
    """Violations for needed libraries that resolve nowhere, and warnings for unsure ones."""
    from layerkit.verify import Violation

    runtime = runtime_libraries(target)
    layer = _Layer(list(binaries), layer_prefix, layer_names)
    by_full = {layer.full(path): info for path, info in binaries.items()}
    violations: list[Violation] = []
    for path, info in binaries.items():
        elf = info.elf
        if (
            elf is None
            or info.machine != target.elf_machine
            or is_other_platform(path, info, target)
        ):
            continue
        dirs = layer.search_dirs(path, elf.rpath + elf.runpath)
        missing: list[str] = []
        unsure: list[str] = []
        foreign: list[str] = []
        for name in elf.needed:
            found = layer.find(name, dirs)
            if found is not None:
                other = by_full.get(found)
                if other is not None and (other.format != "elf" or other.machine != info.machine):
                    foreign.append(f"{name} ({found})")
                continue
            if name not in runtime.present:
                (unsure if name in runtime.unsure else missing).append(name)
        distribution = owners.get(path)
        violations.extend(
            _violations(path, distribution, target, runtime, missing=missing, unsure=unsure)
        )
        if foreign:
            violations.append(
                Violation(
                    path,
                    distribution,
                    "missing-library",
                    ", ".join(foreign),
                    f"in the layer but not a library for {target.machine}: the loader "
                    f"would refuse it",
                    f"install the {target.machine} wheel of the package that ships it",
                )
            )
        glibcxx = info.glibcxx
        if (
            "libstdc++.so.6" in elf.needed
            and layer.find("libstdc++.so.6", dirs) is None
            and runtime.glibcxx is not None
            and glibcxx is not None
            and glibcxx > runtime.glibcxx
        ):
            violations.append(
                Violation(
                    path,
                    distribution,
                    "missing-library",
                    "GLIBCXX_" + ".".join(map(str, glibcxx)) + " from libstdc++.so.6",
                    f"newer than the libstdc++ of {_system_text(target)}, which defines up to "
                    f"GLIBCXX_{'.'.join(map(str, runtime.glibcxx))}",
                    f"pin an older {distribution or 'release'} built with an older compiler, or "
                    f"ship a newer libstdc++.so.6 in the layer's lib/",
                )
            )
    violations.extend(_dlopen_violations(owners, layer, target, runtime))
    return violations


def _violations(
    path: str,
    distribution: str | None,
    target: Target,
    runtime: RuntimeLibraries,
    *,
    missing: list[str],
    unsure: list[str],
) -> list[Violation]:
    from layerkit.verify import Violation

    found: list[Violation] = []
    if missing:
        found.append(
            Violation(
                path,
                distribution,
                "missing-library",
                ", ".join(missing),
                f"neither in the layer nor in {_system_text(target)}",
                _missing_hint(missing, distribution, target, runtime),
            )
        )
    if unsure:
        found.append(
            Violation(
                path,
                distribution,
                "missing-library",
                ", ".join(unsure),
                f"not in the layer, and not known for sure to be in {_system_text(target)}",
                f"check on Lambda, or ship it in the layer's lib/ (see {runtime.data_file})",
                severity="warning",
            )
        )
    return found


def _dlopen_violations(
    owners: Mapping[str, str], layer: _Layer, target: Target, runtime: RuntimeLibraries
) -> list[Violation]:
    """Libraries the layer's distributions open by name, checked like DT_NEEDED entries."""
    table = dlopen_table()
    dirs = [LAYER_LIB] if layer.prefix is not None else []
    distributions = sorted({d for d in owners.values() if canonicalize_name(d) in table})
    violations: list[Violation] = []
    for distribution in distributions:
        missing: list[str] = []
        unsure: list[str] = []
        for name in table[canonicalize_name(distribution)]:
            if layer.find(name, dirs) is not None or name in runtime.present:
                continue
            (unsure if name in runtime.unsure else missing).append(name)
        violations.extend(
            _violations(
                f"{distribution} (opens by name at run time)",
                distribution,
                target,
                runtime,
                missing=missing,
                unsure=unsure,
            )
        )
    return violations
