"""`layerkit test`: the dynamic proof. Import a layer's modules as Lambda would, on this machine.

The layer is copied read-only into a private directory laid out like ``/opt`` (files read through
the same entry lists and openers `inspect` uses: regular files only, names checked, no link
followed). Each top-level module is then imported in its own fresh interpreter of exactly the
target's Python version with Lambda's view of the world: ``sys.path`` starting with the layer's
``python/lib/python3.X/site-packages`` and ``python/`` (no host site-packages: ``-I -S``, so no
``.pth`` file runs, as on Lambda where those directories are on PYTHONPATH), ``LD_LIBRARY_PATH``
with the layer's ``lib/``, and an empty read-only working directory and ``HOME``.

What it cannot see: this machine may have system libraries Lambda's image lacks, so an import
that works here can still fail there (that is the static check's business, `layerkit.verify`).
Where this machine cannot run the target at all (another architecture, no interpreter of that
version) the result is "skipped" with the reason, never a pass.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layerkit.contents import (
    METADATA_READ_LIMIT,
    FileEntry,
    Opener,
    distributions_read_with,
    scan_tree,
    tree_opener,
)
from layerkit.errors import InputFileError, UsageError, VerificationError
from layerkit.installer import CommandRunner
from layerkit.interpreter import locate_interpreter, missing_interpreter_reason
from layerkit.limits import LAMBDA_UNZIPPED_LIMIT
from layerkit.manifest import manifest_path_for, read_manifest
from layerkit.safezip import open_layer_zip
from layerkit.targets import Target, make_target
from layerkit.verify import (
    LAYER_ROOT,
    unsafe_name_reason,
    zip_file_entries,
    zip_opener,
)

# /opt on Lambda: everyone may read and enter, nobody may write.
READ_ONLY_DIR = (
    stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
)
ROOT_NOTE = (
    "run as root: file modes do not stop writes, so a module writing to its directory or HOME "
    "was not caught (run as another user to catch it)"
)
Status = Literal["passed", "failed", "skipped"]
Which = Callable[[str], "str | None"]

# A module whose import takes longer than this is reported as hung (Lambda's own init phase is
# limited to 10 s; a minute leaves room for a slow build machine).
DEFAULT_TIMEOUT = 60.0

# Runs in the target's interpreter (started with -I -S -B): put the layer first on sys.path, as
# Lambda does (its layer paths come before the standard library), import one module, report
# {"seconds", "error"} as JSON on the original stdout. What the module prints goes to stderr; a
# hang is ended by faulthandler, which exits the interpreter after dumping its stacks.
_IMPORT_SCRIPT = """\
import faulthandler, importlib, json, os, sys, time, traceback
name, paths, timeout = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
sys.path[:0] = paths
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
faulthandler.dump_traceback_later(timeout, exit=True)
start = time.perf_counter()
try:
    importlib.import_module(name)
    error = None
except BaseException as exc:
    error = traceback.format_exception_only(type(exc), exc)[-1].strip()
