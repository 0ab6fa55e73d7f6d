"""Benchmark: `layerkit build` against the AWS-documented recipe (pip --platform + zip -r).

    python bench/run.py                      # both workloads, 3 interleaved runs each
    python bench/run.py --runs 5 --workload data --json results.json

For each workload and run, in fresh temporary directories, interleaving the two tools:

  cold     empty installer caches (wheels come from the index) and an empty build cache
  warm     the same caches, a fresh output directory (layerkit: --force when it has a build cache,
           so only its bytecode store is warm); also layerkit --no-compile
  no-op    layerkit only: the same build again, nothing changed (from requirements.txt, which
           costs a resolution against the index, and from a lock made by `uv pip compile`; with
           --quiet, and from the lock also with the usual text report), five samples per run;
           also from requirements.txt against a local index that sends pypi.org's cache headers
           (this machine's PyPI mirror drops them, so uv must re-download every index page)
  zip      the zip stage alone on the recipe's installed tree: `zip -r -q -X` vs layerkit's writer
           (walk + zip, timed inside the process: the interpreter's start-up is left out)
  rss      peak resident memory of each build (the process and everything it ran)
  size     the zip each one produced, and the two zips of the same tree
  compile  the bytecode stage alone on layerkit's installed tree: compileall, layerkit's compile
           from an empty bytecode store and from a warm one (timed inside the process)
  start    cold start: the import time of the layer's top-level modules from a read-only
           extracted copy with a fresh target interpreter (-I -B, the layer's paths first on
           sys.path as on Lambda), best of 5, for the recipe's layer, layerkit --no-compile and
           layerkit's default (bytecode)

Medians are printed with ratios (recipe / layerkit: above 1 means layerkit is faster or smaller).
Both sides run with pip's and uv's configuration switched off (PIP_CONFIG_FILE=/dev/null,
UV_NO_CONFIG=1, no PIP_*/UV_* variables) so a machine's wheel mirrors don't distort the numbers.
Needs network access to PyPI, `zip` on PATH, layerkit installed in this interpreter, and a
Python of the target version (found as the tests find one: PATH, pyenv); its directory is put
first on PATH for layerkit, whose default build then finds it as `python3.X`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

NOOP_SAMPLES = 5

WORKLOADS: dict[str, tuple[str, ...]] = {
    "web": ("requests", "pydantic"),
    "data": ("numpy", "pandas", "pyarrow"),
}
# What a function would import at start, per workload (the measure: pandas + parquet).
IMPORTS: dict[str, tuple[str, ...]] = {
    "web": ("requests", "pydantic"),
    "data": ("numpy", "pandas", "pyarrow", "pyarrow.parquet"),
}
START_SAMPLES = 5


@dataclass(frozen=True)
class Measure:
    seconds: float
    peak_rss_mb: float  # the largest single process of the tree (wait4)
    tree_pss_mb: float = 0.0  # the processes of the tree at once, summed (`TreeMemory`)


class TreeMemory:
    """The memory of a process and its descendants at once, summed, sampled every `INTERVAL`
    seconds until stopped: `peak_mb` the most seen, as PSS (a page shared by N processes counts
    1/N in each, so a fork's pages shared with its parent count once). wait4's ru_maxrss is the
    largest single process, which says nothing of four targets in four processes, each running
    its own installers."""

    INTERVAL = 0.02

    def __init__(self, pid: int) -> None:
        self.peak_mb = 0.0
        self._pid = pid
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak_mb

    def _tree(self) -> list[int]:
        pids, i = [self._pid], 0
        while i < len(pids):
            for task in Path(f"/proc/{pids[i]}/task").glob("*/children"):
                with contextlib.suppress(OSError):  # it has just ended
                    pids.extend(int(child) for child in task.read_text().split())
            i += 1
        return pids

    def _sample(self) -> None:
        while not self._done.wait(self.INTERVAL):
            total_kb = 0
            for pid in self._tree():
                with contextlib.suppress(OSError, ValueError):  # it has just ended
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Pss:"):
                            total_kb += int(line.split()[1])
            self.peak_mb = max(self.peak_mb, total_kb / 1024)


@dataclass
class Results:
    workload: str
    runs: dict[str, list[float]] = field(default_factory=dict)

    def add(self, metric: str, value: float) -> None:
        self.runs.setdefault(metric, []).append(value)

    def median(self, metric: str) -> float | None:
        values = self.runs.get(metric)
        return statistics.median(values) if values else None


def clean_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The machine's environment without pip/uv/layerkit settings, plus `extra`."""
    leaky = ("PIP_", "UV_", "LAYERKIT_", "SOURCE_DATE_EPOCH")
    env = {k: v for k, v in base.items() if not k.startswith(leaky)}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    self_timed: bool = False,
) -> Measure:
    """Run to completion; wall time and the peak RSS of the process tree (wait4's rusage).

    `self_timed`: the command prints the seconds to report as its last line.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    memory = TreeMemory(proc.pid)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    tree_mb = memory.stop()
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(output.decode(errors="replace")[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}")
    if self_timed:
        elapsed = float(output.decode().strip().splitlines()[-1])
    return Measure(elapsed, usage.ru_maxrss / 1024, tree_mb)


def pip_recipe(packages: Sequence[str], root: Path, *, python: str, env: Mapping[str, str]):
    """AWS's documented recipe: pip for manylinux2014 into python/, then zip -r."""
    site = root / "python" / "lib" / f"python{python}" / "site-packages"
    install = run(
        [
            sys.executable, "-m", "pip", "install",
            "--platform", "manylinux2014_x86_64",
            "--implementation", "cp",
            "--python-version", python,
            "--only-binary=:all:",
            "--target", str(site),
            *packages,
        ],
        env=env,
    )  # fmt: skip
    zipped = run(["zip", "-r", "-q", "-X", str(root / "layer.zip"), "python"], env=env, cwd=root)
    return install, zipped, root / "layer.zip"


