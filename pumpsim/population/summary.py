"""A cohort tally as rates with 95 % intervals: what a report shows and a tool reads.

* **Per patient-year alive** (refill visits, emergency visits, alarms, therapy-gap days): the
  ratio of totals Σx / Σ(alive years) with a delta-method (ratio-estimator) standard error
  over patients, from the tally's per-patient sums, sums of squares and cross-products with
  alive time. Patients differ in how long they live, so this is the interval of a rate, not of
  a count.
* **Events and no-shows per 100 pump-years** (implanted years, alive with a pump) and deaths
  per 100 patient-years: a Poisson count with Byar's approximation of the exact interval.
* **Time alive and on pump (survival-adjusted)**: the mean per patient (months, with its
  standard error) and the median, the month at which the share of the cohort alive (or on
  pump, with therapy) falls below one half, interpolated between month midpoints; ``None``
  when it never does within follow-up.

With fewer than two patients an interval is the estimate itself (no spread to measure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpsim.population.outcome import (
    EVENT_KINDS,
    MINUTES_PER_MONTH,
    REFILL_BURDEN_EDGES,
    CohortTally,
)

__all__ = ["Z95", "CohortSummary", "Estimate", "summarize_tally"]

Z95 = 1.959963984540054
"""The standard-normal quantile of a two-sided 95 % interval."""
_MINUTES_PER_YEAR = 365.25 * 1440.0
_PER_YEAR_RATES = ("refill_visits", "emergency_visits", "alarms", "gap_minutes")


@dataclass(frozen=True)
class Estimate:
    """A value with its 95 % interval ``[low, high]``."""

    value: float
    low: float
    high: float

    def to_json_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class CohortSummary:
    """Per-cohort outcomes with uncertainty (see the module docstring)."""

    patients: int
    months: int
    patient_years: float
    pump_years: float
    deaths: int
    per_patient_year: dict[str, Estimate]
    """``refill_visits``, ``emergency_visits``, ``alarms``, ``gap_days`` per patient-year alive."""
    no_shows_per_100_pump_years: Estimate
    events_per_100_pump_years: dict[str, Estimate]
    """Every ``EVENT_KINDS`` kind but ``implant`` (one per patient, at month 0)."""
    deaths_per_100_patient_years: Estimate
    mean_months_alive: Estimate
    mean_months_on_pump: Estimate
    median_months_alive: float | None
    median_months_on_pump: float | None
    share_alive: tuple[float, ...]
    """Per month: the mean share of the cohort alive."""
    share_on_pump: tuple[float, ...]
    """Per month: the mean share of the cohort alive on pump with therapy."""
    refill_burden: tuple[int, ...]
    """Patients per bin of refill visits per year alive (``REFILL_BURDEN_EDGES``)."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "months": self.months,
            "patient_years": self.patient_years,
            "pump_years": self.pump_years,
            "deaths": self.deaths,
            "per_patient_year": {k: v.to_json_dict() for k, v in self.per_patient_year.items()},
            "no_shows_per_100_pump_years": self.no_shows_per_100_pump_years.to_json_dict(),
            "events_per_100_pump_years": {
                k: v.to_json_dict() for k, v in self.events_per_100_pump_years.items()
            },
            "deaths_per_100_patient_years": self.deaths_per_100_patient_years.to_json_dict(),
            "mean_months_alive": self.mean_months_alive.to_json_dict(),
            "mean_months_on_pump": self.mean_months_on_pump.to_json_dict(),
            "median_months_alive": self.median_months_alive,
            "median_months_on_pump": self.median_months_on_pump,
            "share_alive": list(self.share_alive),
            "share_on_pump": list(self.share_on_pump),
            "refill_burden": {
                "edges": list(REFILL_BURDEN_EDGES),
                "patients": list(self.refill_burden),
            },
        }