seconds = time.perf_counter() - start
faulthandler.cancel_dump_traceback_later()
out.write(json.dumps({"seconds": seconds, "error": error}))
out.flush()
os._exit(0)
"""


@dataclass(frozen=True)
class ModuleImport:
    """One module imported in a fresh interpreter: how long it took, or why it failed."""

    module: str
    seconds: float
    error: str | None = None  # the last line of the error; None when the import worked


@dataclass(frozen=True)
class LayerTestResult:
    """What `layerkit test` did. `status` is "skipped" (with `reason`) when nothing could run."""

    source: Path
    target: Target
    status: Status
    reason: str | None
    interpreter: str | None
    imports: tuple[ModuleImport, ...]  # slowest first
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[ModuleImport, ...]:
        return tuple(i for i in self.imports if i.error is not None)


@dataclass(frozen=True)
class ImportHost:
    """What the test needs of this machine: a runner, PATH look-ups and its architecture."""

    runner: CommandRunner
    which: Which
    machine: str  # platform.machine()
    system: str = sys.platform


# --- the layer, copied read-only ------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    entries: tuple[FileEntry, ...]  # paths relative to the layer root
    opener: Opener
    skipped_links: int = 0


@contextmanager
def _open_source(source: Path) -> Iterator[_Source]:
    """The regular files of a layer zip or directory, by path relative to the layer root.

    A directory without ``python/`` is taken as the contents of ``python/`` (the layout of
    ``pip install --target python``)."""
    if source.is_dir():
        entries = scan_tree(source)
        if any(e.path.startswith(f"{LAYER_ROOT}/") for e in entries):
            yield _Source(entries, tree_opener(source))
            return
        moved = tuple(FileEntry(f"{LAYER_ROOT}/{e.path}", e.size, e.executable) for e in entries)
        inner = tree_opener(source)
        yield _Source(moved, lambda path: inner(path.removeprefix(f"{LAYER_ROOT}/")))
        return
    # The safe reader refuses a zip that extractors could read differently (layerkit/safezip.py).
    with open_layer_zip(source) as archive:
        entries = zip_file_entries(archive)
        yield _Source(entries, zip_opener(archive), len(archive.link_issues))


def _copy_read_only(layer: _Source, root: Path) -> None:
    """Write every file of `layer` under `root` (never outside it), then make the tree read-only."""
    unzipped = sum(entry.size for entry in layer.entries)
    if unzipped > LAMBDA_UNZIPPED_LIMIT:  # Lambda would refuse it; copying it could fill the disk
        raise VerificationError(
            f"the layer unzips to {unzipped:,} bytes, more than Lambda's limit of "
            f"{LAMBDA_UNZIPPED_LIMIT:,}; it was not tested",
            hint="`layerkit inspect` shows what takes the space",
        )
    for entry in layer.entries:
        reason = unsafe_name_reason(entry.path)
        if reason is not None:
            raise VerificationError(
                f"the layer has {reason}: {entry.path!r}; it was not tested",
                hint="rebuild the layer with layerkit; `layerkit inspect` lists such entries",
            )
        dest = root / entry.path
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(dest, flags, 0o555 if entry.executable else 0o444)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise VerificationError(
                f"the layer names {entry.path!r} twice (or as a file and a directory); "
                "it was not tested",
                hint="rebuild the layer with layerkit; `layerkit inspect` lists such entries",
            ) from exc
        with os.fdopen(fd, "wb") as out, layer.opener(entry.path) as stream:
            shutil.copyfileobj(stream, out)
    _chmod_dirs(root, READ_ONLY_DIR)


def _chmod_dirs(root: Path, mode: int) -> None:
    for dirpath, _dirnames, _files in os.walk(root):
        Path(dirpath).chmod(mode)


# --- which modules ---------------------------------------------------------------------------


def _top_level_names(paths: Iterable[str]) -> set[str]:
    """Importable top-level names among paths relative to a sys.path directory."""
    names: set[str] = set()
    for path in paths:
        first, _, rest = path.partition("/")
        if rest:
            if rest.endswith((".py", ".so")) or ".so." in rest:
                names.add(first)
        elif first.endswith(".py"):
            names.add(first[:-3])
        elif first.endswith(".so"):
            names.add(first.split(".", 1)[0])
    return {n for n in names if n.isidentifier() and n != "__pycache__"}


def _read_under(read: Callable[[str, int], bytes], prefix: str, member: str, limit: int) -> bytes:
    return read(prefix + member, limit)


def _read_head(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of `path`: a file from a layer is never read whole."""
    with path.open("rb") as handle:
        return handle.read(limit)


def declared_modules(
    entries: Sequence[FileEntry], read: Callable[[str, int], bytes], target: Target
) -> list[str]:
    """Every top-level module the layer's distributions declare: ``top_level.txt``, else what
    their RECORD installs; only names present in the directories `target` looks in."""
    modules: list[str] = []
    for base in (target.site_packages, LAYER_ROOT):
        prefix = f"{base}/"
        inside = tuple(
            FileEntry(e.path[len(prefix) :], e.size, e.executable)
            for e in entries
            if e.path.startswith(prefix) and (base != LAYER_ROOT or "/site-packages/" not in e.path)
        )
        present = _top_level_names(e.path for e in inside)
        paths = {e.path for e in inside}
        for dist in distributions_read_with(functools.partial(_read_under, read, prefix), inside):
            listed = f"{dist.dist_info}/top_level.txt"
            if listed in paths:
                text = read(prefix + listed, METADATA_READ_LIMIT).decode("utf-8", errors="replace")
                names = {line.strip().replace("/", ".") for line in text.splitlines()}
            else:
                names = _top_level_names(dist.files)
            modules += sorted(n for n in names if n.split(".")[0] in present and n not in modules)
    return modules


