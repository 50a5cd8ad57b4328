"""The edge of every JSON document pumpsim writes: ``schema_version`` and rounded numbers.

Every JSON writer (``check --json``, ``forecast --json``, ``simulate --json`` and
``Trace.to_json``, ``program --json``, ``scenario run --json``, the plan JSON export) passes its
payload through ``document`` (or ``dumps``), so each document starts with ``schema_version`` and
no float carries binary noise such as ``0.5000000000000004``.

Precision: every float is rounded to ``DIGITS`` (6) decimal places, whatever its unit: mL to
1 nL, mg and mcg (and their per-day and per-mL forms) to a millionth of the unit, days to
0.0864 s, probabilities, risks and delivery factors to 1e-6. Integers, strings, booleans and
``null`` pass unchanged.

``SCHEMA_VERSION`` counts incompatible changes of the documents: it goes up when a field is
removed or renamed or changes its meaning or unit; a new field does not change it. The
published JSON Schemas are in ``docs/schemas/`` (``make schemas`` regenerates them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["DIGITS", "SCHEMA_VERSION", "document", "dumps", "rounded"]

SCHEMA_VERSION: Final = 1
DIGITS = 6


def rounded(value: Any, digits: int = DIGITS) -> Any:
    """``value`` with every float inside it (dicts, lists, tuples) rounded to ``digits`` decimal
    places; ``-0.0`` becomes ``0.0``; NaN and infinities are left for the encoder to refuse."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        return round(value, digits) + 0.0
    if isinstance(value, Mapping):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item, digits) for item in value]
    return value


def document(payload: Mapping[str, Any], digits: int = DIGITS) -> dict[str, Any]:
    """The payload as a versioned document: ``schema_version`` first, then the payload's fields
    with their floats rounded."""
    body = rounded(payload, digits)
    body.pop("schema_version", None)
    return {"schema_version": SCHEMA_VERSION, **body}


def dumps(payload: Mapping[str, Any], *, indent: int | None = None) -> str:
    """``document(payload)`` as JSON text (no NaN or infinity: those are errors)."""
    return json.dumps(document(payload), indent=indent, allow_nan=False)
