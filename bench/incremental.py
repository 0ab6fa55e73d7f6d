"""Benchmark for issue 18: many small distributions, target matrices, incremental rebuilds.

    python bench/incremental.py                       # every workload, 1 run each
    python bench/incremental.py --runs 3 --workload bump --json results.json

Workloads (target python3.12 x86_64 unless said; the same clean pip/uv configuration, PyPI,
interleaving and peak-RSS measure as bench/run.py, whose helpers this script uses):

  many    the distributions that bench/many-distributions.in resolves to (boto3, flask, httpx,
          rich... 84 mostly pure-Python distributions), from a lock made by `uv pip compile`:
          the AWS recipe (`pip install --platform ... NAMES` + `zip -r`: it cannot take the lock,
          see below) vs `layerkit build -r lock`, cold (empty installer caches) and warm
          (layerkit --force, so its build cache is bypassed; its bytecode and member stores
          are warm); then layerkit warm for the same names locked for python3.11 (glibc 2.26)
  matrix  numpy + pandas: layerkit warm (--force) for one target (and for python3.11 x86_64
          alone, an Amazon Linux 2 target that pip resolves), then for 4 targets
          (3.11/3.12 x x86_64/arm64) with --jobs 1, the default (4 on 2 cores) and --jobs 4;
          --no-compile on every side, so the targets' interpreters do not matter. Memory: the
          peak RSS of the largest process (wait4), and the PSS of all the build's processes at
          once, installers included (sampled every 20 ms and summed; see run.TreeMemory)
  matrix-pypi-like
          the matrix's 1 target and 4 targets (default jobs) against a local index of the same
          wheels sending pypi.org's Cache-Control (this machine's PyPI mirror drops it, so every
          uv run re-downloads the index pages; see matrix_pypi_like)
  bump    numpy + pandas + pyarrow from a lock pinning six==1.16.0 (a small dependency of the
          data stack, via python-dateutil): after a build of that lock, the lock with
          six==1.17.0 is built (a cache miss, rebuilt by parts: only six is installed,
          processed and compressed; the rest is copied from the cached zip, see
          layerkit/layerparts.py). Against it, the full warm build of the bumped lock (--force)
          with the member store removed first (cold) and again with it warm, and the recipe's
          warm build of numpy pandas pyarrow (pip's cache warm; like bench/run.py's, it resolves
          the names itself: pip's manylinux2014 tags cannot install the lock's newest
          releases). The rebuild's zip must be the forced build's, byte for byte

Every figure line carries the load average when it was measured: on a shared machine the ratios
between interleaved runs mean more than the times. Timing is asserted nowhere.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PYPI_CACHE_HEADERS, Measure, clean_env, download_wheels, machine, pip_recipe, run

HERE = Path(__file__).resolve().parent
DATA = ("numpy", "pandas", "pyarrow")
MATRIX = ("numpy", "pandas")
SMALL_DEPENDENCY = ("six", "1.16.0", "1.17.0")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


class Figures:
    """Samples per metric, each with the load average when it was taken."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, str]]] = {}

    def add(self, metric: str, value: float) -> None:
        self.samples.setdefault(metric, []).append((value, load()))
        print(f"  {metric}: {value:.2f} (load {load()})", file=sys.stderr, flush=True)

    def median(self, metric: str) -> float | None:
        values = [v for v, _ in self.samples.get(metric, [])]
        return statistics.median(values) if values else None

    def loads(self, metric: str) -> str:
        return "; ".join(f"{v:.2f} @ {where}" for v, where in self.samples.get(metric, []))


def layerkit(project: Path, out: Path, *, env: Mapping[str, str], args: Sequence[str]) -> Measure:
    return run(
        [sys.executable, "-m", "layerkit", "build", str(project), "--name", "bench",
         "-o", str(out), "--quiet", *args],
        env=env,
    )  # fmt: skip


