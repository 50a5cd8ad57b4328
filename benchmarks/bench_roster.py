"""A clinic roster: forecast time per patient at 10, 100 and 1,000 patients, and the speed-up
from the second core.

Each patient: 1,000 trajectories (``--runs``). Patients differ in pump, program, fill and PTM
use. Flat CPU time per patient across roster sizes means linear scaling. The largest roster is
then forecast with 1 and 2 workers in ``--rounds`` interleaved pairs (``_harness.interleave``);
the final line ``RATIO roster_forecast_two_workers_speedup`` is the median per-pair wall-clock
ratio (CPU over wall is printed too: 2.0 = both cores busy). Prints numbers measured in this run.
Run: ``python benchmarks/bench_roster.py [--runs N] [--sizes 10,100,1000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Stats, interleave, machine_load, ratio_line, ratio_of, timed  # noqa: E402

from pumpsim import load_catalog  # noqa: E402
from pumpsim.forecast import forecast_many  # noqa: E402
from pumpsim.models import (  # noqa: E402
    Catheter,
    Drug,
    FlexStep,
    Infusate,
    Program,
    PtmDemand,
    PtmSettings,
    PumpState,
    Therapy,
)


def roster(n: int) -> list[Therapy]:
    """``n`` varied patients (deterministic, no randomness in the roster itself)."""
    catalog = load_catalog()
    morphine = Drug.from_entry(catalog.drugs["morphine"], 10.0)  # within its dose limits
    out = []
    for i in range(n):
        pump = ("synchromed-ii-20", "synchromed-ii-40", "prometra-ii-20")[i % 3]
        capacity = catalog.pumps[pump].reservoir_ml
        rate = 0.2 + 0.05 * (i % 11)
        program = (
            Program.simple(rate)
            if i % 4
            else Program(
                mode="flex",
                steps=(
                    FlexStep(start_minute=0, rate_ml_per_day=rate * 0.8),
                    FlexStep(start_minute=480, rate_ml_per_day=rate * 1.2),
                ),
            )
        )
        with_ptm = i % 2 == 0
        out.append(
            Therapy(
                patient_id=f"bench-{i:04d}",
                pump=catalog.pumps[pump],
                infusate=Infusate(drugs=(morphine,)),
                catheter=Catheter(volume_ml_given=0.25),
                program=program,
                ptm=PtmSettings(
                    bolus_volume_ml=0.02, duration_days=10 / 1440, lockout_days=0.125, max_per_day=4
                )
                if with_ptm
                else None,
                demand=PtmDemand(presses_per_day=2 + i % 4, daily_cv=0.3) if with_ptm else None,
                state=PumpState(
                    time=dt.datetime(2026, 3, 2, 8) + dt.timedelta(hours=7 * i),
                    calculated_volume_ml=capacity * (0.5 + 0.5 * ((i * 7) % 10) / 10),
                    battery_used=(i % 10) / 20,
                ),
            )
        )
    return out


def run(patients: list[Therapy], runs: int, workers: int) -> None:
    forecast_many(patients, runs=runs, seed=1, workers=workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"roster forecast, {args.runs} runs per patient, {os.cpu_count()} cores")
    print(f"  {machine_load()}")
    run(roster(4), args.runs, 1)  # warm-up (imports, caches)
    for size in sizes:
        cpu, wall = timed(lambda size=size: run(roster(size), args.runs, 1))
        print(
            f"  {size:5d} patients, 1 worker: {wall:7.2f} s wall, "
            f"{cpu / size * 1e3:7.1f} ms CPU/patient"
        )
    size = max(sizes)
    patients = roster(size)
    samples = interleave(
        {f"{w} worker(s)": (lambda w=w: run(patients, args.runs, w)) for w in (1, 2)},
        args.rounds,
        warmup=0,
    )
    for name, side in samples.items():
        busy = Stats.of(c / w for c, w in zip(side.cpu, side.wall, strict=True))
        print(
            f"  {size} patients, {name}: wall {side.wall_stats.text()}; "
            f"cpu/wall {busy.text('', digits=2)}"
        )
    ratio = ratio_of(samples["1 worker(s)"].wall, samples["2 worker(s)"].wall)
    print(f"  wall ratio per pair (1 worker / 2 workers): {ratio.text('x', digits=2)}")
    print(f"  {machine_load()}")
    ratio_line("roster_forecast_two_workers_speedup", ratio.median, ">=", 1.7)


if __name__ == "__main__":
    main()
