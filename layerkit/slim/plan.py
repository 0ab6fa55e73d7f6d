"""The slimming plan: what to leave out of a layer, each rule accountable.

Planning only reads: `plan` looks at a tree's or a zip's entries (paths relative to
site-packages, sizes, and bytes through an `Opener`) and says which files each rule would remove
and why, so ``inspect`` can show what slimming would save without touching anything. It writes
nothing and runs nothing: `layerkit.slim.apply` removes the planned files from a directory,
`layerkit.slim.strip` and `layerkit.slim.compile` run tools through the one injected runner.

Rules, in the order that claims a file (each file is counted once):

- ``exclude-distribution`` (opt-in): whole distributions, by their ``*.dist-info/RECORD``;
- ``tests`` (default on): ``tests``/``test`` directories inside packages, unless imported;
- ``exclude-glob`` (opt-in): glob patterns relative to site-packages;
- ``other-platforms`` (opt-in): binaries for another OS or machine that the target never loads
  (`verify.is_other_platform`);
- ``foreign-bytecode`` (always): ``.pyc`` the target's interpreter never loads (another version's
  magic number, another cache tag, optimisation levels Lambda does not run with);
- ``stale-bytecode`` (always): timestamp-based ``.pyc`` for the target, invalid once the zip's
  fixed timestamps are applied (and not reproducible).

Never removed by a rule: ``*.dist-info/METADATA`` and ``entry_points.txt`` (``importlib.metadata``
reads them) unless their whole distribution is excluded.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import Literal

from packaging.markers import InvalidMarker, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from layerkit.config import SlimSettings
from layerkit.contents import METADATA_READ_LIMIT, FileEntry, InstalledDistribution, Opener
from layerkit.elf import (
    BinaryHeaders,
    SharedObjectInfo,
    is_other_platform,
    is_shared_object,
    may_be_binary,
)
from layerkit.pyc import PYC_MAGIC, cache_tag, pyc_magic, python_of_magic
from layerkit.targets import Target

RuleName = Literal[
    "exclude-distribution",
    "tests",
    "exclude-glob",
    "other-platforms",
    "foreign-bytecode",
    "stale-bytecode",
]
RULE_DESCRIPTIONS: dict[RuleName, str] = {
    "exclude-distribution": "distributions excluded by configuration",
    "tests": "tests/test directories inside packages",
    "exclude-glob": "files matching exclude globs",
    "other-platforms": "binaries for other platforms the target never loads",
    "foreign-bytecode": ".pyc files the target's interpreter never loads",
    "stale-bytecode": "timestamp-based .pyc files, invalid once the zip fixes every mtime",
}

_PYC_HEADER = 16
_FLAG_HASH_BASED = 0b01

# Files importlib.metadata reads at run time (version(), entry points of plugins).
_PROTECTED_DIST_INFO_FILES = frozenset({"METADATA", "entry_points.txt"})
_TESTS_DIRS = frozenset({"tests", "test"})
# boto3 and what it needs to import: the Lambda runtime ships its own copy in /var/runtime.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}
)
_STRIPPED_SECTION_PREFIXES = (".debug", ".zdebug")
_STRIPPED_SECTIONS = frozenset({".symtab", ".strtab"})


@dataclass(frozen=True)
class Removal:
    """One file a rule removes, and why."""

    path: str
    size: int
    reason: str


@dataclass(frozen=True)
class RulePlan:
    """What one rule would remove (or did remove)."""

    rule: RuleName
    description: str
    removals: tuple[Removal, ...]

    @property
    def files(self) -> int:
        return len(self.removals)

    @property
    def bytes(self) -> int:
        return sum(r.size for r in self.removals)


@dataclass(frozen=True)
class StripCandidate:
    """A shared object worth stripping: its size and what stripping is expected to save."""

    path: str
    size: int
    estimated_saving: int


@dataclass(frozen=True)
class SlimPlan:
    """Per rule, the files that would go; shared objects to strip; warnings for the user."""

    rules: tuple[RulePlan, ...]
    strip: tuple[StripCandidate, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # things deliberately kept, e.g. a tests dir a module imports

    @property
    def files(self) -> int:
        return sum(rule.files for rule in self.rules)

    @property
    def bytes(self) -> int:
        return sum(rule.bytes for rule in self.rules)

    @property
    def strip_estimate(self) -> int:
        return sum(c.estimated_saving for c in self.strip)

    def removals(self) -> tuple[Removal, ...]:
        return tuple(r for rule in self.rules for r in rule.removals)


# --- bytecode ----------------------------------------------------------------------------------


def _bytecode_verdict(path: str, head: bytes, target: Target) -> tuple[RuleName, str] | None:
    """Which bytecode rule removes this .pyc and why, or None to keep it."""
    magic = pyc_magic(head)
    if magic is None:
        return "foreign-bytecode", "not a valid .pyc file"
    if magic != PYC_MAGIC[target.python]:
        version = python_of_magic(magic)
        where = f"Python {version}" if version else f"an unknown interpreter (magic {magic})"
        return "foreign-bytecode", f"compiled for {where}, the target runs {target.python}"
    parent = posixpath.basename(posixpath.dirname(path))
    if parent != "__pycache__":
        return None  # a sourceless module: loaded whatever its invalidation mode
    parts = posixpath.basename(path).split(".")
    tag = parts[1] if len(parts) >= 3 else ""
    if tag != cache_tag(target):
        return "foreign-bytecode", f"named for {tag or 'no interpreter'}, never looked up"
    if len(parts) > 3:
        return "foreign-bytecode", f"optimisation level {parts[2]}; Lambda runs without -O"
    flags = int.from_bytes(head[4:8], "little") if len(head) >= 8 else 0
    if not flags & _FLAG_HASH_BASED:
        return "stale-bytecode", "records the source's mtime, which the zip replaces"
    return None


# --- tests directories -------------------------------------------------------------------------

# One pass of one compiled pattern over the whole source: a statement starts a line, found by the
# line break before it (a literal first character lets the search skip ahead; the source gets one
# in front). Each line is matched in time linear in its length: the module may not start with a
# dot, so ``\.*`` and ``[\w.]*`` never share dots (sharing them took 82 s on a line of 80,000
# dots), and without dots or module ``from   import`` is matched by the blanks already consumed
# instead of two runs of blanks sharing them (9.8 s on a line of 80,000 blanks).
_STATEMENT = re.compile(
    r"\n[ \t]*(?:"
    r"from[ \t]+(\.*)(\w[\w.]*)?(?:(?<=[\w.])[ \t]+|(?<=[ \t]{2}))import[ \t]+(.*)"
    r"|import[ \t]+([^#;\n]+))"
)
_END_OF_NAMES = re.compile(r"[#;]")
_MAX_SOURCE_READ = 16 << 20  # a module read for its imports; a bigger one keeps all tests dirs
_MAX_PARENTHESISED_LINES = 1000  # ``from x import (`` ... ``)`` spans at most this many lines
_IMPORT_MODULE_CALL = re.compile(r"""import_module\(\s*['"]([\w.]+)['"]""")
# A module can only name a ``tests``/``test`` package by writing that word (``import a.tests``,
# ``from . import tests``, ``from .tests import x``, ``import_module("a.tests")``, a name inside
# ``from a import (...)``): each is a whole word in ASCII terms, as every character that ends a
# name in `imported_modules` (``.``, ``,``, quotes, brackets, whitespace) is not [A-Za-z0-9_].
_TESTS_WORD = re.compile(
    ("(?:" + "|".join(sorted(_TESTS_DIRS, key=len, reverse=True)) + r")\b").encode()
)
# A line that starts a statement `imported_modules` reads (it takes only blanks and tabs before
# the keyword; any whitespace here, and ``fromage`` too: generous is sound, a parse too many).
# The literal line break first lets a search skip ahead; the first line is matched on its own.
_IMPORT_LINE = re.compile(rb"\n[ \t\x0b\x0c\r]*(?:from|import)")
_FIRST_IMPORT_LINE = re.compile(rb"[ \t\x0b\x0c\r]*(?:from|import)")
_MAX_WORDS_PLACED = 256  # words `_may_import` places before it leaves the module to the parse


def _ancestor_in(
    path: str, directories: set[str] | dict[str, str], separator: str = "/"
) -> str | None:
    """The outermost ancestor of `path` (or `path` itself) that is in `directories`."""
    parts = path.split(separator)
    for depth in range(1, len(parts) + 1):
        prefix = separator.join(parts[:depth])
        if prefix in directories:
            return prefix
    return None


def _package_of(path: str) -> str:
    """The package a module file belongs to, as a dotted name (``a/b/c.py`` -> ``a.b``)."""
    return posixpath.dirname(path).replace("/", ".")


class _NextClose:
    """The first ``)`` after a position, and the line breaks before it, for positions that only
    grow: each stretch of the source is searched and counted once, however many unclosed
    ``from x import (`` lines share one ``)``."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._close = -1  # the first ")" at or after `_start`, or -1 when there is none
        self._start = -1  # where `_close` was searched from (-1: not yet)
        self._breaks = 0  # line breaks between `_start` and `_close`

    def after(self, position: int) -> tuple[int, int]:
        """(offset of the first ``)`` at or after `position` or -1, line breaks before it)."""
        if self._start < 0 or 0 <= self._close < position:
            self._close = close = self._source.find(")", position)
            self._breaks = self._source.count("\n", position, close) if close >= 0 else 0
        elif self._close >= 0:
            self._breaks -= self._source.count("\n", self._start, position)
        self._start = position
        return self._close, self._breaks


def _import_statements(source: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """``from`` statements as (dots, module, names) and ``import`` statements' names.

    Statements start a line. The names of ``from x import (`` run to the first ``)`` when it
    comes within `_MAX_PARENTHESISED_LINES` lines, and scanning resumes on the line after it."""
    from_imports: list[tuple[str, str, str]] = []
    imports: list[str] = []
    text = f"\n{source}"
    closes = _NextClose(text)
    position = 0
    while (match := _STATEMENT.search(text, position)) is not None:
        position = match.end()
        plain = match.group(4)
        if plain is not None:
            imports.append(plain)
            continue
        rest = match.group(3)
        names = _END_OF_NAMES.split(rest, maxsplit=1)[0]
        if rest.startswith("("):
            if ")" in rest:
                names = rest[: rest.index(")") + 1]
            else:
                close, breaks = closes.after(position)
                if close >= 0 and breaks <= _MAX_PARENTHESISED_LINES:
                    names = text[match.start(3) : close + 1]
                    line_end = text.find("\n", close)
                    position = len(text) if line_end < 0 else line_end
        from_imports.append((match.group(1), match.group(2) or "", names))
    return from_imports, imports


def imported_modules(path: str, source: str) -> set[str]:
    """The absolute module names the module at `path` (relative to site-packages) imports.

    A regex reading, not a parse: fast over large trees and generous (a name in ``from X import
    name`` is counted as module ``X.name`` too), which errs on the side of keeping files.
    """
    package = _package_of(path)
    found: set[str] = set()
    from_imports, imports = _import_statements(source)
    for dots, module, names in from_imports:
        if dots:
            base_parts = package.split(".") if package else []
            keep = len(base_parts) - (len(dots) - 1)
            if keep < 1:
                continue  # beyond the top-level package: an ImportError, not an import
            base = ".".join(base_parts[:keep])
            module = f"{base}.{module}".strip(".") if module else base
        if not module:
            continue
        found.add(module)
        for name in names.strip("()").replace("\n", " ").split(","):
            word = name.strip().split(" ")[0]
            if word and word != "*":
                found.add(f"{module}.{word}")
    for names in imports:
        for name in names.split(","):
            word = name.strip().split(" ")[0]
            if word:
                found.add(word)
    found.update(_IMPORT_MODULE_CALL.findall(source))
    return found


def tests_candidates(paths: Iterable[str]) -> list[str]:
    """Outermost ``tests``/``test`` directories whose parent is a regular package."""
    all_paths = set(paths)
    directories: set[str] = set()
    for path in all_paths:
        parts = path.split("/")
        for depth in range(1, len(parts) - 1):
            if parts[depth] in _TESTS_DIRS:
                directories.add("/".join(parts[: depth + 1]))
    chosen: set[str] = set()
    for directory in sorted(directories):
        parts = directory.split("/")
        if any(p.endswith((".dist-info", ".data")) for p in parts):
            continue
        parent = "/".join(parts[:-1])
        if f"{parent}/__init__.py" not in all_paths:
            continue  # a namespace or data directory: it may be a distribution's own package
        if _ancestor_in(parent, chosen) is not None:
            continue
        chosen.add(directory)
    return sorted(chosen)


def _may_import(path: str, source: bytes, packages: dict[str, str]) -> bool:
    """Whether `imported_modules` can find one of `packages` (dotted names, each ending in
    ``tests`` or ``test``) in the module at `path`: only when the source has that last name as
    a whole word (see `_TESTS_WORD`) where `imported_modules` reads names (see
    `_IMPORT_LINE`), or when a relative import could resolve into one without naming it (the
    module's own package lies inside one: possible only through a directory with a dot in its
    name). A mention in a docstring, a comment or code costs no parse.

    The word at position p can be read as a name only if a line starting with ``from`` or
    ``import`` (its statement, or a ``from x import (`` list that runs on, to its first ``)``),
    or an ``import_module(`` call, starts between p and the start of p's line or the first
    character after the last ``)`` before p, whichever comes first. Each stretch of the source
    is searched once; past `_MAX_WORDS_PLACED` words the module is read as it is."""
    scanned = 0  # source[start:scanned] holds neither (`start` as above, for the last word)
    line_start = after_close = 0  # of the last word looked at
    placed = 0
    for match in _TESTS_WORD.finditer(source):
        position = match.start()
        before = source[position - 1 : position]
        if position and (before.isalnum() or before == b"_"):
            continue
        placed += 1
        if placed > _MAX_WORDS_PLACED:
            return True  # a module this full of the word (or a hostile one): parse it
        line_start = max(line_start, source.rfind(b"\n", scanned, position) + 1)
        after_close = max(after_close, source.rfind(b")", scanned, position) + 1)
        start = max(min(line_start, after_close), scanned)
        if start == 0 and _FIRST_IMPORT_LINE.match(source, 0, position) is not None:
            return True
        if _IMPORT_LINE.search(source, max(start - 1, 0), position) is not None:
            return True
        if source.find(b"import_module(", start, position) >= 0:
            return True
        scanned = position
    return _ancestor_in(_package_of(path), packages, ".") is not None


def needed_tests_dirs(
    candidates: Sequence[str], sizes: Mapping[str, int], opener: Opener
) -> dict[str, str]:
    """The candidates some module outside them imports: candidate -> importing file.

    `sizes` are the files' sizes as listed: a module is read up to its size (a read sized for
    the largest module allocates that much for each of thousands of small ones)."""
    if not candidates:
        return {}
    inside = tuple(f"{c}/" for c in candidates)  # a module in a candidate starts with one
    by_module = {c.replace("/", "."): c for c in candidates}
    needed: dict[str, str] = {}
    for path in sorted(sizes):
        if not path.endswith(".py") or posixpath.basename(path) == "conftest.py":
            continue
        if path.startswith(inside):
            continue
        data = b""
        if sizes[path] <= _MAX_SOURCE_READ:
            with opener(path) as stream:
                data = stream.read(sizes[path] + 1)
        if sizes[path] > _MAX_SOURCE_READ or len(data) > _MAX_SOURCE_READ:
            # too big to read: assume it needs every candidate
            needed.update({c: path for c in candidates if c not in needed})
            continue
        if not _may_import(path, data, by_module):
            continue
        for module in imported_modules(path, data.decode("utf-8", errors="replace")):
            hit = _ancestor_in(module, by_module, ".")
            if hit is not None and by_module[hit] not in needed:
                needed[by_module[hit]] = path
    return needed


# --- planning ----------------------------------------------------------------------------------


def _is_protected(path: str) -> bool:
    parts = path.split("/")
    return (
        len(parts) == 2
        and parts[0].endswith(".dist-info")
        and parts[1] in _PROTECTED_DIST_INFO_FILES
    )


def is_vendored_library(path: str) -> bool:
    """Inside an auditwheel ``<pkg>.libs/`` directory (stripping those breaks them)."""
    return any(part.endswith(".libs") for part in path.split("/")[:-1])


def _glob_matches(pattern: str, path: str) -> bool:
    parts = path.split("/")
    return any(
        fnmatch.fnmatchcase("/".join(parts[:depth]), pattern) for depth in range(1, len(parts) + 1)
    )


def _marker_environment(target: Target) -> dict[str, str]:
    return {
        "python_version": target.python,
        "python_full_version": f"{target.python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": target.machine,
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def _requirements(metadata: str, target: Target) -> set[str]:
    """Canonical names a distribution requires on `target` (no extras)."""
    names: set[str] = set()
    headers = HeaderParser().parsestr(metadata, headersonly=True)
    for value in headers.get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(value)
            if requirement.marker is None or requirement.marker.evaluate(
                _marker_environment(target)
            ):
                names.add(canonicalize_name(requirement.name))
        except (InvalidRequirement, InvalidMarker, UndefinedEnvironmentName):
            continue
    return names


def _exclusion_warnings(
    excluded: Sequence[InstalledDistribution],
    kept: Sequence[InstalledDistribution],
    present: set[str],
    opener: Opener,
    target: Target,
) -> list[str]:
    warnings: list[str] = []
    excluded_names: dict[str, str] = {canonicalize_name(d.name): d.name for d in excluded}
    for name in sorted(excluded_names):
        if name in RUNTIME_PROVIDED:
            warnings.append(
                f"{excluded_names[name]} is excluded: your code will import the copy in the "
                f"{target.runtime} runtime, which is older than what you resolved and which AWS "
                "pins and updates without notice; ship it in the layer if you need a given version"
            )
    for dist in kept:
        metadata_path = f"{dist.dist_info}/METADATA"
        if metadata_path not in present:
            continue
        with opener(metadata_path) as stream:
            metadata = stream.read(METADATA_READ_LIMIT).decode("utf-8", errors="replace")
        for required in sorted(_requirements(metadata, target) & excluded_names.keys()):
            consequence = (
                "it will import the runtime's copy"
                if required in RUNTIME_PROVIDED
                else "importing it will fail unless the function ships that distribution"
            )
            warnings.append(
                f"{dist.name} requires {excluded_names[required]}, which is excluded: {consequence}"
            )
    return warnings


def _strip_candidates(
    entries: Sequence[FileEntry], headers: BinaryHeaders, target: Target
) -> tuple[tuple[StripCandidate, ...], int]:
    """Shared objects of the target's machine with symbols or debug info; and how many vendored
    libraries were left alone."""
    candidates: list[StripCandidate] = []
    vendored = 0
    for entry in entries:
        # A link ships as the file it names, which is stripped as itself.
        if entry.symlink or not is_shared_object(entry.path):
            continue
        if is_vendored_library(entry.path):
            vendored += 1
            continue
        saving = _strippable_bytes(headers(entry.path), target)
        if saving > 0:
            candidates.append(StripCandidate(entry.path, entry.size, saving))
    return tuple(candidates), vendored


def _strippable_bytes(info: SharedObjectInfo, target: Target) -> int:
    """Bytes of symbol tables and debug sections in an ELF of the target's machine, else 0."""
    if info.elf is None or info.machine != target.elf_machine:
        return 0
    return sum(
        section.size
        for section in info.elf.sections
        if section.name in _STRIPPED_SECTIONS or section.name.startswith(_STRIPPED_SECTION_PREFIXES)
    )


