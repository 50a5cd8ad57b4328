"""Refill forecasting: when must this patient come back?

Two views of the same pump state:

* **Deterministic** (``deterministic``): the nominal date of each alarm on the programmed curve,
  the actual reservoir running dry at the rated accuracy limits, the drug-stability limit, the
  elective replacement date, and two manufacturer rules as named options — the programmer's
  low-reservoir-alarm date (programmed delivery only) and Prometra's "next refill" (calculated
  volume at 3.0 mL assuming every allowed patient bolus is used).
* **Probabilistic** (``forecast``): ``runs`` trajectories of ``pumpsim.montecarlo`` with uncertain
  delivery factor and bolus demand; quantiles of each alarm date, and the refill window.

**Risk definition.** A refill on date ``d`` (pump clock) may happen at any time that day, so it is
in time when neither the low-reservoir alarm nor the actual reservoir running dry happens before
the end of ``d``. ``refill_by`` is the latest ``d`` for which the share of trajectories with such
an event before the end of ``d`` is below ``risk``, that also ends no later than the
drug-stability limit and the elective replacement date. ``limiting_factor`` names the bound that
binds. ``earliest_refill`` is the first date on which, in the median trajectory, ``min_used_share``
of the usable reservoir (capacity down to the alarm threshold) has been delivered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr

from pumpsim.calibration import DeliveryFactorEstimate, DemandEstimate
from pumpsim.errors import SimulationError
from pumpsim.models import PtmDemand, PtmSettings, Therapy
from pumpsim.montecarlo import (
    DEFAULT_CHUNK,
    Ensemble,
    FactorDistribution,
    Plan,
    presses_for,
    run_chunk,
    simulate_ensemble,
)
from pumpsim.schedule_math import CumulativeSchedule, to_datetime

__all__ = [
    "DeterministicForecast",
    "EventForecast",
    "FanChart",
    "Forecast",
    "LimitingFactor",
    "deterministic",
    "elective_replacement_day",
    "forecast",
    "forecast_many",
    "ptm_max_ml_per_day",
]

LimitingFactor = Literal[
    "low_reservoir_alarm", "actual_dry", "drug_stability", "elective_replacement"
]
Event = Literal["low_reservoir_alarm", "empty_reservoir", "actual_dry", "refill_needed"]
PROMETRA_REFILL_ML = 3.0
"""Prometra's "date of next refill": the calculated volume reaching 3.0 mL (PTC guide p.5)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventForecast(_Frozen):
    """An event's date: nominal (deterministic) and quantiles over trajectories.

    ``None`` means the event does not happen within the simulated horizon."""

    nominal: dt.datetime | None
    p05: dt.datetime | None
    p50: dt.datetime | None
    p95: dt.datetime | None


class FanChart(_Frozen):
    """Calculated reservoir volume over time: for each level (mL) the day (since ``origin``) by
    which the given share of trajectories has fallen to it (``quantile_days["p05"]`` is the
    early edge of the fan)."""

    origin: dt.datetime
    start_ml: float
    levels_ml: tuple[float, ...]
    quantile_days: dict[str, tuple[float, ...]]

    def band(self, lo: str, hi: str) -> list[tuple[float, dt.datetime, dt.datetime]]:
        """``(level mL, time of quantile lo, time of quantile hi)`` from the start, for every
        level both quantiles reach within the horizon."""
        out = [(self.start_ml, self.origin, self.origin)]
        for level, a, b in zip(
            self.levels_ml, self.quantile_days[lo], self.quantile_days[hi], strict=True
        ):
            if math.isfinite(a) and math.isfinite(b):
                out.append((level, to_datetime(self.origin, a), to_datetime(self.origin, b)))
        return out


class DeterministicForecast(_Frozen):
    """Dates on the programmed curve (no randomness). See the module docstring."""

    low_reservoir_alarm: dt.datetime | None
    empty_reservoir: dt.datetime | None
    actual_dry: dt.datetime | None
    actual_dry_best_case: dt.datetime | None
    """Lowest rated delivery factor, no patient boluses: the latest the reservoir runs dry."""
    actual_dry_worst_case: dt.datetime | None
    """Highest rated factor and every allowed patient bolus used: the earliest."""
    drug_stability_limit: dt.datetime
    elective_replacement: dt.datetime | None
    programmer_lra: dt.datetime | None
    prometra_next_refill: dt.datetime | None


