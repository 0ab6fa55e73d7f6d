"""The Lambda target table: runtime (python3.X) x architecture -> what runs there.

Pure data and look-ups. An unknown runtime or architecture raises `TargetError`; nothing here ever
falls back to the host.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

from layerkit.errors import TargetError

Arch = Literal["x86_64", "arm64"]
ARCHITECTURES: tuple[Arch, ...] = get_args(Arch)


@dataclass(frozen=True)
class RuntimeBase:
    """The operating system image a runtime runs on."""

    os_name: str
    glibc: tuple[int, int]
    key: str  # names its data files, e.g. layerkit/data/al2023-x86_64.txt


AMAZON_LINUX_2 = RuntimeBase("Amazon Linux 2", (2, 26), "al2")
AMAZON_LINUX_2023 = RuntimeBase("Amazon Linux 2023", (2, 34), "al2023")

# Deprecation dates move, so the table records the base image only.
RUNTIME_BASES: dict[str, RuntimeBase] = {
    "3.9": AMAZON_LINUX_2,
    "3.10": AMAZON_LINUX_2,
    "3.11": AMAZON_LINUX_2,
    "3.12": AMAZON_LINUX_2023,
    "3.13": AMAZON_LINUX_2023,
    "3.14": AMAZON_LINUX_2023,
}
PYTHON_VERSIONS: tuple[str, ...] = tuple(RUNTIME_BASES)


@dataclass(frozen=True)
class ArchInfo:
    """How one Lambda architecture is spelled by each tool that cares."""

    machine: str  # wheel platform tags, uname -m
    elf_machine: str  # pyelftools' e_machine name
    legacy_manylinux: tuple[str, ...]  # PEP 513/571 aliases that also load (x86 only)


ARCH_INFO: dict[Arch, ArchInfo] = {
    "x86_64": ArchInfo("x86_64", "EM_X86_64", ("manylinux2010", "manylinux1")),
    "arm64": ArchInfo("aarch64", "EM_AARCH64", ()),
}

# manylinux_2_17 is the oldest glibc either architecture's wheels are built for (manylinux2014).
_OLDEST_PERENNIAL_GLIBC_MINOR = {"x86_64": 5, "aarch64": 17}

# uv accepts a fixed set of --python-platform values; this is the newest that does not exceed glibc.
_UV_MANYLINUX_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)


@dataclass(frozen=True, order=True)
class Target:
    """One Lambda runtime x architecture, e.g. python3.12 on arm64."""

    python: str
    arch: Arch

    @property
    def base(self) -> RuntimeBase:
        return RUNTIME_BASES[self.python]

    @property
    def runtime(self) -> str:
        """Lambda's runtime identifier, e.g. ``python3.12``."""
        return f"python{self.python}"

    @property
    def slug(self) -> str:
        """File-name friendly identifier, e.g. ``python3.12-arm64``."""
        return f"{self.runtime}-{self.arch}"

    @property
    def cpython_abi(self) -> str:
        """The CPython ABI tag, e.g. ``cp312``."""
        return "cp" + self.python.replace(".", "")

    @property
    def extension_suffix(self) -> str:
        """The filename suffix of a version-specific extension module on this target."""
        return f".cpython-{self.cpython_abi[2:]}-{self.machine}-linux-gnu.so"

    @property
    def glibc(self) -> tuple[int, int]:
        return self.base.glibc

    @property
    def machine(self) -> str:
        return ARCH_INFO[self.arch].machine

    @property
    def elf_machine(self) -> str:
        return ARCH_INFO[self.arch].elf_machine

    @property
    def site_packages(self) -> str:
        """Where Python finds packages inside the layer zip."""
        return f"python/lib/python{self.python}/site-packages"

    @property
    def manylinux_tags(self) -> tuple[str, ...]:
        """Every manylinux platform tag that loads on this target, newest first."""
        major, newest_minor = self.glibc
        oldest = _OLDEST_PERENNIAL_GLIBC_MINOR[self.machine]
        tags = [
            f"manylinux_{major}_{minor}_{self.machine}"
            for minor in range(newest_minor, oldest - 1, -1)
        ]
        tags.append(f"manylinux2014_{self.machine}")
        tags.extend(f"{legacy}_{self.machine}" for legacy in ARCH_INFO[self.arch].legacy_manylinux)
        return tuple(tags)

    @property
    def wheel_tag_ranks(self) -> Mapping[str, int]:
        """Every wheel tag pip accepts for this target (`installer.PipBackend.command`: its
        Python, its cp/abi3/none ABIs and `manylinux_tags`, newest first), as packaging computes
        them for pip, each with its rank: of a release's wheels, pip installs the one whose best
        tag ranks first (0)."""
        return _wheel_tag_ranks(self)

    @property
    def wheel_tags(self) -> frozenset[str]:
        """Every wheel tag pip accepts for this target (`wheel_tag_ranks`), as a set."""
        return _wheel_tags(self)

    @property
    def uv_platform_exact(self) -> bool:
        """Whether uv's ``--python-platform`` can say this target's glibc exactly.

        uv accepts a closed list of manylinux values (`_UV_MANYLINUX_MINORS`; astral-sh/uv#4966
        asks for arbitrary ones); glibc 2.26 (Amazon Linux 2) lies between its 2_17 and 2_28.
        """
        return self.glibc[1] in _UV_MANYLINUX_MINORS

    @property
    def uv_platform(self) -> str:
        """uv's ``--python-platform`` value: the newest it knows that does not exceed our glibc."""
        major, minor = self.glibc
        best = max(m for m in _UV_MANYLINUX_MINORS if m <= minor)
        return f"{self.machine}-manylinux_{major}_{best}"

    @property
    def uv_platform_above(self) -> str:
        """uv's ``--python-platform`` value that accepts every wheel of this target: the oldest
        it knows at or above our glibc (glibc 2.26: manylinux_2_28, which accepts wheels the
        target cannot load too; only for installing files chosen for the target and pinned by
        hash, see `installer.install_resolved`)."""
        major, minor = self.glibc
        above = min(m for m in _UV_MANYLINUX_MINORS if m >= minor)
        return f"{self.machine}-manylinux_{major}_{above}"

    def __str__(self) -> str:
        return self.slug


