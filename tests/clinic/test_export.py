"""Plan exports: the iCalendar file read back by an independent parser (vobject) and checked
line by line against RFC 5545; CSV and JSON round trips; the worklist; stable UIDs."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
import vobject

from pumpsim.clinic import export
from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.clinic.planner import plan_clinic
from pumpsim.clinic.results import Plan
from pumpsim.clinic.windows import ScheduleWindowSource
from pumpsim.core.jsonout import rounded
from pumpsim.io.roster import load_roster

STAMP = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    path = tmp_path_factory.mktemp("roster") / "r.csv"
    path.write_text(
        "patient_id,name,pump,drugs,catheter_volume,last_refill,fill_volume,daily_rate,"
        "location,nurse,next_drugs\n"
        "A1,Anna Muster,synchromed-ii-20,morphine 25 mg/mL,0.2 mL,2026-03-02T10:30,20 mL,"
        "0.5 mL/day,Room 2,Kim,\n"
        "B2,Bert Beispiel,synchromed-ii-40,morphine 10 mg/mL + clonidine 100 mcg/mL,0.2 mL,"
        "2026-02-20T09:00,40 mL,2 mg/day,Room 1,Lee,morphine 25 mg/mL + clonidine 100 mcg/mL\n",
        encoding="utf-8",
    )
    calendar = ClinicCalendar(
        start=dt.date(2026, 3, 9),
        end=dt.date(2026, 6, 7),
        capacity_per_day=2,
        country="DE",
        subdivision="BY",
        timezone="Europe/Berlin",
    )
    return plan_clinic(load_roster(path), calendar, ScheduleWindowSource())


def test_ics_read_back_by_vobject(plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.ics"
    export.write_ics(plan, path, stamp=STAMP, reminder_minutes=90)
    parsed = vobject.readOne(path.read_text(encoding="utf-8"))
    events = parsed.contents["vevent"]
    assert len(events) == len(plan.appointments) > 2
    berlin = dt.timezone(dt.timedelta(hours=2))  # CEST: every appointment is after 29 March
    for event, a in zip(events, plan.appointments, strict=True):
        assert event.uid.value == a.uid
        assert event.summary.value == f"Pump refill {a.patient_id}"
        start = event.dtstart.value
        assert start.utcoffset() == berlin.utcoffset(None)
        assert start.replace(tzinfo=None) == a.start
        assert event.dtend.value.replace(tzinfo=None) == a.end
        assert event.dtstamp.value == STAMP
        alarm = event.contents["valarm"][0]
        assert alarm.action.value == "DISPLAY"
        assert alarm.trigger.value == dt.timedelta(minutes=-90)
        assert f"Draw up: {a.fill_ml:g} mL" in event.description.value
    text = path.read_text(encoding="utf-8")
    assert "Anna" not in text and "Bert" not in text  # ids only by default
    bridge = next(a for a in plan.appointments if a.bridge_bolus)
    assert bridge.patient_id == "B2" and bridge.cycle == 1
    described = {e.uid.value: e.description.value for e in events}
    assert described[bridge.uid].endswith(
        "Bridge bolus: concentration change from morphine 10 mg/mL + clonidine 100 mcg/mL"
    )


def test_ics_raw_lines_follow_rfc5545(plan: Plan) -> None:
    raw = export.plan_ics(plan, stamp=STAMP)
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in lines)  # folded at 75 octets
    unfolded = raw.replace(b"\r\n ", b"").decode().split("\r\n")
    assert unfolded[0] == "BEGIN:VCALENDAR" and unfolded[-2] == "END:VCALENDAR"
    assert "VERSION:2.0" in unfolded and f"PRODID:{export.PRODID}" in unfolded
    assert "TZID:Europe/Berlin" in unfolded
    a = plan.appointments[0]
    assert f"DTSTART;TZID=Europe/Berlin:{a.start:%Y%m%dT%H%M%S}" in unfolded
    assert f"UID:{a.uid}" in unfolded
    assert unfolded.count("BEGIN:VALARM") == len(plan.appointments)
    assert unfolded.count("TRIGGER:-PT1H") == len(plan.appointments)
    assert "DTSTAMP:20260301T120000Z" in unfolded
    with_names = export.plan_ics(plan, stamp=STAMP, include_names=True).decode()
    assert "SUMMARY:Pump refill A1 (Anna Muster)" in with_names


def test_csv_and_json_round_trip(plan: Plan, tmp_path: Path) -> None:
    export.write_csv(plan, tmp_path / "plan.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "plan.csv").read_text())))
    assert [r["uid"] for r in rows] == [a.uid for a in plan.appointments]
    assert rows[0]["start"] == plan.appointments[0].start.isoformat(timespec="minutes")
    assert all(r["name"] == "" for r in rows)
    export.write_json(plan, tmp_path / "plan.json")
    back = Plan.model_validate_json((tmp_path / "plan.json").read_bytes())
    # JSON numbers are rounded to core.jsonout.DIGITS places (expected_remaining_ml is a float)
    assert back.appointments == tuple(
        a.model_copy(
            update={"name": None, "expected_remaining_ml": rounded(a.expected_remaining_ml)}
        )
        for a in plan.appointments
    )
    assert back.closed_days == plan.closed_days
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.csv", "plan.json"]  # no temp


def test_worklist_lists_what_to_draw_up(plan: Plan) -> None:
    text = export.worklist_text(plan)
    b2 = next(a for a in plan.appointments if a.patient_id == "B2")
    assert f"## {b2.date:%A} {b2.date}" in text
    assert (
        f"- {b2.start:%H:%M} B2 · Medtronic SynchroMed II 8637-40 · morphine 25 mg/mL + "
        "clonidine 100 mcg/mL · Room 1, Lee"
    ) in text
    assert "draw up 40 mL (1000 mg morphine, 4000 mcg clonidine)" in text
    assert (
        "BRIDGE BOLUS: concentration change from morphine 10 mg/mL + clonidine 100 mcg/mL" in text
    )


def test_event_calendars_one_event_each(plan: Plan) -> None:
    items = list(export.event_calendars(plan, stamp=STAMP))
    assert [uid for uid, _ in items] == [a.uid for a in plan.appointments]
    for uid, data in items:
        cal = vobject.readOne(data.decode())
        assert [e.uid.value for e in cal.contents["vevent"]] == [uid]
        assert cal.vtimezone.tzid.value == "Europe/Berlin"
