"""A therapy at a glance: daily volume and dose, PTM allowance, days of supply, stability limit.

``summarize(therapy)`` is the library function behind ``pumpsim check``. It is deterministic and
works on the **programmed** delivery, the way the pump's own programmer does: the calculated
reservoir volume falls by exactly the programmed volume, so the low-reservoir alarm and the
calculated-empty dates follow from the program alone (no delivery-factor uncertainty; that is
the forecast's job).

Flex and weekday programs and periodic boluses are integrated exactly on the pump clock from
``state.time`` with ``schedule_math.CumulativeSchedule``; a threshold crossing is solved on the
piecewise-linear volume curve, not by stepping a clock.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pumpsim.models import Therapy
from pumpsim.schedule_math import (
    CumulativeSchedule,
    midnight_before,
    to_datetime,
    volume_to_dose_mg,
)

__all__ = ["DoseWarning", "DrugDose", "TherapySummary", "summarize"]

_MAX_HORIZON_DAYS = 20 * 365.0
"""Crossings further away than this (20 years) are reported as never reached."""

_MAX_DAY_WINDOW_DAYS = 28
"""Calendar days examined for the largest programmed daily volume (covers every weekday and
every periodic-bolus interval up to the 28-day maximum)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DrugDose(_Frozen):
    """One drug of the infusate: concentration and daily doses, all in mg (``mass_unit`` is how
    clinicians write this drug's doses: ``mg`` or ``mcg``; values here stay in mg)."""

    name: str
    mass_unit: Literal["mg", "mcg"]
    concentration_mg_per_ml: float
    mean_daily_dose_mg: float
    """Programmed basal + periodic-bolus dose averaged over a week (mg/day)."""
    max_daily_dose_mg: float
    """The largest programmed dose on any calendar day of the next four weeks (mg/day)."""
    ptm_max_dose_mg_per_day: float
    """Extra dose if every allowed patient bolus is taken (mg/day; 0 without PTM)."""
    soft_limit_mg_per_day: float | None
    hard_limit_mg_per_day: float | None


class DoseWarning(_Frozen):
    """A daily dose above a drug's soft (caution) or hard (do-not-exceed) limit."""

    drug: str
    mass_unit: Literal["mg", "mcg"]
    level: Literal["soft", "hard"]
    basis: Literal["programmed", "programmed + all PTM boluses"]
    dose_mg_per_day: float
    limit_mg_per_day: float

    @property
    def message(self) -> str:
        """One line for a human, doses in the drug's unit."""
        factor = 1000.0 if self.mass_unit == "mcg" else 1.0
        kind = "HARD limit" if self.level == "hard" else "soft limit"
        return (
            f"{self.drug}: highest-day {self.basis} dose {self.dose_mg_per_day * factor:.4g} "
            f"{self.mass_unit}/day is above the {kind} of "
            f"{self.limit_mg_per_day * factor:.4g} {self.mass_unit}/day"
        )


class TherapySummary(_Frozen):
    """What ``pumpsim check`` shows for a therapy; volumes in mL, times on the pump clock.

    Days are counted from ``state_time``; a ``None`` day count (and time) means the threshold is
    not reached within 20 years (e.g. a program of zero rates) or does not exist (a pump
    without a low-reservoir alarm).
    """

    patient_id: str
    indication: str
    pump_key: str
    pump_name: str
    pump_kind: Literal["programmable", "constant-flow"]
    reservoir_ml: float
    program_mode: Literal["simple", "flex"]
    flex_steps_per_day: int
    periodic_bolus_count: int
    state_time: dt.datetime
    calculated_volume_ml: float
    mean_daily_volume_ml: float
    """Programmed basal + periodic-bolus volume averaged over a week (mL/day)."""
    max_daily_volume_ml: float
    """The largest programmed volume on any calendar day of the next four weeks (mL)."""
    ptm_max_volume_ml_per_day: float
    """PTM bolus volume × maximum boluses per day (mL/day; 0 without PTM)."""
    drugs: tuple[DrugDose, ...]
    low_reservoir_alarm_ml: float | None
    """The alarm threshold in effect (mL of calculated volume); ``None`` if the pump has none."""
    days_to_low_reservoir: float | None
    low_reservoir_time: dt.datetime | None
    days_to_low_reservoir_all_ptm: float | None
    """As ``days_to_low_reservoir`` if every allowed PTM bolus is also taken, spread evenly over
    the day (the Prometra "next refill" convention)."""
    empty_threshold_ml: float
    days_to_empty: float | None
    """Days until the calculated volume reaches the pump's empty-reservoir threshold."""
    empty_time: dt.datetime | None
    stability_days: float
    """The shortest stability limit of the drugs in this fill (days from the fill)."""
    fill_time: dt.datetime
    stability_limit_time: dt.datetime
    days_to_stability_limit: float
    warnings: tuple[DoseWarning, ...]


