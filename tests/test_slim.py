"""slim: each rule's plan (pure, over trees and zips), applying it, strip and compile."""

from __future__ import annotations

import builtins
import importlib.util
import io
import marshal
import os
import platform
import random
import shutil
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from layerkit import elf, verify
from layerkit.bytecode import BytecodeStore
from layerkit.config import CompileMode, SlimSettings
from layerkit.contents import (
    FileEntry,
    distributions_from_texts,
    read_distributions,
    scan_tree,
    tree_opener,
)
from layerkit.installer import CommandResult, CommandRunner, run_command
from layerkit.interpreter import (
    Discovery,
    Interpreter,
    Which,
    locate_interpreter,
    missing_interpreter_reason,
)
from layerkit.pyc import PYC_MAGIC, cache_tag, pyc_magic, python_of_magic
from layerkit.safezip import open_layer_zip
from layerkit.slim import apply as slim_apply
from layerkit.slim import compile as slim_compile
from layerkit.slim import plan as slim_plan
from layerkit.slim import strip as slim_strip
from layerkit.slim.plan import SlimPlan
from layerkit.slim.tree import SlimmedTree, slim_tree
from layerkit.targets import Target, make_target
from tests.elf_fixtures import (
    C_BASELINE,
    EM_AARCH64,
    EM_X86_64,
    MACHO_64,
    gcc_shared_object,
    make_elf,
)

PY311 = make_target("3.11", "x86_64")
PY312 = make_target("3.12", "x86_64")
PY312_ARM = make_target("3.12", "arm64")
NO_RULES = SlimSettings(remove_tests=False)
DEFAULTS = SlimSettings()


def pyc(version: str, *, flags: int = 0b01, body: bytes = b"code") -> bytes:
    """A .pyc header for `version` (unchecked-hash by default) followed by `body`."""
    magic = PYC_MAGIC[version].to_bytes(2, "little") + b"\r\n"
    return magic + flags.to_bytes(4, "little") + b"\x00" * 8 + body


def dist_info(
    name: str, version: str, files: Sequence[str], requires: Sequence[str] = ()
) -> dict[str, bytes]:
    """METADATA and RECORD of an installed distribution listing `files`."""
    directory = f"{name.replace('-', '_')}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    record_rows = [*files, f"{directory}/METADATA", f"{directory}/RECORD"]
    record = "".join(f"{row},sha256=x,1\n" for row in record_rows)
    return {f"{directory}/METADATA": metadata.encode(), f"{directory}/RECORD": record.encode()}


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def make_plan(root: Path, target: Target = PY312, options: SlimSettings = DEFAULTS) -> SlimPlan:
    entries = scan_tree(root)
    return slim_plan.plan(
        entries, tree_opener(root), target, options, read_distributions(root, entries)
    )


def removed(plan: SlimPlan) -> dict[str, list[str]]:
    return {rule.rule: [r.path for r in rule.removals] for rule in plan.rules}


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --- bytecode ----------------------------------------------------------------------------------


def test_magic_table_matches_this_interpreter() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert PYC_MAGIC[version] == pyc_magic(importlib.util.MAGIC_NUMBER)


def test_magic_table_covers_every_lambda_runtime() -> None:
    from layerkit.targets import PYTHON_VERSIONS

    assert set(PYTHON_VERSIONS) <= set(PYC_MAGIC)
    for version, magic in PYC_MAGIC.items():
        assert python_of_magic(magic) == version


@pytest.mark.parametrize(
    ("magic", "version"), [(3600, "3.14"), (3530, "3.12"), (3450, "3.11"), (3000, None)]
)
def test_python_of_prerelease_magic(magic: int, version: str | None) -> None:
    assert python_of_magic(magic) == version


def test_bytecode_the_target_never_loads_is_removed(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/__init__.py": b"",
            "pkg/mod.py": b"",
            "pkg/__pycache__/mod.cpython-311.pyc": pyc("3.11"),
            "pkg/__pycache__/mod.cpython-312.pyc": pyc("3.12"),
            "pkg/__pycache__/mod.cpython-311.opt-1.pyc": pyc("3.11"),
            "pkg/__pycache__/mod.cpython-312.opt-1.pyc": pyc("3.12"),
            "pkg/__pycache__/__init__.cpython-311.pyc": pyc("3.12"),  # misnamed
            "pkg/__pycache__/broken.cpython-312.pyc": b"xx",
            "sourceless/__init__.pyc": pyc("3.12", flags=0),
            "sourceless/old.pyc": pyc("3.9"),
        },
    )
    plan = make_plan(root, PY312, NO_RULES)
    reasons = {r.path: r.reason for rule in plan.rules for r in rule.removals}
    assert removed(plan) == {
        "foreign-bytecode": [
            "pkg/__pycache__/__init__.cpython-311.pyc",
            "pkg/__pycache__/broken.cpython-312.pyc",
            "pkg/__pycache__/mod.cpython-311.opt-1.pyc",
            "pkg/__pycache__/mod.cpython-311.pyc",
            "pkg/__pycache__/mod.cpython-312.opt-1.pyc",
            "sourceless/old.pyc",
        ]
    }
    assert reasons["pkg/__pycache__/mod.cpython-311.pyc"] == (
        "compiled for Python 3.11, the target runs 3.12"
    )
    assert reasons["pkg/__pycache__/__init__.cpython-311.pyc"].startswith("named for cpython-311")
    assert "Lambda runs without -O" in reasons["pkg/__pycache__/mod.cpython-312.opt-1.pyc"]
    assert reasons["pkg/__pycache__/broken.cpython-312.pyc"] == "not a valid .pyc file"


def test_timestamp_bytecode_for_the_target_is_stale(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/mod.py": b"",
            "pkg/__pycache__/mod.cpython-312.pyc": pyc("3.12", flags=0),
            "pkg/__pycache__/hashed.cpython-312.pyc": pyc("3.12", flags=0b11),
        },
    )
    assert removed(make_plan(root, PY312, NO_RULES)) == {
        "stale-bytecode": ["pkg/__pycache__/mod.cpython-312.pyc"]
    }


