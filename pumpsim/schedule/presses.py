"""Patient therapy manager presses from the demand model: one home for both engines.

A patient's PTM presses are a Poisson process per calendar day of the pump clock, with
``demand.presses_per_day`` expected presses shaped over the day by ``demand.day_profile()``
(the share of the day's presses in each window; within a window they fall uniformly). With
``daily_cv > 0`` each day's rate is multiplied by a gamma variate of mean 1 and that coefficient
of variation (good and bad days). An explicit press log (``demand.presses``) is used as given.

The SimPy engine draws one patient (``n=1``); the vectorized engine draws thousands of
trajectories at once with the same function, so both engines see the same demand model.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pumpsim.core.clock import EPS_DAYS, MINUTES_PER_DAY, midnight_before, to_days
from pumpsim.models import PtmDemand

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def day_grid(origin: dt.datetime, horizon_day: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Calendar days of the pump clock overlapping [0, horizon): start day of each (days since
    ``origin``), and the clipped part of it as day fractions (lo, hi)."""
    first = midnight_before(origin, 0.0)
    n_days = math.ceil(horizon_day - first - EPS_DAYS)
    starts = first + np.arange(n_days, dtype=float)
    lo = np.clip(-starts, 0.0, 1.0)
    hi = np.clip(horizon_day - starts, 0.0, 1.0)
    return starts, lo, hi


def profile_knots(demand: PtmDemand) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Day-fraction ↔ cumulative-share knots of the day profile (forward and inverse)."""
    spans = demand.day_profile()
    fracs = np.array([spans[0][0]] + [b for _, b, _ in spans], dtype=float) / MINUTES_PER_DAY
    cdf = np.concatenate([[0.0], np.cumsum([s for *_, s in spans])])
    cdf[-1] = 1.0
    inv_f, inv_c = [], []
    for (a, b, share), c0 in zip(spans, cdf[:-1], strict=True):
        if share > 0:
            inv_f += [a / MINUTES_PER_DAY, b / MINUTES_PER_DAY]
            inv_c += [c0, c0 + share]
    return fracs, cdf, np.array(inv_f), np.array(inv_c)


@dataclass(frozen=True)
class DrawnPresses:
    """The random part of ``n`` patients' drawn presses, before they are placed in time: how many
    fall on each calendar day of the pump clock, one uniform per press, and what places them
    (``times``; ``ensemble.kernels.drawn_crossings`` places, gates and crosses them in one
    pass)."""

    counts: IntArray
    """``(n, D)`` presses per trajectory and calendar day (C order)."""
    uniforms: FloatArray
    """One per press, in row-major order of ``counts`` (a view of the caller's ``Scratch`` when
    it passed one: valid until its next draw)."""
    first_day: float
    """The first calendar day's start (days since the origin, ``<= 0``)."""
    partial: npt.NDArray[np.bool_]
    """``(D,)``: the first and last day, cut by the window ``[0, horizon)``."""
    share_lo: FloatArray
    """``(D,)``: the profile's share of the day before the window starts on that day."""
    share: FloatArray
    """``(D,)``: the profile's share of the day inside the window."""
    inv_c: FloatArray
    inv_f: FloatArray
    """The inverse day profile's knots (cumulative share -> day fraction)."""

    @property
    def n(self) -> int:
        return int(self.counts.shape[0])

    @property
    def per_row(self) -> IntArray:
        """Presses per trajectory."""
        return np.asarray(self.counts.sum(axis=1), dtype=np.int64)

    def placement(self) -> tuple[float, npt.NDArray[np.bool_], FloatArray, FloatArray, bool]:
        """The placement arguments of the compiled kernels."""
        shaped = not (self.inv_c.size == 2 and self.inv_f[0] == 0.0 and self.inv_f[1] == 1.0)
        return self.first_day, self.partial, self.share_lo, self.share, shaped

    def times(self) -> FloatArray:
        """``(n, J)`` press times, each row sorted, ``inf``-padded."""
        from pumpsim.schedule._kernels import place_presses  # loads numba on first use

        width = int(self.per_row.max()) if self.n else 0
        out = np.full((self.n, width), np.inf)  # NumPy's allocation: huge pages, no page faults
        return place_presses(
            self.counts, self.uniforms, self.placement(), (self.inv_c, self.inv_f), out
        )


