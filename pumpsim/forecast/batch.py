"""The one batch runner: forecasts for a roster, in parallel, seeded per patient key.

Every forecast of a batch draws from its own random stream, ``SeedSequence(seed,
spawn_key=hash(key))``, where ``key`` names the patient (and, for the clinic planner, the fill and
cycle). So a forecast depends only on the seed, its key and its therapy: neither on the number of
worker processes, nor on its place in the roster, nor on the other patients in it. Adding a
patient to a roster does not move anyone else's dates.

``ForecastRunner`` keeps one process pool for as long as it is open (the clinic planner asks for
windows day after day, and submits forecasts ahead of the day that needs them);
``forecast_many`` opens one for a single roster. A batch goes to the pool in small chunks so two
workers finish together (the patients' forecasts differ tenfold in cost).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from pumpsim.core.errors import SimulationError
from pumpsim.forecast.probabilistic import Forecast, forecast
from pumpsim.models import Therapy
from pumpsim.models.timeline import Timeline

__all__ = [
    "ForecastJob",
    "ForecastRunner",
    "ProgressCallback",
    "forecast_many",
    "patient_stream",
]

ProgressCallback = Callable[[int, int], None]
T = TypeVar("T")

MAX_WORKERS = 64
"""The most forecast processes a batch starts."""

MAX_CHUNK = 8
"""The most forecasts sent to a worker at once (small chunks balance the workers' load)."""


def patient_stream(seed: int, key: str) -> np.random.SeedSequence:
    """The random stream of the forecast named ``key`` under ``seed`` (stateless)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return np.random.SeedSequence(seed, spawn_key=words)


@dataclass(frozen=True)
class ForecastJob:
    """One forecast to run: the therapy, the key naming its random stream, ``forecast`` options."""

    therapy: Therapy
    key: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Task(Generic[T]):
    job: ForecastJob
    seed: int
    reduce: Callable[[Forecast], T] | None

    def __call__(self) -> Forecast | T:
        job = self.job
        result = forecast(job.therapy, seed=patient_stream(self.seed, job.key), **job.options)
        return result if self.reduce is None else self.reduce(result)


def _run(task: _Task[Any]) -> Any:
    return task()


class ForecastRunner:
    """Runs batches of forecasts in ``workers`` processes (default: all cores; 1 = in this
    process). Use it as a context manager to keep one pool across batches."""

    def __init__(self, *, seed: int = 0, workers: int | None = None) -> None:
        self.seed = seed
        self.workers = min((os.cpu_count() or 1), MAX_WORKERS) if workers is None else workers
        if not 1 <= self.workers <= MAX_WORKERS:
            raise SimulationError(f"workers must be 1 to {MAX_WORKERS}, got {workers}")
        self._pool: Executor | None = None

    def __enter__(self) -> ForecastRunner:
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    @property
    def parallel(self) -> bool:
        """True while a process pool is open (``workers`` > 1 inside ``with``)."""
        return self._pool is not None

    def submit(
        self, job: ForecastJob, *, reduce: Callable[[Forecast], T] | None = None
    ) -> Future[Any]:
        """Start one forecast (passed through ``reduce`` in the worker) and return its future;
        without a pool it runs here and the future is already done."""
        task = _Task(job, self.seed, reduce)
        if self._pool is not None:
            return self._pool.submit(_run, task)
        done: Future[Any] = Future()
        try:
            done.set_result(task())
        except Exception as exc:  # noqa: BLE001 - handed to whoever asks for the result
            done.set_exception(exc)
        return done

    def run(
        self,
        jobs: Sequence[ForecastJob],
        *,
        reduce: Callable[[Forecast], T] | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[Any]:
        """The forecasts of ``jobs`` in order (each passed through ``reduce`` in the worker, a
        picklable top-level function, when given); ``progress(done, total)`` after each."""
        tasks = [_Task(job, self.seed, reduce) for job in jobs]
        total = len(tasks)
        out: list[Any] = []
        if self._pool is None or total <= 1:
            results: Any = map(_run, tasks)
        else:
            chunk = min(MAX_CHUNK, max(1, total // (8 * self.workers)))
            results = self._pool.map(_run, tasks, chunksize=chunk)
        for result in results:
            out.append(result)
            if progress is not None:
                progress(len(out), total)
        return out


def forecast_many(
    therapies: Sequence[Therapy],
    *,
    seed: int = 0,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    keep_samples: bool = False,
    keys: Sequence[str] | None = None,
    timelines: Sequence[Timeline | None] | None = None,
    as_of: dt.datetime | Sequence[dt.datetime | None] | None = None,
    **options: Any,
) -> list[Forecast]:
    """Forecast a roster, in order. Each patient draws from the stream of its key (default: its
    ``patient_id``; see the module docstring), so the answer is the same for any ``workers`` and
    any order. ``progress(done, total)`` is called after each patient; other options are passed
    to ``forecast``; ``timelines`` gives each patient's profile timeline (``None``: none) and
    ``as_of`` one time for all or one per patient."""
    names = [t.patient_id for t in therapies] if keys is None else list(keys)
    if len(names) != len(therapies):
        raise SimulationError(f"{len(names)} keys for {len(therapies)} therapies")
    plans = list(timelines) if timelines is not None else [None] * len(therapies)
    if len(plans) != len(therapies):
        raise SimulationError(f"{len(plans)} timelines for {len(therapies)} therapies")
    times = list(as_of) if isinstance(as_of, Sequence) else [as_of] * len(therapies)
    if len(times) != len(therapies):
        raise SimulationError(f"{len(times)} as_of times for {len(therapies)} therapies")
    opts = {**options, "keep_samples": keep_samples}
    jobs = [
        ForecastJob(t, key, {**opts, "timeline": plan, "as_of": when})
        for t, key, plan, when in zip(therapies, names, plans, times, strict=True)
    ]
    count = (os.cpu_count() or 1) if workers is None else workers
    with ForecastRunner(
        seed=seed, workers=min(count, max(len(jobs), 1)) if count > 0 else count
    ) as runner:
        results: list[Forecast] = runner.run(jobs, progress=progress)
    return results
