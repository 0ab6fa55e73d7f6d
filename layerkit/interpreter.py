"""Finding a Python interpreter of exactly a target's version (to compile the layer's bytecode).

Candidates, in order: ``--interpreter PATH`` (or a command name), ``python3.X`` on PATH, then
``uv python find 3.X`` — with ``UV_PYTHON_DOWNLOADS=never`` unless the user opted in to downloads
(``--python-downloads``), in which case ``uv python install 3.X`` runs first. Each candidate is run
once to report its version, cache tag and magic number; a candidate that does not run (a pyenv
shim for a version that is not selected) or reports another version is refused with a reason.

Discovery runs on every build, a cache hit included (the interpreter's version is part of the
cache key), and a miss costs real time here (a failing pyenv shim ~0.2 s, a failing ``uv python
find`` ~0.5 s). So its outcome is remembered in the build cache under a fingerprint of what decides
it: the request, PATH with each directory's modification time, the pyenv and uv settings, uv's
Python directory and the ``.python-version`` files pyenv would read. Installing a Python (into a
PATH directory, with pyenv or with uv) changes the fingerprint; ``--force`` looks again anyway.

Subprocesses run through the injected runner only; this module is light enough for a no-op build.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from layerkit.errors import LayerkitError
from layerkit.pyc import PYC_MAGIC
from layerkit.targets import Target

if TYPE_CHECKING:
    from layerkit.installer import CommandResult, CommandRunner

Which = Callable[[str], str | None]
_T = TypeVar("_T")

# Prints the full version (3.12.1, 3.14.0rc3), the cache tag and the .pyc magic number.
PROBE = (
    "import sys, importlib.util as u; v = sys.version_info; "
    "print('%d.%d.%d%s' % (v[0], v[1], v[2], '' if v[3] == 'final' else "
    "{'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}[v[3]] + str(v[4]))); "
    "print(sys.implementation.cache_tag); print(int.from_bytes(u.MAGIC_NUMBER[:2], 'little')); "
    "print(sys.executable)"
)
_MEMO_LAYOUT = 1
# Environment variables that change what python3.X or `uv python find` resolve to.
_DISCOVERY_VARIABLES = (
    "PATH", "PYENV_VERSION", "PYENV_ROOT", "PYENV_DIR", "UV_PYTHON_INSTALL_DIR",
    "UV_PYTHON_PREFERENCE", "UV_MANAGED_PYTHON", "UV_NO_MANAGED_PYTHON", "UV_PYTHON",
    "VIRTUAL_ENV", "CONDA_PREFIX", "XDG_DATA_HOME", "HOME",
)  # fmt: skip


@dataclass(frozen=True)
class Interpreter:
    """A working interpreter of the target's version."""

    path: str  # the executable itself (a pyenv shim is resolved to what it runs)
    version: str  # full version, e.g. 3.12.1
    found_by: str  # "--interpreter", "PATH", "uv python find"


@dataclass(frozen=True)
class Discovery:
    """The interpreter found for a target version, or why none was: one reason per candidate."""

    python: str
    interpreter: Interpreter | None
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) or f"no Python {self.python} found"


def no_bytecode_message(discovery: Discovery) -> str:
    """What building without bytecode costs and how to fix it, said once per build."""
    version = discovery.python
    return (
        f"no Python {version} interpreter found ({discovery.reason}), so the layer ships without "
        f"bytecode: Lambda mounts layers read-only, so every cold start compiles each module it "
        f"imports again (3-4x slower imports for a data stack, billed as init time). Fix: "
        f"`uv python install {version}`, or --interpreter PATH to a Python {version}"
    )


def missing_interpreter_reason(discovery: Discovery) -> str:
    """Why no interpreter of the target's version was found, and what to install."""
    version = discovery.python
    return (
        f"{discovery.reason}; install Python {version} (e.g. `uv python install {version}`) "
        "or pass --interpreter PATH"
    )


def _first_line(result: CommandResult) -> str:
    """What a failed command said first (its later lines elaborate), or its exit status."""
    for line in (result.stderr or result.stdout).splitlines():
        if line.strip():
            return line.strip().removeprefix("error: ")
    return f"exit status {result.returncode}"