# --- running -----------------------------------------------------------------------------------


def _cannot_run_reason(target: Target, host: ImportHost) -> str | None:
    if host.system != "linux":
        return f"this machine runs {host.system}, not Linux: {target} extensions cannot load here"
    if host.machine != target.machine:
        return (
            f"this machine is {host.machine} and the layer is for {target.machine} "
            f"({target.arch}): its compiled modules cannot load here; run `layerkit test` on "
            f"an {target.arch} Linux machine (e.g. a CI runner of that architecture)"
        )
    return None


def _interpreter(target: Target, explicit: str | None, host: ImportHost) -> tuple[str | None, str]:
    """The target's interpreter: `explicit` (which must be that version), else one found."""
    if explicit is None:
        found = locate_interpreter(target, which=host.which, runner=host.runner)
        if found.interpreter is None:
            return None, (
                f"no Python {target.python} interpreter to import with "
                f"({missing_interpreter_reason(found)}); pass --interpreter PATH"
            )
        return found.interpreter.path, ""
    path = shutil.which(explicit) or explicit
    if not Path(path).is_file():
        raise UsageError(f"--interpreter {explicit}: no such program", hint="give the path of "
                         f"a Python {target.python} interpreter")  # fmt: skip
    found = locate_interpreter(target, which=lambda _name: path, runner=host.runner)
    if found.interpreter is None:
        raise UsageError(
            f"--interpreter {explicit}: {missing_interpreter_reason(found)}",
            hint=f"give an interpreter of Python {target.python}, the layer's target",
        )
    return found.interpreter.path, ""


def import_command(
    interpreter: str, module: str, paths: Sequence[str], timeout: float
) -> list[str]:
    """The argv that imports `module` with only `paths` ahead of the standard library."""
    return [interpreter, "-I", "-S", "-B", "-c", _IMPORT_SCRIPT, module, json.dumps(list(paths)),
            str(timeout)]  # fmt: skip


def _import_environment(opt: Path, scratch: Path) -> dict[str, str]:
    """Lambda's environment as far as imports care: its library path, an empty read-only HOME,
    a writable TMPDIR (Lambda's /tmp); nothing of this machine's Python configuration."""
    library_path = [str(opt / "lib")]
    if os.environ.get("LD_LIBRARY_PATH"):  # what the host interpreter itself may need
        library_path.append(os.environ["LD_LIBRARY_PATH"])
    return {
        "PATH": f"{opt / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LD_LIBRARY_PATH": ":".join(library_path),
        "HOME": str(scratch / "home"),
        "TMPDIR": str(scratch / "tmp"),
        "LANG": "C.UTF-8",
    }


def _one_import(
    argv: Sequence[str],
    module: str,
    *,
    opt: Path,
    env: dict[str, str],
    cwd: Path,
    runner: CommandRunner,
) -> ModuleImport:
    result = runner(argv, env=env, cwd=cwd)
    try:
        report = json.loads(result.stdout)
        seconds, error = float(report["seconds"]), report["error"]
    except (ValueError, KeyError, TypeError):
        pass
    else:  # paths in errors as Lambda would print them
        return ModuleImport(module, seconds, error and str(error).replace(str(opt), "/opt"))
    if result.returncode < 0:
        error = f"the interpreter was killed by signal {-result.returncode} while importing it"
    elif "Timeout" in result.stderr:
        error = f"did not finish importing within {argv[-1]} s"
    else:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        error = f"the interpreter exited with code {result.returncode}: {last}"
    return ModuleImport(module, 0.0, error)