def summarize(therapy: Therapy) -> TherapySummary:
    """Summarize ``therapy`` from its state onwards (see ``TherapySummary`` for the units)."""
    pump, program, state = therapy.pump, therapy.program, therapy.state
    origin = state.time
    mean_ml = program.mean_daily_volume_ml()
    ptm_ml = therapy.ptm.bolus_volume_ml * therapy.ptm.max_per_day if therapy.ptm else 0.0
    max_ml = _max_calendar_day_volume_ml(therapy)

    drugs = tuple(
        DrugDose(
            name=d.name,
            mass_unit=d.mass_unit,
            concentration_mg_per_ml=d.concentration_mg_per_ml,
            mean_daily_dose_mg=volume_to_dose_mg(mean_ml, d.concentration_mg_per_ml),
            max_daily_dose_mg=volume_to_dose_mg(max_ml, d.concentration_mg_per_ml),
            ptm_max_dose_mg_per_day=volume_to_dose_mg(ptm_ml, d.concentration_mg_per_ml),
            soft_limit_mg_per_day=d.soft_limit_mg_per_day,
            hard_limit_mg_per_day=d.hard_limit_mg_per_day,
        )
        for d in therapy.infusate.drugs
    )

    lra_ml = therapy.low_reservoir_alarm_ml if pump.low_reservoir_alarm is not None else None
    calc = state.calculated_volume_ml
    days_lra = None if lra_ml is None else _days_to_deliver(therapy, calc - lra_ml, 0.0)
    days_lra_ptm = None if lra_ml is None else _days_to_deliver(therapy, calc - lra_ml, ptm_ml)
    empty_ml = pump.empty_reservoir_threshold_ml
    days_empty = _days_to_deliver(therapy, calc - empty_ml, 0.0)

    stability = therapy.infusate.stability_days(first_fill=state.first_fill)
    stability_time = to_datetime(state.fill_time, stability)

    return TherapySummary(
        patient_id=therapy.patient_id,
        indication=therapy.indication,
        pump_key=pump.key,
        pump_name=pump.name,
        pump_kind=pump.kind,
        reservoir_ml=pump.reservoir_ml,
        program_mode=program.mode,
        flex_steps_per_day=program.max_steps_per_day(),
        periodic_bolus_count=len(program.periodic_boluses),
        state_time=origin,
        calculated_volume_ml=calc,
        mean_daily_volume_ml=mean_ml,
        max_daily_volume_ml=max_ml,
        ptm_max_volume_ml_per_day=ptm_ml,
        drugs=drugs,
        low_reservoir_alarm_ml=lra_ml,
        days_to_low_reservoir=days_lra,
        low_reservoir_time=_when(origin, days_lra),
        days_to_low_reservoir_all_ptm=days_lra_ptm,
        empty_threshold_ml=empty_ml,
        days_to_empty=days_empty,
        empty_time=_when(origin, days_empty),
        stability_days=stability,
        fill_time=state.fill_time,
        stability_limit_time=stability_time,
        days_to_stability_limit=(stability_time - origin).total_seconds() / 86400.0,
        warnings=_dose_warnings(drugs),
    )


