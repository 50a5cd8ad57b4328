"""Vectorized Monte Carlo engine: cost against drawing its random numbers, and against SimPy.

10,000 trajectories over a 180-day horizon, PTM with lockout and a daily cap, day-to-day demand
variation, delivery factor spread over the rated accuracy. Prints ratios measured in this run:

* engine time / time to draw the same random numbers with NumPy alone (target <= 5);
* SimPy time per trajectory (a few hundred runs) / engine time per trajectory (target >= 100).

Run: ``python benchmarks/bench_montecarlo.py [--runs N] [--simpy-runs N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np

from pumpsim import load_catalog
from pumpsim.engine import simulate
from pumpsim.ensemble.montecarlo import FactorDistribution, Plan, chunk_seed, simulate_ensemble
from pumpsim.models import (
    Catheter,
    Drug,
    Infusate,
    Program,
    PtmDemand,
    PtmSettings,
    PumpState,
    Therapy,
)
from pumpsim.schedule.presses import day_grid

HORIZON_DAYS = 180.0


def bench_therapy() -> Therapy:
    """40 mL at 0.15 mL/day plus up to 4 boluses of 0.01 mL a day: empties after ~220 days, so
    every trajectory runs the whole 180-day horizon."""
    catalog = load_catalog()
    return Therapy(
        patient_id="bench",
        pump=catalog.pumps["synchromed-ii-40"],
        infusate=Infusate(drugs=(Drug.from_entry(catalog.drugs["morphine"], 25.0),)),
        catheter=Catheter(volume_ml_given=0.25),
        program=Program.simple(0.15),
        ptm=PtmSettings(
            bolus_volume_ml=0.01, duration_days=10 / 1440, lockout_days=3 / 24, max_per_day=4
        ),
        demand=PtmDemand(presses_per_day=4.0, daily_cv=0.3),
        state=PumpState(time=dt.datetime(2026, 3, 2, 9, 0), calculated_volume_ml=40.0),
    )


def draw_only(therapy: Therapy, runs: int, chunk: int, seed: int = 0) -> int:
    """Draw exactly the engine's random numbers (same sizes, same generator), nothing else."""
    plan = Plan.build(therapy, horizon_days=HORIZON_DAYS)
    starts, _, _ = day_grid(plan.therapy.state.time, plan.horizon_day)
    factor = FactorDistribution.for_therapy(therapy)
    demand = therapy.demand
    assert demand is not None and demand.presses_per_day is not None
    shape = 1.0 / demand.daily_cv**2
    total = 0
    for c, first in enumerate(range(0, runs, chunk)):
        n = min(chunk, runs - first)
        rng = np.random.Generator(np.random.PCG64(chunk_seed(seed, c)))
        factor.draw(rng, n)
        gamma = rng.gamma(shape, 1.0 / shape, (n, starts.size))
        counts = rng.poisson(demand.presses_per_day * gamma)
        total += int(counts.sum())
        rng.random(int(counts.sum()))
    return total


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--simpy-runs", type=int, default=300)
    args = parser.parse_args()
    therapy = bench_therapy()
    plan = Plan.build(therapy, horizon_days=HORIZON_DAYS)
    chunk = 4096

    engine = best_of(lambda: simulate_ensemble(therapy, runs=args.runs, seed=0, plan=plan))
    draws = best_of(lambda: draw_only(therapy, args.runs, chunk))
    ens = simulate_ensemble(therapy, runs=args.runs, seed=0, plan=plan)
    print(f"trajectories: {args.runs} over {HORIZON_DAYS:g} days")
    presses, granted = ens.ptm_presses.mean(), ens.ptm_granted.mean()
    print(f"  presses per trajectory: {presses:.1f}, granted {granted:.1f}")
    per_us = engine / args.runs * 1e6
    print(f"  vectorized engine:        {engine:8.3f} s  ({per_us:.1f} us/trajectory)")
    print(f"  NumPy draws alone:        {draws:8.3f} s")
    print(f"  ratio engine / draws:     {engine / draws:8.2f}   (target <= 5)")

    factors = FactorDistribution.for_therapy(therapy).draw(
        np.random.default_rng(1), args.simpy_runs
    )
    t0 = time.perf_counter()
    for i, f in enumerate(factors):
        simulate(therapy, days=HORIZON_DAYS, seed=i, delivery_factor=float(f), sample_every_days=30)
    simpy = (time.perf_counter() - t0) / args.simpy_runs
    per_traj = engine / args.runs
    print(f"  SimPy engine:             {simpy * 1e3:8.2f} ms/trajectory ({args.simpy_runs} runs)")
    print(f"  speed-up vs SimPy:        {simpy / per_traj:8.0f}x  (target >= 100)")


if __name__ == "__main__":
    main()