class _Claims:
    """Which rule removes each file: the first rule to claim it."""

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.by_path: dict[str, tuple[RuleName, str]] = {}
        self.warnings: list[str] = []
        self.notes: list[str] = []

    def claim(self, path: str, rule: RuleName, reason: str) -> None:
        if path in self.present and path not in self.by_path:
            self.by_path[path] = (rule, reason)


def plan(
    entries: Sequence[FileEntry],
    opener: Opener,
    target: Target,
    options: SlimSettings,
    distributions: Sequence[InstalledDistribution],
    *,
    headers: BinaryHeaders | None = None,
) -> SlimPlan:
    """Which files each rule would remove (and which shared objects `strip` would shrink).

    `entries` and `distributions` use paths relative to site-packages; `opener` reads them (a
    tree or a zip). Binaries' headers are read through `headers` when given (what was read is
    kept there for verification), else once through `opener`. Nothing is modified.
    """
    if headers is None:
        headers = BinaryHeaders(opener, glibc_limit=target.glibc)
    size_of = {e.path: e.size for e in entries}
    claims = _Claims(set(size_of))
    _plan_exclusions(claims, options.exclude_distributions, distributions, opener, target)
    if options.remove_tests:
        _plan_tests(claims, size_of, opener)
    for pattern in options.exclude_globs:
        _plan_glob(claims, pattern)
    if options.drop_other_platforms:
        _plan_other_platforms(claims, headers, target)
    for path in sorted(claims.present):
        if path.endswith(".pyc") and path not in claims.by_path:
            with opener(path) as stream:
                head = stream.read(_PYC_HEADER)
            verdict = _bytecode_verdict(path, head, target)
            if verdict is not None:
                claims.claim(path, *verdict)

    strip: tuple[StripCandidate, ...] = ()
    if options.strip:
        remaining = [e for e in entries if e.path not in claims.by_path]
        strip, vendored = _strip_candidates(remaining, headers, target)
        if vendored:
            claims.notes.append(
                f"strip: left {vendored} vendored librar{'y' if vendored == 1 else 'ies'} in "
                "*.libs/ alone (stripping them breaks their packages)"
            )

    grouped: dict[RuleName, list[Removal]] = defaultdict(list)
    for path, (rule, reason) in sorted(claims.by_path.items()):
        grouped[rule].append(Removal(path, size_of[path], reason))
    rules = tuple(
        RulePlan(rule, RULE_DESCRIPTIONS[rule], tuple(grouped[rule]))
        for rule in RULE_DESCRIPTIONS
        if rule in grouped
    )
    return SlimPlan(rules, strip, tuple(claims.warnings), tuple(claims.notes))


