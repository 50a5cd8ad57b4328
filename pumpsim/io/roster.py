"""A clinic's roster: one row per pump patient, read from CSV or YAML into validated therapies.

CSV columns (a header row; order free; empty cells mean "not given"; every quantity with its
unit, as in profiles):

==========================  ====================================================================
``patient_id``              required; letters, digits, ``_.-`` (no names: calendars travel)
``name``                    optional display name; exported only on request
``pump``                    catalog key, e.g. ``synchromed-ii-20``
``drugs``                   ``morphine 25 mg/mL``, or a mixture joined by ``+``
``catheter_volume``         e.g. ``0.2 mL``
``last_refill``             ISO date-time of the last refill, e.g. ``2026-03-02T10:30``
``fill_volume``             volume put in at ``last_refill``, e.g. ``20 mL``
``last_interrogation``      ISO date-time of a later interrogation (optional)
``calculated_volume``       calculated reservoir volume read at ``last_interrogation``
``daily_rate``              simple program: ``0.5 mL/day`` or a dose rate ``5 mg/day``
``profile``                 instead of pump … daily_rate: a patient profile YAML (path relative
                            to the roster); the state columns above, when given, override its state
``ptm_bolus`` …             ``ptm_bolus``, ``ptm_duration``, ``ptm_lockout``, ``ptm_max_per_day``
                            (count), ``ptm_presses_per_day`` (mean presses per day, a number)
``low_reservoir_alarm``     alarm threshold, e.g. ``3 mL`` (default: the pump's)
``allowed_weekdays``        e.g. ``mon,wed`` or ``tue-thu``; empty = any clinic day
``location`` / ``nurse``    free text; a calendar may give each its own capacity
``refill_volume``           volume to fill at the next refills (default: the reservoir)
``next_drugs``              the prescription for the next refill when the concentration changes
``refill_sheet``            the patient's refill sheet CSV (path relative to the roster; format:
                            ``pumpsim.io.refill_sheet``): the delivery factor is calibrated from
                            it (``pumpsim.forecast.visit.roster_calibration``)
==========================  ====================================================================

The state comes from ``last_interrogation`` + ``calculated_volume`` when both are given (then
``last_refill`` dates the fill for stability limits), else from ``last_refill`` + ``fill_volume``.

A roster holds at most ``MAX_ROSTER_PATIENTS`` rows and ``MAX_ROSTER_BYTES``; a cell is at most
``MAX_CELL_CHARS`` characters; a column may appear once in the header; the file must be UTF-8.

A YAML roster is a list whose items are a profile path, or a mapping with ``profile`` and any of
the columns above. Every problem in every row is reported at once as a ``ProfileError`` whose
fields read ``row N, column C`` (N counts lines as a spreadsheet does: the header is row 1) or
``entry N, column C`` for YAML. CSV is read through ``pumpsim.io._csv`` (UTF-8, bounded size
and cells, each column once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pumpsim.core.clock import parse_weekdays
from pumpsim.core.errors import Problem, ProfileError, clip, shown
from pumpsim.core.units import VOLUME, UnitParseError, parse_quantity
from pumpsim.core.yamlio import read_yaml
from pumpsim.io._cells import column_of, parse_drugs, precheck, profile_dict, row_state
from pumpsim.io._csv import MAX_CELL_CHARS, csv_records, repeated_columns
from pumpsim.io.profiles import (
    Catalog,
    describe,
    load_catalog,
    load_therapy,
    therapy_from_dict,
)
from pumpsim.models import PumpState, Therapy

__all__ = ["COLUMNS", "Roster", "RosterEntry", "load_roster", "parse_drugs", "roster_from_rows"]

COLUMNS = (
    "patient_id",
    "name",
    "pump",
    "drugs",
    "catheter_volume",
    "last_refill",
    "fill_volume",
    "last_interrogation",
    "calculated_volume",
    "daily_rate",
    "profile",
    "ptm_bolus",
    "ptm_duration",
    "ptm_lockout",
    "ptm_max_per_day",
    "ptm_presses_per_day",
    "low_reservoir_alarm",
    "allowed_weekdays",
    "location",
    "nurse",
    "refill_volume",
    "next_drugs",
    "refill_sheet",
    "timezone",
)
_THERAPY_COLUMNS = (
    "pump",
    "drugs",
    "catheter_volume",
    "daily_rate",
    "ptm_bolus",
    "ptm_duration",
    "ptm_lockout",
    "ptm_max_per_day",
    "ptm_presses_per_day",
    "low_reservoir_alarm",
    "next_drugs",
)

MAX_ROSTER_BYTES = 20_000_000
"""The largest roster file read (``clinic-1000.csv`` is about 150 kB)."""
MAX_ROSTER_PATIENTS = 10_000
"""The most patient rows a roster may hold."""
DEFAULT_POOL = "clinic"
"""The location pool of a roster without a pool column."""


@dataclass(frozen=True)
class RosterEntry:
    """One patient of the roster: the validated therapy plus the clinic's own columns."""

    therapy: Therapy
    row: int
    name: str | None = None
    allowed_weekdays: frozenset[int] | None = None
    location: str | None = None
    nurse: str | None = None
    refill_volume_ml: float | None = None
    """Volume to put in at each refill (mL); ``None`` fills the reservoir."""
    next_therapy: Therapy | None = None
    """The therapy after the next refill when ``next_drugs`` changes the infusate."""
    refill_sheet: Path | None = None
    """The patient's refill sheet (resolved against the roster's folder), if the row names one."""

    @property
    def patient_id(self) -> str:
        return self.therapy.patient_id

    @property
    def fill_ml(self) -> float:
        """Volume filled at a refill (mL)."""
        if self.refill_volume_ml is not None:
            return self.refill_volume_ml
        return self.therapy.pump.reservoir_ml

    def pool(self, pool_by: str | None) -> str:
        """The capacity pool this patient books from (their nurse or location, or the clinic)."""
        if pool_by == "nurse":
            return self.nurse or ""
        if pool_by == "location":
            return self.location or ""
        return DEFAULT_POOL


