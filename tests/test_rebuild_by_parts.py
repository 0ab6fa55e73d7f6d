"""A rebuild after a pin changes redoes only the distributions that changed (`layerkit.layerparts`,
`assembly.assemble_changed`), and writes the very zip and manifest a build from scratch writes;
whatever the recorded parts cannot judge (a rebuilt module importing a kept distribution's tests,
top-level names shared with a kept distribution, a damaged record, a cached zip that is not the
one recorded) is built from scratch instead.

Hermetic: wheels made here, served from 127.0.0.1; each build from scratch it is compared with
uses a cache of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from uv import find_uv_bin

from layerkit.build_model import BuildContext, TargetBuild
from layerkit.cache import BuildCache
from layerkit.config import load_project, resolve_build_settings
from layerkit.contents import FileEntry, InstalledDistribution
from layerkit.errors import LayerkitError
from layerkit.installer import UvBackend, run_command
from layerkit.layerparts import (
    LayerParts,
    NotByParts,
    parts_document,
    parts_from_document,
    plan_change,
    top_of,
)
from layerkit.workflow import build_layers
from tests.elf_fixtures import EM_X86_64, Need, make_elf
from tests.interpreters import find_python
from tests.support import isolated_env
from tests.wheels import make_wheel, record_hash, refresh_index, serve_index

REBUILT_BY_PARTS = "kept from a cached build"

# core ships a tests package (removed by slimming unless something imports it); six is a
# top-level module, as the real one is.
CORE = {
    "core/__init__.py": b"from core import engine\n",
    "core/engine.py": b"def run():\n    return 42\n",
    "core/tests/__init__.py": b"",
    "core/tests/helpers.py": b"def helper():\n    return 1\n",
    "core/data.bin": b"\x00" * 5000,
}


def _six(version: str, extra: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    return {"six.py": f"__version__ = {version!r}\n# {'x' * 4000}\n".encode(), **(extra or {})}


@dataclass
class Builds:
    """Builds of a project against one local index, each with its progress lines."""

    tmp_path: Path
    url: str
    env: dict[str, str]
    compile: bool = False
    targets: tuple[tuple[str, str], ...] = (("3.12", "x86_64"),)
    force: bool = False

    def build(self, requirements: str, *, cache: Path, out: Path) -> tuple[TargetBuild, list[str]]:
        builds, lines = self.build_all(requirements, cache=cache, out=out)
        return builds[0], lines

    def build_all(
        self, requirements: str, *, cache: Path, out: Path
    ) -> tuple[tuple[TargetBuild, ...], list[str]]:
        project = self.tmp_path / f"p-{out.name}" / "proj"  # the name names the layer
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        (project / "requirements.txt").write_text(requirements)
        settings = resolve_build_settings(
            load_project(project),
            {"python": tuple(sorted({p for p, _ in self.targets})),
             "arch": tuple(sorted({a for _, a in self.targets})), "index-url": self.url,
             "compile": self.compile, "output": str(out)},
        )  # fmt: skip
        lines: list[str] = []
        uv = UvBackend(uv=find_uv_bin(), python=shutil.which("python3") or "python3")
        interpreter = find_python("3.12") if self.compile else None
        path = os.pathsep.join(
            [*([str(Path(interpreter).parent)] if interpreter else []), self.env["PATH"]]
        )
        ctx = BuildContext(
            backend=uv, runner=run_command, env={**self.env, "PATH": path},
            progress=lines.append, warn=lines.append,
            which=lambda name: shutil.which(name, path=path), host_machine=platform.machine(),
            resolver=uv, cache=BuildCache(cache), force=self.force,
        )  # fmt: skip
        return build_layers(settings, ctx, jobs=len(self.targets)).builds, lines

    def from_scratch(self, requirements: str, name: str) -> TargetBuild:
        built, lines = self.build(
            requirements, cache=self.tmp_path / f"cache-{name}", out=self.tmp_path / f"out-{name}"
        )
        assert not any(REBUILT_BY_PARTS in line for line in lines)
        return built


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Builds]:
    dists = tmp_path / "dists"
    make_wheel(dists, "core", "1.0", files=CORE)
    make_wheel(dists, "six", "1.16.0", files=_six("1.16.0"))
    make_wheel(dists, "six", "1.17.0", files=_six("1.17.0"))
    # 1.18.0 imports core's tests: a build from scratch keeps them
    make_wheel(
        dists,
        "six",
        "1.18.0",
        files=_six("1.18.0", {"sixtools.py": b"from core.tests import helpers\n"}),
    )
    # 2.0.0 writes into core's package: its files cannot be told from core's
    make_wheel(dists, "six", "2.0.0", files=_six("2.0.0", {"core/six_extras.py": b"X = 1\n"}))
    # 1.19.0 needs tiny: a lock that does not name it installs it all the same
    make_wheel(dists, "six", "1.19.0", files=_six("1.19.0"), requires=["tiny"])
    make_wheel(dists, "tiny", "1.0", files={"tiny.py": b"T = 1\n"})
    env = isolated_env()
    with serve_index(dists, tmp_path / "index") as url:
        yield Builds(tmp_path, url, env)


def _same_layer(built: TargetBuild, reference: TargetBuild) -> None:
    assert built.zip_path.read_bytes() == reference.zip_path.read_bytes()
    assert built.manifest_path.read_text() == reference.manifest_path.read_text()
    assert built.size == reference.size
    assert _what_ships(built.slim) == _what_ships(reference.slim)


def _what_ships(slim: Mapping[str, object]) -> Mapping[str, object]:
    """The slimming summary without how the bytecode was had (compiled now, or reused: from
    the bytecode store, or kept from the cached build)."""
    compiled = slim["compile"]
    if not isinstance(compiled, dict):
        return slim
    how = {"reused_files", "compiled_files"}
    return {**slim, "compile": {k: v for k, v in compiled.items() if k not in how}}


def _first_then(index: Builds, before: str, after: str) -> tuple[TargetBuild, list[str]]:
    cache, out = index.tmp_path / "cache", index.tmp_path / "out"
    first, lines = index.build(before, cache=cache, out=out)
    assert not first.cached and not any(REBUILT_BY_PARTS in line for line in lines)
    return index.build(after, cache=cache, out=out)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("core==1.0\nsix==1.16.0\n", "core==1.0\nsix==1.17.0\n"),  # a lock: bump one pin
        ("core\nsix==1.16.0\n", "core\nsix==1.17.0\n"),  # resolved: bump one pin
        ("core==1.0\nsix==1.16.0\n", "core==1.0\nsix==1.16.0\ntiny==1.0\n"),  # add one
        ("core==1.0\nsix==1.16.0\ntiny==1.0\n", "core==1.0\nsix==1.17.0\n"),  # bump, drop one
    ],
)
def test_a_rebuild_by_parts_writes_the_zip_and_manifest_of_a_build_from_scratch(
    index: Builds, before: str, after: str
) -> None:
    rebuilt, lines = _first_then(index, before, after)
    assert any(REBUILT_BY_PARTS in line for line in lines), lines
    assert not rebuilt.cached
    _same_layer(rebuilt, index.from_scratch(after, "scratch"))
    names = {(d.name, d.version) for d in rebuilt.manifest.distributions}
    assert ("core", "1.0") in names
    assert all(d.wheel_sha256 for d in rebuilt.manifest.distributions)
    assert rebuilt.slim["rules"] == [
        {"rule": "tests", "description": rebuilt.slim["rules"][0]["description"],
         "files": 2, "bytes": len(CORE["core/tests/helpers.py"])},
    ]  # fmt: skip


@pytest.mark.skipif(find_python("3.12") is None, reason="no python3.12 here to compile bytecode")
def test_bytecode_of_kept_and_rebuilt_modules_is_that_of_a_build_from_scratch(
    index: Builds,
) -> None:
    """six is a top-level module: its .pyc sits in the top-level __pycache__/, which every
    top-level module shares; the old one goes with the old six.py."""
    index.compile = True
    rebuilt, lines = _first_then(index, "core==1.0\nsix==1.16.0\n", "core==1.0\nsix==1.17.0\n")
    assert any(REBUILT_BY_PARTS in line for line in lines), lines
    assert rebuilt.slim["compile"]["files"] == 3  # core/__init__, core/engine, six
    _same_layer(rebuilt, index.from_scratch("core==1.0\nsix==1.17.0\n", "scratch"))


def test_a_rebuilt_layer_is_the_base_of_the_next_rebuild(index: Builds) -> None:
    cache, out = index.tmp_path / "cache", index.tmp_path / "out"
    index.build("core==1.0\nsix==1.16.0\n", cache=cache, out=out)
    index.build("core==1.0\nsix==1.17.0\n", cache=cache, out=out)
    third, lines = index.build("core==1.0\nsix==1.17.0\ntiny==1.0\n", cache=cache, out=out)
    assert any(REBUILT_BY_PARTS in line for line in lines)
    _same_layer(third, index.from_scratch("core==1.0\nsix==1.17.0\ntiny==1.0\n", "scratch"))
    again, _ = index.build("core==1.0\nsix==1.17.0\ntiny==1.0\n", cache=cache, out=out)
    assert again.cached  # stored under its key like any build


@pytest.mark.parametrize(
    ("after", "reason"),
    [
        ("core==1.0\nsix==1.18.0\n", "a module that changed imports the tests of one that did not"),
        ("core==1.0\nsix==2.0.0\n", "files beside another distribution's"),
        ("core==1.0\nsix==1.19.0\n", "the requirements resolve to other pins than planned"),
    ],
)
def test_what_the_parts_cannot_judge_is_built_from_scratch(
    index: Builds, after: str, reason: str
) -> None:
    rebuilt, lines = _first_then(index, "core==1.0\nsix==1.16.0\n", after)
    assert not any(REBUILT_BY_PARTS in line for line in lines), lines
    assert any("building the whole layer: " in line and reason in line for line in lines), lines
    _same_layer(rebuilt, index.from_scratch(after, "scratch"))


def test_a_distribution_that_goes_with_a_tests_directory_is_built_whole(tmp_path: Path) -> None:
    dists = tmp_path / "dists"
    for version in ("1.0", "1.1"):
        make_wheel(dists, "core", version, files=CORE)
    make_wheel(dists, "six", "1.16.0", files=_six("1.16.0"))
    with serve_index(dists, tmp_path / "index") as url:
        index = Builds(tmp_path, url, isolated_env())
        after = "core==1.1\nsix==1.16.0\n"
        rebuilt, lines = _first_then(index, "core==1.0\nsix==1.16.0\n", after)
        reason = "building the whole layer: core 1.0 ships binaries, tests or files beside"
        assert any(reason in line for line in lines), lines
        _same_layer(rebuilt, index.from_scratch(after, "scratch"))


def test_kept_tests_imported_by_a_rebuilt_module_are_shipped(index: Builds) -> None:
    rebuilt, _ = _first_then(index, "core==1.0\nsix==1.16.0\n", "core==1.0\nsix==1.18.0\n")
    assert rebuilt.slim["rules"] == []  # core/tests/ kept: sixtools imports it


def _entry_dirs(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "builds").glob("??/*") if p.is_dir())


@pytest.mark.parametrize("damage", ["parts", "zip", "zip-data"])
def test_a_damaged_record_or_zip_means_a_build_from_scratch(index: Builds, damage: str) -> None:
    cache, out = index.tmp_path / "cache", index.tmp_path / "out"
    index.build("core==1.0\nsix==1.16.0\n", cache=cache, out=out)
    (entry,) = _entry_dirs(cache)
    if damage == "parts":
        document = json.loads((entry / "parts.json").read_text())
        document["entries"] = [["core/engine.py", "big", False]]
        (entry / "parts.json").write_text(json.dumps(document))
    else:
        data = bytearray((entry / "layer.zip").read_bytes())
        at = 100  # in the first entries' headers: the zip's own checks refuse it
        if damage == "zip-data":  # in a kept file's compressed bytes: only the digest tells
            with zipfile.ZipFile(entry / "layer.zip") as archive:
                info = archive.getinfo("python/lib/python3.12/site-packages/core/engine.py")
            at = info.header_offset + 30 + len(info.filename) + 2
        data[at] ^= 0xFF  # same size
        (entry / "layer.zip").write_bytes(bytes(data))
    rebuilt, lines = index.build("core==1.0\nsix==1.17.0\n", cache=cache, out=out)
    assert not any(REBUILT_BY_PARTS in line for line in lines)
    reason = "record is damaged" if damage == "parts" else "the cached zip is damaged"
    assert any("building the whole layer: " in x and reason in x for x in lines), lines
    _same_layer(rebuilt, index.from_scratch("core==1.0\nsix==1.17.0\n", "scratch"))


def test_a_forced_build_is_always_from_scratch(index: Builds) -> None:
    """--force skips the cache's lookups, and the rebuild by parts with them."""
    cache, out = index.tmp_path / "cache", index.tmp_path / "out"
    index.build("core==1.0\nsix==1.16.0\n", cache=cache, out=out)
    index.force = True
    forced, lines = index.build("core==1.0\nsix==1.17.0\n", cache=cache, out=out)
    assert not any(REBUILT_BY_PARTS in line for line in lines)
    assert not forced.cached


