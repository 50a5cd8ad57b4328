"""Hand-computed engine cases, asserted to the minute (times) and to 1e-9 mL (volumes).

Every test builds a small therapy in Python with round numbers, states the hand calculation in
its docstring and compares the trace with it. Unless a test says otherwise the pump is a
20 mL programmable pump with 0.2 mL internal dead volume, a 0.3 mL catheter (0.5 mL dead volume
in all), a 1.4 mL non-retrievable residual, a 2 mL low-reservoir alarm, an empty alarm at 0 mL
and 0.048 mL/day after empty; the clock starts on Monday 2026-03-02 08:00.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pumpsim.engine import Trace, simulate
from pumpsim.engine.flowlog import SAMPLE_CHUNK
from pumpsim.models import (
    BatterySpec,
    Catheter,
    Drug,
    FlexStep,
    Infusate,
    Program,
    PtmDemand,
    PtmSettings,
    PumpSpec,
    PumpState,
    Therapy,
)
from pumpsim.models.timeline import (
    CatheterDisconnection,
    CatheterOcclusion,
    Intervention,
    MriExposure,
    PrimingBolus,
    PtmChange,
    Refill,
    Reprogram,
    Timeline,
)
from pumpsim.testing import reference_pump

ML = 1e-9
START = dt.datetime(2026, 3, 2, 8, 0)  # a Monday
MORPHINE_25 = Infusate(
    drugs=(Drug(name="morphine", concentration_mg_per_ml=25, stability_days=90),)
)


def pump(**changes: Any) -> PumpSpec:
    """The reference pump at 20 mL (hand-computed numbers below depend on its values)."""
    return reference_pump(**{"key": "test", "name": "Test pump", "reservoir_ml": 20, **changes})


def therapy(
    program: Program | None = None,
    *,
    volume_ml: float = 20.0,
    start: dt.datetime = START,
    infusate: Infusate = MORPHINE_25,
    catheter_ml: float = 0.3,
    spec: PumpSpec | None = None,
    **extra: Any,
) -> Therapy:
    state = extra.pop("state", None) or PumpState(time=start, calculated_volume_ml=volume_ml)
    return Therapy(
        patient_id="case",
        pump=spec or pump(),
        infusate=infusate,
        catheter=Catheter(volume_ml_given=catheter_ml),
        program=program or Program.simple(0.5),
        state=state,
        **extra,
    )


def at(day: float, origin: dt.datetime = START) -> dt.datetime:
    """The trace's own rounding of a day offset (to the second)."""
    return origin + dt.timedelta(seconds=round(day * 86400))


def events(trace: Trace, kind: str) -> list[dt.datetime]:
    return [e.time for e in trace.events_of(kind)]


def day(trace: Trace, date: dt.date) -> Any:
    summary = trace.day_summary(date)
    assert summary is not None, date
    return summary


# ------------------------------------------------------------------ low reservoir alarm
def test_lra_simple_continuous() -> None:
    """20 mL at 0.5 mL/day, alarm at 2 mL: (20 - 2) / 0.5 = 36 days → 2026-04-07 08:00;
    the empty alarm at calculated 0 mL comes 20 / 0.5 = 40 days after the start."""
    trace = simulate(therapy(), days=60)
    lra = trace.first_alarm("low_reservoir")
    assert lra is not None and lra.severity == "non-critical"
    assert lra.on_time == dt.datetime(2026, 4, 7, 8, 0)
    assert lra.on_day == pytest.approx(36.0, abs=1e-9)
    empty = trace.first_alarm("empty_reservoir")
    assert empty is not None and empty.severity == "critical"
    assert empty.on_time == dt.datetime(2026, 4, 11, 8, 0)


FLEX_4 = Program(
    mode="flex",
    steps=(
        FlexStep(start_minute=0, rate_ml_per_day=0.4),
        FlexStep(start_minute=6 * 60, rate_ml_per_day=0.8),
        FlexStep(start_minute=12 * 60, rate_ml_per_day=0.6),
        FlexStep(start_minute=18 * 60, rate_ml_per_day=0.2),
    ),
)


def test_lra_four_step_flex() -> None:
    """Steps 00-06 0.4, 06-12 0.8, 12-18 0.6, 18-24 0.2 mL/day: each quarter day gives
    0.1, 0.2, 0.15, 0.05 mL, 0.5 mL a day. Start Mon 08:00 with 18.7 mL, alarm at 2 mL, so
    16.7 mL must be pumped. Rest of day 0 (08-24): 4 h × 0.8 + 0.15 + 0.05 = 1/30 × 4 + 0.2
    = 1/3 mL. 32 full days: 16 mL (total 16 1/3). Left 16.7 - 16 1/3 = 11/30 mL on day 33
    (2026-04-04): 00-06 gives 0.1, 06-12 gives 0.2, leaving 1/15 mL at 0.6 mL/day = 1/9 day =
    160 min after 12:00 → 2026-04-04 14:40."""
    trace = simulate(therapy(FLEX_4, volume_ml=18.7), days=40)
    lra = trace.first_alarm("low_reservoir")
    assert lra is not None
    assert lra.on_time == dt.datetime(2026, 4, 4, 14, 40)
    assert lra.on_day == pytest.approx(33 + (14 * 60 + 40 - 8 * 60) / 1440, abs=1e-9)
    assert day(trace, dt.date(2026, 3, 2)).delivered_ml == pytest.approx(1 / 3, abs=ML)
    assert day(trace, dt.date(2026, 3, 3)).delivered_ml == pytest.approx(0.5, abs=ML)


