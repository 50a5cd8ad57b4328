"""Cohort runner at scale: cost linear in patients, a second worker's speed-up, flat memory.

The cohort is a shipped preset (default ``smith-2002-pump-arm``) with its patient count and
horizon replaced (5 years). Three measurements, each printed with its spread and the machine's
load, then the RATIO lines:

* **cost exponent**: CPU seconds of ``run_cohort(workers=1)`` for ``--small`` (10,000) and
  ``--large`` (100,000) patients, interleaved; exponent = log(t_large / t_small) / log(large /
  small) per round after an untimed warm-up round, median (goal <= 1.05: linear).
* **two-worker speed-up**: wall seconds of ``run_cohort`` with 1 worker against 2 local workers
  on ``--speedup-patients`` (100,000), interleaved; per-round ratio, median (goal >= 1.7). Wall
  time: the pool's workers are the fork server's children, not this process's. On a busy
  machine this is bounded by what the other processes leave free (with autogroup scheduling a
  session may get one share of the CPU however many processes it starts).
* **memory**: each size run once in a fresh interpreter (``workers=1``) under tracemalloc; the
  peak of traced Python/NumPy memory and the process's peak RSS for the large cohort against the
  small one, the larger of the two ratios (goal <= 1.2: flat in N).

Run: ``python benchmarks/bench_cohort.py [--small N] [--large N] [--years Y] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Stats, interleave, machine_load, ratio_line  # noqa: E402

from pumpsim.io.cohort import load_cohort  # noqa: E402
from pumpsim.models.cohort import CohortSpec  # noqa: E402
from pumpsim.population.cohort_run import cohort_path  # noqa: E402
from pumpsim.population.runner import run_cohort  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

_MEMORY_CHILD = """
import json, resource, sys, tracemalloc
from pumpsim.io.cohort import load_cohort
from pumpsim.population.cohort_run import cohort_path
from pumpsim.population.runner import run_cohort
preset, patients, years = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
spec = load_cohort(cohort_path(preset)).model_copy(update={"patients": patients, "years": years})
run_cohort(spec.model_copy(update={"patients": 50}), 1, workers=1)  # warm: imports, caches
tracemalloc.start()
tally = run_cohort(spec, 0, workers=1)
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({"patients": tally.patients, "traced_peak_bytes": peak,
                  "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def cohort(preset: str, patients: int, years: float) -> CohortSpec:
    return load_cohort(cohort_path(preset)).model_copy(
        update={"patients": patients, "years": years}
    )


def cost_exponent(preset: str, small: int, large: int, years: float, rounds: int) -> float:
    specs = {"small": cohort(preset, small, years), "large": cohort(preset, large, years)}
    samples = interleave(
        {name: (lambda s=spec: run_cohort(s, 0, workers=1)) for name, spec in specs.items()},
        rounds,
        warmup=1,  # a first round untimed: its imports and caches would weigh on the small side
    )
    for name, count in (("small", small), ("large", large)):
        cpu = samples[name].cpu_stats
        print(f"{count:>7} patients x {years:g} y, 1 worker: CPU {cpu.text()}")
        print(f"{'':>7} per 1,000 patients: {cpu.scaled(1000 / count).text()}")
    exponents = Stats.of(
        math.log(b / a) / math.log(large / small)
        for a, b in zip(samples["small"].cpu, samples["large"].cpu, strict=True)
    )
    print(f"cost exponent per round: {exponents.text(unit='', digits=3)}")
    return exponents.median


def two_worker_speedup(preset: str, patients: int, years: float, rounds: int) -> float:
    spec = cohort(preset, patients, years)
    samples = interleave(
        {
            "one": lambda: run_cohort(spec, 0, workers=1),
            "two": lambda: run_cohort(spec, 0, workers=2),
        },
        rounds,
        warmup=1,
    )
    print(f"{patients} patients, 1 worker: wall {samples['one'].wall_stats.text()}")
    print(f"{patients} patients, 2 workers: wall {samples['two'].wall_stats.text()}")
    speedups = Stats.of(
        a / b for a, b in zip(samples["one"].wall, samples["two"].wall, strict=True)
    )
    print(f"speed-up per round: {speedups.text(unit='x', digits=2)}")
    return speedups.median


def memory(preset: str, patients: int, years: float) -> dict[str, int]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, preset, str(patients), str(years)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{patients:>7} patients x {years:g} y: traced peak "
        f"{result['traced_peak_bytes'] / 2**20:.2f} MiB, peak RSS "
        f"{result['max_rss_kib'] / 1024:.1f} MiB ({time.perf_counter() - t0:.1f} s wall)"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--preset", default="smith-2002-pump-arm")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--speedup-patients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(machine_load())
    exponent = cost_exponent(args.preset, args.small, args.large, args.years, args.rounds)
    print(machine_load())
    speedup = two_worker_speedup(args.preset, args.speedup_patients, args.years, args.rounds)
    print(machine_load())
    small = memory(args.preset, args.small, args.years)
    large = memory(args.preset, args.large, args.years)
    rss = large["max_rss_kib"] / small["max_rss_kib"]
    print(f"peak RSS {args.large} / {args.small} patients: {rss:.3f}")
    print(machine_load())
    ratio_line("cohort_cost_exponent", exponent, "<=", 1.05)
    ratio_line("cohort_two_workers_speedup", speedup, ">=", 1.7)
    traced = large["traced_peak_bytes"] / small["traced_peak_bytes"]
    print(f"traced peak {args.large} / {args.small} patients: {traced:.3f}")
    # the stricter of the two peaks is the verdict
    ratio_line("cohort_memory_100k_vs_10k", max(traced, rss), "<=", 1.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
