"""The clinic calendar: open weekdays, public holidays, closures, extra sessions, slots."""

from __future__ import annotations

import datetime as dt

import pytest

from pumpsim.clinic.calendar import ClinicCalendar, calendar_from_dict
from pumpsim.core.clock import parse_weekdays
from pumpsim.core.errors import ProfileError


def test_holidays_closures_and_extra_sessions() -> None:
    cal = ClinicCalendar(
        start=dt.date(2026, 5, 1),
        end=dt.date(2026, 6, 7),
        country="DE",
        subdivision="BY",
        closures=frozenset({dt.date(2026, 5, 20)}),
        extra_sessions=frozenset({dt.date(2026, 5, 16)}),
    )
    assert cal.closed_reason(dt.date(2026, 5, 1)) == "public holiday (Labor Day)"
    assert cal.closed_reason(dt.date(2026, 6, 4)) == "public holiday (Corpus Christi)"
    assert cal.closed_reason(dt.date(2026, 5, 20)) == "clinic closure"
    assert cal.closed_reason(dt.date(2026, 5, 17)) == "the clinic is closed on sun"
    assert cal.is_open(dt.date(2026, 5, 16))  # a Saturday with an extra session
    assert cal.closed_reason(dt.date(2026, 6, 8)) == "outside the planning horizon"
    opened = cal.open_days
    assert len(opened) == 27 - 5 - 1 + 1  # 27 weekdays, 5 holidays (BY), 1 closure, 1 extra
    assert all(cal.is_open(d) for d in opened)


def test_slots_and_capacity() -> None:
    cal = ClinicCalendar(
        start=dt.date(2026, 5, 4),
        end=dt.date(2026, 5, 8),
        opens="07:30",
        closes="12:00",
        slot_minutes=45,
        capacity_per_day=6,
    )
    assert cal.slots_per_day == 6
    assert cal.slot_start(dt.date(2026, 5, 4), 5) == dt.datetime(2026, 5, 4, 11, 15)
    with pytest.raises(ValueError, match="capacity 7 per day does not fit"):
        cal.model_copy(update={}).model_validate({**cal.model_dump(), "capacity_per_day": 7})


def test_calendar_errors_name_the_field() -> None:
    with pytest.raises(ProfileError) as info:
        calendar_from_dict(
            {"start": "2026-05-04", "end": "2026-05-01", "country": "QQ", "timezone": "Mars/Base"}
        )
    assert [p.field for p in info.value.problems] == ["timezone"]
    with pytest.raises(ProfileError, match=r"the horizon ends \(2026-05-01\) before it starts"):
        calendar_from_dict({"start": "2026-05-04", "end": "2026-05-01"})
    with pytest.raises(ProfileError, match="Country QQ not available"):
        calendar_from_dict({"start": "2026-05-04", "end": "2026-05-08", "country": "QQ"})


def test_parse_weekdays() -> None:
    assert parse_weekdays("mon,wed,FRI") == frozenset({0, 2, 4})
    assert parse_weekdays("fri-mon") == frozenset({4, 5, 6, 0})
    assert parse_weekdays("Tuesday; thurs") == frozenset({1, 3})
    with pytest.raises(ValueError, match="unknown weekday 'funday'"):
        parse_weekdays("funday")
