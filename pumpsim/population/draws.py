"""Every random number of a cohort's patient, from that patient's own stream.

Patient ``i`` of a run seeded ``seed`` draws ONLY from
``np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, i])))``: one row of
``Layout.length`` uniforms, always in the same layout, then its delivery factor
(``FactorDistribution.draw`` on the same stream). So a patient's draws do not depend on which
block or worker simulates it, and any partition of the cohort into blocks gives the same tally.

Normal deviates come from two uniforms (Box-Muller), exponential ones from one (``-ln(1-u)``).
The row holds enough for the most refill cycles and events a patient of this cohort can have
(``layout``); a patient that would need more is an error, never a silently reused number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pumpsim.core.errors import SimulationError
from pumpsim.models.cohort import CohortSpec
from pumpsim.population.outcome import DAYS_PER_MONTH
from pumpsim.population.therapies import Combination

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["EVENT_STREAMS", "Draws", "Layout", "draw_block", "layout"]

EVENT_STREAMS = ("motor_stall", "over_infusion", "pump_surgery", "catheter_surgery", "infection")
"""The Poisson event kinds, in the order of their streams."""

_PATIENT_UNIFORMS = 9
"""pump, option, dose (2), presses (2), survival, days before the alarm (2)."""
_CYCLE_UNIFORMS = 6
"""lateness (2), no-show, pocket fill, emergency delay (2)."""
_TAIL = 1e-12
"""A patient has more events of a kind than its stream holds with less than this probability."""


@dataclass(frozen=True)
class Layout:
    """Where each number sits in a patient's row of uniforms."""

    cycles: int
    """Refill cycles (fill to next fill) a patient can have."""
    events: int
    """Events of each Poisson kind a patient can have."""

    @property
    def event_offset(self) -> int:
        return _PATIENT_UNIFORMS

    @property
    def explant_offset(self) -> int:
        return self.event_offset + len(EVENT_STREAMS) * self.events

    @property
    def cycle_offset(self) -> int:
        return self.explant_offset + self.events

    @property
    def length(self) -> int:
        return self.cycle_offset + self.cycles * _CYCLE_UNIFORMS


def layout(spec: CohortSpec, combos: tuple[Combination, ...]) -> Layout:
    """The row layout of ``spec``: enough events for the highest rate over the horizon (a
    Poisson tail below ``_TAIL``), enough cycles for the shortest refill cycle any patient
    can have (plus one cycle per event and battery replacement)."""
    horizon = spec.months * DAYS_PER_MONTH
    ev = spec.events
    rate = max(
        ev.motor_stall.per_pump_year,
        ev.motor_stall.off_label_per_pump_year,
        ev.over_infusion.per_pump_year,
        ev.catheter_surgery.per_pump_year,
        ev.pump_surgery.per_pump_year,
        ev.infection.per_pump_year,
    )
    events = _poisson_bound(rate * horizon / 365.25)
    shortest = min(_shortest_cycle_days(spec, c) for c in combos)
    batteries = max(_battery_replacements(spec, c, horizon) for c in combos)
    cycles = math.ceil(horizon / shortest) + len(EVENT_STREAMS) * events + batteries + 2
    return Layout(cycles=cycles, events=events)


def _poisson_bound(mean: float) -> int:
    """The smallest ``m`` with P(N > m) < ``_TAIL`` for N ~ Poisson(mean) (at least 1)."""
    term = math.exp(-mean)
    cdf, m = term, 0
    while 1.0 - cdf >= _TAIL and m < 100_000:
        m += 1
        term *= mean / m
        cdf += term
    return max(m, 1)