def test_the_same_tree_slims_differently_per_target(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"m.py": b"", "__pycache__/m.cpython-311.pyc": pyc("3.11")})
    assert make_plan(root, PY311, NO_RULES).rules == ()
    assert make_plan(root, PY312, NO_RULES).files == 1


# --- tests directories -------------------------------------------------------------------------


def test_tests_directories_inside_packages_are_removed(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/__init__.py": b"",
            "pkg/tests/__init__.py": b"",
            "pkg/tests/test_a.py": b"import pkg\n",
            "pkg/tests/data/big.csv": b"x" * 1000,
            "pkg/sub/__init__.py": b"",
            "pkg/sub/test/test_b.py": b"",
            "pkg/sub/tests/test_c.py": b"",
            "pkg/testing.py": b"from pkg import tests as _t_ignored_in_comment_only\n"[:0],
            "numpy/__init__.py": b"",
            "numpy/testing/__init__.py": b"",
            "numpy/testing/_private/utils.py": b"",
            "tests/__init__.py": b"",  # a top-level package named tests
            "test/__init__.py": b"",
            "jaraco/test/__init__.py": b"",  # jaraco is a namespace: test is a distribution
            "data/tests/sample.txt": b"",  # parent is not a package
        },
    )
    plan = make_plan(root)
    assert removed(plan) == {
        "tests": [
            "pkg/sub/test/test_b.py",
            "pkg/sub/tests/test_c.py",
            "pkg/tests/__init__.py",
            "pkg/tests/data/big.csv",
            "pkg/tests/test_a.py",
        ]
    }
    assert plan.bytes == len(b"import pkg\n") + 1000


def test_tests_can_be_kept(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"pkg/__init__.py": b"", "pkg/tests/test_a.py": b"x"})
    assert make_plan(root, options=SlimSettings(remove_tests=False)).rules == ()
    assert make_plan(root).files == 1


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        ("pkg/__init__.py", b"from .tests import helpers\n"),
        ("pkg/__init__.py", b"from . import (\n    core,\n    tests,\n)\n"),
        ("pkg/core.py", b"import os, pkg.tests.helpers as h\n"),
        ("pkg/core.py", b"def f():\n    from pkg.tests import helpers\n"),
        ("pkg/sub/mod.py", b"from ..tests.helpers import thing\n"),
        ("other/use.py", b"from pkg.tests import helpers\n"),
        ("pkg/core.py", b"mod = importlib.import_module('pkg.tests.helpers')\n"),
        # the forms a whole-word prefilter must still see
        ("pkg/__init__.py", b"from . import tests\n"),
        ("pkg/sub/mod.py", b"from .. import tests\n"),
        ("pkg/core.py", b'mod = importlib.import_module("pkg.tests")\n'),
        ("pkg/core.py", b"from pkg import (\n    core,\n    tests as t,\n)\n"),
        ("pkg/core.py", b"from pkg.tests.helpers import (\n    thing)\n"),
        ("pkg/core.py", b"import pkg.tests\r\n"),
        ("pkg/core.py", b"def f():\n\tfrom pkg import tests\n"),
        ("pkg/core.py", b"import os; import sys\nimport json,pkg.tests\n"),
        ("pkg/core.py", "from pkg import x,\u00a0tests\n".encode()),  # str.strip() drops NBSP
    ],
)
def test_a_tests_directory_something_imports_is_kept(
    tmp_path: Path, importer: str, source: bytes
) -> None:
    files = {
        "pkg/__init__.py": b"",
        "pkg/core.py": b"",
        "pkg/sub/__init__.py": b"",
        "pkg/sub/mod.py": b"",
        "pkg/tests/__init__.py": b"",
        "pkg/tests/helpers.py": b"",
        "other/__init__.py": b"",
    }
    files[importer] = source
    plan = make_plan(write_tree(tmp_path, files))
    assert plan.rules == ()
    assert plan.notes == (f"kept pkg/tests/: {importer} imports it",)


def test_imports_from_tests_and_conftest_do_not_keep_tests(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/__init__.py": b"import unittest\nfrom pkg.testing import tools  # test\n",
            "pkg/testing.py": b"",
            "pkg/conftest.py": b"from pkg.tests.fixtures import *\n",
            "pkg/tests/fixtures.py": b"from pkg.tests import other\n",
            "pkg/tests/other.py": b"",
        },
    )
    assert removed(make_plan(root))["tests"] == ["pkg/tests/fixtures.py", "pkg/tests/other.py"]