def test_weekday_specific_schedule_moves_the_alarm() -> None:
    """Monday-Friday 0.5 mL/day, Saturday and Sunday 1.0 mL/day: 4.5 mL a week. Start Monday
    2026-03-02 00:00 with 19.5 mL, alarm at 2 mL → 17.5 mL to pump. Three weeks: 13.5 mL; the
    fourth Monday-Friday: 2.5 mL (16.0 by Sat 03-28 00:00); Saturday: 1.0 (17.0); the last
    0.5 mL takes half of Sunday → 2026-03-29 12:00 (27.5 days). Without the weekend steps
    (0.5 mL/day every day) the alarm comes 35 days after the start, 2026-04-06 00:00."""
    weekday = (FlexStep(start_minute=0, rate_ml_per_day=0.5),)
    weekend = (FlexStep(start_minute=0, rate_ml_per_day=1.0),)
    program = Program(mode="flex", steps=weekday, weekly={"saturday": weekend, "sunday": weekend})
    start = dt.datetime(2026, 3, 2, 0, 0)
    trace = simulate(therapy(program, volume_ml=19.5, start=start), days=40)
    lra = trace.first_alarm("low_reservoir")
    assert lra is not None and lra.on_time == dt.datetime(2026, 3, 29, 12, 0)
    assert day(trace, dt.date(2026, 3, 6)).delivered_ml == pytest.approx(0.5, abs=ML)  # Fri
    assert day(trace, dt.date(2026, 3, 7)).delivered_ml == pytest.approx(1.0, abs=ML)  # Sat
    assert day(trace, dt.date(2026, 3, 9)).delivered_ml == pytest.approx(0.5, abs=ML)  # Mon
    plain = simulate(therapy(Program(mode="flex", steps=weekday), volume_ml=19.5, start=start))
    lra_plain = plain.first_alarm("low_reservoir")
    assert lra_plain is not None and lra_plain.on_time == dt.datetime(2026, 4, 6, 0, 0)


# ------------------------------------------------------------------ PTM
PRESSES = [
    dt.datetime(2026, 3, 2, 9, 0),
    dt.datetime(2026, 3, 2, 9, 5),  # bolus of 09:00 runs until 09:10
    dt.datetime(2026, 3, 2, 10, 0),  # 1 h after the last grant: lockout (2 h)
    dt.datetime(2026, 3, 2, 11, 0),  # exactly 2 h: granted
    dt.datetime(2026, 3, 2, 13, 0),  # third of the day
    dt.datetime(2026, 3, 2, 15, 30),
    dt.datetime(2026, 3, 2, 23, 30),
    dt.datetime(2026, 3, 3, 0, 30),
    dt.datetime(2026, 3, 3, 9, 30),
    dt.datetime(2026, 3, 3, 11, 45),
    dt.datetime(2026, 3, 3, 14, 0),
]


@pytest.mark.parametrize(
    ("day_definition", "expected"),
    [
        (
            # 03-03 00:30: 09:00, 11:00, 13:00 are within 24 h → cap. 09:30: 11:00 and 13:00 →
            # granted. 11:45: 13:00 (prev), 09:30 → granted. 14:00: 09:30, 11:45 → granted.
            "rolling",
            ["granted", "bolus_running", "lockout", "granted", "granted", "daily_cap",
             "daily_cap", "daily_cap", "granted", "granted", "granted"],
        ),
        (
            # 03-03 00:30: a new pump-clock day → granted; 09:30, 11:45 → 2nd, 3rd; 14:00 → cap.
            "clock",
            ["granted", "bolus_running", "lockout", "granted", "granted", "daily_cap",
             "daily_cap", "granted", "granted", "granted", "daily_cap"],
        ),
    ],
)  # fmt: skip
def test_ptm_press_log_lockout_and_cap(day_definition: str, expected: list[str]) -> None:
    """Bolus 0.1 mL over 10 min, lockout 2 h, at most 3 a day, on 0.5 mL/day basal. Each
    granted bolus adds exactly 0.1 mL to its day, all of it counted as bolus volume."""
    ptm = PtmSettings(
        bolus_volume_ml=0.1,
        duration_days=10 / 1440,
        lockout_days=2 / 24,
        max_per_day=3,
        day_definition=day_definition,  # type: ignore[arg-type]
    )
    trace = simulate(
        therapy(ptm=ptm, demand=PtmDemand(presses=tuple(PRESSES))),
        days=3,
    )
    assert [p.time for p in trace.ptm_presses] == PRESSES
    assert [p.decision for p in trace.ptm_presses] == expected
    granted_03 = expected[7:].count("granted")
    d2, d3 = day(trace, dt.date(2026, 3, 2)), day(trace, dt.date(2026, 3, 3))
    assert (d2.ptm_granted, d2.ptm_denied) == (3, 4)
    assert (d3.ptm_granted, d3.ptm_denied) == (granted_03, 4 - granted_03)
    assert d2.bolus_ml == pytest.approx(0.3, abs=ML)
    assert d2.delivered_ml == pytest.approx(0.5 * 16 / 24 + 0.3, abs=ML)
    assert d3.bolus_ml == pytest.approx(0.1 * granted_03, abs=ML)
    assert d3.delivered_ml == pytest.approx(0.5 + 0.1 * granted_03, abs=ML)
    assert not [e for e in trace.events if e.kind.startswith("ptm")]  # PTM log only


