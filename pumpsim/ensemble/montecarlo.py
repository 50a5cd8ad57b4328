"""Many pump trajectories at once, vectorized (NumPy, compiled kernels), for forecasting.

Same rules as the SimPy engine, through the same schedule module:

* the **calculated** volume falls by the programmed delivery (``schedule.segments.program_segments``
  from ``state.time``, program start = day 0) plus every granted patient bolus (PTM), each
  delivered linearly over ``ptm.duration_days`` on top of the basal program;
* the **actual** volume starts at ``state.true_volume_ml`` and falls by ``delivery_factor`` times
  that delivery;
* once the calculated volume reaches the pump's empty threshold, the pump runs at
  ``pump.rate_after_empty_ml_per_day`` and every later press is denied (``reservoir_empty``);
* PTM presses are a Poisson process of ``demand.presses_per_day`` per calendar day of the pump
  clock, shaped over the day by ``demand.day_profile()``; with ``daily_cv > 0`` each day's rate is
  multiplied by a gamma variate of mean 1 and that coefficient of variation. An explicit press log
  (``demand.presses``) is used as given. Each press is granted or denied by the rules of
  ``schedule.ptm.PtmGate`` (``gate_presses`` applies them with a compiled loop per trajectory,
  decision for decision).

Threshold crossings are solved exactly on the piecewise-linear delivered-volume curve
(``CumulativeSchedule`` segments plus bolus ramps), never by ticking a clock. Trajectories are
simulated in chunks of ``chunk_size`` so memory stays bounded; chunk ``c`` draws from the stream
``SeedSequence(seed).spawn_key + (c,)``, so a result depends only on the seed, the number of runs
and the chunk size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pumpsim.core.clock import origin_minute
from pumpsim.core.errors import SimulationError
from pumpsim.ensemble.kernels import (
    DECISIONS,
    NO_PRESS,
    delivered_crossing,
    drawn_crossings,
    gate_presses,
    grant_presses,
)
from pumpsim.models import FactorDistribution, PtmDemand, PtmSettings, Therapy
from pumpsim.schedule.presses import DrawnPresses, Scratch, logged_or_drawn, press_times
from pumpsim.schedule.segments import Course, CumulativeSchedule, schedule_reaching

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


__all__ = [
    "DECISIONS",
    "NO_PRESS",
    "Ensemble",
    "Plan",
    "delivered_crossing",
    "gate_presses",
    "grant_presses",
    "presses_for",
    "run_chunk",
    "simulate_ensemble",
]

DEFAULT_CHUNK = 4096
MAX_HORIZON_DAYS = 3 * 366.0
"""Longest window simulated when no horizon is given (a near-zero program never empties)."""


@dataclass(frozen=True)
class Ensemble:
    """Per-trajectory results (days since ``state.time``; ``inf`` = not within the horizon)."""

    horizon_day: float
    delivery_factor: FloatArray
    low_reservoir_day: FloatArray | None
    """First time calculated volume <= the low-reservoir alarm; ``None`` when the pump has none."""
    empty_day: FloatArray
    """First time calculated volume <= the pump's empty threshold."""
    actual_dry_day: FloatArray
    """First time the actual (true) volume <= 0."""
    ptm_presses: IntArray
    ptm_granted: IntArray
    level_days: dict[float, FloatArray] = field(default_factory=dict)
    """For each requested calculated-volume level (mL), the first time the volume is <= it."""
    actual_level_days: dict[float, FloatArray] = field(default_factory=dict)
    """For each requested actual-volume level (mL), the first time the true volume is <= it
    (``inf`` when that comes only after the calculated volume reached empty)."""

    @property
    def runs(self) -> int:
        return int(self.delivery_factor.size)


