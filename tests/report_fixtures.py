"""Three layers as reviewers meet them — one that passes, one over its budget, one that fails —
for the report's renderings (terminal snapshots, JSON, HTML in headless Chromium)."""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.elf_fixtures import EM_AARCH64, EM_X86_64, Need, make_elf

SITE = "python/lib/python3.12/site-packages"
MIB = 1024 * 1024
_MODE = (stat.S_IFREG | 0o644) << 16
LONG_NAME = "opentelemetry-instrumentation-botocore"  # 38 characters: cut, never wrapped


def _dist(name: str, files: dict[str, bytes], version: str = "1.0") -> dict[str, bytes]:
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    record = "".join(f"{p},,\n" for p in files) + f"{dist_info}/METADATA,,\n{dist_info}/RECORD,,\n"
    members = {f"{SITE}/{p}": data for p, data in files.items()}
    members[f"{SITE}/{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    members[f"{SITE}/{dist_info}/RECORD"] = record.encode()
    return members


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.external_attr = _MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name])
    return path


def _common() -> dict[str, bytes]:
    """Packages every layer shares: a big one, one with a long name, a small one with tests."""
    so = make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.17", "strlen"),))
    return {
        **_dist(
            "numpy",
            {
                "numpy/__init__.py": b"x = 1\n",
                "numpy/core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so": so
                + b"\0" * (3 * MIB),
                "numpy/tests/test_core.py": b"#" * (MIB // 2),
            },
            "2.1.3",
        ),
        **_dist(LONG_NAME, {"opentelemetry/instrumentation/botocore.py": b"#" * (MIB // 4)}),
        **_dist("idna", {"idna/__init__.py": b"#" * 2048}, "3.10"),
    }


@dataclass(frozen=True)
class Layer:
    """A layer zip and the inspect arguments that judge it."""

    name: str
    zip: Path
    args: tuple[str, ...]


def passing_layer(directory: Path) -> Layer:
    """Fits with headroom, no problems; slimming would drop a tests dir."""
    path = _write(directory / "passing.zip", _common())
    return Layer("passing", path, ("--python", "3.12", "--arch", "x86_64", "--budget", "50MB"))


def over_budget_layer(directory: Path) -> Layer:
    """No problems, but 4.3 MiB against a 4 MiB budget."""
    path = _write(directory / "over.zip", _common())
    return Layer("over", path, ("--python", "3.12", "--arch", "x86_64", "--budget", "3.5MB"))


def failing_layer(directory: Path) -> Layer:
    """Two problems: an arm64 extension and one needing a newer glibc than python3.12 offers."""
    arm = make_elf(EM_AARCH64, (Need("libc.so.6", "GLIBC_2.17", "strlen"),))
    new_glibc = make_elf(EM_X86_64, (Need("libc.so.6", "GLIBC_2.38", "strlen"),))
    members = {
        **_common(),
        **_dist(
            "fastjson",
            {
                "fastjson/__init__.py": b"",
                "fastjson/_speedups.cpython-312-aarch64-linux-gnu.so": arm,
                "fastjson/_simd.cpython-312-x86_64-linux-gnu.so": new_glibc,
            },
            "0.9",
        ),
    }
    path = _write(directory / "failing.zip", members)
    return Layer("failing", path, ("--python", "3.12", "--arch", "x86_64", "--budget", "50MB"))


LAYERS = (passing_layer, over_budget_layer, failing_layer)
