"""Which files an index offers for a project (`layerkit.indexpages`): read from a PEP 691 JSON or
PEP 503 HTML page on 127.0.0.1, judged by name for a glibc 2.26 target."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from packaging.version import Version

from layerkit import indexpages
from layerkit.indexpages import IndexFile, project_files, releases_the_target_takes
from layerkit.targets import make_target
from tests.wheels import make_wheel, serve_handler, serve_index

TARGET = make_target("3.11", "x86_64")


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("pkg-1.5-cp311-cp311-manylinux_2_24_x86_64.whl", True),
        ("pkg-1.5-cp311-abi3-manylinux_2_26_x86_64.whl", True),
        ("pkg-1.5-cp39-abi3-manylinux_2_18_x86_64.whl", True),
        ("pkg-1.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ("pkg-1.5-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl", True),
        ("pkg-1.5-py3-none-any.whl", True),
        ("pkg-1.5-cp311-cp311-manylinux_2_27_x86_64.whl", False),  # glibc 2.27
        ("pkg-1.5-cp311-cp311-manylinux_2_24_aarch64.whl", False),
        ("pkg-1.5-cp312-cp312-manylinux_2_24_x86_64.whl", False),
        ("pkg-1.5-cp311-cp311-musllinux_1_2_x86_64.whl", False),
        ("pkg-1.5-1-cp311-cp311-manylinux_2_24_x86_64.whl", True),  # a build tag
        ("pkg-1.5-CP311-CP311-MANYLINUX_2_24_X86_64.whl", True),  # tags are lowercased
        ("pkg-1.5-cp310.cp311-cp310.cp311-manylinux_2_17_x86_64.whl", True),  # cp311-cp311
        ("pkg-1.5.tar.gz", False),  # layerkit installs wheels only
        ("not a wheel.whl", False),
        ("pkg-1.5-cp311-cp311-manylinux_2_24_x86_64.zip", False),
    ],
)
def test_a_release_the_target_takes_has_a_wheel_with_its_tag(name: str, taken: bool) -> None:
    found = releases_the_target_takes([IndexFile(name)], "pkg", TARGET)
    assert found == ({Version("1.5")} if taken else set())


@pytest.mark.parametrize(
    "file",
    [
        IndexFile("pkg-1.5-py3-none-any.whl", yanked=True),
        IndexFile("pkg-1.5-py3-none-any.whl", requires_python=">=3.12"),
        IndexFile("other-1.5-py3-none-any.whl"),  # pip checks the project's name too
    ],
)
def test_what_pip_would_not_install_counts_for_nothing(file: IndexFile) -> None:
    assert releases_the_target_takes([file], "pkg", TARGET) == set()
    assert releases_the_target_takes(
        [IndexFile("pkg-1.5-py3-none-any.whl", requires_python=">=3.8,<4")], "pkg", TARGET
    ) == {Version("1.5")}


def test_requires_python_is_judged_for_each_targets_python() -> None:
    file = IndexFile("pkg-1.5-py3-none-any.whl", requires_python=">=3.12")
    assert releases_the_target_takes([file], "pkg", TARGET) == set()
    on_312 = make_target("3.12", "x86_64")
    assert releases_the_target_takes([file], "pkg", on_312) == {Version("1.5")}


def test_the_quick_tag_check_turns_away_only_wheels_with_no_tag_of_the_target() -> None:
    """Most files of a page are for other platforms, turned away before their names and
    versions are parsed: never one whose tags, as packaging reads them, the target accepts."""
    from itertools import product

    from packaging.utils import parse_wheel_filename

    interpreters = ["py3", "cp311", "cp39", "cp312", "CP311", "py2.py3", "cp310.cp311"]
    abis = ["none", "cp311", "abi3", "cp311.abi3", "CP311"]
    platforms = ["any", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "win_amd64",
                 "manylinux2014_x86_64.manylinux_2_17_x86_64", "MANYLINUX_2_24_X86_64",
                 "manylinux_2_24_aarch64", "macosx_11_0_arm64.manylinux_2_5_x86_64"]  # fmt: skip
    for target in (TARGET, make_target("3.9", "arm64")):
        accepted = target.wheel_tag_ranks
        for build, i, a, p in product(["", "-2"], interpreters, abis, platforms):
            name = f"pkg-1.0{build}-{i}-{a}-{p}.whl"
            _, _, _, tags = parse_wheel_filename(name)
            if any(str(tag) in accepted for tag in tags):
                assert indexpages._may_carry_a_target_tag(name, accepted), name
                assert releases_the_target_takes([IndexFile(name)], "pkg", target), name
            else:
                assert not releases_the_target_takes([IndexFile(name)], "pkg", target), name


def test_a_name_compressing_a_billion_tags_is_turned_away_unexpanded() -> None:
    """Expanding it (as packaging would) would take 10^9 tags: a page is untrusted input."""
    many = ".".join(f"x{n}" for n in range(1000))
    name = f"pkg-1.0-py3.{many}-none.{many}-any.{many}.whl"
    assert releases_the_target_takes([IndexFile(name)], "pkg", TARGET) == set()


def test_a_name_compressing_hundreds_of_tags_is_judged_as_pip_would() -> None:
    """8 interpreters x 2 ABIs x 21 platforms: large, but a wheel's name may say that much."""
    interpreters = ".".join(f"cp3{minor}" for minor in range(6, 14))
    platforms = ".".join(
        [f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)] + ["win_amd64", "any"]
    )
    name = f"pkg-1.0-{interpreters}-abi3.none-{platforms}.whl"
    assert releases_the_target_takes([IndexFile(name)], "pkg", TARGET) == {Version("1.0")}


