"""A file two distributions both ship with different contents: the layer holds whichever the
installer wrote last (uv installs in parallel, so that may change between builds). The build says
so, naming the file and both distributions; the same file with the same contents is no news."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerkit.contents import files_shipped_differently
from tests.build_fixtures import make_project
from tests.support import run_cli
from tests.wheels import make_wheel, serve_index


def test_only_a_path_listed_with_different_hashes_is_shipped_differently() -> None:
    records = {
        "a-1.0.dist-info": "a/__init__.py,sha256=AA,1\nshared.txt,sha256=X1,2\nsame.txt,sha256=S,3\n"
        "../../bin/tool,sha256=B1,4\n",
        "b-1.0.dist-info": "b/__init__.py,sha256=BB,1\nshared.txt,sha256=X2,2\nsame.txt,sha256=S,3\n"
        "../../bin/tool,sha256=B2,4\n",
    }
    assert files_shipped_differently(records) == {
        "shared.txt": ("a-1.0.dist-info", "b-1.0.dist-info"),
    }


def test_a_build_names_a_file_two_distributions_ship_differently(
    tmp_path: Path, env: dict[str, str]
) -> None:
    dists = tmp_path / "dists"
    make_wheel(dists, "alpha", "1.0", files={"alpha/__init__.py": b"", "tests/__init__.py": b"A\n",
                                             "common/readme.txt": b"same\n"})  # fmt: skip
    make_wheel(dists, "beta", "1.0", files={"beta/__init__.py": b"", "tests/__init__.py": b"B\n",
                                            "common/readme.txt": b"same\n"})  # fmt: skip
    with serve_index(dists, tmp_path / "index") as url:
        project = make_project(tmp_path, "alpha\nbeta\n")
        argv = ["build", str(project), "--index-url", url, "--python", "3.12", "--arch",
                "x86_64", "--no-compile", "-o", str(tmp_path / "out")]  # fmt: skip
        result = run_cli(*argv, env=env)
        assert result.returncode == 0, result.stderr
        assert (
            "tests/__init__.py is shipped by alpha-1.0 and beta-1.0 with different contents"
            in result.stderr
        )
        assert "common/readme.txt" not in result.stderr
        excluded = run_cli(*argv, "--exclude-glob", "tests/__init__.py", "--force", env=env)
    assert excluded.returncode == 0, excluded.stderr
    assert "shipped by" not in excluded.stderr


@pytest.mark.parametrize("shown", [1, 5])
def test_many_shared_files_are_counted_after_the_first_few(tmp_path: Path, shown: int) -> None:
    from layerkit.assembly import shared_file_warnings

    site = tmp_path / "site"
    for name, digest in (("a", "X"), ("b", "Y")):
        dist_info = site / f"{name}-1.0.dist-info"
        dist_info.mkdir(parents=True)
        rows = "".join(f"f{i}.txt,sha256={digest}{i},1\n" for i in range(7))
        (dist_info / "RECORD").write_text(rows)
    warnings = shared_file_warnings(site, {f"f{i}.txt" for i in range(7)}, shown=shown)
    assert len(warnings) == shown + 1
    assert warnings[-1] == f"{7 - shown} more files are shipped by two distributions"
