"""The models' own rules (from Python code and from files), and the program semantics in
``schedule_math`` they feed: contiguous segments, exact daily volumes, exact inverse."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.io.profiles import load_catalog
from pumpsim.models import (
    AlarmRange,
    Catheter,
    Drug,
    FlexStep,
    Infusate,
    PeriodicBolus,
    Program,
    PtmDemand,
    PtmSettings,
)
from pumpsim.models.base import FROM_FILE
from pumpsim.schedule.segments import CumulativeSchedule, mean_daily_volume_ml, program_segments

FAST = settings(max_examples=40, deadline=None, derandomize=True)


def test_models_are_frozen() -> None:
    program = Program.simple(0.5)
    with pytest.raises(pydantic.ValidationError):
        program.rate_ml_per_day = 1.0  # type: ignore[misc]


def test_python_code_may_pass_internal_floats_but_files_may_not() -> None:
    assert Catheter(volume_ml_given=0.2).volume_ml == 0.2
    assert Catheter.model_validate({"volume": "0.2 mL"}, context=FROM_FILE).volume_ml == 0.2
    with pytest.raises(pydantic.ValidationError, match="bare number has no unit"):
        Catheter.model_validate({"volume": 0.2}, context=FROM_FILE)


def test_catheter_from_length() -> None:
    """Prometra IFU: catheter trimmed by 20 cm: 90 cm × 0.0026 mL/cm = 0.234 mL."""
    c = Catheter.model_validate(
        {"length": "90 cm", "volume_per_length": "0.0026 mL/cm"}, context=FROM_FILE
    )
    assert c.volume_ml == pytest.approx(0.234, abs=1e-12)
    with pytest.raises(pydantic.ValidationError, match="give volume, or both"):
        Catheter.model_validate({"length": "90 cm"}, context=FROM_FILE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "simple"}, "a simple program needs a rate"),
        ({"mode": "simple", "rate": 0.5, "steps": [{"start": "00:00", "rate": 0.5}]}, "not steps"),
        ({"mode": "flex", "rate": 0.5}, "not a single rate"),
        ({"mode": "flex"}, "needs daily steps"),
        (
            {
                "mode": "flex",
                "steps": [{"start": "00:00", "rate": 0.5}, {"start": "00:00", "rate": 1}],
            },
            "strictly increasing",
        ),
        ({"mode": "flex", "steps": [{"start": "06:00", "rate": 0.5}]}, "got 06:00"),
        ({"mode": "flex", "steps": [{"start": "6:00", "rate": 0.5}]}, "HH:MM"),
        ({"mode": "simple", "rate": -0.1}, "greater than or equal to 0"),
    ],
)
def test_program_shape_rules(data: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Program.model_validate(data)


def test_periodic_bolus_and_ptm_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="longer than its repeat interval"):
        PeriodicBolus(start_minute=0, every_days=1 / 24, volume_ml=0.05, duration_days=0.1)
    bolus = PeriodicBolus(start_minute=420, every_days=1, volume_ml=0.05, duration_days=1 / 48)
    assert bolus.rate_ml_per_day == pytest.approx(2.4, rel=1e-12)
    ptm = PtmSettings.model_validate(
        {"bolus": "0.5 mg", "duration": "10 min", "lockout": "3 h", "max_per_day": 4},
        context={**FROM_FILE, "concentration_mg_per_ml": 25.0},
    )
    assert ptm.bolus_volume_ml == pytest.approx(0.02, rel=1e-12)
    assert ptm.rate_ml_per_day == pytest.approx(0.02 * 144, rel=1e-12)
    with pytest.raises(pydantic.ValidationError, match="no drug concentration"):
        PtmSettings.model_validate(
            {"bolus": "0.5 mg", "duration": "10 min", "lockout": "3 h", "max_per_day": 4},
            context=FROM_FILE,
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "either presses_per_day or a list"),
        ({"presses_per_day": 3, "presses": ["2026-01-01T08:00"]}, "not both"),
        ({"presses": ["2026-01-01T08:00"], "daily_cv": 0.3}, "not to a press log"),
        ({"presses_per_day": 3, "profile": [{"start": "06:00", "weight": 1}]}, "start at 00:00"),
        (
            {"presses_per_day": 3, "profile": [{"start": "00:00", "weight": 0}]},
            "cannot all be zero",
        ),
        ({"presses": ["2026-01-02T08:00", "2026-01-01T08:00"]}, "time order"),
    ],
)
def test_demand_rules(data: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        PtmDemand.model_validate(data)


def test_demand_day_profile_shares_sum_to_one() -> None:
    demand = PtmDemand.model_validate(
        {
            "presses_per_day": 3,
            "profile": [{"start": "00:00", "weight": 1}, {"start": "12:00", "weight": 3}],
        }
    )
    assert demand.day_profile() == [(0, 720, 0.25), (720, 1440, 0.75)]


def test_alarm_range_and_drug_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="min <= default <= max"):
        AlarmRange(default_ml=0.5, min_ml=1, max_ml=10)
    catalog = load_catalog()
    zic = catalog.drugs["ziconotide"]
    assert zic.stability_for(0.1) == 84 and zic.stability_for(0.025) == 40
    mixture = Infusate(
        drugs=(
            Drug.from_entry(zic, 0.1),
            Drug.from_entry(catalog.drugs["morphine"], 25.0),
        )
    )
    assert mixture.stability_days() == 84
    assert mixture.stability_days(first_fill=True) == 14
    assert mixture.label() == "ziconotide 100 mcg/mL + morphine 25 mg/mL"


def test_pump_catalog_values_are_parsed_with_units() -> None:
    pump = load_catalog().pumps["synchromed-ii-20"]
    assert pump.reservoir_ml == 20.0
    assert pump.min_rate_ml_per_day == 0.048
    assert pump.rated_accuracy == pytest.approx(0.145, rel=1e-12)
    assert pump.delivery_factor_range == pytest.approx((0.855, 1.145), rel=1e-12)
    assert pump.low_reservoir_alarm is not None and pump.low_reservoir_alarm.default_ml == 2.0


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


# ------------------------------------------------------------------ schedule_math properties
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