def test_only_modules_naming_a_tests_package_are_scanned_for_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading every module is needed (any of them may import ``pkg.tests``), scanning each one's
    imports is not: only a module with ``tests``/``test`` as a whole word can name one."""
    scanned: list[str] = []
    scan = slim_plan.imported_modules

    def counting(path: str, source: str) -> set[str]:
        scanned.append(path)
        return scan(path, source)

    monkeypatch.setattr(slim_plan, "imported_modules", counting)
    not_words = [b"import pytest\n", b"import unittest\n", b"from pkg import testing\n",
                 b"latest = attest = contest = 1\n", b"tests_run = test2 = _test = 0\n",
                 b"import pkg.testsuite\n"]  # fmt: skip
    files = {f"pkg/m{i}.py": source for i, source in enumerate(not_words)}
    files |= {"pkg/__init__.py": b"", "pkg/tests/__init__.py": b"", "pkg/testing.py": b""}
    files["pkg/uses.py"] = b"from pkg import tests\n"
    plan = make_plan(write_tree(tmp_path, files))
    assert scanned == ["pkg/uses.py"]
    assert plan.notes == ("kept pkg/tests/: pkg/uses.py imports it",)
    del files["pkg/uses.py"]
    scanned.clear()
    plan = make_plan(write_tree(tmp_path / "without", files))
    assert scanned == []
    assert removed(plan) == {"tests": ["pkg/tests/__init__.py"]}


def test_modules_are_read_up_to_their_listed_size_and_a_huge_one_not_at_all() -> None:
    """Reading a few KiB must not allocate the 16 MiB a read sized for the largest module does
    (10k small modules paid 30 us each); a module listed over the limit keeps every tests dir
    without being opened."""
    files = {"pkg/__init__.py": b"", "pkg/tests/__init__.py": b"", "pkg/a.py": b"import os\n",
             "other/__init__.py": b"", "other/tests/t.py": b""}  # fmt: skip
    asked: dict[str, int] = {}

    class Recording(io.BytesIO):
        def __init__(self, path: str) -> None:
            super().__init__(files[path])
            self.path = path

        def read(self, size: int | None = -1, /) -> bytes:
            asked[self.path] = -1 if size is None else size
            return super().read(size)

    entries = [FileEntry(path, len(data)) for path, data in files.items()]
    plan = slim_plan.plan(entries, Recording, PY312, DEFAULTS, ())
    assert asked == {"other/__init__.py": 1, "pkg/__init__.py": 1, "pkg/a.py": 11}
    assert removed(plan) == {"tests": ["other/tests/t.py", "pkg/tests/__init__.py"]}
    huge = slim_plan._MAX_SOURCE_READ + 1
    entries.append(FileEntry("pkg/huge.py", huge))
    asked.clear()
    plan = slim_plan.plan(entries, Recording, PY312, DEFAULTS, ())
    assert "pkg/huge.py" not in asked
    assert plan.rules == ()
    assert plan.notes == ("kept other/tests/: pkg/huge.py imports it",
                          "kept pkg/tests/: pkg/huge.py imports it")  # fmt: skip


def test_a_module_the_prefilter_skips_imports_no_tests_package() -> None:
    """Soundness of the prefilter: over generated sources, whenever it says a module cannot
    import a tests package, `imported_modules` finds none."""
    packages = {"pkg.tests": "pkg/tests", "pkg.sub.test": "pkg/sub/test"}
    atoms = ["from", "import", " ", "\t", ".", "..", "pkg", "sub", "tests", "test", "testing",
             "(", ")", ",", "\n", "\r\n", "#", ";", " as ", "_", "x", "\u00a0", "\u00e9",
             "import_module('", "')", '"', "\\\n", "\x0c", "\r", "  "]  # fmt: skip
    rng = random.Random(18)
    skipped = 0
    for _ in range(20000):
        source = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 24)))
        path = rng.choice(["pkg/core.py", "pkg/sub/mod.py", "other/use.py", "top.py"])
        if slim_plan._may_import(path, source.encode(), packages):
            continue
        skipped += 1
        for module in slim_plan.imported_modules(path, source):
            assert slim_plan._ancestor_in(module, packages, ".") is None, (path, source, module)
    assert skipped > 5000  # the property was checked on many sources, not vacuously


def test_a_tests_word_where_no_import_reads_it_costs_no_parse() -> None:
    """The prefilter looks at where the word stands: in a docstring, a comment or code it is
    no import; on a statement's line, in a ``from x import (`` list past that line, or in an
    ``import_module(`` call it may be."""
    packages = {"pkg.tests": "pkg/tests"}

    def may(source: str) -> bool:
        return slim_plan._may_import("other/use.py", source.encode(), packages)

    assert not may('import os\n\ndef f(x):\n    """Run the tests."""\n    return x\n')
    assert not may("import os\n\ndef f(x):\n    # see the tests\n    return run(tests)\n")
    assert may("import os  # see the tests\n")  # on a statement's line: generous, read it
    assert may("from pkg import tests\n")
    assert may("import os\nimport pkg.tests as t\n")
    assert may("from pkg import (\n    a,\n    tests,\n)\n")
    assert may("m = importlib.import_module(\n    'pkg.tests')\n")
    # what `imported_modules` does not read, the prefilter need not either
    assert not may("from pkg import (a)\nx = tests\n")
    assert not slim_plan.imported_modules("other/use.py", "from pkg import (a)\nx = tests\n") & {
        "pkg.tests"
    }


def test_a_package_inside_a_tests_package_by_its_dotted_name_is_scanned(tmp_path: Path) -> None:
    """``a.b/tests`` is the module ``a.b.tests``, and so is the package of ``a/b/tests/x.py``:
    its relative import names the candidate without the word."""
    files = {
        "a.b/__init__.py": b"",
        "a.b/tests/__init__.py": b"",
        "a/b/tests/x.py": b"from . import y\n",
    }
    plan = make_plan(write_tree(tmp_path, files))
    assert plan.notes == ("kept a.b/tests/: a/b/tests/x.py imports it",)


def test_import_statements_are_read_as_lines() -> None:
    """The one-pattern scan keeps the line-by-line reading: statements only at a line's start,
    a parenthesised list to its ``)`` within the line limit (lines inside are not statements),
    an unclosed one as written."""
    inside = "\n".join(["from a import (b,", "import c", ")  ; import d", "import e"])
    assert slim_plan._import_statements(inside) == ([("", "a", "(b,\nimport c\n)")], ["e"])
    far = "from a import (b,\n" + "x,\n" * slim_plan._MAX_PARENTHESISED_LINES + ")\nimport f"
    assert slim_plan._import_statements(far) == ([("", "a", "(b,")], ["f"])
    near = "from a import (b,\n" + "x,\n" * (slim_plan._MAX_PARENTHESISED_LINES - 1) + ")\n"
    assert slim_plan._import_statements(near)[0][0][2].endswith("x,\n)")
    assert slim_plan._import_statements("x = 1  # from a import b\n  import c # d") == (
        [],
        ["c "],
    )
    assert slim_plan._import_statements("from   import (x)\nfrom\t. import y") == (
        [("", "", "(x)"), (".", "", "y")],
        [],
    )


def test_imported_modules_resolves_relative_imports() -> None:
    source = (
        "import a.b as c, d\n"
        "from . import x, y as z\n"
        "from .. import up\n"
        "from ...too_far import nothing\n"
        "from .m import (n,\n   o)\n"
        "from q import *\n"
    )
    assert slim_plan.imported_modules("pkg/sub/mod.py", source) == {
        "a.b",
        "d",
        "pkg.sub",
        "pkg.sub.x",
        "pkg.sub.y",
        "pkg",
        "pkg.up",
        "pkg.sub.m",
        "pkg.sub.m.n",
        "pkg.sub.m.o",
        "q",
    }


# --- exclusions --------------------------------------------------------------------------------


def boto_tree() -> dict[str, bytes]:
    return {
        "boto3/__init__.py": b"x" * 10,
        "boto3/__pycache__/__init__.cpython-312.pyc": pyc("3.12"),
        "boto3/data/s3.json": b"{}",
        **dist_info("boto3", "1.40.0", ["boto3/__init__.py", "boto3/data/s3.json"], ["botocore"]),
        "botocore/__init__.py": b"",
        **dist_info("botocore", "1.40.0", ["botocore/__init__.py"], ["urllib3"]),
        "mylib/__init__.py": b"",
        **dist_info(
            "mylib",
            "1.0",
            ["mylib/__init__.py"],
            ["boto3", 'botocore; python_version < "3.10"', "helper-pkg", "unrelated"],
        ),
        "helper_pkg/__init__.py": b"",
        **dist_info("helper-pkg", "2.0", ["helper_pkg/__init__.py"]),
    }


def test_excluding_distributions_removes_their_record_and_bytecode(tmp_path: Path) -> None:
    root = write_tree(tmp_path, boto_tree())
    plan = make_plan(root, options=SlimSettings(exclude_distributions=("Boto3", "helper_pkg")))
    assert removed(plan) == {
        "exclude-distribution": [
            "boto3-1.40.0.dist-info/METADATA",
            "boto3-1.40.0.dist-info/RECORD",
            "boto3/__init__.py",
            "boto3/__pycache__/__init__.cpython-312.pyc",
            "boto3/data/s3.json",
            "helper_pkg-2.0.dist-info/METADATA",
            "helper_pkg-2.0.dist-info/RECORD",
            "helper_pkg/__init__.py",
        ]
    }
    boto3_warning, *dependents = plan.warnings
    assert boto3_warning.startswith("boto3 is excluded: your code will import the copy in the ")
    assert "older" in boto3_warning and "pins" in boto3_warning
    assert dependents == [
        "mylib requires boto3, which is excluded: it will import the runtime's copy",
        "mylib requires helper-pkg, which is excluded: importing it will fail unless the "
        "function ships that distribution",
    ]


def test_excluding_an_unknown_distribution_warns(tmp_path: Path) -> None:
    root = write_tree(tmp_path, boto_tree())
    plan = make_plan(root, options=SlimSettings(exclude_distributions=("bot0core",)))
    assert plan.rules == ()
    assert plan.warnings == ("exclude: no distribution named 'bot0core' is installed",)


def test_excluding_an_absent_runtime_package_is_a_quiet_guard(tmp_path: Path) -> None:
    root = write_tree(tmp_path, boto_tree())
    plan = make_plan(root, options=SlimSettings(exclude_distributions=("s3transfer",)))
    assert plan.warnings == ()
    assert "exclude: s3transfer is not installed (nothing to leave out)" in plan.notes


def test_globs_remove_matching_files_and_directories(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/__init__.py": b"",
            "pkg/docs/index.html": b"<html/>",
            "pkg/docs/img/logo.png": b"png",
            "pkg/README.md": b"readme",
            "pkg/plugins/extra.py": b"",
            **dist_info("pkg", "1", ["pkg/__init__.py"]),
        },
    )
    options = SlimSettings(exclude_globs=("pkg/docs", "*.md", "pkg/plugins/*", "nothing/*"))
    plan = make_plan(root, options=options)
    assert removed(plan) == {
        "exclude-glob": [
            "pkg/README.md",
            "pkg/docs/img/logo.png",
            "pkg/docs/index.html",
            "pkg/plugins/extra.py",
        ]
    }
    assert plan.warnings == (
        "exclude glob 'pkg/plugins/*' removes 1 importable module(s), e.g. pkg/plugins/extra.py: "
        "make sure nothing imports them",
        "exclude glob 'nothing/*' matches nothing",
    )


def test_metadata_is_never_removed_by_a_rule(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": b"",
        **dist_info("pkg", "1", ["pkg/__init__.py"]),
        "pkg-1.dist-info/entry_points.txt": b"[console_scripts]\n",
        "pkg-1.dist-info/LICENSE": b"MIT",
    }
    plan = make_plan(
        write_tree(tmp_path, files), options=SlimSettings(exclude_globs=("*.dist-info",))
    )
    assert removed(plan) == {"exclude-glob": ["pkg-1.dist-info/LICENSE", "pkg-1.dist-info/RECORD"]}
    assert plan.notes == (
        "exclude glob '*.dist-info': kept 2 file(s) importlib.metadata needs, e.g. "
        "pkg-1.dist-info/METADATA",
    )


def test_each_file_is_counted_once_by_the_first_rule(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/__init__.py": b"",
            "pkg/tests/__pycache__/t.cpython-311.pyc": pyc("3.11", body=b"x" * 100),
            "pkg/tests/t.py": b"y" * 50,
        },
    )
    plan = make_plan(root, options=SlimSettings(exclude_globs=("pkg/tests/*",)))
    assert removed(plan) == {"tests": ["pkg/tests/__pycache__/t.cpython-311.pyc", "pkg/tests/t.py"]}
    assert (plan.files, plan.bytes) == (2, 16 + 100 + 50)


# --- pure planning, on trees and zips ----------------------------------------------------------


def test_planning_changes_nothing_and_a_zip_plans_like_its_tree(tmp_path: Path) -> None:
    files = {
        **boto_tree(),
        "pkg/__init__.py": b"",
        "pkg/tests/test_x.py": b"assert True",
        "pkg/__pycache__/__init__.cpython-311.pyc": pyc("3.11"),
    }
    root = write_tree(tmp_path / "site", files)
    before = snapshot(root)
    options = SlimSettings(exclude_distributions=("botocore",), exclude_globs=("*.json",))
    tree_plan = make_plan(root, options=options)
    assert snapshot(root) == before

    prefix = PY312.site_packages
    archive_path = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for path, content in files.items():
            archive.writestr(f"{prefix}/{path}", content)
    with open_layer_zip(archive_path) as layer_zip:
        entries = verify.zip_file_entries(layer_zip, prefix)
        opener = verify.zip_opener(layer_zip, prefix)
        texts = {
            d: (
                layer_zip.read_head(f"{prefix}/{d}/METADATA", 1 << 20).decode(),
                layer_zip.read_head(f"{prefix}/{d}/RECORD", 1 << 20).decode(),
            )
            for d in (
                "boto3-1.40.0.dist-info",
                "botocore-1.40.0.dist-info",
                "mylib-1.0.dist-info",
                "helper_pkg-2.0.dist-info",
            )
        }
        distributions = distributions_from_texts(texts, [e.path for e in entries])
        zip_plan = slim_plan.plan(entries, opener, PY312, options, distributions)
    assert zip_plan == tree_plan
    assert set(removed(zip_plan)) == {
        "exclude-distribution",
        "tests",
        "exclude-glob",
        "foreign-bytecode",
    }


# --- apply -------------------------------------------------------------------------------------


def test_apply_removes_planned_files_and_emptied_directories(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "site",
        {
            "pkg/__init__.py": b"",
            "pkg/tests/deep/er/test_a.py": b"abc",
            "pkg/tests/test_b.py": b"de",
            "pkg/__pycache__/__init__.cpython-311.pyc": pyc("3.11"),
            "keep/empty_before/.keep": b"",
        },
    )
    (root / "already_empty").mkdir()
    plan = make_plan(root)
    report = slim_apply.apply(root, plan)
    assert [(r.rule, r.files, r.bytes) for r in report.rules] == [
        ("tests", 2, 5),
        ("foreign-bytecode", 1, 16 + 4),
    ]
    assert (report.files, report.bytes) == (3, 25)
    assert sorted(snapshot(root)) == ["keep/empty_before/.keep", "pkg/__init__.py"]
    assert not (root / "pkg/tests").exists()
    assert not (root / "pkg/__pycache__").exists()
    assert (root / "already_empty").is_dir()


def test_apply_resolves_each_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"pkg/tests/test_{i}.py": b"" for i in range(40)}
    files |= {f"pkg/sub/test/t{i}.py": b"" for i in range(40)}
    root = write_tree(
        tmp_path / "site", {"pkg/__init__.py": b"", "pkg/sub/__init__.py": b"", **files}
    )
    plan = make_plan(root)
    resolved: list[Path] = []
    resolve = Path.resolve

    def counting(self: Path, strict: bool = False) -> Path:
        resolved.append(self)
        return resolve(self, strict)

    monkeypatch.setattr(Path, "resolve", counting)
    report = slim_apply.apply(root, plan)
    assert report.files == 80
    assert sorted(resolved) == [root, root / "pkg/sub/test", root / "pkg/tests"]


def test_apply_refuses_paths_outside_the_tree(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "site", {"a.py": b""})
    outside = write_tree(tmp_path, {"outside.py": b"precious"}) / "outside.py"
    (root / "link").symlink_to(tmp_path)
    evil = slim_plan.SlimPlan(
        (
            slim_plan.RulePlan(
                "exclude-glob",
                "",
                (
                    slim_plan.Removal("../outside.py", 8, "x"),
                    slim_plan.Removal("link/outside.py", 8, "x"),
                    slim_plan.Removal("gone.py", 1, "x"),
                ),
            ),
        )
    )
    report = slim_apply.apply(root, evil)
    assert outside.read_bytes() == b"precious"
    assert report.files == 0
    assert report.warnings == (
        f"refused to remove '../outside.py': outside {root}",
        f"refused to remove 'link/outside.py': outside {root}",
    )


@pytest.mark.parametrize("odd", ["pkg/", "pkg//a.py", "pkg/./a.py", "/pkg/a.py", ""])
def test_apply_refuses_paths_no_scan_of_a_tree_gives(tmp_path: Path, odd: str) -> None:
    """Paths are joined as text: an empty or ``.`` part, which a Path would have normalised
    away, is refused rather than guessed at (a plan's paths come from the tree's scan)."""
    root = write_tree(tmp_path / "site", {"pkg/a.py": b"kept"})
    plan = slim_plan.SlimPlan(
        (slim_plan.RulePlan("exclude-glob", "", (slim_plan.Removal(odd, 4, "x"),)),)
    )
    report = slim_apply.apply(root, plan)
    assert report.files == 0
    assert report.warnings == (f"refused to remove {odd!r}: outside {root}",)
    assert (root / "pkg/a.py").read_bytes() == b"kept"


# --- strip -------------------------------------------------------------------------------------


def fake_which(*available: str) -> Which:
    return lambda name: f"/usr/bin/{name}" if name in available else None


@pytest.mark.parametrize(
    ("target", "host", "available", "expected"),
    [
        (PY312, "x86_64", ("strip",), "/usr/bin/strip"),
        (PY312, "x86_64", ("strip", "x86_64-linux-gnu-strip"), "/usr/bin/x86_64-linux-gnu-strip"),
        (PY312_ARM, "x86_64", ("strip",), None),
        (PY312_ARM, "x86_64", ("strip", "llvm-strip-14"), "/usr/bin/llvm-strip-14"),
        (
            PY312_ARM,
            "x86_64",
            ("llvm-strip", "aarch64-linux-gnu-strip"),
            "/usr/bin/aarch64-linux-gnu-strip",
        ),
        (PY312_ARM, "aarch64", ("strip",), "/usr/bin/strip"),
        (PY312, "aarch64", ("strip",), None),
    ],
)
def test_find_strip_only_offers_tools_that_know_the_target(
    target: Target, host: str, available: tuple[str, ...], expected: str | None
) -> None:
    assert (
        slim_strip.find_strip(target, which=fake_which(*available), host_machine=host) == expected
    )


def test_without_a_strip_for_the_target_strip_is_skipped_with_a_hint(tmp_path: Path) -> None:
    report = slim_strip.strip_shared_objects(
        tmp_path,
        [slim_plan.StripCandidate("a.so", 1, 1)],
        PY312_ARM,
        runner=failing_runner,
        tool=None,
    )
    assert report.files == ()
    assert report.skipped_reason == (
        "no strip for aarch64 found on PATH: install llvm (llvm-strip) or "
        "binutils-aarch64-linux-gnu (aarch64-linux-gnu-strip)"
    )
    assert report.warnings == (f"strip skipped: {report.skipped_reason}",)


def failing_runner(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> CommandResult:
    raise AssertionError(f"ran {argv}")


def test_strip_candidates_skip_vendored_libraries_and_other_machines(tmp_path: Path) -> None:
    elf = make_elf(EM_X86_64, debug_bytes=1000)
    root = write_tree(
        tmp_path,
        {
            "pkg/_a.abi3.so": elf,
            "numpy.libs/libopenblas64_p-r0-0cf96a72.3.23.dev.so": elf,
            "pkg/_arm.abi3.so": make_elf(EM_AARCH64),
            "pkg/_plain.so.1": make_elf(EM_X86_64, debug_bytes=0),
        },
    )
    # a link ships as the file it names, which is stripped as itself: strip never replaces it
    (root / "pkg/_alias.so").symlink_to("_a.abi3.so")
    plan = make_plan(root, options=SlimSettings(strip=True))
    symtab_and_strtab = 48 + len(b"\x00local_helper\x00")
    assert plan.strip == (
        slim_plan.StripCandidate("pkg/_a.abi3.so", len(elf), 1000 + symtab_and_strtab),
        slim_plan.StripCandidate(
            "pkg/_plain.so.1", len(make_elf(EM_X86_64, debug_bytes=0)), symtab_and_strtab
        ),
    )
    assert plan.strip_estimate == 1000 + 2 * symtab_and_strtab
    assert plan.notes == (
        "strip: left 1 vendored library in *.libs/ alone (stripping them breaks their packages)",
    )
    assert make_plan(root).strip == ()


def test_gnu_strip_shrinks_a_real_object_and_leaves_the_cache_copy_alone(tmp_path: Path) -> None:
    cache = tmp_path / "uv-cache"
    cache.mkdir()
    cached = gcc_shared_object(cache, "_ext.abi3.so", C_BASELINE)
    original = cached.read_bytes()
    site = tmp_path / "site" / "pkg"
    site.mkdir(parents=True)
    installed = site / "_ext.abi3.so"
    os.link(cached, installed)  # what uv does
    installed.chmod(0o755)
    root = tmp_path / "site"

    plan = make_plan(root, options=SlimSettings(strip=True))
    tool = slim_strip.find_strip(PY312, which=shutil.which, host_machine="x86_64")
    report = slim_strip.strip_shared_objects(root, plan.strip, PY312, runner=run_command, tool=tool)

    (stripped,) = report.files
    assert stripped.path == "pkg/_ext.abi3.so"
    assert stripped.after < stripped.before == len(original)
    assert report.bytes_saved == stripped.before - stripped.after
    assert report.hard_links_kept == 1
    assert cached.read_bytes() == original
    assert installed.stat().st_ino != cached.stat().st_ino
    assert installed.stat().st_mode & 0o777 == 0o755
    assert (
        verify.check_shared_objects(["pkg/_ext.abi3.so"], tree_opener(root), PY312, owners={}) == ()
    )
    assert list(site.iterdir()) == [installed]  # no temporary file left behind


def test_llvm_strip_shrinks_an_aarch64_object(tmp_path: Path) -> None:
    tool = shutil.which("llvm-strip")
    assert tool, "llvm-strip is needed for this test: apt-get install llvm"
    root = write_tree(tmp_path, {"pkg/_a.abi3.so": make_elf(EM_AARCH64, debug_bytes=5000)})
    plan = make_plan(root, PY312_ARM, SlimSettings(strip=True))
    report = slim_strip.strip_shared_objects(
        root, plan.strip, PY312_ARM, runner=run_command, tool=tool
    )
    assert report.warnings == ()
    assert report.bytes_saved >= 5000
    info = elf.read_shared_object(io.BytesIO((root / "pkg/_a.abi3.so").read_bytes()))
    assert (info.machine, info.glibc) == ("EM_AARCH64", (2, 17))


def test_gnu_strip_cannot_read_aarch64_and_the_file_is_kept(tmp_path: Path) -> None:
    content = make_elf(EM_AARCH64)
    root = write_tree(tmp_path, {"pkg/_a.abi3.so": content})
    candidates = [slim_plan.StripCandidate("pkg/_a.abi3.so", len(content), 100)]
    report = slim_strip.strip_shared_objects(
        root, candidates, PY312_ARM, runner=run_command, tool="strip"
    )
    assert report.files == ()
    (warning,) = report.warnings
    assert warning.startswith("strip: kept pkg/_a.abi3.so as it was: strip failed (1)")
    assert (root / "pkg/_a.abi3.so").read_bytes() == content
    assert sorted(p.name for p in (root / "pkg").iterdir()) == ["_a.abi3.so"]


def misaligned(elf: bytes) -> bytes:
    """Move the first PT_LOAD's file offset off its alignment (what broke stripped OpenBLAS)."""
    program_header = 64
    return elf[: program_header + 8] + (8).to_bytes(8, "little") + elf[program_header + 16 :]


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        (b"garbage", "the result is not a readable ELF file (unknown)"),
        (make_elf(EM_AARCH64, debug_bytes=0), "the result is for EM_AARCH64"),
        (
            misaligned(make_elf(EM_X86_64, debug_bytes=0)),
            "a loadable segment lost its alignment (the loader would refuse it)",
        ),
    ],
)
def test_an_unsound_strip_result_is_thrown_away(
    tmp_path: Path, output: bytes, problem: str
) -> None:
    content = make_elf(EM_X86_64, debug_bytes=2000)
    root = write_tree(tmp_path, {"pkg/_a.abi3.so": content})
    calls: list[list[str]] = []

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        calls.append(list(argv))
        Path(argv[3]).write_bytes(output)
        return CommandResult(tuple(argv), 0, "", "")

    candidates = [slim_plan.StripCandidate("pkg/_a.abi3.so", len(content), 2000)]
    report = slim_strip.strip_shared_objects(
        root, candidates, PY312, runner=runner, tool="/usr/bin/strip"
    )
    so = root / "pkg/_a.abi3.so"
    assert calls == [
        [
            "/usr/bin/strip",
            "--strip-unneeded",
            "-o",
            str(root / "pkg/._a.abi3.so.layerkit-strip"),
            str(so),
        ]
    ]
    assert report.files == ()
    assert report.warnings == (f"strip: kept pkg/_a.abi3.so as it was: {problem}",)
    assert so.read_bytes() == content
    assert sorted(p.name for p in (root / "pkg").iterdir()) == ["_a.abi3.so"]