def test_ptm_denied_while_reservoir_empty() -> None:
    """At calculated 0 mL the pump is at its empty limit: a press is denied 'reservoir_empty'.
    1 mL at 0.5 mL/day empties at 2 days (03-04 08:00)."""
    ptm = PtmSettings(bolus_volume_ml=0.1, duration_days=10 / 1440, lockout_days=0, max_per_day=5)
    press = dt.datetime(2026, 3, 4, 9, 0)
    trace = simulate(therapy(volume_ml=1.0, ptm=ptm, demand=PtmDemand(presses=(press,))), days=3)
    assert [(p.time, p.decision) for p in trace.ptm_presses] == [(press, "reservoir_empty")]


def test_ptm_turned_on_by_the_timeline_with_the_patients_demand() -> None:
    """No PTM at the start. On 03-05 08:00 a PTM change brings settings (0.1 mL over 10 min,
    lockout 2 h, 3 a day) and the patient's press log. The press on 03-04 predates it and is
    not in the PTM log; 03-06 09:00 is granted, 09:30 falls in the lockout, 11:00 is granted.
    03-06 delivers 0.5 mL basal + 2 x 0.1 mL."""
    ptm = PtmSettings(
        bolus_volume_ml=0.1, duration_days=10 / 1440, lockout_days=2 / 24, max_per_day=3
    )
    log = tuple(
        dt.datetime(2026, 3, d, h, m) for d, h, m in [(4, 9, 0), (6, 9, 0), (6, 9, 30), (6, 11, 0)]
    )
    change = PtmChange(at=dt.datetime(2026, 3, 5, 8, 0), ptm=ptm, demand=PtmDemand(presses=log))
    trace = simulate(therapy(), Timeline(entries=(change,)), days=6)
    assert [(p.time, p.decision) for p in trace.ptm_presses] == [
        (log[1], "granted"),
        (log[2], "lockout"),
        (log[3], "granted"),
    ]
    d6 = day(trace, dt.date(2026, 3, 6))
    assert (d6.ptm_granted, d6.ptm_denied) == (2, 1)
    assert d6.delivered_ml == pytest.approx(0.5 + 0.2, abs=ML)
    assert day(trace, dt.date(2026, 3, 4)).bolus_ml == 0.0


def test_a_demand_change_leaves_the_earlier_presses_as_they_were() -> None:
    """The same seed draws the same presses before a PTM change that brings a new demand; after
    it, presses follow the new (higher) rate."""
    ptm = PtmSettings(bolus_volume_ml=0.1, duration_days=10 / 1440, lockout_days=0, max_per_day=48)
    before = therapy(ptm=ptm, demand=PtmDemand(presses_per_day=2))
    switch = dt.datetime(2026, 3, 22, 8, 0)
    change = PtmChange(at=switch, ptm=ptm, demand=PtmDemand(presses_per_day=20))
    quiet = simulate(before, days=20, seed=4)
    busy = simulate(before, Timeline(entries=(change,)), days=40, seed=4)
    early = [p.day for p in busy.ptm_presses if p.day < 20]
    assert early and early == [p.day for p in quiet.ptm_presses]
    late = [p for p in busy.ptm_presses if p.time >= switch]
    assert len(late) > 10 * len(early) / 2  # 20 a day for 20 days vs 2 a day for 20 days


# ------------------------------------------------------------------ concentration change
def _concentration_change(bridge: bool, *later: Intervention) -> Trace:
    """10 mg/mL at 0.5 mL/day (5 mg/day), refill at 03-12 00:00 with 20 mg/mL at 0.25 mL/day
    (still 5 mg/day), then the ``later`` entries. Residual 0 so the reservoir holds only new
    fluid after the refill."""
    start = dt.datetime(2026, 3, 2, 0, 0)
    old = Infusate(drugs=(Drug(name="morphine", concentration_mg_per_ml=10, stability_days=90),))
    new = Infusate(drugs=(Drug(name="morphine", concentration_mg_per_ml=20, stability_days=90),))
    refill = Refill(
        at=dt.datetime(2026, 3, 12, 0, 0),
        fill_ml=20,
        infusate=new,
        program=Program.simple(0.25),
        bridge_bolus=bridge,
    )
    spec = pump(nonretrievable_residual_ml=0.0)
    return simulate(
        therapy(infusate=old, start=start, spec=spec), Timeline(entries=(refill, *later)), days=16
    )