class Scratch:
    """Memory for the uniforms of one chunk of drawn presses after another (the forecast's
    chunks): a PTM-heavy chunk draws tens of MB of them, and drawing into memory already touched
    spares a fresh array's page faults each chunk. The numbers are the same as drawn fresh."""

    def __init__(self) -> None:
        self._buffer: FloatArray = np.empty(0)

    def uniforms(self, rng: np.random.Generator, size: int) -> FloatArray:
        """``rng.random(size)``, into this scratch (grown when too small): valid until the next
        call."""
        if self._buffer.size < size:
            self._buffer = np.empty(size + size // 8)
        out = self._buffer[:size]
        rng.random(out=out)
        return out


def draw_presses(
    demand: PtmDemand,
    origin: dt.datetime,
    horizon_day: float,
    rng: np.random.Generator,
    n: int,
    rate_shape: float | None = None,
    scratch: Scratch | None = None,
) -> DrawnPresses:
    """Draw ``n`` patients' presses: Poisson per calendar day, one uniform each (to place them
    by the day profile; into ``scratch`` when given)."""
    assert demand.presses_per_day is not None
    starts, lo, hi = day_grid(origin, horizon_day)
    fracs, cdf, inv_f, inv_c = profile_knots(demand)
    c_lo, c_hi = np.interp(lo, fracs, cdf), np.interp(hi, fracs, cdf)
    mass = c_hi - c_lo
    mean = np.broadcast_to(demand.presses_per_day * mass, (n, starts.size))
    if rate_shape is not None:
        mean = mean * rng.gamma(rate_shape, 1.0 / rate_shape, n)[:, None]
    if demand.daily_cv > 0:
        shape = 1.0 / demand.daily_cv**2
        mean = mean * rng.gamma(shape, 1.0 / shape, (n, starts.size))
    counts = np.ascontiguousarray(rng.poisson(mean), dtype=np.int64)
    total = int(counts.sum())
    u = rng.random(total) if scratch is None else scratch.uniforms(rng, total)
    return DrawnPresses(
        counts=counts,
        uniforms=u,
        first_day=float(starts[0]) if starts.size else 0.0,
        partial=(lo > 0) | (hi < 1),  # first / last day: only [0, horizon)
        share_lo=c_lo,
        share=mass,
        inv_c=inv_c,
        inv_f=inv_f,
    )


def random_press_times(
    demand: PtmDemand,
    origin: dt.datetime,
    horizon_day: float,
    rng: np.random.Generator,
    n: int,
    rate_shape: float | None = None,
) -> FloatArray:
    """Draw ``(n, J)`` press times: Poisson per calendar day, placed by the day profile."""
    return draw_presses(demand, origin, horizon_day, rng, n, rate_shape).times()


def logged_press_times(
    demand: PtmDemand, origin: dt.datetime, horizon_day: float, n: int
) -> FloatArray:
    """The explicit press log inside [0, horizon) as ``(n, J)`` identical rows."""
    days = np.array([to_days(origin, p) for p in demand.presses], dtype=float)
    days = days[(days >= 0) & (days < horizon_day)]
    return np.broadcast_to(days, (n, days.size)).copy()


def press_times(
    demand: PtmDemand,
    origin: dt.datetime,
    horizon_day: float,
    rng: np.random.Generator,
    n: int = 1,
    *,
    rate_shape: float | None = None,
) -> FloatArray:
    """``(n, J)`` press times (days since ``origin``, each row sorted, ``inf``-padded) for
    ``n`` patients over ``[0, horizon_day)``: the press log when there is one, else drawn.

    ``rate_shape`` (forecasting only) multiplies each row's press rate by a gamma variate of
    that shape and mean 1 (uncertainty about the patient's true rate)."""
    presses = logged_or_drawn(demand, origin, horizon_day, rng, n, rate_shape=rate_shape)
    return presses.times() if isinstance(presses, DrawnPresses) else presses


def logged_or_drawn(
    demand: PtmDemand,
    origin: dt.datetime,
    horizon_day: float,
    rng: np.random.Generator,
    n: int = 1,
    *,
    rate_shape: float | None = None,
    scratch: Scratch | None = None,
) -> FloatArray | DrawnPresses:
    """What ``press_times`` places, before the drawn presses are placed in time: the press
    log's ``(n, J)`` times, or the drawn counts and uniforms (the same random numbers in the
    same order; the forecast places and gates those in one pass, its chunks' uniforms drawn into
    one ``scratch``)."""
    if demand.presses:
        return logged_press_times(demand, origin, horizon_day, n)
    return draw_presses(demand, origin, horizon_day, rng, n, rate_shape, scratch)
