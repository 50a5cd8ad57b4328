"""What a cohort's pump rules say, once per pump model × therapy option ("combination").

A cohort has few pump models and few infusates, so each pump rule is asked once per
combination through its one home, on the template ``Therapy`` of ``CohortSpec.therapy``:

* the low-reservoir alarm in effect: ``Therapy.low_reservoir_alarm_ml``;
* the reservoir and the empty threshold (the calculated volume at which the pump reports empty
  and drops to its ``rate_after_empty``): the pump catalog (``PumpSpec``);
* the drug-stability limit of a fill: ``Infusate.stability_days`` (``fill_stability_limit``'s
  rule, a fill that is not a first fill);
* dose → volume: ``schedule.segments.dose_to_volume_ml`` (a simple program's
  ``mean_daily_volume_ml`` is its rate);
* the most PTM boluses a day holds: ``schedule.ptm.max_boluses_per_day`` (the expected number
  a day is ``min(presses, that)``: ``expected_boluses_per_day``, per patient) and their volume
  (``ptm_max_ml_per_day``, for Prometra's "next refill" rule,
  ``PumpSpec.controller_next_refill_ml``);
* the battery: ``BatterySpec.drain_coefficients`` (housekeeping share a day, share per mL), the
  model ``forecast.deterministic.elective_replacement_day`` solves;
* the delivery factor: ``FactorDistribution`` (the spec's, else ``for_therapy``: uniform within
  the pump's rated accuracy);
* the dose limits: ``schedule.limits.enforce_dose_limits`` on the highest dose (the titration
  cap) with every PTM bolus: a cohort whose cap is above a drug's hard limit is refused with
  ``DoseLimitError`` before any patient is simulated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pumpsim.models import FactorDistribution, Therapy
from pumpsim.models.cohort import CohortSpec
from pumpsim.schedule.limits import enforce_dose_limits
from pumpsim.schedule.ptm import max_boluses_per_day, ptm_max_ml_per_day
from pumpsim.schedule.segments import dose_to_volume_ml

FloatArray = npt.NDArray[np.float64]

__all__ = ["Combination", "check_dose_limits", "combinations"]


@dataclass(frozen=True)
class Combination:
    """The pump rules' answers for ``pumps[pump]`` with ``therapies[option]``."""

    pump: int
    option: int
    reservoir_ml: float
    empty_ml: float
    """The calculated volume at which the pump reports empty (``empty_reservoir_threshold``)."""
    alarm_ml: float
    controller_ml: float
    """The pump controller's own "next refill" level (Prometra: 3 mL, every allotted bolus
    taken; ``PumpSpec.controller_next_refill_ml``), NaN for a pump without that rule."""
    ptm_max_ml_per_day: float
    """Every allowed PTM bolus a day (``schedule.ptm.ptm_max_ml_per_day``)."""
    stability_days: float
    ml_per_mg: float
    """Programmed volume per mg of the primary drug (mL/mg): ``dose_to_volume_ml(1, c)``."""
    bolus_ml: float
    max_boluses_per_day: int
    housekeeping_per_day: float
    """Battery share used a day whatever is pumped (0 without a battery model)."""
    per_ml: float
    """Battery share used per mL pumped (0 without a battery model)."""
    has_battery: bool
    factor: FactorDistribution
    stall_per_year: float
    """Motor stalls per pump-year for this option's drug (on- or off-label)."""


def combinations(spec: CohortSpec) -> tuple[Combination, ...]:
    """Every pump × option combination, pump-major (index ``pump * len(therapies) + option``)."""
    out = []
    for p in range(len(spec.pumps)):
        for o, opt in enumerate(spec.therapies):
            therapy = spec.therapy(p, o, opt.daily_dose.high)
            pump = therapy.pump
            alarm = therapy.low_reservoir_alarm_ml
            assert alarm is not None  # PumpChoice admits only pumps with the alarm
            house, per_ml = (
                pump.battery.drain_coefficients(pump.min_rate_ml_per_day)
                if pump.battery is not None
                else (0.0, 0.0)
            )
            stall = spec.events.motor_stall
            out.append(
                Combination(
                    pump=p,
                    option=o,
                    reservoir_ml=pump.reservoir_ml,
                    empty_ml=pump.empty_reservoir_threshold_ml,
                    alarm_ml=alarm,
                    controller_ml=(
                        math.nan
                        if pump.controller_next_refill_ml is None
                        else pump.controller_next_refill_ml
                    ),
                    ptm_max_ml_per_day=ptm_max_ml_per_day(opt.ptm),
                    stability_days=therapy.infusate.stability_days(),
                    ml_per_mg=dose_to_volume_ml(
                        1.0, therapy.infusate.primary.concentration_mg_per_ml
                    ),
                    bolus_ml=0.0 if opt.ptm is None else opt.ptm.bolus_volume_ml,
                    max_boluses_per_day=max_boluses_per_day(opt.ptm),
                    housekeeping_per_day=house,
                    per_ml=per_ml,
                    has_battery=pump.battery is not None,
                    factor=_factor(spec, therapy),
                    stall_per_year=(
                        stall.per_pump_year if opt.on_label else stall.off_label_per_pump_year
                    ),
                )
            )
    return tuple(out)


def _factor(spec: CohortSpec, therapy: Therapy) -> FactorDistribution:
    given = spec.delivery_factor
    if given is None:
        return FactorDistribution.for_therapy(therapy)
    if given.sd == 0:
        return FactorDistribution("fixed", given.mean)
    return FactorDistribution("normal", given.mean, given.sd)


def check_dose_limits(spec: CohortSpec) -> None:
    """``DoseLimitError`` if the highest dose of any option (its titration cap), with every
    allowed PTM bolus, is above a drug's hard daily limit on any pump of the cohort."""
    for p, choice in enumerate(spec.pumps):
        for o, opt in enumerate(spec.therapies):
            therapy = spec.therapy(p, o, opt.daily_dose.high)
            enforce_dose_limits(
                therapy, source=f"therapies[{o}].daily_dose max on {choice.pump.key}"
            )
