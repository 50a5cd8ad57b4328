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
  allowed PTM bolus taken), the calculated-empty time (pumps without an alarm), the stability
  limit and the elective replacement indicator; ``earliest`` is ``span_days`` before
  ``latest``. Quick, and exact enough for tests and teaching; it ignores delivery-factor
  uncertainty.

A source may also be ``Prefetching``: the planner then hands it the windows it expects to ask
for next (the refills it predicts for the coming open day), so a process pool works on them
while the planner sweeps. A window asked for is always the one of the request asked for: a
prefetched forecast is used only when its request is equal, so prefetching changes how soon a
window is ready, never what it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pumpsim.forecast.batch import ForecastJob, ForecastRunner
from pumpsim.forecast.calibration import DeliveryFactorEstimate
from pumpsim.forecast.probabilistic import Forecast
from pumpsim.forecast.summary import summarize
from pumpsim.models import Therapy

__all__ = [
    "ForecastWindowSource",
    "Prefetching",
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
    delivery_factor: DeliveryFactorEstimate | None = None
    """The patient's delivery factor calibrated from a refill sheet, for forecast sources."""


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


@runtime_checkable
class Prefetching(Protocol):
    """A window source that can start on requests before they are asked for."""

    @property
    def prefetching(self) -> bool:
        """True when ``prefetch`` does something (the planner then predicts requests)."""
        ...

    def prefetch(self, requests: Sequence[WindowRequest]) -> None:
        """Start computing these windows (a later ``windows`` call with an equal request uses
        the result; one with a different request under the same key replaces it)."""
        ...


@dataclass(frozen=True)
class ScheduleWindowSource:
    """Deterministic windows from the programmed schedule (see the module docstring)."""

    margin_days: float = 3.0
    span_days: int = 7

    @property
    def description(self) -> str:
        return f"programmed schedule, {self.margin_days:g} days margin"

    def window(self, therapy: Therapy) -> Window:
        """``latest`` is ``margin_days`` before ``summarize``'s ``refill_limit_time``."""
        summary = summarize(therapy)
        when = summary.refill_limit_time
        latest = (when - dt.timedelta(days=self.margin_days)).date()
        return Window(
            latest - dt.timedelta(days=self.span_days), latest, summary.refill_limit_factor
        )

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

    ``runs`` Monte Carlo trajectories per forecast, run by the one batch runner
    (``pumpsim.forecast.batch``): each request draws from the stream of its ``key`` (patient,
    fill and cycle) under ``seed``, so a window depends neither on the worker count nor on the
    other patients in the roster: adding a patient does not move anyone else's booked refill.

    Use it as a context manager to keep one process pool (``workers`` processes, default all
    cores; 1 = in this process) for the whole plan. With a pool it is ``Prefetching``: every
    forecast is its own task, queued as soon as the planner expects it.
    """

    def __init__(
        self, *, risk: float = 0.01, runs: int = 10_000, seed: int = 0, workers: int | None = None
    ) -> None:
        self.risk = risk
        self.runs = runs
        self.seed = seed
        self._runner = ForecastRunner(seed=seed, workers=workers)
        self.workers = self._runner.workers
        self._ahead: dict[str, tuple[WindowRequest, Future[Window]]] = {}
        self.asked = 0
        """Windows asked for (``windows``)."""
        self.ahead = 0
        """Requests ``prefetch`` found already started by an earlier prefetch (a guess come
        true: for the planner, a window started a day before it was needed)."""
        self.wasted = 0
        """Prefetched forecasts never used (replaced by a different request, or left over)."""

    @property
    def description(self) -> str:
        return f"forecast, risk {self.risk:g}, {self.runs} runs, seed {self.seed}"

    def __enter__(self) -> ForecastWindowSource:
        self._runner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for _, future in self._ahead.values():
            self._drop(future)
        self._ahead.clear()
        self._runner.__exit__(*exc)

    def _job(self, r: WindowRequest) -> ForecastJob:
        options = {"runs": self.runs, "risk": self.risk, "keep_samples": False}
        return ForecastJob(
            r.therapy, r.key, {**options, "as_of": r.as_of, "delivery_factor": r.delivery_factor}
        )

    @property
    def prefetching(self) -> bool:
        """True while a pool is open: one worker computes every window when asked for."""
        return self._runner.parallel

    def prefetch(self, requests: Sequence[WindowRequest]) -> None:
        """Queue these forecasts in the pool (nothing without one: 1 worker computes on demand)."""
        if not self._runner.parallel:
            return
        for request in requests:
            held = self._ahead.get(request.key)
            if held is not None:
                if held[0] == request:
                    self.ahead += 1
                    continue
                self._drop(held[1])
            future = self._runner.submit(self._job(request), reduce=forecast_window)
            self._ahead[request.key] = (request, future)

    def _drop(self, future: Future[Window]) -> None:
        future.cancel()
        self.wasted += 1

    def windows(
        self, requests: Sequence[WindowRequest], progress: ProgressCallback | None = None
    ) -> list[Window]:
        self.asked += len(requests)
        if not self._runner.parallel:
            jobs = [self._job(r) for r in requests]
            found: list[Window] = self._runner.run(jobs, reduce=forecast_window, progress=progress)
            return found
        futures = [self._take(r) for r in requests]
        out: list[Window] = []
        for future in futures:
            out.append(future.result())
            if progress is not None:
                progress(len(out), len(futures))
        return out

    def _take(self, request: WindowRequest) -> Future[Window]:
        """The prefetched forecast of ``request`` if its request was equal, else a new one."""
        held = self._ahead.pop(request.key, None)
        if held is not None:
            if held[0] == request:
                return held[1]
            self._drop(held[1])
        future: Future[Window] = self._runner.submit(self._job(request), reduce=forecast_window)
        return future


def forecast_window(f: Forecast) -> Window:
    """A forecast reduced to its refill window (small to send back from a worker)."""
    return Window(f.earliest_refill, f.refill_by, f.limiting_factor)
