"""Source-only requirements: pure-Python sdists are built into wheels in isolation; compiled ones,
and packages without Linux wheels, are refused with a message that fits."""

from __future__ import annotations

import io
import json
import os
import platform
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerkit.sdists import impurity, sdist_only_packages
from tests.build_fixtures import make_project
from tests.interpreters import find_python
from tests.support import run_cli
from tests.wheels import make_wheel, serve_index

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), "x86_64")

# A PEP 517 backend with no build requirements (nothing to download into the isolated
# environment): it writes the wheel the sdist describes, tagged TAG, holding FILES.
BACKEND = """
import base64, hashlib, zipfile
from pathlib import Path
NAME, VERSION, TAG, FILES = {name!r}, {version!r}, {tag!r}, {files!r}

def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{p: d.encode() for p, d in FILES.items()}}
    files[f"{{info}}/METADATA"] = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode()
    files[f"{{info}}/WHEEL"] = f"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: {{TAG}}\\n".encode()
    files[f"{{info}}/top_level.txt"] = f"{{NAME}}\\n".encode()
    record = "".join(f"{{p}},{{_hash(d)}},{{len(d)}}\\n" for p, d in files.items())
    files[f"{{info}}/RECORD"] = (record + f"{{info}}/RECORD,,\\n").encode()
    wheel = f"{{NAME}}-{{VERSION}}-{{TAG}}.whl"
    with zipfile.ZipFile(Path(wheel_directory) / wheel, "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
    return wheel

def get_requires_for_build_wheel(config_settings=None):
    return []
"""


def make_source_sdist(directory: Path, name: str, version: str, *, tag: str = "py3-none-any",
                      files: dict[str, str] | None = None) -> Path:  # fmt: skip
    """An sdist whose in-tree backend builds a wheel tagged `tag` holding `files`."""
    base = f"{name}-{version}"
    contents = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": BACKEND.format(name=name, version=version, tag=tag,
                                     files=files or {f"{name}/__init__.py": "OK = True\n"}),
    }  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member, text in contents.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def source_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dists = tmp_path_factory.mktemp("source-dists")
    make_source_sdist(dists, "puresrc", "1.0")
    make_wheel(dists, "needspure", "2.0", requires=["puresrc"])  # reaches it as a dependency
    make_source_sdist(dists, "psycopg2", "2.9.9", tag=f"cp312-cp312-linux_{platform.machine()}",
                      files={"psycopg2/__init__.py": "", "psycopg2/_psycopg.so": "\x7fELF"})  # fmt: skip
    make_source_sdist(dists, "sneaky", "1.0", files={"sneaky/__init__.py": "",
                                                     "sneaky/_speedups.so": "\x7fELF"})  # fmt: skip
    make_wheel(dists, "oldwheels", "1.0")  # 2.0 has only an sdist, which compiles
    make_source_sdist(dists, "oldwheels", "2.0", tag=f"cp312-cp312-linux_{platform.machine()}")
    make_wheel(dists, "winonly", "1.0", tag="py3-none-win_amd64")
    make_wheel(dists, "winonly", "1.0", tag="py3-none-macosx_11_0_arm64")
    with serve_index(dists, tmp_path_factory.mktemp("source-index")) as url:
        yield url


