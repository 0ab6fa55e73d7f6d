"""The resolution that keys the build cache and names the wheel hashes sees every wheel the target
takes: uv's for 3.12+; for python3.9-3.11 (glibc 2.26, which uv cannot name: its
--python-platform jumps from manylinux_2_17 to 2_28) uv's for manylinux_2_28 when each release
it takes there has a wheel for the target, else pip's with the target's tags (manylinux_2_17..2_26).

Were uv to resolve for manylinux_2_17, a release only pip takes (a manylinux_2_26 wheel) would be
missed by the cache key (a stale hit) and its wheel's hash by the manifest.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from layerkit.build_model import BuildContext, TargetBuild
from layerkit.cache import BuildCache
from layerkit.config import load_project, resolve_build_settings
from layerkit.installer import (
    CommandResult,
    CommandRunner,
    InstallerBackend,
    UvBackend,
    run_command,
)
from layerkit.targets import make_target
from layerkit.workflow import build_layers
from tests.build_fixtures import make_project
from tests.elf_fixtures import EM_X86_64, Need, make_elf
from tests.support import isolated_env, run_cli
from tests.wheels import make_wheel, serve_index, write_simple_index

SO = make_elf(EM_X86_64, [Need("libc.so.6", "GLIBC_2.17", "strlen")])


def _skew(directory: Path, version: str, manylinux: str) -> Path:
    return make_wheel(directory, "skew", version, tag=f"cp311-abi3-manylinux_{manylinux}_x86_64",
                      files={"skew/_c.abi3.so": SO})  # fmt: skip


@pytest.fixture
def skewed(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """An index where uv@manylinux_2_17 picks skew 1.0 and pip@2_26 picks 2.0; yields the
    wheels' directory, the served root (to add releases) and the index URL."""
    dists = tmp_path / "dists"
    _skew(dists, "1.0", "2_17")
    _skew(dists, "2.0", "2_26")
    work = tmp_path / "index"
    # no-cache: a page changed since its max-age ran out (uv would keep it fresh otherwise)
    with serve_index(dists, work, headers={"Cache-Control": "no-cache"}) as url:
        yield dists, work / "index-root", url


def _publish(dists: Path, root: Path, wheel: Path) -> None:
    """A new release appears on the served index."""
    shutil.copyfile(wheel, root / "files" / wheel.name)
    write_simple_index(dists, root / "simple")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(project: Path, out: Path, url: str, env: dict[str, str]) -> dict[str, object]:
    result = run_cli("build", str(project), "--python", "3.11", "--arch", "x86_64",
                     "--index-url", url, "-o", str(out), "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    build: dict[str, object] = json.loads(result.stdout)["builds"][0]
    return build


def _skew_in(build: Mapping[str, object]) -> dict[str, str]:
    manifest = json.loads(Path(str(build["manifest_path"])).read_text())
    (skew,) = [d for d in manifest["distributions"] if d["name"] == "skew"]
    return {"version": skew["version"], "wheel_sha256": skew["wheel_sha256"]}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache"),
                         "LAYERKIT_CACHE_DIR": str(tmp_path / "layerkit-cache")})  # fmt: skip


def test_manifest_names_the_wheel_pip_installed(
    tmp_path: Path, skewed: tuple[Path, Path, str], env: dict[str, str]
) -> None:
    dists, _root, url = skewed
    build = _build(make_project(tmp_path, "skew\n"), tmp_path / "out", url, env)
    installed = dists / "skew-2.0-cp311-abi3-manylinux_2_26_x86_64.whl"
    assert _skew_in(build) == {"version": "2.0", "wheel_sha256": _sha256(installed)}