class Forecast(_Frozen):
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
    _samples: dict[str, np.ndarray] | None = PrivateAttr(default=None)

    def quantile(self, event: Event, q: float) -> dt.datetime | None:
        """The ``q`` quantile of an event's date over the trajectories (needs the samples)."""
        days = self._require(event)
        value = float(np.quantile(days, q, method="inverted_cdf"))
        return to_datetime(self.state_time, value) if math.isfinite(value) else None

    def probability_before(self, event: Event, when: dt.datetime) -> float:
        """Share of trajectories in which ``event`` happens before ``when``."""
        days = self._require(event)
        limit = (when - self.state_time).total_seconds() / 86400.0
        return float(np.mean(days < limit))

    def _require(self, event: Event) -> np.ndarray:
        if self._samples is None or event not in self._samples:
            raise SimulationError(f"no samples of {event!r} kept; use keep_samples=True")
        return self._samples[event]

    def recommendation(self) -> str:
        """One line for a nurse: the refill window and what limits it."""
        why = _WHY[self.limiting_factor]
        if self.overdue:
            return f"Refill now: {why} is already within the {self.risk:.0%} risk limit."
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
            "recommendation": self.recommendation(),
            "risk": self.risk,
            "runs": self.runs,
            "seed": self.seed,
            "delivery_factor_mean": round(self.delivery_factor_mean, 6),
            "ptm_granted_per_day": round(self.ptm_granted_per_day, 6),
        }


_WHY: dict[LimitingFactor, str] = {
    "low_reservoir_alarm": "the low-reservoir alarm",
    "actual_dry": "the reservoir running dry",
    "drug_stability": "the drug-stability limit",
    "elective_replacement": "the elective replacement indicator",
}


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


# ---------------------------------------------------------------- deterministic pieces
def ptm_max_ml_per_day(ptm: PtmSettings | None) -> float:
    """Patient-bolus volume per day if every allowed bolus is used (mL/day): the daily maximum,
    or fewer when lockout or bolus duration leave less room (one bolus per
    ``max(lockout, duration)``)."""
    if ptm is None or ptm.max_per_day == 0:
        return 0.0
    spacing = max(ptm.lockout_days, ptm.duration_days)
    return ptm.bolus_volume_ml * min(float(ptm.max_per_day), 1.0 / spacing)


def elective_replacement_day(therapy: Therapy, ptm_ml_per_day: float = 0.0) -> float | None:
    """Days from ``state.time`` until the battery's used share reaches 1 (ERI), assuming the
    current program (plus ``ptm_ml_per_day`` of boluses) continues with timely refills.

    Battery drain per day = housekeeping + per-mL drain × volume pumped that day
    (``BatterySpec.drain_coefficients``). Exact for flex programs. ``None`` without a battery."""
    battery = therapy.pump.battery
    if battery is None:
        return None
    house, per_ml = battery.drain_coefficients(therapy.pump.min_rate_ml_per_day)
    left = 1.0 - therapy.state.battery_used
    if left <= 0:
        return 0.0
    if per_ml <= 0:
        return left / house if house > 0 else None
    # solve house*t + per_ml*(P(t) + ptm*t) = left  <=>  P(t) + (ptm + house/per_ml)*t = left/per_ml
    extra = ptm_ml_per_day + house / per_ml
    target = left / per_ml
    if not therapy.program.periodic_boluses:
        # the program repeats every 7 days on the pump clock: whole weeks, then one week exactly
        week = CumulativeSchedule.for_therapy(therapy, 7.0, extra_ml_per_day=extra)
        per_week = float(week.volumes[-1])
        if per_week <= 0:
            return None
        full = max(math.ceil(target / per_week) - 1, 0)
        return 7.0 * full + float(week.time_of_volume(target - full * per_week))
    bound = left / house if house > 0 else MAX_BATTERY_DAYS
    curve = CumulativeSchedule.for_therapy(
        therapy, min(bound, MAX_BATTERY_DAYS) + 1.0, extra_ml_per_day=extra
    )
    day = float(curve.time_of_volume(target))
    return day if math.isfinite(day) else None


MAX_BATTERY_DAYS = 15 * 366.0


def _first_crossings(
    therapy: Therapy,
    factor: float,
    *,
    demand: PtmDemand | None = None,
    extra_rate_ml_per_day: float = 0.0,
    levels: Sequence[float] = (),
) -> Ensemble:
    """One deterministic trajectory: fixed factor, a press log (or none), an optional extra
    constant delivery rate (every allowed bolus used)."""
    plan = Plan.build(therapy, extra_rate_ml_per_day=extra_rate_ml_per_day)
    no_ptm = demand is None or not demand.presses
    plan = dataclasses.replace(plan, demand=None if no_ptm else demand)
    presses = presses_for(plan, np.random.default_rng(0), 1)
    return run_chunk(plan, np.array([factor]), presses, levels)


