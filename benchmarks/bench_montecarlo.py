"""Monte Carlo forecast: end-to-end cost against drawing its random numbers, and against SimPy.

    python benchmarks/bench_montecarlo.py [--runs N] [--rounds N] [--simpy-per-round N]

For two patients, the morphine example (profiles/patients/morphine-cancer-pain.yaml: 3 presses a
day, 3 h lockout, at most 4 a day) and a PTM-heavy variant of it (12 presses a day, 1 h lockout,
at most 8 a day):

1. ``pumpsim.forecast.probabilistic.forecast(therapy, runs=N, seed=...)`` end to end (what
   ``pumpsim forecast`` calls: the cycle, the plan, the ensemble, the deterministic dates,
   quantiles, the refill window), interleaved with the **draw floor**: exactly the random numbers
   that forecast's ensemble draws (the same generator, chunk streams and sizes: delivery factors,
   day-to-day gamma rates, Poisson counts per calendar day, one uniform per press), nothing
   else. ``--rounds`` interleaved pairs, CPU time; printed: medians with min-max and the median of
   the per-pair ratios (goal: at most 3 for the morphine example, 5 for the PTM-heavy patient).
2. The SimPy engine (``pumpsim.engine.simulate``): ``--simpy-per-round`` trajectories over the
   same horizon (the ensemble's first delivery factors, one seed each) as a third side of the
   same interleaved rounds; printed: CPU per trajectory and the median of the per-round ratios
   SimPy per trajectory / forecast per trajectory (goal: at least 300).

The final lines are ``RATIO <name> <value> goal <op> <goal>`` (``_harness.ratio_line``). The
first call of a process also loads numba and its compiled kernels (cached on disk); a warm-up
round before the timed pairs keeps that out of the medians, and it is printed separately.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _harness import Stats, interleave, machine_load, ratio_line, ratio_of, timed

from pumpsim.engine import simulate
from pumpsim.ensemble.montecarlo import DEFAULT_CHUNK, Plan, chunk_seed
from pumpsim.forecast.probabilistic import forecast
from pumpsim.io.profiles import load_therapy
from pumpsim.models import FactorDistribution, Therapy
from pumpsim.schedule.presses import Scratch, day_grid, profile_knots

ROOT = Path(__file__).resolve().parent.parent
MORPHINE = ROOT / "profiles" / "patients" / "morphine-cancer-pain.yaml"
SEED = 2026


def patients() -> dict[str, Therapy]:
    """The morphine example and its PTM-heavy variant (12 presses/day, 1 h lockout, cap 8)."""
    base = load_therapy(MORPHINE)
    assert base.ptm is not None and base.demand is not None
    heavy = base.model_copy(
        update={
            "patient_id": "bench-ptm-heavy",
            "ptm": base.ptm.model_copy(update={"lockout_days": 1 / 24, "max_per_day": 8}),
            "demand": base.demand.model_copy(update={"presses_per_day": 12.0}),
        }
    )
    return {"morphine": base, "ptm_heavy": heavy}


def draw_floor(therapy: Therapy, runs: int, seed: int) -> int:
    """Draw exactly the random numbers ``forecast(therapy, runs=runs, seed=seed)``'s ensemble
    draws (same generator, chunk streams and sizes), nothing else; returns the press count."""
    plan = Plan.build(therapy)
    demand = therapy.demand
    assert demand is not None and demand.presses_per_day is not None
    starts, lo, hi = day_grid(therapy.state.time, plan.horizon_day)
    fracs, cdf, _, _ = profile_knots(demand)
    mass = np.interp(hi, fracs, cdf) - np.interp(lo, fracs, cdf)
    mean = demand.presses_per_day * mass
    factor = FactorDistribution.for_therapy(therapy)
    shape = 1.0 / demand.daily_cv**2 if demand.daily_cv > 0 else None
    total, scratch = 0, Scratch()
    for c, first in enumerate(range(0, runs, DEFAULT_CHUNK)):
        n = min(DEFAULT_CHUNK, runs - first)
        rng = np.random.Generator(np.random.PCG64(chunk_seed(seed, c)))
        factor.draw(rng, n)
        rate = mean if shape is None else mean * rng.gamma(shape, 1.0 / shape, (n, starts.size))
        presses = int(rng.poisson(rate).sum())
        scratch.uniforms(rng, presses)  # as the forecast: one buffer for all its chunks
        total += presses
    return total


class SimpyBatch:
    """SimPy trajectories (``pumpsim.engine.simulate``) over the forecast's horizon, ``size`` per
    call, each call the next ones (seeds ``seed + i``, the ensemble's first delivery factors in
    order): one side of the interleaved rounds, so the machine's load falls on both engines."""

    def __init__(self, therapy: Therapy, size: int, seed: int) -> None:
        self.therapy, self.size, self.seed = therapy, size, seed
        self.horizon_day = Plan.build(therapy).horizon_day
        self.factors = FactorDistribution.for_therapy(therapy).draw(
            np.random.default_rng(seed), 10_000
        )
        self.done = 0

    def __call__(self) -> None:
        for _ in range(self.size):
            i = self.done % self.factors.size
            simulate(
                self.therapy,
                days=self.horizon_day,
                seed=self.seed + i,
                delivery_factor=float(self.factors[i]),
                sample_every_days=30,
            )
            self.done += 1