@dataclass(frozen=True)
class Roster:
    """The patients of a clinic, in file order."""

    entries: tuple[RosterEntry, ...]
    source: str
    timezone: str | None = None
    """The clinic's IANA time zone from a ``timezone`` column (the same on every row that
    fills it), for exports that need one; ``None`` when the roster does not say."""

    def __len__(self) -> int:
        return len(self.entries)


def load_roster(path: Path | str, catalog: Catalog | None = None) -> Roster:
    """Read a CSV, YAML or FHIR Bundle (``.json``) roster; raise one ``ProfileError`` listing
    every bad row and column (for a Bundle: every bad element, by its FHIR path)."""
    path = Path(path)
    catalog = catalog or load_catalog()
    if not path.is_file():
        raise ProfileError(
            str(path), [Problem("roster", str(path), "an existing CSV, YAML or JSON file")]
        )
    suffix = path.suffix.lower()
    if suffix == ".json":
        from pumpsim.io.fhir import bundle_rows  # the FHIR models load only for a Bundle

        bundle, fhir_path = bundle_rows(path)
        return roster_from_rows(bundle, str(path), path.parent, catalog, fhir_path)
    if suffix in (".yaml", ".yml"):
        rows, label = _yaml_rows(path), "entry"
    else:
        rows, label = _csv_rows(path), "row"

    def where(number: int, column: str | None) -> str:
        return f"{label} {number}" if column is None else f"{label} {number}, column {column}"

    return roster_from_rows(rows, str(path), path.parent, catalog, where)


