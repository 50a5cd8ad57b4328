"""What a block of simulated patients leaves behind: integer tallies per month.

Every field is an integer (counts, minutes, microlitres), so adding the tallies of disjoint
patient blocks is exact and associative: 1 worker, 8 workers or a Dask cluster give the same
tally, hence byte-identical JSON. Month ``m`` covers simulated days ``[m * DAYS_PER_MONTH,
(m + 1) * DAYS_PER_MONTH)`` from each patient's implant (month 0 holds the implant).

The per-patient sums (``patient_sum`` / ``patient_sumsq`` / ``patient_cross``, the last against
alive minutes) give means and rates per patient-year with a standard error over patients for
the headline rates (``pumpsim.population.summary``); the histogram gives the refill burden's
distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pumpsim.core.errors import SimulationError

__all__ = [
    "DAYS_PER_MONTH",
    "EVENT_KINDS",
    "MINUTES_PER_MONTH",
    "MONTHLY",
    "PER_PATIENT",
    "REFILL_BURDEN_EDGES",
    "CohortTally",
]

DAYS_PER_MONTH = 365.25 / 12
MINUTES_PER_MONTH = DAYS_PER_MONTH * 1440.0

EVENT_KINDS = (
    "implant",
    "pocket_fill",
    "motor_stall",
    "over_infusion",
    "catheter_surgery",
    "pump_surgery",
    "infection",
    "battery_replacement",
    "explant",
)
"""Device and clinical events counted per month (each is a column of ``events``)."""

MONTHLY = (
    "alive_minutes",
    "on_pump_minutes",
    "gap_minutes",
    "deaths",
    "refill_visits",
    "emergency_visits",
    "alarms",
    "no_shows",
    "infusate_ul",
)
"""Monthly integer series, each summed over the block's patients."""

PER_PATIENT = (
    "refill_visits",
    "emergency_visits",
    "alarms",
    "gap_minutes",
    "alive_minutes",
    "on_pump_minutes",
)
"""Per-patient totals whose sum and sum of squares are kept (for a mean and its error)."""

REFILL_BURDEN_EDGES = tuple(float(x) for x in range(0, 27, 1))
"""Left edges of the refill-burden histogram's bins (refill visits per year alive): bin ``i``
holds ``[i, i + 1)``, the last bin (26) everything from 26 up."""


@dataclass(frozen=True, eq=False)
class CohortTally:
    """Sums over a block of ``patients`` patients, ``months`` months long."""

    months: int
    patients: int
    monthly: dict[str, np.ndarray]
    """``MONTHLY`` name -> int64 array of ``months``."""
    events: dict[str, np.ndarray]
    """``EVENT_KINDS`` name -> int64 array of ``months``."""
    patient_sum: dict[str, int] = field(default_factory=dict)
    patient_sumsq: dict[str, int] = field(default_factory=dict)
    patient_cross: dict[str, int] = field(default_factory=dict)
    """``PER_PATIENT`` name -> sum over patients of that total × the patient's alive minutes
    (with the sums and sums of squares: a rate per patient-year with its standard error)."""
    refill_burden: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Patients per ``REFILL_BURDEN_EDGES`` bin (length ``len(REFILL_BURDEN_EDGES)``)."""

    @classmethod
    def empty(cls, months: int) -> CohortTally:
        zeros = {name: np.zeros(months, np.int64) for name in MONTHLY}
        return cls(
            months=months,
            patients=0,
            monthly=zeros,
            events={kind: np.zeros(months, np.int64) for kind in EVENT_KINDS},
            patient_sum={name: 0 for name in PER_PATIENT},
            patient_sumsq={name: 0 for name in PER_PATIENT},
            patient_cross={name: 0 for name in PER_PATIENT},
            refill_burden=np.zeros(len(REFILL_BURDEN_EDGES), np.int64),
        )

    def merge(self, other: CohortTally) -> CohortTally:
        """The tally of both blocks (exact: integers only)."""
        if other.months != self.months:
            raise SimulationError(
                f"cannot add a {other.months}-month tally to a {self.months}-month one"
            )
        return CohortTally(
            months=self.months,
            patients=self.patients + other.patients,
            monthly={k: self.monthly[k] + other.monthly[k] for k in MONTHLY},
            events={k: self.events[k] + other.events[k] for k in EVENT_KINDS},
            patient_sum={k: self.patient_sum[k] + other.patient_sum[k] for k in PER_PATIENT},
            patient_sumsq={k: self.patient_sumsq[k] + other.patient_sumsq[k] for k in PER_PATIENT},
            patient_cross={
                k: self.patient_cross.get(k, 0) + other.patient_cross.get(k, 0) for k in PER_PATIENT
            },
            refill_burden=self.refill_burden + other.refill_burden,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CohortTally):
            return NotImplemented
        return (
            self.months == other.months
            and self.patients == other.patients
            and all(np.array_equal(self.monthly[k], other.monthly[k]) for k in MONTHLY)
            and all(np.array_equal(self.events[k], other.events[k]) for k in EVENT_KINDS)
            and self.patient_sum == other.patient_sum
            and self.patient_sumsq == other.patient_sumsq
            and self.patient_cross == other.patient_cross
            and np.array_equal(self.refill_burden, other.refill_burden)
        )

    def patient_months_alive(self) -> np.ndarray:
        """Patients alive per month, as a float (alive minutes / minutes per month)."""
        return self.monthly["alive_minutes"] / MINUTES_PER_MONTH
