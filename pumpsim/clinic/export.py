"""Writing a plan: JSON, CSV, a per-day worklist, and iCalendar (RFC 5545) via ``icalendar``.

CSV cells pass through ``core.csvsafe.safe_cell``: a name, location or nurse starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (CSV injection). The files
of one plan are written as a set (``write_plan_files``): all temporary files first, then all
renamed, so a killed run leaves the old set or the new one.

Privacy: exports name patients by ``patient_id`` only; ``include_names=True`` adds the roster's
display names (calendars end up on phones, so think before you do). Every file is written to a
temporary file and renamed into place.

iCalendar: one VEVENT per appointment whose UID is the appointment's stable uid (so a re-plan
updates events instead of duplicating them), DTSTART/DTEND with the clinic's TZID and a VTIMEZONE,
and a VALARM display reminder ``reminder_minutes`` before the start.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

from pumpsim.clinic.calendar import require_timezone
from pumpsim.clinic.results import Appointment, Plan
from pumpsim.core.atomic import write_bytes_atomic, write_set_atomic, write_text_atomic
from pumpsim.core.csvsafe import safe_record
from pumpsim.core.jsonout import dumps
from pumpsim.core.units import format_mass_mg

if TYPE_CHECKING:
    from pumpsim.clinic.calendar import ClinicCalendar
    from pumpsim.io.roster import Roster

__all__ = [
    "plan_csv",
    "plan_ics",
    "plan_json",
    "event_calendars",
    "worklist_text",
    "write_csv",
    "write_ics",
    "write_json",
    "write_plan_files",
    "write_worklist",
]

PRODID = "-//pumpsim//clinic refill plan//EN"

CSV_COLUMNS = (
    "status",
    "uid",
    "patient_id",
    "name",
    "cycle",
    "date",
    "start",
    "end",
    "pool",
    "location",
    "nurse",
    "pump",
    "drugs",
    "fill_ml",
    "expected_remaining_ml",
    "bridge_bolus",
    "window_earliest",
    "window_latest",
    "limiting_factor",
    "slack_days",
    "kept",
    "change",
    "urgent",
)


def _public(plan: Plan, include_names: bool) -> Plan:
    if include_names:
        return plan
    return plan.model_copy(
        update={
            "appointments": tuple(a.model_copy(update={"name": None}) for a in plan.appointments)
        }
    )


# ---------------------------------------------------------------- JSON and CSV
def plan_json(plan: Plan, *, include_names: bool = False) -> str:
    """The plan as JSON (ISO dates and times, volumes in mL, drug amounts and concentrations in
    the drug's unit, named for it: ``amount_mcg``, ``concentration_mcg_per_ml``)."""
    return dumps(_public(plan, include_names).model_dump(mode="json"), indent=2) + "\n"


def write_json(plan: Plan, path: Path, *, include_names: bool = False) -> None:
    write_text_atomic(path, plan_json(plan, include_names=include_names))


def plan_csv(plan: Plan, *, include_names: bool = False) -> str:
    """One row per appointment (``status=planned``) and per unplaceable refill."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for a in plan.appointments:
        writer.writerow(
            safe_record(
                {
                    "status": "planned",
                    "uid": a.uid,
                    "patient_id": a.patient_id,
                    "name": (a.name or "") if include_names else "",
                    "cycle": a.cycle,
                    "date": a.date.isoformat(),
                    "start": a.start.isoformat(timespec="minutes"),
                    "end": a.end.isoformat(timespec="minutes"),
                    "pool": a.pool,
                    "location": a.location or "",
                    "nurse": a.nurse or "",
                    "pump": a.pump_key,
                    "drugs": a.drugs_label,
                    "fill_ml": f"{a.fill_ml:g}",
                    "expected_remaining_ml": f"{a.expected_remaining_ml:.2f}",
                    "bridge_bolus": "yes" if a.bridge_bolus else "no",
                    "window_earliest": a.window_earliest.isoformat(),
                    "window_latest": a.window_latest.isoformat(),
                    "limiting_factor": a.limiting_factor,
                    "slack_days": a.slack_days,
                    "kept": "yes" if a.kept else "no",
                    "change": a.change_reason or "",
                    "urgent": a.urgent_reason or ("yes" if a.urgent else ""),
                }
            )
        )
    for u in plan.unplaceable:
        writer.writerow(
            safe_record(
                {
                    "status": "unplaceable",
                    "uid": u.uid,
                    "patient_id": u.patient_id,
                    "cycle": u.cycle,
                    "date": u.best_date.isoformat() if u.best_date else "",
                    "pool": u.pool,
                    "window_earliest": u.window_earliest.isoformat(),
                    "window_latest": u.window_latest.isoformat(),
                    "limiting_factor": u.limiting_factor,
                    "change": f"{u.reason}; best option: {u.best_option}",
                }
            )
        )
    return out.getvalue()


def write_csv(plan: Plan, path: Path, *, include_names: bool = False) -> None:
    write_text_atomic(path, plan_csv(plan, include_names=include_names))


# ---------------------------------------------------------------- worklist
def _draw_up(a: Appointment) -> str:
    amounts = ", ".join(f"{format_mass_mg(d.amount_mg, d.mass_unit)} {d.name}" for d in a.drugs)
    return f"{a.fill_ml:g} mL ({amounts})"


def worklist_text(plan: Plan, *, include_names: bool = False) -> str:
    """A per-day worklist: time, patient, pump, drugs, what to draw up and what to expect."""
    zone = plan.timezone or "local time, no time zone given"
    lines = [f"Refill worklist {plan.start} to {plan.end} ({zone})", ""]
    for day, appointments in plan.per_day().items():
        lines.append(f"## {day:%A} {day} — {len(appointments)} refill(s)")
        for a in appointments:
            who = a.patient_id + (f" ({a.name})" if include_names and a.name else "")
            where = ", ".join(x for x in (a.location, a.nurse) if x)
            lines.append(
                f"- {a.start:%H:%M} {who} · {a.pump_name} · {a.drugs_label}"
                + (f" · {where}" if where else "")
            )
            if a.urgent:
                lines.append(f"  URGENT: {a.urgent_reason or 'overdue'}; refill today")
            lines.append(
                f"  draw up {_draw_up(a)}; expect about {a.expected_remaining_ml:.1f} mL "
                f"calculated in the pump; refill by {a.window_latest} ({a.limiting_factor})"
            )
            if a.bridge_bolus:
                lines.append(
                    f"  BRIDGE BOLUS: concentration change from {a.previous_drugs_label} "
                    f"to {a.drugs_label}"
                )
        lines.append("")
    if plan.unplaceable:
        lines.append("## Not placed")
        for u in plan.unplaceable:
            lines.append(
                f"- {u.patient_id} (refill by {u.window_latest}): {u.reason}; "
                f"best option: {u.best_option}"
            )
        lines.append("")
    return "\n".join(lines)


def write_worklist(plan: Plan, path: Path, *, include_names: bool = False) -> None:
    write_text_atomic(path, worklist_text(plan, include_names=include_names))


# ---------------------------------------------------------------- iCalendar
def _event(
    a: Appointment,
    tz: ZoneInfo,
    stamp: dt.datetime,
    reminder_minutes: int,
    include_names: bool,
) -> Event:
    event = Event()
    event.add("uid", a.uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", a.start.replace(tzinfo=tz))
    event.add("dtend", a.end.replace(tzinfo=tz))
    who = a.patient_id + (f" ({a.name})" if include_names and a.name else "")
    event.add("summary", f"{'URGENT ' if a.urgent else ''}Pump refill {who}")
    description = [f"URGENT: {a.urgent_reason or 'overdue'}"] if a.urgent else []
    description += [
        f"Patient: {who}",
        f"Pump: {a.pump_name}",
        f"Drugs: {a.drugs_label}",
        f"Draw up: {_draw_up(a)}",
        f"Expected calculated volume: {a.expected_remaining_ml:.1f} mL",
        f"Window: {a.window_earliest} to {a.window_latest} ({a.limiting_factor})",
    ]
    if a.bridge_bolus:
        description.append(f"Bridge bolus: concentration change from {a.previous_drugs_label}")
    event.add("description", "\n".join(description))
    location = ", ".join(x for x in (a.location, a.nurse) if x)
    if location:
        event.add("location", location)
    event.add("categories", ["pump refill"])
    if a.urgent:
        event.add("priority", 1)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", dt.timedelta(minutes=-reminder_minutes))
    alarm.add("description", f"Pump refill {a.patient_id} at {a.start:%H:%M}")
    event.add_component(alarm)
    return event


def _calendar(events: list[Event], first: dt.date, last: dt.date) -> Calendar:
    """A VCALENDAR with ``events`` and a VTIMEZONE covering ``first`` … ``last`` (one year
    either side, so clients can show a moved event)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    for event in events:
        cal.add_component(event)
    cal.add_missing_timezones(
        first_date=dt.date(first.year - 1, 1, 1), last_date=dt.date(last.year + 2, 1, 1)
    )
    return cal


def _stamp(stamp: dt.datetime | None) -> dt.datetime:
    stamp = stamp or dt.datetime.now(dt.UTC)
    return stamp.astimezone(dt.UTC).replace(microsecond=0)


def plan_ics(
    plan: Plan,
    *,
    reminder_minutes: int = 60,
    include_names: bool = False,
    stamp: dt.datetime | None = None,
) -> bytes:
    """The plan as one iCalendar file (``stamp``: the DTSTAMP, default now, in UTC); times are
    wall-clock times in the plan's zone, with its VTIMEZONE (``TimezoneError`` without one)."""
    tz = ZoneInfo(require_timezone(plan.timezone, None))
    when = _stamp(stamp)
    events = [_event(a, tz, when, reminder_minutes, include_names) for a in plan.appointments]
    return bytes(_calendar(events, plan.start, plan.end).to_ical())


def event_calendars(
    plan: Plan,
    *,
    reminder_minutes: int = 60,
    include_names: bool = False,
    stamp: dt.datetime | None = None,
) -> Iterator[tuple[str, bytes]]:
    """``(uid, one-event iCalendar)`` per appointment: what a CalDAV server stores per resource."""
    tz = ZoneInfo(require_timezone(plan.timezone, None))
    when = _stamp(stamp)
    for a in plan.appointments:
        event = _event(a, tz, when, reminder_minutes, include_names)
        yield a.uid, bytes(_calendar([event], plan.start, plan.end).to_ical())


def write_ics(
    plan: Plan,
    path: Path,
    *,
    reminder_minutes: int = 60,
    include_names: bool = False,
    stamp: dt.datetime | None = None,
) -> None:
    write_bytes_atomic(
        path,
        plan_ics(plan, reminder_minutes=reminder_minutes, include_names=include_names, stamp=stamp),
    )


def write_plan_files(
    plan: Plan,
    *,
    json_path: Path | None = None,
    csv_path: Path | None = None,
    ics_path: Path | None = None,
    worklist_path: Path | None = None,
    fhir: tuple[Path, Roster, ClinicCalendar] | None = None,
    include_names: bool = False,
) -> None:
    """Write the asked-for exports of one plan as a set: every file is rendered and written to a
    temporary file first, then all are renamed, so a killed run never mixes old and new.
    ``fhir`` is the path of a FHIR Bundle with the roster and calendar it needs."""
    render: list[tuple[Path | None, Callable[[], bytes]]] = [
        (json_path, lambda: plan_json(plan, include_names=include_names).encode()),
        (csv_path, lambda: plan_csv(plan, include_names=include_names).encode()),
        (ics_path, lambda: plan_ics(plan, include_names=include_names)),
        (worklist_path, lambda: worklist_text(plan, include_names=include_names).encode()),
    ]
    if fhir is not None:
        from pumpsim.clinic.fhir import plan_bundle  # the FHIR models load only when asked

        path, roster, calendar = fhir
        render.append(
            (
                path,
                lambda: plan_bundle(plan, roster, calendar, include_names=include_names).encode(),
            )
        )
    write_set_atomic([(Path(path), make()) for path, make in render if path is not None])
