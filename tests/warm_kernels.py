"""Compile the kernels of ``pumpsim.schedule._kernels`` into numba's cache before a parallel
test run (``make test`` runs it while chromium installs; ``tests/conftest.py`` runs it again,
which then only loads the cache), in two processes at once: ``place`` (press placement) and
``gate`` (the gate and the crossings, then, once ``place`` is done, the forecast's one-pass
kernel, which loads the helpers of both from the cache and compiles only itself).

From an empty cache every pytest-xdist worker compiled every kernel it met on its own (about
25 s of CPU each, all workers at once); compiled here once, split over both cores, the workers
load them from the cache. With a warm cache this costs numba's import and a cache load.

    python tests/warm_kernels.py             # both parts, each in its own process
    python tests/warm_kernels.py place|gate  # one part (what the first starts)
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np

from pumpsim.ensemble.kernels import delivered_crossing, drawn_crossings, gate_presses
from pumpsim.models import Program, PtmDemand, PtmSettings
from pumpsim.schedule.presses import DrawnPresses, draw_presses
from pumpsim.schedule.segments import CumulativeSchedule

ORIGIN = dt.datetime(2026, 3, 2, 8, 0)
SETTINGS = PtmSettings(bolus_volume_ml=0.05, duration_days=0.01, lockout_days=0.1, max_per_day=4)
SCHEDULE = CumulativeSchedule.for_program(
    Program.simple(0.5), origin=ORIGIN, start_day=0.0, end_day=3.0, program_start_day=0.0
)
GATE = {"base_minute": 480.0, "schedule": SCHEDULE, "volume_ml": 20.0, "empty_threshold_ml": 0.0}


def place() -> None:
    """Press placement (the SimPy engine's door; ``place_row`` and the sorting networks)."""
    _drawn().times()


def gate() -> None:
    """The gate on given presses (a press log, teaching) and the exact crossings; then, after a
    line on stdin (``conftest`` sends it once ``place`` is done), placing, gating and crossing in
    one pass (the forecast's) from the helpers of both."""
    presses = np.array([[0.2, 0.25, 1.0, np.inf], [0.1, 0.15, 0.4, 2.0]])
    _, grants = gate_presses(presses, SETTINGS, **GATE)  # type: ignore[arg-type]
    delivered_crossing(np.array([1.0, 1.2]), grants, SCHEDULE, 0.05, 0.01)
    sys.stdin.readline()
    drawn_crossings(np.ones((4, 2)), _drawn(), SETTINGS, **GATE)  # type: ignore[arg-type]


def _drawn() -> DrawnPresses:
    return draw_presses(PtmDemand(presses_per_day=6), ORIGIN, 2.5, np.random.default_rng(0), 4)


def both() -> int:
    """``place`` and ``gate`` in two processes; ``gate`` goes on to its last kernel once
    ``place`` is done (that kernel uses place's helpers: then in the cache). Exits with the
    first failure's code: a failure shows up again, with its test, in the run itself."""
    script = str(Path(__file__).resolve())
    part = subprocess.Popen([sys.executable, script, "place"])
    rest = subprocess.Popen([sys.executable, script, "gate"], stdin=subprocess.PIPE, text=True)
    part.wait()
    rest.communicate("go\n")
    return part.returncode or rest.returncode


if __name__ == "__main__":
    if len(sys.argv) == 1:
        sys.exit(both())
    {"place": place, "gate": gate}[sys.argv[1]]()
