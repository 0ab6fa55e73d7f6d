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
from layerkit.indexpages import project_filenames, releases_the_target_takes
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
        ("pkg-1.5.tar.gz", False),  # layerkit installs wheels only
        ("not a wheel.whl", False),
    ],
)
def test_a_release_the_target_takes_has_a_wheel_with_its_tag(name: str, taken: bool) -> None:
    found = releases_the_target_takes([name], TARGET)
    assert found == ({Version("1.5")} if taken else set())


def test_each_release_counts_once_whatever_its_other_wheels() -> None:
    names = ["pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl", "pkg-1.0-py3-none-any.whl",
             "pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "pkg-3.0-cp311-cp311-win_amd64.whl"]  # fmt: skip
    assert releases_the_target_takes(names, TARGET) == {Version("1.0")}


def test_the_names_on_a_pep_503_page(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "d", "Some_Pkg", "1.0", tag="cp311-abi3-manylinux_2_24_x86_64")
    with serve_index(tmp_path / "d", tmp_path / "w") as url:
        assert project_filenames(url, "some.pkg") == (wheel.name,)
        assert project_filenames(url, "absent") is None  # 404


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
            "files": [{"filename": "pkg-1.0-py3-none-any.whl", "url": "x", "hashes": {}}]}  # fmt: skip
    json_type = "application/vnd.pypi.simple.v1+json"
    with _serving(json.dumps(page).encode(), json_type) as url:
        assert project_filenames(url, "pkg") == ("pkg-1.0-py3-none-any.whl",)
    with _serving(b'{"files": 3}', json_type) as url:
        assert project_filenames(url, "pkg") is None
    monkeypatch.setattr(indexpages, "MAX_PAGE_BYTES", 10)
    with _serving(json.dumps(page).encode(), json_type) as url:
        assert project_filenames(url, "pkg") is None  # larger than allowed: not read on
    assert project_filenames("file:///etc", "pkg") is None