# ---------------------------------------------------------------- the therapy as arrays
@dataclass(frozen=True)
class Plan:
    """What every trajectory of one therapy shares: schedule, thresholds, PTM rules, demand."""

    therapy: Therapy
    schedule: CumulativeSchedule
    horizon_day: float
    volume_ml: float
    true_volume_ml: float
    low_reservoir_ml: float | None
    empty_threshold_ml: float
    rate_after_empty_ml_per_day: float
    ptm: PtmSettings | None
    demand: PtmDemand | None

    @classmethod
    def build(
        cls,
        therapy: Therapy,
        *,
        horizon_days: float | None = None,
        demand: PtmDemand | None = None,
        extra_rate_ml_per_day: float = 0.0,
        course: Course | None = None,
    ) -> Plan:
        """Precompute the programmed-delivery curve. Without ``horizon_days`` the window runs
        until the program alone (plus ``extra_rate_ml_per_day``) empties the calculated
        reservoir, which bounds every alarm crossing, capped at ``MAX_HORIZON_DAYS``."""
        pump, state = therapy.pump, therapy.state
        v0 = state.calculated_volume_ml
        empty = pump.empty_reservoir_threshold_ml
        need = max(v0 - empty, 0.0)
        if horizon_days is not None:
            if horizon_days <= 0:
                raise SimulationError(f"horizon must be positive, got {horizon_days} days")
            schedule = CumulativeSchedule.for_therapy(
                therapy, horizon_days, extra_ml_per_day=extra_rate_ml_per_day, course=course
            )
        else:
            schedule, span = schedule_reaching(
                therapy,
                need,
                first_span_days=60.0,
                max_days=MAX_HORIZON_DAYS,
                extra_ml_per_day=extra_rate_ml_per_day,
                course=course,
            )
            reach = float(schedule.time_of_volume(need))
            if math.isfinite(reach):
                horizon_days = min(reach + 1.0, span)
                schedule = CumulativeSchedule.for_therapy(
                    therapy, horizon_days, extra_ml_per_day=extra_rate_ml_per_day, course=course
                )
            else:
                horizon_days = span
        return cls(
            therapy=therapy,
            schedule=schedule,
            horizon_day=horizon_days,
            volume_ml=v0,
            true_volume_ml=state.true_volume_ml,
            low_reservoir_ml=therapy.low_reservoir_alarm_ml,
            empty_threshold_ml=empty,
            rate_after_empty_ml_per_day=pump.rate_after_empty_ml_per_day,
            ptm=therapy.ptm,
            demand=demand if demand is not None else therapy.demand,
        )


def presses_for(
    plan: Plan, rng: np.random.Generator, n: int, rate_shape: float | None = None
) -> FloatArray:
    """``(n, J)`` press times for ``n`` trajectories (``inf``-padded); none without demand."""
    if plan.ptm is None or plan.demand is None:
        return np.full((n, 0), np.inf)
    return press_times(
        plan.demand, plan.therapy.state.time, plan.horizon_day, rng, n, rate_shape=rate_shape
    )


def draw_for(
    plan: Plan,
    rng: np.random.Generator,
    n: int,
    rate_shape: float | None = None,
    scratch: Scratch | None = None,
) -> FloatArray | DrawnPresses:
    """What ``presses_for`` draws, before the presses are placed in time
    (``schedule.presses.logged_or_drawn``; drawn uniforms into ``scratch`` when given):
    ``run_chunk`` places and gates drawn ones in one pass."""
    if plan.ptm is None or plan.demand is None:
        return np.full((n, 0), np.inf)
    return logged_or_drawn(
        plan.demand,
        plan.therapy.state.time,
        plan.horizon_day,
        rng,
        n,
        rate_shape=rate_shape,
        scratch=scratch,
    )


# ---------------------------------------------------------------- one chunk, many chunks
def run_chunk(
    plan: Plan,
    factors: FloatArray,
    presses: FloatArray | DrawnPresses,
    levels: Sequence[float] = (),
    actual_levels: Sequence[float] = (),
) -> Ensemble:
    """Gate the presses (``(n, J)`` times, or drawn ones: ``draw_for``) and solve every
    crossing for one chunk of trajectories."""
    n = factors.size
    v0, thr = plan.volume_ml, plan.empty_threshold_ml
    x_empty = max(v0 - thr, 0.0)

    # every crossing of the chunk in one call: a column per level (calculated volume, mL)
    low_ml = [] if plan.low_reservoir_ml is None else [plan.low_reservoir_ml]
    columns = [thr, *low_ml, *levels]
    dry_level = v0 - plan.true_volume_ml / factors  # actual <= 0 <=> delivered >= true / factor
    # actual volume <= L  <=>  calculated volume <= v0 - (true - L) / factor
    actual = [v0 - (plan.true_volume_ml - a) / factors for a in actual_levels]
    x = np.column_stack(
        [np.broadcast_to(v0 - np.asarray(c, dtype=float), (n,)) for c in columns]
        + [v0 - np.maximum(dry_level, thr)]
        + [v0 - c for c in actual]
    )
    solved, n_presses, n_granted = _crossings(plan, presses, np.maximum(x, 0.0))
    # a level below the empty threshold is reached only after the pump stopped counting
    days = np.where(x <= x_empty, np.where(x <= 0, 0.0, solved), np.inf)
    days[days > plan.horizon_day] = np.inf
    cols = iter(np.ascontiguousarray(days.T))
    empty_day = next(cols)
    low = next(cols) if low_ml else None
    level_days = {float(level): next(cols) for level in levels}
    dry = next(cols)
    actual_days = {float(a): next(cols) for a in actual_levels}
    after = dry_level < thr  # runs dry only after the calculated volume reached empty
    if after.any():
        rate = plan.rate_after_empty_ml_per_day
        if rate > 0:
            dry[after] = empty_day[after] + (thr - dry_level[after]) / rate
        else:
            dry[after] = np.inf
    return Ensemble(
        horizon_day=plan.horizon_day,
        delivery_factor=factors,
        low_reservoir_day=low,
        empty_day=empty_day,
        actual_dry_day=dry,
        ptm_presses=np.asarray(n_presses, dtype=np.int64),
        ptm_granted=np.asarray(n_granted, dtype=np.int64),
        level_days=level_days,
        actual_level_days=actual_days,
    )