def roster_from_rows(
    rows: list[tuple[int, dict[str, str] | Problem]],
    source: str,
    base: Path,
    catalog: Catalog,
    where: Callable[[int, str | None], str],
) -> Roster:
    """Validate roster rows (``{column: cell}``) into a ``Roster``: the one path every roster
    format takes. ``where(number, column)`` names a cell in messages (``row 3, column pump``,
    or a FHIR path); ``where(number, None)`` names the row."""
    if len(rows) > MAX_ROSTER_PATIENTS:
        raise ProfileError(
            source,
            [Problem("roster", f"{len(rows)} rows", f"at most {MAX_ROSTER_PATIENTS:,} patients")],
        )
    problems: list[Problem] = []
    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}
    for number, raw in rows:
        row = _bounded(raw)
        if isinstance(row, Problem):
            problems.append(Problem(_place(where, number, row.field), row.value, row.allowed))
            continue
        entry, row_problems = _entry(row, number, base, catalog)
        problems.extend(Problem(where(number, p.field), p.value, p.allowed) for p in row_problems)
        patient_id = row.get("patient_id")
        if patient_id is not None:
            first = seen.setdefault(patient_id, number)
            if first != number:
                problems.append(
                    Problem(
                        where(number, "patient_id"),
                        patient_id,
                        f"a patient id not used before (already in {where(first, None)})",
                    )
                )
                continue
        if entry is not None:
            entries.append(entry)
    if problems:
        raise ProfileError(source, problems)
    if not entries:
        raise ProfileError(source, [Problem("roster", "(no patients)", "at least one row")])
    return Roster(entries=tuple(entries), source=source, timezone=_timezone(rows, source, where))


def _timezone(
    rows: list[tuple[int, dict[str, str] | Problem]],
    source: str,
    where: Callable[[int, str | None], str],
) -> str | None:
    """The one time zone the rows' ``timezone`` cells name (an IANA name), if any."""
    named = [
        (n, r["timezone"].strip())
        for n, r in rows
        if isinstance(r, dict) and r.get("timezone", "").strip()
    ]
    zones = {zone for _, zone in named}
    if not zones:
        return None
    number, zone = named[0]
    if len(zones) > 1:
        raise ProfileError(
            source,
            [
                Problem(
                    where(named[-1][0], "timezone"),
                    named[-1][1],
                    f"the roster's one time zone ({zone}, {where(number, None)})",
                )
            ],
        )
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(
            source,
            [Problem(where(number, "timezone"), zone, "an IANA time zone such as Europe/Berlin")],
        ) from None
    return zone


def _place(where: Callable[[int, str | None], str], number: int, field: str) -> str:
    """Where a row-level problem is: a ``column C`` field names the cell, others the row."""
    if field.startswith("column "):
        return where(number, field.removeprefix("column "))
    return f"{where(number, None)}, {field}"


def _csv_rows(path: Path) -> list[tuple[int, dict[str, str] | Problem]]:
    """The CSV's rows as ``{column: cell}`` (or a ``Problem`` for a malformed row)."""
    records = csv_records(path, MAX_ROSTER_BYTES, "CSV roster")
    first = next(records, None)
    header = _csv_header(None if first is None else first[1], str(path))
    rows: list[tuple[int, dict[str, str] | Problem]] = []
    for number, cells in records:
        row = _csv_row(cells, header)
        if row is not None:
            rows.append((number, row))
    return rows


def _csv_header(cells: list[str] | None, source: str) -> list[str]:
    """The header's column names; unknown, repeated or missing columns are a ``ProfileError``."""
    if cells is None:
        raise ProfileError(source, [Problem("row 1", "(empty file)", "a header row")])
    header = [h.strip().lower() for h in cells]
    problems = [
        Problem(f"row 1, column {clip(h, 30) or '(blank)'}", h, f"one of {', '.join(COLUMNS)}")
        for h in header
        if h not in COLUMNS
    ]
    problems.extend(repeated_columns(header))
    if "patient_id" not in header:
        problems.append(Problem("row 1, column patient_id", "(missing)", "a patient_id column"))
    if problems:
        raise ProfileError(source, problems)
    return header


def _csv_row(cells: list[str], header: list[str]) -> dict[str, str] | Problem | None:
    """One data row: ``None`` for a blank or ``#`` comment row."""
    if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
        return None
    if len(cells) > len(header):
        return Problem("(row)", f"{len(cells)} cells", f"{len(header)} cells")
    return {h: c.strip() for h, c in zip(header, cells, strict=False) if c.strip()}


def _bounded(row: dict[str, str] | Problem) -> dict[str, str] | Problem:
    """The row, or a ``Problem`` for its first cell longer than ``MAX_CELL_CHARS``."""
    if isinstance(row, Problem):
        return row
    for column, cell in row.items():
        if len(cell) > MAX_CELL_CHARS:
            return Problem(
                f"column {column}", f"{len(cell):,} characters", f"at most {MAX_CELL_CHARS}"
            )
    return row


