"""Plain values for machine output (`to_jsonable`, the schema version) and text safe to show.

`layerkit.rendering` renders every `--json` document; manifests, the cache and the last-build
record convert their dataclasses with `to_jsonable` too.
"""

from __future__ import annotations

import dataclasses
import os
import re
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

SCHEMA_VERSION = 1


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, paths, enums, tuples and sets into plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


# Characters a terminal acts on instead of showing: C0 and C1 controls (ESC starts colour, title and
# hyperlink sequences; CR and BS overwrite), DEL, bidirectional overrides (text shown in another
# order than it is), and lone surrogates (undecodable bytes of a file name).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def shown(text: str, *, keep_newlines: bool = False) -> str:
    """`text` safe to print on a terminal: every control character as an escape (``\\x1b``).

    Names from zips, wheels and METADATA go through this before reaching a terminal; JSON output
    stays raw (`json.dumps` escapes them) and HTML is escaped by its writer.
    """
    pattern = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE
    return pattern.sub(_escape, text)


def shown_path(path: str | os.PathLike[str]) -> str:
    """`path` as a user would type it: relative to the current directory when it lies below it
    (``dist/x.zip``), else as given — a relative path as it was typed (``../other``), an absolute
    one absolute.

    Hints and errors name paths this way so that a user can paste them back; the manifest and JSON
    keep absolute paths.
    """
    text = os.fspath(path)
    if not PurePath(text).is_absolute():
        return shown(text)
    try:
        relative = PurePath(text).relative_to(Path.cwd())
    except (OSError, ValueError):  # not below the current directory (or it was deleted)
        return shown(text)
    return shown(str(relative) if relative.parts else ".")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plural(count: int, noun: str) -> str:
    """'1 file', '2 files'."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def human_bytes(size: int) -> str:
    """1,234,567 -> '1.2 MiB' (binary units, as Lambda's 250 MB limit is 250 MiB)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
