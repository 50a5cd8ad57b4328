"""The forecast applies the profile's timeline: past entries set the cycle, future ones change
it, in the vectorized forecast and the SimPy engine alike, to the minute."""

from __future__ import annotations

import datetime as dt

import pytest

from pumpsim.engine import simulate
from pumpsim.forecast import deterministic, forecast
from pumpsim.forecast.course import course_at
from pumpsim.io.profiles import load_catalog
from pumpsim.models import Catheter, Drug, Infusate, Program, PtmSettings, PumpState, Therapy
from pumpsim.models.timeline import (
    CatheterOcclusion,
    MriExposure,
    Refill,
    Reprogram,
    Timeline,
)

T0 = dt.datetime(2026, 3, 2, 8, 0)
MINUTE = dt.timedelta(minutes=1)


def therapy(pump: str = "synchromed-ii-20", ptm: PtmSettings | None = None) -> Therapy:
    """20 mL of morphine 10 mg/mL at 0.5 mL/day; the low-reservoir alarm at 2 mL."""
    catalog = load_catalog()
    return Therapy(
        patient_id="course",
        pump=catalog.pumps[pump],
        infusate=Infusate(drugs=(Drug.from_entry(catalog.drugs["morphine"], 10.0),)),
        catheter=Catheter(volume_ml_given=0.2),
        program=Program.simple(0.5),
        ptm=ptm,
        state=PumpState(time=T0, calculated_volume_ml=20.0, filled_at=T0),
    )


def at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def test_a_planned_reprogram_moves_the_alarm_from_day_36_to_day_20_5() -> None:
    """0.5 → 1.0 mL/day five days after a 20 mL fill: 2.5 mL in 5 days, then 15.5 mL at
    1.0 mL/day reach the 2 mL alarm at day 20.5 (was 36), in every engine."""
    t = therapy()
    plan = Timeline(entries=(Reprogram(at=at(5), program=Program.simple(1.0)),))
    assert deterministic(t).programmer_lra == at(36)
    f = forecast(t, timeline=plan, runs=500, seed=1)
    assert f.deterministic.programmer_lra == at(20.5)
    assert f.low_reservoir_alarm is not None and f.low_reservoir_alarm.nominal == at(20.5)
    assert f.deterministic.empty_reservoir == at(22.5)  # all 20 mL gone at day 22.5
    trace = simulate(t, plan, days=30, seed=0)
    alarm = trace.first_alarm("low_reservoir")
    assert alarm is not None and abs(alarm.on_time - at(20.5)) < MINUTE
    assert f.refill_by <= at(20.5).date()


def test_an_mri_stalls_the_motor_for_its_duration_and_restart_delay() -> None:
    """45 min in the scanner plus the SynchroMed's 20 min restart: the alarm 65 min later."""
    t = therapy()
    plan = Timeline(entries=(MriExposure(at=at(10), duration_days=45 / 1440),))
    f = forecast(t, timeline=plan, runs=200, seed=2)
    expected = at(36) + dt.timedelta(minutes=65)
    assert f.deterministic.programmer_lra == expected
    trace = simulate(t, plan, days=40, seed=0)
    alarm = trace.first_alarm("low_reservoir")
    assert alarm is not None and abs(alarm.on_time - expected) < MINUTE


def test_a_past_refill_starts_the_cycle_and_its_own_stability_clock() -> None:
    """Refilled with 18 mL on day 30 at 1.0 mL/day; forecast on day 31: the alarm when 16 mL
    have gone (day 46), stability 90 days from the refill."""
    t = therapy()
    plan = Timeline(entries=(Refill(at=at(30), fill_ml=18.0, program=Program.simple(1.0)),))
    f = forecast(t, timeline=plan, as_of=at(31), runs=300, seed=3)
    assert f.cycle_start == at(30)
    assert f.deterministic.programmer_lra == at(46)
    assert f.drug_stability_limit == at(120)
    assert f.calculated_volume_ml == pytest.approx(17.0, abs=1e-9)
    trace = simulate(t, plan, days=50, seed=0)
    alarms = [a for a in trace.alarms if a.name == "low_reservoir"]
    assert abs(alarms[-1].on_time - at(46)) < MINUTE


def test_a_planned_refill_is_reported_with_the_risk_before_it() -> None:
    t = therapy()
    late = Timeline(entries=(Refill(at=at(40), fill_ml=20.0),))
    early = Timeline(entries=(Refill(at=at(20), fill_ml=20.0),))
    f_late = forecast(t, timeline=late, runs=400, seed=4)
    f_early = forecast(t, timeline=early, runs=400, seed=4)
    assert f_late.planned_refill == at(40) and f_early.planned_refill == at(20)
    assert f_late.risk_before_planned_refill == 1.0  # the alarm (day 36) always comes first
    assert f_early.risk_before_planned_refill == 0.0
    # the dates of the cycle do not depend on the planned refill
    assert f_late.refill_by == f_early.refill_by == forecast(t, runs=400, seed=4).refill_by
    assert f_late.to_json_dict()["planned_refill"] == "2026-04-11T08:00:00"


def test_entries_the_forecast_does_not_model_are_named() -> None:
    t = therapy()
    plan = Timeline(
        entries=(
            CatheterOcclusion(at=at(3), duration_days=1.0),
            Refill(at=at(20), fill_ml=20.0),
            Reprogram(at=at(25), program=Program.simple(1.0)),
        )
    )
    cycle = course_at(t, plan, T0)
    assert cycle.not_applied == (
        "occlusion at 2026-03-05T08:00: not modelled by the forecast",
        "reprogram at 2026-03-27T08:00: after the planned refill",
    )
    assert cycle.course.programs == ()


def test_prometra_refill_by_never_after_the_controllers_date() -> None:
    """Prometra dates the next refill when 3.0 mL remain with every allotted bolus taken; a
    patient who rarely presses would otherwise get a later refill-by date from the forecast."""
    ptm = PtmSettings(
        bolus_volume_ml=0.1, duration_days=10 / 1440, lockout_days=0.25, max_per_day=4
    )
    t = therapy("prometra-ii-20", ptm=ptm)
    f = forecast(t, runs=500, seed=5)
    controller = f.deterministic.prometra_next_refill
    # 17 mL to 3 mL at 0.5 + 4 × 0.1 mL/day
    assert controller == at(17 / 0.9)
    assert f.refill_by <= controller.date()
    assert f.limiting_factor == "controller_next_refill"
    assert deterministic(therapy()).prometra_next_refill is None