def test_concentration_change_without_bridge_underdoses_for_dead_volume_over_new_rate() -> None:
    """Without a bridge the new rate 0.25 mL/day pushes the 0.5 mL of old 10 mg/mL fluid out
    first: 0.5 / 0.25 = 2 days at 0.25 × 10 = 2.5 mg/day (03-12 and 03-13), then
    0.25 × 20 = 5 mg/day from 03-14."""
    trace = _concentration_change(bridge=False)
    mg = {d.date: d.dose_mg["morphine"] for d in trace.daily}
    assert mg[dt.date(2026, 3, 11)] == pytest.approx(5.0, abs=1e-9)
    assert mg[dt.date(2026, 3, 12)] == pytest.approx(2.5, abs=1e-9)
    assert mg[dt.date(2026, 3, 13)] == pytest.approx(2.5, abs=1e-9)
    assert mg[dt.date(2026, 3, 14)] == pytest.approx(5.0, abs=1e-9)
    assert trace.first_event("bridge_bolus_start") is None


def test_concentration_change_with_bridge_keeps_the_old_dose() -> None:
    """With a bridge bolus the old program (0.5 mL/day) runs until the 0.5 mL dead volume has
    been pumped: 1 day at 0.5 × 10 = 5 mg/day, ending 03-13 00:00; from then 0.25 mL/day of
    20 mg/mL (the 0.5 mL of new fluid pumped during the bridge arrives first) = 5 mg/day."""
    trace = _concentration_change(bridge=True)
    assert events(trace, "bridge_bolus_start") == [dt.datetime(2026, 3, 12, 0, 0)]
    assert events(trace, "bridge_bolus_end") == [dt.datetime(2026, 3, 13, 0, 0)]
    for d in trace.daily[:-1]:
        assert d.dose_mg["morphine"] == pytest.approx(5.0, abs=1e-9), d.date
    assert day(trace, dt.date(2026, 3, 12)).delivered_ml == pytest.approx(0.5, abs=ML)
    assert day(trace, dt.date(2026, 3, 13)).delivered_ml == pytest.approx(0.25, abs=ML)


def test_reprogramming_during_a_bridge_cancels_it_and_the_new_program_stays() -> None:
    """The bridge of the concentration change starts 03-12 00:00 (0.5 mL to go at the old
    0.5 mL/day). At 03-12 12:00, 0.25 mL into it, the clinician programs 0.3 mL/day: the bridge
    is cancelled with 0.25 mL left and 0.3 mL/day runs from then on, not the 0.25 mL/day the
    bridge was waiting to start. 03-12 delivers 0.25 + 0.15 = 0.4 mL; 03-14 0.3 mL."""
    change = Reprogram(at=dt.datetime(2026, 3, 12, 12, 0), program=Program.simple(0.3))
    trace = _concentration_change(True, change)
    (cancelled,) = trace.events_of("bridge_bolus_cancelled")
    assert cancelled.time == dt.datetime(2026, 3, 12, 12, 0)
    assert cancelled.detail["left_ml"] == pytest.approx(0.25, abs=ML)
    assert not trace.events_of("bridge_bolus_end")
    assert day(trace, dt.date(2026, 3, 12)).delivered_ml == pytest.approx(0.4, abs=ML)
    for date in (dt.date(2026, 3, 14), dt.date(2026, 3, 17)):
        assert day(trace, date).delivered_ml == pytest.approx(0.3, abs=ML)


def test_nonretrievable_residual_mixes_with_the_new_fill() -> None:
    """25 mg/mL at 0.5 mL/day from 20 mL; refill at 03-12 08:00 (10 days, 15 mL left): 13.6 mL
    withdrawn, 1.4 mL of 25 mg/mL stays and mixes with 20 mL of 50 mg/mL →
    (35 + 1000) / 21.4 mg/mL. Once the 0.5 mL dead volume has passed (1 day), a full day
    delivers 0.5 × 1035 / 21.4 mg."""
    new = Infusate(drugs=(Drug(name="morphine", concentration_mg_per_ml=50, stability_days=90),))
    refill = Refill(at=dt.datetime(2026, 3, 12, 8, 0), fill_ml=20, infusate=new)
    trace = simulate(therapy(), Timeline(entries=(refill,)), days=16)
    (record,) = trace.refills
    assert record.withdrawn_ml == pytest.approx(13.6, abs=ML)
    assert record.discrepancy_ml == pytest.approx(0.0, abs=ML)
    assert day(trace, dt.date(2026, 3, 15)).dose_mg["morphine"] == pytest.approx(
        0.5 * 1035 / 21.4, abs=1e-9
    )


