"""The layering of layerkit, held by reading every module's imports with `ast`.

The rules: each boundary library (subprocess, boto3/botocore, typer, rich, zipfile) is imported
only by the module(s) that own that boundary (`ALLOWED`); the modules in `PURE` import no
boundary library, neither themselves nor through any module of ours they load, and none of our
boundary modules (`installer`, `aws/`, `cli`, `commands/`); `errors.py` imports nothing of ours;
and no two modules import each other, lazily or not (`build_model` is where the build's shared
types live, so `workflow` can import `assembly` lazily without `assembly` importing it back).
"Pure" here means exactly that: such a module may read files, it never runs a process, talks to
AWS or drives a terminal.
"""

from __future__ import annotations

import ast
import functools
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
# Modules that import no boundary library themselves (they may use one injected, e.g. a runner).
NO_BOUNDARY_IMPORT = ["errors.py", "targets.py", "config.py", "budget.py", "manifest.py",
        "contents.py", "provenance.py", "verify.py", "report.py", "matrix.py", "runtimehints.py",
        "editables.py", "oldversions.py", "sdists.py", "importtest.py", "elf.py", "linkage.py",
        "runtime_libs.py", "layerreport.py", "pins.py", "build_model.py", "cache.py",
        "safewrite.py", "limits.py", "lockfiles.py", "pyc.py", "slim/plan.py",
        "release_plan.py"]  # fmt: skip
# Modules that reach no boundary at all: not directly, not through any module of ours they load
# at run time (imports under `if TYPE_CHECKING:` are for mypy only and do not count).
PURE = ["errors.py", "targets.py", "config.py", "budget.py", "manifest.py", "contents.py",
        "provenance.py", "report.py", "matrix.py", "runtimehints.py", "editables.py", "elf.py",
        "runtime_libs.py", "layerreport.py", "pins.py", "build_model.py", "cache.py",
        "safewrite.py", "limits.py", "lockfiles.py", "pyc.py", "slim/plan.py",
        "release_plan.py"]  # fmt: skip
# What a pure module never loads, listed by name: processes, AWS, the terminal, the network,
# zip reading (safezip.py parses layer zips itself) and our own modules that own those boundaries.
BOUNDARY_LIBRARIES = ("subprocess", "multiprocessing", "boto3", "botocore", "typer", "click",
        "rich", "zipfile", "socket", "http.client", "urllib.request")  # fmt: skip
BOUNDARY_MODULES = ("layerkit.installer", "layerkit.aws", "layerkit.cli", "layerkit.commands")
# Import cycles still to break (each may only disappear): verify <-> linkage is the ELF split.
KNOWN_CYCLES = [{"layerkit.linkage", "layerkit.verify"}]
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


def test_listed_modules_import_no_boundary_library() -> None:
    for name in NO_BOUNDARY_IMPORT:
        assert not _imports(PACKAGE / name) & set(ALLOWED), name


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _runtime_imports(path: Path) -> frozenset[str]:
    """Full dotted names imported by `path` at run time, lazy imports included, `if
    TYPE_CHECKING:` blocks excluded; `from layerkit import x` counts as `layerkit.x`."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                   "typing.TYPE_CHECKING")
        for inner in ast.walk(node)
    }  # fmt: skip
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _graph() -> dict[str, set[str]]:
    """Each layerkit module -> the layerkit modules it imports at run time."""
    paths = {_module_name(p): p for p in _modules()}
    return {
        name: {i for i in _runtime_imports(path) if i in paths and i not in (name, "layerkit")}
        for name, path in paths.items()
    }


def _loaded(module: str, graph: dict[str, set[str]]) -> tuple[set[str], set[str]]:
    """(the layerkit modules `module` loads, itself included; every import name they use)."""
    paths = {_module_name(p): p for p in _modules()}
    seen: set[str] = set()
    names: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        names |= _runtime_imports(paths[current])
        todo += graph[current]
    return seen, names


def _is_boundary(name: str, boundaries: tuple[str, ...]) -> bool:
    return any(name == b or name.startswith(f"{b}.") for b in boundaries)


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_reach_no_boundary_library_nor_boundary_module(name: str) -> None:
    graph = _graph()
    modules, names = _loaded(_module_name(PACKAGE / name), graph)
    assert sorted(n for n in names if _is_boundary(n, BOUNDARY_LIBRARIES)) == []
    assert sorted(m for m in modules if _is_boundary(m, BOUNDARY_MODULES)) == []


def test_the_boundary_check_sees_a_library_loaded_through_another_module() -> None:
    """`_loaded` follows our own modules: the installer's subprocess reaches `workflow`."""
    _modules_loaded, names = _loaded("layerkit.workflow", _graph())
    assert "subprocess" in names
    assert "layerkit.installer" in _modules_loaded


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_new_import_cycles_lazy_imports_included() -> None:
    new = [cycle for cycle in _cycles(_graph()) if cycle not in KNOWN_CYCLES]
    assert new == []


def test_the_build_depends_downward_on_build_model() -> None:
    graph = _graph()
    assert "layerkit.assembly" in graph["layerkit.workflow"]  # the lazy import, kept
    assert "layerkit.workflow" not in graph["layerkit.assembly"]
    assert not graph["layerkit.build_model"] & {"layerkit.workflow", "layerkit.assembly"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_the_report_renderers_share_layerreport_not_each_other() -> None:
    graph = _graph()
    assert "layerkit.htmlreport" not in graph["layerkit.charts"]
    assert "layerkit.charts" not in graph["layerkit.htmlreport"]
    assert "layerkit.layerreport" in graph["layerkit.charts"] & graph["layerkit.htmlreport"]


def _layerkit_import_paths(path: Path) -> set[str]:
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
        pending.extend(_layerkit_import_paths(PACKAGE / module))
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
        assert "verify.py" not in _layerkit_import_paths(PACKAGE / module) or module == "verify.py"
        assert "elf.py" in _layerkit_import_paths(PACKAGE / module), module


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


def _runtime_top_packages(path: Path) -> set[str]:
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
        if any(name.startswith("mypy_boto3_") for name in _runtime_top_packages(path))
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
