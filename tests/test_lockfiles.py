"""Lock files as build inputs: each format read into the exact pins of each target (unit), and
built end to end from a local index on 127.0.0.1 (the real CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from layerkit.config import load_project, resolve_build_settings
from layerkit.errors import CompatibilityError, ExitCode, LockFileError, UsageError
from layerkit.lockfiles import (
    LockSelection,
    requirements_text,
    select_lock,
    target_environment,
    target_pins,
)
from layerkit.targets import Target, make_target
from tests.aws_support import BUCKET, make_bucket
from tests.lock_fixtures import (
    ARM_ONLY,
    EXPECTED,
    make_lock_dists,
    pipfile_lock,
    poetry_lock,
    pylock,
    sha256,
    uv_lock,
)
from tests.support import isolated_env, run_cli
from tests.wheels import serve_index

URL = "http://127.0.0.1:1/simple"  # never asked: the unit tests only read locks
X86 = make_target("3.12", "x86_64")
ARM = make_target("3.12", "arm64")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_lock_dists(tmp_path_factory.mktemp("lock-dists"))


LOCKS: dict[str, Callable[[dict[str, Path], str], str]] = {
    "pylock.toml": pylock,
    "uv.lock": uv_lock,
    "poetry.lock": lambda wheels, _url: poetry_lock(wheels),
    "Pipfile.lock": pipfile_lock,
}


def _selection(
    name: str, text: str, *, groups: tuple[str, ...] = (), extras: tuple[str, ...] = ()
) -> LockSelection:
    return select_lock(Path(name), text.encode(), groups=groups, extras=extras)


def _versions(selection: LockSelection, target: Target) -> dict[str, str]:
    return {p.name: p.version for p in target_pins(selection, target)}


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_each_format_gives_the_targets_pins(name: str, wheels: dict[str, Path]) -> None:
    selection = _selection(name, LOCKS[name](wheels, URL))
    assert _versions(selection, X86) == EXPECTED["x86_64"]
    assert _versions(selection, ARM) == EXPECTED["arm64"]


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_hashes_are_those_of_the_targets_wheels(name: str, wheels: dict[str, Path]) -> None:
    pins = {p.name: p for p in target_pins(_selection(name, LOCKS[name](wheels, URL)), ARM)}
    arm_wheel = wheels["natpkg-1.0-cp312-cp312-manylinux_2_17_aarch64.whl"]
    x86_wheel = wheels["natpkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]
    if name == "Pipfile.lock":  # names no files: every hash of the version is allowed
        assert set(pins["natpkg"].hashes) == {f"sha256:{sha256(arm_wheel)}",
                                              f"sha256:{sha256(x86_wheel)}"}  # fmt: skip
    else:
        assert pins["natpkg"].hashes == (f"sha256:{sha256(arm_wheel)}",)
    line = pins["helperpkg"].requirement()
    helper = sha256(wheels["helperpkg-1.2-py3-none-any.whl"])
    assert line == f"helperpkg==1.2 --hash=sha256:{helper}"


@pytest.mark.parametrize(
    ("name", "groups", "extras", "added"),
    [
        ("pylock.toml", ("dev",), (), "devpkg"),
        ("pylock.toml", (), ("s3",), "fatpkg"),
        ("uv.lock", ("dev",), (), "devpkg"),
        ("uv.lock", (), ("s3",), "fatpkg"),
        ("poetry.lock", ("dev",), (), "devpkg"),
        ("poetry.lock", (), ("s3",), "fatpkg"),
        ("Pipfile.lock", ("develop",), (), "devpkg"),
    ],
)
def test_groups_and_extras_add_their_packages(
    name: str, groups: tuple[str, ...], extras: tuple[str, ...], added: str,
    wheels: dict[str, Path],
) -> None:  # fmt: skip
    text = LOCKS[name](wheels, URL)
    selected = _versions(_selection(name, text, groups=groups, extras=extras), X86)
    assert selected == {**EXPECTED["x86_64"], added: "1.0"}


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_an_unknown_group_is_refused_naming_the_known_ones(
    name: str, wheels: dict[str, Path]
) -> None:
    with pytest.raises(LockFileError, match="nosuch"):
        target_pins(_selection(name, LOCKS[name](wheels, URL), groups=("nosuch",)), X86)


def test_markers_are_evaluated_for_the_target_not_the_host() -> None:
    env = target_environment(make_target("3.9", "arm64"))
    assert (env["python_version"], env["python_full_version"]) == ("3.9", "3.9.0")
    assert (env["sys_platform"], env["platform_machine"]) == ("linux", "aarch64")
    text = (
        'lock-version = "1.0"\n'
        "[[packages]]\nname = 'old'\nversion = '1'\nmarker = \"python_version < '3.10'\"\n"
        "wheels = [{ name = 'old-1-py3-none-any.whl', hashes = { sha256 = 'ab' } }]\n"
        "[[packages]]\nname = 'new'\nversion = '1'\nmarker = \"python_version >= '3.10'\"\n"
        "wheels = [{ name = 'new-1-py3-none-any.whl', hashes = { sha256 = 'cd' } }]\n"
    )
    selection = _selection("pylock.toml", text)
    assert _versions(selection, make_target("3.9", "x86_64")) == {"old": "1"}
    assert _versions(selection, make_target("3.13", "x86_64")) == {"new": "1"}


def test_a_pinned_version_without_a_wheel_for_the_target_is_named(
    wheels: dict[str, Path],
) -> None:
    text = uv_lock(wheels, URL).replace("manylinux_2_17_aarch64", "manylinux_2_17_ppc64le")
    with pytest.raises(CompatibilityError, match=r"natpkg 1\.0 has no wheel for python3\.12 arm64"):
        target_pins(_selection("uv.lock", text), ARM)
    assert _versions(_selection("uv.lock", text), X86) == EXPECTED["x86_64"]


def test_a_required_package_whose_entry_excludes_the_target_is_named(
    wheels: dict[str, Path],
) -> None:
    selection = _selection("poetry.lock", poetry_lock(wheels, helper_marker=ARM_ONLY))
    with pytest.raises(CompatibilityError) as failure:
        target_pins(selection, X86)
    message = failure.value.message
    assert "no pin of helperpkg for python3.12 x86_64, which purepkg requires" in message
    assert "platform_machine == 'aarch64'" in message
    assert failure.value.exit_code == ExitCode.INSTALL
    assert _versions(selection, ARM) == EXPECTED["arm64"]


def test_a_lock_for_other_environments_or_pythons_is_refused() -> None:
    other = 'lock-version = "1.0"\nenvironments = ["sys_platform == \'darwin\'"]\n'
    with pytest.raises(CompatibilityError, match=r"was not locked for python3\.12 x86_64"):
        target_pins(_selection("pylock.toml", other), X86)
    old = 'lock-version = "1.0"\nrequires-python = "<3.12"\n'
    with pytest.raises(CompatibilityError, match=r"requires Python <3\.12, not 3\.12"):
        target_pins(_selection("pylock.toml", old), X86)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("pylock.toml", 'lock-version = "1.0"\n[[packages]]\nname = "x"\ndirectory = '
         '{ path = "x" }\n', "x is locked from a directory"),
        ("uv.lock", 'version = 1\n[[package]]\nname = "app"\nversion = "1"\nsource = '
         '{ virtual = "." }\ndependencies = [{ name = "lib" }]\n[[package]]\nname = "lib"\n'
         'version = "1"\nsource = { editable = "lib" }\n', "lib is locked from a editable"),
        ("Pipfile.lock", '{"default": {"x": {"git": "https://example.invalid/x.git"}}}',
         "x is not pinned to a version from an index"),
        ("pylock.toml", "lock-version = [", "cannot be read as pylock.toml"),
        ("poetry.lock", '[[package]]\nname = "x"\nversion = "1"\n[metadata]\n'
         'lock-version = "2.0"\n', "does not record which group"),
    ],
)  # fmt: skip
def test_locks_layerkit_cannot_install_exactly_are_refused(
    name: str, text: str, message: str
) -> None:
    with pytest.raises(LockFileError, match=message):
        target_pins(_selection(name, text), X86)


def test_requirements_text_pins_and_hashes(wheels: dict[str, Path]) -> None:
    pins = target_pins(_selection("uv.lock", uv_lock(wheels, URL)), X86)
    lines = requirements_text(pins).splitlines()
    assert [line.split(" ")[0] for line in lines] == [
        "helperpkg==1.2", "natpkg==1.0", "purepkg==1.0"
    ]  # fmt: skip
    assert all(" --hash=sha256:" in line for line in lines)


# --- choosing the lock: config.py --------------------------------------------------------------


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    return project


def test_a_lock_in_the_project_wins_over_the_conventional_inputs(
    tmp_path: Path, wheels: dict[str, Path]
) -> None:
    text = uv_lock(wheels, URL)
    project = _project(tmp_path, {"uv.lock": text, "requirements.txt": "other\n"})
    settings = resolve_build_settings(load_project(project), {})
    assert settings.lock is not None
    assert (settings.lock.format, settings.lock.sha256) == ("uv.lock", sha256(project / "uv.lock"))
    assert (settings.requirement_files, settings.requirements) == ((), ())
    # an explicit requirements file is what the user asked for: no lock then
    explicit = resolve_build_settings(
        load_project(project), {"requirements": ("requirements.txt",)}
    )
    assert explicit.lock is None


def test_two_locks_or_a_lock_with_more_inputs_are_usage_errors(
    tmp_path: Path, wheels: dict[str, Path]
) -> None:
    project = _project(
        tmp_path, {"uv.lock": uv_lock(wheels, URL), "pylock.toml": pylock(wheels, URL)}
    )
    with pytest.raises(UsageError, match=r"2 lock files: pylock\.toml, uv\.lock"):
        resolve_build_settings(load_project(project), {})
    chosen = resolve_build_settings(load_project(project), {"lock": "pylock.toml"})
    assert chosen.lock is not None and chosen.lock.format == "pylock.toml"
    with pytest.raises(UsageError, match="a lock file is the whole input"):
        resolve_build_settings(load_project(project), {"lock": "uv.lock", "packages": ("x",)})
    (project / "uv.lock").unlink()
    (project / "pylock.toml").unlink()
    (project / "requirements.txt").write_text("x\n")
    with pytest.raises(UsageError, match="--group and --extra select parts of a lock file"):
        resolve_build_settings(load_project(project), {"groups": ("dev",)})


# --- end to end: the real CLI, a local index ---------------------------------------------------


@pytest.fixture(scope="module")
def index(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[str, list[str]]
]:  # fmt: skip
    """The index URL and the paths it was asked for (cleared by each test that counts)."""
    seen: list[str] = []
    directory = next(iter(wheels.values())).parent
    with serve_index(directory, tmp_path_factory.mktemp("lock-index"), seen=seen) as url:
        yield url, seen


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Caches of this test alone: its first build downloads, its rebuild finds its own."""
    return isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache"),
                         "LAYERKIT_CACHE_DIR": str(tmp_path / "layerkit-cache")})  # fmt: skip