def summarize_tally(tally: CohortTally) -> CohortSummary:
    """The rates, means, medians and intervals of ``tally`` (module docstring)."""
    m = tally.monthly
    alive_min = float(m["alive_minutes"].sum())
    pump_min = float(m["on_pump_minutes"].sum() + m["gap_minutes"].sum())
    pump_years = pump_min / _MINUTES_PER_YEAR
    patient_years = alive_min / _MINUTES_PER_YEAR
    rates = {name: per_patient_year(tally, name) for name in _PER_YEAR_RATES}
    gap = rates.pop("gap_minutes")
    rates["gap_days"] = Estimate(gap.value / 1440, gap.low / 1440, gap.high / 1440)
    deaths = int(m["deaths"].sum())
    capacity = max(tally.patients, 1) * MINUTES_PER_MONTH
    return CohortSummary(
        patients=tally.patients,
        months=tally.months,
        patient_years=patient_years,
        pump_years=pump_years,
        deaths=deaths,
        per_patient_year=rates,
        no_shows_per_100_pump_years=poisson_rate(int(m["no_shows"].sum()), pump_years, 100),
        events_per_100_pump_years={
            kind: poisson_rate(int(tally.events[kind].sum()), pump_years, 100)
            for kind in EVENT_KINDS
            if kind != "implant"
        },
        deaths_per_100_patient_years=poisson_rate(deaths, patient_years, 100),
        mean_months_alive=patient_mean(tally, "alive_minutes", MINUTES_PER_MONTH),
        mean_months_on_pump=patient_mean(tally, "on_pump_minutes", MINUTES_PER_MONTH),
        median_months_alive=median_month(m["alive_minutes"] / capacity),
        median_months_on_pump=median_month(m["on_pump_minutes"] / capacity),
        share_alive=tuple(float(x) for x in m["alive_minutes"] / capacity),
        share_on_pump=tuple(float(x) for x in m["on_pump_minutes"] / capacity),
        refill_burden=tuple(int(x) for x in tally.refill_burden),
    )


def per_patient_year(tally: CohortTally, name: str) -> Estimate:
    """``Σ name / Σ alive years`` with its ratio-estimator 95 % interval."""
    n = tally.patients
    x, y = tally.patient_sum[name], tally.patient_sum["alive_minutes"]
    if n == 0 or y == 0:
        return Estimate(0.0, 0.0, 0.0)
    ratio = x / y
    value = ratio * _MINUTES_PER_YEAR
    if n < 2:
        return Estimate(value, value, value)
    # residuals d_i = x_i - R y_i:  Σd² = Σx² - 2R Σxy + R² Σy²
    ss = (
        tally.patient_sumsq[name]
        - 2 * ratio * tally.patient_cross[name]
        + ratio * ratio * tally.patient_sumsq["alive_minutes"]
    )
    se = math.sqrt(max(ss, 0.0) / (n - 1) / n) / (y / n) * _MINUTES_PER_YEAR
    return Estimate(value, max(0.0, value - Z95 * se), value + Z95 * se)


def patient_mean(tally: CohortTally, name: str, unit: float) -> Estimate:
    """The mean of a per-patient total (in ``unit``s) with its 95 % interval."""
    n = tally.patients
    if n == 0:
        return Estimate(0.0, 0.0, 0.0)
    mean = tally.patient_sum[name] / n
    if n < 2:
        return Estimate(mean / unit, mean / unit, mean / unit)
    var = max(tally.patient_sumsq[name] / n - mean * mean, 0.0) * n / (n - 1)
    half = Z95 * math.sqrt(var / n)
    return Estimate(mean / unit, max(0.0, mean - half) / unit, (mean + half) / unit)


def poisson_rate(count: int, exposure: float, per: float = 1.0) -> Estimate:
    """``count / exposure × per`` with Byar's approximation of the exact Poisson interval."""
    if exposure <= 0:
        return Estimate(0.0, 0.0, 0.0)
    scale = per / exposure
    low = 0.0
    if count > 0:
        low = count * (1 - 1 / (9 * count) - Z95 / (3 * math.sqrt(count))) ** 3
    c1 = count + 1
    high = c1 * (1 - 1 / (9 * c1) + Z95 / (3 * math.sqrt(c1))) ** 3
    return Estimate(count * scale, low * scale, high * scale)


def median_month(share: np.ndarray) -> float | None:
    """When a monthly mean share (of month ``m``, taken at its midpoint ``m + 0.5``) falls below
    one half, interpolated linearly (the share is 1 at month 0); ``None`` if it never does."""
    below = np.flatnonzero(share < 0.5)
    if len(below) == 0:
        return None
    m = int(below[0])
    t0, s0 = (0.0, 1.0) if m == 0 else (m - 0.5, float(share[m - 1]))
    t1, s1 = m + 0.5, float(share[m])
    return t0 + (s0 - 0.5) / (s0 - s1) * (t1 - t0)
