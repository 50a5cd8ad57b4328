"""Why a refill could not be placed, and the best way to place it anyway.

Reasons, checked in order: the refill-by date is before the plan starts (overdue); the window has
no open clinic day; it has open days but none on the patient's allowed weekdays; every allowed
open day in it is full. Best options, in order of preference: a day in the window on another
weekday that still has room ("a different weekday"); an extra session on the latest closed day of
the window that is not a public holiday; one more slot on the latest allowed open day; for an
overdue refill, the first day with room.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.core.clock import weekday_label

__all__ = ["explain_unplaced"]


def explain_unplaced(
    calendar: ClinicCalendar,
    *,
    pool: str,
    earliest: dt.date,
    latest: dt.date,
    weekdays: frozenset[int] | None,
    used: Mapping[tuple[str, dt.date], int],
) -> tuple[str, str, dt.date | None]:
    """``(reason, best option, best date)`` for a refill due ``earliest`` … ``latest``.

    ``used`` counts the appointments already planned per (pool, date).
    """
    capacity = calendar.capacity(pool)

    def has_room(day: dt.date) -> bool:
        return calendar.is_open(day) and used.get((pool, day), 0) < capacity

    if latest < calendar.start:
        return _overdue(calendar, latest, has_room)
    lo, hi = max(earliest, calendar.start), min(latest, calendar.end)
    span = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
    open_days = [d for d in span if calendar.is_open(d)]
    allowed = [d for d in open_days if weekdays is None or d.weekday() in weekdays]
    other_weekday = [d for d in open_days if d not in allowed and has_room(d)]
    extra = [d for d in span if not calendar.is_open(d) and calendar.holiday_name(d) is None]
    reason = _reason(calendar, lo, hi, span, open_days, allowed, weekdays, capacity)
    return (reason, *_best_option(other_weekday, extra, allowed, span))


def _overdue(
    calendar: ClinicCalendar, latest: dt.date, has_room: Callable[[dt.date], bool]
) -> tuple[str, str, dt.date | None]:
    """Reason and option for a refill due before the plan starts: the first day with room."""
    first = next((d for d in calendar.open_days if has_room(d)), None)
    late = f" ({(first - latest).days} day(s) after the refill-by date)" if first else ""
    return (
        f"overdue: refill by {latest} is before the plan starts on {calendar.start}",
        f"refill urgently: first day with room {first}{late}"
        if first
        else "refill urgently: no day with room in the horizon; add a session",
        first,
    )


def _reason(
    calendar: ClinicCalendar,
    lo: dt.date,
    hi: dt.date,
    span: list[dt.date],
    open_days: list[dt.date],
    allowed: list[dt.date],
    weekdays: frozenset[int] | None,
    capacity: int,
) -> str:
    """Why no day of the window ``lo`` … ``hi`` (the days ``span``) could take the refill."""
    if not open_days:
        closed = "; ".join(f"{d} {calendar.closed_reason(d)}" for d in span[-3:])
        return f"no open clinic day between {lo} and {hi} ({closed})"
    if not allowed:
        return (
            f"the window's open days ({weekday_label(frozenset(d.weekday() for d in open_days))})"
            f" are not among the patient's days ({weekday_label(weekdays or frozenset())})"
        )
    return f"all {len(allowed)} allowed open days from {lo} to {hi} are full ({capacity} per day)"


def _best_option(
    other_weekday: list[dt.date],
    extra: list[dt.date],
    allowed: list[dt.date],
    span: list[dt.date],
) -> tuple[str, dt.date | None]:
    """The most preferred way to place the refill anyway, and its date."""
    if other_weekday:
        best = other_weekday[-1]
        return f"a different weekday: {best} ({best:%A}) has room", best
    if extra:
        best = extra[-1]
        return f"an extra session on {best} ({best:%A})", best
    if allowed:
        best = allowed[-1]
        return f"one more slot on {best} ({best:%A})", best
    if span:
        best = span[-1]
        return f"an extra session on {best} ({best:%A})", best
    return "extend the planning horizon", None
