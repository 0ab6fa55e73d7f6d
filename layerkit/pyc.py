"""What a ``.pyc`` file is for: the magic number of each Python version, the cache tag in its
name, and reading both back. Data and lookups only (no file is read or written here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerkit.targets import Target

# importlib.util.MAGIC_NUMBER of each final release (CPython's
# Include/internal/pycore_magic_number.h, formerly Lib/importlib/_bootstrap_external.py).
# 3.9-3.13 checked against the interpreters themselves; 3.14's is the 3.14rc3 bump (3627).
PYC_MAGIC: dict[str, int] = {
    "3.9": 3425,
    "3.10": 3439,
    "3.11": 3495,
    "3.12": 3531,
    "3.13": 3571,
    "3.14": 3627,
}
# The first magic number of each version's development series (alphas included).
_MAGIC_SERIES: tuple[tuple[int, str], ...] = (
    (3360, "3.6"),
    (3390, "3.7"),
    (3400, "3.8"),
    (3420, "3.9"),
    (3430, "3.10"),
    (3450, "3.11"),
    (3500, "3.12"),
    (3550, "3.13"),
    (3600, "3.14"),
    (3650, "3.15"),
    (3700, "3.16"),
)


def cache_tag(target: Target) -> str:
    """The tag in the target's ``__pycache__`` names, e.g. ``cpython-312``."""
    return f"cpython-{target.cpython_abi[2:]}"


def pyc_magic(head: bytes) -> int | None:
    """The magic number of a .pyc header, or None when `head` is not one."""
    if len(head) < 4 or head[2:4] != b"\r\n":
        return None
    return int.from_bytes(head[:2], "little")


def python_of_magic(magic: int) -> str | None:
    """The Python version whose development series used `magic` (None if older than 3.6)."""
    version = None
    for first, name in _MAGIC_SERIES:
        if magic >= first:
            version = name
    return version