@pytest.mark.parametrize(
    ("path", "top"),
    [
        ("numpy/core/x.py", "numpy"),
        ("six.py", "six.py"),
        ("__pycache__/six.cpython-312.pyc", "six.py"),
        ("numpy/__pycache__/x.cpython-312.pyc", "numpy"),
        ("numpy-2.0.dist-info/RECORD", "numpy-2.0.dist-info"),
    ],
)
def test_a_top_level_modules_bytecode_goes_with_it(path: str, top: str) -> None:
    assert top_of(path) == top


def _parts(*dists: tuple[str, str, tuple[str, ...]], separable: set[str]) -> LayerParts:
    distributions = tuple(
        InstalledDistribution(name, version, f"{name}-{version}.dist-info", files)
        for name, version, files in dists
    )
    return LayerParts(
        distributions,
        {d.dist_info: (*sorted({top_of(f) for f in d.files}), d.dist_info) for d in distributions},
        frozenset(f"{n}-{v}.dist-info" for n, v, _ in dists if n in separable),
        tuple(FileEntry(f, 1) for d in distributions for f in d.files),
        (),
        (),
        (),
    )


def test_a_change_replaces_only_separable_distributions() -> None:
    parts = _parts(
        ("numpy", "2.0", ("numpy/__init__.py", "numpy.libs/libx.so")),
        ("six", "1.16.0", ("six.py",)),
        separable={"six"},
    )
    change = plan_change(parts, "numpy==2.0\nsix==1.17.0\n")
    assert change is not None
    assert change.install == (("six", "1.17.0"),)
    assert change.pins() == "numpy==2.0\nsix==1.17.0\n"
    assert [d.name for d in change.kept] == ["numpy"]
    assert change.dropped_tops == {"six.py", "six-1.16.0.dist-info"}
    with pytest.raises(NotByParts, match=r"numpy 2\.0 ships binaries"):
        plan_change(parts, "numpy==2.1\nsix==1.16.0\n")  # numpy is not separable
    with pytest.raises(NotByParts, match=r"numpy 2\.0"):
        plan_change(parts, "six==1.17.0\n")  # numpy goes: not separable
    with pytest.raises(NotByParts, match="no distribution is the same"):
        plan_change(_parts(("six", "1.16.0", ("six.py",)), separable={"six"}), "six==1.17.0\n")
    assert plan_change(parts, "numpy==2.0\nsix==1.16.0\n") is None  # nothing changed
    assert plan_change(parts, "numpy==2.0\nsix==1.17.0\nSix==1.17.0\n") is None  # twice
    assert plan_change(parts, "numpy==2.0.0\nsix==1.17.0\n") is not None  # 2.0 == 2.0.0