def _when(origin: dt.datetime, days: float | None) -> dt.datetime | None:
    return None if days is None else to_datetime(origin, days)


def _days_to_deliver(therapy: Therapy, volume_ml: float, extra_ml_per_day: float) -> float | None:
    """Days from ``state.time`` until the program (plus an even ``extra_ml_per_day``) has
    delivered ``volume_ml``; 0 if there is nothing left to deliver, ``None`` beyond 20 years."""
    if volume_ml <= 0:
        return 0.0
    mean = therapy.program.mean_daily_volume_ml() + extra_ml_per_day
    if mean <= 0:
        return None
    # the pattern repeats at most every 4 weeks, so 2 × (estimate + 28 days) always suffices
    # unless the crossing is far away; widen geometrically up to the horizon.
    horizon = min(volume_ml / mean + 2 * _MAX_DAY_WINDOW_DAYS, _MAX_HORIZON_DAYS)
    while True:
        schedule = CumulativeSchedule.for_therapy(
            therapy, horizon, extra_ml_per_day=extra_ml_per_day
        )
        days = float(schedule.time_of_volume(volume_ml))
        if math.isfinite(days):
            return days
        if horizon >= _MAX_HORIZON_DAYS:
            return None
        horizon = min(2 * horizon, _MAX_HORIZON_DAYS)


def _max_calendar_day_volume_ml(therapy: Therapy) -> float:
    """Largest programmed volume (mL) in one pump-clock calendar day over the next 4 weeks,
    counting whole days from the first midnight after ``state.time``."""
    origin = therapy.state.time
    first_midnight = midnight_before(origin, 0.0)
    if first_midnight < 0:
        first_midnight += 1.0
    end = first_midnight + _MAX_DAY_WINDOW_DAYS
    schedule = CumulativeSchedule.for_therapy(therapy, end)
    midnights = [first_midnight + k for k in range(_MAX_DAY_WINDOW_DAYS + 1)]
    volumes = schedule.volume_at(midnights)
    return float(max(volumes[1:] - volumes[:-1]))


def _level(dose_mg: float, drug: DrugDose) -> tuple[int, float]:
    """(0 ok | 1 above soft | 2 above hard, the limit broken in mg/day)."""
    if drug.hard_limit_mg_per_day is not None and dose_mg > drug.hard_limit_mg_per_day:
        return 2, drug.hard_limit_mg_per_day
    if drug.soft_limit_mg_per_day is not None and dose_mg > drug.soft_limit_mg_per_day:
        return 1, drug.soft_limit_mg_per_day
    return 0, 0.0


def _dose_warnings(drugs: tuple[DrugDose, ...]) -> tuple[DoseWarning, ...]:
    """Limits broken by the highest-day programmed dose, and (only if worse) by that dose plus
    every allowed PTM bolus."""
    warnings: list[DoseWarning] = []
    for drug in drugs:
        programmed, limit = _level(drug.max_daily_dose_mg, drug)
        if programmed:
            warnings.append(
                DoseWarning(
                    drug=drug.name,
                    mass_unit=drug.mass_unit,
                    level="hard" if programmed == 2 else "soft",
                    basis="programmed",
                    dose_mg_per_day=drug.max_daily_dose_mg,
                    limit_mg_per_day=limit,
                )
            )
        with_ptm_mg = drug.max_daily_dose_mg + drug.ptm_max_dose_mg_per_day
        with_ptm, limit = _level(with_ptm_mg, drug)
        if drug.ptm_max_dose_mg_per_day > 0 and with_ptm > programmed:
            warnings.append(
                DoseWarning(
                    drug=drug.name,
                    mass_unit=drug.mass_unit,
                    level="hard" if with_ptm == 2 else "soft",
                    basis="programmed + all PTM boluses",
                    dose_mg_per_day=with_ptm_mg,
                    limit_mg_per_day=limit,
                )
            )
    return tuple(warnings)
