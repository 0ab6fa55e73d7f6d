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
        "runtime_libs.py", "layerreport.py", "limits.py"]  # fmt: skip


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


def _module_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def test_lambda_limits_are_defined_once_in_limits_py() -> None:
    limits = _module_level_names(PACKAGE / "limits.py")
    assert {"LAMBDA_UNZIPPED_LIMIT", "MAX_DESCRIPTION_CHARS", "MAX_ALIAS_NAME_CHARS"} <= limits
    redefined = {
        path.relative_to(PACKAGE).as_posix(): sorted(_module_level_names(path) & limits)
        for path in _modules()
        if path.name != "limits.py" and _module_level_names(path) & limits
    }
    assert redefined == {}
    # The unzipped budget's number is written nowhere else either (e.g. under another name).
    literal = [
        path.relative_to(PACKAGE).as_posix()
        for path in _modules()
        if path.name != "limits.py"
        and any(
            isinstance(node, ast.Constant) and node.value == 262_144_000
            for node in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert literal == []


def _runtime_imports(path: Path) -> set[str]:
    """Top-level packages imported outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_boto3_stubs_are_imported_for_type_checking_only() -> None:
    typed = [p for p in _modules() if any(n.startswith("mypy_boto3_") for n in _imports(p))]
    assert typed  # the AWS boundary is typed with them
    offenders = [
        path.relative_to(PACKAGE).as_posix()
        for path in typed
        if any(name.startswith("mypy_boto3_") for name in _runtime_imports(path))
    ]
    assert offenders == []
