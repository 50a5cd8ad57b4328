"""Reading one roster row's cells: drug lists, date-times, the pump state, unit checks, and the
profile mapping a row stands for. Each problem names the column it came from."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from pumpsim.core.clock import PumpTimeError, parse_pump_time
from pumpsim.core.errors import Problem
from pumpsim.core.units import (
    CONCENTRATION,
    DURATION,
    MASS,
    VOLUME,
    UnitParseError,
    parse_quantity,
    parse_rate,
)
from pumpsim.io.profiles import Catalog

__all__ = ["column_of", "parse_drugs", "precheck", "profile_dict", "row_state"]

_PTM_COLUMNS = {
    "ptm.bolus": "ptm_bolus",
    "ptm.duration": "ptm_duration",
    "ptm.lockout": "ptm_lockout",
    "ptm.max_per_day": "ptm_max_per_day",
}


_DRUG = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _\-]*?)\s+([0-9.].*?)\s*$")


def parse_drugs(text: str) -> list[dict[str, str]]:
    """``"hydromorphone 10 mg/mL + bupivacaine 15 mg/mL"`` → profile ``drugs`` entries.

    Drug names are catalog keys (case-insensitive). Raises ``ValueError`` on a malformed part.
    """
    out = []
    for part in text.split("+"):
        match = _DRUG.match(part)
        if not match:
            raise ValueError(
                f"cannot read {part.strip()!r}; write 'DRUG CONCENTRATION', e.g. "
                "'morphine 25 mg/mL', mixtures joined with '+'"
            )
        out.append({"drug": match.group(1).strip().lower(), "concentration": match.group(2)})
    return out


def _datetime(row: Mapping[str, str], column: str, problems: list[Problem]) -> dt.datetime | None:
    text = row.get(column)
    if text is None:
        return None
    try:
        return parse_pump_time(text)
    except PumpTimeError as exc:
        problems.append(Problem(column, text, str(exc)))
        return None


def row_state(
    row: Mapping[str, str], problems: list[Problem]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The profile ``state`` mapping and which column each of its fields came from."""
    refill = _datetime(row, "last_refill", problems)
    interrogation = _datetime(row, "last_interrogation", problems)
    if "last_interrogation" in row or "calculated_volume" in row:
        return _interrogation_state(row, interrogation, refill, problems)
    return _refill_state(row, refill, problems)