def test_a_strip_result_that_is_not_smaller_is_dropped_quietly(tmp_path: Path) -> None:
    content = make_elf(EM_X86_64, debug_bytes=10)
    root = write_tree(tmp_path, {"pkg/_a.abi3.so": content})

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        Path(argv[3]).write_bytes(make_elf(EM_X86_64, debug_bytes=20))
        return CommandResult(tuple(argv), 0, "", "")

    candidates = [slim_plan.StripCandidate("pkg/_a.abi3.so", len(content), 10)]
    report = slim_strip.strip_shared_objects(root, candidates, PY312, runner=runner, tool="strip")
    assert (report.files, report.warnings) == ((), ())
    assert (root / "pkg/_a.abi3.so").read_bytes() == content
    assert sorted(p.name for p in (root / "pkg").iterdir()) == ["_a.abi3.so"]


def test_strip_refuses_vendored_libraries_even_when_asked(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"numpy.libs/libopenblas.so": make_elf(EM_X86_64)})
    candidates = [slim_plan.StripCandidate("numpy.libs/libopenblas.so", 1, 1)]
    report = slim_strip.strip_shared_objects(
        root, candidates, PY312, runner=failing_runner, tool="strip"
    )
    assert report.warnings == ("strip: refused 'numpy.libs/libopenblas.so'",)


