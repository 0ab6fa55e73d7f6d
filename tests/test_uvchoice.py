"""How uv is held to the releases a glibc 2.26 target takes (`layerkit.uvchoice._Holds`): the
constraints written from the index's pages, and every reason to leave the question to pip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from layerkit import indexpages, uvchoice
from layerkit.indexpages import IndexFile
from layerkit.installer import CommandResult, InstallRequest, UvBackend
from layerkit.provenance import Choice
from layerkit.targets import make_target

REQUEST = InstallRequest(make_target("3.11", "x86_64"), dest=Path("/nowhere"))
PAGES = {
    "numpy": ("numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
              "numpy-2.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
              "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"),
    "gap": ("gap-1.0-py3-none-any.whl", "gap-1.5-cp311-cp311-manylinux_2_28_x86_64.whl",
            "gap-2.0-cp311-cp311-manylinux_2_24_x86_64.whl"),
    "local": ("local-1.0+cpu-py3-none-any.whl", "local-2.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
    "never": ("never-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",),
}  # fmt: skip


@pytest.fixture(autouse=True)
def pages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def read(index: str, project: str) -> tuple[IndexFile, ...] | None:
        asked.append(project)
        names = PAGES.get(project)
        return None if names is None else tuple(IndexFile(n) for n in names)

    monkeypatch.setattr(indexpages, "project_files", read)
    return asked


def test_a_release_newer_than_any_the_target_takes_holds_uv_below_it(pages: list[str]) -> None:
    holds = uvchoice._Holds("https://index/simple")
    assert holds.hold([Choice("numpy", "2.4.6", None)], REQUEST) == ""
    assert holds.constraints() == "numpy<=2.2.6\n"
    # a release below the newest the target takes, which it cannot take: excluded alone
    assert holds.hold([Choice("gap", "1.5", None)], REQUEST) == ""
    assert holds.constraints() == "gap!=1.5\nnumpy<=2.2.6\n"
    # each page is read once
    assert holds.hold([Choice("numpy", "2.2.5", None)], REQUEST) == ""
    assert holds.constraints() == "gap!=1.5\nnumpy<=2.2.6,!=2.2.5\n"
    assert pages == ["numpy", "gap"]


@pytest.mark.parametrize(
    ("index", "choice", "why"),
    [
        (None, Choice("numpy", "2.4.6", None), "more than one index, or none layerkit reads"),
        ("https://i/simple", Choice("absent", "1.0", None), "index page of absent could not be read"),
        ("https://i/simple", Choice("never", "1.0", None), "no release of never has a wheel"),
        ("https://i/simple", Choice("local", "2.0", None), "1.0+cpu, is a local version"),
        ("https://i/simple", Choice("numpy", "not a version", None), "no version layerkit can compare"),
    ],
)  # fmt: skip
def test_what_leaves_the_question_to_pip(index: str | None, choice: Choice, why: str) -> None:
    assert why in uvchoice._Holds(index).hold([choice], REQUEST)


def _asker(
    tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[uvchoice.UvAsker, list[list[str]]]:
    """An asker whose uv only says "resolved, nothing" and remembers each command line."""
    seen: list[list[str]] = []

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        seen.append(list(argv))
        return CommandResult(tuple(argv), 0, "", "")

    asker = uvchoice.UvAsker(UvBackend("uv", "python"), runner, env or {}, tmp_path)
    return asker, seen


def test_a_request_installed_without_dependencies_is_resolved_without_them(tmp_path: Path) -> None:
    """A lock file's pins are installed ``--no-deps``: uv, asked for them, resolves no more
    (pip's ``--no-deps`` dry run never did), and reads no uv.toml (pip reads none)."""
    asker, seen = _asker(tmp_path)
    request = InstallRequest(REQUEST.target, tmp_path / "t", requirements=("a==1.0",), no_deps=True)
    asker.compile(request, platform="x86_64-manylinux_2_28")
    assert "--no-deps" in seen[0] and "--no-config" in seen[0]


def test_anything_unexpected_leaves_the_question_to_pip_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    asker, _seen = _asker(tmp_path, {"PIP_CONFIG_FILE": "/dev/null"})

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(uvchoice, "_within_target", broken)
    assert uvchoice.resolve_for_target(REQUEST, asker, progress=said.append) is None
    assert uvchoice.newest_for_target(REQUEST, asker) is None  # the probe: advice, never a failure
    assert said == [
        "python3.11-x86_64: pip resolves, because layerkit could not tell (RuntimeError: a bug)"
    ]
    asker, _seen = _asker(tmp_path, {"PIP_CONFIG_FILE": "/dev/null", "UV_INDEX_URL": "https://m"})
    said.clear()
    assert uvchoice.resolve_for_target(REQUEST, asker, progress=said.append) is None
    assert said == [
        "python3.11-x86_64: pip resolves, because UV_INDEX_URL is set, which pip does not read"
    ]


def _lock(*packages: tuple[str, str, Sequence[str]], unhashed: bool = False) -> str:
    entries = []
    for name, version, files in packages:
        hashes = "" if unhashed else ', hashes = { sha256 = "00" }'
        wheels = ", ".join(f'{{ url = "https://files/{f}"{hashes} }}' for f in files)
        entries.append(
            f'[[packages]]\nname = "{name}"\nversion = "{version}"\nwheels = [{wheels}]\n'
        )
    return 'lock-version = "1.0"\n\n' + "\n".join(entries)


def _uv_answering(tmp_path: Path, locks: Mapping[str, str]) -> tuple[uvchoice.UvAsker, list[str]]:
    """An asker whose uv answers the direct requirements (one index) and, for each constraints
    text ('' first), the pylock in `locks`; and the constraints it was given."""
    held: list[str] = []

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        if "--emit-index-url" in argv:
            return CommandResult(tuple(argv), 0, "--index-url https://i/simple\n\npkg==1\n", "")
        given = ""
        if "--constraint" in argv:
            given = Path(argv[argv.index("--constraint") + 1]).read_text()
            held.append(given)
        return CommandResult(tuple(argv), 0, locks[given], "")

    env = {"PIP_CONFIG_FILE": "/dev/null"}
    return uvchoice.UvAsker(UvBackend("uv", "python"), runner, env, tmp_path), held


def test_uv_is_held_below_a_release_the_target_cannot_take_and_says_so(tmp_path: Path) -> None:
    locks = {
        "": _lock(("numpy", "2.4.6", ["numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.whl"])),
        "numpy<=2.2.6\n": _lock(("numpy", "2.2.6", ["numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.whl"])),
    }  # fmt: skip
    asker, held = _uv_answering(tmp_path, locks)
    said: list[str] = []
    resolution = uvchoice.resolve_for_target(REQUEST, asker, progress=said.append)
    assert resolution is not None and resolution.pins == "numpy==2.2.6\n"
    assert held == ["numpy<=2.2.6\n"]
    assert said == [
        "python3.11-x86_64: held to the releases with a wheel for glibc 2.26: numpy <=2.2.6"
    ]


@pytest.mark.parametrize(
    ("yanked", "outcome"),
    [
        # the release's only wheel for the target is yanked: pip goes older, so pip resolves
        ("pkg-2.0-cp311-cp311-manylinux_2_24_x86_64.whl",
         "pkg-2.0-cp311-cp311-manylinux_2_24_x86_64.whl is yanked, or its Requires-Python "
         "excludes 3.11"),
        # a wheel the target never takes is yanked: the choice stands
        ("pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl", ""),
    ],
)  # fmt: skip
def test_a_release_with_other_wheels_is_checked_against_its_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yanked: str, outcome: str
) -> None:
    files = ["pkg-2.0-cp311-cp311-manylinux_2_24_x86_64.whl",
             "pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl"]  # fmt: skip
    page = tuple(IndexFile(f, yanked=f == yanked) for f in files)
    monkeypatch.setattr(indexpages, "project_files", lambda index, project: page)
    asker, _held = _uv_answering(tmp_path, {"": _lock(("pkg", "2.0", files))})
    said: list[str] = []
    resolution = uvchoice.resolve_for_target(REQUEST, asker, progress=said.append)
    if outcome:
        assert resolution is None
        assert said == [f"python3.11-x86_64: pip resolves, because {outcome}"]
    else:
        assert resolution is not None and said == []
        assert [w.url for w in resolution.chosen] == [f"https://files/{files[0]}"]


def test_a_release_layerkit_cannot_pin_leaves_the_question_to_pip(tmp_path: Path) -> None:
    lock = _lock(("pkg", "2.0", ["pkg-2.0-py3-none-any.whl"]), unhashed=True)
    asker, _held = _uv_answering(tmp_path, {"": lock})
    said: list[str] = []
    assert uvchoice.resolve_for_target(REQUEST, asker, progress=said.append) is None
    assert said == [
        "python3.11-x86_64: pip resolves, because pkg 2.0 has a wheel with no sha256 to pin it by"
    ]
