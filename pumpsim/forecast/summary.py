"""A therapy at a glance: daily volume and dose, PTM allowance, days of supply, stability limit.

``summarize(therapy)`` is the library function behind ``pumpsim check``. It is deterministic and
works on the **programmed** delivery, the way the pump's own programmer does: the calculated
reservoir volume falls by exactly the programmed volume, so the low-reservoir alarm and the
calculated-empty dates follow from the program alone (no delivery-factor uncertainty; that is
the forecast's job).

Flex and weekday programs and periodic boluses are integrated exactly on the pump clock from
``state.time`` with ``schedule.segments.CumulativeSchedule``; a threshold crossing is solved on the
piecewise-linear volume curve, not by stepping a clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pumpsim.core.clock import to_days
from pumpsim.core.units import MassUnit
from pumpsim.forecast.deterministic import elective_replacement_day, stability_limit, when
from pumpsim.models import FrozenModel, Therapy
from pumpsim.models.timeline import Timeline
from pumpsim.schedule.limits import (
    DoseWarning,
    InDrugUnit,
    enforce_dose_limits,
)
from pumpsim.schedule.ptm import ptm_max_ml_per_day
from pumpsim.schedule.segments import (
    days_to_deliver,
    max_calendar_day_volume_ml,
    mean_daily_volume_ml,
    volume_to_dose_mg,
)

__all__ = ["DoseWarning", "DrugDose", "TherapySummary", "overdue_since", "summarize"]

_MAX_HORIZON_DAYS = 20 * 365.0
"""Crossings further away than this (20 years) are reported as never reached."""


class DrugDose(InDrugUnit):
    """One drug of the infusate: concentration and daily doses, all in mg (``mass_unit`` is how
    clinicians write this drug's doses: ``mg`` or ``mcg``; values here stay in mg)."""

    name: str
    mass_unit: MassUnit
    concentration_mg_per_ml: float
    mean_daily_dose_mg: float
    """Programmed basal + periodic-bolus dose averaged over a week (mg/day)."""
    max_daily_dose_mg: float
    """The largest programmed dose on any calendar day of the next four weeks (mg/day)."""
    ptm_max_dose_mg_per_day: float
    """Extra dose if every allowed patient bolus is taken (mg/day; 0 without PTM)."""
    soft_limit_mg_per_day: float | None
    hard_limit_mg_per_day: float | None


class TherapySummary(FrozenModel):
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
    """PTM bolus volume × the most boluses a day can hold (``schedule.ptm.max_boluses_per_day``:
    the daily maximum, or fewer when the lockout leaves less room) (mL/day; 0 without PTM)."""
    drugs: tuple[DrugDose, ...]
    low_reservoir_alarm_ml: float | None
    """The alarm threshold in effect (mL of calculated volume); ``None`` if the pump has none."""
    days_to_low_reservoir: float | None
    low_reservoir_time: dt.datetime | None
    days_to_low_reservoir_all_ptm: float | None
    """As ``days_to_low_reservoir`` if every allowed PTM bolus is also taken, spread evenly over
    the day."""
    low_reservoir_all_ptm_time: dt.datetime | None
    controller_next_refill_ml: float | None
    """The pump controller's own "date of next refill" level (Prometra's PTC: 3.0 mL, every
    allotted bolus taken); ``None`` for pumps without that rule."""
    days_to_controller_next_refill: float | None
    controller_next_refill_time: dt.datetime | None
    empty_threshold_ml: float
    days_to_empty: float | None
    """Days until the calculated volume reaches the pump's empty-reservoir threshold."""
    empty_time: dt.datetime | None
    stability_days: float
    """The shortest stability limit of the drugs in this fill (days from the fill)."""
    fill_time: dt.datetime
    stability_limit_time: dt.datetime
    days_to_stability_limit: float
    elective_replacement_time: dt.datetime | None
    """When the battery reaches its elective replacement indicator if the program continues with
    timely refills; ``None`` for a pump without a battery or beyond 15 years."""
    refill_limit_time: dt.datetime
    """The first of: the low-reservoir alarm with every PTM bolus (the calculated-empty time on
    a pump without the alarm), the stability limit and the battery ERI: the refill is due by
    then (the clinic's schedule windows end ``margin_days`` before it)."""
    refill_limit_factor: Literal[
        "low_reservoir_alarm", "empty_reservoir", "stability", "elective_replacement"
    ]
    warnings: tuple[DoseWarning, ...]
    """Soft-limit doses, and hard-limit doses allowed by ``dose_limit_override``
    (``schedule.limits``; without the override a hard-limit dose raises ``DoseLimitError``)."""
    dose_limit_override: str | None
    """The profile's reason for overriding the hard dose limits (teaching), shown wherever the
    therapy is."""


def summarize(therapy: Therapy, timeline: Timeline | None = None) -> TherapySummary:
    """Summarize ``therapy`` from its state onwards (see ``TherapySummary`` for the units).

    Raises ``schedule.limits.DoseLimitError`` when a dose of the therapy or of a later program or
    infusate in ``timeline`` is above a hard limit and the profile has no override.
    """
    warnings = enforce_dose_limits(therapy, timeline)
    pump, program, state = therapy.pump, therapy.program, therapy.state
    mean_ml = mean_daily_volume_ml(program)
    ptm_ml = ptm_max_ml_per_day(therapy.ptm)
    max_ml = max_calendar_day_volume_ml(therapy)
    dates = _reservoir_dates(therapy, ptm_ml)
    stability_time = stability_limit(therapy)
    eri_time = when(therapy, elective_replacement_day(therapy))
    limit_time, factor = _refill_limit(
        stability_time,
        dates["low_reservoir_all_ptm_time"],
        dates["low_reservoir_alarm_ml"],
        dates["empty_time"],
        eri_time,
    )
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
        state_time=state.time,
        calculated_volume_ml=state.calculated_volume_ml,
        mean_daily_volume_ml=mean_ml,
        max_daily_volume_ml=max_ml,
        ptm_max_volume_ml_per_day=ptm_ml,
        drugs=_drug_doses(therapy, mean_ml, max_ml, ptm_ml),
        **dates,
        stability_days=therapy.infusate.stability_days(first_fill=state.first_fill),
        fill_time=state.fill_time,
        stability_limit_time=stability_time,
        days_to_stability_limit=to_days(state.time, stability_time),
        elective_replacement_time=eri_time,
        refill_limit_time=limit_time,
        refill_limit_factor=factor,
        warnings=warnings,
        dose_limit_override=therapy.dose_limits.override,
    )


