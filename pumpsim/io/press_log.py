"""Reading a PTM press log: the times a patient pressed the handheld, from a CSV file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pumpsim.core.clock import PumpTimeError, parse_pump_time
from pumpsim.core.errors import Problem, ProfileError, clip
from pumpsim.io._csv import csv_records, long_cell, repeated_columns
from pumpsim.models.base import plausible_pump_time

__all__ = ["MAX_PRESS_LOG_BYTES", "read_press_log"]

MAX_PRESS_LOG_BYTES = 50_000_000
"""The largest press log read (a year of 50 presses a day is about 0.5 MB)."""


def read_press_log(path: Path) -> list[dt.datetime]:
    """Press times from a CSV file with a ``time`` column (ISO date-times on the pump clock,
    e.g. the PTM log ``pumpsim simulate --ptm`` writes; other columns are ignored), in time
    order. Every bad cell is reported with its row; a missing, unreadable, oversized or
    non-UTF-8 file too."""
    source = str(path)
    records = csv_records(path, MAX_PRESS_LOG_BYTES, "CSV press log")
    first = next(records, None)
    column = _time_column(None if first is None else first[1], source)
    problems: list[Problem] = []
    times: list[dt.datetime] = []
    for number, cells in records:
        if not any(c.strip() for c in cells):
            continue
        text = cells[column].strip() if column < len(cells) else ""
        bad = long_cell(cells)
        if bad is not None:
            problems.append(Problem(f"row {number}, {bad.field}", bad.value, bad.allowed))
            continue
        try:
            times.append(plausible_pump_time(parse_pump_time(text)))
        except (PumpTimeError, ValueError) as exc:
            problems.append(Problem(f"row {number}, column time", text, str(exc)))
    if problems:
        raise ProfileError(source, problems)
    return sorted(times)


def _time_column(header: list[str] | None, source: str) -> int:
    """The index of the header's ``time`` column; no header, no ``time`` or two of them is a
    ``ProfileError``."""
    names = [h.strip() for h in header or []]
    if "time" not in names:
        shown = clip(", ".join(names)) or "(empty file)"
        raise ProfileError(source, [Problem("row 1", shown, "a header with a time column")])
    repeated = repeated_columns(names)
    if repeated:
        raise ProfileError(source, repeated)
    return names.index("time")