def compile_lock(
    specs: Sequence[str], dest: Path, *, python: str, env: Mapping[str, str],
    platform: str = "x86_64-manylinux_2_34",
) -> int:  # fmt: skip
    """`uv pip compile` of `specs` for python `python` on `platform` into `dest`; the pin
    count. (An Amazon Linux 2 target takes manylinux_2_17, the newest uv names below its 2.26.)"""
    from uv import find_uv_bin

    source = dest.with_suffix(".in")
    source.write_text("".join(f"{s}\n" for s in specs))
    subprocess.run(
        [find_uv_bin(), "pip", "compile", "--python", sys.executable, "--python-version", python,
         "--python-platform", platform, "--only-binary", ":all:", "--no-header",
         "--no-annotate", "--quiet", str(source), "-o", str(dest)],
        env=dict(env), check=True,
    )  # fmt: skip
    return sum(1 for line in dest.read_text().splitlines() if "==" in line)


def envs(work: Path, interpreter: str | None) -> tuple[dict[str, str], dict[str, str]]:
    pip_env = clean_env(os.environ, PIP_CACHE_DIR=str(work / "pip-cache"))
    path = os.environ.get("PATH", "")
    if interpreter is not None:
        path = f"{Path(interpreter).parent}{os.pathsep}{path}"
    lk_env = clean_env(
        os.environ,
        UV_CACHE_DIR=str(work / "uv-cache"),
        LAYERKIT_CACHE_DIR=str(work / "layerkit-cache"),
        PATH=path,
    )
    return pip_env, lk_env


def many(figures: Figures, work: Path, interpreter: str | None) -> None:
    pip_env, lk_env = envs(work, interpreter)
    specs = [s for s in (HERE / "many-distributions.in").read_text().split() if s]
    lock = work / "many.txt"
    figures.add("many: distributions", compile_lock(specs, lock, python="3.12", env=lk_env))
    target = ("-r", str(lock), "--python", "3.12", "--arch", "x86_64")
    project = work / "project"
    project.mkdir()
    for phase in ("cold", "warm"):
        # The recipe cannot take the lock: pip's manylinux2014 tags miss newer releases' wheels
        # (and pip checks Requires-Python against its own interpreter), so it resolves the
        # same names itself, as bench/run.py's recipe does.
        install, zipped, _ = pip_recipe(specs, work / f"aws-{phase}", python="3.12", env=pip_env)
        figures.add(f"many: recipe {phase} s", install.seconds + zipped.seconds)
        force = ("--force",) if phase == "warm" else ()
        built = layerkit(project, work / f"lk-{phase}", env=lk_env, args=(*target, *force))
        figures.add(f"many: layerkit {phase} s", built.seconds)
        figures.add(f"many: layerkit {phase} peak MB", built.peak_rss_mb)
    manifest = json.loads(next((work / "lk-warm").glob("bench-*.json")).read_text())
    figures.add("many: files", manifest["file_count"])
    figures.add("many: unzipped MiB", manifest["unzipped_bytes"] / 2**20)
    # The same names locked for python3.11, an Amazon Linux 2 target (glibc 2.26, which uv
    # cannot name: see layerkit.uvchoice), built once to fill the caches, then warm.
    lock_311 = work / "many-311.txt"
    compile_lock(specs, lock_311, python="3.11", env=lk_env, platform="x86_64-manylinux_2_17")
    on_311 = ("-r", str(lock_311), "--python", "3.11", "--arch", "x86_64")
    layerkit(project, work / "lk-311-cold", env=lk_env, args=on_311)
    built = layerkit(project, work / "lk-311-warm", env=lk_env, args=(*on_311, "--force"))
    figures.add("many: layerkit warm python3.11 s", built.seconds)