def _build(project: Path, url: str, env: dict[str, str], *extra: str) -> dict[str, object]:
    result = run_cli("build", str(project), "--python", "3.12", "--arch", "x86_64", "--arch",
                     "arm64", "--index-url", url, "--no-compile", "-o", str(project / "dist"),
                     "--json", *extra, env=env)  # fmt: skip
    assert result.returncode == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_a_project_with_each_lock_builds_exactly_its_pins_and_rebuilds_asking_nothing(
    name: str,
    tmp_path: Path,
    wheels: dict[str, Path],
    index: tuple[str, list[str]],
    env: dict[str, str],
) -> None:
    url, seen = index
    project = _project(tmp_path, {name: LOCKS[name](wheels, url)})
    seen.clear()
    built = _build(project, url, env, "--sbom")
    assert seen  # the counting works: a build from scratch downloads the wheels
    lock_digest = sha256(project / name)
    for build in built["builds"]:  # type: ignore[attr-defined]
        manifest = json.loads(Path(build["manifest_path"]).read_text())
        arch = build["architecture"]
        assert {d["name"]: d["version"] for d in manifest["distributions"]} == EXPECTED[arch]
        for dist in manifest["distributions"]:  # the very wheels the lock names
            (wheel,) = [w for w in wheels.values() if w.name.startswith(
                f"{dist['name']}-{dist['version']}-") and (dist["name"] != "natpkg"
                or w.name.endswith(f"{'aarch64' if arch == 'arm64' else 'x86_64'}.whl"))]  # fmt: skip
            assert dist["wheel_sha256"] == sha256(wheel)
        assert (manifest["lock_file"], manifest["lock_sha256"]) == (name, lock_digest)
        assert build["lock"] == {"file": name, "sha256": lock_digest}
        sbom = json.loads(Path(build["sbom"]).read_text())
        facts = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
        assert (facts["layerkit:lock-file"], facts["layerkit:lock-sha256"]) == (name, lock_digest)

    seen.clear()
    again = _build(project, url, env, "--sbom")
    assert [b["cached"] for b in again["builds"]] == [True, True]  # type: ignore[attr-defined]
    assert seen == []  # a no-op rebuild from a lock asks nothing of the index


