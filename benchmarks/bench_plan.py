"""Benchmark: the clinic planner's second core, and its cost against the roster size.

    python benchmarks/bench_plan.py [--runs 10000] [--rounds 2] [--scale-runs 200]
                                    [--sizes 100 1000 10000] [--memory-sizes ...]
                                    [--skip-speedup] [--skip-scaling]

1. **Second worker.** ``pumpsim plan profiles/rosters/clinic-1000.csv --start 2026-03-09
   --weeks 13 --json`` (the CLI's defaults otherwise: ``--runs 10000``, capacity 8) with
   ``--workers 1`` and ``--workers 2``, in interleaved pairs (``_harness.interleave``, no warm-up:
   a user pays the pool's start too). Prints the wall-clock medians with min-max, the CPU time of
   the CLI and its workers over the wall time (2.0 = both cores busy the whole run), the per-pair
   wall ratio, and checks the two plans are the same JSON. Final line
   ``RATIO plan_two_workers_speedup``.
2. **Cost against patients.** ``plan_clinic`` on rosters from ``make_roster.make_rows`` of each
   ``--sizes`` (``--scale-runs`` runs per forecast, all cores, 13 weeks, four nurse pools with 3
   refills per open day per 100 patients in all), one plan each; the exponent is the
   least-squares slope of log CPU time (the planner's and its workers': a loaded machine
   disturbs it less than the wall clock, whose slope is printed too) against log patients
   (1.00 = linear). Final line ``RATIO plan_cost_exponent``.
3. **Memory.** A pass with 20 runs per forecast under ``tracemalloc`` over ``--memory-sizes``
   (default: ``--sizes``) gives the planning process's peak memory per patient (the forecasts
   run in the workers).

Run from the project root. The machine's load is printed before and after each part.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Stats, interleave, machine_load, ratio_line, ratio_of, timed  # noqa: E402
from make_roster import make_rows, roster_csv  # noqa: E402

from pumpsim.clinic.calendar import ClinicCalendar  # noqa: E402
from pumpsim.clinic.planner import plan_clinic  # noqa: E402
from pumpsim.clinic.windows import ForecastWindowSource  # noqa: E402
from pumpsim.io.roster import Roster, load_roster  # noqa: E402

START = dt.date(2026, 3, 9)
ROSTER = ROOT / "profiles" / "rosters" / "clinic-1000.csv"
NURSES = ("Nurse A", "Nurse B", "Nurse C", "Nurse D")  # make_roster's four pools


# ---------------------------------------------------------------- 1. the second worker
def cli_plan(workers: int, runs: int, out: dict[int, bytes]) -> None:
    """One ``pumpsim plan`` of clinic-1000 (13 weeks) with ``workers``; keeps its JSON."""
    command = [sys.executable, "-m", "pumpsim", "plan", str(ROSTER), "--start", str(START)]
    command += ["--weeks", "13", "--runs", str(runs), "--workers", str(workers), "--json"]
    done = subprocess.run(command, capture_output=True, check=True, cwd=ROOT)
    out[workers] = done.stdout


def speedup(runs: int, rounds: int) -> float:
    print(f"1. pumpsim plan {ROSTER.name}, 13 weeks, {runs} runs, 1 vs 2 workers, {rounds} pairs")
    print(f"   {machine_load()}")
    plans: dict[int, bytes] = {}
    samples = interleave(
        {f"{w} worker(s)": (lambda w=w: cli_plan(w, runs, plans)) for w in (1, 2)},
        rounds,
        warmup=0,
    )
    one, two = samples["1 worker(s)"], samples["2 worker(s)"]
    for name, side in samples.items():
        busy = Stats.of(c / w for c, w in zip(side.cpu, side.wall, strict=True))
        print(f"   {name}: wall {side.wall_stats.text()}; cpu/wall {busy.text('', digits=2)}")
    ratio = ratio_of(one.wall, two.wall)
    print(f"   wall ratio per pair: {ratio.text('x', digits=2)}")
    print(f"   plans identical: {'yes' if plans[1] == plans[2] else 'NO'}")
    print(f"   {machine_load()}")
    return ratio.median


# ---------------------------------------------------------------- 2. cost against patients
def roster_of(patients: int) -> Roster:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.csv"
        path.write_text(roster_csv(make_rows(patients, 1, START)), encoding="utf-8")
        return load_roster(path)


def calendar_for(patients: int, weeks: int = 13) -> ClinicCalendar:
    """Four nurse pools sharing 3 refills per open day per 100 patients."""
    per_nurse = max(1, round(0.75 * patients / 100))
    return ClinicCalendar(
        start=START,
        end=START + dt.timedelta(weeks=weeks, days=-1),
        slot_minutes=max(5, min(30, 480 // per_nurse)),
        pool_by="nurse",
        pool_capacity=dict.fromkeys(NURSES, per_nurse),
        country="DE",
        timezone="Europe/Berlin",
    )


def plan_once(roster: Roster, calendar: ClinicCalendar, runs: int) -> tuple[int, int, int]:
    """(appointments, windows asked for, of them started a day ahead)."""
    with ForecastWindowSource(runs=runs, risk=0.01, seed=0) as source:
        plan = plan_clinic(roster, calendar, source)
        return len(plan.appointments), source.asked, source.ahead


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )


def scaling(sizes: list[int], runs: int) -> float:
    print(f"2. plan_clinic, {runs} runs per forecast, {os.cpu_count()} workers, 13 weeks")
    print(f"   {machine_load()}")
    cpu, wall = [], []
    for size in sizes:
        roster, calendar = roster_of(size), calendar_for(size)
        counts: list[tuple[int, int, int]] = []
        c, w = timed(lambda r=roster, k=calendar, o=counts: o.append(plan_once(r, k, runs)))
        cpu.append(c)
        wall.append(w)
        booked, asked, ahead = counts[0]
        print(
            f"   {size:6d} patients: CPU {c:8.1f} s ({1000 * c / size:6.1f} ms/patient), wall "
            f"{w:8.1f} s ({1000 * w / size:6.1f} ms/patient); {booked} refills, {asked} windows "
            f"({ahead} started a day ahead)",
            flush=True,
        )
    sizes_f = [float(s) for s in sizes]
    exponent = slope(sizes_f, cpu)
    print(f"   cost exponent, CPU time of the planner and its workers: {exponent:.3f}")
    print(f"   cost exponent, wall time: {slope(sizes_f, wall):.3f}")
    print(f"   {machine_load()}", flush=True)
    return exponent


def memory(sizes: list[int]) -> None:
    """The planning process's tracemalloc peak per patient (20 runs per forecast). The pool
    starts its workers from a fork server: forked ones would inherit the tracing (and crawl)."""
    multiprocessing.set_start_method("forkserver", force=True)
    print(f"3. planning memory, 20 runs per forecast, {os.cpu_count()} workers, 13 weeks")
    for size in sizes:
        roster, calendar = roster_of(size), calendar_for(size)
        tracemalloc.start()
        plan_once(roster, calendar, 20)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"   {size:6d} patients: planning peak {peak / 2**20:7.1f} MiB, "
            f"{peak / size:8.0f} B/patient (tracemalloc)",
            flush=True,
        )
    print(f"   {machine_load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scale-runs", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10_000])
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=None)
    parser.add_argument("--skip-speedup", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    ratio = None if args.skip_speedup else speedup(args.runs, args.rounds)
    exponent = None
    if not args.skip_scaling and len(args.sizes) >= 2:
        exponent = scaling(args.sizes, args.scale_runs)
    if not args.skip_scaling:
        memory(args.sizes if args.memory_sizes is None else args.memory_sizes)
    if ratio is not None:
        ratio_line("plan_two_workers_speedup", ratio, ">=", 1.7)
    if exponent is not None:
        ratio_line("plan_cost_exponent", exponent, "<=", 1.05)


if __name__ == "__main__":
    main()