def layerkit_build(
    project: Path,
    out: Path,
    *,
    python: str,
    env: Mapping[str, str],
    force: bool,
    requirements: str = "requirements.txt",
    quiet: bool = True,
    extra: Sequence[str] = (),
) -> tuple[Measure, Path]:
    argv = [
        sys.executable, "-m", "layerkit", "build", str(project),
        "-r", str(project / requirements),
        "--python", python, "--arch", "x86_64",
        "--name", "bench", "-o", str(out), *(["--quiet"] if quiet else []), *extra,
    ]  # fmt: skip
    if force:
        argv.append("--force")
    measure = run(argv, env=env)
    (zip_path,) = out.glob("bench-*.zip")
    return measure, zip_path


def manifest_of(zip_path: Path) -> dict[str, object]:
    return dict(json.loads(zip_path.with_suffix(".json").read_text()))


def lock(project: Path, *, python: str, env: Mapping[str, str]) -> None:
    """requirements.txt -> lock.txt: every version pinned, as a CI pipeline would keep it."""
    from uv import find_uv_bin

    result = subprocess.run(
        [
            find_uv_bin(), "pip", "compile", "--python", sys.executable,
            "--python-version", python, "--python-platform", "x86_64-manylinux_2_34",
            "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet",
            str(project / "requirements.txt"), "-o", str(project / "lock.txt"),
        ],
        env=dict(env), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"uv pip compile failed:\n{result.stderr}")


def layerkit_has(option: str) -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "layerkit", "build", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(os.environ, COLUMNS="200"),
    ).stdout
    return option in help_text


# Times the walk and the zip, not the interpreter's start-up (zip -r starts in a millisecond).
ZIP_SNIPPET = """
import sys, time
from pathlib import Path
from layerkit.archive import layer_members, write_zip
from layerkit.contents import scan_tree
root, dest, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
write_zip(layer_members(root, scan_tree(root), prefix), dest)
print(time.perf_counter() - start)
"""


def zip_stage(root: Path, python: str, work: Path, env: Mapping[str, str]):
    """Both zippers on the same installed tree (layer root containing python/)."""
    prefix = f"python/lib/python{python}/site-packages"
    reference = work / "zip-r.zip"
    ours = work / "layerkit.zip"
    reference.unlink(missing_ok=True)
    zip_r = run(["zip", "-r", "-q", "-X", str(reference), "python"], env=env, cwd=root)
    mine = run(
        [sys.executable, "-c", ZIP_SNIPPET, str(root / prefix), str(ours), prefix],
        env=env,
        self_timed=True,
    )
    return zip_r, mine, reference.stat().st_size, ours.stat().st_size