def bench_patient(name: str, therapy: Therapy, args: argparse.Namespace) -> tuple[float, float]:
    """Print one patient's figures; returns (forecast / draws median ratio, SimPy speed-up)."""
    first_cpu, _ = timed(lambda: forecast(therapy, runs=args.runs, seed=SEED))
    result = forecast(therapy, runs=args.runs, seed=SEED)
    presses = draw_floor(therapy, args.runs, SEED)
    print(f"\n{name}: {args.runs:,} runs, horizon {(result.horizon_end - result.state_time)}")
    print(f"  presses drawn: {presses / args.runs:.1f} per trajectory")
    print(f"  granted: {result.ptm_granted_per_day:.2f} boluses/day")
    print(f"  first forecast() of this patient (warm-up): {first_cpu:.3f} s CPU")
    simpy = SimpyBatch(therapy, args.simpy_per_round, SEED)
    samples = interleave(
        {
            "forecast": lambda: forecast(therapy, runs=args.runs, seed=SEED),
            "draws": lambda: draw_floor(therapy, args.runs, SEED),
            "simpy": simpy,
        },
        rounds=args.rounds,
    )
    fc, dr = samples["forecast"].cpu_stats, samples["draws"].cpu_stats
    pair = ratio_of(samples["forecast"].cpu, samples["draws"].cpu)
    print(f"  forecast() end to end: {fc.text()}")
    print(f"  draw floor:            {dr.text()}")
    print(f"  forecast / draws:      {pair.text('x', digits=2)} (per-pair ratios)")
    sim = Stats.of(c / args.simpy_per_round for c in samples["simpy"].cpu)
    per_traj = [c / args.runs for c in samples["forecast"].cpu]
    speedup = ratio_of([c / args.simpy_per_round for c in samples["simpy"].cpu], per_traj)
    print(f"  SimPy engine:          {sim.text('ms', 1e3, 2)} per trajectory")
    print(f"  forecast():            {fc.median / args.runs * 1e6:.1f} us per trajectory")
    print(f"  speed-up vs SimPy:     {speedup.text('x', digits=0)} (per-round ratios)")
    return pair.median, speedup.median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--simpy-per-round", type=int, default=3)
    args = parser.parse_args()
    print(machine_load())
    t0 = time.process_time()
    results = {name: bench_patient(name, th, args) for name, th in patients().items()}
    print(f"\n{machine_load()} (after {time.process_time() - t0:.0f} s CPU)")
    goals = {"morphine": 3.0, "ptm_heavy": 5.0}
    for name, (ratio, _) in results.items():
        ratio_line(f"forecast_vs_draws_{name}", ratio, "<=", goals[name])
    for name, (_, speedup) in results.items():
        ratio_line(f"speedup_vs_simpy_{name}", speedup, ">=", 300)


if __name__ == "__main__":
    main()