def matrix(figures: Figures, work: Path, interpreter: str | None) -> None:
    _pip_env, lk_env = envs(work, interpreter)
    project = work / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("".join(f"{p}\n" for p in MATRIX))
    one = ("--python", "3.12", "--arch", "x86_64", "--no-compile")
    four = ("--python", "3.11", "--python", "3.12", "--arch", "x86_64", "--arch", "arm64",
            "--no-compile")  # fmt: skip
    layerkit(project, work / "warm-up", env=lk_env, args=four)  # fills the installers' caches
    figures.add("matrix: 1 target s", layerkit(project, work / "one", env=lk_env,
                                               args=(*one, "--force")).seconds)  # fmt: skip
    # An Amazon Linux 2 target (glibc 2.26) alone: pip resolves it, which uv cannot do exactly.
    al2 = ("--python", "3.11", "--arch", "x86_64", "--no-compile", "--force")
    figures.add("matrix: 1 target python3.11 s",
                layerkit(project, work / "one-3.11", env=lk_env, args=al2).seconds)  # fmt: skip
    for jobs in ("1", "default", "4"):
        extra = () if jobs == "default" else ("--jobs", jobs)
        built = layerkit(
            project, work / f"four-{jobs}", env=lk_env, args=(*four, "--force", *extra)
        )
        figures.add(f"matrix: 4 targets jobs {jobs} s", built.seconds)
        figures.add(f"matrix: 4 targets jobs {jobs} peak MB", built.peak_rss_mb)
        figures.add(f"matrix: 4 targets jobs {jobs} all processes MB", built.tree_pss_mb)


def matrix_pypi_like(figures: Figures, work: Path, interpreter: str | None) -> None:
    """`matrix` against a local index of the same wheels that sends pypi.org's cache header.

    The PyPI this machine reaches drops ``Cache-Control`` (see bench/run.py's
    `pypi_like_index`), so every ``uv pip`` run of a build re-downloads numpy's and pandas'
    pages; a build of 4 targets makes about twenty such runs. Here they are answered from uv's
    HTTP cache while fresh, as they are from pypi.org, and what is left is layerkit's own work.
    The index holds the releases each target's resolution and old-versions probe consider:
    for python3.11 the newest wheels for glibc 2.26 (numpy 2.2.6) and for newer glibc (2.4.x)."""
    pip_env, lk_env = envs(work, interpreter)
    wheels = work / "wheels"
    versions = (("3.11", 26), ("3.11", 40), ("3.12", 40))  # python, the newest glibc minor
    for (python, newest_glibc), arch in itertools.product(versions, ("x86_64", "aarch64")):
        platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(newest_glibc, 16, -1)]
        download_wheels(MATRIX, wheels, python=python, platforms=platforms, env=pip_env)
    from tests.wheels import serve_index

    with serve_index(wheels, work / "index", headers=PYPI_CACHE_HEADERS) as url:
        project = work / "project"
        project.mkdir()
        (project / "requirements.txt").write_text("".join(f"{p}\n" for p in MATRIX))
        index = ("--index-url", url, "--no-compile")
        one = ("--python", "3.12", "--arch", "x86_64", *index)
        four = ("--python", "3.11", "--python", "3.12", "--arch", "x86_64", "--arch", "arm64",
                *index)  # fmt: skip
        layerkit(project, work / "warm-up", env=lk_env, args=four)
        figures.add("matrix, pypi-like index: 1 target s",
                    layerkit(project, work / "one", env=lk_env,
                             args=(*one, "--force")).seconds)  # fmt: skip
        built = layerkit(project, work / "four", env=lk_env, args=(*four, "--force"))
        figures.add("matrix, pypi-like index: 4 targets s", built.seconds)
        figures.add("matrix, pypi-like index: 4 targets peak MB", built.peak_rss_mb)
        figures.add("matrix, pypi-like index: 4 targets all processes MB", built.tree_pss_mb)


