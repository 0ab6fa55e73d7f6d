"""The build cache: keys cover every input, hits are verified, locks skip resolution."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs
import pytest

from layerkit.cache import (
    CACHE_ENV,
    BuildCache,
    BuildInputs,
    CacheEntry,
    cache_dir,
    cache_key,
    find_build,
    installer_cache_env,
    key_after_install,
)
from layerkit.config import IndexOptions
from layerkit.errors import CompatibilityError, FilesystemError
from layerkit.installer import CommandResult, InstallRequest, UvBackend, resolve_with_uv
from layerkit.manifest import DistributionInfo, Manifest, code_sha256
from layerkit.pins import dist_info_pins, lock_pins, normalize_pins, pins_cover
from layerkit.targets import make_target

INPUTS = BuildInputs(
    requirement_texts=("requests==2.32.3\n",),
    requirements=("pydantic>=2",),
    target="python3.12-x86_64",
    installer="uv",
    installer_version="0.9.0",
    layerkit_version="0.1.0",
    options={"slim": {"remove_tests": True}, "compression": "zlib-ng 1.1.0 level 6"},
)
PINS = "pydantic==2.11.0\nrequests==2.32.3\n"
UV = UvBackend(uv="uv", python="/usr/bin/python3")


def make_zip(path: Path, content: bytes = b"PK\x05\x06" + bytes(18)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def make_manifest(zip_path: Path, key: str, dists: Sequence[tuple[str, str]] = ()) -> Manifest:
    import hashlib

    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    return Manifest(
        layerkit_version="0.1.0",
        name="deps",
        python="3.12",
        arch="x86_64",
        runtime="python3.12",
        abi="cp312",
        glibc="2.34",
        installer="uv",
        installer_version="0.9.0",
        zip=zip_path.name,
        sha256=sha,
        code_sha256=code_sha256(sha),
        file_count=1,
        unzipped_bytes=10,
        zipped_bytes=zip_path.stat().st_size,
        budget_bytes=262_144_000,
        distributions=tuple(DistributionInfo(n, v, 1, 1) for n, v in dists),
        inputs_digest=key,
    )


# --- where the cache lives -------------------------------------------------------------------


def test_cache_dir_follows_the_environment_then_platform_conventions(tmp_path: Path) -> None:
    assert cache_dir({CACHE_ENV: str(tmp_path)}) == tmp_path
    assert cache_dir({}) == Path(platformdirs.user_cache_dir("layerkit", appauthor=False))
    assert cache_dir({CACHE_ENV: "  "}) == cache_dir({})


def test_installer_cache_moves_under_layerkit_cache_dir_only_when_set(tmp_path: Path) -> None:
    assert installer_cache_env({}, "uv") == {}
    assert installer_cache_env({CACHE_ENV: str(tmp_path)}, "uv") == {
        "UV_CACHE_DIR": str(tmp_path / "uv")
    }
    assert installer_cache_env({CACHE_ENV: str(tmp_path)}, "pip") == {
        "PIP_CACHE_DIR": str(tmp_path / "pip")
    }
    mine = {CACHE_ENV: str(tmp_path), "UV_CACHE_DIR": "/mine"}
    assert installer_cache_env(mine, "uv") == {}


# --- the key ------------------------------------------------------------------------------------


def test_key_is_stable_and_ignores_option_order() -> None:
    reordered = dataclasses.replace(INPUTS, options=dict(reversed(list(INPUTS.options.items()))))
    assert cache_key(INPUTS, PINS) == cache_key(reordered, PINS)
    assert len(cache_key(INPUTS, PINS)) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"requirement_texts": ("requests==2.32.4\n",)},
        {"requirement_texts": ("requests==2.32.3\n", "")},
        {"requirements": ("pydantic>=2.1",)},
        {"target": "python3.12-arm64"},
        {"installer": "pip"},
        {"installer_version": "0.9.1"},
        {"layerkit_version": "0.2.0"},
        {"layerkit_code": "another build of layerkit"},
        {"options": {"slim": {"remove_tests": False}, "compression": "zlib-ng 1.1.0 level 6"}},
        {"options": {"slim": {"remove_tests": True}, "compression": "isal 1.9.1 level 1"}},
    ],
)
def test_every_input_changes_the_key(change: Mapping[str, object]) -> None:
    changed = dataclasses.replace(INPUTS, **change)  # type: ignore[arg-type]
    assert cache_key(changed, PINS) != cache_key(INPUTS, PINS)


def test_layerkit_code_digest_follows_every_code_and_data_file(tmp_path: Path) -> None:
    import shutil

    import layerkit
    from layerkit.cache import layerkit_code_digest

    copy = tmp_path / "layerkit"
    shutil.copytree(Path(layerkit.__file__).parent, copy)
    before = layerkit_code_digest(copy)
    assert before == layerkit_code_digest.__wrapped__(copy)
    assert layerkit_code_digest(Path(layerkit.__file__).parent) == before
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "extra.cpython-312.pyc").write_bytes(b"not code we ship")
    assert layerkit_code_digest.__wrapped__(copy) == before
    archive = copy / "archive.py"
    archive.write_text(archive.read_text() + "# a fix that changes a zip's bytes\n")
    assert layerkit_code_digest.__wrapped__(copy) != before


def test_resolved_pins_change_the_key() -> None:
    assert cache_key(INPUTS, PINS) != cache_key(INPUTS, PINS.replace("2.11.0", "2.11.1"))


# --- pins ---------------------------------------------------------------------------------------

COMPILED = """\
Requests==2.32.3 \\
    --hash=sha256:aaa \\
    --hash=sha256:bbb
    # via -r requirements.in