def test_a_record_is_used_only_whole() -> None:
    parts = _parts(("six", "1.16.0", ("six.py",)), separable={"six"})
    document = parts_document(parts)
    assert parts_from_document(json.loads(json.dumps(document))) == parts
    document["entries"][0][1] += 1  # a size changed after the record was written
    with pytest.raises(ValueError, match="damaged"):
        parts_from_document(document)


# --- what only a build from scratch can judge (found in review, each reproduced first) ---------


@pytest.fixture
def two_indexes(tmp_path: Path) -> Iterator[tuple[Builds, str, Path]]:
    """`index`'s wheels, and another index holding a patched six 1.17.0 and a private package."""
    dists, other = tmp_path / "dists", tmp_path / "other"
    make_wheel(dists, "core", "1.0", files=CORE)
    make_wheel(dists, "six", "1.16.0", files=_six("1.16.0"))
    make_wheel(dists, "six", "1.17.0", files=_six("1.17.0"))
    make_wheel(other, "six", "1.17.0", files=_six("1.17.0", {"patched.py": b"P = 1\n"}))
    make_wheel(other, "six-private", "1.0", files={"sixprivate.py": b"Q = 1\n"})
    with (
        serve_index(dists, tmp_path / "index") as url,
        serve_index(other, tmp_path / "index-other") as other_url,
    ):
        yield Builds(tmp_path, url, isolated_env()), other_url, other


