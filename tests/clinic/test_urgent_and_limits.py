"""The planner books overdue refills urgently on the first open day with room, stops a roster
with a dose above a hard limit, and writes drug amounts in the drug's unit in JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.clinic.export import plan_json
from pumpsim.clinic.planner import plan_clinic
from pumpsim.clinic.results import Plan
from pumpsim.clinic.windows import ScheduleWindowSource
from pumpsim.core.jsonout import rounded
from pumpsim.io.roster import load_roster
from pumpsim.schedule.limits import DoseLimitError

ROSTER = Path(__file__).resolve().parents[2] / "profiles" / "rosters" / "clinic-12.csv"


def test_shipped_roster_from_december_places_all_12_urgently() -> None:
    """Every window of clinic-12 closed between March and July 2026; from Tue 1 Dec 2026 with
    8 slots a day all 12 first refills are booked (before: 0 refills, 12 not placed): the
    first 8 on 1 Dec, the Mon/Wed patient ITP-005 on Wed 2 Dec, the Friday patient ITP-009
    on Fri 4 Dec, the Tue/Thu patient ITP-002 on 1 Dec."""
    roster = load_roster(ROSTER)
    calendar = ClinicCalendar(start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 28))
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    first = {a.patient_id: a for a in plan.appointments if a.cycle == 1}
    assert len(first) == 12 and not plan.unplaceable
    assert all(a.urgent for a in first.values())
    assert first["ITP-001"].urgent_reason == "overdue since 2026-05-14"
    assert first["ITP-001"].slack_days == (dt.date(2026, 5, 14) - dt.date(2026, 12, 1)).days
    assert first["ITP-005"].date == dt.date(2026, 12, 2)  # mon,wed only
    assert first["ITP-009"].date == dt.date(2026, 12, 4)  # fri only
    on_first_day = [a for a in first.values() if a.date == dt.date(2026, 12, 1)]
    assert len(on_first_day) == 8 == calendar.capacity_per_day
    # the next cycles chain from the urgent refills and are not urgent
    assert not [a for a in plan.appointments if a.cycle > 1 and a.urgent]


def test_urgent_refills_spill_to_the_next_open_days() -> None:
    """One slot a day: 12 overdue patients over the first open days, one each, none lost."""
    roster = load_roster(ROSTER)
    calendar = ClinicCalendar(
        start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31), capacity_per_day=1
    )
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    urgent = sorted(a.date for a in plan.appointments if a.urgent)
    assert len(urgent) == 12 and len(set(urgent)) == 12
    assert urgent[0] == dt.date(2026, 12, 1) and not plan.unplaceable


def test_plan_json_round_trips_urgent_and_mcg_amounts() -> None:
    roster = load_roster(ROSTER)
    calendar = ClinicCalendar(start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 14))
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    text = plan_json(plan)
    data = json.loads(text)
    ziconotide = next(a for a in data["appointments"] if a["patient_id"] == "ITP-004")
    (drug,) = ziconotide["drugs"]
    assert drug == {
        "name": "ziconotide",
        "mass_unit": "mcg",
        "concentration_mcg_per_ml": pytest.approx(25.0),
        "amount_mcg": pytest.approx(500.0),  # 20 mL × 25 mcg/mL
    }
    morphine = next(a for a in data["appointments"] if a["patient_id"] == "ITP-001")
    assert morphine["drugs"][0]["amount_mg"] == pytest.approx(500.0)  # 20 mL × 25 mg/mL
    assert ziconotide["urgent"] is True and ziconotide["urgent_reason"].startswith("overdue")
    again = Plan.model_validate_json(text)
    assert again == Plan.model_validate(rounded(plan.model_dump()))  # JSON rounds floats


def test_roster_with_a_hard_limit_dose_stops_the_plan(tmp_path: Path) -> None:
    rows = ROSTER.read_text(encoding="utf-8").splitlines()
    header = rows[0]
    body = [r for r in rows[1:] if r.startswith(("ITP-001", "ITP-004"))]
    body[0] = body[0].replace("3 mg/day", "0.5 mL/h")  # morphine 25 mg/mL: 300 mg/day
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    calendar = ClinicCalendar(start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 15))
    with pytest.raises(DoseLimitError) as info:
        plan_clinic(load_roster(path), calendar, ScheduleWindowSource())
    (warning,) = info.value.warnings
    assert warning.where == "ITP-001 (row 2)"
    assert warning.dose_mg_per_day == pytest.approx(300.0)
    assert warning.hint == "0.5 mL/h = 12 mL/day; did you mean 0.5 mL/day?"