# Times layerkit's compile step on a tree, from an empty and from a warm bytecode store.
COMPILE_SNIPPET = """
import shutil, sys, time
from pathlib import Path
from layerkit.bytecode import BytecodeStore, compile_bytecode
from layerkit.interpreter import Interpreter
from layerkit.installer import run_command
from layerkit.targets import make_target
tree, work, python, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
target = make_target(version.rsplit(".", 1)[0] if version.count(".") > 1 else version, "x86_64")
store = BytecodeStore(work / "store")
times = []
for label in ("cold", "warm"):
    copy = work / label
    shutil.copytree(tree, copy)
    start = time.perf_counter()
    report = compile_bytecode(copy, target, runner=run_command,
                              interpreter=Interpreter(python, version, "bench"), store=store)
    times.append(time.perf_counter() - start)
print(report.files, report.bytes)
print(times[0])
print(times[1])
"""


def compile_stage(
    packages: Sequence[str], python: str, interpreter: str, work: Path, env: Mapping[str, str]
) -> dict[str, float]:
    """compileall and layerkit's compile step (empty store, warm store) on the same tree."""
    from uv import find_uv_bin

    tree = work / "compile-tree"
    subprocess.run(
        [find_uv_bin(), "pip", "install", "--quiet", "--target", str(tree), "--no-compile",
         "--python-version", python, "--python-platform", "x86_64-manylinux_2_34",
         "--only-binary", ":all:", *packages],
        env=dict(env), check=True,
    )  # fmt: skip
    from layerkit.slim.compile import compile_command
    from layerkit.targets import make_target

    reference = work / "compileall-tree"
    shutil.copytree(tree, reference)
    compileall = run(compile_command(interpreter, reference, make_target(python, "x86_64")),
                     env=env)  # fmt: skip
    version = subprocess.run(
        [interpreter, "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    output = subprocess.run(
        [sys.executable, "-c", COMPILE_SNIPPET, str(tree), str(work / "lk-compile"), interpreter,
         version],
        env=dict(env), capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return {
        "compileall s": compileall.seconds,
        "layerkit compile cold s": float(output[2]),
        "layerkit compile warm s": float(output[3]),
        "pyc files": float(output[0]),
        "pyc MB": int(output[1]) / 1e6,
    }


def read_only_copy(zip_path: Path, dest: Path) -> Path:
    """The layer extracted as Lambda mounts it: nothing in it writable."""
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
    for path in sorted(dest.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    dest.chmod(0o555)
    return dest


def make_writable(root: Path) -> None:
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


# Lambda's sys.path puts /var/task, then the layer's python/lib/pythonX.Y/site-packages and
# python/ before the runtime's own directories; -I -B: a fresh, isolated interpreter that writes
# no bytecode (the layer is read-only anyway).
START_SNIPPET = """
import sys, time
root, modules = sys.argv[1], sys.argv[2].split(",")
sys.path[:0] = [root + "/python/lib/python%d.%d/site-packages" % sys.version_info[:2],
                root + "/python"]
start = time.perf_counter()
for module in modules:
    __import__(module)
print(time.perf_counter() - start)
"""


def cold_start(layer: Path, modules: Sequence[str], interpreter: str) -> float:
    """Best of START_SAMPLES: import `modules` from the extracted `layer` in a fresh process."""
    samples = []
    for _ in range(START_SAMPLES):
        result = subprocess.run(
            [interpreter, "-I", "-B", "-c", START_SNIPPET, str(layer), ",".join(modules)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"importing {modules} from {layer} failed:\n{result.stderr[-2000:]}")
        samples.append(float(result.stdout.strip().splitlines()[-1]))
    return min(samples)


@contextlib.contextmanager
def pypi_like_index(
    packages: Sequence[str], *, python: str, env: Mapping[str, str]
) -> Iterator[str]:
    """The workload's wheels served on 127.0.0.1 as a simple index that sends pypi.org's
    ``Cache-Control: max-age=600, public``; yields its URL.

    A no-op from unpinned requirements must ask the index whether anything changed. uv answers
    that from its HTTP cache while pypi.org's answer is fresh (ten minutes), but a mirror that
    drops the header (as on the machine measured in README.md) makes every resolution
    re-download the index pages. This index shows what the no-op costs against pypi.org itself.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's tests/
    from tests.wheels import serve_index

    platforms = [f"manylinux_2_{minor}_x86_64" for minor in (34, 28, 27, 26, 24, 17)]
    with tempfile.TemporaryDirectory(prefix="layerkit-bench-index-") as tmp:
        wheels = Path(tmp) / "wheels"
        download_wheels(packages, wheels, python=python, platforms=platforms, env=env)
        with serve_index(wheels, Path(tmp), headers=PYPI_CACHE_HEADERS) as url:
            yield url


PYPI_CACHE_HEADERS = {"Cache-Control": "max-age=600, public"}  # what pypi.org sends


def download_wheels(
    packages: Sequence[str],
    dest: Path,
    *,
    python: str,
    platforms: Sequence[str],
    env: Mapping[str, str],
) -> None:
    """pip's choice of wheels of `packages` for CPython `python` on `platforms`, into `dest`."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
         "--implementation", "cp", "--python-version", python,
         *(arg for tag in platforms for arg in ("--platform", tag)),
         "-d", str(dest), *packages],
        env=dict(env), check=True,
    )  # fmt: skip


def one_run(
    name: str,
    packages: Sequence[str],
    results: Results,
    *,
    python: str,
    force: str | None,
    index_url: str,
    interpreter: str,
) -> None:
    with tempfile.TemporaryDirectory(prefix=f"layerkit-bench-{name}-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        (project / "requirements.txt").write_text("".join(f"{p}\n" for p in packages))
        pip_env = clean_env(os.environ, PIP_CACHE_DIR=str(work / "pip-cache"))
        lk_env = clean_env(
            os.environ,
            UV_CACHE_DIR=str(work / "uv-cache"),
            LAYERKIT_CACHE_DIR=str(work / "layerkit-cache"),
            # the target's Python first on PATH: layerkit's default build finds it there
            PATH=f"{Path(interpreter).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )

        # cold, interleaved
        install, zipped, aws_zip = pip_recipe(
            packages, work / "aws-cold", python=python, env=pip_env
        )
        results.add("aws cold s", install.seconds + zipped.seconds)
        results.add("aws peak MB", max(install.peak_rss_mb, zipped.peak_rss_mb))
        lk, lk_zip = layerkit_build(
            project, work / "lk-cold", python=python, env=lk_env, force=False
        )
        results.add("layerkit cold s", lk.seconds)
        results.add("layerkit peak MB", lk.peak_rss_mb)

        # warm, interleaved
        install, zipped, aws_zip = pip_recipe(
            packages, work / "aws-warm", python=python, env=pip_env
        )
        results.add("aws warm s", install.seconds + zipped.seconds)
        results.add("aws install warm s", install.seconds)
        results.add("aws zip MB", aws_zip.stat().st_size / 1e6)
        lk, lk_zip = layerkit_build(
            project, work / "lk-warm", python=python, env=lk_env, force=force is not None
        )
        results.add("layerkit warm s", lk.seconds)
        results.add("layerkit peak MB", lk.peak_rss_mb)
        results.add("layerkit zip MB", lk_zip.stat().st_size / 1e6)
        manifest = manifest_of(lk_zip)
        results.add("layerkit unzipped MiB", int(manifest["unzipped_bytes"]) / 2**20)  # type: ignore[call-overload]
        results.add("layerkit pyc files", int(manifest.get("bytecode_files", 0)))  # type: ignore[call-overload]
        results.add("layerkit pyc MiB", int(manifest.get("bytecode_bytes", 0)) / 2**20)  # type: ignore[call-overload]
        bare, bare_zip = layerkit_build(
            project, work / "lk-bare", python=python, env=lk_env, force=force is not None,
            extra=("--no-compile",),
        )  # fmt: skip
        results.add("layerkit warm no-compile s", bare.seconds)
        results.add("layerkit no-compile unzipped MiB",
                    int(manifest_of(bare_zip)["unzipped_bytes"]) / 2**20)  # type: ignore[call-overload]  # fmt: skip

        # cold start: the same imports from each layer, extracted read-only
        modules = IMPORTS[name]
        for label, layer_zip in (("aws", aws_zip), ("no-compile", bare_zip), ("default", lk_zip)):
            layer = read_only_copy(layer_zip, work / f"start-{label}")
            results.add(f"start {label} s", cold_start(layer, modules, interpreter))
            make_writable(layer)

        # no-op: the same build again into the same output directory, NOOP_SAMPLES times (it
        # takes a tenth of a second, so one sample is mostly noise). Unpinned requirements must
        # ask the index whether anything changed; a lock pins itself.
        for _ in range(NOOP_SAMPLES):
            noop, _ = layerkit_build(
                project, work / "lk-warm", python=python, env=lk_env, force=False
            )
            results.add("layerkit no-op s", noop.seconds)
        lock(project, python=python, env=lk_env)
        locked = functools.partial(
            layerkit_build, project, work / "lk-lock", python=python, env=lk_env, force=False,
            requirements="lock.txt",
        )  # fmt: skip
        locked()  # the build the no-ops find in the cache
        for _ in range(NOOP_SAMPLES):
            noop, _ = locked()
            results.add("layerkit no-op lock s", noop.seconds)
            # the same, printing its usual report (the size chart) instead of --quiet
            noop, _ = locked(quiet=False)
            results.add("layerkit no-op lock text s", noop.seconds)

        # no-op from requirements.txt against an index that sends pypi.org's cache headers
        via_index = functools.partial(
            layerkit_build, project, work / "lk-index", python=python, env=lk_env, force=False,
            extra=("--index-url", index_url),
        )  # fmt: skip
        via_index()  # the build the no-ops find in the cache (and uv's answers from this index)
        for _ in range(NOOP_SAMPLES):
            noop, _ = via_index()
            results.add("layerkit no-op cached index s", noop.seconds)

        # the zip stage alone, on the tree the recipe installed
        zip_r, mine, size_r, size_mine = zip_stage(work / "aws-warm", python, work, pip_env)
        results.add("zip -r s", zip_r.seconds)
        results.add("layerkit zip stage s", mine.seconds)
        results.add("zip -r MB", size_r / 1e6)
        results.add("layerkit same-tree MB", size_mine / 1e6)
        results.add("layerkit zip stage peak MB", mine.peak_rss_mb)

        # the compile stage alone
        for metric, value in compile_stage(
            packages, python, interpreter, work / "compile", lk_env
        ).items():
            results.add(metric, value)


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f} {unit}"


def report(results: Results) -> str:
    m = results.median

    def noop_row(label: str, metric: str) -> tuple[str, str, str, str]:
        seconds, warm = m(metric), m("layerkit warm s")
        share = f"{seconds / warm:.3f} of warm" if seconds and warm else "-"
        return (label, "-", fmt(seconds, "s"), share)

    rows = [
        ("cold build", fmt(m("aws cold s"), "s"), fmt(m("layerkit cold s"), "s"),
         ratio(m("aws cold s"), m("layerkit cold s"))),
        ("warm build", fmt(m("aws warm s"), "s"), fmt(m("layerkit warm s"), "s"),
         ratio(m("aws warm s"), m("layerkit warm s"))),
        noop_row("no-op rebuild, lock", "layerkit no-op lock s"),
        noop_row("no-op, lock, text output", "layerkit no-op lock text s"),
        noop_row("no-op, requirements.txt", "layerkit no-op s"),
        noop_row("no-op, req.txt, PyPI headers", "layerkit no-op cached index s"),
        ("zip stage, same tree", fmt(m("zip -r s"), "s"), fmt(m("layerkit zip stage s"), "s"),
         ratio(m("zip -r s"), m("layerkit zip stage s"))),
        ("zip size, same tree", fmt(m("zip -r MB"), "MB"), fmt(m("layerkit same-tree MB"), "MB"),
         f"{m('layerkit same-tree MB') / m('zip -r MB'):.3f} of zip -r"
         if m("zip -r MB") and m("layerkit same-tree MB") else "-"),
        ("layer zip (each recipe)", fmt(m("aws zip MB"), "MB"), fmt(m("layerkit zip MB"), "MB"),
         ratio(m("aws zip MB"), m("layerkit zip MB"))),
        ("peak RSS, build", fmt(m("aws peak MB"), "MB"), fmt(m("layerkit peak MB"), "MB"), ""),
        ("peak RSS, zip stage", "", fmt(m("layerkit zip stage peak MB"), "MB"), ""),
        ("warm build, --no-compile", fmt(m("aws warm s"), "s"),
         fmt(m("layerkit warm no-compile s"), "s"),
         ratio(m("aws warm s"), m("layerkit warm no-compile s"))),
        ("unzipped, default", "", fmt(m("layerkit unzipped MiB"), "MiB"),
         f"{m('layerkit pyc files'):.0f} .pyc, {m('layerkit pyc MiB'):.1f} MiB"
         if m("layerkit pyc files") is not None else "-"),
        ("unzipped, --no-compile", "", fmt(m("layerkit no-compile unzipped MiB"), "MiB"), ""),
        ("compile stage: compileall", "", fmt(m("compileall s"), "s"),
         f"{m('pyc files'):.0f} .pyc, {m('pyc MB'):.1f} MB" if m("pyc files") else "-"),
        ("compile stage: empty store", "", fmt(m("layerkit compile cold s"), "s"),
         ratio(m("compileall s"), m("layerkit compile cold s"))),
        ("compile stage: warm store", "", fmt(m("layerkit compile warm s"), "s"),
         ratio(m("compileall s"), m("layerkit compile warm s"))),
        ("cold start: recipe's layer", "", fmt(m("start aws s"), "s"), ""),
        ("cold start: --no-compile", "", fmt(m("start no-compile s"), "s"), ""),
        ("cold start: default", "", fmt(m("start default s"), "s"),
         f"{ratio(m('start no-compile s'), m('start default s'))} vs --no-compile, "
         f"{ratio(m('start aws s'), m('start default s'))} vs recipe"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    lines = [
        f"{results.workload}: {' '.join(WORKLOADS[results.workload])} "
        f"(median of {len(results.runs.get('layerkit warm s', []))} runs)",
        f"  {'':{width}}  {'AWS recipe':>12}  {'layerkit':>12}  ratio",
    ]
    lines += [f"  {a:{width}}  {b:>12}  {c:>12}  {d}" for a, b, c, d in rows]
    return "\n".join(lines)


def _installed(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(name)
    except PackageNotFoundError:
        return "not installed"
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    editable = direct_url.get("dir_info", {}).get("editable", False)
    return f"{dist.version}{' (editable)' if editable else ''}"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    zip_version = subprocess.run(["zip", "-v"], capture_output=True, text=True, check=False)
    return {
        "cpu": cpu,
        "cores": str(len(os.sched_getaffinity(0))),
        "python": platform.python_version(),
        "os": platform.platform(),
        "zip": next((ln.strip() for ln in zip_version.stdout.splitlines() if "Zip 3" in ln), "?"),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        # start-up is most of a no-op rebuild: the CLI library, and how layerkit is installed
        "layerkit": _installed("layerkit"),
        "typer": _installed("typer"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--python", default="3.12")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if not shutil.which("zip"):
        parser.error("the recipe needs Info-ZIP `zip` on PATH (apt-get install zip)")
    force = "--force" if layerkit_has("--force") else None
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's tests/
    from tests.interpreters import find_python

    interpreter = find_python(args.python)
    if interpreter is None:
        parser.error(f"no Python {args.python} here: `uv python install {args.python}`")
    info = machine()
    info["target interpreter"] = interpreter
    print(" | ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    if force is None:
        print(
            "note: this layerkit has no --force: its 'warm' build may be served by no cache at all"
        )
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    all_results = []
    for name in names:
        results = Results(name)
        packages = WORKLOADS[name]
        with pypi_like_index(packages, python=args.python, env=clean_env(os.environ)) as url:
            for index in range(args.runs):
                print(f"{name}: run {index + 1}/{args.runs}", file=sys.stderr, flush=True)
                one_run(name, packages, results, python=args.python, force=force, index_url=url,
                        interpreter=interpreter)  # fmt: skip
        print(report(results), flush=True)
        all_results.append(results)
    info["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average after: {info['load_after']}")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "results": [asdict(r) for r in all_results]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