def test_a_package_with_only_manylinux_2_26_wheels_builds(
    tmp_path: Path, env: dict[str, str]
) -> None:
    dists = tmp_path / "dists"
    wheel = make_wheel(dists, "only226", "1.0", tag="cp311-abi3-manylinux_2_26_x86_64",
                       files={"only226/_c.abi3.so": SO})  # fmt: skip
    with serve_index(dists, tmp_path / "index") as url:
        build = _build(make_project(tmp_path, "only226\n"), tmp_path / "out", url, env)
    manifest = json.loads(Path(str(build["manifest_path"])).read_text())
    assert [(d["name"], d["wheel_sha256"]) for d in manifest["distributions"]] == [
        ("only226", _sha256(wheel))
    ]


def test_a_release_only_pip_takes_is_not_served_from_the_cache(
    tmp_path: Path, skewed: tuple[Path, Path, str], env: dict[str, str]
) -> None:
    dists, root, url = skewed
    project = make_project(tmp_path, "skew\n")
    first = _build(project, tmp_path / "out", url, env)
    again = _build(project, tmp_path / "out", url, env)
    assert (first["cached"], again["cached"]) == (False, True)  # unchanged inputs: reused

    newer = _skew(dists, "3.0", "2_26")  # no manylinux_2_17 wheel: uv@2_17 would not see it
    _publish(dists, root, newer)
    rebuilt = _build(project, tmp_path / "out", url, env)
    assert rebuilt["cached"] is False
    assert _skew_in(rebuilt) == {"version": "3.0", "wheel_sha256": _sha256(newer)}


def test_version_notes_see_what_pip_can_install(
    tmp_path: Path, skewed: tuple[Path, Path, str], env: dict[str, str]
) -> None:
    dists, _root, url = skewed
    project = make_project(tmp_path, "skew\n")
    assert _build(project, tmp_path / "out", url, env)["notes"] == []  # 2.0 is the newest
    _skew(dists, "3.0", "2_28")  # beyond glibc 2.26; on another index (uv caches the first)
    with serve_index(dists, tmp_path / "index-3") as url_3:
        notes = _build(project, tmp_path / "out", url_3, env)["notes"]
    assert notes == [
        "skew 2.0: newer releases (up to 3.0) have no wheel for python3.11 x86_64 / glibc 2.26"
    ]


def _quiet(
    backend: InstallerBackend, runner: CommandRunner, env: dict[str, str], *, resolver: UvBackend,
    cache: BuildCache | None = None,
) -> BuildContext:  # fmt: skip
    """A build context on this machine that prints nothing."""
    return BuildContext(backend=backend, runner=runner, env=env, progress=lambda _m: None,
                        warn=lambda _m: None, which=shutil.which,
                        host_machine=platform.machine(), resolver=resolver, cache=cache)  # fmt: skip


