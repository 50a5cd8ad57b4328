"""The single source of truth for delivery over time: program segments, the day volume,
the cumulative curve and its exact inverse (``pumpsim.schedule.segments``)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.io.profiles import load_catalog
from pumpsim.models import (
    Catheter,
    Drug,
    FlexStep,
    Infusate,
    PeriodicBolus,
    Program,
    PumpState,
    Therapy,
)
from pumpsim.schedule.segments import (
    CumulativeSchedule,
    days_to_deliver,
    max_calendar_day_volume_ml,
    mean_daily_volume_ml,
    program_segments,
    programmed_volume_ml,
    schedule_reaching,
)
from pumpsim.testing import reference_pump

FAST = settings(max_examples=40, deadline=None, derandomize=True)


def test_mean_daily_volume_by_hand() -> None:
    """Steps 0.18/0.22/0.24/0.20 mL/day over four 6-hour blocks average 0.21 mL/day; a 0.05 mL
    bolus every 2 days adds 0.025 mL/day."""
    steps = tuple(
        FlexStep(start_minute=m, rate_ml_per_day=r)
        for m, r in ((0, 0.18), (360, 0.22), (720, 0.24), (1080, 0.20))
    )
    program = Program(
        mode="flex",
        steps=steps,
        periodic_boluses=(
            PeriodicBolus(start_minute=420, every_days=2, volume_ml=0.05, duration_days=1 / 48),
        ),
    )
    assert mean_daily_volume_ml(program) == pytest.approx(0.21 + 0.025, rel=1e-12)
    assert program.max_steps_per_day() == 4
    assert program.basal_rates() == [0.18, 0.2, 0.22, 0.24]


# ------------------------------------------------------------------ segment properties
_rates = st.floats(min_value=0.0, max_value=24.0, allow_nan=False)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """Flex programs with 1-5 steps, optional weekday overrides and periodic boluses."""

    def day_steps() -> tuple[FlexStep, ...]:
        starts = sorted(draw(st.sets(st.integers(1, 1439), max_size=4)))
        return tuple(FlexStep(start_minute=m, rate_ml_per_day=draw(_rates)) for m in [0, *starts])

    weekly = {
        day: day_steps()
        for day in draw(st.sets(st.sampled_from(["monday", "wednesday", "sunday"]), max_size=2))
    }
    boluses = tuple(
        PeriodicBolus(
            start_minute=draw(st.integers(0, 1439)),
            every_days=every,
            volume_ml=draw(st.floats(0.01, 1.0)),
            duration_days=min(every, 1.0) * draw(st.floats(0.01, 1.0)),
        )
        for every in draw(st.lists(st.sampled_from([0.25, 1.0, 2.5, 7.0]), max_size=2))
    )
    return Program(mode="flex", steps=day_steps(), weekly=weekly, periodic_boluses=boluses)


_origins = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 1, 1)).map(
    lambda t: t.replace(second=0, microsecond=0)
)


def _hand_integral(program: Program, origin: dt.datetime, start: float, end: float) -> float:
    """Integrate the program minute by minute boundary (basal) plus bolus overlaps by hand."""
    total = 0.0
    t0 = origin + dt.timedelta(days=start)
    t1 = origin + dt.timedelta(days=end)
    day = dt.datetime(t0.year, t0.month, t0.day)
    while day < t1:
        steps = program.steps_for(day.weekday())
        for i, step in enumerate(steps):
            a = day + dt.timedelta(minutes=step.start_minute)
            end_min = steps[i + 1].start_minute if i + 1 < len(steps) else 1440
            b = day + dt.timedelta(minutes=end_min)
            lo, hi = max(a, t0), min(b, t1)
            if hi > lo:
                total += step.rate_ml_per_day * (hi - lo).total_seconds() / 86400
        day += dt.timedelta(days=1)
    first_day = dt.datetime(origin.year, origin.month, origin.day)
    for bolus in program.periodic_boluses:
        k = 0
        while True:
            b0 = first_day + dt.timedelta(minutes=bolus.start_minute, days=k * bolus.every_days)
            k += 1
            if b0 < origin:  # occurrences before the program start do not happen
                continue
            if b0 >= t1:
                break
            b1 = b0 + dt.timedelta(days=bolus.duration_days)
            lo, hi = max(b0, t0), min(b1, t1)
            if hi > lo:
                total += bolus.rate_ml_per_day * (hi - lo).total_seconds() / 86400
    return total


@FAST
@given(programs(), _origins, st.floats(0.0, 3.0), st.floats(0.01, 9.0))
def test_program_segments_are_contiguous_and_integrate_by_hand(
    program: Program, origin: dt.datetime, start: float, length: float
) -> None:
    segments = program_segments(
        program, origin=origin, start_day=start, end_day=start + length, program_start_day=0.0
    )
    assert segments[0].start_day == start
    assert segments[-1].end_day == start + length
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.end_day == b.start_day
        assert b.end_day > b.start_day
    volume = sum(s.volume_ml for s in segments)
    assert volume == pytest.approx(
        _hand_integral(program, origin, start, start + length), rel=1e-9, abs=1e-9
    )


@FAST
@given(programs(), _origins, st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10))
def test_time_of_volume_inverts_volume_at(
    program: Program, origin: dt.datetime, fractions: list[float]
) -> None:
    schedule = CumulativeSchedule.for_program(program, origin=origin, start_day=0.0, end_day=10.0)
    total = float(schedule.volumes[-1])
    targets = [f * total for f in fractions]
    times = schedule.time_of_volume(targets)
    assert schedule.volume_at(times) == pytest.approx(targets, abs=1e-9)
    for t, v in zip(times, targets, strict=True):
        if v > 0:
            # earliest time: a moment earlier the volume is still below the target
            assert float(schedule.volume_at(t - 1e-6)) < v + 1e-12
    assert schedule.time_of_volume(total + 1.0) == float("inf")


@FAST
@given(programs(), _origins, st.floats(0.0, 3.0), st.floats(0.01, 120.0))
def test_each_segment_runs_the_step_the_wall_clock_says(
    program: Program, origin: dt.datetime, start: float, length: float
) -> None:
    """The vectorized step times against a plain wall-clock lookup: in the middle of every
    segment the basal rate is the step in force at that weekday and minute, and two
    neighbouring segments never run the same rates (they would have been merged)."""
    segments = program_segments(
        program, origin=origin, start_day=start, end_day=start + length, program_start_day=0.0
    )
    for s in segments:
        moment = origin + dt.timedelta(days=0.5 * (s.start_day + s.end_day))
        minute = moment.hour * 60 + moment.minute + moment.second / 60
        steps = program.steps_for(moment.weekday())
        in_force = [step for step in steps if step.start_minute <= minute][-1]
        assert s.basal_ml_per_day == in_force.rate_ml_per_day
    for a, b in zip(segments, segments[1:], strict=False):
        assert (a.basal_ml_per_day, a.bolus_ml_per_day) != (b.basal_ml_per_day, b.bolus_ml_per_day)


# ---------------------------------------------------------------- the one day volume, the search
_THERAPY_ORIGIN = dt.datetime(2026, 3, 4, 9, 30)  # a Wednesday, mid-morning


def _therapy(program: Program, volume_ml: float = 20.0) -> Therapy:
    return Therapy(
        patient_id="seg",
        pump=reference_pump(),
        infusate=Infusate(drugs=(Drug.from_entry(load_catalog().drugs["morphine"], 10.0),)),
        catheter=Catheter(volume_ml_given=0.25),
        program=program,
        state=PumpState(time=_THERAPY_ORIGIN, calculated_volume_ml=volume_ml),
    )


def test_largest_calendar_day_and_programmed_volume_by_hand() -> None:
    """Weekdays 0.5 mL/day, weekends 1.0 mL/day: the largest calendar day holds 1.0 mL; the
    2.5 days from Wednesday 09:30 to Friday 21:30 deliver 2.5 × 0.5 mL; 3.5 days (to Saturday
    21:30) add 21.5 h of Saturday at 1.0 mL/day."""
    weekday = (FlexStep(start_minute=0, rate_ml_per_day=0.5),)
    weekend = (FlexStep(start_minute=0, rate_ml_per_day=1.0),)
    program = Program(mode="flex", steps=weekday, weekly={"saturday": weekend, "sunday": weekend})
    therapy = _therapy(program)
    assert max_calendar_day_volume_ml(therapy) == pytest.approx(1.0, abs=1e-12)
    assert programmed_volume_ml(therapy, 2.5) == pytest.approx(1.25, abs=1e-12)
    # Wed 09:30 → Sat 00:00 is 2 d 14.5 h at 0.5; then 21.5 h at 1.0
    expected = (2 + 14.5 / 24) * 0.5 + 21.5 / 24 * 1.0
    assert programmed_volume_ml(therapy, 3.5) == pytest.approx(expected, abs=1e-12)
    assert mean_daily_volume_ml(program) == pytest.approx((5 * 0.5 + 2 * 1.0) / 7, abs=1e-12)


@FAST
@given(st.floats(0.05, 5.0), st.floats(0.0, 30.0), st.floats(0.0, 0.5))
def test_days_to_deliver_solves_the_crossing_exactly(
    rate: float, volume: float, extra: float
) -> None:
    therapy = _therapy(Program.simple(rate))
    days = days_to_deliver(therapy, volume, extra_ml_per_day=extra, max_days=20 * 365.0)
    assert days is not None
    assert days == pytest.approx(volume / (rate + extra), rel=1e-9, abs=1e-9)


def test_days_to_deliver_stops_at_the_horizon() -> None:
    therapy = _therapy(Program.simple(0.05))
    assert days_to_deliver(therapy, 20.0, max_days=365.0) is None  # 400 days away
    schedule, span = schedule_reaching(therapy, 20.0, first_span_days=60.0, max_days=365.0)
    assert span == 365.0 and schedule.end_day == 365.0
    schedule, span = schedule_reaching(therapy, 5.0, first_span_days=60.0, max_days=365.0)
    assert span == 120.0  # 60 days hold 3 mL; doubled once
