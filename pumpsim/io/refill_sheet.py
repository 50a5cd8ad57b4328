"""Reading a refill sheet: one row per refill visit, as a clinic writes it down.

CSV with a header row (order free, names case-insensitive; empty lines and lines starting with
``#`` are skipped, also before the header)::

    time,withdrawn,filled,concentration,program
    2026-01-02T09:00,3.5 mL,20 mL,25 mg/mL,0.5 mL/day
    2026-02-01T09:00,3.5 mL,20 mL,,

==================  =============================================================================
``time``            the visit on the pump clock, e.g. ``2026-01-02T09:00`` (a date means its
                    midnight; no time zone)
``withdrawn``       volume taken out of the reservoir, with its unit, e.g. ``3.5 mL``
``filled``          volume put in and entered into the programmer, e.g. ``20 mL``
``concentration``   optional: the primary drug's concentration of the fill, e.g. ``25 mg/mL``
``program``         optional: the simple rate programmed from this visit on, ``0.5 mL/day`` or a
                    dose rate ``12.5 mg/day`` (default: the profile's program; the last one given
                    holds until another is)
==================  =============================================================================

Every bad cell is reported at once in a ``ProfileError`` naming the file and ``row N, column C``
(N counts the file's lines as a spreadsheet does: a header on the first line is row 1) and the
value, truncated. The CSV is read through ``pumpsim.io._csv``: UTF-8, at most
``MAX_REFILL_SHEET_BYTES``, cells of at most ``MAX_CELL_CHARS`` characters (a cell over csv's own
limit, or a NUL byte, is a problem of its row), each column named once. What the visits mean
(the verdict on each discrepancy, the delivery factor) is worked out in
``pumpsim.forecast.visit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pumpsim.core.clock import PumpTimeError, parse_pump_time
from pumpsim.core.errors import Problem, ProfileError
from pumpsim.core.units import CONCENTRATION, VOLUME, UnitParseError, parse_quantity, parse_rate
from pumpsim.io._csv import csv_records, long_cell, repeated_columns
from pumpsim.models.base import plausible_pump_time

__all__ = [
    "MAX_REFILL_SHEET_BYTES",
    "OPTIONAL",
    "REQUIRED",
    "RefillSheet",
    "SheetVisit",
    "read_refill_sheet",
]

REQUIRED = ("time", "withdrawn", "filled")
OPTIONAL = ("concentration", "program")
MAX_VALUE_CHARS = 40
"""A bad value is quoted in the message up to this many characters."""
MAX_REFILL_SHEET_BYTES = 5_000_000
"""The largest refill sheet read (a visit a month for a century is about 60 kB)."""
MAX_VOLUME_ML = 100.0
"""The largest volume a sheet may give (no implantable pump's reservoir holds more)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SheetVisit:
    """One refill visit of the sheet (volumes mL, concentration mg/mL, rates per day)."""

    row: int
    time: dt.datetime
    withdrawn_ml: float
    filled_ml: float
    concentration_mg_per_ml: float | None = None
    program: tuple[str, float] | None = None
    """``("volume", mL/day)`` or ``("dose", mg/day)`` programmed from this visit on."""


@dataclass(frozen=True, slots=True)
class RefillSheet:
    """The visits of a refill sheet in time order, and the file they came from."""

    visits: tuple[SheetVisit, ...]
    source: str


def read_refill_sheet(path: Path | str) -> RefillSheet:
    """Read the refill sheet at ``path``; a ``ProfileError`` lists every bad row and column,
    a missing or unreadable file, a header without the required columns, two visits at one
    time, and a sheet without visits."""
    path = Path(path)
    source = str(path)
    records = csv_records(path, MAX_REFILL_SHEET_BYTES, "CSV refill sheet")
    _, header = _header(_first_row(records), source)
    problems: list[Problem] = []
    visits = [
        visit
        for number, cells in records
        if (visit := _row(header, cells, number, problems)) is not None
    ]
    problems.extend(_duplicates(visits))
    if problems:
        raise ProfileError(source, problems)
    if not visits:
        raise ProfileError(source, [Problem("sheet", "(no visits)", "at least one visit row")])
    return RefillSheet(visits=tuple(sorted(visits, key=lambda v: v.time)), source=source)


def _first_row(records: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]] | None:
    """The header and its line: the first row that is neither blank nor a ``#`` comment."""
    for number, cells in records:
        if any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#"):
            return number, cells
    return None