def _when(therapy: Therapy, day: float | None) -> dt.datetime | None:
    if day is None or not math.isfinite(day):
        return None
    return to_datetime(therapy.state.time, day)


def deterministic(
    therapy: Therapy, *, delivery_factor: float | None = None
) -> DeterministicForecast:
    """The deterministic forecast. Nominal dates use the programmed delivery, the press log if
    the demand is one, and ``delivery_factor`` (default: the therapy's, else 1)."""
    factor = delivery_factor or therapy.delivery_factor or 1.0
    lo, hi = therapy.pump.delivery_factor_range
    nominal = _first_crossings(therapy, factor, demand=therapy.demand)
    program_only = _first_crossings(therapy, factor)
    best = _first_crossings(therapy, lo)
    max_ptm = ptm_max_ml_per_day(therapy.ptm)
    worst = _first_crossings(therapy, hi, extra_rate_ml_per_day=max_ptm)
    prometra = _first_crossings(
        therapy, factor, extra_rate_ml_per_day=max_ptm, levels=(PROMETRA_REFILL_ML,)
    )

    def first(arr: np.ndarray | None) -> float | None:
        return None if arr is None else float(arr[0])

    return DeterministicForecast(
        low_reservoir_alarm=_when(therapy, first(nominal.low_reservoir_day)),
        empty_reservoir=_when(therapy, first(nominal.empty_day)),
        actual_dry=_when(therapy, first(nominal.actual_dry_day)),
        actual_dry_best_case=_when(therapy, first(best.actual_dry_day)),
        actual_dry_worst_case=_when(therapy, first(worst.actual_dry_day)),
        drug_stability_limit=stability_limit(therapy),
        elective_replacement=_when(therapy, elective_replacement_day(therapy)),
        programmer_lra=_when(therapy, first(program_only.low_reservoir_day)),
        prometra_next_refill=_when(therapy, first(prometra.level_days[PROMETRA_REFILL_ML])),
    )


def stability_limit(therapy: Therapy) -> dt.datetime:
    """Fill time plus the infusate's stability limit (first-fill limit for a new pump)."""
    state = therapy.state
    days = therapy.infusate.stability_days(first_fill=state.first_fill)
    return state.fill_time + dt.timedelta(days=days)


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
    min_used_share: float = 0.5,
    horizon_days: float | None = None,
    fan: bool = False,
    keep_samples: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
) -> Forecast:
    """Forecast ``therapy`` from its state. See the module docstring for the risk definition.

    ``delivery_factor`` and ``demand`` replace the therapy's (e.g. calibrated estimates);
    ``min_used_share`` is the earliest-refill policy; ``fan`` adds calculated-volume quantile
    curves for a fan chart; ``keep_samples`` keeps per-trajectory dates for ``quantile`` and
    ``probability_before``. The same seed gives the same answer.
    """
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
    factor = (
        delivery_factor.distribution()
        if isinstance(delivery_factor, DeliveryFactorEstimate)
        else delivery_factor
    )
    rate_shape = demand.rate_shape if isinstance(demand, DemandEstimate) else None
    use_demand = demand.demand if isinstance(demand, DemandEstimate) else demand
    if use_demand is not None and therapy.ptm is None:
        raise SimulationError("a demand needs ptm settings in the therapy")
    plan = Plan.build(therapy, horizon_days=horizon_days, demand=use_demand)
    alarm_ml = (
        plan.low_reservoir_ml if plan.low_reservoir_ml is not None else plan.empty_threshold_ml
    )
    reservoir = therapy.pump.reservoir_ml
    early_level = reservoir - min_used_share * (reservoir - alarm_ml)
    fan_levels = tuple(np.linspace(plan.volume_ml, plan.empty_threshold_ml, 41)[1:]) if fan else ()
    ens = simulate_ensemble(
        therapy,
        runs=runs,
        seed=seed,
        factor=factor,
        demand_rate_shape=rate_shape,
        levels=(early_level, *fan_levels),
        chunk_size=chunk_size,
        plan=plan,
    )
    fixed = factor.mean if factor is not None else therapy.delivery_factor
    det = deterministic(therapy, delivery_factor=fixed)
    stability = stability_limit(therapy)
    granted_rate = _granted_per_day(ens)
    ptm_ml = granted_rate * (therapy.ptm.bolus_volume_ml if therapy.ptm else 0.0)
    eri = _when(therapy, elective_replacement_day(therapy, ptm_ml))
    need = (
        ens.actual_dry_day
        if ens.low_reservoir_day is None
        else np.minimum(ens.low_reservoir_day, ens.actual_dry_day)
    )
    refill_by, factor_name = _refill_by(therapy, ens, need, risk, stability, eri)
    overdue = refill_by < as_of.date()
    refill_by = max(refill_by, as_of.date())
    early_day = float(np.quantile(ens.level_days[early_level], 0.5, method="inverted_cdf"))
    early = _when(therapy, early_day)
    earliest = max(as_of.date(), early.date() if early else refill_by)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    result = Forecast(
        patient_id=therapy.patient_id,
        as_of=as_of,
        state_time=state.time,
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
        refill_by=refill_by,
        earliest_refill=min(earliest, refill_by),
        limiting_factor=factor_name,
        overdue=overdue,
        risk=risk,
        runs=runs,
        seed=int(root.entropy) if isinstance(root.entropy, int) else 0,
        stream=tuple(root.spawn_key),
        delivery_factor_mean=float(ens.delivery_factor.mean()),
        ptm_granted_per_day=granted_rate,
        horizon_end=to_datetime(state.time, plan.horizon_day),
        fan=_fan(therapy, ens, fan_levels) if fan else None,
    )
    if keep_samples:
        samples = {
            "empty_reservoir": ens.empty_day,
            "actual_dry": ens.actual_dry_day,
            "refill_needed": need,
        }
        if ens.low_reservoir_day is not None:
            samples["low_reservoir_alarm"] = ens.low_reservoir_day
        result._samples = samples
    return result