@pytest.mark.parametrize("how", ["file-url", "extra-index", "private-on-extra-index"])
def test_requirements_naming_more_than_versions_are_built_whole(
    two_indexes: tuple[Builds, str, Path], how: str
) -> None:
    """The changed distributions are installed by name and version: a requirement by URL, or an
    index named in the requirements file, could install another file of that version."""
    index, other_url, other = two_indexes
    before, after = {
        "file-url": ("core\nsix==1.16.0\n", f"core\nsix @ {(other / 'six-1.17.0-py3-none-any.whl').as_uri()}\n"),
        "extra-index": ("core\nsix==1.16.0\n", f"--extra-index-url {other_url}\ncore\nsix==1.17.0\n"),
        "private-on-extra-index": (f"--extra-index-url {other_url}\ncore\n",
                                   f"--extra-index-url {other_url}\ncore\nsix-private==1.0\n"),
    }[how]  # fmt: skip
    rebuilt, lines = _first_then(index, before, after)
    assert not any(REBUILT_BY_PARTS in line for line in lines), lines
    _same_layer(rebuilt, index.from_scratch(after, "scratch"))


def test_a_hash_the_wheel_does_not_have_fails_the_rebuild_as_it_fails_a_build_from_scratch(
    index: Builds,
) -> None:
    core = hashlib.sha256((index.tmp_path / "dists/core-1.0-py3-none-any.whl").read_bytes())
    after = f"core==1.0 --hash=sha256:{core.hexdigest()}\nsix==1.17.0 --hash=sha256:{'0' * 64}\n"
    cache, out = index.tmp_path / "cache", index.tmp_path / "out"
    index.build("core==1.0\nsix==1.16.0\n", cache=cache, out=out)
    with pytest.raises(LayerkitError, match=r"(?i)hash"):
        index.build(after, cache=cache, out=out)
    with pytest.raises(LayerkitError, match=r"(?i)hash"):
        index.from_scratch(after, "scratch")