def _yaml_rows(path: Path) -> list[tuple[int, dict[str, str] | Problem]]:
    data = read_yaml(path)
    if not isinstance(data, list):
        raise ProfileError(
            str(path), [Problem("(top level)", type(data).__name__, "a list of entries")]
        )
    rows: list[tuple[int, dict[str, str] | Problem]] = []
    for number, item in enumerate(data, start=1):
        if isinstance(item, str):
            item = {"profile": item}
        if not isinstance(item, dict):
            rows.append((number, Problem("(entry)", describe(item), "a profile path or a mapping")))
            continue
        unknown = [k for k in item if k not in COLUMNS]
        if unknown:
            rows.append(
                (
                    number,
                    Problem(
                        f"column {clip(unknown[0], 30)}", unknown[0], f"one of {', '.join(COLUMNS)}"
                    ),
                )
            )
            continue
        rows.append((number, {str(k): _text(v) for k, v in item.items() if v is not None}))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value).strip()


def _entry(
    row: Mapping[str, str], number: int, base: Path, catalog: Catalog
) -> tuple[RosterEntry | None, list[Problem]]:
    """Validate one roster row into an entry, or return ``None`` and the row's problems."""
    problems: list[Problem] = []
    weekdays = _weekdays_cell(row, problems)
    refill_ml = _refill_cell(row, problems)
    sheet = _sheet_cell(row, base, problems)
    state, state_columns = row_state(row, problems)
    therapy, next_therapy = _therapies(row, base, catalog, state, state_columns, problems)
    _check_refill_fits(row, therapy, refill_ml, problems)
    if problems or therapy is None:
        return None, problems
    return (
        RosterEntry(
            therapy=therapy,
            row=number,
            name=row.get("name"),
            allowed_weekdays=weekdays,
            location=row.get("location"),
            nurse=row.get("nurse"),
            refill_volume_ml=refill_ml,
            next_therapy=next_therapy,
            refill_sheet=sheet,
        ),
        [],
    )


def _sheet_cell(row: Mapping[str, str], base: Path, problems: list[Problem]) -> Path | None:
    """The row's ``refill_sheet`` resolved against the roster folder (``None`` when empty);
    a sheet that does not exist is added to problems (its contents are read when used)."""
    if "refill_sheet" not in row:
        return None
    path = Path(row["refill_sheet"])
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        problems.append(Problem("refill_sheet", row["refill_sheet"], f"an existing file ({path})"))
        return None
    return path


def _weekdays_cell(row: Mapping[str, str], problems: list[Problem]) -> frozenset[int] | None:
    """The row's ``allowed_weekdays`` (``None`` when empty); a bad cell is added to problems."""
    if "allowed_weekdays" not in row:
        return None
    try:
        return parse_weekdays(row["allowed_weekdays"])
    except ValueError as exc:
        problems.append(Problem("allowed_weekdays", row["allowed_weekdays"], str(exc)))
        return None


def _refill_cell(row: Mapping[str, str], problems: list[Problem]) -> float | None:
    """The row's ``refill_volume`` in mL (``None`` when empty); a bad cell is added to problems."""
    if "refill_volume" not in row:
        return None
    try:
        return parse_quantity(row["refill_volume"], VOLUME)
    except UnitParseError as exc:
        problems.append(Problem("refill_volume", row["refill_volume"], str(exc)))
        return None


def _therapies(
    row: Mapping[str, str],
    base: Path,
    catalog: Catalog,
    state: dict[str, Any] | None,
    state_columns: Mapping[str, str],
    problems: list[Problem],
) -> tuple[Therapy | None, Therapy | None]:
    """The row's therapy and next therapy, from its profile or its own columns."""
    if "patient_id" not in row:
        problems.append(Problem("patient_id", "(missing)", "a patient id, e.g. P001"))
        return None, None
    if "profile" in row:
        return _from_profile(row, base, catalog, state, state_columns, problems), None
    return _from_columns(row, catalog, state, state_columns, problems)


