"""A plan or a forecast as a FHIR R4 Bundle (``docs/fhir.md``).

The patients' resources come from ``pumpsim.io.fhir`` (the one home of that mapping, which also
reads a Bundle back into a roster); this module adds what the clinic decides: an Appointment per
refill (``booked``, with the refill window as ``requestedPeriod``), one Schedule per capacity
pool over the horizon and a Slot per refill place of each open day (``busy`` when booked, else
``free``). Unplaceable refills are ``waitlist`` Appointments and windows after the horizon
``proposed`` ones, both without a time. A forecast's refill window is a ``proposed``
Appointment too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.clinic.results import Appointment, Plan
from pumpsim.core.atomic import write_text_atomic
from pumpsim.forecast.probabilistic import Forecast
from pumpsim.forecast.visit import VisitRecord
from pumpsim.io.fhir import (
    Resource,
    bundle_json,
    coding,
    entry_resources,
    exact_quantity,
    fhir_time,
    full_url,
)
from pumpsim.io.roster import Roster, RosterEntry
from pumpsim.models import Therapy

__all__ = ["forecast_bundle", "plan_bundle", "write_forecast_bundle"]

_UID_SYSTEM = "urn:pumpsim:fhir:appointment-uid"
_REFILL = {"text": "intrathecal pump refill"}


def plan_bundle(
    plan: Plan, roster: Roster, calendar: ClinicCalendar, *, include_names: bool = False
) -> str:
    """The plan's Bundle (JSON): the roster's patients, their appointments, schedules, slots."""
    tz = calendar.tz
    resources: list[tuple[str, Resource]] = []
    for entry in roster.entries:
        resources.extend(entry_resources(entry, tz, include_names=include_names))
    resources.extend(_schedules(plan, calendar))
    for appointment in plan.appointments:
        resources.append((full_url("Appointment", appointment.uid), _booked(appointment, tz)))
    for u in plan.unplaceable:
        note = f"not placed: {u.reason}; best option: {u.best_option}"
        resources.append(
            (
                full_url("Appointment", u.uid),
                _unbooked(u.patient_id, "waitlist", u.window_earliest, u.window_latest, note),
            )
        )
    for n in plan.next_due:
        resources.append(
            (
                full_url("Appointment", f"{n.patient_id}/next/{n.cycle}"),
                _unbooked(n.patient_id, "proposed", n.earliest, n.latest, "due after the horizon"),
            )
        )
    return bundle_json(resources, dt.datetime.now(dt.UTC))


def _schedules(plan: Plan, calendar: ClinicCalendar) -> list[tuple[str, Resource]]:
    """One Schedule per pool and a Slot per refill place of each open day."""
    tz = calendar.tz
    booked = {(a.pool, a.start): a for a in plan.appointments}
    pools = sorted(set(calendar.pools) | {a.pool for a in plan.appointments})
    out: list[tuple[str, Resource]] = []
    for pool in pools:
        schedule_url = full_url("Schedule", pool)
        out.append(
            (
                schedule_url,
                {
                    "resourceType": "Schedule",
                    "active": True,
                    "serviceType": [_REFILL],
                    "actor": [{"display": pool}],
                    "planningHorizon": {"start": str(plan.start), "end": str(plan.end)},
                    "comment": f"refill capacity of {pool}",
                },
            )
        )
        places = calendar.capacity(pool) if pool in calendar.pools else 0
        for day in calendar.open_days:
            for index in range(places):
                start = calendar.slot_start(day, index)
                appointment = booked.get((pool, start))
                out.append(_slot(schedule_url, pool, start, calendar.slot_minutes, appointment, tz))
    return out


def _slot(
    schedule_url: str,
    pool: str,
    start: dt.datetime,
    minutes: int,
    appointment: Appointment | None,
    tz: ZoneInfo,
) -> tuple[str, Resource]:
    end = start + dt.timedelta(minutes=minutes)
    return (
        _slot_url(pool, start),
        {
            "resourceType": "Slot",
            "schedule": {"reference": schedule_url},
            "status": "free" if appointment is None else "busy",
            "start": fhir_time(start, tz),
            "end": fhir_time(end, tz),
        },
    )


def _slot_url(pool: str, start: dt.datetime) -> str:
    return full_url("Slot", f"{pool}/{start.isoformat()}")


def _booked(a: Appointment, tz: ZoneInfo) -> Resource:
    resource: Resource = {
        "resourceType": "Appointment",
        "identifier": [{"system": _UID_SYSTEM, "value": a.uid}],
        "status": "booked",
        "serviceType": [_REFILL],
        "description": f"refill {a.drugs_label}, fill {a.fill_ml:g} mL",
        "start": fhir_time(a.start, tz),
        "end": fhir_time(a.end, tz),
        "minutesDuration": int((a.end - a.start).total_seconds() // 60),
        "slot": [{"reference": _slot_url(a.pool, a.start)}],
        "requestedPeriod": [{"start": str(a.window_earliest), "end": str(a.window_latest)}],
        "participant": _participants(a.patient_id, a.location, a.nurse),
    }
    notes = [f"limited by {a.limiting_factor}; slack {a.slack_days} d"]
    if a.urgent:
        resource["priority"] = 1
        notes.append(f"URGENT: {a.urgent_reason or 'overdue'}")
    if a.early:
        notes.append("before the window opens (the window had no room)")
    if a.bridge_bolus:
        notes.append(f"bridge bolus: the pump holds {a.previous_drugs_label}")
    resource["comment"] = "; ".join(notes)
    return resource


def _participants(
    patient_id: str, location: str | None = None, nurse: str | None = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "actor": {"reference": full_url("Patient", patient_id)},
            "required": "required",
            "status": "accepted",
        }
    ]
    for display in (location, nurse):
        if display is not None:
            out.append({"actor": {"display": display}, "status": "accepted"})
    return out


def _unbooked(
    patient_id: str, status: str, earliest: dt.date, latest: dt.date, note: str
) -> Resource:
    participant = _participants(patient_id)
    participant[0]["status"] = "needs-action"
    return {
        "resourceType": "Appointment",
        "status": status,
        "serviceType": [_REFILL],
        "requestedPeriod": [{"start": str(earliest), "end": str(latest)}],
        "participant": participant,
        "comment": note,
    }


def forecast_bundle(
    therapies: Sequence[Therapy],
    forecasts: Sequence[Forecast],
    tz: ZoneInfo | None = None,
    visits: Sequence[VisitRecord] = (),
) -> str:
    """The forecasts' Bundle (JSON): each patient's resources and a ``proposed`` refill
    Appointment whose ``requestedPeriod`` is the window ``earliest_refill … refill_by``; with
    ``visits`` (a refill sheet's judged visits, one patient) an Observation per visit with the
    discrepancy and its verdict."""
    zone = tz or ZoneInfo("UTC")
    resources: list[tuple[str, Resource]] = []
    if visits and therapies:
        patient = therapies[0].patient_id
        for i, visit in enumerate(visits):
            resources.append(
                (
                    full_url("Observation", f"{patient}/refill-{i}"),
                    _discrepancy(patient, visit, zone),
                )
            )
    for row, (therapy, f) in enumerate(zip(therapies, forecasts, strict=True), start=1):
        resources.extend(entry_resources(RosterEntry(therapy=therapy, row=row), zone))
        note = f"forecast at risk {f.risk:g} ({f.runs} runs), limited by {f.limiting_factor}"
        if f.overdue:
            note += f"; OVERDUE since {f.overdue_since}"
        resources.append(
            (
                full_url("Appointment", f"{therapy.patient_id}/forecast"),
                _unbooked(therapy.patient_id, "proposed", f.earliest_refill, f.refill_by, note),
            )
        )
    return bundle_json(resources, dt.datetime.now(dt.UTC))


def write_forecast_bundle(
    path: Path,
    therapies: Sequence[Therapy],
    forecasts: Sequence[Forecast],
    visits: Sequence[VisitRecord] = (),
) -> None:
    """Write ``forecast_bundle`` atomically (temporary file, fsync, rename)."""
    write_text_atomic(Path(path), forecast_bundle(therapies, forecasts, visits=visits))


def _discrepancy(patient: str, visit: VisitRecord, tz: ZoneInfo) -> Resource:
    """A refill visit's discrepancy (withdrawn − expected withdrawable, mL) and its verdict."""
    verdict = visit.verdict
    observation: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": coding("refill-discrepancy", "refill discrepancy (withdrawn - expected)"),
        "subject": {"reference": full_url("Patient", patient)},
        "device": {"reference": full_url("Device", patient)},
        "effectiveDateTime": fhir_time(visit.time, tz),
        "valueQuantity": exact_quantity(visit.discrepancy_ml, "volume"),
        "interpretation": [{"text": verdict.level}],
        "note": [{"text": verdict.explanation}],
        "component": [
            {
                "code": coding("withdrawn", "volume withdrawn"),
                "valueQuantity": exact_quantity(visit.withdrawn_ml, "volume"),
            },
            {
                "code": coding("expected-withdrawable", "expected withdrawable volume"),
                "valueQuantity": exact_quantity(visit.expected_withdrawable_ml, "volume"),
            },
        ],
    }
    if verdict.cause:
        observation["interpretation"].append({"text": verdict.cause})
    return observation