# --- compile -----------------------------------------------------------------------------------


def scripted_runner(result: CommandResult) -> CommandRunner:
    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        return CommandResult(tuple(argv), result.returncode, result.stdout, result.stderr)

    return runner


def test_no_interpreter_of_the_target_version_says_why() -> None:
    found = locate_interpreter(PY312, which=fake_which(), runner=failing_runner)
    assert found.interpreter is None
    assert missing_interpreter_reason(found) == (
        "no python3.12 on PATH; install Python 3.12 (e.g. `uv python install 3.12`) "
        "or pass --interpreter PATH"
    )


def test_an_interpreter_that_does_not_run_says_why() -> None:
    runner = scripted_runner(
        CommandResult((), 127, "", "pyenv: python3.12: command not found\n\nmore words\n")
    )
    found = locate_interpreter(PY312, which=fake_which("python3.12"), runner=runner)
    assert found.interpreter is None
    assert missing_interpreter_reason(found).startswith(
        "/usr/bin/python3.12 does not run (a pyenv shim without that version?): "
        "pyenv: python3.12: command not found; install Python 3.12"
    )


def test_an_interpreter_of_another_version_is_refused() -> None:
    runner = scripted_runner(CommandResult((), 0, "3.11.7\ncpython-311\n3495\n/x/py\n", ""))
    found = locate_interpreter(PY312, which=fake_which("python3.12"), runner=runner)
    assert found.interpreter is None
    assert missing_interpreter_reason(found).startswith(
        "/usr/bin/python3.12 is Python 3.11, not 3.12; install"
    )