def _interrogation_state(
    row: Mapping[str, str],
    interrogation: dt.datetime | None,
    refill: dt.datetime | None,
    problems: list[Problem],
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The state read at ``last_interrogation`` (``last_refill``, if given, dates the fill)."""
    for column, partner in (
        ("last_interrogation", "calculated_volume"),
        ("calculated_volume", "last_interrogation"),
    ):
        if column not in row:
            problems.append(Problem(column, "(missing)", "given together with " + partner))
    if interrogation is None or "calculated_volume" not in row:
        return None, {
            "state.time": "last_interrogation",
            "state.calculated_volume": "calculated_volume",
        }
    state: dict[str, Any] = {
        "time": interrogation,
        "calculated_volume": row["calculated_volume"],
    }
    if refill is not None:
        state["filled_at"] = refill
    return state, {
        "state.time": "last_interrogation",
        "state.calculated_volume": "calculated_volume",
        "state.filled_at": "last_refill",
        "state": "last_interrogation",
    }


def _refill_state(
    row: Mapping[str, str], refill: dt.datetime | None, problems: list[Problem]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The state just after ``last_refill`` with ``fill_volume`` in the reservoir."""
    columns = {
        "state.time": "last_refill",
        "state.calculated_volume": "fill_volume",
        "state.filled_at": "last_refill",
        "state": "last_refill",
    }
    if "last_refill" in row or "fill_volume" in row:
        for column in ("last_refill", "fill_volume"):
            if column not in row:
                problems.append(
                    Problem(column, "(missing)", "last_refill and fill_volume together")
                )
        if refill is None or "fill_volume" not in row:
            return None, columns
        return {
            "time": refill,
            "calculated_volume": row["fill_volume"],
            "filled_at": refill,
        }, columns
    return None, columns


_UNIT_COLUMNS = {
    "catheter_volume": VOLUME,
    "fill_volume": VOLUME,
    "calculated_volume": VOLUME,
    "low_reservoir_alarm": VOLUME,
    "ptm_duration": DURATION,
    "ptm_lockout": DURATION,
}


def precheck(row: Mapping[str, str], catalog: Catalog, problems: list[Problem]) -> None:
    """Column-by-column checks that need no other column, so one bad cell hides no other."""
    if "pump" in row and row["pump"].strip().lower() not in catalog.pumps:
        problems.append(Problem("pump", row["pump"], f"one of {', '.join(catalog.pumps)}"))
    for column in ("drugs", "next_drugs"):
        if column not in row:
            continue
        try:
            parts = parse_drugs(row[column])
        except ValueError:
            continue  # reported where the column is parsed
        for part in parts:
            if part["drug"] not in catalog.drugs:
                problems.append(Problem(column, part["drug"], f"one of {', '.join(catalog.drugs)}"))
            try:
                parse_quantity(part["concentration"], CONCENTRATION)
            except UnitParseError as exc:
                problems.append(Problem(column, part["concentration"], str(exc)))
    for column, kind in _UNIT_COLUMNS.items():
        if column in row:
            try:
                parse_quantity(row[column], kind)
            except UnitParseError as exc:
                problems.append(Problem(column, row[column], str(exc)))
    if "daily_rate" in row:
        try:
            parse_rate(row["daily_rate"])
        except UnitParseError as exc:
            problems.append(Problem("daily_rate", row["daily_rate"], str(exc)))
    if "ptm_bolus" in row:
        try:
            parse_quantity(row["ptm_bolus"], VOLUME)
        except UnitParseError:
            try:
                parse_quantity(row["ptm_bolus"], MASS)
            except UnitParseError:
                problems.append(
                    Problem(
                        "ptm_bolus", row["ptm_bolus"], "a volume ('0.05 mL') or dose ('25 mcg')"
                    )
                )


def profile_dict(row: Mapping[str, str], problems: list[Problem]) -> dict[str, Any]:
    data: dict[str, Any] = {"patient_id": row["patient_id"]}
    for column in ("pump", "drugs", "catheter_volume", "daily_rate"):
        if column not in row:
            problems.append(Problem(column, "(missing)", "a value (or a profile column instead)"))
    if "pump" in row:
        data["pump"] = row["pump"].strip().lower()
    if "drugs" in row:
        try:
            data["drugs"] = parse_drugs(row["drugs"])
        except ValueError as exc:
            problems.append(Problem("drugs", row["drugs"], str(exc)))
    if "catheter_volume" in row:
        data["catheter"] = {"volume": row["catheter_volume"]}
    if "daily_rate" in row:
        data["program"] = {"mode": "simple", "rate": row["daily_rate"]}
    ptm: dict[str, str | int] = {
        key.split(".")[1]: row[col] for key, col in _PTM_COLUMNS.items() if col in row
    }
    if ptm:
        for col in _PTM_COLUMNS.values():
            if col not in row:
                problems.append(Problem(col, "(missing)", "all four PTM columns, or none"))
        if "max_per_day" in ptm:
            try:
                ptm["max_per_day"] = int(row["ptm_max_per_day"])  # a count, not a quantity
            except ValueError:
                problems.append(
                    Problem("ptm_max_per_day", row["ptm_max_per_day"], "a whole number")
                )
        data["ptm"] = ptm
    if "ptm_presses_per_day" in row:
        try:
            data["demand"] = {"presses_per_day": float(row["ptm_presses_per_day"])}
        except ValueError:
            problems.append(
                Problem(
                    "ptm_presses_per_day", row["ptm_presses_per_day"], "a number of presses per day"
                )
            )
    if "low_reservoir_alarm" in row:
        data["alarms"] = {"low_reservoir": row["low_reservoir_alarm"]}
    return data


def column_of(field: str, state_columns: Mapping[str, str]) -> str:
    """The roster column a profile field path came from."""
    for prefix, column in sorted(state_columns.items(), key=lambda kv: -len(kv[0])):
        if field == prefix or field.startswith(prefix + "."):
            return column
    for prefix, column in _PTM_COLUMNS.items():
        if field.startswith(prefix):
            return column
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    return {
        "patient_id": "patient_id",
        "pump": "pump",
        "drugs": "drugs",
        "catheter": "catheter_volume",
        "program": "daily_rate",
        "ptm": "ptm_bolus",
        "demand": "ptm_presses_per_day",
        "alarms": "low_reservoir_alarm",
        "state": "last_refill",
    }.get(head, "patient_id")
