"""Refill windows: the dates between which a patient's next refill belongs.

A window is ``earliest … latest`` (both inclusive, local calendar dates) plus the factor that set
``latest`` (``low_reservoir``, ``stability``, ``empty`` …). The planner asks a ``WindowSource``
for windows in batches, so a source backed by the Monte Carlo forecast can spread the work over
processes.

Two sources ship:

* ``ForecastWindowSource``: the forecast's ``earliest_refill`` … ``refill_by`` at a chosen risk
  (the default for planning).
* ``ScheduleWindowSource``: deterministic, from the programmed schedule alone (``summarize``):
  ``latest`` is the date ``margin_days`` before the first of the low-reservoir alarm (with every
  allowed PTM bolus taken), the calculated-empty time (pumps without an alarm) and the stability
  limit; ``earliest`` is ``span_days`` before ``latest``. Quick, and exact enough for tests and
  teaching; it ignores delivery-factor uncertainty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pumpsim.models import Therapy
from pumpsim.summary import summarize

__all__ = [
    "ForecastWindowSource",
    "ScheduleWindowSource",
    "Window",
    "WindowRequest",
    "WindowSource",
]


@dataclass(frozen=True, slots=True)
class Window:
    """Refill between ``earliest`` and ``latest`` (inclusive dates); ``limiting_factor`` says
    what set ``latest``."""

    earliest: dt.date
    latest: dt.date
    limiting_factor: str

    def __post_init__(self) -> None:
        if self.latest < self.earliest:
            object.__setattr__(self, "earliest", self.latest)


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """The therapy to forecast and the moment the forecast looks from (``None``: its state)."""

    therapy: Therapy
    as_of: dt.datetime | None = None
    key: str = ""
    """Names the request's random stream (patient, fill, cycle) for stochastic sources."""


ProgressCallback = Callable[[int, int], None]


class WindowSource(Protocol):
    """Anything that turns therapies into refill windows, in request order, deterministically."""

    @property
    def description(self) -> str:
        """One line naming the source and its settings (shown in the plan)."""
        ...

    def windows(
        self, requests: Sequence[WindowRequest], progress: ProgressCallback | None = None
    ) -> list[Window]: ...


@dataclass(frozen=True)
class ScheduleWindowSource:
    """Deterministic windows from the programmed schedule (see the module docstring)."""

    margin_days: float = 3.0
    span_days: int = 7

    @property
    def description(self) -> str:
        return f"programmed schedule, {self.margin_days:g} days margin"

    def window(self, therapy: Therapy) -> Window:
        summary = summarize(therapy)
        limits: list[tuple[dt.datetime, str]] = [(summary.stability_limit_time, "stability")]
        if summary.low_reservoir_alarm_ml is not None:
            alarm_days = summary.days_to_low_reservoir_all_ptm
            if alarm_days is not None:
                limits.append(
                    (therapy.state.time + dt.timedelta(days=alarm_days), "low_reservoir_alarm")
                )
        elif summary.empty_time is not None:
            limits.append((summary.empty_time, "empty_reservoir"))
        when, factor = min(limits)
        latest = (when - dt.timedelta(days=self.margin_days)).date()
        return Window(latest - dt.timedelta(days=self.span_days), latest, factor)

    def windows(
        self, requests: Sequence[WindowRequest], progress: ProgressCallback | None = None
    ) -> list[Window]:
        out = []
        for i, request in enumerate(requests):
            out.append(self.window(request.therapy))
            if progress is not None:
                progress(i + 1, len(requests))
        return out


class ForecastWindowSource:
    """Windows from ``pumpsim.forecast``: ``earliest_refill`` … ``refill_by`` at ``risk``.

    ``runs`` Monte Carlo trajectories per forecast. Each request draws from its own random
    stream, spawned from ``seed`` and the request's ``key`` (patient, fill and cycle), so a
    window depends neither on the worker count nor on the other patients in the roster: adding
    a patient does not move anyone else's booked refill.

    Use it as a context manager to keep one process pool (``workers`` processes, default all
    cores; 1 = in this process) for the whole plan.
    """

    def __init__(
        self, *, risk: float = 0.01, runs: int = 10_000, seed: int = 0, workers: int | None = None
    ) -> None:
        self.risk = risk
        self.runs = runs
        self.seed = seed
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._pool: ProcessPoolExecutor | None = None

    @property
    def description(self) -> str:
        return f"forecast, risk {self.risk:g}, {self.runs} runs, seed {self.seed}"

    def __enter__(self) -> ForecastWindowSource:
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def windows(
        self, requests: Sequence[WindowRequest], progress: ProgressCallback | None = None
    ) -> list[Window]:
        jobs = [(r.therapy, r.as_of, self._stream(r.key), self.runs, self.risk) for r in requests]
        out: list[Window] = []
        if self._pool is None or len(jobs) <= 1:
            for job in jobs:
                out.append(_forecast_window(job))
                if progress is not None:
                    progress(len(out), len(jobs))
            return out
        chunk = max(1, len(jobs) // (4 * self.workers))
        for window in self._pool.map(_forecast_window, jobs, chunksize=chunk):
            out.append(window)
            if progress is not None:
                progress(len(out), len(jobs))
        return out

    def _stream(self, key: str) -> np.random.SeedSequence:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
        return np.random.SeedSequence(self.seed, spawn_key=words)


_Job = tuple[Therapy, "dt.datetime | None", np.random.SeedSequence, int, float]


def _forecast_window(job: _Job) -> Window:
    """One forecast in a worker process, reduced to its window (small to send back)."""
    from pumpsim.forecast import forecast

    therapy, as_of, stream, runs, risk = job
    f = forecast(therapy, as_of=as_of, runs=runs, risk=risk, seed=stream, keep_samples=False)
    return Window(f.earliest_refill, f.refill_by, f.limiting_factor)
