"""Machine output: result dataclasses rendered as a versioned JSON document.

Every `--json` document has the same envelope: ``{"schema": "layerkit/<kind>", "schema_version": N,
...payload}``. The payload is the result dataclass, converted field by field.
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import PurePath
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


def json_document(kind: str, payload: Any) -> str:
    """The `--json` output of a command: envelope plus payload, stable key order."""
    body = to_jsonable(payload)
    if not isinstance(body, dict):
        body = {"result": body}
    document = {"schema": f"layerkit/{kind}", "schema_version": SCHEMA_VERSION, **body}
    return json.dumps(document, indent=2, sort_keys=False)


def human_bytes(size: int) -> str:
    """1,234,567 -> '1.2 MiB' (binary units, as Lambda's 250 MB limit is 250 MiB)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