# ------------------------------------------------------------------ MRI
def test_mri_stall_gap_is_duration_plus_restart_delay() -> None:
    """1.44 mL/day (0.001 mL/min). MRI 03-03 10:00 for 45 min, restart delay 20 min: the motor
    stalls 10:00-11:05, motor_stall alarm on 10:00, off 11:05; 65 min and 0.065 mL missing on
    03-03 (1.375 mL delivered). The pump does not count while stalled, so the low-reservoir
    alarm, (20 - 2) / 1.44 = 12.5 days → 03-14 20:00, comes 65 min later: 21:05."""
    spec = pump(mri={"stalls": True, "restart_delay_days": 20 / 1440})
    mri = MriExposure(at=dt.datetime(2026, 3, 3, 10, 0), duration_days=45 / 1440)
    trace = simulate(therapy(Program.simple(1.44), spec=spec), Timeline(entries=(mri,)), days=13)
    stall = trace.first_alarm("motor_stall")
    assert stall is not None and stall.severity == "critical"
    assert stall.on_time == dt.datetime(2026, 3, 3, 10, 0)
    assert stall.off_time == dt.datetime(2026, 3, 3, 11, 5)
    assert events(trace, "mri_end") == [dt.datetime(2026, 3, 3, 10, 45)]
    d = day(trace, dt.date(2026, 3, 3))
    assert d.delivered_ml == pytest.approx(1.44 - 0.065, abs=ML)
    assert d.no_therapy_days == pytest.approx(65 / 1440, abs=1e-12)
    assert trace.no_therapy_days() == pytest.approx(65 / 1440, abs=1e-12)
    lra = trace.first_alarm("low_reservoir")
    assert lra is not None and lra.on_time == dt.datetime(2026, 3, 14, 21, 5)


# ------------------------------------------------------------------ refill faults
def test_pocket_fill() -> None:
    """0.5 mL/day from 20 mL; refill 04-01 08:00 (30 days, 5 mL left): 3.6 mL withdrawn,
    1.4 mL stays; the 20 mL injection (500 mg) goes into the pocket. The pump believes 20 mL
    (+1.4 mL uncounted residual), the reservoir holds 1.4 mL: actually dry 1.4 / 0.5 = 2.8 days
    later (04-04 03:12) although the low-reservoir alarm is 36 days away. At the next refill
    (05-01 08:00) the programmer expects 5 + 1.4 - 1.4 = 5 mL out, nothing comes: -5 mL."""
    timeline = Timeline(
        entries=(
            Refill(at=dt.datetime(2026, 4, 1, 8, 0), fill_ml=20, pocket_fill=True),
            Refill(at=dt.datetime(2026, 5, 1, 8, 0), fill_ml=20),
        )
    )
    trace = simulate(therapy(), timeline, days=65)
    first, second = trace.refills
    assert first.withdrawn_ml == pytest.approx(3.6, abs=ML)
    assert first.pocket_fill
    (pocket,) = trace.events_of("pocket_fill")
    assert pocket.time == dt.datetime(2026, 4, 1, 8, 0)
    assert pocket.detail["dose_mg"] == {"morphine": pytest.approx(500.0, abs=1e-9)}
    assert events(trace, "actual_dry") == [dt.datetime(2026, 4, 4, 3, 12)]
    assert second.calculated_ml == pytest.approx(5.0, abs=ML)
    assert second.expected_withdrawable_ml == pytest.approx(5.0, abs=ML)
    assert second.withdrawn_ml == pytest.approx(0.0, abs=ML)
    assert second.discrepancy_ml == pytest.approx(-5.0, abs=ML)
    gap = (dt.datetime(2026, 5, 1, 8) - dt.datetime(2026, 4, 4, 3, 12)).total_seconds() / 86400
    assert trace.no_therapy_days() == pytest.approx(gap, abs=1e-9)
    assert trace.first_alarm("low_reservoir") is None
    assert trace.balance is not None and trace.balance.pocket_ml == pytest.approx(20.0, abs=ML)
    assert events(trace, "therapy_resumed") == [dt.datetime(2026, 5, 1, 8, 0)]


