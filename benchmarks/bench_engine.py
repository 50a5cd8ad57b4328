"""Engine benchmark: cost per SimPy event against a bare SimPy timeout loop, measured in one run.

    python benchmarks/bench_engine.py [--repeat N]

1. One patient-year: 40 mL pump, 4-step flex program, about 3 PTM presses a day, monthly
   refills, hourly samples kept in the trace. The number of SimPy events the run processes is
   counted (``Environment.step`` calls, in a separate counting run), then the run is timed
   without the counter (best of ``--repeat``). A bare SimPy loop of the same number of
   ``timeout`` events is timed the same way. Printed: µs per event for each and the ratio
   (target: at most 5).
2. Ten years with monthly refills, samples streamed to a sink (``on_sample=``): wall time
   (target: under 1 s).
3. Memory: ``tracemalloc`` peak for 1 and 10 years, with the sink and with the samples kept, for
   the PTM patient and for a patient without PTM (whose trace has few records). With the sink
   the peak does not grow with the sampled timeline; what grows is the trace's event records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import time
import tracemalloc
from collections.abc import Callable

import simpy

from pumpsim.engine import simulate
from pumpsim.models import (
    AlarmRange,
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
from pumpsim.timeline import Refill, Timeline

START = dt.datetime(2026, 3, 2, 8, 0)

PUMP = PumpSpec(
    key="bench",
    name="Benchmark pump (SynchroMed II 40 mL-like)",
    kind="programmable",
    reservoir_ml=40,
    min_rate_ml_per_day=0.048,
    max_rate_ml_per_day=24,
    rated_accuracy=0.145,
    internal_dead_volume_ml=0.2,
    nonretrievable_residual_ml=1.4,
    low_reservoir_alarm=AlarmRange(default_ml=2, min_ml=1, max_ml=10),
    rate_after_empty_ml_per_day=0.048,
    max_flex_steps=10,
    max_bolus_rate_ml_per_day=24,
    battery=BatterySpec(
        life_at_min_rate_days=2555,
        life_at_reference_days=1825,
        reference_rate_ml_per_day=1,
        eri_to_eos_days=90,
    ),
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


def _sink(day: float, calculated_ml: float, actual_ml: float) -> None:
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
    """A process yielding ``n_events`` timeouts (one SimPy event each)."""
    env = simpy.Environment()

    def loop() -> simpy.events.ProcessGenerator:
        for _ in range(n_events - 1):
            yield env.timeout(0.01)

    env.process(loop())
    env.run()


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """Best CPU time (s) of ``repeat`` runs: process time, so that other jobs on a shared
    machine do not count against the run."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        run()
        best = min(best, time.process_time() - t0)
    return best


def peak_bytes(run: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    year = therapy()
    year_tl = monthly_refills(365)

    def one_year() -> object:
        return simulate(year, year_tl, days=365, seed=1)

    trace = one_year()
    n = count_events(one_year)
    bare_n = count_events(lambda: bare_simpy(n))
    engine_s = best_of(args.repeat, one_year)
    bare_s = best_of(args.repeat, lambda: bare_simpy(n))
    per_engine, per_bare = engine_s / n * 1e6, bare_s / bare_n * 1e6
    print("1 patient-year (4-step flex, PTM ~3/day, monthly refills, hourly samples kept)")
    print(
        f"  trace: {len(trace.events)} events, {len(trace.ptm_presses)} presses, "
        f"{len(trace.refills)} refills, {len(trace.samples.day)} samples"
    )
    print(f"  engine:     {n} SimPy events in {engine_s * 1e3:.1f} ms = {per_engine:.2f} µs/event")
    print(f"  bare SimPy: {bare_n} timeouts    in {bare_s * 1e3:.1f} ms = {per_bare:.2f} µs/event")
    print(f"  ratio engine / bare SimPy: {per_engine / per_bare:.2f}x (target <= 5x)")
    n_sink = count_events(lambda: simulate(year, year_tl, days=365, seed=1, on_sample=_sink))
    sink_s = best_of(
        args.repeat, lambda: simulate(year, year_tl, days=365, seed=1, on_sample=_sink)
    )
    print(
        f"  same year, samples streamed: {n_sink} events in {sink_s * 1e3:.1f} ms = "
        f"{sink_s / n_sink * 1e6:.2f} µs/event, ratio {sink_s / n_sink * 1e6 / per_bare:.2f}x"
    )

    decade = monthly_refills(3650)

    def ten_years() -> object:
        return simulate(year, decade, days=3650, seed=1, on_sample=_sink)

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
                            th, tl, days=days, seed=1, on_sample=sink
                        )
                    )
                    / 2**20
                )
        t = simulate(year, tl, days=days, seed=1, on_sample=_sink)
        records = len(t.events) + len(t.ptm_presses) + len(t.daily)
        print(f"  {years:>5} | " + " | ".join(f"{v:8.2f}" for v in row) + f" | {records}")
    fine = peak_bytes(
        lambda: simulate(
            quiet, decade, days=3650, seed=1, on_sample=_sink, sample_every_days=5 / 1440
        )
    )
    hourly = peak_bytes(lambda: simulate(quiet, decade, days=3650, seed=1, on_sample=_sink))
    print(
        f"10 years, no PTM, streamed: peak {hourly / 2**20:.2f} MiB with hourly samples "
        f"(87,600), {fine / 2**20:.2f} MiB with 5-min samples (1,051,200)"
    )


if __name__ == "__main__":
    main()
