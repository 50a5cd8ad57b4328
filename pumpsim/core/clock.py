"""The pump clock: the only date arithmetic in pumpsim.

A pump keeps local wall-clock time without a time zone. Inside pumpsim a moment is a float
number of **days since an origin** (a naive pump-clock datetime, usually the pump state's
time); at the edges it is an ISO-8601 datetime. This module converts between the two, finds
pump-clock midnights and calendar-day indices, and parses a pump time written in a file, a
roster cell or a command-line option. One tolerance, ``EPS_DAYS``, decides when two times are
the same instant, everywhere.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "EPS_DAYS",
    "MINUTES_PER_DAY",
    "NO_ZONE_MESSAGE",
    "PUMP_TIME_EXAMPLE",
    "PumpTimeError",
    "day_index",
    "day_indices",
    "midnight_before",
    "midnights_before",
    "minute_of_day",
    "next_midnight",
    "origin_minute",
    "parse_pump_time",
    "parse_weekdays",
    "to_datetime",
    "to_days",
    "weekday_label",
    "weekday_name",
]

MINUTES_PER_DAY = 1440
EPS_DAYS = 1e-9
"""Times closer than this (about 0.1 ms) are the same instant."""

PUMP_TIME_EXAMPLE = "2026-03-02T08:00"
NO_ZONE_MESSAGE = (
    f"pump times are local wall-clock times without a time zone, e.g. {PUMP_TIME_EXAMPLE}"
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_SECOND = dt.timedelta(seconds=1)


# ---------------------------------------------------------------- days <-> datetimes
def to_days(origin: dt.datetime, when: dt.datetime) -> float:
    """Days from ``origin`` to ``when`` (both naive pump-clock datetimes)."""
    return (when - origin).total_seconds() / 86400.0


def to_datetime(origin: dt.datetime, days: float) -> dt.datetime:
    """The pump-clock datetime ``days`` after ``origin``, rounded to the second."""
    return origin + _SECOND * round(days * 86400.0)


def minute_of_day(when: dt.datetime | dt.time) -> float:
    """Minutes since the pump clock's midnight at ``when`` (fractions for seconds)."""
    return when.hour * 60 + when.minute + when.second / 60 + when.microsecond / 6e7


def origin_minute(origin: dt.datetime) -> float:
    """Minutes since the pump clock's midnight at ``origin`` (day 0 of a run)."""
    return minute_of_day(origin)


# ---------------------------------------------------------------- midnights and day indices
def day_index(base_minute: float, t: float) -> int:
    """Pump-clock calendar day of ``t`` (days since an origin at ``base_minute`` past its
    midnight); 0 is the origin's day. A time within ``EPS_DAYS`` of a midnight belongs to the
    day that midnight starts."""
    return math.floor((base_minute + t * MINUTES_PER_DAY) / MINUTES_PER_DAY + EPS_DAYS)


def day_indices(base_minute: float, t: npt.ArrayLike) -> IntArray:
    """``day_index`` for an array of times (the same float operations, the same results)."""
    minute = base_minute + np.asarray(t, dtype=float) * MINUTES_PER_DAY
    out: IntArray = np.floor(minute / MINUTES_PER_DAY + EPS_DAYS).astype(np.intp)
    return out


def _midnight_of(base_minute: float, index: int | IntArray) -> float | FloatArray:
    return (index * MINUTES_PER_DAY - base_minute) / MINUTES_PER_DAY


def midnight_before(origin: dt.datetime, t: float) -> float:
    """The last pump-clock midnight at or before ``t`` (days since ``origin``)."""
    base = origin_minute(origin)
    return float(_midnight_of(base, day_index(base, t)))


def midnights_before(base_minute: float, t: FloatArray) -> FloatArray:
    """``midnight_before`` for an array of times, the origin given as ``base_minute``."""
    out: FloatArray = np.asarray(_midnight_of(base_minute, day_indices(base_minute, t)))
    return out


def next_midnight(base_minute: float, t: float) -> float:
    """The first pump-clock midnight strictly after ``t`` (beyond ``EPS_DAYS``)."""
    return float(_midnight_of(base_minute, day_index(base_minute, t) + 1))


# ---------------------------------------------------------------- parsing a pump time
class PumpTimeError(ValueError):
    """A text is not a pump-clock time: an ISO-8601 date-time without a time zone."""


def parse_pump_time(text: str) -> dt.datetime:
    """An ISO-8601 date-time (or date: its midnight) on the pump clock, without a time zone.

    The one parser for pump times in profiles, roster cells, press logs, refill sheets and
    command-line options. Seconds are kept; raises ``PumpTimeError`` with the one message."""
    stripped = text.strip()
    try:
        value = dt.datetime.fromisoformat(stripped)
    except ValueError:
        raise PumpTimeError(
            f"expected an ISO date-time on the pump clock, e.g. {PUMP_TIME_EXAMPLE}"
        ) from None
    if value.tzinfo is not None:
        raise PumpTimeError(NO_ZONE_MESSAGE)
    return value


# ---------------------------------------------------------------- weekdays
_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ACCEPTED = {
    **{name: i for i, name in enumerate(_WEEKDAY_NAMES)},
    **{name: i for i, name in enumerate(_FULL_NAMES)},
    "tues": 1,
    "thur": 3,
    "thurs": 3,
}


def parse_weekdays(text: str) -> frozenset[int]:
    """``"mon,wed,fri"`` (or full names, any case, ``-`` ranges like ``mon-fri``) → ``{0, 2, 4}``.

    Monday is 0. Raises ``ValueError`` naming the unknown part.
    """
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        if "-" in part:
            a, b = (_weekday(x.strip()) for x in part.split("-", 1))
            span = (b - a) % 7
            days.update((a + i) % 7 for i in range(span + 1))
        else:
            days.add(_weekday(part))
    if not days:
        raise ValueError(f"no weekday in {text!r}; write e.g. 'mon,wed,fri' or 'mon-fri'")
    return frozenset(days)


def _weekday(name: str) -> int:
    if name in _ACCEPTED:
        return _ACCEPTED[name]
    raise ValueError(f"unknown weekday {name!r}; use mon, tue, wed, thu, fri, sat, sun")


def weekday_name(day: int) -> str:
    """``0`` → ``"mon"``."""
    return _WEEKDAY_NAMES[day]


def weekday_label(days: frozenset[int]) -> str:
    """``{0, 2}`` → ``"mon,wed"``."""
    return ",".join(_WEEKDAY_NAMES[d] for d in sorted(days))
