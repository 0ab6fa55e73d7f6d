"""`layerkit test` and `build --test`: the layer's modules imported as Lambda would import them."""

from __future__ import annotations

import json
import os
import platform
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerkit.contents import FileEntry
from layerkit.importtest import ImportHost, declared_modules, run_layer_test
from layerkit.installer import run_command
from layerkit.targets import make_target
from tests.build_fixtures import SO, make_project
from tests.interpreters import find_python
from tests.support import run_cli
from tests.wheels import make_wheel

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), "")
OTHER_ARCH = "arm64" if HOST_ARCH == "x86_64" else "x86_64"
pytestmark = pytest.mark.skipif(not HOST_ARCH, reason="needs a Linux x86_64 or aarch64 host")


def _layer_zip(tmp_path: Path, wheels: dict[str, dict[str, bytes]], python: str = HOST_PYTHON,
               lib: dict[str, bytes] | None = None) -> Path:  # fmt: skip
    """A layer zip holding the given wheels installed under python/lib/pythonX.Y/site-packages."""
    wheel_dir = tmp_path / "wheels"
    site = f"python/lib/python{python}/site-packages/"
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as out:
        for name, files in wheels.items():
            with zipfile.ZipFile(make_wheel(wheel_dir, name, "1.0", files=files)) as wheel:
                for member in wheel.namelist():
                    out.writestr(site + member, wheel.read(member))
        for name, data in (lib or {}).items():
            out.writestr(f"lib/{name}", data)
    return layer


