"""Deterministic dates of a pump state: one home for each limit a refill date must respect.

* the **drug-stability limit** (``stability_limit``): fill time plus the infusate's shortest
  stability, the first-fill limit for a new pump;
* the **elective replacement indicator** (``elective_replacement_day``) and the battery share
  used at a later time (``battery_used_at``), from ``BatterySpec.drain_coefficients``;
* the nominal dates of each alarm on the programmed curve, the actual reservoir running dry at
  the rated accuracy limits, and two manufacturer rules as named options — the programmer's
  low-reservoir-alarm date (programmed delivery only) and Prometra's "next refill" (calculated
  volume at 3.0 mL assuming every allowed patient bolus is used) — in ``deterministic``.

``pumpsim check`` (``pumpsim.forecast.summary``), the probabilistic forecast and the clinic
planner call these functions; none of them works a limit out on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence

import numpy as np

from pumpsim.core.clock import to_datetime, to_days
from pumpsim.ensemble.montecarlo import Ensemble, Plan, presses_for, run_chunk
from pumpsim.models import FrozenModel, PtmDemand, Therapy
from pumpsim.models.refill import fill_stability_limit
from pumpsim.schedule.ptm import expected_boluses_per_day, ptm_max_ml_per_day
from pumpsim.schedule.segments import Course, CumulativeSchedule, programmed_volume_ml

__all__ = [
    "MAX_BATTERY_DAYS",
    "PROMETRA_REFILL_ML",
    "DeterministicForecast",
    "battery_used_at",
    "deterministic",
    "elective_replacement_day",
    "expected_ptm_ml_per_day",
    "stability_limit",
    "when",
]

PROMETRA_REFILL_ML = 3.0
"""Prometra's "date of next refill": the calculated volume reaching 3.0 mL (PTC guide p.5); the
catalog carries it as ``controller_next_refill`` of the Prometra pumps."""

MAX_BATTERY_DAYS = 15 * 366.0
"""The elective replacement date is searched no further than this (15 years)."""


class DeterministicForecast(FrozenModel):
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
    """The pump controller's "date of next refill" (Prometra: 3.0 mL with every allotted bolus);
    ``None`` for a pump without such a rule."""


def when(therapy: Therapy, day: float | None) -> dt.datetime | None:
    """The pump-clock time ``day`` days after the state; ``None`` for never (``None``/inf)."""
    if day is None or not math.isfinite(day):
        return None
    return to_datetime(therapy.state.time, day)


# ---------------------------------------------------------------- stability
def stability_limit(therapy: Therapy) -> dt.datetime:
    """Fill time plus the infusate's stability limit (first-fill limit for a new pump),
    to the second on the pump clock."""
    state = therapy.state
    return fill_stability_limit(state.fill_time, therapy.infusate, first_fill=state.first_fill)


# ---------------------------------------------------------------- battery
def battery_used_at(therapy: Therapy, moment: dt.datetime) -> float:
    """Battery share used at ``moment``: the state's share plus housekeeping per day plus the
    drain per programmed mL pumped since the state (at most 1)."""
    used = therapy.state.battery_used
    spec = therapy.pump.battery
    if spec is None:
        return used
    days = max(0.0, to_days(therapy.state.time, moment))
    housekeeping, per_ml = spec.drain_coefficients(therapy.pump.min_rate_ml_per_day)
    return min(1.0, used + housekeeping * days + per_ml * programmed_volume_ml(therapy, days))


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


# ---------------------------------------------------------------- alarms on the programmed curve
class _Plans:
    """The programmed-curve plans of one deterministic forecast, each built once per extra
    constant rate (the five trajectories share at most three; the schedules under them come
    from ``CumulativeSchedule.for_therapy``'s cache)."""

    def __init__(self, therapy: Therapy, course: Course | None) -> None:
        self.therapy = therapy
        self.course = course
        self._built: dict[float, Plan] = {}

    def get(self, extra_rate_ml_per_day: float) -> Plan:
        plan = self._built.get(extra_rate_ml_per_day)
        if plan is None:
            plan = Plan.build(
                self.therapy, extra_rate_ml_per_day=extra_rate_ml_per_day, course=self.course
            )
            self._built[extra_rate_ml_per_day] = plan
        return plan


def _first_crossings(
    plans: _Plans,
    factor: float,
    *,
    demand: PtmDemand | None = None,
    extra_rate_ml_per_day: float = 0.0,
    levels: Sequence[float] = (),
) -> Ensemble:
    """One deterministic trajectory: fixed factor, a press log (or none), an optional extra
    constant delivery rate (patient boluses spread evenly), the course's reprograms and stalls."""
    plan = plans.get(extra_rate_ml_per_day)
    no_ptm = demand is None or not demand.presses
    plan = dataclasses.replace(plan, demand=None if no_ptm else demand)
    presses = presses_for(plan, np.random.default_rng(0), 1)
    return run_chunk(plan, np.array([factor]), presses, levels)


def _first(arr: np.ndarray | None) -> float | None:
    return None if arr is None else float(arr[0])


def expected_ptm_ml_per_day(therapy: Therapy) -> float:
    """Patient-bolus volume a day on the expected-demand trajectory (mL/day): the bolus times
    ``schedule.ptm.expected_boluses_per_day`` (0 for a press log, which is used as logged)."""
    if therapy.ptm is None:
        return 0.0
    return therapy.ptm.bolus_volume_ml * expected_boluses_per_day(therapy.ptm, therapy.demand)


def deterministic(
    therapy: Therapy,
    *,
    delivery_factor: float | None = None,
    course: Course | None = None,
    ptm_ml_per_day: float | None = None,
) -> DeterministicForecast:
    """The deterministic forecast on one trajectory (no randomness).

    Nominal dates follow the **expected demand**: the program, the press log if the demand is
    one, else patient boluses at ``ptm_ml_per_day`` spread evenly over the day (default:
    ``expected_ptm_ml_per_day``; the probabilistic forecast passes its trajectories' mean
    granted rate), and ``delivery_factor`` (default: the therapy's, else 1). The programmer's
    alarm date counts the program alone; the best and worst cases take the rated accuracy
    limits without and with every allowed bolus. ``course`` adds planned reprograms and stalls.
    """
    factor = delivery_factor or therapy.delivery_factor or 1.0
    lo, hi = therapy.pump.delivery_factor_range
    demand = therapy.demand
    logged = demand is not None and bool(demand.presses)
    expected = (
        0.0
        if logged
        else (expected_ptm_ml_per_day(therapy) if ptm_ml_per_day is None else ptm_ml_per_day)
    )
    plans = _Plans(therapy, course)
    nominal = _first_crossings(plans, factor, demand=demand, extra_rate_ml_per_day=expected)
    program_only = _first_crossings(plans, factor)
    best = _first_crossings(plans, lo)
    max_ptm = ptm_max_ml_per_day(therapy.ptm)
    worst = _first_crossings(plans, hi, extra_rate_ml_per_day=max_ptm)
    return DeterministicForecast(
        low_reservoir_alarm=when(therapy, _first(nominal.low_reservoir_day)),
        empty_reservoir=when(therapy, _first(nominal.empty_day)),
        actual_dry=when(therapy, _first(nominal.actual_dry_day)),
        actual_dry_best_case=when(therapy, _first(best.actual_dry_day)),
        actual_dry_worst_case=when(therapy, _first(worst.actual_dry_day)),
        drug_stability_limit=stability_limit(therapy),
        elective_replacement=when(therapy, elective_replacement_day(therapy)),
        programmer_lra=when(therapy, _first(program_only.low_reservoir_day)),
        prometra_next_refill=_controller_next_refill(plans, factor, max_ptm),
    )


def _controller_next_refill(
    plans: _Plans, factor: float, max_ptm_ml_per_day: float
) -> dt.datetime | None:
    """The pump controller's own "date of next refill" (``PumpSpec.controller_next_refill_ml``,
    Prometra's 3.0 mL with every allotted bolus); ``None`` for pumps without that rule."""
    level = plans.therapy.pump.controller_next_refill_ml
    if level is None:
        return None
    run = _first_crossings(plans, factor, extra_rate_ml_per_day=max_ptm_ml_per_day, levels=(level,))
    return when(plans.therapy, _first(run.level_days[level]))