def test_an_interpreter_answering_only_its_version_is_accepted() -> None:
    runner = scripted_runner(CommandResult((), 0, "3.12\n", ""))
    found = locate_interpreter(PY312, which=fake_which("python3.12"), runner=runner)
    assert found.interpreter is not None and found.interpreter.path == "/usr/bin/python3.12"


def test_compile_command(tmp_path: Path) -> None:
    assert slim_compile.compile_command("/usr/bin/python3.12", tmp_path, PY312) == [
        "/usr/bin/python3.12",
        "-I",
        "-m",
        "compileall",
        "-q",
        "-f",
        "-j",
        "0",
        "-o",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        "/opt/python/lib/python3.12/site-packages",
        "-e",
        str(tmp_path),
        str(tmp_path),
    ]


HOST = make_target(f"{sys.version_info.major}.{sys.version_info.minor}", "x86_64")


def run_slim_tree(root: Path, target: Target, options: SlimSettings, **steps: Any) -> SlimmedTree:
    """`slim_tree` on `root`, walked here; the entries it returns must be what a new walk finds."""
    slimmed = slim_tree(root, target, options, entries=scan_tree(root), **steps)
    assert slimmed.entries == scan_tree(root)
    return slimmed


def bytecode_request(
    tmp_path: Path, discovery: Discovery, mode: CompileMode = "auto"
) -> slim_compile.BytecodeRequest:
    return slim_compile.BytecodeRequest(
        mode, discovery, BytecodeStore(tmp_path / "store"), budget_bytes=10**9
    )