@pytest.mark.parametrize("factor", [1.0, 1.1])
def test_occlusion_shows_as_surplus_at_next_refill(factor: float) -> None:
    """Occlusion 03-10 08:00 for 4 days at 0.5 mL/day: the pump counts 2 mL, nothing leaves.
    Refill 04-01 08:00 (30 days, 15 mL counted). Withdrawn minus expected =
    (1 - f) × 15 + f × 2 mL: 2.0 mL at f = 1, 0.7 mL at f = 1.1."""
    timeline = Timeline(
        entries=(
            CatheterOcclusion(at=dt.datetime(2026, 3, 10, 8, 0), duration_days=4),
            Refill(at=dt.datetime(2026, 4, 1, 8, 0), fill_ml=20),
        )
    )
    trace = simulate(therapy(), timeline, days=31, delivery_factor=factor)
    (record,) = trace.refills
    assert record.calculated_ml == pytest.approx(5.0, abs=ML)
    assert record.programmed_since_last_ml == pytest.approx(15.0, abs=ML)
    assert record.discrepancy_ml == pytest.approx((1 - factor) * 15 + factor * 2, abs=ML)
    assert events(trace, "occlusion_start") == [dt.datetime(2026, 3, 10, 8, 0)]
    assert events(trace, "occlusion_end") == [dt.datetime(2026, 3, 14, 8, 0)]
    assert trace.no_therapy_days() == pytest.approx(4.0, abs=1e-9)
    assert day(trace, dt.date(2026, 3, 11)).delivered_ml == 0.0


def test_disconnection_leaves_the_pump_but_not_into_the_patient() -> None:
    """Disconnected 03-10 08:00 for 2 days at 0.5 mL/day: 1 mL leaks, the patient gets
    0.5 × 8/24 on 03-10, nothing on 03-11, 0.5 × 16/24 on 03-12. The pump counted the leak,
    so the refill on 03-20 08:00 shows no discrepancy."""
    timeline = Timeline(
        entries=(
            CatheterDisconnection(at=dt.datetime(2026, 3, 10, 8, 0), duration_days=2),
            Refill(at=dt.datetime(2026, 3, 20, 8, 0), fill_ml=20),
        )
    )
    trace = simulate(therapy(), timeline, days=20)
    assert trace.balance is not None
    assert trace.balance.leaked_ml == pytest.approx(1.0, abs=ML)
    assert day(trace, dt.date(2026, 3, 10)).delivered_ml == pytest.approx(0.5 / 3, abs=ML)
    assert day(trace, dt.date(2026, 3, 11)).delivered_ml == 0.0
    assert day(trace, dt.date(2026, 3, 12)).delivered_ml == pytest.approx(1 / 3, abs=ML)
    assert events(trace, "reconnection") == [dt.datetime(2026, 3, 12, 8, 0)]
    assert trace.refills[0].discrepancy_ml == pytest.approx(0.0, abs=ML)
    assert trace.no_therapy_days() == pytest.approx(2.0, abs=1e-9)


# ------------------------------------------------------------------ priming
def test_priming_bolus_new_catheter() -> None:
    """New catheter at 09:00: the 0.5 mL dead volume now holds no drug (12.5 mg flushed). The
    priming bolus runs at 24 - 0.5 = 23.5 mL/day on top of the 0.5 mL/day basal, so 24 mL/day
    in all: the drug-free 0.5 mL has passed the tip at 0.5 / 24 day = 30 min (09:30); priming
    ends after 0.5 / 23.5 day (09:30:38). Until 09:30 the patient gets no drug after 09:00."""
    start = dt.datetime(2026, 3, 2, 8, 0)
    prime = Timeline(entries=(PrimingBolus(at=dt.datetime(2026, 3, 2, 9, 0)),))
    before = 0.5 / 24 * 25  # mg delivered 08:00-09:00

    early = simulate(therapy(start=start), prime, days=(60 + 29) / 1440)
    assert early.balance is not None
    assert early.balance.delivered_mg["morphine"] == pytest.approx(before, abs=1e-9)
    assert early.balance.flushed_mg["morphine"] == pytest.approx(12.5, abs=1e-9)

    late = simulate(therapy(start=start), prime, days=(60 + 40) / 1440)
    priming_days = 0.5 / 23.5
    pumped = 24 * priming_days + 0.5 * (40 / 1440 - priming_days)  # mL since 09:00
    assert late.balance is not None
    assert late.balance.delivered_mg["morphine"] == pytest.approx(
        before + (pumped - 0.5) * 25, abs=1e-9
    )
    assert events(late, "priming_bolus_end") == [at(1 / 24 + priming_days, start)]
    assert events(late, "priming_bolus_end")[0] == dt.datetime(2026, 3, 2, 9, 30, 38)


# ------------------------------------------------------------------ accuracy and battery
def test_delivery_factor_drift() -> None:
    """Factor 1.1 at 0.5 mL/day: after 30 days the pump believes 5 mL, the reservoir holds
    20 - 16.5 = 3.5 mL (drift 0.1 × 15 = 1.5 mL). Truly dry at 20 / 0.55 days, before the
    empty alarm at 40 days and just after the low-reservoir alarm at 36 days."""
    trace = simulate(therapy(), days=45, delivery_factor=1.1, sample_every_days=1.0)
    i = trace.samples.day.tolist().index(30.0)
    assert trace.samples.calculated_ml[i] == pytest.approx(5.0, abs=ML)
    assert trace.samples.actual_ml[i] == pytest.approx(3.5, abs=ML)
    dry = trace.first_event("actual_dry")
    assert dry is not None and dry.day == pytest.approx(20 / 0.55, abs=1e-9)
    lra = trace.first_alarm("low_reservoir")
    assert lra is not None and lra.on_time == dt.datetime(2026, 4, 7, 8, 0)


