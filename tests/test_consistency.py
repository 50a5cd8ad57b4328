"""Commands agree: ``check`` (``summarize``), the forecast's deterministic part, the clinic's
schedule windows, the teaching questions and ``simulate`` give the same days to the
low-reservoir alarm, to empty, the same PTM maximum, stability limit and ERI.

Each answer comes from its own entry point, as a user would call it; the shared rule behind
them has one home, so any disagreement here means a copy crept back.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import PATIENTS
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.clinic import ScheduleWindowSource
from pumpsim.engine import simulate
from pumpsim.forecast import deterministic, forecast, summarize
from pumpsim.io.profiles import load_catalog, load_profile
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
from pumpsim.models.therapy import DoseLimits
from pumpsim.schedule.ptm import ptm_max_ml_per_day
from pumpsim.teaching.questions import TraceQueries

MINUTE = dt.timedelta(minutes=1)


def _assert_commands_agree(therapy: Therapy) -> None:
    quiet = therapy.model_copy(update={"demand": None})  # the programmed curve alone
    s = summarize(therapy)
    d = deterministic(quiet)
    f = forecast(therapy, runs=64, seed=1, keep_samples=False)

    # low-reservoir alarm and calculated empty: check == forecast's deterministic dates
    assert s.low_reservoir_time == d.programmer_lra == d.low_reservoir_alarm
    assert s.empty_time == d.empty_reservoir
    # stability and ERI: one date everywhere
    assert s.stability_limit_time == d.drug_stability_limit == f.drug_stability_limit
    assert s.elective_replacement_time == d.elective_replacement
    # PTM maximum: check, the schedule rule, the teaching question
    ptm_ml = ptm_max_ml_per_day(therapy.ptm)
    assert s.ptm_max_volume_ml_per_day == ptm_ml

    # the clinic's schedule window: latest = margin before the first limit check reports
    source = ScheduleWindowSource(margin_days=0.0, span_days=7)
    limits = [s.stability_limit_time]
    if s.low_reservoir_alarm_ml is not None and s.days_to_low_reservoir_all_ptm is not None:
        limits.append(therapy.state.time + dt.timedelta(days=s.days_to_low_reservoir_all_ptm))
    elif s.low_reservoir_alarm_ml is None and s.empty_time is not None:
        limits.append(s.empty_time)
    if s.elective_replacement_time is not None:
        limits.append(s.elective_replacement_time)
    assert source.window(therapy).latest == min(limits).date()

    # simulate: the SimPy engine sounds the alarms at check's times, to the minute
    ends = [t for t in (s.low_reservoir_time, s.empty_time) if t is not None]
    days = min(((max(ends) - therapy.state.time) / dt.timedelta(days=1)) + 1.0, 3 * 366.0)
    trace = simulate(quiet, days=days, seed=0, sample_every_days=1.0)
    for name, expected in (
        ("low_reservoir", s.low_reservoir_time),
        ("empty_reservoir", s.empty_time),
    ):
        alarm = trace.first_alarm(name)
        if expected is None or expected > therapy.state.time + dt.timedelta(days=days):
            continue
        assert alarm is not None, name
        assert abs(alarm.on_time - expected) <= MINUTE, (name, alarm.on_time, expected)
    assert TraceQueries(trace, therapy).ptm_max_ml_per_day() == ptm_ml


PROFILES = sorted(PATIENTS.glob("*.yaml"))


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_every_shipped_profile_gets_one_answer(path: Path) -> None:
    _assert_commands_agree(load_profile(path).therapy)


def test_the_3_hour_lockout_example_is_0_16_ml_per_day_everywhere() -> None:
    """Bolus 0.02 mL, lockout 3 h, at most 12 a day: 8 boluses fit a day, 0.16 mL/day."""
    therapy = _therapy(
        rate=0.5,
        volume=20.0,
        ptm=PtmSettings(
            bolus_volume_ml=0.02, duration_days=10 / 1440, lockout_days=3 / 24, max_per_day=12
        ),
    )
    assert summarize(therapy).ptm_max_volume_ml_per_day == pytest.approx(0.16, abs=1e-12)
    # with every bolus, the alarm comes when 18 mL went at 0.66 mL/day
    days = summarize(therapy).days_to_low_reservoir_all_ptm
    assert days == pytest.approx(18 / 0.66, abs=1e-9)
    window = ScheduleWindowSource(margin_days=0.0).window(therapy)
    assert window.latest == (therapy.state.time + dt.timedelta(days=18 / 0.66)).date()
    _assert_commands_agree(therapy)


# ---------------------------------------------------------------- generated therapies
_CATALOG = load_catalog()
_PUMPS = [k for k, p in _CATALOG.pumps.items() if p.kind == "programmable"]


def _therapy(
    *,
    rate: float,
    volume: float,
    ptm: PtmSettings | None = None,
    pump: str = "synchromed-ii-20",
    night_rate: float | None = None,
    battery_used: float = 0.0,
    start: dt.datetime = dt.datetime(2026, 3, 2, 9, 0),
) -> Therapy:
    spec = _CATALOG.pumps[pump]
    if night_rate is None:
        program = Program.simple(rate)
    else:
        steps = (
            FlexStep(start_minute=0, rate_ml_per_day=night_rate),
            FlexStep(start_minute=8 * 60, rate_ml_per_day=rate),
        )
        program = Program(mode="flex", steps=steps)
    return Therapy(
        patient_id="gen",
        # generated rates reach past morphine's hard limit: this test is about dates, not doses
        dose_limits=DoseLimits(override="consistency test: dates for any generated rate"),
        pump=spec,
        infusate=Infusate(drugs=(Drug.from_entry(_CATALOG.drugs["morphine"], 10.0),)),
        catheter=Catheter(volume_ml_given=0.25),
        program=program,
        ptm=ptm,
        state=PumpState(
            time=start,
            calculated_volume_ml=min(volume, spec.reservoir_ml),
            battery_used=battery_used,
        ),
    )


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    pump=st.sampled_from(_PUMPS),
    rate=st.floats(0.2, 2.0),
    night=st.one_of(st.none(), st.floats(0.1, 1.0)),
    volume=st.floats(4.0, 40.0),
    lockout_h=st.integers(0, 12),
    cap=st.integers(0, 12),
    battery_used=st.floats(0.0, 0.99),
    minute=st.integers(0, 1439),
)
def test_generated_therapies_get_one_answer(
    pump: str,
    rate: float,
    night: float | None,
    volume: float,
    lockout_h: int,
    cap: int,
    battery_used: float,
    minute: int,
) -> None:
    ptm = PtmSettings(
        bolus_volume_ml=0.05, duration_days=10 / 1440, lockout_days=lockout_h / 24, max_per_day=cap
    )
    start = dt.datetime(2026, 3, 2) + dt.timedelta(minutes=minute)
    try:
        therapy = _therapy(
            rate=rate,
            volume=volume,
            ptm=ptm,
            pump=pump,
            night_rate=night,
            battery_used=battery_used,
            start=start,
        )
    except ValueError:
        return  # outside this pump's rate or bolus limits: not a therapy
    _assert_commands_agree(therapy)