def test_compiled_bytecode_is_reproducible_and_kept_by_the_plan(tmp_path: Path) -> None:
    link_dir = tmp_path / "bin"
    link_dir.mkdir()
    (link_dir / HOST.runtime).symlink_to(sys.executable)
    which = lambda name: shutil.which(name, path=str(link_dir))  # noqa: E731
    discovery = locate_interpreter(HOST, which=which, runner=run_command)
    assert discovery.interpreter is not None, discovery.reason

    sources = {"pkg/__init__.py": b"X = 1\n", "pkg/mod.py": b"def f():\n    return 2\n"}
    digests = []
    for name in ("one", "two"):
        root = write_tree(tmp_path / name, sources)
        report = run_slim_tree(
            root, HOST, NO_RULES, runner=run_command, which=which, host_machine="x86_64",
            bytecode=bytecode_request(tmp_path / f"{name}-store", discovery),
        ).report.compile  # fmt: skip
        assert report is not None
        assert (report.files, report.warnings, report.compiled) == (2, (), 2)
        compiled = root / f"pkg/__pycache__/mod.{cache_tag(HOST)}.pyc"
        data = compiled.read_bytes()
        assert (
            report.bytes
            == len(data) + (root / f"pkg/__pycache__/__init__.{cache_tag(HOST)}.pyc").stat().st_size
        )
        digests.append(snapshot(root))
        assert data[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, unchecked
        code = marshal.loads(data[16:])
        assert code.co_filename == f"/opt/{HOST.site_packages}/pkg/mod.py"
        assert make_plan(root, HOST, NO_RULES).rules == ()
    assert digests[0] == digests[1]


def test_modules_that_do_not_compile_are_reported(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "t", {"pkg/__init__.py": b"", "pkg/py2.py": b"print 'hello'\n"})
    interpreter = Interpreter(sys.executable, platform.python_version(), "test")
    report = run_slim_tree(
        root, HOST, NO_RULES, runner=run_command, which=fake_which(), host_machine="x86_64",
        bytecode=bytecode_request(tmp_path, Discovery(HOST.python, interpreter)),
    ).report.compile  # fmt: skip
    assert report is not None and report.files == 1
    (warning,) = report.warnings
    assert warning.startswith(f"compile: 1 module(s) did not compile for {HOST.runtime}")
    assert "pkg/py2.py" in warning
    assert not (root / f"pkg/__pycache__/py2.{cache_tag(HOST)}.pyc").exists()


# --- everything on a tree ----------------------------------------------------------------------


def test_slim_tree_runs_every_step(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/__init__.py": b"",
            "pkg/tests/t.py": b"",
            "pkg/_a.abi3.so": make_elf(EM_AARCH64),
            **dist_info("pkg", "1", ["pkg/__init__.py", "pkg/tests/t.py", "pkg/_a.abi3.so"]),
        },
    )
    report = run_slim_tree(
        root,
        PY312_ARM,
        SlimSettings(strip=True),
        runner=failing_runner,
        which=fake_which(),
        host_machine="x86_64",
        bytecode=bytecode_request(tmp_path / "b", Discovery("3.12", None, ("none here",))),
    ).report
    assert [(r.rule, r.files) for r in report.rules] == [("tests", 1)]
    assert report.strip is not None and report.strip.skipped_reason is not None
    assert report.compile is not None and report.compile.skipped_reason == "none here"
    # why there is no bytecode is said once, by the build, not as a warning per target
    assert [w.split(":")[0] for w in report.warnings] == ["strip skipped"]
    assert not (root / "pkg/tests").exists()