def probe(
    path: str, python: str, *, runner: CommandRunner, env: Mapping[str, str] | None, found_by: str
) -> Interpreter | str:
    """Run `path` once: an `Interpreter` if it is CPython `python`, else why not."""
    try:
        result = runner([path, "-I", "-S", "-c", PROBE], env=env)
    except LayerkitError as exc:  # not found, not executable
        return f"{path} cannot run: {exc.message}"
    if result.returncode != 0:
        return f"{path} does not run (a pyenv shim without that version?): {_first_line(result)}"
    lines = result.stdout.split()
    version = lines[0] if lines else "?"
    major_minor = ".".join(version.split(".")[:2])
    if major_minor != python:
        return f"{path} is Python {major_minor}, not {python}"
    tag = lines[1] if len(lines) > 1 else None
    expected_tag = f"cpython-{python.replace('.', '')}"
    if tag is not None and tag != expected_tag:
        return f"{path} writes {tag} bytecode, the target loads {expected_tag}"
    if len(lines) > 2 and lines[2] != str(PYC_MAGIC[python]):
        return (
            f"{path} (Python {version}) writes .pyc magic {lines[2]}, the target's "
            f"Python {python} reads {PYC_MAGIC[python]} (a pre-release?)"
        )
    executable = lines[3] if len(lines) > 3 else path
    return Interpreter(executable, version, found_by)


def _uv_find(
    python: str,
    *,
    uv: str,
    runner: CommandRunner,
    env: Mapping[str, str] | None,
    python_downloads: bool,
) -> str | tuple[str, str]:
    """The path `uv python find` names (after `uv python install` when downloads are allowed),
    or ("", why not)."""
    base = dict(os.environ if env is None else env)
    base["UV_PYTHON_DOWNLOADS"] = "automatic" if python_downloads else "never"
    if python_downloads:
        try:
            installed = runner([uv, "python", "install", python], env=base)
        except LayerkitError as exc:
            return "", f"uv python install {python}: {exc.message}"
        if installed.returncode != 0:
            return "", f"uv python install {python} failed: {_first_line(installed)}"
    try:
        result = runner([uv, "python", "find", "--no-project", python], env=base)
    except LayerkitError as exc:
        return "", f"uv python find {python}: {exc.message}"
    if result.returncode != 0:
        return "", f"uv python find {python} found none ({_first_line(result)})"
    return result.stdout.strip()


def _is_pyenv_shim(path: str) -> bool:
    """A pyenv shim (``$PYENV_ROOT/shims/python3.X``): there is one for every installed version,
    and it fails unless pyenv selects a version that has the command."""
    return Path(path).parent.name == "shims"


def _started(call: Callable[[], _T]) -> Callable[[], _T]:
    """`call` started on a thread now; the returned function waits for its result. Nobody need
    wait: the thread ends by itself, and the interpreter waits for it before exiting."""
    from concurrent.futures import ThreadPoolExecutor  # only this path needs it

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerkit-uv-find")
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future.result


