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
        "runtime_libs.py", "layerreport.py", "pyc.py", "slim/plan.py"]  # fmt: skip
# Modules that read the bytes of binaries (ELF, Mach-O, PE headers): elf.py alone.
BINARY_READERS = {"elf.py"}


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


def _layerkit_imports(path: Path) -> set[str]:
    """The modules of ours `path` imports (as paths relative to layerkit/), at any level."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            if not name.startswith("layerkit."):
                continue
            relative = name.removeprefix("layerkit.").replace(".", "/")
            for candidate in (f"{relative}.py", f"{relative}/__init__.py"):
                if (PACKAGE / candidate).is_file():
                    found.add(candidate)
    return found


def _closure(start: str) -> set[str]:
    """`start` and every module of ours it imports, directly or through others."""
    seen: set[str] = set()
    pending = [start]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending.extend(_layerkit_imports(PACKAGE / module))
    return seen


def test_the_slimming_plan_reaches_only_pure_modules() -> None:
    """`inspect` plans slimming over a zip: nothing the plan loads writes files or runs tools
    (the steps that do, apply/strip/compile, and the installer's runner sit apart)."""
    reached = _closure("slim/plan.py")
    assert reached <= {*PURE, "slim/__init__.py"}, sorted(reached - {*PURE, "slim/__init__.py"})
    assert not reached & {"slim/apply.py", "slim/strip.py", "slim/compile.py", "slim/tree.py",
                          "installer.py", "bytecode.py", "interpreter.py", "verify.py"}  # fmt: skip


def test_only_elf_reads_binary_headers() -> None:
    """ELF (and Mach-O/PE magic) reading lives in elf.py; verification and slimming import it."""
    readers = {"read_elf", "read_shared_object", "file_format", "symbols_needing"}
    for path in _modules():
        relative = path.relative_to(PACKAGE).as_posix()
        defined = {
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef)
        }
        assert relative in BINARY_READERS or not defined & readers, relative
    for module in ("verify.py", "slim/plan.py", "slim/strip.py"):
        assert "verify.py" not in _layerkit_imports(PACKAGE / module) or module == "verify.py"
        assert "elf.py" in _layerkit_imports(PACKAGE / module), module


def test_errors_imports_nothing_of_ours() -> None:
    assert "layerkit" not in _imports(PACKAGE / "errors.py")