def _build(tmp_path: Path, env: dict[str, str], index: str, requirements: str,
           *args: str) -> tuple[int, str, str]:  # fmt: skip
    project = make_project(tmp_path, requirements)
    result = run_cli("build", str(project), "--index-url", index, "--python", HOST_PYTHON,
                     "--arch", HOST_ARCH, "-o", str(tmp_path / "o"), *args, env=env)  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_a_pure_sdist_is_built_into_a_wheel_said_so_and_imports(
    tmp_path: Path, source_index: str, env: dict[str, str]
) -> None:
    interpreter = find_python(HOST_PYTHON)
    assert interpreter is not None
    env = {**env, "PATH": f"{Path(interpreter).parent}{os.pathsep}{env['PATH']}"}
    code, out, err = _build(tmp_path, env, source_index, "needspure\n", "--json", "--test")
    assert code == 0, err
    build = json.loads(out)["builds"][0]
    assert build["built_from_sdist"] == ["puresrc 1.0"]
    assert {d["name"] for d in build["distributions"]} == {"needspure", "puresrc"}
    manifest = json.loads(Path(build["manifest_path"]).read_text())
    assert manifest["built_from_sdist"] == ["puresrc 1.0"]
    assert build["import_test"]["status"] == "passed"
    assert {i["module"] for i in build["import_test"]["imports"]} == {"needspure", "puresrc"}
    # pip installs the same wheel; a build with a wheel made here is never served by the cache
    project = tmp_path / "proj"
    again = run_cli("build", str(project), "--index-url", source_index, "--python", HOST_PYTHON,
                    "--arch", HOST_ARCH, "-o", str(tmp_path / "o"), "--installer", "pip",
                    "--json", env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    rebuilt = json.loads(again.stdout)["builds"][0]
    assert (rebuilt["built_from_sdist"], rebuilt["cached"]) == (["puresrc 1.0"], False)


def test_a_compiled_sdist_is_refused_with_its_binary_alternative(
    tmp_path: Path, source_index: str, env: dict[str, str]
) -> None:
    code, _out, err = _build(tmp_path, env, source_index, "psycopg2\n")
    assert code == 4, err
    assert "psycopg2 publishes only a source distribution" in err
    assert "it compiles code (the wheel is tagged cp312-cp312-linux_" in err
    assert "compiled for this build machine, not for Lambda" in err
    assert "hint: use psycopg2-binary" in err
    assert "build the layer on the target's platform" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*.zip"))


def test_a_py3_none_any_wheel_holding_a_compiled_file_is_refused(
    tmp_path: Path, source_index: str, env: dict[str, str]
) -> None:
    code, _out, err = _build(tmp_path, env, source_index, "sneaky\n")
    assert code == 4, err
    assert "the wheel holds the compiled file sneaky/_speedups.so" in err
    assert "hint: pin a release of sneaky that publishes manylinux wheels" in err


def test_a_compiled_sdist_with_an_older_release_that_has_wheels_names_that_release(
    tmp_path: Path, source_index: str, env: dict[str, str]
) -> None:
    code, _out, err = _build(tmp_path, env, source_index, "oldwheels==2.0\n")
    assert code == 4, err
    assert "oldwheels publishes only a source distribution" in err
    assert (
        f"hint: pin oldwheels==1.0, the newest release with a wheel for python{HOST_PYTHON}" in err
    )


def test_no_build_restores_binary_only(
    tmp_path: Path, source_index: str, env: dict[str, str]
) -> None:
    code, _out, err = _build(tmp_path, env, source_index, "puresrc\n", "--no-build")
    assert code == 4, err
    assert "puresrc 1.0: only a source distribution" in err and "building sdists is off" in err
    assert "has only an sdist; building" not in err


def test_a_package_without_linux_wheels_says_exactly_that(
    tmp_path: Path, source_index: str, env: dict[str, str]
) -> None:
    code, _out, err = _build(tmp_path, env, source_index, "winonly\n")
    assert code == 4, err
    assert "winonly 1.0 publishes wheels only for Windows and macOS" in err
    assert "none for Linux, so it cannot run on Lambda" in err


UV_OUTPUT = """error: No solution found when resolving dependencies
  cause: Because docopt==0.6.2 has no usable wheels and you require docopt==0.6.2, we can conclude that your requirements are unsatisfiable.

hint: Wheels are required for `docopt` because building from source is disabled for all packages (i.e., with `--no-build`)
"""


def test_uv_output_names_the_sdist_only_package_and_its_version() -> None:
    [only] = sdist_only_packages(UV_OUTPUT)
    assert (only.name, only.version, only.requirement) == ("docopt", "0.6.2", "docopt==0.6.2")
    assert sdist_only_packages(UV_OUTPUT.replace("docopt==0.6.2 has", "docopt has")) != ()


def test_impurity_of_wheels(tmp_path: Path) -> None:
    pure = make_wheel(tmp_path, "a", "1.0")
    assert impurity(pure) is None
    tagged = make_wheel(tmp_path, "b", "1.0", tag="cp312-cp312-linux_x86_64")
    assert impurity(tagged) == "the wheel is tagged cp312-cp312-linux_x86_64"
    hidden = make_wheel(tmp_path, "c", "1.0", files={"c/x.cpython-312-x86_64-linux-gnu.so": b""})
    assert (
        impurity(hidden) == "the wheel holds the compiled file c/x.cpython-312-x86_64-linux-gnu.so"
    )


@pytest.mark.network
def test_docopt_builds_for_python312_and_imports_from_the_layer(tmp_path: Path) -> None:
    interpreter = find_python("3.12")
    project = make_project(tmp_path, "docopt==0.6.2\n")
    built = run_cli("build", str(project), "--python", "3.12", "--arch", HOST_ARCH,
                    "-o", str(tmp_path / "o"), "--json", timeout=900)  # fmt: skip
    assert built.returncode == 0, built.stderr
    build = json.loads(built.stdout)["builds"][0]
    assert build["built_from_sdist"] == ["docopt 0.6.2"]
    if interpreter is None:
        pytest.skip("no python3.12 on this machine to import with (the build itself passed)")
    tested = run_cli("test", build["zip"], "--interpreter", interpreter, "--json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert [i["module"] for i in json.loads(tested.stdout)["imports"]] == ["docopt"]


def test_a_zip_sdist_is_unpacked_through_the_safe_reader(tmp_path: Path) -> None:
    import zipfile

    from layerkit.errors import InstallerError, VerificationError
    from layerkit.sdists import _unpack

    good = tmp_path / "pure-1.0.zip"
    with zipfile.ZipFile(good, "w") as out:
        out.writestr("pure-1.0/setup.py", "print('hi')\n")
        out.writestr("pure-1.0/pure/__init__.py", "X = 1\n")
    top = _unpack(good, tmp_path / "good")
    assert (top / "pure" / "__init__.py").read_text() == "X = 1\n"

    escaping = tmp_path / "evil-1.0.zip"
    with zipfile.ZipFile(escaping, "w") as out:
        out.writestr("evil-1.0/setup.py", "")
        out.writestr("../outside.py", "X = 1\n")
    with pytest.raises((InstallerError, VerificationError)):
        _unpack(escaping, tmp_path / "evil")
    assert not (tmp_path / "outside.py").exists()

    twice = tmp_path / "twice-1.0.zip"
    with zipfile.ZipFile(twice, "w") as out:
        out.writestr("twice-1.0/setup.py", "")
        out.writestr("twice-1.0//setup.py", "import os\n")  # a second spelling of one path
    with pytest.raises(VerificationError):
        _unpack(twice, tmp_path / "twice")
