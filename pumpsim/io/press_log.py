"""Reading a PTM press log: the times a patient pressed the handheld, from a CSV file."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from pumpsim.core.clock import PumpTimeError, parse_pump_time
from pumpsim.core.errors import Problem, ProfileError

__all__ = ["read_press_log"]


def read_press_log(path: Path) -> list[dt.datetime]:
    """Press times from a CSV file with a ``time`` column (ISO date-times on the pump clock,
    e.g. the PTM log ``pumpsim simulate --ptm`` writes; other columns are ignored), in time
    order. Every bad cell is reported with its row; a missing or unreadable file too."""
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "time" not in [f.strip() for f in reader.fieldnames]:
                header = ", ".join(reader.fieldnames or []) or "(empty file)"
                raise ProfileError(
                    source, [Problem("row 1", header, "a header with a time column")]
                )
            problems: list[Problem] = []
            times: list[dt.datetime] = []
            for row in reader:
                cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                text = cells.get("time", "")
                try:
                    times.append(parse_pump_time(text))
                except PumpTimeError as exc:
                    problems.append(Problem(f"row {reader.line_num}, column time", text, str(exc)))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(
            source,
            [Problem("file", source, f"a readable UTF-8 CSV file ({exc.__class__.__name__})")],
        ) from None
    if problems:
        raise ProfileError(source, problems)
    return sorted(times)
