"""Writing a profile back: the same file with new timeline entries, in clinical units.

``pumpsim program --write NEW.yaml`` uses this to record a programming session as a timeline
entry (a refill with drugs, program and bridge bolus, a reprogram, a PTM change) so that
``forecast``, ``plan`` and ``simulate`` use it. Every number is written with its unit and to ten
significant digits (well below the 1e-9 mL the tests hold volumes to); the file is written
atomically and read back through the loader before it replaces anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pumpsim.core.atomic import write_text_atomic
from pumpsim.core.clock import MINUTES_PER_DAY
from pumpsim.core.errors import Problem, ProfileError
from pumpsim.core.units import format_concentration
from pumpsim.core.yamlio import read_yaml
from pumpsim.io.profiles import Catalog, Profile, profile_from_dict
from pumpsim.models import FlexStep, Infusate, PeriodicBolus, Program, PtmSettings
from pumpsim.models.timeline import (
    Intervention,
    PrimingBolus,
    PtmChange,
    Refill,
    Reprogram,
)

__all__ = ["entry_to_file", "program_to_file", "write_profile_with_entries"]


def _num(value: float) -> str:
    return f"{value:.10g}"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minutes(days: float) -> str:
    return f"{_num(days * MINUTES_PER_DAY)} min"


def _steps(steps: Sequence[FlexStep]) -> list[dict[str, str]]:
    return [
        {"start": _hhmm(s.start_minute), "rate": f"{_num(s.rate_ml_per_day)} mL/day"} for s in steps
    ]


def _bolus(b: PeriodicBolus) -> dict[str, str]:
    return {
        "start": _hhmm(b.start_minute),
        "every": _minutes(b.every_days),
        "volume": f"{_num(b.volume_ml)} mL",
        "duration": _minutes(b.duration_days),
    }


def program_to_file(program: Program) -> dict[str, Any]:
    """A program as a profile writes it (rates in mL/day, times of day as HH:MM)."""
    out: dict[str, Any] = {"mode": program.mode}
    if program.mode == "simple":
        assert program.rate_ml_per_day is not None
        out["rate"] = f"{_num(program.rate_ml_per_day)} mL/day"
    else:
        if program.steps:
            out["steps"] = _steps(program.steps)
        if program.weekly:
            out["weekly"] = {day: _steps(steps) for day, steps in program.weekly.items()}
    if program.periodic_boluses:
        out["periodic_boluses"] = [_bolus(b) for b in program.periodic_boluses]
    return out


def _drugs(infusate: Infusate) -> list[dict[str, str]]:
    return [
        {
            "drug": d.name,
            "concentration": format_concentration(d.concentration_mg_per_ml, d.mass_unit),
        }
        for d in infusate.drugs
    ]


def _ptm(ptm: PtmSettings | None) -> dict[str, Any] | None:
    if ptm is None:
        return None
    return {
        "bolus": f"{_num(ptm.bolus_volume_ml)} mL",
        "duration": _minutes(ptm.duration_days),
        "lockout": _minutes(ptm.lockout_days),
        "max_per_day": ptm.max_per_day,
        "day_definition": ptm.day_definition,
    }


def entry_to_file(entry: Intervention) -> dict[str, Any]:
    """A timeline entry as a profile writes it."""
    out: dict[str, Any] = {"at": entry.at.isoformat(timespec="minutes"), "action": entry.action}
    if isinstance(entry, Refill):
        out["fill"] = f"{_num(entry.fill_ml)} mL"
        if entry.infusate is not None:
            out["drugs"] = _drugs(entry.infusate)
        if entry.program is not None:
            out["program"] = program_to_file(entry.program)
        out["bridge_bolus"] = entry.bridge_bolus
    elif isinstance(entry, Reprogram):
        out["program"] = program_to_file(entry.program)
    elif isinstance(entry, PtmChange):
        out["ptm"] = _ptm(entry.ptm)
    elif isinstance(entry, PrimingBolus):
        out["new_catheter"] = entry.new_catheter
    else:
        raise ValueError(f"cannot write a {entry.action} entry")
    return out


def write_profile_with_entries(
    source: Path,
    entries: Sequence[Intervention],
    out: Path,
    *,
    catalog: Catalog | None = None,
    note: str = "",
) -> Profile:
    """Write the profile at ``source`` to ``out`` with ``entries`` added to its timeline (kept
    in time order). The result is validated by the loader before the file is written; returns
    it as loaded."""
    data = read_yaml(source)
    if not isinstance(data, dict):
        raise ProfileError(str(source), [Problem("(top level)", type(data).__name__, "a mapping")])
    timeline = list(data.get("timeline") or [])
    timeline.extend(entry_to_file(e) for e in entries)
    timeline.sort(key=lambda item: str(item.get("at", "")) if isinstance(item, dict) else "")
    data = {**data, "timeline": timeline}
    profile = profile_from_dict(data, str(out), catalog)  # refuses what the loader would refuse
    header = f"# {note}\n" if note else ""
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    write_text_atomic(out, text)
    return profile