class _Recording:
    """The real runner, remembering every command line."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        self.commands.append(tuple(argv))
        return run_command(argv, env=env, cwd=cwd)


def test_each_target_is_resolved_by_the_installer_that_installs_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from uv import find_uv_bin

    dists = tmp_path / "dists"
    for python in ("cp311", "cp312"):
        make_wheel(dists, "natpkg", "1.0", tag=f"{python}-{python}-manylinux_2_17_x86_64")
    project = make_project(tmp_path, "natpkg\n")
    with serve_index(dists, tmp_path / "index") as url:
        settings = resolve_build_settings(
            load_project(project),
            {"python": ("3.11", "3.12"), "arch": ("x86_64",), "index-url": url,
             "output": str(tmp_path / "out")},
        )  # fmt: skip
        uv = UvBackend(uv=find_uv_bin(), python=shutil.which("python3") or "python3")
        runner = _Recording()
        ctx = _quiet(uv, runner, env, resolver=uv, cache=BuildCache(tmp_path / "cache"))
        build_layers(settings, ctx)

    def resolutions(python: str) -> list[tuple[str, ...]]:
        locks = [c for c in runner.commands if "--format" in c and "pylock.toml" in c]
        reports = [c for c in runner.commands if "--report" in c]
        return [c for c in locks + reports if python in c and "--no-deps" not in c]

    (for_312,) = resolutions("3.12")
    assert for_312[:3] == (uv.uv, "pip", "compile")
    assert for_312[for_312.index("--python-platform") + 1] == "x86_64-manylinux_2_34"
    # glibc 2.26, which uv cannot name: uv for the next platform it can (manylinux_2_28), whose
    # choice (natpkg 1.0) has a wheel for the target; so pip is not asked.
    (for_311,) = resolutions("3.11")
    assert for_311[:3] == (uv.uv, "pip", "compile")
    assert for_311[for_311.index("--python-platform") + 1] == "x86_64-manylinux_2_28"
    assert for_311[for_311.index("--index-url") + 1] == url
    assert not [c for c in runner.commands if c[1:3] == ("-m", "pip")]


def test_a_release_without_a_wheel_for_the_target_is_passed_over_as_pip_does(
    tmp_path: Path, skewed: tuple[Path, Path, str], env: dict[str, str]
) -> None:
    """uv for manylinux_2_28 takes skew 3.0, which only loads on glibc 2.28: the index's page
    shows the newest release the target takes, 2.0 (manylinux_2_26), and uv held to it takes
    its wheel, as pip does, without pip."""
    dists, root, url = skewed
    _publish(dists, root, _skew(dists, "3.0", "2_28"))
    build = _build(make_project(tmp_path, "skew\n"), tmp_path / "out", url, env)
    installed = dists / "skew-2.0-cp311-abi3-manylinux_2_26_x86_64.whl"
    assert _skew_in(build) == {"version": "2.0", "wheel_sha256": _sha256(installed)}
    manifest = json.loads(Path(str(build["manifest_path"])).read_text())
    assert (manifest["installer"], manifest["resolver"]) == ("uv", "")


def test_the_dry_run_is_the_install_command_plus_its_report(tmp_path: Path) -> None:
    from layerkit.config import IndexOptions
    from layerkit.installer import InstallRequest, PipBackend

    index = IndexOptions(index_url="https://mirror.example/simple",
                         extra_index_urls=("https://extra.example/simple",),
                         find_links=("/wheels",))  # fmt: skip
    request = InstallRequest(make_target("3.10", "arm64"), tmp_path / "t", requirements=("a>1",),
                             index=index)  # fmt: skip
    pip = PipBackend(python="/host/python")
    report = pip.report_command(request, tmp_path / "r.json")
    assert report == [
        "/host/python", "-m", "pip", "install",
        "--dry-run", "--ignore-installed", "--report", str(tmp_path / "r.json"), "--quiet",
        *pip.command(request)[4:],
    ]  # fmt: skip
    assert report[-7:] == ["--index-url", "https://mirror.example/simple", "--extra-index-url",
                           "https://extra.example/simple", "--find-links", "/wheels", "a>1"]  # fmt: skip


REPORT = {
    "version": "1",
    "install": [
        {"metadata": {"name": "Skew", "version": "2.0"},
         "download_info": {"url": "http://127.0.0.1/files/skew-2.0-cp311-abi3-manylinux_2_26_x86_64.whl",
                           "archive_info": {"hash": "sha256=aa", "hashes": {"sha256": "aa"}}}},
        {"metadata": {"name": "old_hash", "version": "1.0"},
         "download_info": {"url": "http://127.0.0.1/files/old_hash-1.0-py3-none-any.whl",
                           "archive_info": {"hash": "sha256=bb"}}},
        {"metadata": {"name": "local", "version": "0.1"},
         "download_info": {"url": "file:///w/local-0.1-py3-none-any.whl", "archive_info": {}}},
    ],
}  # fmt: skip


def test_a_pip_report_gives_pins_and_the_hash_of_each_wheel() -> None:
    from layerkit.provenance import installed_wheel_sha256, pip_report_resolution

    resolution = pip_report_resolution(json.dumps(REPORT))
    assert resolution.pins == "Skew==2.0\nold_hash==1.0\nlocal==0.1\n"
    tags = {"cp311-abi3-manylinux_2_26_x86_64"}
    assert installed_wheel_sha256("skew", "2.0", tags, resolution.wheels) == "aa"
    assert installed_wheel_sha256("old-hash", "1.0", {"py3-none-any"}, resolution.wheels) == "bb"
    assert installed_wheel_sha256("local", "0.1", {"py3-none-any"}, resolution.wheels) == ""


def test_the_version_note_of_a_glibc_2_26_target_asks_pip_only_when_uv_cannot_tell(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """uv for manylinux_2_28 takes pkg 1.0, whose manylinux_2_24 wheel loads on glibc 2.26: 1.0 is
    the newest the target can take, and 2.0 (manylinux_2_34 only) earns the note; pip is not
    run, for the note or the resolution."""
    from uv import find_uv_bin

    dists = tmp_path / "dists"
    make_wheel(dists, "pkg", "1.0", tag="cp311-abi3-manylinux_2_24_x86_64")
    make_wheel(dists, "pkg", "2.0", tag="cp311-abi3-manylinux_2_34_x86_64")
    with serve_index(dists, tmp_path / "index") as url:
        settings = resolve_build_settings(
            load_project(make_project(tmp_path, "pkg\n")),
            {"python": ("3.11",), "arch": ("x86_64",), "index-url": url, "compile": False,
             "output": str(tmp_path / "out")},
        )  # fmt: skip
        uv = UvBackend(uv=find_uv_bin(), python=shutil.which("python3") or "python3")
        runner = _Recording()
        (build,) = build_layers(settings, _quiet(uv, runner, env, resolver=uv)).builds
    assert [(d.name, d.version) for d in build.manifest.distributions] == [("pkg", "1.0")]
    assert build.notes[0] == (
        "pkg 1.0: newer releases (up to 2.0) have no wheel for python3.11 x86_64 / glibc 2.26"
    )
    assert not [c for c in runner.commands if c[1:3] == ("-m", "pip")]


def test_uv_held_to_the_releases_the_target_takes_resolves_as_pip_does(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """uv for manylinux_2_28 takes releases the target cannot load; the index's pages say which
    it can, and uv resolves again within them (`layerkit.uvchoice`):

    - numlike 1.1 and 1.2 ship only manylinux_2_28 wheels (as numpy 2.3+ does): held to <=1.0;
    - pdlike 2.0's one wheel is tagged manylinux_2_24 and 2_28 (as pandas 2.3 is), 3.0 only
      2_28: held to <=2.0, and the target takes 2.0;
    - gap 2.0 (manylinux_2_24) needs a dep release that does not exist, so uv falls back to 1.5
      (manylinux_2_28 only): held to !=1.5, it takes 1.0, as pip does;
    - dep 1.0, which every resolution takes, comes as the manylinux_2_24 file pip prefers.

    pip does not run, and the layer is the one pip alone builds (but INSTALLER and RECORD)."""
    import zipfile

    from uv import find_uv_bin

    from layerkit.installer import PipBackend

    dists = tmp_path / "dists"
    make_wheel(dists, "numlike", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64",
               requires=["dep"], files={"numlike/__init__.py": b"V = '1.0'\n"})  # fmt: skip
    for version in ("1.1", "1.2"):
        make_wheel(dists, "numlike", version, tag="cp311-cp311-manylinux_2_28_x86_64",
                   requires=["dep"])  # fmt: skip
    make_wheel(dists, "pdlike", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    make_wheel(dists, "pdlike", "2.0",
               tag="cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64")  # fmt: skip
    make_wheel(dists, "pdlike", "3.0", tag="cp311-cp311-manylinux_2_28_x86_64")
    make_wheel(dists, "gap", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    make_wheel(dists, "gap", "1.5", tag="cp311-cp311-manylinux_2_28_x86_64")
    make_wheel(dists, "gap", "2.0", tag="cp311-cp311-manylinux_2_24_x86_64", requires=["dep>=2"])
    for tag in ("2_17", "2_24"):
        make_wheel(dists, "dep", "1.0", tag=f"cp311-abi3-manylinux_{tag}_x86_64",
                   files={"dep/__init__.py": f"TAG = {tag!r}\n".encode()})  # fmt: skip
    uv = UvBackend(uv=find_uv_bin(), python=shutil.which("python3") or "python3")
    layers: dict[str, dict[str, bytes]] = {}
    runners: dict[str, _Recording] = {}
    with serve_index(dists, tmp_path / "index") as url:
        for backend in (uv, PipBackend(python=shutil.which("python3") or "python3")):
            settings = resolve_build_settings(
                load_project(make_project(tmp_path / backend.name, "numlike\npdlike\ngap\n")),
                {"python": ("3.11",), "arch": ("x86_64",), "index-url": url, "compile": False,
                 "output": str(tmp_path / backend.name / "out")},
            )  # fmt: skip
            runners[backend.name] = runner = _Recording()
            (build,) = build_layers(settings, _quiet(backend, runner, env, resolver=uv)).builds
            with zipfile.ZipFile(build.zip_path) as archive:
                layers[backend.name] = {n: archive.read(n) for n in archive.namelist()}
            versions = {(d.name, d.version) for d in build.manifest.distributions}
            assert versions == {("numlike", "1.0"), ("pdlike", "2.0"), ("gap", "1.0"),
                                ("dep", "1.0")}, backend.name  # fmt: skip
            if backend is uv:
                assert (build.manifest.installer, build.manifest.resolver) == ("uv", "")
    assert not [c for c in runners["uv"].commands if c[1:3] == ("-m", "pip")]
    held = [c for c in runners["uv"].commands if "--constraint" in c]
    assert held, "uv resolved again within the releases the target takes"
    site = make_target("3.11", "x86_64").site_packages
    assert layers["uv"][f"{site}/dep/__init__.py"] == b"TAG = '2_24'\n"
    assert sorted(layers["uv"]) == sorted(layers["pip"])
    differ = {n for n in layers["uv"] if layers["uv"][n] != layers["pip"][n]}
    assert all(n.endswith(("/INSTALLER", "/RECORD")) for n in differ), differ


def test_a_release_reaching_the_index_between_resolution_and_install_is_no_cache_poison(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache key's resolution said six 1.16.0, the install (which resolves again) took
    1.17.0, as when 1.17.0 is published in between: the zip holds 1.17.0 and is stored under
    1.17.0's key, never reused by a build that resolves to 1.16.0."""
    from uv import find_uv_bin

    from layerkit import workflow
    from layerkit.provenance import Resolution

    dists = tmp_path / "dists"
    for version in ("1.16.0", "1.17.0"):
        make_wheel(dists, "six", version)
    project = make_project(tmp_path, "six\n")
    uv = UvBackend(uv=find_uv_bin(), python=shutil.which("python3") or "python3")
    cache = BuildCache(tmp_path / "cache")
    with serve_index(dists, tmp_path / "index") as url:
        settings = resolve_build_settings(
            load_project(project),
            {"python": ("3.12",), "arch": ("x86_64",), "index-url": url, "compile": False,
             "output": str(tmp_path / "out")},
        )  # fmt: skip

        def build() -> TargetBuild:
            ctx = _quiet(uv, run_command, env, resolver=uv, cache=cache)
            (built,) = build_layers(settings, ctx).builds
            return built

        real_resolve = workflow._resolve
        with monkeypatch.context() as stale:
            stale.setattr(workflow, "_resolve", lambda *_a, **_k: Resolution("six==1.16.0\n", {}))
            first, second = build(), build()
        truthful = build()  # resolves to 1.17.0 itself
        assert workflow._resolve is real_resolve
    installed = [[(d.name, d.version) for d in b.manifest.distributions] for b in (first, second)]
    assert installed == [[("six", "1.17.0")]] * 2
    assert not first.cached and not second.cached  # 1.16.0's key holds nothing
    assert truthful.cached and truthful.manifest.inputs_digest == first.manifest.inputs_digest
