"""Invariants of the engine over random programs, demand, delivery factors and timelines.

Each example is a run of up to three years (refills with new concentrations or mixtures, new
programs with or without a bridge bolus, pocket fills, MRI, occlusions, disconnections, priming
boluses), so the examples are few. The rules:

* conservation: everything put in (fills, the initial content, priming fluid) equals delivered +
  reservoir + dead volume + withdrawn + leaked + pocket + flushed, to 1e-9 mL, and the same for
  each drug's mass (to the mass of 1e-9 mL at the highest concentration);
* no volume is ever negative and the dead volume stays full;
* between two samples with no refill, occlusion, actual dry or empty clamp in between, the actual
  volume falls by exactly the delivery factor × the calculated (programmed) fall;
* both volumes never rise between refills;
* the same seed gives the identical trace (events, presses, days, samples).
"""

from __future__ import annotations

import datetime as dt
import gc
import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpsim.engine import Trace, simulate
from pumpsim.models import (
    Catheter,
    Drug,
    FlexStep,
    Infusate,
    PeriodicBolus,
    Program,
    PtmDemand,
    PtmSettings,
    PumpState,
    Therapy,
)
from pumpsim.models.timeline import (
    CatheterDisconnection,
    CatheterOcclusion,
    MriExposure,
    PrimingBolus,
    Refill,
    Timeline,
)
from pumpsim.testing import REFERENCE_BATTERY, reference_pump

ML = 1e-9
START = dt.datetime(2026, 3, 2, 8, 0)
SLOW = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PUMP = reference_pump(
    key="inv",
    name="Invariant pump",
    rated_accuracy=0.15,
    battery=REFERENCE_BATTERY,
    mri={"stalls": True, "restart_delay_days": 20 / 1440},
)

FLUIDS = (
    Infusate(drugs=(Drug(name="morphine", concentration_mg_per_ml=10, stability_days=90),)),
    Infusate(drugs=(Drug(name="morphine", concentration_mg_per_ml=25, stability_days=90),)),
    Infusate(
        drugs=(
            Drug(name="morphine", concentration_mg_per_ml=20, stability_days=90),
            Drug(name="clonidine", concentration_mg_per_ml=0.1, stability_days=90),
        )
    ),
    Infusate(
        drugs=(
            Drug(name="hydromorphone", concentration_mg_per_ml=5, stability_days=90),
            Drug(name="bupivacaine", concentration_mg_per_ml=15, stability_days=90),
        )
    ),
)
MAX_CONC = 25.0

rates = st.floats(0.1, 1.0).map(lambda r: round(r, 3))


@st.composite
def steps(draw: st.DrawFn) -> tuple[FlexStep, ...]:
    starts = sorted(draw(st.sets(st.integers(1, 1439), max_size=3)))
    return tuple(FlexStep(start_minute=m, rate_ml_per_day=draw(rates)) for m in [0, *starts])