def _reservoir_dates(therapy: Therapy, ptm_ml: float) -> dict[str, Any]:
    """The ``TherapySummary`` fields of the low-reservoir alarm (with and without every PTM
    bolus), the controller's next-refill rule and the calculated-empty threshold."""
    calc = therapy.state.calculated_volume_ml
    lra_ml = therapy.low_reservoir_alarm_ml
    days_lra = None if lra_ml is None else _days_to(therapy, calc - lra_ml)
    days_lra_ptm = None if lra_ml is None else _days_to(therapy, calc - lra_ml, ptm_ml)
    controller_ml = therapy.pump.controller_next_refill_ml
    days_controller = (
        None if controller_ml is None else _days_to(therapy, calc - controller_ml, ptm_ml)
    )
    empty_ml = therapy.pump.empty_reservoir_threshold_ml
    days_empty = _days_to(therapy, calc - empty_ml)
    return {
        "low_reservoir_alarm_ml": lra_ml,
        "days_to_low_reservoir": days_lra,
        "low_reservoir_time": when(therapy, days_lra),
        "days_to_low_reservoir_all_ptm": days_lra_ptm,
        "low_reservoir_all_ptm_time": when(therapy, days_lra_ptm),
        "controller_next_refill_ml": controller_ml,
        "days_to_controller_next_refill": days_controller,
        "controller_next_refill_time": when(therapy, days_controller),
        "empty_threshold_ml": empty_ml,
        "days_to_empty": days_empty,
        "empty_time": when(therapy, days_empty),
    }


RefillFactor = Literal[
    "low_reservoir_alarm", "empty_reservoir", "stability", "elective_replacement"
]


def _refill_limit(
    stability_time: dt.datetime,
    alarm_all_ptm_time: dt.datetime | None,
    alarm_ml: float | None,
    empty_time: dt.datetime | None,
    eri_time: dt.datetime | None,
) -> tuple[dt.datetime, RefillFactor]:
    """The first limit a refill must beat (``TherapySummary.refill_limit_time``)."""
    limits: list[tuple[dt.datetime, RefillFactor]] = [(stability_time, "stability")]
    if alarm_ml is not None:
        if alarm_all_ptm_time is not None:
            limits.append((alarm_all_ptm_time, "low_reservoir_alarm"))
    elif empty_time is not None:
        limits.append((empty_time, "empty_reservoir"))
    if eri_time is not None:
        limits.append((eri_time, "elective_replacement"))
    return min(limits)


def overdue_since(summary: TherapySummary, as_of: dt.datetime) -> dt.datetime | None:
    """``summary.refill_limit_time`` if it is already past at ``as_of`` (the refill is
    overdue), else ``None``."""
    return summary.refill_limit_time if summary.refill_limit_time < as_of else None


def _drug_doses(
    therapy: Therapy, mean_ml: float, max_ml: float, ptm_ml: float
) -> tuple[DrugDose, ...]:
    return tuple(
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


def _days_to(therapy: Therapy, volume_ml: float, extra_ml_per_day: float = 0.0) -> float | None:
    return days_to_deliver(
        therapy, volume_ml, extra_ml_per_day=extra_ml_per_day, max_days=_MAX_HORIZON_DAYS
    )
