"""The patients of a simulated block: per-patient constants drawn once, and their state.

Times are days since each patient's implant. The constants come from the patient's draws
(``pumpsim.population.draws``) and its pump × therapy combination's rules
(``pumpsim.population.therapies``); the state is moved fill by fill by
``pumpsim.population.simulate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pumpsim.models.cohort import CohortSpec
from pumpsim.population.draws import EVENT_STREAMS, Draws
from pumpsim.population.outcome import DAYS_PER_MONTH
from pumpsim.population.therapies import Combination

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["BlockPatients"]


@dataclass
class BlockPatients:
    """Per-patient constants and state of a block (days since implant)."""

    conc_ml_per_mg: FloatArray
    reservoir: FloatArray
    empty: FloatArray
    usable: FloatArray
    controller: FloatArray
    ptm_max: FloatArray
    stability: FloatArray
    dose0: FloatArray
    dose_lo: FloatArray
    dose_hi: FloatArray
    growth: FloatArray
    ptm_ml: FloatArray
    factor: FloatArray
    house: FloatArray
    per_ml: FloatArray
    days_before: FloatArray
    death: FloatArray
    alive_end: FloatArray
    implant_end: FloatArray
    event_at: FloatArray
    """(patients, kinds, events) days of each Poisson event."""
    t: FloatArray = field(default_factory=lambda: np.zeros(0))
    battery: FloatArray = field(default_factory=lambda: np.zeros(0))
    replace_at: FloatArray = field(default_factory=lambda: np.zeros(0))
    pointer: IntArray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    cycle: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    over: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    """0 a sound pump, 1 over-infusion began in this fill, 2 this fill over-infuses."""
    active: BoolArray = field(default_factory=lambda: np.zeros(0, bool))

    @classmethod
    def start(cls, spec: CohortSpec, combos: tuple[Combination, ...], d: Draws) -> BlockPatients:
        """The block's patients at implant: constants from their draws and rules, full pumps."""
        n = len(d.combo)
        table = {
            name: np.array([getattr(c, name) for c in combos], float)[d.combo]
            for name in _PER_COMBINATION
        }
        dose, lo, hi, growth, presses = _dosing(spec, combos, d)
        # expected PTM boluses a day: schedule.ptm.expected_boluses_per_day, per patient
        ptm_ml = table["bolus_ml"] * np.minimum(presses, table["max_boluses_per_day"])
        death = (
            spec.survival.days_from_uniform(d.survival_u)
            if spec.survival is not None
            else np.full(n, np.inf)
        )
        alive_end = np.minimum(death, spec.months * DAYS_PER_MONTH)
        rates = event_rates(spec, table["stall_per_year"])
        with np.errstate(divide="ignore"):
            event_at = d.event_days * (365.25 / rates)[:, :, None]
        p = cls(
            conc_ml_per_mg=table["ml_per_mg"],
            reservoir=table["reservoir_ml"],
            empty=table["empty_ml"],
            usable=table["reservoir_ml"] - table["alarm_ml"],
            controller=table["controller_ml"],
            ptm_max=table["ptm_max_ml_per_day"],
            stability=table["stability_days"],
            dose0=dose,
            dose_lo=lo,
            dose_hi=hi,
            growth=growth,
            ptm_ml=ptm_ml,
            factor=d.factor,
            house=table["housekeeping_per_day"],
            per_ml=table["per_ml"],
            days_before=spec.refill.days_before_alarm.from_normal(d.days_before_z),
            death=death,
            alive_end=alive_end,
            implant_end=alive_end.copy(),
            event_at=np.where(rates[:, :, None] > 0, event_at, np.inf),
        )
        p.t, p.battery, p.replace_at = np.zeros(n), np.zeros(n), np.full(n, np.inf)
        p.pointer = np.zeros((n, len(EVENT_STREAMS)), np.int64)
        p.cycle, p.over = np.zeros(n, np.int64), np.zeros(n, np.int64)
        p.active = alive_end > 0
        return p


_PER_COMBINATION = (
    "ml_per_mg",
    "reservoir_ml",
    "empty_ml",
    "alarm_ml",
    "stability_days",
    "bolus_ml",
    "max_boluses_per_day",
    "housekeeping_per_day",
    "per_ml",
    "stall_per_year",
    "controller_ml",
    "ptm_max_ml_per_day",
)
"""The ``Combination`` fields each patient takes from its pump × therapy."""


def _dosing(
    spec: CohortSpec, combos: tuple[Combination, ...], d: Draws
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per patient: starting dose, its bounds (mg/day), titration growth (per day, log) and
    PTM presses a day, each from the patient's therapy option."""
    n = len(d.combo)
    dose, lo, hi, growth, presses = (np.zeros(n) for _ in range(5))
    for k, combo in enumerate(combos):
        opt = spec.therapies[combo.option]
        mine = d.combo == k
        dose[mine] = opt.daily_dose.from_normal(d.dose_z[mine])
        lo[mine], hi[mine] = opt.daily_dose.low, opt.daily_dose.high
        growth[mine] = math.log1p(opt.titration_per_month) / DAYS_PER_MONTH
        if opt.presses_per_day is not None:
            presses[mine] = opt.presses_per_day.from_normal(d.presses_z[mine])
    return dose, lo, hi, growth, presses


def event_rates(spec: CohortSpec, stall_per_year: FloatArray) -> FloatArray:
    """(patients, kinds) events per pump-year, in ``EVENT_STREAMS`` order."""
    ev = spec.events
    fixed = [
        ev.over_infusion.per_pump_year,
        ev.pump_surgery.per_pump_year,
        ev.catheter_surgery.per_pump_year,
        ev.infection.per_pump_year,
    ]
    n = len(stall_per_year)
    return np.column_stack([stall_per_year, *(np.full(n, r) for r in fixed)])
