"""Engine benchmark: cost per SimPy event against a bare SimPy timeout loop, measured in one run.

    python benchmarks/bench_engine.py [--repeat N]

1. One patient-year: 40 mL pump, 4-step flex program, about 3 PTM presses a day, monthly
   refills, hourly samples kept in the trace. The number of SimPy events the run processes is
   counted (``Environment.step`` calls, in a separate counting run), then the run is timed
   without the counter, interleaved with a bare SimPy loop of the same number of ``timeout``
   events (``--repeat`` pairs, CPU time). Printed: µs per event for each, the ratio of the best
   times and the median of the per-pair ratios (target: at most 5).
2. Ten years with monthly refills, samples streamed to a sink (``on_samples=``): CPU time
   (target: under 1 s).
3. Memory: ``tracemalloc`` peak for 1 and 10 years, with the sink and with the samples kept, for
   the PTM patient and for a patient without PTM (whose trace has few records). With the sink
   the peak does not grow with the sampled timeline (hourly vs 5-minute samples); what grows
   with the years is the trace's records (PTM log, daily summary).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import simpy

from pumpsim.engine import simulate
from pumpsim.models import (
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
from pumpsim.models.timeline import Refill, Timeline
from pumpsim.testing import REFERENCE_BATTERY, reference_pump

START = dt.datetime(2026, 3, 2, 8, 0)

PUMP = reference_pump(
    key="bench", name="Benchmark pump (SynchroMed II 40 mL-like)", battery=REFERENCE_BATTERY
)


def therapy(with_ptm: bool = True) -> Therapy:
    """4-step flex (mean 0.55 mL/day) of morphine 25 mg/mL; PTM 0.02 mL over 10 min, lockout
    2 h, at most 6 a day, pressed about 3 times a day."""
    steps = tuple(
        FlexStep(start_minute=m, rate_ml_per_day=r)
        for m, r in [(0, 0.4), (360, 0.7), (720, 0.6), (1080, 0.5)]
    )
    return Therapy(
        patient_id="bench",
        pump=PUMP,
        infusate=Infusate(
            drugs=(Drug(name="morphine", concentration_mg_per_ml=25, stability_days=90),)
        ),
        catheter=Catheter(volume_ml_given=0.3),
        program=Program(mode="flex", steps=steps),
        ptm=PtmSettings(
            bolus_volume_ml=0.02, duration_days=10 / 1440, lockout_days=2 / 24, max_per_day=6
        )
        if with_ptm
        else None,
        demand=PtmDemand(presses_per_day=3) if with_ptm else None,
        state=PumpState(time=START, calculated_volume_ml=40),
    )


def monthly_refills(days: int) -> Timeline:
    return Timeline(
        entries=tuple(
            Refill(at=START + dt.timedelta(days=30 * k), fill_ml=30)
            for k in range(1, days // 30 + 1)
        )
    )


def _sink(day: np.ndarray, calculated_ml: np.ndarray, actual_ml: np.ndarray) -> None:
    return None


def count_events(run: Callable[[], object]) -> int:
    """SimPy events processed by ``run`` (counted by wrapping ``Environment.step``)."""
    original = simpy.Environment.step
    count = 0

    def counting_step(env: simpy.Environment) -> None:
        nonlocal count
        count += 1
        original(env)

    simpy.Environment.step = counting_step  # type: ignore[method-assign]
    try:
        run()
    finally:
        simpy.Environment.step = original  # type: ignore[method-assign]
    return count


def bare_simpy(n_events: int) -> None:
    """``n_events`` SimPy events: a process of ``n_events - 3`` timeouts plus the three events
    SimPy itself adds around a process (start, end, run)."""
    env = simpy.Environment()

    def loop() -> simpy.events.ProcessGenerator:
        for _ in range(n_events - 3):
            yield env.timeout(0.01)

    env.process(loop())
    env.run()


def cpu_seconds(run: Callable[[], object]) -> float:
    """CPU time (s) of one run: process time, so that other jobs on a shared machine do not
    count against it."""
    gc.collect()
    t0 = time.process_time()
    run()
    return time.process_time() - t0


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """Best CPU time (s) of ``repeat`` runs."""
    return min(cpu_seconds(run) for _ in range(repeat))


def paired(
    repeat: int, engine: Callable[[], object], bare: Callable[[], object]
) -> tuple[float, float, float]:
    """Engine and bare runs interleaved, so that a slow spell of the machine hits both: the
    best time of each (s) and the median of the per-pair ratios engine / bare."""
    pairs = [(cpu_seconds(engine), cpu_seconds(bare)) for _ in range(repeat)]
    return (
        min(e for e, _ in pairs),
        min(b for _, b in pairs),
        statistics.median(e / b for e, b in pairs),
    )


def peak_bytes(run: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()

    year = therapy()
    year_tl = monthly_refills(365)

    def one_year() -> object:
        return simulate(year, year_tl, days=365, seed=1)

    trace = one_year()
    n = count_events(one_year)
    bare_n = count_events(lambda: bare_simpy(n))
    assert bare_n == n, (bare_n, n)
    engine_s, bare_s, median_ratio = paired(args.repeat, one_year, lambda: bare_simpy(n))
    per_engine, per_bare = engine_s / n * 1e6, bare_s / n * 1e6
    print("1 patient-year (4-step flex, PTM ~3/day, monthly refills, hourly samples kept)")
    print(
        f"  trace: {len(trace.events)} events, {len(trace.ptm_presses)} presses, "
        f"{len(trace.refills)} refills, {len(trace.samples.day)} samples"
    )
    print(f"  engine:     {n} SimPy events in {engine_s * 1e3:.1f} ms = {per_engine:.2f} µs/event")
    print(f"  bare SimPy: {n} timeouts    in {bare_s * 1e3:.1f} ms = {per_bare:.2f} µs/event")
    print(
        f"  ratio engine / bare SimPy: {per_engine / per_bare:.2f}x best/best, "
        f"{median_ratio:.2f}x median of {args.repeat} interleaved pairs (target <= 5x)"
    )

    def streamed() -> object:
        return simulate(year, year_tl, days=365, seed=1, on_samples=_sink)

    n_sink = count_events(streamed)
    sink_s, sink_bare_s, sink_median = paired(args.repeat, streamed, lambda: bare_simpy(n_sink))
    print(
        f"  same year, samples streamed: {n_sink} events in {sink_s * 1e3:.1f} ms = "
        f"{sink_s / n_sink * 1e6:.2f} µs/event, ratio {sink_s / sink_bare_s:.2f}x best/best, "
        f"{sink_median:.2f}x median"
    )

    decade = monthly_refills(3650)

    def ten_years() -> object:
        return simulate(year, decade, days=3650, seed=1, on_samples=_sink)

    ten_s = best_of(max(1, args.repeat // 2), ten_years)
    print(f"10 years, monthly refills, samples streamed: {ten_s:.3f} s CPU (target < 1 s)")

    print("tracemalloc peak (MiB), hourly samples:")
    print("  years | PTM sink | PTM kept | no-PTM sink | no-PTM kept | trace records (PTM)")
    quiet = therapy(with_ptm=False)
    for years in (1, 10):
        days = 365 * years
        tl = monthly_refills(days)
        row = []
        for th in (year, quiet):
            for sink in (_sink, None):
                row.append(
                    peak_bytes(
                        lambda th=th, sink=sink, tl=tl, days=days: simulate(
                            th, tl, days=days, seed=1, on_samples=sink
                        )
                    )
                    / 2**20
                )
        t = simulate(year, tl, days=days, seed=1, on_samples=_sink)
        records = len(t.events) + len(t.ptm_presses) + len(t.daily)
        print(f"  {years:>5} | " + " | ".join(f"{v:8.2f}" for v in row) + f" | {records}")
    fine = peak_bytes(
        lambda: simulate(
            quiet, decade, days=3650, seed=1, on_samples=_sink, sample_every_days=5 / 1440
        )
    )
    hourly = peak_bytes(lambda: simulate(quiet, decade, days=3650, seed=1, on_samples=_sink))
    print(
        f"10 years, no PTM, streamed: peak {hourly / 2**20:.2f} MiB with hourly samples "
        f"(87,600), {fine / 2**20:.2f} MiB with 5-min samples (1,051,200)"
    )


if __name__ == "__main__":
    main()