def test_a_wheel_whose_hash_differs_from_the_lock_is_refused(
    tmp_path: Path, wheels: dict[str, Path], index: tuple[str, list[str]], env: dict[str, str]
) -> None:
    url, _seen = index
    project = _project(tmp_path, {"pylock.toml": pylock(wheels, url, bad_hash="helperpkg")})
    result = run_cli("build", str(project), "--python", "3.12", "--index-url", url,
                     "--no-compile", "-o", str(tmp_path / "dist"), env=env)  # fmt: skip
    assert result.returncode == ExitCode.INSTALL, result.output
    assert "does not match its --hash pin" in result.stderr
    assert "helperpkg" in result.stderr
    assert not list((tmp_path / "dist").glob("*.zip"))


def test_a_lock_without_a_pin_for_the_target_fails_naming_the_package(
    tmp_path: Path, wheels: dict[str, Path], index: tuple[str, list[str]], env: dict[str, str]
) -> None:
    url, _seen = index
    project = _project(tmp_path, {"poetry.lock": poetry_lock(wheels, helper_marker=ARM_ONLY)})
    result = run_cli("build", str(project), "--python", "3.12", "--arch", "x86_64",
                     "--index-url", url, "-o", str(tmp_path / "dist"), env=env)  # fmt: skip
    assert result.returncode == ExitCode.INSTALL, result.output
    assert "error: poetry.lock: no pin of helperpkg for python3.12 x86_64" in result.stderr