charset_normalizer==3.4.1
idna==3.10  # a comment
urllib3==2.3.0; python_version >= "3.9"
"""


def test_normalize_pins_reads_compile_output() -> None:
    assert normalize_pins(COMPILED) == (
        "charset-normalizer==3.4.1\nidna==3.10\nrequests==2.32.3\nurllib3==2.3.0\n"
    )


def test_a_lock_pins_itself() -> None:
    assert lock_pins([COMPILED], []) == normalize_pins(COMPILED)
    assert lock_pins([], ["numpy==2.2.6", "Pandas===2.3.2"]) == "numpy==2.2.6\npandas==2.3.2\n"
    assert lock_pins(["six==1.17.0 --hash sha256:ccc\n"], []) == "six==1.17.0\n"


@pytest.mark.parametrize(
    ("texts", "specs"),
    [
        (["requests>=2\n"], []),
        (["requests==2.*\n"], []),
        (["-r base.txt\nrequests==2.32.3\n"], []),
        (["--index-url https://example.invalid/simple\nrequests==2.32.3\n"], []),
        (["requests @ https://example.invalid/requests-2.32.3-py3-none-any.whl\n"], []),
        (["requests==2.32.3\n"], ["pydantic"]),
        (["./local-package\n"], []),
        ([], []),
    ],
)
def test_anything_short_of_exact_pins_is_not_a_lock(texts: list[str], specs: list[str]) -> None:
    assert lock_pins(texts, specs) is None


# Lines a lock or `uv pip compile` may hold: the fast reading of `name==version` and packaging's
# parser must agree on every one the fast reading accepts (and it must accept the plain ones).
PIN_LINES = [
    "numpy==2.5.5", "Pandas==3.1.1", "python-dateutil==4.0.0", "zope.interface==7.2",
    "Foo_Bar.baz==1.0", "foo == 1.0", "foo==1.0+local.7", "foo==1!2.0", "foo==1.0.post1",
    "foo==1.0rc1", "foo==1.0.dev3", "foo==01.00", "foo==1.0-1", "foo==1.0_1", "a==0",
    "foo===1.0", "foo===weird", "foo==1.0.*", "foo==1.*", "foo>=1", "foo==1.0,<2",
    "foo==1.0 ; python_version < '3.12'", "foo[extra]==1.0", "foo @ https://x.invalid/f.whl",
    "foo==", "==1.0", "foo==1.0==2.0", "-foo==1.0", "foo.==1.0", "foo==.1", "foo==1.0 bar",
    "foo==1.0a1", "foo==2.0b3.post1.dev2", "foo==1.0+ubuntu.1", "foo==1.0+UP", "foo==v1.0",
    "foo==1.0.0.0.1", "foo==1.0+", "foo==1.0+a..b", "foo==1.0.post", "foo==1.0rc", "foo==1e3",
]  # fmt: skip


@pytest.mark.parametrize("line", PIN_LINES)
def test_the_fast_pin_reading_agrees_with_packaging(line: str) -> None:
    from layerkit.pins import _SIMPLE_PIN, _exact_pin, parsed_pin

    assert _exact_pin(line) == parsed_pin(line)
    if line.startswith(("numpy", "Pandas", "python-dateutil", "zope")):
        assert _SIMPLE_PIN.fullmatch(line), "plain pins must not need packaging"


@pytest.mark.parametrize(
    "name", ["numpy", "Pandas", "zope.interface", "Foo__Bar", "a-_.b", "A.B-C_D", "x---y", "Z"]
)
def test_canonical_name_is_packagings(name: str) -> None:
    from packaging.utils import canonicalize_name

    from layerkit.pins import canonical_name

    assert canonical_name(name) == canonicalize_name(name)


def test_pins_cover_only_when_every_installed_distribution_is_pinned(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "l.zip")
    manifest = make_manifest(zip_path, "k", [("Requests", "2.32.3"), ("idna", "3.10.0")])
    assert pins_cover("idna==3.10\nrequests==2.32.3\n", manifest)
    assert not pins_cover("requests==2.32.3\n", manifest)
    assert not pins_cover("idna==3.9\nrequests==2.32.3\n", manifest)


# --- resolving with uv pip compile --------------------------------------------------------------


def test_resolve_command_resolves_for_the_target(tmp_path: Path) -> None:
    request = InstallRequest(
        target=make_target("3.12", "arm64"),
        dest=tmp_path / "site",
        requirement_files=(Path("requirements.txt"),),
        requirements=("numpy",),
        index=IndexOptions(index_url="https://mirror.invalid/simple"),
    )
    assert UV.resolve_command(request, tmp_path / "specs.in") == [
        "uv", "pip", "compile",
        "--python", "/usr/bin/python3",
        "--python-version", "3.12",
        "--python-platform", "aarch64-manylinux_2_34",
        "--only-binary", ":all:",
        "--no-header", "--no-annotate", "--quiet", "--no-progress",
        "--index-url", "https://mirror.invalid/simple",
        "requirements.txt", str(tmp_path / "specs.in"),
    ]  # fmt: skip


class FakeRunner:
    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.calls: list[list[str]] = []
        self.specs: list[str] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        self.calls.append(list(argv))
        self.specs.append(Path(argv[-1]).read_text())
        return self.result


def test_resolve_with_uv_passes_specs_in_a_file_and_pins_normalise(tmp_path: Path) -> None:
    runner = FakeRunner(CommandResult((), 0, COMPILED, ""))
    request = InstallRequest(
        target=make_target("3.12", "x86_64"), dest=tmp_path, requirements=("requests", "idna")
    )
    pins = normalize_pins(resolve_with_uv(request, uv=UV, runner=runner, scratch=tmp_path))
    assert pins == normalize_pins(COMPILED)
    assert runner.specs == ["requests\nidna\n"]


def test_resolve_failure_is_classified(tmp_path: Path) -> None:
    stderr = "error: Because torch==9 has no wheels with a matching platform tag..."
    runner = FakeRunner(CommandResult(("uv",), 1, "", stderr))
    request = InstallRequest(
        target=make_target("3.12", "x86_64"), dest=tmp_path, requirements=("torch==9",)
    )
    with pytest.raises(CompatibilityError):
        resolve_with_uv(request, uv=UV, runner=runner, scratch=tmp_path)


# --- entries ------------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path) -> BuildCache:
    return BuildCache(tmp_path / "cache")


def stored(
    cache: BuildCache, tmp_path: Path, key: str, dists: Sequence[tuple[str, str]] = ()
) -> CacheEntry:
    zip_path = make_zip(tmp_path / "dist" / "deps.zip", b"PK\x05\x06" + bytes(18) + key.encode())
    return cache.store(key, zip_path, make_manifest(zip_path, key, dists))


def test_store_then_lookup_then_place(cache: BuildCache, tmp_path: Path) -> None:
    key = cache_key(INPUTS, PINS)
    zip_path = make_zip(tmp_path / "dist" / "deps.zip", b"PK\x05\x06" + bytes(18))
    details = {"size": {"total_bytes": 10}, "slim": [Path("tests")]}
    entry = cache.store(key, zip_path, make_manifest(zip_path, key), details)
    hit = cache.lookup(key)
    assert hit is not None
    assert hit.manifest == entry.manifest
    assert hit.details == entry.details == {"size": {"total_bytes": 10}, "slim": ["tests"]}
    dest = tmp_path / "out" / "deps-python3.12-x86_64.zip"
    assert cache.place(hit, dest)
    assert dest.read_bytes() == entry.zip_path.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no partial file left
    assert cache.lookup("0" * 64) is None


def test_placing_over_an_existing_output(cache: BuildCache, tmp_path: Path) -> None:
    entry = stored(cache, tmp_path, "a" * 64)
    dest = make_zip(tmp_path / "out" / "deps.zip", b"old")
    assert cache.place(entry, dest)
    assert dest.read_bytes() == entry.zip_path.read_bytes()


def corrupt(path: Path) -> None:
    """Same size, other bytes: only a digest notices."""
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def test_an_output_still_in_place_is_neither_read_nor_copied(
    cache: BuildCache, tmp_path: Path
) -> None:
    built = make_zip(tmp_path / "dist" / "deps.zip", b"PK\x05\x06" + bytes(18) + b"built")
    entry = cache.store("a" * 64, built, make_manifest(built, "a" * 64))
    corrupt(entry.zip_path)  # were it read, the digest would fail
    assert cache.place(entry, built)  # the build's own output: nothing to do
    built.write_bytes(built.read_bytes() + b"!")  # rewritten in place: no longer trusted
    assert not cache.place(entry, built)
    assert cache.lookup("a" * 64) is None


def test_a_damaged_zip_is_found_when_placed(cache: BuildCache, tmp_path: Path) -> None:
    entry = stored(cache, tmp_path, "b" * 64)
    corrupt(entry.zip_path)
    dest = tmp_path / "elsewhere" / "deps.zip"
    assert not cache.place(entry, dest)
    assert not dest.exists()
    assert not cache.entry_dir("b" * 64).exists()


@pytest.mark.parametrize(
    "damage",
    [
        "truncate",
        "no-zip",
        "no-manifest",
        "garbage",
        "key",
        "no-details",
        "deep-json",
        "wrong-types",
    ],
)
def test_damaged_entries_are_misses_and_removed(
    damage: str, cache: BuildCache, tmp_path: Path
) -> None:
    key = "b" * 64
    entry = stored(cache, tmp_path, key)
    directory = cache.entry_dir(key)
    manifest_file = directory / "manifest.json"
    if damage == "truncate":
        entry.zip_path.write_bytes(b"PK")
    elif damage == "no-zip":
        entry.zip_path.unlink()
    elif damage == "no-manifest":
        manifest_file.unlink()
    elif damage == "no-details":  # a partial entry
        (directory / "details.json").unlink()
    elif damage == "garbage":
        manifest_file.write_text("[1, 2")
    elif damage == "deep-json":  # json.loads raises RecursionError, not ValueError
        (directory / "details.json").write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "wrong-types":
        document = json.loads(manifest_file.read_text())
        document["zipped_bytes"] = [1]
        manifest_file.write_text(json.dumps(document))
    else:
        document = json.loads(manifest_file.read_text())
        document["inputs_digest"] = "c" * 64
        manifest_file.write_text(json.dumps(document))
    assert cache.lookup(key) is None
    assert not directory.exists()


def test_storing_the_same_key_twice_keeps_one_good_entry(cache: BuildCache, tmp_path: Path) -> None:
    stored(cache, tmp_path, "d" * 64)
    stored(cache, tmp_path, "d" * 64)
    assert cache.lookup("d" * 64) is not None
    assert list((cache.root / "tmp").iterdir()) == []


def test_store_requires_the_key_in_the_manifest(cache: BuildCache, tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "deps.zip")
    with pytest.raises(ValueError, match="inputs_digest"):
        cache.store("e" * 64, zip_path, make_manifest(zip_path, "f" * 64))


def test_unwritable_cache_is_a_filesystem_error(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")
    zip_path = make_zip(tmp_path / "deps.zip")
    with pytest.raises(FilesystemError, match="build cache") as caught:
        BuildCache(blocked).store("a" * 64, zip_path, make_manifest(zip_path, "a" * 64))
    assert CACHE_ENV in (caught.value.hint or "")


# --- deciding ------------------------------------------------------------------------------------

LOCK = "idna==3.10\nrequests==2.32.3\n"
LOCKED = dataclasses.replace(INPUTS, requirement_texts=(LOCK,), requirements=())


def never_resolve() -> str:
    raise AssertionError("a complete lock must not ask the index")


def test_a_complete_lock_hits_without_resolving(cache: BuildCache, tmp_path: Path) -> None:
    first = find_build(cache, LOCKED, resolve=never_resolve)
    assert first.entry is None and not first.resolved
    stored(cache, tmp_path, first.key, [("requests", "2.32.3"), ("idna", "3.10")])

    again = find_build(cache, LOCKED, resolve=never_resolve)
    assert again.key == first.key
    assert again.entry is not None


def test_an_incomplete_lock_asks_the_index(cache: BuildCache, tmp_path: Path) -> None:
    first = find_build(cache, LOCKED, resolve=never_resolve)
    # The build shows the lock left a dependency unpinned.
    stored(cache, tmp_path, first.key, [("requests", "2.32.3"), ("idna", "3.10"), ("x", "1")])
    calls: list[int] = []

    def resolve() -> str:
        calls.append(1)
        return LOCK + "x==1\n"

    second = find_build(cache, LOCKED, resolve=resolve)
    assert calls == [1] and second.resolved
    assert second.key != first.key and second.entry is None
    stored(cache, tmp_path, second.key, [("requests", "2.32.3"), ("idna", "3.10"), ("x", "1")])
    assert find_build(cache, LOCKED, resolve=resolve).entry is not None


def test_unpinned_requirements_are_resolved_every_time(cache: BuildCache, tmp_path: Path) -> None:
    answers = iter(["requests==2.32.3\n", "requests==2.32.3\n", "requests==2.33.0\n"])
    first = find_build(cache, INPUTS, resolve=lambda: next(answers))
    assert first.resolved and first.entry is None
    stored(cache, tmp_path, first.key, [("requests", "2.32.3")])
    assert find_build(cache, INPUTS, resolve=lambda: next(answers)).entry is not None
    newer = find_build(cache, INPUTS, resolve=lambda: next(answers))  # a new release: rebuild
    assert newer.entry is None and newer.key != first.key


def test_a_forced_build_is_keyed_as_a_lookup_would_key_it(cache: BuildCache) -> None:
    resolved = "charset-normalizer==3.4.1\nrequests==2.32.3\n"
    installed = [("requests", "2.32.3"), ("charset_normalizer", "3.4.1")]
    looked_up = find_build(cache, INPUTS, resolve=lambda: resolved)
    assert key_after_install(INPUTS, installed) == looked_up.key
    assert (
        key_after_install(LOCKED, installed) == find_build(cache, LOCKED, resolve=never_resolve).key
    )


def test_dist_info_directory_names_give_the_installed_pins() -> None:
    names = [
        "numpy",
        "numpy-2.5.5.dist-info",
        "python_dateutil-4.0.0.dist-info",
        "six.py",
        "x.libs",
    ]
    assert dist_info_pins(names) == [("numpy", "2.5.5"), ("python_dateutil", "4.0.0")]


def test_placing_never_writes_through_a_planted_symlink(cache: BuildCache, tmp_path: Path) -> None:
    entry = stored(cache, tmp_path, "9" * 64)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / f".deps.zip.partial-{os.getpid()}").symlink_to(victim)  # the old predictable name
    (out / "deps.json").write_text("another build's manifest")
    assert cache.place(entry, out / "deps.zip", stale=(out / "deps.json",))
    assert victim.read_text() == "precious"
    assert (out / "deps.zip").read_bytes() == entry.zip_path.read_bytes()
    assert not (out / "deps.json").exists()


def test_scratch_left_by_a_killed_store_is_removed(cache: BuildCache, tmp_path: Path) -> None:
    dead = cache.root / "tmp" / f"{'a' * 64}.{2**22 + 17}.{'0' * 32}"  # pid above pid_max
    (dead / "sub").mkdir(parents=True)
    alive = cache.root / "tmp" / f"{'a' * 64}.{os.getppid()}.{'1' * 32}"
    alive.mkdir()
    stored(cache, tmp_path, "8" * 64)
    assert not dead.exists() and alive.exists()


def test_an_entry_pruned_between_lookup_and_place_is_a_miss(
    cache: BuildCache, tmp_path: Path
) -> None:
    entry = stored(cache, tmp_path, "c" * 64)
    cache.discard("c" * 64)  # `cache prune` in another process, after this build's lookup
    dest = tmp_path / "out" / "deps.zip"
    assert not cache.place(entry, dest)  # was an internal error (FileNotFoundError)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_a_no_op_rebuild_marks_its_entry_used(cache: BuildCache, tmp_path: Path) -> None:
    built = make_zip(tmp_path / "dist" / "deps.zip", b"PK\x05\x06" + bytes(18) + b"built")
    entry = cache.store("d" * 64, built, make_manifest(built, "d" * 64))
    long_ago = 1_000_000_000
    for path in [entry.zip_path.parent, *entry.zip_path.parent.rglob("*")]:
        os.utime(path, (long_ago, long_ago))
    assert cache.place(entry, built)  # nothing read or copied...
    newest = max(p.stat().st_mtime for p in entry.zip_path.parent.rglob("*"))
    assert newest > long_ago  # ...but pruning now sees the entry as used
