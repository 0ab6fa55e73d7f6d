"""`layerkit init`: write a working starting point from the templates shipped in the package.

The templates live in the repository's top-level ``templates/`` directory, installed as the package
``layerkit.templates`` (so they are there from a wheel, not only from a checkout). Its
``templates.toml`` lists them; each is a directory of files copied as they are, except for
``{{placeholder}}`` substitutions. Rendering is pure; `write_files` refuses to overwrite anything
unless forced, and checks every file before writing the first.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from layerkit import __version__
from layerkit.config import ProjectConfig, default_name
from layerkit.errors import FilesystemError, UsageError
from layerkit.safewrite import write_text_atomic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:  # pragma: no cover
        from importlib.abc import Traversable

TEMPLATE_PACKAGE = "layerkit.templates"
INDEX_FILE = "templates.toml"
DEFAULT_TEMPLATE = "minimal"
# `{{name}}`: lowercase words only, so GitHub's `${{ expression }}` syntax is never touched.
_PLACEHOLDER_RE = re.compile(r"\{\{([a-z_]+)\}\}")
_SKIPPED_PARTS = frozenset({"__pycache__"})


@dataclass(frozen=True)
class TemplateInfo:
    """One entry of templates.toml."""

    name: str
    description: str
    includes: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderedFile:
    """A file to write: POSIX path relative to the destination, and its text."""

    path: str
    text: str


@dataclass(frozen=True)
class InitResult:
    """What `layerkit init` wrote."""

    template: str
    directory: Path
    written: tuple[str, ...]
    overwritten: tuple[str, ...]
    next_steps: tuple[str, ...]


def _root() -> Traversable:
    return files(TEMPLATE_PACKAGE)


def _index() -> dict[str, Any]:
    document: dict[str, Any] = tomllib.loads((_root() / INDEX_FILE).read_text(encoding="utf-8"))
    return document


def list_templates() -> tuple[TemplateInfo, ...]:
    """Every template, in the order of templates.toml."""
    return tuple(
        TemplateInfo(
            name=name,
            description=str(entry["description"]),
            includes=tuple(entry.get("include", ())),
            next_steps=tuple(entry.get("next", ())),
        )
        for name, entry in _index().items()
    )


def get_template(name: str) -> TemplateInfo:
    """The template called `name`; an unknown name is a usage error with a suggestion."""
    known = {t.name: t for t in list_templates()}
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    raise UsageError(
        f"unknown template {name!r}",
        hint=f"{suggestion}templates: {', '.join(known)} (layerkit init --list)",
    )


def _walk(directory: Traversable, prefix: PurePosixPath) -> Iterator[tuple[str, Traversable]]:
    for item in sorted(directory.iterdir(), key=lambda t: t.name):
        if item.name in _SKIPPED_PARTS or item.name.endswith(".pyc"):
            continue
        if item.is_dir():
            yield from _walk(item, prefix / item.name)
        else:
            yield (prefix / item.name).as_posix(), item


def template_sources(name: str) -> tuple[tuple[str, str], ...]:
    """(path, raw text) of every file a template writes, its includes' files first."""
    template = get_template(name)
    sources: dict[str, str] = {}
    for part in (*template.includes, template.name):
        directory = _root() / part
        if not directory.is_dir():
            raise UsageError(f"template {part!r} is listed but not shipped with this layerkit")
        for path, item in _walk(directory, PurePosixPath()):
            sources[path] = item.read_text(encoding="utf-8")
    return tuple(sorted(sources.items()))


def render_text(text: str, values: Mapping[str, str], *, source: str) -> str:
    """Replace each ``{{key}}`` by its value; an unknown key is a bug in the template."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise UsageError(f"template file {source} uses an unknown placeholder {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER_RE.sub(substitute, text)


def template_values(dest: Path) -> dict[str, str]:
    """The placeholder values for writing a template into `dest`.

    The CI matrix is no placeholder: the workflow reads it from the configuration when it runs
    (`layerkit targets`), so it follows every later edit of `python` and `arch`.
    """
    return {
        "name": default_name(ProjectConfig(project_dir=dest, source=None)),
        "layerkit_version": __version__,
    }


def render_template(name: str, dest: Path) -> tuple[RenderedFile, ...]:
    """The files template `name` writes into `dest`, placeholders filled in."""
    sources = dict(template_sources(name))
    values = template_values(dest)
    return tuple(
        RenderedFile(path, render_text(text, values, source=f"{name}/{path}"))
        for path, text in sources.items()
    )


def _conflicts(dest: Path, rendered: Sequence[RenderedFile]) -> tuple[list[str], list[str]]:
    """(existing files, paths blocked by something that is not a regular file)."""
    existing: list[str] = []
    blocked: list[str] = []
    for file in rendered:
        target = dest / file.path
        parents = [dest / p for p in PurePosixPath(file.path).parents if str(p) != "."]
        if any(p.exists() and not p.is_dir() for p in parents):
            blocked.append(file.path)
        elif target.is_file():
            existing.append(file.path)
        elif target.exists() or target.is_symlink():
            blocked.append(file.path)
    return existing, blocked


def write_files(
    dest: Path, rendered: Sequence[RenderedFile], *, force: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Write `rendered` under `dest`; return (written, overwritten) paths.

    Nothing is written when a file exists (unless `force`) or a path is blocked by a directory.
    """
    if dest.exists() and not dest.is_dir():
        raise FilesystemError(f"{dest} exists and is not a directory", hint="choose a directory")
    existing, blocked = _conflicts(dest, rendered)
    if blocked:
        raise FilesystemError(
            f"cannot write {', '.join(blocked)} in {dest}: something else is in the way",
            hint="move the directory or file that has the same name out of the way",
        )
    if existing and not force:
        raise UsageError(
            f"{dest} already has {', '.join(existing)}; nothing was written",
            hint="use --force to overwrite them, or choose an empty directory",
        )
    for file in rendered:
        write_text_atomic(dest / file.path, file.text, root=dest)
    return tuple(f.path for f in rendered), tuple(existing)


def init_project(dest: Path, template: str, *, force: bool = False) -> InitResult:
    """Write template `template` into `dest` (created if missing)."""
    info = get_template(template)
    rendered = render_template(template, dest)
    written, overwritten = write_files(dest, rendered, force=force)
    return InitResult(
        template=info.name,
        directory=dest,
        written=written,
        overwritten=overwritten,
        next_steps=info.next_steps,
    )