@st.composite
def programs(draw: st.DrawFn) -> Program:
    kind = draw(st.sampled_from(["simple", "flex", "weekly"]))
    boluses = tuple(
        PeriodicBolus(
            start_minute=draw(st.integers(0, 1439)),
            every_days=draw(st.sampled_from([0.25, 0.5, 1.0, 2.0])),
            volume_ml=draw(st.sampled_from([0.02, 0.05, 0.1])),
            duration_days=draw(st.sampled_from([10 / 1440, 30 / 1440, 0.1])),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    if kind == "simple":
        return Program(mode="simple", rate_ml_per_day=draw(rates), periodic_boluses=boluses)
    weekly = {}
    if kind == "weekly":
        for name in draw(st.sets(st.sampled_from(["saturday", "sunday", "wednesday"]))):
            weekly[name] = draw(steps())
    return Program(mode="flex", steps=draw(steps()), weekly=weekly, periodic_boluses=boluses)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Therapy, Timeline, float, float]:
    """A therapy, a timeline over ``days`` and a delivery factor."""
    days = float(draw(st.sampled_from([60, 200, 400, 1100])))
    fluid = draw(st.sampled_from(FLUIDS))
    use_ptm = draw(st.booleans())
    ptm = demand = None
    if use_ptm:
        ptm = PtmSettings(
            bolus_volume_ml=draw(st.sampled_from([0.02, 0.05, 0.1])),
            duration_days=draw(st.sampled_from([10 / 1440, 15 / 1440, 1 / 24])),
            lockout_days=draw(st.sampled_from([0.0, 1 / 24, 3 / 24])),
            max_per_day=draw(st.integers(1, 8)),
            day_definition=draw(st.sampled_from(["rolling", "clock"])),
        )
        demand = PtmDemand(
            presses_per_day=draw(st.floats(0, 6)), daily_cv=draw(st.sampled_from([0, 0.5]))
        )
    therapy = Therapy(
        patient_id="inv",
        pump=PUMP,
        infusate=fluid,
        catheter=Catheter(volume_ml_given=draw(st.sampled_from([0.0, 0.1, 0.3]))),
        program=draw(programs()),
        ptm=ptm,
        demand=demand,
        state=PumpState(
            time=START,
            calculated_volume_ml=draw(st.floats(2, 40)),
            actual_volume_ml=draw(st.none() | st.floats(0, 40)),
            battery_used=draw(st.sampled_from([0.0, 0.5, 0.95])),
        ),
    )
    entries: list[Any] = []
    minute = 0
    end_minute = int(days * 1440)
    while True:
        minute += draw(st.integers(1440, 45 * 1440))
        if minute >= end_minute:
            break
        at = START + dt.timedelta(minutes=minute)
        action = draw(
            st.sampled_from(
                ["refill"] * 6 + ["mri", "occlusion", "disconnection", "priming", "pocket"]
            )
        )
        if action in ("refill", "pocket"):
            new_fluid = draw(st.none() | st.sampled_from(FLUIDS))
            program = draw(st.none() | programs())
            entries.append(
                Refill(
                    at=at,
                    fill_ml=draw(st.floats(5, 40)),
                    entered_ml=draw(st.none() | st.floats(5, 40)),
                    infusate=new_fluid,
                    program=program,
                    bridge_bolus=program is not None and draw(st.booleans()),
                    pocket_fill=action == "pocket",
                )
            )
        elif action == "mri":
            entries.append(MriExposure(at=at, duration_days=draw(st.floats(0.01, 1))))
        elif action == "occlusion":
            entries.append(CatheterOcclusion(at=at, duration_days=draw(st.floats(0.1, 10))))
        elif action == "disconnection":
            entries.append(CatheterDisconnection(at=at, duration_days=draw(st.floats(0.1, 5))))
        else:
            entries.append(PrimingBolus(at=at, new_catheter=draw(st.booleans())))
    factor = draw(st.floats(0.85, 1.15))
    return therapy, Timeline(entries=tuple(entries)), days, factor


def _run(scenario: tuple[Therapy, Timeline, float, float], seed: int = 7) -> Trace:
    therapy, timeline, days, factor = scenario
    return simulate(
        therapy, timeline, days=days, seed=seed, delivery_factor=factor, sample_every_days=0.25
    )


@SLOW
@given(scenarios())
def test_conservation_of_volume_and_of_each_drug(
    scenario: tuple[Therapy, Timeline, float, float],
) -> None:
    trace = _run(scenario)
    b = trace.balance
    assert b is not None
    accounted = (
        b.delivered_ml
        + b.reservoir_ml
        + b.dead_volume_ml
        + b.withdrawn_ml
        + b.leaked_ml
        + b.pocket_ml
        + b.flushed_ml
    )
    assert math.isclose(b.put_in_ml, accounted, rel_tol=0, abs_tol=ML)
    drugs = set(b.put_in_mg)
    for part in (b.delivered_mg, b.reservoir_mg, b.dead_volume_mg, b.withdrawn_mg):
        assert set(part) <= drugs
    for name in drugs:
        mass = sum(
            part.get(name, 0.0)
            for part in (
                b.delivered_mg,
                b.reservoir_mg,
                b.dead_volume_mg,
                b.withdrawn_mg,
                b.leaked_mg,
                b.pocket_mg,
                b.flushed_mg,
            )
        )
        assert math.isclose(b.put_in_mg[name], mass, rel_tol=0, abs_tol=ML * MAX_CONC), name
    assert math.isclose(
        sum(d.delivered_ml for d in trace.daily), b.delivered_ml, rel_tol=0, abs_tol=ML
    )
    for name in drugs:
        daily = sum(d.dose_mg.get(name, 0.0) for d in trace.daily)
        assert math.isclose(daily, b.delivered_mg.get(name, 0.0), rel_tol=0, abs_tol=ML * MAX_CONC)


def _disrupted(trace: Trace) -> list[tuple[float, float]]:
    """Closed day intervals in which the drift rule is suspended: refills, occlusions (the pump
    counts, nothing leaves) and the instant the reservoir ran dry."""
    spans = [(r.day, r.day) for r in trace.refills]
    spans += [(e.day, e.day) for e in trace.events_of("actual_dry")]
    starts = [e.day for e in trace.events_of("occlusion_start")]
    ends = [e.day for e in trace.events_of("occlusion_end")]
    for i, s in enumerate(starts):
        spans.append((s, ends[i] if i < len(ends) else math.inf))
    return spans


@SLOW
@given(scenarios())
def test_volumes_never_negative_drift_equals_factor_and_monotone_between_refills(
    scenario: tuple[Therapy, Timeline, float, float],
) -> None:
    factor = scenario[3]
    trace = _run(scenario)
    days, calc, actual = trace.samples.day, trace.samples.calculated_ml, trace.samples.actual_ml
    assert days[0] == 0.0 and math.isclose(days[-1], trace.end_day, abs_tol=1e-9)
    assert min(calc) >= 0.0 and min(actual) >= 0.0
    assert trace.balance is not None
    assert trace.balance.reservoir_ml >= 0.0
    assert math.isclose(
        trace.balance.dead_volume_ml, scenario[0].dead_volume_ml, rel_tol=0, abs_tol=ML
    )
    refill_days = [r.day for r in trace.refills]
    disrupted = _disrupted(trace)

    for k in range(len(days) - 1):
        a, b = days[k], days[k + 1]
        if any(a - 1e-9 <= r <= b + 1e-9 for r in refill_days):
            continue
        assert calc[k + 1] <= calc[k] + 1e-12
        assert actual[k + 1] <= actual[k] + 1e-12
        if calc[k + 1] <= 0.0 or actual[k + 1] <= 0.0:
            continue  # clamped at empty: the pump keeps counting below zero no more
        if any(s - 1e-9 <= b and a <= e + 1e-9 for s, e in disrupted):
            continue
        programmed = calc[k] - calc[k + 1]
        assert math.isclose(actual[k] - actual[k + 1], factor * programmed, abs_tol=ML)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2**32 - 1))
