"""The vectorized engine and the SimPy engine follow the same rules.

Both engines run the same therapies; the SimPy runs reuse the Monte Carlo run's delivery factors
(common random numbers), PTM presses are drawn independently by each engine. Alarm and dry times
are censored at the SimPy run length.

* Nine therapies (simple, flex by weekday, periodic bolus, Prometra, constant flow, long
  boluses, actual below calculated, PTM-heavy, clock-day cap at an odd start time): 10,000
  vectorized runs against a few hundred SimPy runs; each vectorized p05/p50/p95 must lie inside
  the 99.9 % distribution-free confidence interval of the SimPy quantile, and a two-sample KS
  test must not reject (p > 0.001).
* Two therapies (simple, and PTM-heavy: 12 presses a day, 1 h lockout, at most 8 a day) with
  10,000 runs in each engine: p05/p50/p95 agree within 0.1 day.

Set ``PUMPSIM_FULL_AGREEMENT=1`` to run all nine with 10,000 SimPy runs each (minutes).
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from pumpsim import load_catalog
from pumpsim.engine import simulate
from pumpsim.ensemble.montecarlo import simulate_ensemble
from pumpsim.models import (
    Catheter,
    DemandWindow,
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

FULL = os.environ.get("PUMPSIM_FULL_AGREEMENT") == "1"
SIMPY_RUNS = 10_000 if FULL else 240
MC_RUNS = 10_000
EVENTS = ("low_reservoir", "empty_reservoir", "actual_dry")


def _therapy(
    name: str,
    *,
    pump: str = "synchromed-ii-20",
    program: Program,
    volume_ml: float,
    ptm: PtmSettings | None = None,
    demand: PtmDemand | None = None,
    when: dt.datetime = dt.datetime(2026, 3, 2, 8, 0),
    actual_ml: float | None = None,
) -> Therapy:
    catalog = load_catalog()
    drug = Drug.from_entry(catalog.drugs["morphine"], 10.0)
    return Therapy(
        patient_id=name,
        pump=catalog.pumps[pump],
        infusate=Infusate(drugs=(drug,)),
        catheter=Catheter(volume_ml_given=0.2),
        program=program,
        ptm=ptm,
        demand=demand,
        state=PumpState(time=when, calculated_volume_ml=volume_ml, actual_volume_ml=actual_ml),
    )


ROLLING = PtmSettings(bolus_volume_ml=0.1, duration_days=1 / 48, lockout_days=1 / 8, max_per_day=3)
CLOCK = PtmSettings(
    bolus_volume_ml=0.08,
    duration_days=1 / 96,
    lockout_days=1 / 6,
    max_per_day=2,
    day_definition="clock",
)
PROFILE = (
    DemandWindow(start_minute=0, weight=0.2),
    DemandWindow(start_minute=480, weight=1.0),
    DemandWindow(start_minute=960, weight=2.0),
)
FLEX = Program(
    mode="flex",
    steps=(
        FlexStep(start_minute=0, rate_ml_per_day=0.5),
        FlexStep(start_minute=420, rate_ml_per_day=1.1),
        FlexStep(start_minute=1200, rate_ml_per_day=0.7),
    ),
    weekly={"sunday": (FlexStep(start_minute=0, rate_ml_per_day=0.4),)},
)
THERAPIES: dict[str, tuple[Therapy, float]] = {
    "simple-rolling": (
        _therapy(
            "simple-rolling",
            program=Program.simple(0.8),
            volume_ml=18.0,
            ptm=ROLLING,
            demand=PtmDemand(presses_per_day=4, daily_cv=0.5),
        ),
        26.0,
    ),
    "flex-weekday-clock": (
        _therapy(
            "flex-weekday-clock",
            program=FLEX,
            volume_ml=16.0,
            ptm=CLOCK,
            demand=PtmDemand(presses_per_day=3, profile=PROFILE),
        ),
        24.0,
    ),
    "periodic-bolus": (
        _therapy(
            "periodic-bolus",
            program=Program(
                mode="simple",
                rate_ml_per_day=0.6,
                periodic_boluses=(
                    PeriodicBolus(
                        start_minute=600, every_days=0.5, volume_ml=0.1, duration_days=1 / 24
                    ),
                ),
            ),
            volume_ml=15.0,
            ptm=ROLLING,
            demand=PtmDemand(presses_per_day=2),
        ),
        22.0,
    ),
    "prometra": (
        _therapy(
            "prometra",
            pump="prometra-ii-20",
            program=Program.simple(0.9),
            volume_ml=17.0,
            ptm=PtmSettings(
                bolus_volume_ml=0.05, duration_days=5 / 1440, lockout_days=4 / 24, max_per_day=4
            ),
            demand=PtmDemand(presses_per_day=5, daily_cv=0.3),
        ),
        24.0,
    ),
    "constant-flow": (
        _therapy(
            "constant-flow",
            pump="constant-flow-generic",
            program=Program.simple(1.0),
            volume_ml=20.0,
        ),  # fmt: skip
        25.0,
    ),
    "long-boluses": (
        _therapy(
            "long-boluses",
            pump="synchromed-ii-40",
            program=Program.simple(1.2),
            volume_ml=25.0,
            ptm=PtmSettings(
                bolus_volume_ml=0.2, duration_days=0.25, lockout_days=0.0, max_per_day=6
            ),
            demand=PtmDemand(presses_per_day=8, daily_cv=0.8),
        ),
        24.0,
    ),
    "actual-below-calculated": (
        _therapy(
            "actual-below-calculated",
            program=Program.simple(0.7),
            volume_ml=16.0,
            actual_ml=15.0,
            ptm=ROLLING,
            demand=PtmDemand(presses_per_day=3, profile=PROFILE),
        ),
        26.0,
    ),
    "ptm-heavy": (  # 12 presses a day against a 1 h lockout and at most 8 a day
        _therapy(
            "ptm-heavy",
            program=Program.simple(0.6),
            volume_ml=16.0,
            ptm=PtmSettings(
                bolus_volume_ml=0.05, duration_days=10 / 1440, lockout_days=1 / 24, max_per_day=8
            ),
            demand=PtmDemand(presses_per_day=12, daily_cv=0.3),
        ),
        22.0,
    ),
    "odd-start-clock-cap": (
        _therapy(
            "odd-start-clock-cap",
            program=FLEX,
            volume_ml=12.0,
            when=dt.datetime(2026, 3, 7, 23, 37),
            ptm=CLOCK,
            demand=PtmDemand(presses_per_day=6, daily_cv=0.4),
        ),
        18.0,
    ),
}


def _simpy_times(args: tuple[Therapy, float, list[float], int]) -> np.ndarray:
    """Alarm / dry days of SimPy runs with the given delivery factors (``inf`` = not reached)."""
    therapy, days, factors, first_seed = args
    out = np.full((len(factors), 3), np.inf)
    for i, factor in enumerate(factors):
        trace = simulate(
            therapy, days=days, seed=first_seed + i, delivery_factor=factor, sample_every_days=30
        )
        for j, name in enumerate(EVENTS[:2]):
            alarm = trace.first_alarm(name)
            if alarm is not None:
                out[i, j] = alarm.on_day
        dry = trace.first_event("actual_dry")
        if dry is not None:
            out[i, 2] = dry.day
    return out


def _both(therapy: Therapy, days: float, simpy_runs: int) -> tuple[np.ndarray, np.ndarray]:
    ens = simulate_ensemble(therapy, runs=MC_RUNS, seed=2026)
    low = ens.low_reservoir_day if ens.low_reservoir_day is not None else np.full(MC_RUNS, np.inf)
    mc = np.column_stack([low, ens.empty_day, ens.actual_dry_day])
    mc[mc > days] = np.inf
    factors = [float(f) for f in ens.delivery_factor[:simpy_runs]]
    if simpy_runs >= 2000:
        half = simpy_runs // 2
        jobs = [(therapy, days, factors[:half], 0), (therapy, days, factors[half:], half)]
        with ProcessPoolExecutor(max_workers=2) as pool:
            sim = np.vstack(list(pool.map(_simpy_times, jobs)))
    else:
        sim = _simpy_times((therapy, days, factors, 0))
    return mc, sim


def _rounded(x: np.ndarray, days: float) -> np.ndarray:
    """Equal instants reached by different float paths compare equal (1e-6 day = 0.09 s)."""
    return np.round(np.where(np.isfinite(x), x, days + 1.0), 6)


@pytest.mark.parametrize("name", list(THERAPIES))
def test_engines_agree_in_distribution(name: str) -> None:
    from scipy import stats  # here, not at collection: only the worker running this pays

    therapy, days = THERAPIES[name]
    mc, sim = _both(therapy, days, SIMPY_RUNS)
    n = sim.shape[0]
    for j, event in enumerate(EVENTS):
        a, b = _rounded(mc[:, j], days), _rounded(sim[:, j], days)
        if np.all(b == b[0]) and np.all(a == a[0]):
            assert a[0] == pytest.approx(b[0], abs=1e-6), event
            continue
        assert stats.ks_2samp(a, b).pvalue > 0.001, event
        ordered = np.sort(b)
        for q in (0.05, 0.5, 0.95):
            lo = max(int(stats.binom.ppf(0.0005, n, q)) - 1, 0)
            hi = min(int(stats.binom.ppf(0.9995, n, q)), n - 1)
            value = np.quantile(a, q, method="inverted_cdf")
            assert ordered[lo] - 0.02 <= value <= ordered[hi] + 0.02, (event, q)


@pytest.mark.parametrize("name", ["simple-rolling", "ptm-heavy"])
def test_engines_agree_within_a_tenth_of_a_day_with_10000_runs_each(name: str) -> None:
    from scipy import stats

    therapy, days = THERAPIES[name]
    mc, sim = _both(therapy, days, 10_000)
    for j, event in enumerate(EVENTS):
        a, b = _rounded(mc[:, j], days), _rounded(sim[:, j], days)
        for q in (0.05, 0.5, 0.95):
            qa = np.quantile(a, q, method="inverted_cdf")
            qb = np.quantile(b, q, method="inverted_cdf")
            assert abs(qa - qb) <= 0.1, (event, q, qa, qb)
        assert stats.ks_2samp(a, b).pvalue > 0.001, event