@functools.cache
def _wheel_tag_ranks(target: Target) -> Mapping[str, int]:
    from packaging import tags  # only builds that choose among wheel files themselves

    major, minor = (int(part) for part in target.python.split("."))
    abis = [target.cpython_abi, "abi3", "none"]
    platforms = list(target.manylinux_tags)
    ranks: dict[str, int] = {}
    for tag in (
        *tags.cpython_tags((major, minor), abis=abis, platforms=platforms),
        *tags.compatible_tags((major, minor), interpreter=target.cpython_abi, platforms=platforms),
    ):
        ranks.setdefault(str(tag), len(ranks))
    return MappingProxyType(ranks)


@functools.cache
def _wheel_tags(target: Target) -> frozenset[str]:
    return frozenset(_wheel_tag_ranks(target))


def normalize_python(value: str) -> str:
    """Accept ``3.12``, ``python3.12`` or ``py3.12``; return ``3.12`` or raise `TargetError`."""
    text = value.strip().lower()
    for prefix in ("python", "py"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if text not in RUNTIME_BASES:
        raise TargetError(
            f"unknown Lambda Python runtime {value!r}",
            hint=f"choose one of: {', '.join(PYTHON_VERSIONS)} (or python3.X)",
        )
    return text


_ARCH_ALIASES: dict[str, Arch] = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x86-64": "x86_64",
    "arm64": "arm64",
    "aarch64": "arm64",
}


def normalize_arch(value: str) -> Arch:
    """Accept Lambda's names (``x86_64``, ``arm64``) and common aliases; else raise."""
    arch = _ARCH_ALIASES.get(value.strip().lower())
    if arch is None:
        raise TargetError(
            f"unknown Lambda architecture {value!r}",
            hint=f"choose one of: {', '.join(ARCHITECTURES)}",
        )
    return arch


def make_target(python: str, arch: str) -> Target:
    """Validate and build one target."""
    return Target(python=normalize_python(python), arch=normalize_arch(arch))


def target_matrix(
    pythons: list[str] | tuple[str, ...], arches: list[str] | tuple[str, ...]
) -> tuple[Target, ...]:
    """Every python x arch combination, de-duplicated, in a stable order."""
    targets = {make_target(p, a) for p in pythons for a in arches}
    return tuple(sorted(targets, key=lambda t: (PYTHON_VERSIONS.index(t.python), t.arch)))
