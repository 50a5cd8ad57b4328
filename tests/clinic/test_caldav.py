"""Integration: push a plan's events to a real CalDAV server (Radicale on loopback, no auth,
storage in a temporary folder) with the ``caldav`` client and read them back unchanged."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

caldav = pytest.importorskip("caldav")
pytest.importorskip("radicale")
icalendar = pytest.importorskip("icalendar")

from pumpsim.clinic import export  # noqa: E402
from pumpsim.clinic.calendar import ClinicCalendar  # noqa: E402
from pumpsim.clinic.planner import plan_clinic  # noqa: E402
from pumpsim.clinic.windows import ScheduleWindowSource  # noqa: E402
from pumpsim.io.roster import load_roster  # noqa: E402

STAMP = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    config = tmp_path / "radicale.conf"
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = none\n"
        "[rights]\n"
        "type = owner_only\n"
        "[storage]\n"
        f"filesystem_folder = {tmp_path / 'collections'}\n"
        "[logging]\n"
        "level = warning\n",
        encoding="utf-8",
    )
    log = (tmp_path / "radicale.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "radicale did not start: " + (tmp_path / "radicale.log").read_text()
                    ) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _fields(component: icalendar.cal.Component) -> dict[str, object]:
    event = next(iter(component.walk("VEVENT")))
    alarm = next(iter(event.walk("VALARM")))
    return {
        "uid": str(event["UID"]),
        "summary": str(event["SUMMARY"]),
        "description": str(event["DESCRIPTION"]),
        "location": str(event.get("LOCATION", "")),
        "start": event.decoded("DTSTART"),
        "tzid": event["DTSTART"].params.get("TZID"),
        "end": event.decoded("DTEND"),
        "stamp": event.decoded("DTSTAMP"),
        "trigger": alarm.decoded("TRIGGER"),
        "action": str(alarm["ACTION"]),
    }


def test_plan_round_trips_through_caldav(radicale: str) -> None:
    roster = load_roster(Path(__file__).resolve().parents[2] / "profiles/rosters/clinic-12.csv")
    calendar = ClinicCalendar(
        start=dt.date(2026, 3, 9),
        end=dt.date(2026, 4, 30),
        capacity_per_day=2,
        country="DE",
        subdivision="BY",
        timezone="Europe/Berlin",
    )
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    items = list(export.event_calendars(plan, stamp=STAMP))
    assert len(items) >= 5

    with caldav.DAVClient(url=radicale, username="nurse", password="unused") as client:
        principal = client.principal()
        cal = principal.make_calendar(name="refills", cal_id="refills")
        for _, data in items:
            cal.save_event(data.decode("utf-8"))

    with caldav.DAVClient(url=radicale, username="nurse", password="unused") as client:
        cal = client.principal().calendar(cal_id="refills")
        stored = {}
        for event in cal.events():
            component = icalendar.Calendar.from_ical(event.data)
            fields = _fields(component)
            stored[fields["uid"]] = fields
    sent = {uid: _fields(icalendar.Calendar.from_ical(data)) for uid, data in items}
    assert stored == sent
    first = sent[plan.appointments[0].uid]
    assert first["tzid"] == "Europe/Berlin"
    assert first["trigger"] == dt.timedelta(hours=-1)
