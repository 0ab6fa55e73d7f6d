"""The one renderer of `--json` output: a command's result, a frozen dataclass, as a document.

Every document has the same envelope, ``{"schema": "layerkit/<kind>", "schema_version": N,
...payload}``, and the payload is the result's fields in their declared order (nested dataclasses,
paths, enums and tuples converted by `report.to_jsonable`). Results that are not a use case's own
dataclass are declared in `layerkit.payloads`. docs/json/<kind>.schema.json is the contract.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from layerkit.report import SCHEMA_VERSION, to_jsonable

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def json_document(kind: str, result: DataclassInstance) -> str:
    """The `--json` output of a command: the envelope, then `result`'s fields in order."""
    params = getattr(type(result), "__dataclass_params__", None)
    if isinstance(result, type) or params is None or not params.frozen:
        raise TypeError(f"a --json result is a frozen dataclass, not {type(result).__name__}")
    payload = {f.name: to_jsonable(getattr(result, f.name)) for f in dataclasses.fields(result)}
    document = {"schema": f"layerkit/{kind}", "schema_version": SCHEMA_VERSION, **payload}
    return json.dumps(document, indent=2, sort_keys=False)