def _plan_exclusions(
    claims: _Claims,
    names: Sequence[str],
    distributions: Sequence[InstalledDistribution],
    opener: Opener,
    target: Target,
) -> None:
    wanted = {canonicalize_name(n): n for n in names}
    by_name = {canonicalize_name(d.name): d for d in distributions}
    excluded = [by_name[n] for n in sorted(wanted) if n in by_name]
    for missing in sorted(set(wanted) - set(by_name)):
        if missing in RUNTIME_PROVIDED:
            # Excluding what the runtime ships is a standing guard, not a typo: no warning.
            claims.notes.append(
                f"exclude: {wanted[missing]} is not installed (nothing to leave out)"
            )
        else:
            claims.warnings.append(
                f"exclude: no distribution named {wanted[missing]!r} is installed"
            )
    for dist in excluded:
        files = set(dist.files) | {p for p in claims.present if p.startswith(f"{dist.dist_info}/")}
        files |= _bytecode_of(files, claims.present)
        for path in sorted(files):
            claims.claim(path, "exclude-distribution", f"part of {dist.name}")
    kept = [d for d in distributions if d not in excluded]
    claims.warnings.extend(_exclusion_warnings(excluded, kept, claims.present, opener, target))


def _plan_other_platforms(claims: _Claims, headers: BinaryHeaders, target: Target) -> None:
    """Binaries a package ships for other platforms and picks at run time (the rule is
    `verify.is_other_platform`): selenium's macos/ and windows/ managers, and on arm64 its
    x86-64 one."""
    for path in sorted(p for p in claims.present if p not in claims.by_path and may_be_binary(p)):
        info = headers(path)
        if is_other_platform(path, info, target):
            claims.claim(path, "other-platforms", f"{info.format} {info.machine}".strip())


