"""Engine benchmark: the SimPy engine against a bare SimPy loop of the events the model needs.

    python benchmarks/bench_engine.py [--rounds N]

1. One patient-year: 40 mL pump, 4-step flex program, about 3 PTM presses a day, monthly
   refills, hourly samples kept in the trace. The *minimal events* are counted from the
   scenario, not from the engine: the program's flex steps (4 a day), the patient's presses
   (drawn from the demand with the run's seed), the ends of the granted boluses and the refills.
   The run is timed interleaved with a bare SimPy process of that many ``timeout`` events
   (``_harness.interleave``, ``--rounds`` pairs, CPU time); printed: CPU medians with min-max,
   µs per minimal event for each, the SimPy events the engine actually processes (counted in a
   separate run by wrapping the ``heappop`` of its loop), and the median of the per-pair ratios
   engine / bare (goal: at most 5), the final ``RATIO simpy_engine_vs_minimal_events`` line.
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
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy
from _harness import Stats, interleave, machine_load, ratio_line, ratio_of

from pumpsim.engine import Trace, processes, simulate
from pumpsim.engine.simulate import patient_press_times
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
    """SimPy events processed by ``run``: each one leaves the queue through ``heappop`` in
    the engine's loop (``Environment.run_until``), which is counted by wrapping it."""
    original = processes.heappop
    count = 0

    def counting_heappop(queue: list[Any]) -> Any:
        nonlocal count
        count += 1
        return original(queue)

    processes.heappop = counting_heappop
    try:
        run()
    finally:
        processes.heappop = original
    return count


def minimal_events(
    th: Therapy, timeline: Timeline, days: int, seed: int, trace: Trace
) -> dict[str, int]:
    """The events the model needs, counted from the scenario: each flex step of each day, each
    press the demand draws (the run's seed), the end of each granted bolus (the trace's PTM log)
    and each refill in the horizon."""
    assert th.program.mode == "flex"
    presses = patient_press_times(
        th, timeline, float(days), np.random.default_rng(np.random.SeedSequence(seed))
    )
    granted = sum(1 for p in trace.ptm_presses if p.decision == "granted")
    horizon = START + dt.timedelta(days=days)
    refills = sum(1 for e in timeline.entries if isinstance(e, Refill) and e.at < horizon)
    return {
        "flex steps": len(th.program.steps) * days,
        "presses": len(presses),
        "bolus ends": granted,
        "refills": refills,
    }


def bare_simpy(n_events: int) -> None:
    """A bare SimPy loop: one process of ``n_events`` timeouts."""
    env = simpy.Environment()

    def loop() -> simpy.events.ProcessGenerator:
        for _ in range(n_events):
            yield env.timeout(0.01)

    env.process(loop())
    env.run()


def peak_bytes(run: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def one_year(rounds: int) -> None:
    """Part 1: the engine's patient-year against a bare SimPy loop of its minimal events."""
    year, year_tl = therapy(), monthly_refills(365)

    def engine() -> Trace:
        return simulate(year, year_tl, days=365, seed=1)

    trace = engine()
    needed = minimal_events(year, year_tl, 365, 1, trace)
    n = sum(needed.values())
    processed = count_events(engine)
    samples = interleave({"engine": engine, "bare": lambda: bare_simpy(n)}, rounds)
    eng, bare = samples["engine"].cpu_stats, samples["bare"].cpu_stats
    ratio = ratio_of(samples["engine"].cpu, samples["bare"].cpu)
    print("1 patient-year (4-step flex, PTM ~3/day, monthly refills, hourly samples kept)")
    print(
        f"  trace: {len(trace.events)} events, {len(trace.ptm_presses)} presses, "
        f"{len(trace.refills)} refills, {len(trace.samples.day)} samples"
    )
    print(
        "  minimal events: "
        + ", ".join(f"{v} {k}" for k, v in needed.items())
        + f" = {n} (the engine processes {processed} SimPy events)"
    )
    print(f"  engine:     {eng.text('ms', 1e3, 1)} CPU = {_per(eng, n)} µs per minimal event")
    print(f"  bare SimPy: {bare.text('ms', 1e3, 1)} CPU = {_per(bare, n)} µs per timeout")
    print(f"  engine / bare SimPy of the minimal events: {ratio.text('x', digits=2)} (goal <= 5)")
    ratio_line("simpy_engine_vs_minimal_events", ratio.median, "<=", 5)


def _per(stats: Stats, n: int) -> str:
    return f"{stats.median / n * 1e6:.2f}"


def ten_years(rounds: int) -> None:
    """Part 2: ten years, monthly refills, samples streamed."""
    year, decade = therapy(), monthly_refills(3650)

    def run() -> object:
        return simulate(year, decade, days=3650, seed=1, on_samples=_sink)

    cpu = interleave({"ten": run}, max(3, rounds // 3))["ten"].cpu_stats
    print(f"10 years, monthly refills, samples streamed: {cpu.text('s', 1, 3)} CPU (target < 1 s)")


def memory() -> None:
    """Part 3: tracemalloc peaks."""
    year = therapy()
    decade = monthly_refills(3650)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(machine_load())
    ten_years(args.rounds)
    memory()
    one_year(args.rounds)


if __name__ == "__main__":
    main()