def _test(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("test", *args, "--interpreter", sys.executable, "--json")
    return result.returncode, json.loads(result.stdout) if result.stdout else {"err": result.stderr}


def test_a_layer_of_wheels_passes_and_lists_each_import_time_slowest_first(
    tmp_path: Path,
) -> None:
    layer = _layer_zip(tmp_path, {
        "fastpkg": {"fastpkg/__init__.py": b"X = 1\n"},
        "slowpkg": {"slowpkg/__init__.py": b"import time\ntime.sleep(0.3)\n"},
        "helpers": {"helpers.py": b"Y = 2\n"},  # a top-level module, found from RECORD
    })  # fmt: skip
    code, document = _test(str(layer), "--python", HOST_PYTHON, "--arch", HOST_ARCH)
    assert code == 0, document
    assert document["status"] == "passed"
    assert document["interpreter"] == sys.executable
    imports = document["imports"]
    assert imports[0]["module"] == "slowpkg"
    assert {i["module"] for i in imports} == {"fastpkg", "slowpkg", "helpers"}
    assert imports[0]["seconds"] >= 0.3 > imports[1]["seconds"]
    assert all(i["error"] is None for i in imports)
    text = run_cli("test", str(layer), "--interpreter", sys.executable)
    assert text.returncode == 0
    assert "slowpkg" in text.stdout.splitlines()[1] and "import test: passed" in text.stdout


def test_a_broken_extension_and_a_failing_module_exit_5_naming_each(tmp_path: Path) -> None:
    layer = _layer_zip(tmp_path, {
        "goodpkg": {"goodpkg/__init__.py": b""},
        "badext": {"badext/__init__.py": b"from . import _core\n",
                   f"badext/_core.cpython-{HOST_PYTHON.replace('.', '')}-x86_64-linux-gnu.so":
                   b"\x7fELF truncated"},
        "raising": {"raising/__init__.py": b"raise ImportError('needs libfoo, not here')\n"},
    })  # fmt: skip
    code, document = _test(str(layer), "--python", HOST_PYTHON, "--arch", HOST_ARCH)
    assert code == 5
    assert document["status"] == "failed"
    errors = {i["module"]: i["error"] for i in document["imports"]}
    assert errors["goodpkg"] is None
    assert errors["raising"] == "ImportError: needs libfoo, not here"
    assert errors["badext"].startswith("ImportError: /opt/python/lib/")  # Lambda's path, not ours
    text = run_cli("test", str(layer), "--interpreter", sys.executable)
    assert text.returncode == 5
    assert "error: 2 modules of layer layer.zip failed to import" in text.stderr
    assert "  - raising: ImportError: needs libfoo, not here" in text.stderr


def test_the_host_site_packages_are_not_visible_but_the_layer_lib_dir_is(tmp_path: Path) -> None:
    # typer is installed where the tests run; on Lambda it would not be.
    layer = _layer_zip(
        tmp_path,
        {
            "usestyper": {"usestyper/__init__.py": b"import typer\n"},
            "seeslib": {"seeslib/__init__.py": b"import os\nassert os.environ['LD_LIBRARY_PATH']"
                        b".split(':')[0].endswith('/opt/lib'), os.environ['LD_LIBRARY_PATH']\n"
                        b"assert os.listdir(os.getcwd()) == [] and os.getcwd() != os.environ["
                        b"'HOME']\nassert os.listdir(os.environ['HOME']) == []\n"},
        },
    )  # fmt: skip
    code, document = _test(str(layer), "--python", HOST_PYTHON, "--arch", HOST_ARCH)
    errors = {i["module"]: i["error"] for i in document["imports"]}
    assert errors == {
        "usestyper": "ModuleNotFoundError: No module named 'typer'",
        "seeslib": None,
    }
    assert code == 5


def test_a_pth_file_does_not_run_as_on_lambda(tmp_path: Path) -> None:
    # An editable install is a .pth pointing at the build machine: Lambda never reads it.
    layer = _layer_zip(tmp_path, {"editable": {
        "__editable__.editable-1.0.pth": str(tmp_path).encode() + b"\n",
        "editable.py": b"",
    }})  # fmt: skip
    (tmp_path / "elsewhere.py").write_text("")
    code, document = _test(str(layer), "--import", "elsewhere", "--python", HOST_PYTHON,
                           "--arch", HOST_ARCH)  # fmt: skip
    assert code == 5
    [only] = document["imports"]
    assert only["error"] == "ModuleNotFoundError: No module named 'elsewhere'"


def test_another_architecture_is_skipped_with_the_reason_never_passed(tmp_path: Path) -> None:
    machine = "aarch64" if OTHER_ARCH == "arm64" else "x86_64"
    layer = _layer_zip(tmp_path, {"natpkg": {
        "natpkg/__init__.py": b"from . import _core\n",
        f"natpkg/_core.cpython-{HOST_PYTHON.replace('.', '')}-{machine}-linux-gnu.so": SO[machine],
    }})  # fmt: skip
    code, document = _test(str(layer))  # the architecture is read from the binaries
    assert code == 0
    assert document["status"] == "skipped"
    assert document["architecture"] == OTHER_ARCH
    assert document["imports"] == []
    assert f"the layer is for {machine} ({OTHER_ARCH})" in document["reason"]
    text = run_cli("test", str(layer))
    assert "import test SKIPPED" in text.stdout and "this is not a pass" in text.stdout
    strict = run_cli("test", str(layer), "--no-skip")
    assert strict.returncode == 2
    assert "did not run" in strict.stderr


def test_no_interpreter_of_the_target_version_is_a_skip_not_a_pass(tmp_path: Path) -> None:
    layer = _layer_zip(tmp_path, {"purepkg": {"purepkg/__init__.py": b""}}, python="3.13")
    host = ImportHost(runner=run_command, which=lambda _name: None, machine=platform.machine())
    result = run_layer_test(layer, host=host, python="3.13", arch=HOST_ARCH)
    assert result.status == "skipped"
    assert result.imports == ()
    assert result.reason is not None and "no Python 3.13 interpreter" in result.reason


def test_an_interpreter_of_another_version_is_refused(tmp_path: Path) -> None:
    layer = _layer_zip(tmp_path, {"purepkg": {"purepkg/__init__.py": b""}}, python="3.9")
    result = run_cli("test", str(layer), "--python", "3.9", "--arch", HOST_ARCH,
                     "--interpreter", sys.executable)  # fmt: skip
    assert result.returncode == 2
    assert f"is Python {HOST_PYTHON}, not 3.9" in result.stderr


def test_declared_modules_prefer_top_level_txt_and_skip_names_not_shipped() -> None:
    target = make_target("3.12", "x86_64")
    site = target.site_packages
    files = {
        f"{site}/a-1.0.dist-info/METADATA": b"Name: a\nVersion: 1.0\n",
        f"{site}/a-1.0.dist-info/RECORD": b"alpha/__init__.py,,\nbeta.py,,\n",
        f"{site}/a-1.0.dist-info/top_level.txt": b"alpha\nnot_shipped\n",
        f"{site}/alpha/__init__.py": b"",
        f"{site}/beta.py": b"",
        f"{site}/b-2.0.dist-info/METADATA": b"Name: b\nVersion: 2.0\n",
        f"{site}/b-2.0.dist-info/RECORD": b"gamma/__init__.py,,\n_fast.abi3.so,,\nb.pth,,\n",
        f"{site}/gamma/__init__.py": b"",
        f"{site}/_fast.abi3.so": b"",
        f"{site}/b.pth": b"",
        "python/c-1.dist-info/METADATA": b"Name: c\nVersion: 1\n",
        "python/c-1.dist-info/RECORD": b"delta/__init__.py,,\n",
        "python/delta/__init__.py": b"",
    }
    entries = [FileEntry(path, len(data)) for path, data in sorted(files.items())]
    assert declared_modules(entries, lambda path, limit: files[path][:limit], target) == [
        "alpha", "_fast", "gamma", "delta",
    ]  # fmt: skip


def test_build_test_imports_each_built_layer(tmp_path: Path, index_url: str,
                                             env: dict[str, str]) -> None:  # fmt: skip
    interpreter = find_python(HOST_PYTHON)
    assert interpreter is not None
    env = {**env, "PATH": f"{Path(interpreter).parent}{os.pathsep}{env['PATH']}",
           "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    project = make_project(tmp_path, "purepkg\n")
    result = run_cli("build", str(project), "--index-url", index_url, "--python", HOST_PYTHON,
                     "--arch", HOST_ARCH, "-o", str(tmp_path / "o"), "--test", "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    tested = json.loads(result.stdout)["builds"][0]["import_test"]
    assert tested["status"] == "passed"
    assert {i["module"] for i in tested["imports"]} == {"purepkg", "helperpkg"}
    plain = run_cli("build", str(project), "--index-url", index_url, "--python", HOST_PYTHON,
                    "--arch", HOST_ARCH, "-o", str(tmp_path / "o"), "--json", env=env)  # fmt: skip
    assert json.loads(plain.stdout)["builds"][0]["import_test"] is None


@pytest.mark.network
def test_numpy_pandas_pyarrow_layer_for_python312_imports(tmp_path: Path) -> None:
    interpreter = find_python("3.12")
    if interpreter is None:
        pytest.skip("no python3.12 on this machine to import with")
    project = make_project(tmp_path, "numpy\npandas\npyarrow\n")
    built = run_cli("build", str(project), "--python", "3.12", "--arch", HOST_ARCH,
                    "-o", str(tmp_path / "o"), "--json", timeout=900)  # fmt: skip
    assert built.returncode == 0, built.stderr
    zip_path = json.loads(built.stdout)["builds"][0]["zip"]
    result = run_cli("test", zip_path, "--interpreter", interpreter, "--json", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "passed"
    modules = {i["module"] for i in document["imports"]}
    assert {"numpy", "pandas", "pyarrow"} <= modules
    assert all(i["seconds"] > 0 for i in document["imports"])


def test_a_directory_in_the_python_dir_layout_is_tested_like_its_zip(tmp_path: Path) -> None:
    # `pip install --target python`: packages directly under python/, which Lambda also searches
    layer = tmp_path / "layer"
    with zipfile.ZipFile(make_wheel(tmp_path / "w", "flatpkg", "1.0")) as wheel:
        wheel.extractall(layer / "python")
    host = ImportHost(runner=run_command, which=lambda _name: None, machine=platform.machine())
    result = run_layer_test(layer, host=host, python=HOST_PYTHON, arch=HOST_ARCH,
                            interpreter=sys.executable)  # fmt: skip
    assert result.status == "passed", result
    assert [i.module for i in result.imports] == ["flatpkg"]
    bare = run_layer_test(layer / "python", host=host, python=HOST_PYTHON, arch=HOST_ARCH,
                          interpreter=sys.executable)  # fmt: skip
    assert [(i.module, i.error) for i in bare.imports] == [("flatpkg", None)]


def test_a_zip_naming_a_path_twice_is_refused_not_half_tested(tmp_path: Path) -> None:
    layer = tmp_path / "dup.zip"
    with zipfile.ZipFile(layer, "w") as out:
        out.writestr("python/mod.py", "A = 1\n")
        out.writestr("python/mod.py/inner.py", "B = 2\n")  # a file and a directory at once
    result = run_cli("test", str(layer), "--python", HOST_PYTHON, "--arch", HOST_ARCH,
                     "--interpreter", sys.executable)  # fmt: skip
    assert result.returncode == 5, result.output
    # the safe zip reader refuses it before anything is copied (layerkit/safezip.py)
    assert "could be extracted differently by different tools" in result.stderr
    assert "python/mod.py/inner.py" in result.stderr
