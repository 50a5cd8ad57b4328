"""A real local Dask cluster for the runner and CLI tests: a ``dask scheduler`` process and
``dask worker`` processes on 127.0.0.1 at a free port, started with the ``dask`` command that
comes with distributed, importing pumpsim from this checkout (``PYTHONPATH``), and stopped (then
killed if need be) afterwards.

Also ``toy_block``: a small, honest block function for testing the runner's partitioning and
merging on any ``(first, stop)`` (each patient's draws come from ``SeedSequence([seed,
patient])``, like the cohort simulation's).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pumpsim.population.outcome import (
    EVENT_KINDS,
    MINUTES_PER_MONTH,
    MONTHLY,
    PER_PATIENT,
    REFILL_BURDEN_EDGES,
    CohortTally,
)

REPO = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYTHONPATH": path.rstrip(os.pathsep),
        "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
    }


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"dask scheduler not listening on {port} after {timeout_s} s")


@contextmanager
def local_dask_cluster(workers: int = 2, timeout_s: float = 60.0) -> Iterator[str]:
    """Start a scheduler and ``workers`` single-threaded workers; yield the scheduler address."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    common = ["--no-dashboard"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            env=_env(),
            cwd=REPO,
            **quiet,  # type: ignore[call-overload]
        )
        procs.append(scheduler)
        _wait_listening(port, scheduler, timeout_s)
        for i in range(workers):
            args = [str(DASK), "worker", address, "--nthreads", "1", "--no-nanny"]
            args += ["--preload", "pumpsim.population.simulate"]  # imported before any task
            args += ["--host", "127.0.0.1", "--name", f"w{i}", *common]
            procs.append(subprocess.Popen(args, env=_env(), cwd=REPO, **quiet))  # type: ignore[call-overload]
        with Client(address, timeout=timeout_s, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=timeout_s)
        yield address
    finally:
        _stop(address, procs)


def _stop(address: str, procs: list[subprocess.Popen[bytes]]) -> None:
    """Ask the scheduler to close itself and its workers; then end whatever is left."""
    from distributed import Client

    if procs and procs[0].poll() is None:
        try:
            with Client(address, timeout=5, set_as_default=False) as client:
                client.shutdown()
        except (OSError, TimeoutError):
            pass
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def toy_block(seed: int, months: int, first: int, stop: int) -> CohortTally:
    """Patients ``first .. stop-1``: each lives a geometric number of months (mean 20), has a
    Poisson(1) refill visit count and a Bernoulli(0.02) pocket fill each month alive."""
    tally = CohortTally.empty(months)
    for patient in range(first, stop):
        rng = np.random.default_rng(np.random.SeedSequence([seed, patient]))
        alive = min(int(rng.geometric(1 / 20)), months)
        refills = rng.poisson(1.0, months) * (np.arange(months) < alive)
        pockets = (rng.random(months) < 0.02) * (np.arange(months) < alive)
        tally = tally.merge(_one(months, alive, refills.astype(np.int64), pockets))
    return tally


def _one(months: int, alive: int, refills: np.ndarray, pockets: np.ndarray) -> CohortTally:
    minutes = int(MINUTES_PER_MONTH)
    alive_minutes = np.where(np.arange(months) < alive, minutes, 0).astype(np.int64)
    monthly = {name: np.zeros(months, np.int64) for name in MONTHLY}
    monthly["alive_minutes"] = alive_minutes
    monthly["on_pump_minutes"] = alive_minutes.copy()
    monthly["refill_visits"] = refills
    if alive < months:
        monthly["deaths"][alive] = 1
    events = {kind: np.zeros(months, np.int64) for kind in EVENT_KINDS}
    events["pocket_fill"] = pockets.astype(np.int64)
    totals = {name: int(monthly[name].sum()) for name in PER_PATIENT}
    per_year = totals["refill_visits"] / max(alive / 12, 1e-9)
    burden = np.zeros(len(REFILL_BURDEN_EDGES), np.int64)
    burden[min(int(per_year), len(REFILL_BURDEN_EDGES) - 1)] = 1
    return CohortTally(
        months=months,
        patients=1,
        monthly=monthly,
        events=events,
        patient_sum=totals,
        patient_sumsq={k: v * v for k, v in totals.items()},
        refill_burden=burden,
    )
