"""Benchmark: plan a generated roster over 13 weeks with 1,000 runs per forecast.

    python benchmarks/bench_plan.py [--runs 1000] [--weeks 13] [--workers N] [--sizes 100 1000]

Plans the first 100 and then all 1,000 patients of a roster made by ``make_roster.py`` (capacity
scaled with the roster: 3 refills per open day per 100 patients) and prints the time per
patient and the ratio between the sizes; a ratio near 1 means the cost grows linearly.
Forecast windows (one Monte Carlo forecast per refill cycle) dominate the time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_roster import make_rows, roster_csv  # noqa: E402

from pumpsim.clinic.calendar import ClinicCalendar  # noqa: E402
from pumpsim.clinic.planner import plan_clinic  # noqa: E402
from pumpsim.clinic.windows import ForecastWindowSource  # noqa: E402
from pumpsim.io.roster import load_roster  # noqa: E402

START = dt.date(2026, 3, 9)


def bench(patients: int, runs: int, weeks: int, workers: int | None) -> tuple[float, int, int]:
    """(seconds, appointments, unplaceable) for a roster of ``patients``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.csv"
        path.write_text(roster_csv(make_rows(1000, 1, START)[:patients]), encoding="utf-8")
        roster = load_roster(path)
    capacity = max(1, round(3 * patients / 100))
    calendar = ClinicCalendar(
        start=START,
        end=START + dt.timedelta(weeks=weeks, days=-1),
        capacity_per_day=capacity,
        slot_minutes=max(5, min(30, 480 // capacity)),
        country="DE",
        timezone="Europe/Berlin",
    )
    t0 = time.perf_counter()
    with ForecastWindowSource(runs=runs, risk=0.01, seed=0, workers=workers) as source:
        plan = plan_clinic(roster, calendar, source)
    return time.perf_counter() - t0, len(plan.appointments), len(plan.unplaceable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    per_patient = {}
    for size in args.sizes:
        seconds, booked, missed = bench(size, args.runs, args.weeks, args.workers)
        per_patient[size] = seconds / size
        print(
            f"{size:5d} patients: {seconds:8.2f} s, {1000 * seconds / size:7.1f} ms/patient, "
            f"{booked} refills planned, {missed} unplaceable"
        )
    small, large = min(per_patient), max(per_patient)
    if small != large:
        print(
            f"time per patient at {large} vs {small} patients: "
            f"ratio {per_patient[large] / per_patient[small]:.2f} (1.00 = linear)"
        )


if __name__ == "__main__":
    main()
