"""Why a version is old: one note per direct requirement held back by missing wheels."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from layerkit.oldversions import notes_for
from layerkit.targets import make_target
from tests.build_fixtures import make_project
from tests.support import run_cli
from tests.wheels import make_wheel, serve_index


@pytest.fixture(scope="module")
def versions_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dists = tmp_path_factory.mktemp("version-dists")
    make_wheel(dists, "oldpkg", "1.0", tag="py3-none-manylinux_2_17_x86_64")
    make_wheel(dists, "oldpkg", "2.0", tag="py3-none-manylinux_2_28_x86_64")
    make_wheel(dists, "oldpkg", "2.1", tag="py3-none-manylinux_2_28_x86_64")
    make_wheel(dists, "freshpkg", "1.0")
    make_wheel(dists, "freshpkg", "1.1")
    with serve_index(dists, tmp_path_factory.mktemp("version-index")) as url:
        yield url


def test_a_release_held_back_by_missing_wheels_gets_one_note(
    tmp_path: Path, versions_index: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "oldpkg\nfreshpkg\n")
    argv = ["build", str(project), "--index-url", versions_index, "--python", "3.11",
            "--arch", "x86_64", "-o", str(tmp_path / "o")]  # fmt: skip
    result = run_cli(*argv, "--json", env=env)
    assert result.returncode == 0, result.stderr
    build = json.loads(result.stdout)["builds"][0]
    assert {(d["name"], d["version"]) for d in build["distributions"]} == {
        ("oldpkg", "1.0"), ("freshpkg", "1.1"),
    }  # fmt: skip
    note = "oldpkg 1.0: newer releases (up to 2.1) have no wheel for python3.11 x86_64 / glibc 2.26"
    assert build["notes"] == [note]
    text = run_cli(*argv, env=env)  # served by the build cache: the note is kept with it
    assert text.returncode == 0, text.stderr
    assert f"  note: {note}" in text.stdout
    on_312 = run_cli(*argv[:5], "3.12", *argv[6:], "--json", env=env)
    assert json.loads(on_312.stdout)["builds"][0]["notes"] == []


def test_a_release_held_back_by_a_conflict_is_not_blamed_on_wheels() -> None:
    target = make_target("3.11", "x86_64")
    name = canonicalize_name("pkg")
    notes = notes_for(target, {name: Version("1.0")}, for_target={name: Version("1.5")},
                      newest={name: Version("2.0")})  # fmt: skip
    assert notes == ()
    held = notes_for(target, {name: Version("1.5")}, for_target={name: Version("1.5")},
                     newest={name: Version("2.0")})  # fmt: skip
    assert held == ("pkg 1.5: newer releases (up to 2.0) have no wheel for python3.11 x86_64 / "
                    "glibc 2.26",)  # fmt: skip


def test_the_note_spells_the_package_as_its_distribution_does() -> None:
    from layerkit.oldversions import version_notes

    target = make_target("3.11", "x86_64")
    name = canonicalize_name("Old_Pkg")
    probed = ({name: Version("1.0")}, {name: Version("2.0")})
    (note,) = version_notes(target, [("Old_Pkg", "1.0")], probed)
    assert note.startswith("Old_Pkg 1.0: newer releases (up to 2.0)")


@pytest.mark.parametrize(
    ("lines", "asks"),
    [
        ("oldpkg==1.0 --hash=sha256:" + "0" * 64 + "\nfreshpkg==1.1\n", False),  # a lock
        ("oldpkg==1.0\nfreshpkg\n", True),  # one range: the index is asked
        ("oldpkg==1.*\n", True),  # a wildcard pins no one version
    ],
)
def test_a_lock_holds_nothing_back_and_the_index_is_not_asked(
    tmp_path: Path, lines: str, asks: bool
) -> None:
    from layerkit.installer import CommandResult, InstallRequest, UvBackend
    from layerkit.oldversions import probe_versions

    requirements = tmp_path / "requirements.txt"
    requirements.write_text(lines)
    asked: list[tuple[str, ...]] = []

    def runner(argv: Sequence[str], **_kwargs: object) -> CommandResult:
        asked.append(tuple(argv))
        return CommandResult(tuple(argv), 0, "oldpkg==1.0\n", "")

    request = InstallRequest(make_target("3.12", "x86_64"), tmp_path / "t", (requirements,))
    probed = probe_versions(request, uv=UvBackend("uv", "python3"), runner=runner, scratch=tmp_path)
    assert bool(asked) is asks
    assert (probed is None) is not asks


def _failed_resolution() -> str:
    from layerkit.errors import ResolutionError

    raise ResolutionError("the index is down")


@pytest.mark.parametrize(
    ("resolved", "asks_the_target"),
    [
        (lambda: "oldpkg==2.1\nsix==1.17.0\n", False),  # the newest there is: no note possible
        (lambda: "oldpkg==1.0\n", True),
        (lambda: "six==1.17.0\n", True),  # not resolved at all: unknown
        (_failed_resolution, True),
        (None, True),
    ],
)
def test_the_targets_side_is_asked_only_when_a_newer_release_than_its_own_exists(
    tmp_path: Path, resolved: Callable[[], str] | None, asks_the_target: bool
) -> None:
    from layerkit.installer import CommandResult, InstallRequest, UvBackend
    from layerkit.oldversions import probe_versions

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("oldpkg\n")
    platforms: list[str] = []

    def runner(argv: Sequence[str], **_kwargs: object) -> CommandResult:
        platform = argv[list(argv).index("--python-platform") + 1]
        platforms.append(platform)
        newest = platform.endswith("manylinux_2_40")
        return CommandResult(tuple(argv), 0, f"oldpkg=={'2.1' if newest else '1.0'}\n", "")

    request = InstallRequest(make_target("3.12", "x86_64"), tmp_path / "t", (requirements,))
    probed = probe_versions(request, uv=UvBackend("uv", "python3"), runner=runner,
                            scratch=tmp_path, resolved=resolved)  # fmt: skip
    assert platforms[0] == "x86_64-manylinux_2_40"
    if asks_the_target:
        assert platforms[1:] == ["x86_64-manylinux_2_34"]
        oldpkg = canonicalize_name("oldpkg")
        assert probed == ({oldpkg: Version("1.0")}, {oldpkg: Version("2.1")})
    else:
        assert platforms[1:] == []
        assert probed is None