def test_battery_eri_and_eos_from_calibration() -> None:
    """Calibration: 7 years (2555 d) at 0.048 mL/day, 5 years (1825 d) at 1 mL/day →
    per mL k = (1/1825 - 1/2555) / 0.952, housekeeping h = 1/2555 - 0.048 k. At 0.5 mL/day the
    drain is h + 0.5 k per day; starting with 1 - 20 (h + 0.5 k) used, ERI is exactly 20 days
    away (03-22 08:00) and end of service 90 days later (06-20 08:00), when the motor stops."""
    battery = BatterySpec(
        life_at_min_rate_days=2555,
        life_at_reference_days=1825,
        reference_rate_ml_per_day=1.0,
        eri_to_eos_days=90,
    )
    k = (1 / 1825 - 1 / 2555) / (1 - 0.048)
    h = 1 / 2555 - 0.048 * k
    assert battery.drain_coefficients(0.048) == (pytest.approx(h), pytest.approx(k))
    state = PumpState(time=START, calculated_volume_ml=20, battery_used=1 - 20 * (h + 0.5 * k))
    refills = tuple(Refill(at=START + dt.timedelta(days=30 * n), fill_ml=20) for n in range(1, 5))
    trace = simulate(
        therapy(spec=pump(battery=battery), state=state), Timeline(entries=refills), days=120
    )
    eri, eos = trace.first_alarm("elective_replacement"), trace.first_alarm("end_of_service")
    assert eri is not None and eri.severity == "non-critical"
    assert eri.on_time == dt.datetime(2026, 3, 22, 8, 0)
    assert eos is not None and eos.severity == "critical"
    assert eos.on_time == dt.datetime(2026, 6, 20, 8, 0)
    assert day(trace, dt.date(2026, 6, 21)).delivered_ml == 0.0


# ------------------------------------------------------------------ empty reservoir
def test_empty_alarm_then_rate_after_empty_and_alarms_off_at_refill() -> None:
    """The pump believes 20 mL, the reservoir holds 22 mL; 0.5 mL/day, 0.1 mL/day after empty.
    Low-reservoir alarm 36 days (04-07 08:00), empty alarm 40 days (04-11 08:00) with 2 mL
    still there, pumped at 0.1 mL/day: dry 20 days later (05-01 08:00). The refill 05-05 08:00
    clears both alarms; the calculated volume stayed at 0 meanwhile."""
    spec = pump(rate_after_empty_ml_per_day=0.1)
    state = PumpState(time=START, calculated_volume_ml=20, actual_volume_ml=22)
    refill = Refill(at=dt.datetime(2026, 5, 5, 8, 0), fill_ml=20)
    trace = simulate(
        therapy(spec=spec, state=state),
        Timeline(entries=(refill,)),
        days=70,
        sample_every_days=1.0,
    )
    lra, empty = trace.first_alarm("low_reservoir"), trace.first_alarm("empty_reservoir")
    assert lra is not None and empty is not None
    assert lra.on_time == dt.datetime(2026, 4, 7, 8, 0)
    assert empty.on_time == dt.datetime(2026, 4, 11, 8, 0)
    assert lra.off_time == empty.off_time == dt.datetime(2026, 5, 5, 8, 0)
    assert day(trace, dt.date(2026, 4, 20)).delivered_ml == pytest.approx(0.1, abs=ML)
    assert events(trace, "actual_dry") == [dt.datetime(2026, 5, 1, 8, 0)]
    i = trace.samples.day.tolist().index(50.0)
    assert trace.samples.calculated_ml[i] == 0.0
    assert trace.samples.actual_ml[i] == pytest.approx(2.0 - 0.1 * 10, abs=ML)
    (record,) = trace.refills
    assert record.expected_withdrawable_ml == 0.0
    assert record.withdrawn_ml == 0.0


# ------------------------------------------------------------------ mixture
def test_daily_dose_per_drug_of_a_mixture() -> None:
    """Morphine 20 mg/mL + clonidine 0.1 mg/mL at 0.5 mL/day: a full day is 10 mg morphine and
    0.05 mg clonidine at the tip; the first (partial, 08-24) day two thirds of that."""
    mix = Infusate(
        drugs=(
            Drug(name="morphine", concentration_mg_per_ml=20, stability_days=90),
            Drug(name="clonidine", mass_unit="mcg", concentration_mg_per_ml=0.1, stability_days=90),
        )
    )
    trace = simulate(therapy(infusate=mix), days=5)
    full = day(trace, dt.date(2026, 3, 3))
    assert full.dose_mg["morphine"] == pytest.approx(10.0, abs=1e-9)
    assert full.dose_mg["clonidine"] == pytest.approx(0.05, abs=1e-12)
    first = day(trace, dt.date(2026, 3, 2))
    assert first.dose_mg["morphine"] == pytest.approx(10.0 * 2 / 3, abs=1e-9)
    assert first.dose_mg["clonidine"] == pytest.approx(0.05 * 2 / 3, abs=1e-12)
    assert trace.drug_units == {"morphine": "mg", "clonidine": "mcg"}