def _shortest_cycle_days(spec: CohortSpec, c: Combination) -> float:
    """A lower bound on a refill cycle: the booked visit (never before a day after the fill,
    else the earlier of the alarm and the stability limit less the most days before) or the
    pump running dry at the highest delivery factor (1.5), whichever is sooner."""
    opt = spec.therapies[c.option]
    most_ml = opt.daily_dose.high * c.ml_per_mg + c.bolus_ml * c.max_boluses_per_day
    due = min((c.reservoir_ml - c.alarm_ml) / most_ml, c.stability_days)
    booked = max(1.0, due - spec.refill.days_before_alarm.high)
    return max(min(booked, c.reservoir_ml / (1.5 * most_ml)), 0.5)


def _battery_replacements(spec: CohortSpec, c: Combination, horizon: float) -> int:
    if not c.has_battery:
        return 0
    opt = spec.therapies[c.option]
    most_ml = opt.daily_dose.high * c.ml_per_mg + c.bolus_ml * c.max_boluses_per_day
    life = 1.0 / (c.housekeeping_per_day + c.per_ml * most_ml)
    return math.ceil(horizon / life) + 1


@dataclass(frozen=True)
class Draws:
    """A block's patients' draws, one entry (or row) per patient."""

    combo: IntArray
    dose_z: FloatArray
    presses_z: FloatArray
    survival_u: FloatArray
    days_before_z: FloatArray
    factor: FloatArray
    event_days: FloatArray
    """(patients, kinds, events): unit-rate exponential arrival times (cumulative)."""
    explant_u: FloatArray
    """(patients, events): one uniform per infection."""
    cycle: FloatArray
    """(patients, cycles, ``_CYCLE_UNIFORMS``)."""


def _normal(u1: FloatArray, u2: FloatArray) -> FloatArray:
    """Box-Muller: a standard normal deviate from two uniforms on [0, 1)."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * math.pi * u2)


def cycle_normal(cycle: FloatArray, first: int) -> FloatArray:
    """The normal deviate of a cycle row's uniforms ``first`` and ``first + 1``."""
    return _normal(cycle[..., first], cycle[..., first + 1])


def draw_block(
    spec: CohortSpec, combos: tuple[Combination, ...], lay: Layout, seed: int, first: int, stop: int
) -> Draws:
    """The draws of patients ``first .. stop - 1`` (see the module docstring)."""
    n = stop - first
    rows = np.empty((n, lay.length))
    factor = np.empty(n)
    pump_cdf = _cdf([c.weight for c in spec.pumps])
    option_cdf = _cdf([t.weight for t in spec.therapies])
    n_options = len(spec.therapies)
    combo = np.empty(n, np.int64)
    for j in range(n):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, first + j])))
        rng.random(out=rows[j])
        p = int(np.searchsorted(pump_cdf, rows[j, 0], side="right"))
        o = int(np.searchsorted(option_cdf, rows[j, 1], side="right"))
        combo[j] = p * n_options + o
        factor[j] = combos[combo[j]].factor.draw(rng, 1)[0]
    ev = rows[:, lay.event_offset : lay.explant_offset].reshape(n, len(EVENT_STREAMS), lay.events)
    return Draws(
        combo=combo,
        dose_z=_normal(rows[:, 2], rows[:, 3]),
        presses_z=_normal(rows[:, 4], rows[:, 5]),
        survival_u=1.0 - rows[:, 6],
        days_before_z=_normal(rows[:, 7], rows[:, 8]),
        factor=factor,
        event_days=np.cumsum(-np.log1p(-ev), axis=2),
        explant_u=rows[:, lay.explant_offset : lay.cycle_offset].copy(),
        cycle=rows[:, lay.cycle_offset :].reshape(n, lay.cycles, _CYCLE_UNIFORMS),
    )


def _cdf(weights: list[float]) -> FloatArray:
    cdf = np.cumsum(np.asarray(weights, float))
    cdf /= cdf[-1]
    cdf[-1] = np.inf  # a uniform just below 1 never falls past the last choice
    return cdf


def out_of_cycles(lay: Layout) -> SimulationError:
    return SimulationError(
        f"a patient needed more than {lay.cycles} refill cycles; the cohort's shortest cycle "
        "bound (pumpsim.population.draws.layout) is wrong"
    )
