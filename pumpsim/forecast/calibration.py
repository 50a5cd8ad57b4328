"""Calibration from history: this pump's delivery factor and this patient's bolus demand.

**Delivery factor.** At each refill the nurse withdraws the residual and compares it with the
withdrawable volume the programmer expects. Between two refills the pump was programmed to deliver
``programmed_ml`` (calculated volume at the fill minus calculated volume at the refill); if it
actually delivered ``f`` times that, the residual differs from the expectation by
``discrepancy_ml = (actual - calculated) = offset_at_fill_ml - (f - 1) * programmed_ml``. So each
refill gives an estimate ``f_k = 1 - (discrepancy_ml - offset_at_fill_ml) / programmed_ml`` with
variance ``(measurement_sd_ml / programmed_ml)**2 + drift_sd**2`` (syringe reading error, and
interval-to-interval drift of the pump). With a normal prior centred on 1 whose standard deviation
is that of a uniform spread over the pump's rated accuracy (``rated_accuracy / sqrt(3)``), the
posterior is normal with precision-weighted mean (conjugate update). The forecast draws each
trajectory's factor from it.

**Demand.** From a press log (every press, granted or denied) over an observation span: the rate
``presses / span_days`` with a gamma posterior (Jeffreys prior, shape ``presses + 1/2``), the day
profile as press density per time-of-day window (half a press of pseudo-count per window), and the
day-to-day coefficient of variation from the over-dispersion of full-day counts
(``var = mean + cv**2 * mean**2``, needs at least 7 full days).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Annotated, Protocol

import numpy as np
from pydantic import Field

from pumpsim.core.clock import MINUTES_PER_DAY, minute_of_day, to_days
from pumpsim.core.errors import SimulationError
from pumpsim.models import DemandWindow, FactorDistribution, FrozenModel, PtmDemand, PumpSpec

__all__ = [
    "DeliveryFactorEstimate",
    "DemandEstimate",
    "RefillObservation",
    "estimate_delivery_factor",
    "estimate_demand",
    "observations_from_refills",
]

DEFAULT_MEASUREMENT_SD_ML = 0.2
"""Standard deviation (mL) of a withdrawn-residual reading: syringe graduation and technique (an
assumption; no published figure found)."""
DEFAULT_DRIFT_SD = 0.01
"""Interval-to-interval variation of a pump's delivery factor (assumption; Wesemann 2014 reports
factors within a few percent between refills)."""


class RefillObservation(FrozenModel):
    """One refill interval: what was programmed and what the withdrawal showed (mL)."""

    programmed_ml: Annotated[float, Field(gt=0)]
    """Calculated volume delivered since the previous fill (fill minus calculated residual)."""
    discrepancy_ml: float
    """Withdrawn minus expected withdrawable residual (= actual minus calculated volume)."""
    offset_at_fill_ml: float = 0.0
    """Actual minus calculated volume right after the previous fill (0 when the fill reset it)."""

    @property
    def implied_factor(self) -> float:
        """Delivery factor this interval implies on its own (actual / programmed)."""
        return 1.0 - (self.discrepancy_ml - self.offset_at_fill_ml) / self.programmed_ml


class RefillLike(Protocol):
    """What a refill record must tell (``pumpsim.engine.RefillRecord`` has all of it)."""

    @property
    def programmed_since_last_ml(self) -> float: ...
    @property
    def discrepancy_ml(self) -> float: ...
    @property
    def withdrawn_ml(self) -> float: ...
    @property
    def pocket_fill(self) -> bool: ...


def observations_from_refills(
    refills: Iterable[RefillLike], *, initial_offset_ml: float = 0.0
) -> list[RefillObservation]:
    """Refill records (in time order) as observations.

    The first interval starts from the known state with ``initial_offset_ml`` (actual minus
    calculated; 0 when unknown); every refill is assumed to reset the offset to 0. Intervals that
    carry no information are skipped: nothing withdrawn (the residual was below the
    non-retrievable volume, so the reading is censored), nothing programmed, a pocket fill, and
    the interval after a pocket fill (the fill never reached the reservoir)."""
    out: list[RefillObservation] = []
    offset, after_pocket = initial_offset_ml, False
    for record in refills:
        usable = (
            record.withdrawn_ml > 0
            and record.programmed_since_last_ml > 0
            and not record.pocket_fill
            and not after_pocket
        )
        if usable:
            out.append(
                RefillObservation(
                    programmed_ml=record.programmed_since_last_ml,
                    discrepancy_ml=record.discrepancy_ml,
                    offset_at_fill_ml=offset,
                )
            )
        offset, after_pocket = 0.0, record.pocket_fill
    return out


class DeliveryFactorEstimate(FrozenModel):
    """Posterior of the pump's delivery factor (normal: ``mean`` ± ``sd``)."""

    mean: float
    sd: Annotated[float, Field(gt=0)]
    refills: int
    prior_mean: float
    prior_sd: float

    def distribution(self) -> FactorDistribution:
        """The distribution the Monte Carlo engine draws factors from."""
        return FactorDistribution("normal", self.mean, self.sd)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Central credible interval of the factor at ``level`` (normal quantiles)."""
        z = NormalDist().inv_cdf(0.5 + level / 2)
        return self.mean - z * self.sd, self.mean + z * self.sd


def estimate_delivery_factor(
    observations: Sequence[RefillObservation],
    pump: PumpSpec,
    *,
    measurement_sd_ml: float = DEFAULT_MEASUREMENT_SD_ML,
    drift_sd: float = DEFAULT_DRIFT_SD,
) -> DeliveryFactorEstimate:
    """Conjugate normal update of the delivery factor from refill discrepancies."""
    if measurement_sd_ml < 0 or drift_sd < 0 or measurement_sd_ml + drift_sd == 0:
        raise SimulationError("measurement_sd_ml and drift_sd must be >= 0, not both 0")
    prior_mean = 1.0
    prior_sd = max(pump.rated_accuracy / math.sqrt(3.0), 1e-6)
    precision = 1.0 / prior_sd**2
    weighted = prior_mean * precision
    for obs in observations:
        var = (measurement_sd_ml / obs.programmed_ml) ** 2 + drift_sd**2
        precision += 1.0 / var
        weighted += obs.implied_factor / var
    return DeliveryFactorEstimate(
        mean=weighted / precision,
        sd=math.sqrt(1.0 / precision),
        refills=len(observations),
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )


class DemandEstimate(FrozenModel):
    """Estimated PTM demand: a ``PtmDemand`` to simulate, and the rate's uncertainty."""

    demand: PtmDemand
    presses: int
    span_days: float
    rate_shape: float
    """Shape of the gamma posterior of the rate; trajectories draw a rate multiplier
    gamma(rate_shape, 1/rate_shape) (mean 1, cv ``1/sqrt(rate_shape)``)."""