def test_a_distribution_asked_for_by_url_is_not_kept_from_a_cached_build(index: Builds) -> None:
    """uv writes direct_url.json (listed in RECORD) for a requirement by URL: the same wheel
    asked for by name installs other bytes."""
    files = index.url.removesuffix("/simple") + "/files"
    after = "core\nsix==1.17.0\n"
    rebuilt, lines = _first_then(
        index, f"core @ {files}/core-1.0-py3-none-any.whl\nsix==1.16.0\n", after
    )
    assert not any(REBUILT_BY_PARTS in line for line in lines), lines
    _same_layer(rebuilt, index.from_scratch(after, "scratch"))


def _odd_wheel(directory: Path, name: str, version: str, files: Mapping[str, bytes]) -> None:
    """A wheel whose METADATA spells its version unlike its file and dist-info names."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version.rstrip('.0')}\n"
    contents[f"{dist_info}/METADATA"] = metadata.encode()
    contents[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    rows = [f"{p},{record_hash(d)},{len(d)}" for p, d in contents.items()]
    contents[f"{dist_info}/RECORD"] = ("\n".join([*rows, f"{dist_info}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)


@pytest.mark.parametrize(
    "case", ["version-spelling", "bin-package", "gone-file-under-kept", "unlisted-file"]
)
def test_layers_the_parts_cannot_tell_apart(tmp_path: Path, case: str) -> None:
    """A manifest keyed on the dist-info names (a build from scratch's key), not METADATA's
    spelling; a bin/ package (console scripts are dropped only without one); a file another
    distribution's RECORD lists, or none lists, under core/."""
    dists = tmp_path / "dists"
    core = (
        {**CORE, "bin/__init__.py": b"", "bin/tool.py": b"X = 1\n"}
        if case == "bin-package"
        else CORE
    )
    make_wheel(dists, "core", "1.0", files=core)
    old_six = _six("1.16.0")
    if case == "gone-file-under-kept":
        old_six["core/__pycache__/junk.cpython-38.pyc"] = b"junk"
    wheel = make_wheel(dists, "six", "1.16.0", files=old_six)
    if case == "unlisted-file":
        with zipfile.ZipFile(wheel, "a") as archive:
            archive.writestr("core/unlisted.py", b"U = 1\n")
    if case == "version-spelling":
        _odd_wheel(dists, "six", "1.17.0", _six("1.17.0"))
    else:
        scripts = b"[console_scripts]\nsixtool = six:main\n"
        make_wheel(
            dists,
            "six",
            "1.17.0",
            files=_six("1.17.0", {"six-1.17.0.dist-info/entry_points.txt": scripts}),
        )
    with serve_index(dists, tmp_path / "index") as url:
        index = Builds(tmp_path, url, isolated_env())
        before = "core\nsix<=1.16.0\n" if case == "version-spelling" else "core\nsix==1.16.0\n"
        after = "core\nsix\n" if case == "version-spelling" else "core\nsix==1.17.0\n"
        rebuilt, lines = _first_then(index, before, after)
        assert any(REBUILT_BY_PARTS in line for line in lines) == (case == "version-spelling")
        _same_layer(rebuilt, index.from_scratch(after, "scratch"))


@pytest.mark.parametrize("when", ["before", "between"])
def test_a_version_offered_as_several_wheels(tmp_path: Path, when: str) -> None:
    """core 1.0 as a pure wheel and as a manylinux one (uv takes the latter): kept when both
    were offered to the cached build; built whole when the second appears between the builds
    (a build from scratch takes it now)."""
    dists = tmp_path / "dists"
    make_wheel(dists, "core", "1.0", files=CORE)
    make_wheel(dists, "six", "1.16.0", files=_six("1.16.0"))
    make_wheel(dists, "six", "1.17.0", files=_six("1.17.0"))

    def platform_wheel() -> None:
        files = {**CORE, "core/platform.py": b"P = 1\n"}
        make_wheel(dists, "core", "1.0", files=files, tag="py3-none-manylinux_2_17_x86_64")

    if when == "before":
        platform_wheel()
    fresh = {"Cache-Control": "no-cache"}  # uv asks again each time: the upload is seen
    with serve_index(dists, tmp_path / "index", headers=fresh) as url:
        index = Builds(tmp_path, url, isolated_env())
        cache, out = tmp_path / "cache", tmp_path / "out"
        index.build("core==1.0\nsix==1.16.0\n", cache=cache, out=out)
        if when == "between":
            platform_wheel()
            refresh_index(dists, tmp_path / "index")
        rebuilt, lines = index.build("core==1.0\nsix==1.17.0\n", cache=cache, out=out)
        if when == "before":
            assert any(REBUILT_BY_PARTS in line for line in lines), lines
        else:
            reason = "building the whole layer: core 1.0 may come from another wheel now"
            assert any(reason in line for line in lines), lines
        scratch = index.from_scratch("core==1.0\nsix==1.17.0\n", "scratch")
        _same_layer(rebuilt, scratch)
        with zipfile.ZipFile(rebuilt.zip_path) as archive:
            assert "python/lib/python3.12/site-packages/core/platform.py" in archive.namelist()


def test_a_changed_distribution_with_a_binary_is_built_whole(tmp_path: Path) -> None:
    dists = tmp_path / "dists"
    make_wheel(dists, "core", "1.0", files=CORE)
    make_wheel(dists, "six", "1.16.0", files=_six("1.16.0"))
    helper = make_elf(EM_X86_64, [Need("libc.so.6", "GLIBC_2.17", "strlen")])
    make_wheel(dists, "six", "1.17.0", files=_six("1.17.0", {"six_helpers/libsix.so.1": helper}))
    with serve_index(dists, tmp_path / "index") as url:
        index = Builds(tmp_path, url, isolated_env())
        rebuilt, lines = _first_then(index, "core\nsix==1.16.0\n", "core\nsix==1.17.0\n")
        assert any("building the whole layer: what changed ships binaries" in x for x in lines)
        _same_layer(rebuilt, index.from_scratch("core\nsix==1.17.0\n", "scratch"))


def test_each_target_of_a_build_is_rebuilt_by_parts(index: Builds) -> None:
    """Two targets, each in a worker process of its own where the machine allows."""
    index.targets = (("3.12", "x86_64"), ("3.12", "arm64"))
    cache, out = index.tmp_path / "cache", index.tmp_path / "out"
    index.build("core==1.0\nsix==1.16.0\n", cache=cache, out=out)
    rebuilt, lines = index.build_all("core==1.0\nsix==1.17.0\n", cache=cache, out=out)
    assert sum(REBUILT_BY_PARTS in line for line in lines) == 2, lines
    scratch, _ = index.build_all(
        "core==1.0\nsix==1.17.0\n", cache=index.tmp_path / "c2", out=index.tmp_path / "o2"
    )
    for built, reference in zip(rebuilt, scratch, strict=True):
        _same_layer(built, reference)