def _crossings(
    plan: Plan, presses: FloatArray | DrawnPresses, targets: FloatArray
) -> tuple[FloatArray, IntArray, IntArray]:
    """The chunk's crossings of ``targets`` ``(n, L)`` (delivered mL), presses and grants per
    row: drawn presses placed, gated and crossed in one pass (``drawn_crossings``), given ones
    gated, then crossed."""
    n, ptm = targets.shape[0], plan.ptm
    if ptm is None or (isinstance(presses, np.ndarray) and not presses.shape[1]):
        none = np.zeros(n, dtype=np.int64)
        no_grants = np.full((n, 0), np.inf)
        return delivered_crossing(targets, no_grants, plan.schedule, 0.0, 1.0, none), none, none
    base, schedule = origin_minute(plan.therapy.state.time), plan.schedule
    v0, empty = plan.volume_ml, plan.empty_threshold_ml
    if isinstance(presses, DrawnPresses):
        return drawn_crossings(
            targets,
            presses,
            ptm,
            base_minute=base,
            schedule=schedule,
            volume_ml=v0,
            empty_threshold_ml=empty,
        )
    grants, n_presses, n_granted = grant_presses(
        presses, ptm, base_minute=base, schedule=schedule, volume_ml=v0, empty_threshold_ml=empty
    )
    bolus = (ptm.bolus_volume_ml, ptm.duration_days)
    solved = delivered_crossing(targets, grants, schedule, *bolus, n_granted)
    return solved, n_presses, n_granted


def chunk_seed(seed: int | np.random.SeedSequence, chunk: int) -> np.random.SeedSequence:
    """The stream of chunk ``chunk`` under ``seed`` (stateless: never calls ``spawn``)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, chunk))


def simulate_ensemble(
    therapy: Therapy,
    *,
    runs: int = 10_000,
    seed: int | np.random.SeedSequence = 0,
    horizon_days: float | None = None,
    factor: FactorDistribution | None = None,
    demand: PtmDemand | None = None,
    demand_rate_shape: float | None = None,
    levels: Sequence[float] = (),
    actual_levels: Sequence[float] = (),
    chunk_size: int = DEFAULT_CHUNK,
    plan: Plan | None = None,
) -> Ensemble:
    """Simulate ``runs`` trajectories of ``therapy`` from its state.

    ``factor`` defaults to ``FactorDistribution.for_therapy``; ``demand`` replaces the therapy's
    demand (e.g. a calibrated one); ``demand_rate_shape`` draws a per-trajectory multiplier of the
    press rate from gamma(shape, 1/shape) (rate uncertainty); ``levels`` are extra calculated
    volumes (mL) whose crossing days are returned in ``level_days``, ``actual_levels`` actual
    (true) volumes for ``actual_level_days``.
    """
    if runs < 1:
        raise SimulationError(f"runs must be at least 1, got {runs}")
    if chunk_size < 1:
        raise SimulationError(f"chunk_size must be at least 1, got {chunk_size}")
    plan = plan or Plan.build(therapy, horizon_days=horizon_days, demand=demand)
    factor = factor or FactorDistribution.for_therapy(therapy)
    parts, scratch = [], Scratch()  # one chunk's uniforms after another, in the same memory
    for c, start in enumerate(range(0, runs, chunk_size)):
        n = min(chunk_size, runs - start)
        rng = np.random.Generator(np.random.PCG64(chunk_seed(seed, c)))
        factors = factor.draw(rng, n)
        presses = draw_for(plan, rng, n, demand_rate_shape, scratch)
        parts.append(run_chunk(plan, factors, presses, levels, actual_levels))
    return _concat(parts)


def _concat(parts: list[Ensemble]) -> Ensemble:
    first = parts[0]
    if len(parts) == 1:
        return first
    low = (
        np.concatenate([p.low_reservoir_day for p in parts if p.low_reservoir_day is not None])
        if first.low_reservoir_day is not None
        else None
    )
    return Ensemble(
        horizon_day=first.horizon_day,
        delivery_factor=np.concatenate([p.delivery_factor for p in parts]),
        low_reservoir_day=low,
        empty_day=np.concatenate([p.empty_day for p in parts]),
        actual_dry_day=np.concatenate([p.actual_dry_day for p in parts]),
        ptm_presses=np.concatenate([p.ptm_presses for p in parts]),
        ptm_granted=np.concatenate([p.ptm_granted for p in parts]),
        level_days={k: np.concatenate([p.level_days[k] for p in parts]) for k in first.level_days},
        actual_level_days={
            k: np.concatenate([p.actual_level_days[k] for p in parts])
            for k in first.actual_level_days
        },
    )