def _plan_tests(claims: _Claims, sizes: Mapping[str, int], opener: Opener) -> None:
    candidates = tests_candidates(claims.present)
    needed = needed_tests_dirs(candidates, sizes, opener)
    for directory, importer in sorted(needed.items()):
        claims.notes.append(f"kept {directory}/: {importer} imports it")
    removable = {c for c in candidates if c not in needed}
    for path in sorted(claims.present):
        tests_dir = _ancestor_in(posixpath.dirname(path), removable)
        if tests_dir is not None and not _is_protected(path):
            claims.claim(path, "tests", f"in {tests_dir}/")


def _plan_glob(claims: _Claims, pattern: str) -> None:
    matched = [p for p in sorted(claims.present) if _glob_matches(pattern, p)]
    if not matched:
        claims.warnings.append(f"exclude glob {pattern!r} matches nothing")
    protected = [p for p in matched if _is_protected(p)]
    if protected:
        claims.notes.append(
            f"exclude glob {pattern!r}: kept {len(protected)} file(s) importlib.metadata "
            f"needs, e.g. {protected[0]}"
        )
    code = [p for p in matched if p.endswith(".py") or is_shared_object(p)]
    if code:
        claims.warnings.append(
            f"exclude glob {pattern!r} removes {len(code)} importable module(s), e.g. "
            f"{code[0]}: make sure nothing imports them"
        )
    for path in matched:
        if not _is_protected(path):
            claims.claim(path, "exclude-glob", f"matches {pattern!r}")


def _bytecode_of(files: set[str], present: set[str]) -> set[str]:
    """The ``__pycache__`` files of the modules in `files` (written after RECORD was)."""
    found: set[str] = set()
    sources = {f[: -len(".py")] for f in files if f.endswith(".py")}
    for path in present:
        if not path.endswith(".pyc") or "/__pycache__/" not in f"/{path}":
            continue
        cache_dir, name = posixpath.split(path)
        source = posixpath.join(posixpath.dirname(cache_dir), name.split(".", 1)[0])
        if source in sources:
            found.add(path)
    return found