def test_same_seed_gives_the_identical_trace(
    scenario: tuple[Therapy, Timeline, float, float], seed: int
) -> None:
    one, two = _run(scenario, seed), _run(scenario, seed)
    assert one.events == two.events
    assert one.ptm_presses == two.ptm_presses
    assert one.daily == two.daily
    assert one.alarms == two.alarms
    assert one.refills == two.refills
    assert one.samples == two.samples
    assert one.to_dict() == two.to_dict()


@SLOW
@given(scenarios(), st.integers(0, 2**32 - 1))
def test_streamed_samples_equal_kept_samples_and_change_nothing_else(
    scenario: tuple[Therapy, Timeline, float, float], seed: int
) -> None:
    therapy, timeline, days, factor = scenario
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def sink(day: np.ndarray, calculated_ml: np.ndarray, actual_ml: np.ndarray) -> None:
        chunks.append((day.copy(), calculated_ml.copy(), actual_ml.copy()))

    kept = _run(scenario, seed)
    streamed = simulate(
        therapy,
        timeline,
        days=days,
        seed=seed,
        delivery_factor=factor,
        sample_every_days=0.25,
        on_samples=sink,
    )
    assert streamed.samples.day.size == 0
    joined = [np.concatenate(column) for column in zip(*chunks, strict=True)]
    for got, want in zip(joined, kept.samples.arrays(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.all(np.diff(joined[0]) > 0)
    assert streamed.events == kept.events
    assert streamed.daily == kept.daily
    assert streamed.balance == kept.balance


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_finished_run_leaves_no_reference_cycle(
    scenario: tuple[Therapy, Timeline, float, float],
) -> None:
    """Whatever the run did (refills, reprogramming with a bridge, MRI, faults, PTM), nothing
    of it is left for the cyclic garbage collector: reference counting frees it all, so a long
    cohort of runs does not pay for collector passes over old runs. (The scenario runs once
    first: compiling a kernel on its first call leaves numba's own garbage.)"""
    _run(scenario)
    gc.collect()
    gc.disable()
    try:
        trace = _run(scenario)
        daily = trace.daily
        assert trace.daily is daily  # the day records are built once, when first read
        del trace, daily
        assert gc.collect() == 0
    finally:
        gc.enable()