def test_each_release_counts_once_whatever_its_other_wheels() -> None:
    names = ["pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl", "pkg-1.0-py3-none-any.whl",
             "pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "pkg-3.0-cp311-cp311-win_amd64.whl"]  # fmt: skip
    files = [IndexFile(n) for n in names]
    assert releases_the_target_takes(files, "pkg", TARGET) == {Version("1.0")}


def test_the_names_on_a_pep_503_page(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "d", "Some_Pkg", "1.0", tag="cp311-abi3-manylinux_2_24_x86_64")
    with serve_index(tmp_path / "d", tmp_path / "w") as url:
        assert project_files(url, "some.pkg") == (IndexFile(wheel.name),)
        assert project_files(url, "absent") is None  # 404


def test_a_pep_503_page_says_what_is_yanked_and_for_which_python(tmp_path: Path) -> None:
    page = (b'<a href="/f/a-1.0-py3-none-any.whl#sha256=00" data-yanked="">a-1.0</a>\n'
            b'<a href="/f/a-2.0-py3-none-any.whl" data-requires-python="&gt;=3.12">a-2.0</a>\n')  # fmt: skip
    with _serving(page, "text/html") as url:
        assert project_files(url, "a") == (
            IndexFile("a-1.0-py3-none-any.whl", yanked=True),
            IndexFile("a-2.0-py3-none-any.whl", requires_python=">=3.12"),
        )


@contextmanager
def _serving(body: bytes, content_type: str) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_handler(Handler) as origin:
        yield f"{origin}/simple"


def test_the_names_on_a_pep_691_page_and_what_is_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    page = {"meta": {"api-version": "1.1"}, "name": "pkg",
            "files": [{"filename": "pkg-1.0-py3-none-any.whl", "url": "x", "hashes": {},
                       "yanked": "broken", "requires-python": ">=3.8"}]}  # fmt: skip
    json_type = "application/vnd.pypi.simple.v1+json"
    with _serving(json.dumps(page).encode(), json_type) as url:
        assert project_files(url, "pkg") == (
            IndexFile("pkg-1.0-py3-none-any.whl", yanked=True, requires_python=">=3.8"),
        )
    with _serving(b'{"files": 3}', json_type) as url:
        assert project_files(url, "pkg") is None
    monkeypatch.setattr(indexpages, "MAX_PAGE_BYTES", 10)
    with _serving(json.dumps(page).encode(), json_type) as url:
        assert project_files(url, "pkg") is None  # larger than allowed: not read on
    assert project_files("file:///etc", "pkg") is None


def test_an_index_url_with_credentials_is_never_read(tmp_path: Path) -> None:
    make_wheel(tmp_path / "d", "pkg", "1.0")
    seen: list[str] = []
    with serve_index(tmp_path / "d", tmp_path / "w", basic_auth="user:s3cret", seen=seen) as url:
        assert project_files(url, "pkg") is None
    assert seen == []  # layerkit never handles credentials: pip resolves instead


@contextmanager
def _cut_short() -> Iterator[str]:
    """A server that promises 1,000 bytes and sends 30."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'<a href="x-1.0-py3-none-any.whl">')
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_handler(Handler) as origin:
        yield f"{origin}/simple"


def test_a_page_cut_short_is_no_answer() -> None:
    with _cut_short() as url:
        assert project_files(url, "x") is None
