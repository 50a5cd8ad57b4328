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
value, truncated. What the visits mean (the verdict on each discrepancy, the delivery factor) is
worked out in ``pumpsim.forecast.visit``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pumpsim.core.clock import PumpTimeError, parse_pump_time
from pumpsim.core.errors import Problem, ProfileError
from pumpsim.core.units import CONCENTRATION, VOLUME, UnitParseError, parse_quantity, parse_rate

__all__ = ["REQUIRED", "OPTIONAL", "RefillSheet", "SheetVisit", "read_refill_sheet"]

REQUIRED = ("time", "withdrawn", "filled")
OPTIONAL = ("concentration", "program")
MAX_VALUE_CHARS = 40
"""A bad value is quoted in the message up to this many characters."""

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
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = _header(_first_row(reader), reader.line_num, source)
            problems: list[Problem] = []
            visits = [
                visit
                for cells in reader
                if (visit := _row(header, cells, reader.line_num, problems)) is not None
            ]
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(
            source,
            [Problem("file", source, f"a readable UTF-8 CSV file ({exc.__class__.__name__})")],
        ) from None
    problems.extend(_duplicates(visits))
    if problems:
        raise ProfileError(source, problems)
    if not visits:
        raise ProfileError(source, [Problem("sheet", "(no visits)", "at least one visit row")])
    return RefillSheet(visits=tuple(sorted(visits, key=lambda v: v.time)), source=source)


def _first_row(reader: Iterator[list[str]]) -> list[str] | None:
    """The header: the first row that is neither blank nor a ``#`` comment."""
    for cells in reader:
        if any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#"):
            return cells
    return None


def _header(cells: list[str] | None, number: int, source: str) -> list[str]:
    if cells is None:
        raise ProfileError(source, [Problem("row 1", "(empty file)", "a header row")])
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
    if problems:
        raise ProfileError(source, problems)
    return header


def _row(
    header: list[str], cells: list[str], number: int, problems: list[Problem]
) -> SheetVisit | None:
    """One visit, or ``None`` for a blank or comment line or a row with problems."""
    if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
        return None
    if len(cells) > len(header):
        problems.append(Problem(f"row {number}", f"{len(cells)} cells", f"{len(header)} cells"))
        return None
    row = {h: c.strip() for h, c in zip(header, cells, strict=False) if c.strip()}
    found: list[Problem] = []
    cell = _Cells(row, number, found)
    time = cell.get("time", parse_pump_time, required=True)
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


def _volume(text: str) -> float:
    value = parse_quantity(text, VOLUME)
    if value < 0:
        raise ValueError("a volume of 0 mL or more")
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