def test_binary_headers_are_read_once_for_slimming_and_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With strip and drop-other-platforms on, each binary is opened once between planning,
    stripping and verifying; a stripped file is judged by the headers of its new content."""
    stripped = make_elf(EM_X86_64, debug_bytes=0)
    root = write_tree(
        tmp_path / "site",
        {
            "pkg/__init__.py": b"",
            "pkg/_a.abi3.so": make_elf(EM_X86_64, debug_bytes=3000),
            "pkg/_b.abi3.so": make_elf(EM_X86_64, debug_bytes=0),  # nothing to strip
            "pkg/mac/helper": MACHO_64,  # another platform's binary: dropped
            "pkg/arm/helper": make_elf(EM_AARCH64),  # another machine's: dropped
            "pkg/data.bin": b"\x00" * 64,  # read for its magic bytes, not a binary
        },
    )
    (root / "pkg/link").symlink_to("_a.abi3.so")

    def fake_strip(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        Path(argv[3]).write_bytes(stripped)
        return CommandResult(tuple(argv), 0, "", "")

    opened: list[str] = []
    real_open = io.open

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, Path)) and Path(file).is_relative_to(root) and "r" in mode:
            opened.append(Path(file).relative_to(root).as_posix())
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)  # what Path.open calls
    monkeypatch.setattr(builtins, "open", counting_open)
    options = SlimSettings(strip=True, drop_other_platforms=True)
    slimmed = slim_tree(
        root, PY312, options, entries=scan_tree(root), runner=fake_strip,
        which=fake_which("strip"), host_machine="x86_64",
    )  # fmt: skip
    assert [f.path for f in slimmed.report.strip.files] == ["pkg/_a.abi3.so"]  # type: ignore[union-attr]
    assert [(r.rule, r.files) for r in slimmed.report.rules] == [("other-platforms", 2)]
    paths = [e.path for e in slimmed.entries]
    violations = verify.check_shared_objects(
        paths, tree_opener(root), PY312, owners={}, headers=slimmed.headers
    )
    assert violations == ()
    binaries = [p for p in opened if not p.endswith(("RECORD", "METADATA"))]
    assert sorted(binaries) == [
        "pkg/._a.abi3.so.layerkit-strip",  # the results, judged before one replaces the file
        "pkg/._b.abi3.so.layerkit-strip",  # (not smaller: dropped)
        "pkg/_a.abi3.so",
        "pkg/_b.abi3.so",
        "pkg/arm/helper",
        "pkg/data.bin",
        "pkg/link",  # read again: the file it links was stripped
        "pkg/link",
        "pkg/mac/helper",
    ]
    assert slimmed.headers("pkg/_a.abi3.so") == elf.read_shared_object(
        io.BytesIO(stripped), glibc_limit=PY312.glibc
    )


def test_the_entries_after_slimming_are_what_a_new_walk_finds(tmp_path: Path) -> None:
    """Removed files go, links are read again, written .pyc come in (`run_slim_tree` compares
    the entries slim_tree returns with a fresh scan_tree)."""
    root = write_tree(
        tmp_path / "t",
        {
            "pkg/__init__.py": b"",
            "pkg/mod.py": b"X = 1\n",
            "pkg/tests/__init__.py": b"",
            "pkg/tests/t.py": b"#" * 100,
            "stale/__pycache__/m.cpython-99.pyc": b"\x00" * 20,
            **dist_info("pkg", "1", ["pkg/__init__.py", "pkg/mod.py", "pkg/tests/t.py"]),
        },
    )
    (root / "pkg/alias.py").symlink_to("mod.py")
    interpreter = Interpreter(sys.executable, platform.python_version(), "test")
    slimmed = run_slim_tree(
        root, HOST, SlimSettings(), runner=run_command, which=fake_which(), host_machine="x86_64",
        bytecode=bytecode_request(tmp_path, Discovery(HOST.python, interpreter)),
    )  # fmt: skip
    paths = {e.path for e in slimmed.entries}
    assert "pkg/tests/t.py" not in paths and "stale/__pycache__/m.cpython-99.pyc" not in paths
    assert f"pkg/__pycache__/mod.{cache_tag(HOST)}.pyc" in paths
    assert next(e for e in slimmed.entries if e.path == "pkg/alias.py").symlink
