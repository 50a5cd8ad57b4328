"""FHIR R4 Bundles: a plan's Bundle validates with the FHIR models, a roster read from it is the
roster it came from, and planning from the Bundle gives the plan planning from the CSV gave."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from pumpsim.clinic.calendar import ClinicCalendar, calendar_from_dict
from pumpsim.clinic.fhir import forecast_bundle, plan_bundle
from pumpsim.clinic.planner import plan_clinic
from pumpsim.clinic.results import Plan
from pumpsim.clinic.windows import ForecastWindowSource, ScheduleWindowSource, WindowSource
from pumpsim.forecast import forecast
from pumpsim.io.fhir import PATIENT_ID
from pumpsim.io.roster import Roster, load_roster

ROSTER = Path(__file__).resolve().parents[2] / "profiles" / "rosters" / "clinic-12.csv"


def _calendar(weeks: int = 13, pool_by: str | None = None) -> ClinicCalendar:
    data: dict[str, Any] = {
        "start": "2026-03-09",
        "end": "2026-06-07" if weeks == 13 else "2026-04-05",
        "capacity_per_day": 2,
        "country": "DE",
        "subdivision": "BY",
        "timezone": "Europe/Berlin",
    }
    if pool_by:
        data |= {"pool_by": pool_by, "pool_capacity": {"Nurse A": 2, "Nurse B": 1}}
    return calendar_from_dict(data)


def _key(plan: Plan) -> list[tuple[str, str, str, int, str]]:
    return [(a.uid, a.patient_id, a.start.isoformat(), a.cycle, a.pool) for a in plan.appointments]


def _resources(text: str, kind: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in json.loads(text)["entry"] if e["resource"]["resourceType"] == kind
    ]


def _round_trip(
    tmp_path: Path, calendar: ClinicCalendar, source: WindowSource
) -> tuple[Roster, Plan, Roster, Plan, str]:
    roster = load_roster(ROSTER)
    plan = plan_clinic(roster, calendar, source)
    text = plan_bundle(plan, roster, calendar)
    path = tmp_path / "roster.json"
    path.write_text(text, encoding="utf-8")
    again = load_roster(path)
    return roster, plan, again, plan_clinic(again, calendar, source), text


def test_schedule_plan_from_bundle_is_the_plan_from_csv(tmp_path: Path) -> None:
    calendar = _calendar()
    roster, plan, again, replanned, text = _round_trip(tmp_path, calendar, ScheduleWindowSource())
    assert plan.appointments and _key(replanned) == _key(plan)
    assert replanned == plan
    for a, b in zip(roster.entries, again.entries, strict=True):
        assert (a.therapy, a.next_therapy) == (b.therapy, b.next_therapy)
        assert (a.allowed_weekdays, a.location, a.nurse, a.refill_volume_ml) == (
            b.allowed_weekdays,
            b.location,
            b.nurse,
            b.refill_volume_ml,
        )
    bundle = Bundle.model_validate_json(text)  # the FHIR models accept it as written
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    for kind in ("Patient", "Device", "DeviceUseStatement", "MedicationRequest", "Observation"):
        assert kinds.count(kind) >= 12
    assert kinds.count("Appointment") == len(plan.appointments) + len(plan.next_due)
    assert kinds.count("Schedule") == 1
    slots = _resources(text, "Slot")
    assert sum(s["status"] == "busy" for s in slots) == len(plan.appointments)
    assert len(slots) == 2 * len(calendar.open_days)


def test_bundle_appointments_carry_window_time_zone_and_slot(tmp_path: Path) -> None:
    calendar = _calendar()
    _, plan, _, _, text = _round_trip(tmp_path, calendar, ScheduleWindowSource())
    booked = [a for a in _resources(text, "Appointment") if a["status"] == "booked"]
    first = plan.appointments[0]
    mine = next(a for a in booked if a["identifier"][0]["value"] == first.uid)
    assert mine["requestedPeriod"] == [
        {"start": str(first.window_earliest), "end": str(first.window_latest)}
    ]
    assert mine["start"] == first.start.replace(tzinfo=calendar.tz).isoformat()
    assert mine["start"].endswith(("+01:00", "+02:00"))
    slot_urls = {e["fullUrl"] for e in json.loads(text)["entry"]}
    assert mine["slot"][0]["reference"] in slot_urls
    patients = _resources(text, "Patient")
    assert all("name" not in p for p in patients)  # pseudonymous by default
    assert {p["identifier"][0]["system"] for p in patients} == {PATIENT_ID}


def test_forecast_windows_plan_from_bundle_is_the_same(tmp_path: Path) -> None:
    calendar = _calendar(weeks=4, pool_by="nurse")
    with ForecastWindowSource(runs=30, seed=5, workers=1) as source:
        _, plan, _, replanned, text = _round_trip(tmp_path, calendar, source)
    assert plan.appointments and _key(replanned) == _key(plan)
    assert [s["actor"][0]["display"] for s in _resources(text, "Schedule")] == [
        "Nurse A",
        "Nurse B",
    ]
    Bundle.model_validate_json(text)


def test_names_only_when_asked(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text(
        "patient_id,name,pump,drugs,catheter_volume,last_refill,fill_volume,daily_rate\n"
        "P1,Ada Example,synchromed-ii-20,morphine 25 mg/mL,0.25 mL,2026-03-02T10:30,20 mL,"
        "0.5 mL/day\n",
        encoding="utf-8",
    )
    roster = load_roster(csv)
    calendar = _calendar(weeks=4)
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    assert "Ada" not in plan_bundle(plan, roster, calendar)
    named = plan_bundle(plan, roster, calendar, include_names=True)
    assert _resources(named, "Patient")[0]["name"] == [{"text": "Ada Example"}]
    path = tmp_path / "named.json"
    path.write_text(named, encoding="utf-8")
    assert load_roster(path).entries[0].name == "Ada Example"


def test_forecast_bundle_proposes_the_window() -> None:
    roster = load_roster(ROSTER)
    therapy = roster.entries[0].therapy
    result = forecast(therapy, runs=50, seed=1)
    text = forecast_bundle([therapy], [result])
    Bundle.model_validate_json(text)
    (appointment,) = _resources(text, "Appointment")
    assert appointment["status"] == "proposed"
    assert appointment["requestedPeriod"] == [
        {"start": str(result.earliest_refill), "end": str(result.refill_by)}
    ]
    (observation,) = _resources(text, "Observation")
    assert observation["valueQuantity"]["code"] == "mL"


@pytest.mark.parametrize(
    ("edit", "field", "value"),
    [
        (lambda b: b.update(resourceType="Patient"), "resourceType", "Patient"),
        (
            lambda b: b["entry"][0]["resource"].update(active="x" * 500),
            "Bundle.entry[0].resource",
            "xxxx",
        ),
        (
            lambda b: _first(b, "Device")["type"]["coding"][0].update(code="no-such-pump"),
            "Bundle.entry[1].resource.type.coding",
            "no-such-pump",
        ),
        (
            lambda b: _first(b, "Observation").update(effectiveDateTime="yesterday"),
            "Bundle.entry[5].resource.effectiveDateTime",
            "yesterday",
        ),
    ],
)
def test_bad_bundles_name_the_fhir_path(tmp_path: Path, edit: Any, field: str, value: str) -> None:
    from pumpsim.core.errors import ProfileError

    roster = load_roster(ROSTER)
    calendar = _calendar(weeks=4)
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    data = json.loads(plan_bundle(plan, roster, calendar))
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_roster(path)
    problem = caught.value.problems[0]
    assert problem.field.startswith(field)
    assert value in str(problem.value)
    assert len(str(caught.value)) < 2000


def _first(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)
