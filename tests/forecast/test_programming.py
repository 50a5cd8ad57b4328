"""The programming session: the issue's worked example to 1e-9 mL and to the minute, titration,
flex shapes, the pump's rate limits, the PTM dose kept, and hard limits that stop."""

from __future__ import annotations

import datetime as dt

import pytest

from pumpsim.engine import simulate
from pumpsim.forecast.programming import ProgramChange, programming_session, therapy_at
from pumpsim.io.profiles import load_catalog
from pumpsim.models import (
    Catheter,
    Drug,
    FlexStep,
    Infusate,
    Program,
    PtmSettings,
    PumpState,
    Therapy,
)
from pumpsim.models.timeline import Refill, Timeline
from pumpsim.schedule.limits import DoseLimitError
from pumpsim.schedule.segments import Course, schedule_reaching

T0 = dt.datetime(2026, 3, 2, 8, 0)
CATALOG = load_catalog()


def morphine(mg_per_ml: float) -> Infusate:
    return Infusate(drugs=(Drug.from_entry(CATALOG.drugs["morphine"], mg_per_ml),))


def therapy(program: Program | None = None, ptm: PtmSettings | None = None) -> Therapy:
    """Morphine 10 mg/mL at 0.5 mL/day (5 mg/day); dead volume 0.2 mL pump + 0.25 mL catheter."""
    return Therapy(
        patient_id="prog",
        pump=CATALOG.pumps["synchromed-ii-20"],
        infusate=morphine(10.0),
        catheter=Catheter(volume_ml_given=0.25),
        program=program or Program.simple(0.5),
        ptm=ptm,
        state=PumpState(time=T0, calculated_volume_ml=20.0, filled_at=T0),
    )


def test_the_issues_example_concentration_change_with_a_bridge_bolus() -> None:
    """Refill with 20 mg/mL at the same 5 mg/day on day 30: 0.25 mL/day; bridge bolus 0.45 mL
    over 0.9 day at the old 0.5 mL/day; the new alarm when 18 mL have gone: 0.45 mL in 0.9 day,
    then 17.55 mL at 0.25 mL/day (70.2 days) — day 30 + 71.1."""
    at = T0 + dt.timedelta(days=30)
    s = programming_session(
        therapy(), ProgramChange(at=at, infusate=morphine(20.0), fill_ml=20.0), runs=300
    )
    assert s.new.program.rate_ml_per_day == pytest.approx(0.25, abs=1e-9)
    assert s.old.daily_dose_mg == {"morphine": pytest.approx(5.0, abs=1e-9)}
    assert s.new.daily_dose_mg == {"morphine": pytest.approx(5.0, abs=1e-9)}
    assert s.bolus is not None and s.bolus.kind == "bridge"
    assert s.bolus.volume_ml == pytest.approx(0.45, abs=1e-9)
    assert s.bolus.duration_days == pytest.approx(0.9, abs=1e-9)
    assert s.bolus.rate_ml_per_day == pytest.approx(0.5, abs=1e-9)
    assert s.old.low_reservoir_alarm == T0 + dt.timedelta(days=36)
    new_alarm = at + dt.timedelta(days=0.9 + 17.55 / 0.25)
    assert s.new.low_reservoir_alarm is not None
    assert abs(s.new.low_reservoir_alarm - new_alarm) < dt.timedelta(minutes=1)
    assert s.new.stability_limit == at + dt.timedelta(days=90)
    refill = s.entries[0]
    assert isinstance(refill, Refill) and refill.bridge_bolus and refill.fill_ml == 20.0
    # the SimPy engine runs the same change and sounds the alarm at the same minute
    trace = simulate(therapy(), Timeline(entries=s.entries), days=110, seed=0)
    alarms = [a for a in trace.alarms if a.name == "low_reservoir"]
    assert abs(alarms[-1].on_time - new_alarm) < dt.timedelta(minutes=1)


def test_titration_scales_a_flex_shape_and_keeps_the_ptm_dose() -> None:
    """+10 % on a day/night flex program: every step 1.1 ×; doubling the concentration at the
    same time halves the PTM bolus volume, so the bolus dose (0.2 mg) stays."""
    steps = (
        FlexStep(start_minute=0, rate_ml_per_day=0.4),
        FlexStep(start_minute=8 * 60, rate_ml_per_day=0.6),
    )
    ptm = PtmSettings(
        bolus_volume_ml=0.02, duration_days=10 / 1440, lockout_days=0.125, max_per_day=4
    )
    s = programming_session(
        therapy(Program(mode="flex", steps=steps), ptm),
        ProgramChange(titrate=0.10, infusate=morphine(20.0), fill_ml=20.0),
        runs=200,
    )
    rates = [step.rate_ml_per_day for step in s.new.program.steps]
    assert rates == pytest.approx([0.4 * 1.1 / 2, 0.6 * 1.1 / 2], abs=1e-12)
    old_dose = (8 * 0.4 + 16 * 0.6) / 24 * 10.0
    assert s.new.daily_dose_mg["morphine"] == pytest.approx(old_dose * 1.1, abs=1e-9)
    assert s.new.ptm is not None
    assert s.new.ptm.bolus_volume_ml * 20.0 == pytest.approx(0.02 * 10.0, abs=1e-12)
    assert s.new.ptm_max_dose_mg == s.old.ptm_max_dose_mg


def test_a_rate_the_pump_cannot_run_is_refused() -> None:
    with pytest.raises(Exception, match=r"outside what Medtronic SynchroMed II .* can run"):
        programming_session(therapy(), ProgramChange(daily_dose_mg=0.2), runs=50)


def test_a_dose_above_the_hard_limit_stops() -> None:
    """Morphine's hard limit is 20 mg/day: 25 mg/day is refused, naming the limit."""
    with pytest.raises(DoseLimitError, match="HARD limit"):
        programming_session(therapy(), ProgramChange(daily_dose_mg=25.0), runs=50)


def test_a_concentration_change_needs_a_refill() -> None:
    with pytest.raises(Exception, match="needs a refill"):
        programming_session(therapy(), ProgramChange(infusate=morphine(20.0)), runs=50)


def test_therapy_at_rolls_the_state_forward_on_the_program() -> None:
    t = therapy_at(therapy(), None, T0 + dt.timedelta(days=10))
    assert t.state.calculated_volume_ml == pytest.approx(15.0, abs=1e-9)
    assert t.state.fill_time == T0


def test_the_horizon_search_follows_the_course() -> None:
    """After 0.9 day at 0.5 mL/day, 0.25 mL/day: 60 days hold 15.225 mL, so reaching 20 mL
    takes one doubling."""
    course = Course(programs=((0.9, Program.simple(0.25)),))
    schedule, span = schedule_reaching(
        therapy(), 20.0, first_span_days=60.0, max_days=1000.0, course=course
    )
    assert span == 120.0
    assert float(schedule.volume_at(60.0)) == pytest.approx(0.45 + 59.1 * 0.25, abs=1e-9)
