"""Issue 18: a glibc 2.26 target (python3.9-3.11) is resolved by uv held to the releases the target
takes (`layerkit.uvchoice`), or where uv cannot tell by pip, then installed from that resolution
by uv: the very wheel files pip would choose, each pinned by its hash, ``--no-deps``, under
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
from packaging.utils import NormalizedName, canonicalize_name

from layerkit.build_model import BuildContext
from layerkit.config import load_project, resolve_build_settings
from layerkit.installer import (
    CommandResult,
    InstallerBackend,
    PipBackend,
    UvBackend,
    run_command,
    uv_can_install,
)
from layerkit.manifest import Manifest
from layerkit.provenance import (
    ChosenWheel,
    Requested,
    Resolution,
    chosen_resolution,
    pylock_choices,
    read_pylock,
)
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


@pytest.fixture(scope="module", params=["uv", "pip"])
def wheels(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The index; with param "pip", uv's resolution for manylinux_2_28 takes a release with no
    wheel for glibc 2.26 (newer 2.0), so pip resolves; with "uv", every release it takes has
    one, so uv's resolution serves (`layerkit.uvchoice`)."""
    d = tmp_path_factory.mktemp(f"glibc226-{request.param}")
    # (a) pure, requested; its dependency puredep is pure too (not requested: no REQUESTED).
    make_wheel(d, "top", "1.0", requires=["puredep", "only224", "both", "m2014", "flpkg", "newer"],
               files={"top/__init__.py": b"", "nsp/top.py": b"# top\n"})  # fmt: skip
    # (e) newer 1.0 loads on glibc 2.26; newer 2.0 (param "pip") only on 2.28 and later.
    make_wheel(d, "newer", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    if request.param == "pip":
        make_wheel(d, "newer", "2.0", tag="cp311-cp311-manylinux_2_28_x86_64")
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
    # Local files: one named by its path (as a local package's wheel is) and, where pip
    # resolves, a wheel in a --find-links directory (as a wheel built from an sdist is; a
    # second source of files, which pip and uv weigh differently: see `pip_settings`).
    make_wheel(d.parent / "local", "locpkg", "1.0")
    make_wheel(d.parent / "find-links" if request.param == "pip" else d, "flpkg", "1.0")
    return d


def _pip_resolves(wheels: Path) -> bool:
    return wheels.name.startswith("glibc226-pip")


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
    find_links = (str(wheels.parent / "find-links"),) if _pip_resolves(wheels) else ()
    settings = resolve_build_settings(
        load_project(project),
        {"python": ("3.11",), "arch": ("x86_64",), "index-url": url, "compile": False,
         "find-links": find_links, "output": str(tmp_path / backend.name / "out")},
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


def test_uv_installs_the_files_pip_would_choose_and_the_layer_is_pips(
    tmp_path: Path, index_url: str, wheels: Path, uv: UvBackend
) -> None:
    split = _build(tmp_path, index_url, wheels, uv, uv)
    alone = _build(tmp_path, index_url, wheels, PipBackend(python=sys.executable), uv)

    flpkg = (wheels.parent / "find-links" if _pip_resolves(wheels) else wheels) / (
        "flpkg-1.0-py3-none-any.whl"
    )
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
        "newer": _sha256(wheels / "newer-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
        "flpkg": _sha256(flpkg),
        "locpkg": _sha256(wheels.parent / "local" / "locpkg-1.0-py3-none-any.whl"),
    }
    local = wheels.parent / "local" / "locpkg-1.0-py3-none-any.whl"
    assert f"locpkg @ {local.as_uri()} --hash=sha256:{_sha256(local)}\n" in pins
    if _pip_resolves(wheels):
        assert f"flpkg @ {flpkg.as_uri()} --hash=sha256:{_sha256(flpkg)}\n" in pins
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

    # The manifest and the progress say who did what; pip runs only where it resolves.
    pip_version = PipBackend(python=sys.executable).version()
    assert (split.manifest.installer, split.manifest.installer_version) == ("uv", uv.version())
    assert (alone.manifest.installer, alone.manifest.resolver) == ("pip", "")
    pip_runs = [a for a, _ in split.runner.commands if a[1:3] == ("-m", "pip")]
    if _pip_resolves(wheels):
        assert split.manifest.resolver == f"pip {pip_version}"
        # find-links is a second source of files: pip resolves without asking uv first
        assert (
            f"{TARGET}: pip resolves, because more than one index is asked, and uv takes each "
            "package from the first one" in split.progress
        )
        assert (
            f"{TARGET}: resolved with pip {pip_version}, installing its 8 wheels with uv "
            f"{uv.version()}" in split.progress
        )
        assert pip_runs
    else:
        assert split.manifest.resolver == ""
        assert (
            f"{TARGET}: resolved with uv {uv.version()} (each release has a wheel for glibc "
            "2.26), installing 8 wheels" in split.progress
        )
        assert not pip_runs, pip_runs


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
    arm = make_target("3.10", "arm64").wheel_tags
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
    assert any("uv could not install the wheels chosen" in line for line in progress)
    assert not any(secret in line for line in progress)
    assert secret not in build.manifest_path.read_text()


def _choose(
    pylock: str, *, ranks: Mapping[str, int], requested: frozenset[NormalizedName]
) -> tuple[Resolution, tuple[str, ...]]:
    """The resolution of `pylock`'s choices, and its releases without a wheel for TARGET."""
    choices = pylock_choices(pylock, ranks=ranks, requested=Requested(requested))
    return chosen_resolution(choices, read_pylock(pylock))


def _pylock(*packages: tuple[str, str, Sequence[str]]) -> str:
    """A ``pylock.toml`` as uv writes it: each package with its wheels (filenames)."""
    out = ['lock-version = "1.0"\n']
    for name, version, files in packages:
        wheels = ", ".join(
            f'{{ url = "https://i/{f}", hashes = {{ sha256 = "{hashlib.sha256(f.encode()).hexdigest()}" }} }}'
            for f in files
        )
        out.append(f'[[packages]]\nname = "{name}"\nversion = "{version}"\nwheels = [{wheels}]\n')
    return "\n".join(out)


def test_of_each_release_the_wheel_pip_would_take_is_chosen() -> None:
    lock = _pylock(
        ("both", "1.0", [f"both-1.0-cp311-abi3-manylinux_{t}_x86_64.whl" for t in ("2_17", "2_24", "2_28")]),
        ("Top", "1.0", ["top-1.0-py3-none-any.whl"]),
        ("dep", "2.0", ["dep-2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                        "dep-2.0-cp311-abi3-manylinux_2_26_x86_64.whl"]),
    )  # fmt: skip
    resolution, unusable = _choose(lock, ranks=TARGET.wheel_tag_ranks,
                                         requested=frozenset({canonicalize_name("top")}))  # fmt: skip
    assert unusable == ()
    chosen = {c.name: (c.url.rsplit("/", 1)[1], c.requested, c.direct) for c in resolution.chosen}
    assert chosen == {
        "both": ("both-1.0-cp311-abi3-manylinux_2_24_x86_64.whl", False, False),  # not 2_28
        "Top": ("top-1.0-py3-none-any.whl", True, False),
        # pip ranks the interpreter's own ABI above abi3, whatever the glibc
        "dep": ("dep-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", False, False),
    }
    assert resolution.pins == "both==1.0\nTop==1.0\ndep==2.0\n"


def test_a_release_with_no_wheel_for_the_target_is_named_and_nothing_is_chosen() -> None:
    lock = _pylock(("numpy", "2.4.6", ["numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.whl"]),
                   ("six", "1.17.0", ["six-1.17.0-py2.py3-none-any.whl"]))  # fmt: skip
    resolution, unusable = _choose(lock, ranks=TARGET.wheel_tag_ranks, requested=frozenset())
    assert (unusable, resolution.chosen) == (("numpy 2.4.6",), ())


def test_the_requested_names_of_uv_s_direct_resolution() -> None:
    from layerkit.provenance import requested_names

    text = "Top_Pkg==1.0\n/tmp/local/locpkg-1.0-py3-none-any.whl\nx @ https://h/x.whl\n# c\n"
    assert requested_names(text) == Requested(
        frozenset({canonicalize_name("top-pkg"), canonicalize_name("x")}),
        frozenset({"/tmp/local/locpkg-1.0-py3-none-any.whl"}),
    )


@pytest.mark.parametrize(
    ("env", "requirements", "said"),
    [
        ({"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INPUT": "1", "PIP_CERT": "/c"}, "top\n", ""),
        ({"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "https://m"}, "top\n",
         "PIP_INDEX_URL is set, which uv does not read"),
        ({"PIP_CONFIG_FILE": "/dev/null"}, "--extra-index-url https://x\ntop\n",
         "a requirements line has --extra-index-url"),
        ({"PIP_CONFIG_FILE": "/dev/null"}, "top==1 \\\n    --hash=sha256:00\n",
         "the requirements carry hashes, and pip installs only a file they allow"),
        # the user's pip.conf names an index; no file in the (test's) /etc or venv
        ({"HOME": "{home}"}, "top\n", "pip reads {home}/.config/pip/pip.conf, which uv does not"),
        # a pip.conf with certificates and timeouts only changes nothing pip resolves
        ({"HOME": "{home}", "XDG_CONFIG_HOME": "{home}/inert"}, "top\n", ""),
    ],
)  # fmt: skip
def test_pip_settings_uv_does_not_read_keep_pip_resolving(
    tmp_path: Path, env: dict[str, str], requirements: str, said: str
) -> None:
    from layerkit.installer import InstallRequest, pip_settings

    home = str(tmp_path)
    (tmp_path / ".config" / "pip").mkdir(parents=True)
    (tmp_path / ".config" / "pip" / "pip.conf").write_text("[global]\nindex-url = https://m\n")
    (tmp_path / "inert" / "pip").mkdir(parents=True)
    (tmp_path / "inert" / "pip" / "pip.conf").write_text("[global]\ncert = /c\ntimeout = 60\n")
    (tmp_path / "requirements.txt").write_text(requirements)
    request = InstallRequest(
        TARGET, tmp_path / "t", requirement_files=(tmp_path / "requirements.txt",)
    )
    found = pip_settings(request, {k: v.format(home=home) for k, v in env.items()},
                         prefix=str(tmp_path / "venv"), root=tmp_path / "root")  # fmt: skip
    assert found == said.format(home=home)


def test_uv_settings_pip_does_not_read_keep_pip_resolving() -> None:
    from layerkit.installer import uv_settings

    assert uv_settings({"UV_CACHE_DIR": "/c", "UV_NO_CONFIG": "1", "UV_PYTHON": "3.11"}) == ""
    assert (
        uv_settings({"UV_RESOLUTION": "lowest"}) == "UV_RESOLUTION is set, which pip does not read"
    )


def test_of_a_release_s_equal_wheels_pip_takes_the_higher_build() -> None:
    lock = _pylock(("b", "1.0", ["b-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl",
                                 "b-1.0-2-cp311-cp311-manylinux_2_17_x86_64.whl",
                                 "b-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]))  # fmt: skip
    resolution, unusable = _choose(lock, ranks=TARGET.wheel_tag_ranks, requested=frozenset())
    assert unusable == ()
    assert [c.url.rsplit("/", 1)[1] for c in resolution.chosen] == [
        "b-1.0-2-cp311-cp311-manylinux_2_17_x86_64.whl"
    ]


def test_a_release_layerkit_cannot_pin_is_a_problem_not_a_missing_wheel() -> None:
    unhashed = _pylock(("u", "1.0", ["u-1.0-py3-none-any.whl"])).replace(
        'hashes = { sha256 = "', 'x = { y = "'
    )
    relative = (
        '[[packages]]\nname = "r"\nversion = "1.0"\n'
        'archive = { path = "dists/r-1.0-py3-none-any.whl", hashes = { sha256 = "00" } }\n'
    )
    for text, problem in ((unhashed, "has a wheel with no sha256 to pin it by"),
                          (relative, "is named by a relative path (dists/r-1.0-py3-none-any.whl)")):  # fmt: skip
        (choice,) = pylock_choices(
            text, ranks=TARGET.wheel_tag_ranks, requested=Requested()
        ).values()
        assert (choice.wheel, choice.problem) == (None, problem)


def test_a_dependency_named_by_url_is_direct_but_not_requested() -> None:
    text = (
        '[[packages]]\nname = "dep"\nversion = "1.0"\n'
        'archive = { url = "https://h/dep-1.0-py3-none-any.whl", hashes = { sha256 = "00" } }\n'
        '[[packages]]\nname = "loc"\nversion = "1.0"\n'
        'archive = { path = "/w/loc-1.0-py3-none-any.whl", hashes = { sha256 = "11" } }\n'
    )
    named = Requested(locations=frozenset({"/w/loc-1.0-py3-none-any.whl"}))
    choices = pylock_choices(text, ranks=TARGET.wheel_tag_ranks, requested=named)
    flags = {n: (c.wheel.requested, c.wheel.direct) for n, c in choices.items() if c.wheel}
    assert flags == {"dep": (False, True), "loc": (True, True)}
