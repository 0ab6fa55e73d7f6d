"""Lock files of the four formats, written by the tests over wheels made here (tests/wheels.py).

Every lock pins the same thing, in its own format: purepkg 1.0 (which requires helperpkg),
helperpkg 1.2 (the index also serves 1.3, which a resolution would pick), natpkg 1.0 (one wheel
per architecture) and armonly 1.0 on aarch64 only (a marker), plus an extra (`s3`: fatpkg) and a
group (`dev`: devpkg) that only a selection installs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.wheels import make_sdist, make_wheel

MACHINES = ("x86_64", "aarch64")
ARM_ONLY = "platform_machine == 'aarch64'"


def make_lock_dists(directory: Path) -> dict[str, Path]:
    """The wheels every lock here names, by file name (and an sdist: sdistonly 0.1)."""
    wheels = [
        make_sdist(directory, "sdistonly", "0.1"),
        make_wheel(directory, "purepkg", "1.0", requires=["helperpkg>=1"]),
        make_wheel(directory, "helperpkg", "1.2"),
        make_wheel(directory, "helperpkg", "1.3"),
        make_wheel(directory, "armonly", "1.0"),
        make_wheel(directory, "fatpkg", "1.0"),
        make_wheel(directory, "devpkg", "1.0"),
        *(
            make_wheel(directory, "natpkg", "1.0", tag=f"cp312-cp312-manylinux_2_17_{m}")
            for m in MACHINES
        ),
    ]
    return {w.name: w for w in wheels}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# name, version, wheel files, marker: what every lock here pins in its main group
ENTRIES: list[tuple[str, str, list[str], str]] = [
    ("armonly", "1.0", ["armonly-1.0-py3-none-any.whl"], ARM_ONLY),
    ("helperpkg", "1.2", ["helperpkg-1.2-py3-none-any.whl"], ""),
    ("natpkg", "1.0", [f"natpkg-1.0-cp312-cp312-manylinux_2_17_{m}.whl" for m in MACHINES], ""),
    ("purepkg", "1.0", ["purepkg-1.0-py3-none-any.whl"], ""),
]


def _rows(extra_marker: str = "", group_marker: str = "") -> list[tuple[str, str, list[str], str]]:
    """`ENTRIES`, the extra `s3` (fatpkg) and the group `dev` (devpkg), with these markers."""
    return [
        *ENTRIES,
        ("fatpkg", "1.0", ["fatpkg-1.0-py3-none-any.whl"], extra_marker),
        ("devpkg", "1.0", ["devpkg-1.0-py3-none-any.whl"], group_marker),
    ]


EXPECTED = {
    "x86_64": {"helperpkg": "1.2", "natpkg": "1.0", "purepkg": "1.0"},
    "arm64": {"armonly": "1.0", "helperpkg": "1.2", "natpkg": "1.0", "purepkg": "1.0"},
}


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def pylock(wheels: dict[str, Path], url: str, *, bad_hash: str = "") -> str:
    """A PEP 751 lock as ``uv export --format pylock.toml`` writes it; `bad_hash` names a
    package whose wheel hash is wrong."""
    files = url.removesuffix("/simple") + "/files"
    out = [
        'lock-version = "1.0"',
        'created-by = "layerkit-tests"',
        'requires-python = ">=3.9"',
        'extras = ["s3"]',
        'dependency-groups = ["dev"]',
        "default-groups = []",
        "",
    ]
    for name, version, files_of, marker in _rows("'s3' in extras", "'dev' in dependency_groups"):
        out += ["[[packages]]", f'name = "{name}"', f'version = "{version}"']
        if marker:
            out.append(f"marker = {_toml_string(marker)}")
        out.append(f'index = "{url}"')
        listed = []
        for file in files_of:
            digest = "0" * 64 if name == bad_hash else sha256(wheels[file])
            listed.append(
                f'{{ name = "{file}", url = "{files}/{file}", hashes = {{ sha256 = "{digest}" }} }}'
            )
        out += [f"wheels = [{', '.join(listed)}]", ""]
    return "\n".join(out)


def pylock_of(wheels: list[Path]) -> str:
    """The smallest PEP 751 lock installing exactly `wheels` (each ``name-version-tags.whl``)."""
    out = ['lock-version = "1.0"', 'created-by = "layerkit-tests"', ""]
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        out += ["[[packages]]", f'name = "{name}"', f'version = "{version}"',
                f'wheels = [{{ name = "{wheel.name}", hashes = {{ sha256 = "{sha256(wheel)}" }} }}]',
                ""]  # fmt: skip
    return "\n".join(out)


def uv_lock(wheels: dict[str, Path], url: str) -> str:
    """A uv.lock as ``uv lock`` writes it (revision 3) for a project needing the packages."""
    files = url.removesuffix("/simple") + "/files"
    out = [
        "version = 1",
        "revision = 3",
        'requires-python = ">=3.12"',
        "",
        "[[package]]",
        'name = "app"',
        'version = "0.1.0"',
        'source = { virtual = "." }',
        "dependencies = [",
        f'    {{ name = "armonly", marker = "{ARM_ONLY}" }},',
        '    { name = "natpkg" },',
        '    { name = "purepkg" },',
        "]",
        "",
        "[package.optional-dependencies]",
        's3 = [{ name = "fatpkg" }]',
        "",
        "[package.dev-dependencies]",
        'dev = [{ name = "devpkg" }]',
        "",
    ]
    for name, version, files_of, _marker in _rows():
        out += ["[[package]]", f'name = "{name}"', f'version = "{version}"',
                f'source = {{ registry = "{url}" }}']  # fmt: skip
        if name == "purepkg":
            out.append('dependencies = [{ name = "helperpkg" }]')
        listed = [
            f'    {{ url = "{files}/{file}", hash = "sha256:{sha256(wheels[file])}" }},'
            for file in files_of
        ]
        out += ["wheels = [", *listed, "]", ""]
    return "\n".join(out)


def poetry_lock(wheels: dict[str, Path], *, helper_marker: str = "") -> str:
    """A poetry.lock of lock-version 2.1 (Poetry 2: groups and markers per package);
    `helper_marker` gives helperpkg's entry a marker (purepkg still requires it)."""
    out: list[str] = []
    for name, version, files_of, marker in _rows():
        marker = helper_marker if name == "helperpkg" else marker
        out += ["[[package]]", f'name = "{name}"', f'version = "{version}"', 'description = ""',
                f"optional = {'true' if name == 'fatpkg' else 'false'}",
                'python-versions = ">=3.9"',
                f'groups = ["{"dev" if name == "devpkg" else "main"}"]']  # fmt: skip
        if marker:
            out.append(f"markers = {_toml_string(marker)}")
        listed = [f'{{file = "{f}", hash = "sha256:{sha256(wheels[f])}"}}' for f in files_of]
        out += [f"files = [{', '.join(listed)}]", ""]
        if name == "purepkg":
            out += ["[package.dependencies]", 'helperpkg = ">=1"', ""]
    out += ["[extras]", 's3 = ["fatpkg"]', "", "[metadata]", 'lock-version = "2.1"',
            'python-versions = ">=3.12"', 'content-hash = "0"']  # fmt: skip
    return "\n".join(out) + "\n"


def pipfile_lock(wheels: dict[str, Path], url: str) -> str:
    """A Pipfile.lock (JSON): default and develop categories, markers per package."""

    def entry(version: str, files_of: list[str], marker: str) -> dict[str, object]:
        item: dict[str, object] = {
            "hashes": [f"sha256:{sha256(wheels[f])}" for f in files_of],
            "index": "local",
            "version": f"=={version}",
        }
        if marker:
            item["markers"] = marker
        return item

    default = {name: entry(v, f, m) for name, v, f, m in ENTRIES}
    document = {
        "_meta": {
            "hash": {"sha256": "0" * 64},
            "pipfile-spec": 6,
            "requires": {"python_version": "3.12"},
            "sources": [{"name": "local", "url": url, "verify_ssl": False}],
        },
        "default": default,
        "develop": {"devpkg": entry("1.0", ["devpkg-1.0-py3-none-any.whl"], "")},
    }
    return json.dumps(document, indent=4, sort_keys=True) + "\n"
