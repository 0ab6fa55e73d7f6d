"""Issue 18: a glibc 2.26 target (python3.9-3.11) is resolved by pip, then installed from that
resolution by uv: the very wheel files pip chose, each pinned by its hash, ``--no-deps``, under
``--python-platform x86_64-manylinux_2_28`` (which accepts the manylinux_2_24..2_26 files pip
may choose; the hash keeps uv from the newer wheels it would accept too).

The layer must be the one pip alone (``--installer pip``) ships, except each INSTALLER file
(``uv``, not ``pip``) and its RECORD line: true metadata that `_drop_installer_artifacts` keeps;
and RECORD's line endings (pip writes CRLF, uv LF: the test compares lines). Known differences
this test's wheels do not have: a wheel's ``.data/headers`` land in ``include/<dist>/`` (pip:
``include/site/pythonX.Y/<dist>/``, as on every uv target), and ``direct_url.json`` of a
requirement given by an https URL records no hash.
"""

from __future__ import annotations

import hashlib
import platform
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.tags import parse_tag

from layerkit.build_model import BuildContext
from layerkit.config import load_project, resolve_build_settings
from layerkit.installer import (
    CommandResult,
    InstallerBackend,
    PipBackend,
    UvBackend,
    run_command,
    target_tags,
    uv_can_install,
)
from layerkit.manifest import Manifest
from layerkit.provenance import ChosenWheel
from layerkit.targets import make_target
from layerkit.workflow import build_layers
from tests.build_fixtures import make_project
from tests.support import isolated_env
from tests.wheels import make_wheel, serve_index

TARGET = make_target("3.11", "x86_64")


@dataclass
class _Recording:
    """The real runner, remembering each command line and the requirements file it reads."""

    commands: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        pins = Path(argv[argv.index("-r") + 1]).read_text() if "-r" in argv else ""
        self.commands.append((tuple(argv), pins))
        return run_command(argv, env=env, cwd=cwd)

    def installs(self) -> list[tuple[tuple[str, ...], str]]:
        """The commands that installed (neither a dry run nor a resolution)."""
        return [(a, p) for a, p in self.commands if "install" in a and "--dry-run" not in a]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("glibc226")
    # (a) pure, requested; its dependency puredep is pure too (not requested: no REQUESTED).
    make_wheel(d, "top", "1.0", requires=["puredep", "only224", "both", "m2014", "flpkg"],
               files={"top/__init__.py": b"", "nsp/top.py": b"# top\n"})  # fmt: skip
    make_wheel(d, "puredep", "1.0")
    # (b) only a manylinux_2_24 wheel; its files share the namespace directory nsp/ with top.
    make_wheel(d, "only224", "1.0", tag="cp311-abi3-manylinux_2_24_x86_64",
               files={"only224/__init__.py": b"", "nsp/only224.py": b"# 2_24\n"})  # fmt: skip
    # (c) one release, three wheels: pip (glibc 2.26) prefers manylinux_2_24, uv under
    # manylinux_2_28 would take the 2_28 one, and the 2_17 one is what uv took under 2_17.
    for tag in ("2_17", "2_24", "2_28"):
        make_wheel(d, "both", "1.0", tag=f"cp311-abi3-manylinux_{tag}_x86_64",
                   files={"both/__init__.py": f"TAG = {tag!r}\n".encode()})  # fmt: skip
    # (d) a plain manylinux2014 wheel.
    make_wheel(d, "m2014", "1.0", tag="cp311-cp311-manylinux2014_x86_64")
    # Local files: a wheel in a --find-links directory (as a wheel built from an sdist is) and
    # one named by its path (as a local package's wheel is).
    make_wheel(d.parent / "find-links", "flpkg", "1.0")
    make_wheel(d.parent / "local", "locpkg", "1.0")
    return d