def _header(first: tuple[int, list[str]] | None, source: str) -> tuple[int, list[str]]:
    if first is None:
        raise ProfileError(source, [Problem("row 1", "(empty file)", "a header row")])
    number, cells = first
    header = [c.strip().lower() for c in cells]
    allowed = f"one of {', '.join(REQUIRED + OPTIONAL)}"
    problems = [
        Problem(f"row {number}, column {_cut(h) or '(blank)'}", _cut(h), allowed)
        for h in header
        if h not in REQUIRED + OPTIONAL
    ]
    problems.extend(
        Problem(f"row {number}, column {name}", "(missing)", f"a {name} column")
        for name in REQUIRED
        if name not in header
    )
    # repeated_columns names row 1; the header of a sheet may follow comment lines
    problems.extend(
        Problem(p.field.replace("row 1,", f"row {number},", 1), p.value, p.allowed)
        for p in repeated_columns([h for h in header if h in REQUIRED + OPTIONAL])
    )
    if problems:
        raise ProfileError(source, problems)
    return number, header


def _row(
    header: list[str], cells: list[str], number: int, problems: list[Problem]
) -> SheetVisit | None:
    """One visit, or ``None`` for a blank or comment line or a row with problems."""
    if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
        return None
    if len(cells) > len(header):
        problems.append(Problem(f"row {number}", f"{len(cells)} cells", f"{len(header)} cells"))
        return None
    long = [
        Problem(f"row {number}, column {h}", bad.value, bad.allowed)
        for h, c in zip(header, cells, strict=False)
        if (bad := long_cell([c])) is not None
    ]
    if long:
        problems.extend(long)
        return None
    row = {h: c.strip() for h, c in zip(header, cells, strict=False) if c.strip()}
    found: list[Problem] = []
    cell = _Cells(row, number, found)
    time = cell.get("time", _time, required=True)
    withdrawn = cell.get("withdrawn", _volume, required=True)
    filled = cell.get("filled", _volume, required=True)
    concentration = cell.get("concentration", _concentration)
    program = cell.get("program", parse_rate)
    if filled is not None and filled <= 0:
        found.append(Problem(f"row {number}, column filled", _cut(row["filled"]), "more than 0"))
    problems.extend(found)
    if found or time is None or withdrawn is None or filled is None:
        return None
    return SheetVisit(number, time, withdrawn, filled, concentration, program)


@dataclass
class _Cells:
    """Reads the cells of one row, adding a problem per bad cell."""

    row: Mapping[str, str]
    number: int
    problems: list[Problem]

    def get(self, column: str, parse: Callable[[str], T], *, required: bool = False) -> T | None:
        text = self.row.get(column)
        where = f"row {self.number}, column {column}"
        if text is None:
            if required:
                self.problems.append(Problem(where, "(empty)", "a value is required here"))
            return None
        try:
            return parse(text)
        except (PumpTimeError, UnitParseError, ValueError) as exc:
            self.problems.append(Problem(where, _cut(text), str(exc)))
            return None


def _time(text: str) -> dt.datetime:
    return plausible_pump_time(parse_pump_time(text))


def _volume(text: str) -> float:
    value = parse_quantity(text, VOLUME)
    if value < 0:
        raise ValueError("a volume of 0 mL or more")
    if value > MAX_VOLUME_ML:
        raise ValueError(f"a volume of at most {MAX_VOLUME_ML:g} mL (a pump reservoir)")
    return value


def _concentration(text: str) -> float:
    value = parse_quantity(text, CONCENTRATION)
    if value <= 0:
        raise ValueError("a concentration above 0, e.g. '25 mg/mL'")
    return value


def _duplicates(visits: list[SheetVisit]) -> list[Problem]:
    seen: dict[dt.datetime, int] = {}
    problems = []
    for visit in visits:
        first = seen.setdefault(visit.time, visit.row)
        if first != visit.row:
            problems.append(
                Problem(
                    f"row {visit.row}, column time",
                    visit.time.isoformat(),
                    f"a time not used before (already in row {first})",
                )
            )
    return problems


def _cut(text: str) -> str:
    """``text`` truncated for a message."""
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