def locate_interpreter(
    target: Target,
    *,
    which: Which,
    runner: CommandRunner,
    explicit: str | None = None,
    uv: str | None = None,
    python_downloads: bool = False,
    env: Mapping[str, str] | None = None,
) -> Discovery:
    """The first candidate that is CPython of exactly `target.python` (see the module doc).

    When the ``python3.X`` on PATH is a pyenv shim (which fails unless pyenv selects a version
    that has it), ``uv python find`` (read-only without downloads) runs while the shim is probed;
    its answer is used only if the shim's is refused, as when they run one after the other."""
    python = target.python
    reasons: list[str] = []
    tried: set[str] = set()

    def attempt(path: str | None, found_by: str) -> Interpreter | None:
        if not path or path in tried:
            return None
        tried.add(path)
        outcome = probe(path, python, runner=runner, env=env, found_by=found_by)
        if isinstance(outcome, str):
            reasons.append(outcome if found_by != "--interpreter" else f"--interpreter: {outcome}")
            return None
        return outcome

    if explicit:
        path = explicit if "/" in explicit else which(explicit)
        if path is None:
            reasons.append(f"--interpreter {explicit}: not found on PATH")
        elif (found := attempt(path, "--interpreter")) is not None:
            return Discovery(python, found, tuple(reasons))
    name = f"python{python}"
    on_path = which(name)
    uv_answer: Callable[[], str | tuple[str, str]] | None = None
    if uv is not None:
        uv_path = uv

        def uv_find() -> str | tuple[str, str]:
            return _uv_find(
                python, uv=uv_path, runner=runner, env=env, python_downloads=python_downloads
            )

        uv_answer = uv_find
        shim = on_path is not None and on_path not in tried and _is_pyenv_shim(on_path)
        if shim and not python_downloads:
            uv_answer = _started(uv_find)
    if on_path is None:
        reasons.append(f"no {name} on PATH")
    elif (found := attempt(on_path, "PATH")) is not None:
        return Discovery(python, found, tuple(reasons))
    if uv_answer is not None:
        answer = uv_answer()
        if isinstance(answer, tuple):
            reasons.append(answer[1])
        elif (found := attempt(answer, "uv python find")) is not None:
            return Discovery(python, found, tuple(reasons))
    return Discovery(python, None, tuple(reasons))


# --- remembering the outcome -------------------------------------------------------------------


def _stat_of(path: str | Path) -> list[int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _uv_python_dir(env: Mapping[str, str]) -> str:
    if env.get("UV_PYTHON_INSTALL_DIR"):
        return env["UV_PYTHON_INSTALL_DIR"]
    data = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~"), ".local", "share"))
    return str(Path(data, "uv", "python"))


def discovery_fingerprint(
    target: Target,
    *,
    which: Which,
    env: Mapping[str, str],
    explicit: str | None,
    python_downloads: bool,
    cwd: Path,
) -> str:
    """A digest of what decides `locate_interpreter`'s outcome (see the module doc)."""
    name = f"python{target.python}"
    on_path = which(name)
    pyenv_root = env.get("PYENV_ROOT") or str(Path(env.get("HOME", "~"), ".pyenv"))
    version_files = [str(d / ".python-version") for d in (cwd, *cwd.parents)]
    version_files.append(str(Path(pyenv_root, "version")))
    document = {
        "layout": _MEMO_LAYOUT,
        "python": target.python,
        "explicit": explicit,
        "explicit_stat": _stat_of(explicit) if explicit and "/" in explicit else None,
        "downloads": python_downloads,
        "env": {k: env.get(k) for k in _DISCOVERY_VARIABLES},
        "path_dirs": [[d, _stat_of(d)] for d in env.get("PATH", "").split(os.pathsep) if d],
        "on_path": [on_path, _stat_of(os.path.realpath(on_path)) if on_path else None],
        "uv_pythons": _stat_of(_uv_python_dir(env)),
        "version_files": [[f, _stat_of(f)] for f in version_files if _stat_of(f)],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def recall(memo_dir: Path, fingerprint: str) -> Discovery | None:
    """A remembered discovery whose interpreter (if any) is still the same file, else None."""
    try:
        data = json.loads((memo_dir / f"{fingerprint}.json").read_text(encoding="utf-8"))
        found = data["interpreter"]
        interpreter = None if found is None else Interpreter(**found)
        if interpreter is not None and _stat_of(interpreter.path) != data["stat"]:
            return None
        return Discovery(str(data["python"]), interpreter, tuple(data["reasons"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(memo_dir: Path, fingerprint: str, discovery: Discovery) -> None:
    """Keep `discovery` under `fingerprint` (best effort: only the next build is slower)."""
    found = discovery.interpreter
    document = {
        "python": discovery.python,
        "interpreter": None if found is None else asdict(found),
        "stat": None if found is None else _stat_of(found.path),
        "reasons": list(discovery.reasons),
    }
    try:
        memo_dir.mkdir(parents=True, exist_ok=True)
        partial = memo_dir / f".{fingerprint}.{os.getpid()}.tmp"
        partial.write_text(json.dumps(document), encoding="utf-8")
        partial.replace(memo_dir / f"{fingerprint}.json")
    except OSError:
        return
