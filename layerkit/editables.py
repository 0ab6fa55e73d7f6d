"""Editable requirements (``-e ./localpkg``) in requirements files become regular wheels.

An editable install is a ``.pth`` file (or an import hook) pointing at the build machine's source
directory: on Lambda that path does not exist, and a layer holding it imports nothing. So each
``-e PATH`` line is taken out of a private copy of its requirements file and PATH is built into
a wheel like any local package (`BuildSettings.local_packages`). ``-e`` of a VCS URL
(``git+https://…``) is refused with what to write instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from layerkit.errors import RequirementsError
from layerkit.report import shown_path

_EDITABLE = re.compile(r"^\s*(?:-e|--editable)(?:\s+|=)(\S+)")
_INCLUDE = re.compile(r"^(\s*(?:-r|--requirement|-c|--constraint)(?:\s+|=))(\S+)(.*)$", re.S)
_FIND_LINKS = re.compile(r"^(\s*(?:-f|--find-links)(?:\s+|=))(\S+)(.*)$", re.S)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^(?:git|hg|svn|bzr)\+")


def _is_url(value: str) -> bool:
    return bool(_URL.match(value))


def _absolute(value: str, base: Path) -> str:
    return value if _is_url(value) or Path(value).is_absolute() else str(base / value)


def without_editables(
    requirement_file: Path, scratch: Path, *, _seen: frozenset[Path] = frozenset()
) -> tuple[Path, tuple[Path, ...]]:
    """`requirement_file`, or a copy of it in `scratch` without its ``-e`` lines (included
    files too, relative paths made absolute), and the local directories those lines named."""
    path = requirement_file.resolve()
    if path in _seen:  # an include loop: the installer will report it
        return requirement_file, ()
    base = path.parent
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept: list[str] = []
    local: list[Path] = []
    for number, line in enumerate(lines, 1):
        editable = _EDITABLE.match(line)
        include = _INCLUDE.match(line)
        links = _FIND_LINKS.match(line)
        if editable:
            local.append(_editable_dir(editable.group(1), base, where=f"{path}:{number}"))
            continue
        if include:
            target = Path(_absolute(include.group(2), base))
            new, found = without_editables(target, scratch, _seen=_seen | {path})
            local += found
            line = f"{include.group(1)}{new}{include.group(3)}"
        elif links:
            line = f"{links.group(1)}{_absolute(links.group(2), base)}{links.group(3)}"
        elif line.lstrip().startswith(("./", "../")):
            line = str(base / line.strip()) + "\n"
        kept.append(line)
    if not local:
        return requirement_file, ()
    copy = scratch / f"{len(list(scratch.iterdir()))}-{path.name}"
    copy.write_text("".join(kept), encoding="utf-8")
    return copy, tuple(local)


def _editable_dir(value: str, base: Path, *, where: str) -> Path:
    if _is_url(value):
        raise RequirementsError(
            f"{where}: `-e {value}` is an editable checkout of a repository; a layer cannot "
            "point at a checkout on the build machine",
            hint="write it as a regular requirement, e.g. `name @ git+https://host/repo@TAG` "
            "(pinned to a tag or commit), or clone it and use `-e ./path`",
        )
    directory = (base / value.removeprefix("file:")).resolve()
    if not directory.is_dir():
        raise RequirementsError(
            f"{where}: editable requirement `-e {value}`: no directory {shown_path(directory)}",
            hint="an editable requirement names a local package directory",
        )
    return directory