def test_dense_samples_are_streamed_in_bounded_batches_equal_to_kept_ones() -> None:
    """Minute samples of a simple program over 12 days: 17,281 points, linear between events,
    streamed in batches of at most FlowLog's chunk and identical to the kept table."""
    th = therapy(Program.simple(0.5), volume_ml=20.0)
    timeline = Timeline(entries=(Refill(at=START + dt.timedelta(days=6), fill_ml=10.0),))
    sizes: list[int] = []
    streamed: list[list[float]] = [[], [], []]

    def sink(*columns: Any) -> None:
        sizes.append(len(columns[0]))
        for keep, column in zip(streamed, columns, strict=True):
            keep.extend(column.tolist())

    kept = simulate(th, timeline, days=12, sample_every_days=1 / 1440)
    simulate(th, timeline, days=12, sample_every_days=1 / 1440, on_samples=sink)
    assert sum(sizes) == 12 * 1440 + 1 and max(sizes) <= SAMPLE_CHUNK < sum(sizes)
    assert streamed == [column.tolist() for column in kept.samples.arrays()]
    minute = kept.samples.day.tolist().index(1.0)  # day 1: 0.5 mL delivered, 19.5 mL left
    assert kept.samples.calculated_ml[minute] == pytest.approx(19.5, abs=ML)
    refill = kept.samples.day.tolist().index(6.0)  # the sample at the refill shows before it
    assert kept.samples.calculated_ml[refill] == pytest.approx(17.0, abs=ML)
    assert kept.samples.calculated_ml[refill + 1] == pytest.approx(10.0 - 0.5 / 1440, abs=ML)


def test_fluid_label_follows_the_infusate_across_a_concentration_change() -> None:
    """The fill records and the refill event name the fluid in the reservoir: 10 mg/mL at the
    start, 20 mg/mL from the refill at 03-12 00:00 (the label is worked out once per infusate,
    so a stale one would show here)."""
    trace = _concentration_change(bridge=False)
    assert [(f.time, f.fluid) for f in trace.fills] == [
        (dt.datetime(2026, 3, 2, 0, 0), "morphine 10 mg/mL"),
        (dt.datetime(2026, 3, 12, 0, 0), "morphine 20 mg/mL"),
    ]
    refill = trace.first_event("refill")
    assert refill is not None and refill.detail["fluid"] == "morphine 20 mg/mL"


def test_low_reservoir_alarm_after_a_raise_of_the_rate_comes_at_the_new_rate() -> None:
    """20 mL at 1 mL/day for 5 days leaves 15 mL at 03-07 08:00; reprogrammed to 10 mL/day the
    2 mL alarm comes (15 - 2) / 10 = 1.3 days later, 03-08 15:12, and empty (0 mL) 0.2 days
    after that, 03-08 20:00. The engine's short crossing solve was set up for 1 mL/day: the
    higher rate must be solved in full."""
    change = Reprogram(at=dt.datetime(2026, 3, 7, 8, 0), program=Program.simple(10.0))
    trace = simulate(therapy(Program.simple(1.0)), Timeline(entries=(change,)), days=8)
    on = {a.name: a.on_time for a in trace.alarms}
    assert on["low_reservoir"] == dt.datetime(2026, 3, 8, 15, 12)
    assert on["empty_reservoir"] == dt.datetime(2026, 3, 8, 20, 0)


# ------------------------------------------------------------------ the far bound
@pytest.mark.parametrize("above_ml", [-0.5, 0.0, 0.4e-9, 1e-9, 2e-9, 1e-6, 1.0])
def test_the_far_bound_stops_short_of_a_threshold_settle_would_already_see(
    above_ml: float,
) -> None:
    """``_far_bound`` is the time before which ``settle`` only ends patient boluses, so it must
    lie at or before the moment a threshold comes within ``settle``'s tolerance: here, with the
    calculated volume ``above_ml`` over the low-reservoir alarm (not yet on), at or before
    ``t + (above - 1e-9) / rate`` — now, when the volume is already within the tolerance or
    below the threshold."""
    from pumpsim.engine.pump import PumpModel

    th = therapy(volume_ml=20.0)
    trace = Trace(patient_id="far", origin=START, end_day=10.0, seed=0, delivery_factor=1.0)
    model = PumpModel(th, trace, 1.0)
    model.set_basal(0.5, 0.0)  # what the basal process sets first
    model.calculated_ml = model.low_reservoir_ml + above_ml
    model._far_rate = 0.0
    model._far_bound(0.0)
    rate = model.motor
    assert rate == 0.5 and model.low_reservoir_ml == 2.0
    assert model._far_until <= max(0.0, (above_ml - 1e-9) / rate) + 1e-15
