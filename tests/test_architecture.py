"""The layering STYLE.md describes, held by reading every module's imports with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

PACKAGE = REPO_ROOT / "layerkit"

# Which modules may import each boundary library (paths relative to layerkit/).
ALLOWED = {
    "subprocess": {"installer.py"},  # the one subprocess boundary
    "boto3": {"aws/session.py"},  # clients are made in one place
    "botocore": {"aws/session.py", "aws/errors.py", "aws/layers.py", "aws/s3.py"},
    "typer": {"cli.py", "commands/*"},
    "rich": {"charts.py", "commands/*"},
    "zipfile": set(),  # layer zips are read only by safezip.py, which parses them itself
}
PURE = ["errors.py", "targets.py", "config.py", "budget.py", "manifest.py", "contents.py",
        "provenance.py", "verify.py", "report.py", "matrix.py", "runtimehints.py",
        "editables.py", "oldversions.py", "sdists.py", "importtest.py", "elf.py", "linkage.py",
        "runtime_libs.py", "layerreport.py", "lockfiles.py"]  # fmt: skip


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _allowed(relative: str, library: str) -> bool:
    return any(
        relative == rule or (rule.endswith("/*") and relative.startswith(rule[:-1]))
        for rule in ALLOWED[library]
    )


@pytest.mark.parametrize("library", sorted(ALLOWED))
def test_boundary_libraries_are_imported_only_at_their_boundary(library: str) -> None:
    offenders = [
        path.relative_to(PACKAGE).as_posix()
        for path in _modules()
        if library in _imports(path) and not _allowed(path.relative_to(PACKAGE).as_posix(), library)
    ]
    assert offenders == []


def test_pure_modules_import_no_io_library() -> None:
    for name in PURE:
        assert not _imports(PACKAGE / name) & set(ALLOWED), name


def test_errors_imports_nothing_of_ours() -> None:
    assert "layerkit" not in _imports(PACKAGE / "errors.py")
