"""One self-contained HTML page of a refill plan for the nurses: a calendar of the clinic days
with the refills booked on each (capacity used / capacity), every patient's window (earliest,
refill-by, what limits it) drawn as an inline SVG timeline and listed in a table, and the
patients at risk (urgent bookings, refills that could not be placed, small slack).

This module gathers the values; the page is the Jinja2 template
``pumpsim/report/templates/plan.html.j2`` (autoescaped, editable). It loads nothing from
outside (a Content-Security-Policy forbids it). Written atomically.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.clinic.results import Appointment, Plan
from pumpsim.core.about import DISCLAIMER, VERSION
from pumpsim.core.atomic import write_text_atomic
from pumpsim.report.templating import render

__all__ = ["SMALL_SLACK_DAYS", "render_plan_report", "write_plan_report"]

SMALL_SLACK_DAYS = 0
"""A booking with at most this many days of slack (0: booked on its refill-by day, no day to
spare if the patient cannot come) is listed among the patients at risk. The planner books as
late as it safely can, so most bookings have little slack by design; 0 keeps the list short."""

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class _Day:
    """One cell of the calendar."""

    date: dt.date
    in_horizon: bool
    closed: str | None
    capacity: int
    bookings: tuple[Appointment, ...]

    @property
    def full(self) -> bool:
        return self.closed is None and len(self.bookings) >= self.capacity


@dataclass(frozen=True)
class _Row:
    """One refill window: a booking, a refill not placed, or a window after the horizon."""

    patient_id: str
    cycle: int
    earliest: dt.date
    latest: dt.date
    limiting_factor: str
    booked: dt.datetime | None
    status: str
    slack_days: int | None
    note: str


def render_plan_report(plan: Plan, calendar: ClinicCalendar) -> str:
    """The plan page as one HTML string; ``calendar`` is the clinic calendar it was planned on
    (for capacities and closed days)."""
    rows = _rows(plan)
    return render(
        "plan.html.j2",
        plan=plan,
        version=VERSION,
        disclaimer=DISCLAIMER,
        weeks=_weeks(plan, calendar),
        rows=rows,
        timeline=_timeline(plan, rows),
        urgent=[a for a in plan.appointments if a.urgent],
        tight=[
            a
            for a in plan.tightest(len(plan.appointments))
            if not a.urgent and a.slack_days <= SMALL_SLACK_DAYS
        ],
        early=[a for a in plan.appointments if a.early],
        small_slack=SMALL_SLACK_DAYS,
    )


def write_plan_report(plan: Plan, calendar: ClinicCalendar, path: Path | str) -> None:
    """Write the plan page for ``plan`` to ``path`` atomically."""
    write_text_atomic(Path(path), render_plan_report(plan, calendar))


def _weeks(plan: Plan, calendar: ClinicCalendar) -> list[list[_Day]]:
    """Monday-to-Sunday weeks covering the horizon, one ``_Day`` per date."""
    per_day = plan.per_day()
    capacity = sum(calendar.capacity(pool) for pool in calendar.pools)
    day = plan.start - dt.timedelta(days=plan.start.weekday())
    weeks: list[list[_Day]] = []
    while day <= plan.end:
        week = []
        for _ in range(7):
            inside = plan.start <= day <= plan.end
            closed = _closed_label(calendar, day) if inside else "outside the planning horizon"
            bookings = tuple(per_day.get(day, ()))
            week.append(_Day(day, inside, closed, capacity, bookings))
            day += _DAY
        weeks.append(week)
    return weeks


def _closed_label(calendar: ClinicCalendar, day: dt.date) -> str | None:
    """Why the clinic is closed on ``day``, short for a regular closed weekday."""
    reason = calendar.closed_reason(day)
    if reason is not None and reason.startswith("the clinic is closed on"):
        return "closed"
    return reason


def _rows(plan: Plan) -> list[_Row]:
    """Every refill window of the plan, by patient and cycle."""
    rows = [_booked_row(a) for a in plan.appointments]
    rows += [
        _Row(
            u.patient_id,
            u.cycle,
            u.window_earliest,
            u.window_latest,
            u.limiting_factor,
            None,
            "not placed",
            None,
            f"{u.reason}; best option: {u.best_option}",
        )
        for u in plan.unplaceable
    ]
    rows += [
        _Row(
            n.patient_id,
            n.cycle,
            n.earliest,
            n.latest,
            n.limiting_factor,
            None,
            "after the horizon",
            None,
            "",
        )
        for n in plan.next_due
    ]
    return sorted(rows, key=lambda r: (r.patient_id, r.cycle))


def _booked_row(a: Appointment) -> _Row:
    if a.urgent:
        status, note = "urgent", a.urgent_reason or "overdue"
    elif a.early:
        status, note = "early", "before the window opens: no room inside it"
    elif a.slack_days <= SMALL_SLACK_DAYS:
        status, note = "tight", f"slack {a.slack_days} d"
    else:
        status, note = "planned", ""
    return _Row(
        a.patient_id,
        a.cycle,
        a.window_earliest,
        a.window_latest,
        a.limiting_factor,
        a.start,
        status,
        a.slack_days,
        note,
    )


def _timeline(plan: Plan, rows: list[_Row]) -> dict[str, object]:
    """Coordinates of the inline SVG: one lane per window, its bar from earliest to refill-by
    (clipped to the horizon) and a mark on the booked day."""
    width, left, lane = 900.0, 150.0, 18.0
    days = (plan.end - plan.start).days + 1
    scale = (width - left - 10) / days

    def x(d: dt.date) -> float:
        clipped = min(max(d, plan.start), plan.end + _DAY)
        return round(left + (clipped - plan.start).days * scale, 1)

    lanes = [
        {
            "label": f"{r.patient_id} #{r.cycle}",
            "y": round(22 + i * lane, 1),
            "x0": x(r.earliest),
            "x1": max(x(r.latest + _DAY), x(r.earliest) + 2),
            "mark": None if r.booked is None else round(x(r.booked.date()) + scale / 2, 1),
            "status": r.status,
            "title": f"{r.patient_id} cycle {r.cycle}: {r.earliest} to {r.latest} "
            f"({r.limiting_factor}); {r.status}",
        }
        for i, r in enumerate(rows)
    ]
    months = []
    d = plan.start
    while d <= plan.end:
        if d == plan.start or d.day == 1:
            months.append({"x": x(d), "label": f"{d:%b %Y}" if d.day == 1 else f"{d:%d %b}"})
        d += _DAY
    return {
        "width": width,
        "height": 30 + len(lanes) * lane,
        "lanes": lanes,
        "months": months,
        "left": left,
    }
