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
        "runtime_libs.py", "layerreport.py", "limits.py", "lockfiles.py"]  # fmt: skip


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


def _layerkit_imports(path: Path) -> set[str]:
    """The layerkit modules `path` imports, as dotted names (``from layerkit import x`` too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("layerkit."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "layerkit":
                names.update(f"layerkit.{a.name}" for a in node.names)
            elif node.module.startswith("layerkit."):
                names.add(node.module)
    return names


def _module_name(path: Path) -> str:
    return ".".join(("layerkit", *path.relative_to(PACKAGE).with_suffix("").parts))


# The use cases and the command line: they sit above layerkit.aws and call it, never the reverse.
USE_CASES = {"layerkit.publishing", "layerkit.releasing", "layerkit.workflow", "layerkit.cli"}


def test_aws_modules_import_no_use_case() -> None:
    aws = sorted((PACKAGE / "aws").glob("*.py"))
    # Anything that imports layerkit.aws (outside it) is above it, whatever its name.
    above = USE_CASES | {
        _module_name(path)
        for path in _modules()
        if "aws" not in path.relative_to(PACKAGE).parts[:1]
        and any(name.startswith("layerkit.aws") for name in _layerkit_imports(path))
    }
    assert {"layerkit.publishing", "layerkit.releasing"} <= above
    offenders = {
        path.name: sorted(
            name
            for name in _layerkit_imports(path)
            if name in above or name.startswith("layerkit.commands")
        )
        for path in aws
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_aws_and_release_names_have_one_meaning() -> None:
    """A class or function name is defined once across the AWS boundary and the use cases above
    it (e.g. a layer's publish result and a function version's are told apart by name)."""
    modules = [
        *sorted((PACKAGE / "aws").glob("*.py")),
        *(PACKAGE / name for name in ("publishing.py", "releasing.py", "release_plan.py")),
        PACKAGE / "budget.py",  # a layer's size report, not a function's
    ]
    defined: dict[str, list[str]] = {}
    for path in modules:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                defined.setdefault(node.name, []).append(path.relative_to(PACKAGE).as_posix())
    assert {name: where for name, where in defined.items() if len(where) > 1} == {}