def estimate_demand(
    presses: Sequence[dt.datetime],
    *,
    start: dt.datetime,
    end: dt.datetime,
    window_starts_minute: Sequence[int] = (0, 360, 720, 1080),
) -> DemandEstimate:
    """Estimate the press rate, day profile and daily variation from a log of press times
    (pump clock) observed over ``[start, end)``. Presses outside the span are ignored."""
    span = to_days(start, end)
    if span <= 0:
        raise SimulationError(f"the log span must be positive, got {start} to {end}")
    starts = list(window_starts_minute)
    if (
        not starts
        or starts[0] != 0
        or starts != sorted(set(starts))
        or starts[-1] >= MINUTES_PER_DAY
    ):
        raise SimulationError(f"window starts must begin at 0 and increase, got {starts}")
    inside = [p for p in presses if start <= p < end]
    n = len(inside)
    rate = (n + 0.5) / span
    minutes = np.array([minute_of_day(p) for p in inside], dtype=float)
    edges = np.array([*starts, MINUTES_PER_DAY], dtype=float)
    counts = np.histogram(minutes, bins=edges)[0] if n else np.zeros(len(starts))
    exposure = _window_exposure(start, end, edges)
    density = (counts + 0.5) / np.maximum(exposure, 1e-9)
    weights = density / density.max()
    profile = tuple(
        DemandWindow(start_minute=s, weight=float(w)) for s, w in zip(starts, weights, strict=True)
    )
    cv = _daily_cv(inside, start, end)
    demand = PtmDemand(presses_per_day=min(rate, 200.0), profile=profile, daily_cv=cv)
    return DemandEstimate(demand=demand, presses=n, span_days=span, rate_shape=n + 0.5)


def _window_exposure(start: dt.datetime, end: dt.datetime, edges: np.ndarray) -> np.ndarray:
    """Minutes of observation falling in each time-of-day window over ``[start, end)``."""
    out = np.zeros(edges.size - 1)
    day = dt.datetime(start.year, start.month, start.day)
    while day < end:
        lo = max(to_days(day, start) * MINUTES_PER_DAY, 0.0)
        hi = min(to_days(day, end) * MINUTES_PER_DAY, float(MINUTES_PER_DAY))
        out += np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None)
        day += dt.timedelta(days=1)
    return out


def _daily_cv(inside: Sequence[dt.datetime], start: dt.datetime, end: dt.datetime) -> float:
    first = dt.datetime(start.year, start.month, start.day)
    if first < start:
        first += dt.timedelta(days=1)
    n_days = math.floor(to_days(first, end))
    if n_days < 7:
        return 0.0
    counts = np.zeros(n_days)
    for p in inside:
        k = math.floor(to_days(first, p))
        if 0 <= k < n_days:
            counts[k] += 1
    mean = counts.mean()
    if mean <= 0:
        return 0.0
    excess = counts.var(ddof=1) - mean
    return float(min(math.sqrt(max(excess, 0.0)) / mean, 3.0))