def run_layer_test(
    source: Path,
    *,
    host: ImportHost,
    python: str | None = None,
    arch: str | None = None,
    modules: Sequence[str] = (),
    interpreter: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> LayerTestResult:
    """Import the layer's modules (or `modules`) as Lambda's target runtime would.

    The target comes from `python`/`arch`, else from the layer (as `inspect` judges it).
    Never raises for an import that fails: the result lists it (`raise_for_failures` does).
    """
    if not source.exists():
        raise InputFileError(f"{source} does not exist", hint="give a layer zip or a directory")
    manifest = manifest_path_for(source)
    if python and arch:
        target = make_target(python, arch)
    elif source.is_file() and manifest.is_file():
        recorded = read_manifest(source)
        target = make_target(python or recorded.python, arch or recorded.arch)
    else:
        from layerkit.inspection import inspect_layer  # its target guess: flags, manifest, files

        target = inspect_layer(source, python=python, arch=arch).target

    def skipped(reason: str, found: str | None = None) -> LayerTestResult:
        return LayerTestResult(source, target, "skipped", reason, found, ())

    reason = _cannot_run_reason(target, host)
    if reason is not None:
        return skipped(reason)
    found, reason = _interpreter(target, interpreter, host)
    if found is None:
        return skipped(reason)
    scratch = Path(tempfile.mkdtemp(prefix="layerkit-test-"))
    try:
        imports, notes = _import_all(
            source,
            target,
            scratch=scratch,
            interpreter=found,
            modules=modules,
            timeout=timeout,
            host=host,
        )
    finally:
        _chmod_dirs(scratch, stat.S_IRWXU)
        shutil.rmtree(scratch, ignore_errors=True)
    if not imports:
        reason = "the layer declares no module to import; name some with --import"
        return LayerTestResult(source, target, "skipped", reason, found, (), notes)
    ordered = tuple(sorted(imports, key=lambda i: (-i.seconds, i.module)))
    status: Status = "failed" if any(i.error for i in imports) else "passed"
    return LayerTestResult(source, target, status, None, found, ordered, notes)


def _import_all(
    source: Path,
    target: Target,
    *,
    scratch: Path,
    interpreter: str,
    modules: Sequence[str],
    timeout: float,
    host: ImportHost,
) -> tuple[list[ModuleImport], tuple[str, ...]]:
    """Copy the layer under `scratch`/opt and import each module there, in its own interpreter."""
    opt = scratch / "opt"
    for name in ("opt", "home", "tmp", "work"):
        (scratch / name).mkdir()
    with _open_source(source) as layer:
        _copy_read_only(layer, opt)
    wanted = list(modules) or declared_modules(
        layer.entries, lambda path, limit: _read_head(opt / path, limit), target
    )
    notes: list[str] = []
    if os.geteuid() == 0:
        notes.append(ROOT_NOTE)
    if layer.skipped_links:
        notes.append(f"{layer.skipped_links} symbolic links in the zip were not copied")
    for name in ("home", "work"):
        (scratch / name).chmod(READ_ONLY_DIR)
    paths = [str(opt / target.site_packages), str(opt / LAYER_ROOT)]
    env = _import_environment(opt, scratch)
    cwd = scratch / "work"
    imports = [
        _one_import(import_command(interpreter, m, paths, timeout), m, opt=opt, env=env, cwd=cwd,
                    runner=host.runner)
        for m in wanted
    ]  # fmt: skip
    return imports, tuple(notes)


def raise_for_failures(result: LayerTestResult, *, label: str) -> None:
    """Raise `VerificationError` (exit 5) naming every module that failed to import."""
    failures = result.failures
    if not failures:
        return
    lines = "\n".join(f"  - {f.module}: {f.error}" for f in failures)
    count = len(failures)
    raise VerificationError(
        f"{count} module{'s' if count != 1 else ''} of {label} failed to import on "
        f"{result.target.runtime} {result.target.arch}:\n{lines}",
        hint="a missing shared library: ship it in the layer's lib/ or pick a wheel that "
        "bundles it; a missing module: add the distribution that provides it",
    )