def _nominal_volume(plan: Plan, when: dt.datetime) -> float:
    day = (when - plan.therapy.state.time).total_seconds() / 86400.0
    return max(plan.volume_ml - float(plan.schedule.volume_at(day)), 0.0)


def _granted_per_day(ens: Ensemble) -> float:
    span = np.where(np.isfinite(ens.empty_day), ens.empty_day, ens.horizon_day)
    return float(np.mean(ens.ptm_granted / np.maximum(span, 1e-9)))


def _event(therapy: Therapy, nominal: dt.datetime | None, days: np.ndarray) -> EventForecast:
    q = np.quantile(days, [0.05, 0.5, 0.95], method="inverted_cdf")
    return EventForecast(
        nominal=nominal,
        p05=_when(therapy, float(q[0])),
        p50=_when(therapy, float(q[1])),
        p95=_when(therapy, float(q[2])),
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
    date, _, name = min(candidates)
    return date, name


def _fan(therapy: Therapy, ens: Ensemble, levels: Sequence[float]) -> FanChart:
    quantiles = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
    days = {
        key: tuple(
            float(np.quantile(ens.level_days[level], q, method="inverted_cdf")) for level in levels
        )
        for key, q in quantiles.items()
    }
    return FanChart(
        origin=therapy.state.time,
        start_ml=therapy.state.calculated_volume_ml,
        levels_ml=tuple(float(v) for v in levels),
        quantile_days=days,
    )


# ---------------------------------------------------------------- rosters
ProgressCallback = Callable[[int, int], None]


def _forecast_job(args: tuple[Therapy, np.random.SeedSequence, dict[str, Any]]) -> Forecast:
    therapy, seq, options = args
    return forecast(therapy, seed=seq, **options)


def forecast_many(
    therapies: Sequence[Therapy],
    *,
    seed: int = 0,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    keep_samples: bool = False,
    **options: Any,
) -> list[Forecast]:
    """Forecast a roster, in order. Patient ``i`` uses the seed sequence ``SeedSequence(seed)``
    with spawn key ``(i,)``, so the answer is the same for any ``workers`` (default: all cores;
    1 = in this process). ``progress(done, total)`` is called after each patient. Other options
    are passed to ``forecast``."""
    total = len(therapies)
    root = np.random.SeedSequence(seed)
    jobs = [
        (
            t,
            np.random.SeedSequence(root.entropy, spawn_key=(i,)),
            {**options, "keep_samples": keep_samples},
        )
        for i, t in enumerate(therapies)
    ]
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise SimulationError(f"workers must be at least 1, got {workers}")
    results: list[Forecast | None] = [None] * total
    if workers == 1 or total <= 1:
        for i, job in enumerate(jobs):
            results[i] = _forecast_job(job)
            if progress:
                progress(i + 1, total)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, total)) as pool:
            futures = {pool.submit(_forecast_job, job): i for i, job in enumerate(jobs)}
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                if progress:
                    progress(done, total)
    return [r for r in results if r is not None]