def _from_columns(
    row: Mapping[str, str],
    catalog: Catalog,
    state: dict[str, Any] | None,
    state_columns: Mapping[str, str],
    problems: list[Problem],
) -> tuple[Therapy | None, Therapy | None]:
    """Build the therapy (and the ``next_drugs`` therapy) from the row's therapy columns."""
    precheck(row, catalog, problems)
    data = profile_dict(row, problems)
    if state is None:
        if not any(p.field in state_columns.values() for p in problems):
            problems.append(
                Problem(
                    "last_refill",
                    "(missing)",
                    "last_refill + fill_volume, or last_interrogation + calculated_volume",
                )
            )
        return None, None
    data["state"] = state
    found: list[Problem] = []
    therapy = _build(data, catalog, state_columns, found)
    reported = {p.field for p in problems}
    problems.extend(p for p in found if p.field not in reported)
    if therapy is None or "next_drugs" not in row:
        return therapy, None
    return therapy, _next_from_columns(row, data, catalog, state_columns, problems)


def _next_from_columns(
    row: Mapping[str, str],
    data: dict[str, Any],
    catalog: Catalog,
    state_columns: Mapping[str, str],
    problems: list[Problem],
) -> Therapy | None:
    """The therapy with the row's ``next_drugs`` in place of its drugs (``data`` is updated)."""
    try:
        data["drugs"] = parse_drugs(row["next_drugs"])
    except ValueError as exc:
        problems.append(Problem("next_drugs", row["next_drugs"], str(exc)))
        return None
    changed: list[Problem] = []
    next_therapy = _build(data, catalog, state_columns, changed)
    problems.extend(
        Problem("next_drugs", p.value, p.allowed) if p.field == "drugs" else p for p in changed
    )
    return next_therapy


def _check_refill_fits(
    row: Mapping[str, str],
    therapy: Therapy | None,
    refill_ml: float | None,
    problems: list[Problem],
) -> None:
    """Report a ``refill_volume`` larger than the therapy's pump reservoir."""
    if therapy is not None and refill_ml is not None and refill_ml > therapy.pump.reservoir_ml:
        problems.append(
            Problem(
                "refill_volume",
                row["refill_volume"],
                f"up to the reservoir, {therapy.pump.reservoir_ml:g} mL",
            )
        )


def _build(
    data: Mapping[str, Any],
    catalog: Catalog,
    state_columns: Mapping[str, str],
    problems: list[Problem],
) -> Therapy | None:
    try:
        return therapy_from_dict(data, "roster", catalog)
    except ProfileError as exc:
        problems.extend(
            Problem(column_of(p.field, state_columns), p.value, p.allowed) for p in exc.problems
        )
        return None


def _from_profile(
    row: Mapping[str, str],
    base: Path,
    catalog: Catalog,
    state: dict[str, Any] | None,
    state_columns: Mapping[str, str],
    problems: list[Problem],
) -> Therapy | None:
    for column in _THERAPY_COLUMNS:
        if column in row:
            problems.append(
                Problem(column, row[column], "empty when a profile is given (the profile sets it)")
            )
    path = Path(row["profile"])
    if not path.is_absolute():
        path = base / path
    try:
        therapy = load_therapy(path, catalog)
    except ProfileError as exc:
        problems.extend(
            Problem("profile", f"{path}: {p.field}", f"{p.allowed} (value {shown(p.value)})")
            for p in exc.problems
        )
        return None
    update: dict[str, Any] = {"patient_id": row["patient_id"]}
    if state is not None:
        try:
            update["state"] = PumpState.model_validate(state, context={"source": "file"})
        except ValueError as exc:
            problems.append(
                Problem(column_of("state", state_columns), state, str(exc).splitlines()[-1])
            )
            return None
    try:
        return Therapy.model_validate({**_shallow(therapy), **update})
    except ValueError as exc:
        problems.append(Problem("profile", str(path), str(exc).splitlines()[-1].strip()))
        return None


def _shallow(therapy: Therapy) -> dict[str, Any]:
    """The therapy's fields as model instances (re-validation keeps catalog values as they are)."""
    return {name: getattr(therapy, name) for name in Therapy.model_fields}