@pytest.fixture(scope="module")
def index_url(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_index(wheels, tmp_path_factory.mktemp("glibc226-index")) as url:
        yield url


@dataclass(frozen=True)
class _Built:
    manifest: Manifest
    members: dict[str, bytes]
    runner: _Recording
    progress: list[str]


def _build(
    tmp_path: Path, url: str, wheels: Path, backend: InstallerBackend, uv: UvBackend
) -> _Built:
    local = wheels.parent / "local" / "locpkg-1.0-py3-none-any.whl"
    project = make_project(tmp_path / backend.name, f"top\n{local}\n")
    settings = resolve_build_settings(
        load_project(project),
        {"python": ("3.11",), "arch": ("x86_64",), "index-url": url, "compile": False,
         "find-links": (str(wheels.parent / "find-links"),),
         "output": str(tmp_path / backend.name / "out")},
    )  # fmt: skip
    runner, progress = _Recording(), list[str]()
    env = isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache"),
                        "PIP_CACHE_DIR": str(tmp_path / "pip-cache")})  # fmt: skip
    ctx = BuildContext(backend=backend, runner=runner, env=env, progress=progress.append,
                       warn=progress.append, which=shutil.which,
                       host_machine=platform.machine(), resolver=uv)  # fmt: skip
    (build,) = build_layers(settings, ctx, jobs=1).builds
    with zipfile.ZipFile(build.zip_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return _Built(build.manifest, members, runner, progress)


@pytest.fixture(scope="module")
def uv() -> UvBackend:
    from uv import find_uv_bin

    return UvBackend(uv=find_uv_bin(), python=sys.executable)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _without_installer(record: bytes) -> list[bytes]:
    return [line for line in record.splitlines() if b"/INSTALLER," not in line]


def _pinned(requirements: str) -> dict[str, str]:
    """name -> the sha256 its line pins (``name @ URL --hash=sha256:...``)."""
    return dict(re.findall(r"^(\S+) @ \S+ --hash=sha256:([0-9a-f]{64})$", requirements, re.M))


def test_uv_installs_the_files_pip_chose_and_the_layer_is_pips(
    tmp_path: Path, index_url: str, wheels: Path, uv: UvBackend
) -> None:
    split = _build(tmp_path, index_url, wheels, uv, uv)
    alone = _build(tmp_path, index_url, wheels, PipBackend(python=sys.executable), uv)

    # One uv install of hash-pinned files, not resolving again.
    ((argv, pins),) = split.runner.installs()
    assert argv[1:3] == ("pip", "install") and "--no-deps" in argv and "--require-hashes" in argv
    assert argv[argv.index("--python-platform") + 1] == "x86_64-manylinux_2_28"
    assert _pinned(pins) == {
        "top": _sha256(wheels / "top-1.0-py3-none-any.whl"),
        "puredep": _sha256(wheels / "puredep-1.0-py3-none-any.whl"),
        "only224": _sha256(wheels / "only224-1.0-cp311-abi3-manylinux_2_24_x86_64.whl"),
        # the file pip chose, not the 2_28 one uv would prefer under manylinux_2_28
        "both": _sha256(wheels / "both-1.0-cp311-abi3-manylinux_2_24_x86_64.whl"),
        "m2014": _sha256(wheels / "m2014-1.0-cp311-cp311-manylinux2014_x86_64.whl"),
        "flpkg": _sha256(wheels.parent / "find-links" / "flpkg-1.0-py3-none-any.whl"),
        "locpkg": _sha256(wheels.parent / "local" / "locpkg-1.0-py3-none-any.whl"),
    }
    for name, where in (("flpkg", "find-links"), ("locpkg", "local")):
        wheel = wheels.parent / where / f"{name}-1.0-py3-none-any.whl"
        assert f"{name} @ {wheel.as_uri()} --hash=sha256:{_sha256(wheel)}\n" in pins
    # The pip-only path installs once, resolving.
    ((alone_argv, _),) = alone.runner.installs()
    assert alone_argv[1:4] == ("-m", "pip", "install") and "--no-deps" not in alone_argv

    # The same layer, file for file, except who wrote INSTALLER (and its RECORD line).
    assert sorted(split.members) == sorted(alone.members)
    site = TARGET.site_packages
    assert split.members[f"{site}/both/__init__.py"] == b"TAG = '2_24'\n"
    assert f"{site}/nsp/only224.py" in split.members and f"{site}/nsp/top.py" in split.members
    assert f"{site}/top-1.0.dist-info/REQUESTED" in split.members
    assert f"{site}/puredep-1.0.dist-info/REQUESTED" not in split.members
    for name, data in alone.members.items():
        if name.endswith(".dist-info/INSTALLER"):
            assert (data, split.members[name]) == (b"pip\n", b"uv")
        elif name.endswith(".dist-info/RECORD"):
            assert _without_installer(split.members[name]) == _without_installer(data), name
        else:
            assert split.members[name] == data, name

    # The manifest and the progress say who did what.
    pip_version = PipBackend(python=sys.executable).version()
    assert (split.manifest.installer, split.manifest.installer_version) == ("uv", uv.version())
    assert split.manifest.resolver == f"pip {pip_version}"
    assert (alone.manifest.installer, alone.manifest.resolver) == ("pip", "")
    assert (
        f"{TARGET}: resolved with pip {pip_version}, installing its 7 wheels with uv "
        f"{uv.version()}" in split.progress
    )


def _chosen(name: str, tag: str) -> ChosenWheel:
    tags = frozenset(str(t) for t in parse_tag(tag))  # as a wheel's filename gives them
    return ChosenWheel(name, "1.0", f"https://i/{name}.whl", "0" * 64, tags, True, False)


@pytest.mark.parametrize(
    ("tag", "by_uv"),
    [
        ("py3-none-any", True),
        ("py2.py3-none-any", True),
        ("cp311-cp311-manylinux_2_17_x86_64", True),
        ("cp311-cp311-manylinux_2_5_x86_64", True),
        ("cp311-cp311-manylinux1_x86_64", True),
        ("cp311-cp311-manylinux2010_x86_64", True),
        ("cp311-cp311-manylinux2014_x86_64", True),
        ("cp38-abi3-manylinux2014_x86_64", True),
        ("cp311-none-manylinux2014_x86_64", True),
        ("cp311-abi3-manylinux_2_24_x86_64", True),
        ("cp311-cp311-manylinux_2_26_x86_64", True),
        ("cp311-cp311-manylinux_2_27_x86_64", False),  # not for the target: pip installs all
        ("cp311-cp311-manylinux_2_28_x86_64", False),
        ("cp311-cp311-manylinux2014_aarch64", False),
        ("cp312-cp312-manylinux2014_x86_64", False),
    ],
)
def test_which_chosen_files_uv_installs(tag: str, by_uv: bool) -> None:
    chosen = [_chosen("pure", "py3-none-any"), _chosen("pkg", tag)]
    assert uv_can_install(chosen, TARGET) is by_uv


def test_the_platform_uv_installs_pinned_files_under() -> None:
    assert TARGET.uv_platform_above == "x86_64-manylinux_2_28"
    assert make_target("3.10", "arm64").uv_platform_above == "aarch64-manylinux_2_28"
    assert make_target("3.12", "arm64").uv_platform_above == "aarch64-manylinux_2_34"
    arm = target_tags(make_target("3.10", "arm64"))
    assert "cp310-cp310-manylinux_2_26_aarch64" in arm and "py3-none-any" in arm
    assert not any("manylinux_2_27" in tag or "x86_64" in tag for tag in arm)


def _fake_uv(directory: Path, version: str) -> UvBackend:
    """A uv that only says its version (what the cache key asks of it)."""
    script = directory / f"uv-{version}"
    script.write_text(f"#!/bin/sh\necho 'uv {version} (test)'\n")
    script.chmod(0o755)
    return UvBackend(uv=str(script), python=sys.executable)


def test_the_cache_key_of_a_glibc_2_26_target_names_every_installer(tmp_path: Path) -> None:
    from layerkit.workflow import cache_inputs

    settings = resolve_build_settings(
        load_project(make_project(tmp_path, "top\n")), {"output": str(tmp_path / "out")}
    )

    def key(backend: InstallerBackend, python: str) -> dict[str, object]:
        ctx = BuildContext(backend=backend, runner=run_command, env={}, progress=print,
                           warn=print, which=shutil.which, host_machine=platform.machine(),
                           resolver=_fake_uv(tmp_path, "0.0.1"))  # fmt: skip
        return cache_inputs(settings, make_target(python, "x86_64"), ctx).document("top==1.0\n")

    old, new = _fake_uv(tmp_path, "0.0.1"), _fake_uv(tmp_path, "0.0.2")
    pip = PipBackend(python=sys.executable)
    # pip resolves and installs part of the tree, uv the rest: a new uv is a new build.
    assert key(old, "3.11")["installer"] == key(new, "3.11")["installer"] == ["pip", pip.version()]
    assert key(old, "3.11")["options"]["installed_with"] == ["uv", "0.0.1"]  # type: ignore[index]
    assert key(old, "3.11") != key(new, "3.11")
    # --installer pip: pip alone; 3.12: uv alone, already keyed as the installer.
    assert "installed_with" not in key(pip, "3.11")["options"]  # type: ignore[operator]
    assert key(old, "3.12")["installer"] == ["uv", "0.0.1"]
    assert "installed_with" not in key(old, "3.12")["options"]  # type: ignore[operator]


def test_a_file_pip_took_from_any_index_is_the_one_uv_installs(
    tmp_path: Path, uv: UvBackend
) -> None:
    # The same release on two indexes: a pure wheel on the extra index (which uv asks first),
    # a manylinux2014 one, which pip prefers, on the main index. By name, uv would take the
    # version's files from the first index that has it and fail on the hash of pip's file.
    make_wheel(tmp_path / "extra", "dup", "1.0", files={"dup/__init__.py": b"WHERE = 'pure'\n"})
    chosen = make_wheel(tmp_path / "main", "dup", "1.0", tag="cp311-cp311-manylinux2014_x86_64",
                        files={"dup/__init__.py": b"WHERE = 'main'\n"})  # fmt: skip
    with (
        serve_index(tmp_path / "main", tmp_path / "i1") as main,
        serve_index(tmp_path / "extra", tmp_path / "i2") as extra,
    ):
        project = make_project(tmp_path, "dup\n")
        settings = resolve_build_settings(
            load_project(project),
            {"python": ("3.11",), "arch": ("x86_64",), "index-url": main, "compile": False,
             "extra-index-urls": (extra,), "output": str(tmp_path / "out")},
        )  # fmt: skip
        runner = _Recording()
        env = isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache")})
        ctx = BuildContext(backend=uv, runner=runner, env=env, progress=print, warn=print,
                           which=shutil.which, host_machine=platform.machine(),
                           resolver=uv)  # fmt: skip
        (build,) = build_layers(settings, ctx, jobs=1).builds
    ((argv, pins),) = runner.installs()
    assert argv[1:3] == ("pip", "install") and _pinned(pins) == {"dup": _sha256(chosen)}
    with zipfile.ZipFile(build.zip_path) as archive:
        names = archive.namelist()
        assert archive.read(f"{TARGET.site_packages}/dup/__init__.py") == b"WHERE = 'main'\n"
    assert not [n for n in names if n.endswith("direct_url.json")]  # as pip installs it
    assert (build.manifest.installer, build.manifest.resolver.split()[0]) == ("uv", "pip")


@pytest.mark.parametrize("where", ["PIP_INDEX_URL", "requirements file"])
def test_credentials_only_pip_knows_make_pip_install_what_it_resolved(
    tmp_path: Path, uv: UvBackend, where: str
) -> None:
    """pip's report redacts the credentials in the URLs it names, and uv reads neither pip's
    environment nor the user's requirements files' options: its install of the pinned files
    fails, and pip installs them instead (the layer builds, as it did before uv installed)."""
    secret = "s3cret-token"
    dists = tmp_path / "dists"
    make_wheel(dists, "privpkg", "1.0", tag="cp311-cp311-manylinux_2_24_x86_64")
    with serve_index(dists, tmp_path / "web", basic_auth=f"user:{secret}") as url:
        in_file = f"--index-url {url}\n" if where == "requirements file" else ""
        project = make_project(tmp_path / "project", f"{in_file}privpkg\n")
        settings = resolve_build_settings(
            load_project(project),
            {"python": ("3.11",), "arch": ("x86_64",), "compile": False,
             "output": str(tmp_path / "out")},
        )  # fmt: skip
        extra = {"UV_CACHE_DIR": str(tmp_path / "uv-cache"),
                 "PIP_CACHE_DIR": str(tmp_path / "pip-cache")}  # fmt: skip
        if where == "PIP_INDEX_URL":
            extra["PIP_INDEX_URL"] = url
        progress: list[str] = []
        ctx = BuildContext(backend=uv, runner=run_command, env=isolated_env(extra),
                           progress=progress.append, warn=progress.append, which=shutil.which,
                           host_machine=platform.machine(), resolver=uv)  # fmt: skip
        (build,) = build_layers(settings, ctx, jobs=1).builds
    assert [(d.name, d.version) for d in build.manifest.distributions] == [("privpkg", "1.0")]
    assert (build.manifest.installer, build.manifest.resolver) == ("pip", "")
    assert any("uv could not install the wheels pip chose" in line for line in progress)
    assert not any(secret in line for line in progress)
    assert secret not in build.manifest_path.read_text()