def bump(figures: Figures, work: Path, interpreter: str | None) -> None:
    pip_env, lk_env = envs(work, interpreter)
    name, old, new = SMALL_DEPENDENCY
    before, after = work / "before.txt", work / "after.txt"
    compile_lock([*DATA, f"{name}=={old}"], before, python="3.12", env=lk_env)
    compile_lock([*DATA, f"{name}=={new}"], after, python="3.12", env=lk_env)
    project = work / "project"
    project.mkdir()
    target = ("--python", "3.12", "--arch", "x86_64")
    cache = Path(lk_env["LAYERKIT_CACHE_DIR"])
    # the recipe resolves the names itself (see `many`)
    pip_recipe(DATA, work / "aws-cold", python="3.12", env=pip_env)  # warms pip's cache
    layerkit(project, work / "lk", env=lk_env, args=("-r", str(before), *target))
    bumped = layerkit(project, work / "lk", env=lk_env, args=("-r", str(after), *target))
    figures.add("bump: rebuild after bumping s", bumped.seconds)
    rebuilt_sha256 = _zip_sha256(work / "lk")
    install, zipped, _ = pip_recipe(DATA, work / "aws-warm", python="3.12", env=pip_env)
    figures.add("bump: recipe warm s", install.seconds + zipped.seconds)
    shutil.rmtree(cache / "members")
    cold = layerkit(project, work / "lk", env=lk_env, args=("-r", str(after), *target, "--force"))
    figures.add("bump: warm build, member store cold s", cold.seconds)
    warm = layerkit(project, work / "lk", env=lk_env, args=("-r", str(after), *target, "--force"))
    figures.add("bump: warm build, member store warm s", warm.seconds)
    if _zip_sha256(work / "lk") != rebuilt_sha256:
        raise SystemExit("bump: the rebuild's zip is not the forced build's")
    figures.add("bump: peak MB", max(bumped.peak_rss_mb, cold.peak_rss_mb, warm.peak_rss_mb))


def _zip_sha256(out: Path) -> str:
    return str(json.loads(next(out.glob("bench-*.json")).read_text())["sha256"])


WORKLOADS = {"many": many, "matrix": matrix, "matrix-pypi-like": matrix_pypi_like, "bump": bump}


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def report(figures: Figures) -> str:
    m = figures.median
    lines = [f"  {metric}: median {m(metric):.2f} ({figures.loads(metric)})"
             for metric in figures.samples]  # fmt: skip
    pairs = [
        ("many, warm: recipe / layerkit", "many: recipe warm s", "many: layerkit warm s"),
        ("many, cold: recipe / layerkit", "many: recipe cold s", "many: layerkit cold s"),
        ("many, warm: python3.11 / python3.12", "many: layerkit warm python3.11 s",
         "many: layerkit warm s"),
        ("matrix: 4 targets (default jobs) / 1 target", "matrix: 4 targets jobs default s",
         "matrix: 1 target s"),
        ("matrix: 4 targets (jobs 1) / 1 target", "matrix: 4 targets jobs 1 s",
         "matrix: 1 target s"),
        ("matrix: python3.11 target / python3.12 target", "matrix: 1 target python3.11 s",
         "matrix: 1 target s"),
        ("matrix, pypi-like index: 4 targets / 1 target", "matrix, pypi-like index: 4 targets s",
         "matrix, pypi-like index: 1 target s"),
        ("bump: rebuild / warm build (members cold)", "bump: rebuild after bumping s",
         "bump: warm build, member store cold s"),
        ("bump: rebuild / warm build (members warm)", "bump: rebuild after bumping s",
         "bump: warm build, member store warm s"),
        ("data warm, members warm: recipe / layerkit", "bump: recipe warm s",
         "bump: warm build, member store warm s"),
        ("data warm, members cold: recipe / layerkit", "bump: recipe warm s",
         "bump: warm build, member store cold s"),
    ]  # fmt: skip
    lines.append("ratios (medians):")
    lines += [f"  {label} = {ratio(m(a), m(b))}" for label, a, b in pairs]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))  # the repository's tests/
    from tests.interpreters import find_python

    interpreter = find_python("3.12")
    info = machine()
    print(" | ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    figures = Figures()
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    for index in range(args.runs):
        for name in names:
            print(f"{name}: run {index + 1}/{args.runs} (load {load()})", file=sys.stderr,
                  flush=True)  # fmt: skip
            with tempfile.TemporaryDirectory(prefix=f"layerkit-bench18-{name}-") as tmp:
                WORKLOADS[name](figures, Path(tmp), interpreter)
    print(report(figures), flush=True)
    print(f"load average after: {load()}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "samples": figures.samples}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
