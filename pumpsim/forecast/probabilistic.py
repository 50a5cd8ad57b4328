"""Probabilistic refill forecast: when must this patient come back, and how sure are we?

``forecast`` runs ``runs`` trajectories of ``pumpsim.ensemble.montecarlo`` with uncertain
delivery factor and bolus demand from the pump state, gives the quantiles of each alarm date
beside the deterministic dates of ``pumpsim.forecast.deterministic``, and the refill window.

**Risk definition.** A refill on date ``d`` (pump clock) may happen at any time that day, so it is
in time when neither the low-reservoir alarm nor the actual reservoir running dry happens before
the end of ``d``. ``refill_by`` is the latest ``d`` for which the share of trajectories with such
an event before the end of ``d`` is below ``risk``, that also ends no later than the
drug-stability limit and the elective replacement date. ``limiting_factor`` names the bound that
binds. ``earliest_refill`` is the first date on which, in the median trajectory, ``min_used_share``
of the usable reservoir (capacity down to the alarm threshold) has been delivered.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, PrivateAttr

from pumpsim.core.clock import to_datetime, to_days
from pumpsim.core.errors import SimulationError
from pumpsim.ensemble.montecarlo import DEFAULT_CHUNK, Ensemble, Plan, simulate_ensemble
from pumpsim.forecast.calibration import DeliveryFactorEstimate, DemandEstimate
from pumpsim.forecast.course import course_at
from pumpsim.forecast.deterministic import (
    DeterministicForecast,
    deterministic,
    elective_replacement_day,
    stability_limit,
    when,
)
from pumpsim.models import FactorDistribution, FrozenModel, PtmDemand, Therapy
from pumpsim.models.timeline import Timeline
from pumpsim.schedule.limits import enforce_dose_limits

__all__ = ["Event", "EventForecast", "FanChart", "Forecast", "LimitingFactor", "forecast"]

LimitingFactor = Literal[
    "low_reservoir_alarm",
    "actual_dry",
    "drug_stability",
    "elective_replacement",
    "controller_next_refill",
]
Event = Literal["low_reservoir_alarm", "empty_reservoir", "actual_dry", "refill_needed"]


class EventForecast(FrozenModel):
    """An event's date: nominal (deterministic) and quantiles over trajectories.

    ``None`` means the event does not happen within the simulated horizon."""

    nominal: dt.datetime | None
    p05: dt.datetime | None
    p50: dt.datetime | None
    p95: dt.datetime | None


class FanChart(FrozenModel):
    """Calculated reservoir volume over time: for each level (mL) the day (since ``origin``) by
    which the given share of trajectories has fallen to it (``quantile_days["p05"]`` is the
    early edge of the fan)."""

    origin: dt.datetime
    start_ml: float
    levels_ml: tuple[float, ...]
    quantile_days: dict[str, tuple[float, ...]]
    actual_start_ml: float | None = None
    """The actual (true) volume at ``origin``; ``None`` in a fan made without the actual band."""
    actual_levels_ml: tuple[float, ...] = ()
    actual_quantile_days: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    """As ``quantile_days``, for the actual volume (the delivery-accuracy uncertainty)."""

    def band(
        self, lo: str, hi: str, *, actual: bool = False
    ) -> list[tuple[float, dt.datetime, dt.datetime]]:
        """``(level mL, time of quantile lo, time of quantile hi)`` from the start, for every
        level both quantiles reach within the horizon; of the actual volume with ``actual``
        (empty for a fan without it)."""
        if actual and self.actual_start_ml is None:
            return []
        start = self.actual_start_ml if actual else self.start_ml
        levels = self.actual_levels_ml if actual else self.levels_ml
        days = self.actual_quantile_days if actual else self.quantile_days
        out = [(float(start or 0.0), self.origin, self.origin)]
        for level, a, b in zip(levels, days[lo], days[hi], strict=True):
            if math.isfinite(a) and math.isfinite(b):
                out.append((level, to_datetime(self.origin, a), to_datetime(self.origin, b)))
        return out


class Forecast(FrozenModel):
    """One patient's refill forecast (times on the pump clock)."""

    patient_id: str
    as_of: dt.datetime
    state_time: dt.datetime
    calculated_volume_ml: float
    """Calculated volume at ``as_of`` on the programmed curve (no patient boluses) (mL)."""
    low_reservoir_alarm_ml: float | None
    """The alarm threshold in effect (mL of calculated volume); ``None`` without an alarm."""
    low_reservoir_alarm: EventForecast | None
    empty_reservoir: EventForecast
    actual_dry: EventForecast
    deterministic: DeterministicForecast
    drug_stability_limit: dt.datetime
    elective_replacement: dt.datetime | None
    refill_by: dt.date
    earliest_refill: dt.date
    limiting_factor: LimitingFactor
    overdue: bool
    """The computed refill-by date was before ``as_of``; ``refill_by`` is then ``as_of``'s date."""
    overdue_since: dt.date | None = None
    """The computed refill-by date when it is already past (``overdue``)."""
    risk: float
    runs: int
    seed: int
    stream: tuple[int, ...] = ()
    """Spawn key of the seed sequence used (``forecast_many`` gives each patient its own)."""
    delivery_factor_mean: float
    ptm_granted_per_day: float
    """Mean granted patient boluses per day before the reservoir empties."""
    horizon_end: dt.datetime
    fan: FanChart | None = None
    planned_refill: dt.datetime | None = None
    """The first refill the timeline plans after ``as_of``."""
    risk_before_planned_refill: float | None = None
    """Share of trajectories with an alarm or a dry reservoir before ``planned_refill``."""
    timeline_not_applied: tuple[str, ...] = ()
    """Timeline entries the forecast does not model, in words."""
    _samples: dict[str, np.ndarray] | None = PrivateAttr(default=None)

    @property
    def cycle_start(self) -> dt.datetime:
        """When the reservoir cycle the forecast is about began: the pump state, or the last
        refill of the timeline before ``as_of`` (the cycle's state time, ``state_time``)."""
        return self.state_time

    def quantile(self, event: Event, q: float) -> dt.datetime | None:
        """The ``q`` quantile of an event's date over the trajectories (needs the samples)."""
        days = self._require(event)
        value = float(np.quantile(days, q, method="inverted_cdf"))
        return to_datetime(self.state_time, value) if math.isfinite(value) else None

    def probability_before(self, event: Event, when: dt.datetime) -> float:
        """Share of trajectories in which ``event`` happens before ``when``."""
        days = self._require(event)
        return float(np.mean(days < to_days(self.state_time, when)))

    def _require(self, event: Event) -> np.ndarray:
        if self._samples is None or event not in self._samples:
            raise SimulationError(f"no samples of {event!r} kept; use keep_samples=True")
        return self._samples[event]

    def recommendation(self) -> str:
        """One line for a nurse: the refill window and what limits it."""
        why = _WHY[self.limiting_factor]
        if self.overdue:
            since = f" since {self.overdue_since.isoformat()}" if self.overdue_since else ""
            return (
                f"Refill now: OVERDUE{since}; {why} is already within the {self.risk:.0%} "
                "risk limit."
            )
        return (
            f"Refill between {self.earliest_refill.isoformat()} and {self.refill_by.isoformat()} "
            f"(limited by {why}; risk {self.risk:.1%})."
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The stable JSON shape (ISO-8601 datetimes to the second, ISO dates)."""

        def event(e: EventForecast | None) -> dict[str, str | None] | None:
            if e is None:
                return None
            return {k: _iso(getattr(e, k)) for k in ("nominal", "p05", "p50", "p95")}

        d = self.deterministic
        return {
            "patient_id": self.patient_id,
            "as_of": _iso(self.as_of),
            "calculated_volume_ml": round(self.calculated_volume_ml, 6),
            "low_reservoir_alarm": event(self.low_reservoir_alarm),
            "empty_reservoir": event(self.empty_reservoir),
            "actual_dry": event(self.actual_dry),
            "actual_dry_best_case": _iso(d.actual_dry_best_case),
            "actual_dry_worst_case": _iso(d.actual_dry_worst_case),
            "programmer_lra": _iso(d.programmer_lra),
            "prometra_next_refill": _iso(d.prometra_next_refill),
            "drug_stability_limit": _iso(self.drug_stability_limit),
            "elective_replacement": _iso(self.elective_replacement),
            "refill_by": self.refill_by.isoformat(),
            "earliest_refill": self.earliest_refill.isoformat(),
            "limiting_factor": self.limiting_factor,
            "overdue": self.overdue,
            "overdue_since": None if self.overdue_since is None else self.overdue_since.isoformat(),
            "recommendation": self.recommendation(),
            "risk": self.risk,
            "runs": self.runs,
            "seed": self.seed,
            "delivery_factor_mean": round(self.delivery_factor_mean, 6),
            "ptm_granted_per_day": round(self.ptm_granted_per_day, 6),
            "cycle_start": _iso(self.cycle_start),
            "planned_refill": _iso(self.planned_refill),
            "risk_before_planned_refill": None
            if self.risk_before_planned_refill is None
            else round(self.risk_before_planned_refill, 6),
            "timeline_not_applied": list(self.timeline_not_applied),
        }


_WHY: dict[LimitingFactor, str] = {
    "low_reservoir_alarm": "the low-reservoir alarm",
    "actual_dry": "the reservoir running dry",
    "drug_stability": "the drug-stability limit",
    "elective_replacement": "the elective replacement indicator",
    "controller_next_refill": "the pump controller's date of next refill",
}


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


MAX_RUNS = 1_000_000
"""The most Monte Carlo trajectories one forecast runs (10,000 give dates to the minute)."""


# ---------------------------------------------------------------- probabilistic forecast
def forecast(
    therapy: Therapy,
    *,
    as_of: dt.datetime | None = None,
    runs: int = 10_000,
    risk: float = 0.01,
    seed: int | np.random.SeedSequence = 0,
    delivery_factor: FactorDistribution | DeliveryFactorEstimate | None = None,
    demand: PtmDemand | DemandEstimate | None = None,
    timeline: Timeline | None = None,
    min_used_share: float = 0.5,
    horizon_days: float | None = None,
    fan: bool = False,
    keep_samples: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
) -> Forecast:
    """Forecast ``therapy`` from its state. See the module docstring for the risk definition.
    A dose above a drug's hard limit raises ``DoseLimitError`` (``schedule.limits``).

    ``delivery_factor`` and ``demand`` replace the therapy's (e.g. calibrated estimates);
    ``timeline`` is the profile's: past entries establish the cycle running at ``as_of``, future
    reprograms and MRIs change it, a planned refill is reported with the risk of an alarm before
    it (``pumpsim.forecast.course``);
    ``min_used_share`` is the earliest-refill policy; ``fan`` adds calculated-volume quantile
    curves for a fan chart; ``keep_samples`` keeps per-trajectory dates for ``quantile`` and
    ``probability_before``. The same seed gives the same answer.
    """
    if not 1 <= runs <= MAX_RUNS:
        raise SimulationError(f"runs must be 1 to {MAX_RUNS:,}, got {runs:,}")
    enforce_dose_limits(therapy, timeline)
    as_of = _checked_as_of(therapy, as_of, risk, min_used_share)
    cycle = course_at(therapy, timeline, as_of)
    therapy = cycle.therapy
    factor, rate_shape, use_demand = _uncertainty(therapy, delivery_factor, demand)
    plan = Plan.build(therapy, horizon_days=horizon_days, demand=use_demand, course=cycle.course)
    early_level = _early_level(therapy, plan, min_used_share)
    fan_levels = tuple(np.linspace(plan.volume_ml, plan.empty_threshold_ml, 41)[1:]) if fan else ()
    ens = simulate_ensemble(
        therapy,
        runs=runs,
        seed=seed,
        factor=factor,
        demand_rate_shape=rate_shape,
        levels=(early_level, *fan_levels),
        actual_levels=tuple(np.linspace(plan.true_volume_ml, 0.0, 41)[1:]) if fan else (),
        chunk_size=chunk_size,
        plan=plan,
    )
    granted_rate = _granted_per_day(ens)
    ptm_ml = granted_rate * (therapy.ptm.bolus_volume_ml if therapy.ptm else 0.0)
    det = deterministic(
        therapy,
        delivery_factor=factor.mean if factor is not None else therapy.delivery_factor,
        course=cycle.course,
        ptm_ml_per_day=ptm_ml,
    )
    stability = stability_limit(therapy)
    eri = when(therapy, elective_replacement_day(therapy, ptm_ml))
    need = _refill_needed(ens)
    refill_by, factor_name = _refill_by(
        therapy, ens, need, risk, stability, eri, det.prometra_next_refill
    )
    early = when(
        therapy, float(np.quantile(ens.level_days[early_level], 0.5, method="inverted_cdf"))
    )
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    result = Forecast(
        patient_id=therapy.patient_id,
        as_of=as_of,
        state_time=therapy.state.time,
        calculated_volume_ml=_nominal_volume(plan, as_of),
        low_reservoir_alarm_ml=plan.low_reservoir_ml,
        low_reservoir_alarm=None
        if ens.low_reservoir_day is None
        else _event(therapy, det.low_reservoir_alarm, ens.low_reservoir_day),
        empty_reservoir=_event(therapy, det.empty_reservoir, ens.empty_day),
        actual_dry=_event(therapy, det.actual_dry, ens.actual_dry_day),
        deterministic=det,
        drug_stability_limit=stability,
        elective_replacement=eri,
        refill_by=max(refill_by, as_of.date()),
        earliest_refill=_earliest(as_of, early, refill_by),
        limiting_factor=factor_name,
        overdue=refill_by < as_of.date(),
        overdue_since=refill_by if refill_by < as_of.date() else None,
        risk=risk,
        runs=runs,
        seed=int(root.entropy) if isinstance(root.entropy, int) else 0,
        stream=tuple(root.spawn_key),
        delivery_factor_mean=float(ens.delivery_factor.mean()),
        ptm_granted_per_day=granted_rate,
        horizon_end=to_datetime(therapy.state.time, plan.horizon_day),
        fan=_fan(therapy, ens, fan_levels) if fan else None,
        planned_refill=cycle.planned_refills[0] if cycle.planned_refills else None,
        risk_before_planned_refill=_risk_before(therapy, need, cycle.planned_refills),
        timeline_not_applied=cycle.not_applied,
    )
    if keep_samples:
        result._samples = _kept_samples(ens, need)
    return result


def _risk_before(
    therapy: Therapy, need: np.ndarray, planned: Sequence[dt.datetime]
) -> float | None:
    """Share of trajectories whose alarm or dry reservoir comes before the planned refill."""
    if not planned:
        return None
    return float(np.mean(need < to_days(therapy.state.time, planned[0])))


def _checked_as_of(
    therapy: Therapy, as_of: dt.datetime | None, risk: float, min_used_share: float
) -> dt.datetime:
    """The forecast time (default: the pump state), after checking the request's numbers."""
    if not 0 < risk < 1:
        raise SimulationError(f"risk must lie strictly between 0 and 1, got {risk}")
    if not 0 <= min_used_share <= 1:
        raise SimulationError(f"min_used_share must lie in [0, 1], got {min_used_share}")
    state = therapy.state
    as_of = as_of or state.time
    if as_of < state.time:
        raise SimulationError(
            f"as_of {as_of.isoformat()} is before the pump state at {state.time.isoformat()}"
        )
    return as_of


def _uncertainty(
    therapy: Therapy,
    delivery_factor: FactorDistribution | DeliveryFactorEstimate | None,
    demand: PtmDemand | DemandEstimate | None,
) -> tuple[FactorDistribution | None, float | None, PtmDemand | None]:
    """The factor distribution, the press-rate uncertainty (gamma shape) and the demand."""
    factor = (
        delivery_factor.distribution()
        if isinstance(delivery_factor, DeliveryFactorEstimate)
        else delivery_factor
    )
    rate_shape = demand.rate_shape if isinstance(demand, DemandEstimate) else None
    use_demand = demand.demand if isinstance(demand, DemandEstimate) else demand
    if use_demand is not None and therapy.ptm is None:
        raise SimulationError("a demand needs ptm settings in the therapy")
    return factor, rate_shape, use_demand


def _early_level(therapy: Therapy, plan: Plan, min_used_share: float) -> float:
    """The calculated volume (mL) at which ``min_used_share`` of the usable reservoir (down to
    the alarm threshold, or the empty threshold without an alarm) has been delivered."""
    alarm_ml = (
        plan.low_reservoir_ml if plan.low_reservoir_ml is not None else plan.empty_threshold_ml
    )
    reservoir = therapy.pump.reservoir_ml
    return reservoir - min_used_share * (reservoir - alarm_ml)


def _refill_needed(ens: Ensemble) -> np.ndarray:
    """Per trajectory, the first of the low-reservoir alarm and the actual reservoir running dry."""
    if ens.low_reservoir_day is None:
        return ens.actual_dry_day
    return np.minimum(ens.low_reservoir_day, ens.actual_dry_day)


def _earliest(as_of: dt.datetime, early: dt.datetime | None, refill_by: dt.date) -> dt.date:
    """The earliest-refill date: the median trajectory's early level, not before ``as_of``,
    never after the refill-by date."""
    earliest = max(as_of.date(), early.date() if early else refill_by)
    return min(earliest, max(refill_by, as_of.date()))


def _kept_samples(ens: Ensemble, need: np.ndarray) -> dict[str, np.ndarray]:
    samples = {
        "empty_reservoir": ens.empty_day,
        "actual_dry": ens.actual_dry_day,
        "refill_needed": need,
    }
    if ens.low_reservoir_day is not None:
        samples["low_reservoir_alarm"] = ens.low_reservoir_day
    return samples


def _nominal_volume(plan: Plan, moment: dt.datetime) -> float:
    day = to_days(plan.therapy.state.time, moment)
    return max(plan.volume_ml - float(plan.schedule.volume_at(day)), 0.0)


def _granted_per_day(ens: Ensemble) -> float:
    span = np.where(np.isfinite(ens.empty_day), ens.empty_day, ens.horizon_day)
    return float(np.mean(ens.ptm_granted / np.maximum(span, 1e-9)))


def _event(therapy: Therapy, nominal: dt.datetime | None, days: np.ndarray) -> EventForecast:
    q = np.quantile(days, [0.05, 0.5, 0.95], method="inverted_cdf")
    return EventForecast(
        nominal=nominal,
        p05=when(therapy, float(q[0])),
        p50=when(therapy, float(q[1])),
        p95=when(therapy, float(q[2])),
    )


def _last_whole_day_before(when: dt.datetime) -> dt.date:
    """The latest date whose end (next midnight) is at or before ``when``."""
    return when.date() - dt.timedelta(days=1)


def _refill_by(
    therapy: Therapy,
    ens: Ensemble,
    need: np.ndarray,
    risk: float,
    stability: dt.datetime,
    eri: dt.datetime | None,
    controller: dt.datetime | None = None,
) -> tuple[dt.date, LimitingFactor]:
    """The refill-by date and its limiting factor (see the module docstring)."""
    n = need.size
    m = max(1, math.ceil(risk * n - 1e-9))  # P(T < e) < risk  <=>  the m-th smallest T >= e
    k = int(np.argpartition(need, m - 1)[m - 1])
    t_m = float(need[k])
    candidates: list[tuple[dt.date, int, LimitingFactor]] = []
    if math.isfinite(t_m):
        low = ens.low_reservoir_day
        name: LimitingFactor = (
            "low_reservoir_alarm"
            if low is not None and low[k] <= ens.actual_dry_day[k]
            else "actual_dry"
        )
        candidates.append((_last_whole_day_before(to_datetime(therapy.state.time, t_m)), 0, name))
    candidates.append((_last_whole_day_before(stability), 1, "drug_stability"))
    if eri is not None:
        candidates.append((_last_whole_day_before(eri), 2, "elective_replacement"))
    if controller is not None:  # the controller dates a refill: on that date, never after
        candidates.append((controller.date(), 3, "controller_next_refill"))
    date, _, name = min(candidates)
    return date, name


def _fan(therapy: Therapy, ens: Ensemble, levels: Sequence[float]) -> FanChart:
    actual = ens.actual_level_days
    return FanChart(
        origin=therapy.state.time,
        start_ml=therapy.state.calculated_volume_ml,
        levels_ml=tuple(float(v) for v in levels),
        quantile_days=_fan_quantiles(ens.level_days, levels),
        actual_start_ml=therapy.state.true_volume_ml if actual else None,
        actual_levels_ml=tuple(actual),
        actual_quantile_days=_fan_quantiles(actual, tuple(actual)),
    )


def _fan_quantiles(
    days: dict[float, np.ndarray], levels: Sequence[float]
) -> dict[str, tuple[float, ...]]:
    quantiles = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
    return {
        key: tuple(float(np.quantile(days[level], q, method="inverted_cdf")) for level in levels)
        for key, q in quantiles.items()
    }