def test_deploy_takes_the_lock_keys_too(
    tmp_path: Path,
    wheels: dict[str, Path],
    index: tuple[str, list[str]],
    env: dict[str, str],
    aws_env: dict[str, str],
) -> None:
    url, _seen = index
    make_bucket(aws_env)
    project = _project(tmp_path, {"uv.lock": uv_lock(wheels, url)})
    deploy_env = {**env, "AWS_ENDPOINT_URL": aws_env["AWS_ENDPOINT_URL"]}
    result = run_cli("deploy", str(project), "--lock", str(project / "uv.lock"), "--group", "dev",
                     "--python", "3.12", "--arch", "arm64", "--index-url", url, "--no-compile",
                     "--bucket", BUCKET, "--region", "eu-west-1", "--json", env=deploy_env)  # fmt: skip
    assert result.returncode == 0, result.output
    document = json.loads(result.stdout)
    (build,) = document["build"]["builds"]
    assert build["lock"] == {"file": "uv.lock", "sha256": sha256(project / "uv.lock")}
    manifest = json.loads(Path(build["manifest_path"]).read_text())
    versions = {d["name"]: d["version"] for d in manifest["distributions"]}
    assert versions == {**EXPECTED["arm64"], "devpkg": "1.0"}
    (published,) = document["publish"]["results"]
    assert published["outcome"] == "published"


def test_an_sdist_only_pin_is_refused_not_built(
    tmp_path: Path, wheels: dict[str, Path], index: tuple[str, list[str]], env: dict[str, str]
) -> None:
    """Pipfile.lock names no files: the installer finds only the sdist, whose hash the lock pins;
    a wheel built from it could never match, so nothing is built."""
    url, _seen = index
    sdist = wheels["sdistonly-0.1.tar.gz"]
    lock = {"_meta": {"sources": []}, "default": {"sdistonly": {
        "version": "==0.1", "hashes": [f"sha256:{sha256(sdist)}"]}}}  # fmt: skip
    project = _project(tmp_path, {"Pipfile.lock": json.dumps(lock)})
    result = run_cli("build", str(project), "--python", "3.12", "--index-url", url,
                     "-o", str(tmp_path / "dist"), env=env)  # fmt: skip
    assert result.returncode == ExitCode.INSTALL, result.output
    assert "sdistonly" in result.stderr
    assert "has only an sdist; building a wheel" not in result.stderr
    assert not list((tmp_path / "dist").glob("*.zip"))
