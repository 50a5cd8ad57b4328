"""From integrated stretches to samples, daily accounting and drug mass, in batches.

Between two events every flow is constant, so the engine only has to remember each stretch it
integrated: when, the volumes at its start, the rates, and how much fluid left the reservoir.
``FlowLog`` keeps those rows and, every ``BATCH`` rows and at the end of a run, turns them with
NumPy into what the trace reports:

* the reservoir volumes on the sample grid (calculated and actual, linear along a stretch);
* per pump-clock day: volume and drug mass at the catheter tip, basal vs bolus, time without
  therapy;
* the conservation ledger's delivered and leaked mass.

Doing this in batches keeps the event loop to what decides *when* things happen, and keeps
memory flat when samples are streamed. The results are the same sums the loop would have made,
in a different order (equal to rounding, far below 1e-9).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pumpsim.engine.fluid import Composition
from pumpsim.engine.trace import DaySummary, Trace
from pumpsim.schedule_math import MINUTES_PER_DAY

if TYPE_CHECKING:
    from pumpsim.engine.pump import _Ledger

BATCH = 1024
"""Stretches held before they are turned into samples and accounting (bounds memory)."""

TOLERANCE_DAYS = 1e-9

Row = tuple[float, float, float, float, float, float, float, float, bool, bool, int]
"""``(t0, t1, calculated0, actual0, motor, outflow, volume, bolus_share, leaking,
prescribed, fluid)``: days, mL, mL/day; ``volume`` is what left the reservoir; ``fluid``
indexes ``FlowLog.fluids`` (the reservoir's concentrations during the stretch)."""

SampleSink = Callable[[float, float, float], None]


class FlowLog:
    """The stretches of one run, turned into the trace's samples and daily records."""

    def __init__(self, trace: Trace, ledger: _Ledger, sink: SampleSink | None = None) -> None:
        self.trace = trace
        self.ledger = ledger
        self.sink = sink
        self.rows: list[Row] = []
        self.tips: dict[int, dict[str, float]] = {}
        """Drug mass (mg) out of the catheter tip for rows where it is not volume × the
        reservoir's concentration (fluid of another composition still in the dead volume)."""
        self.fluids: list[Composition] = []
        origin = trace.origin
        self._origin_minute = origin.hour * 60 + origin.minute + origin.second / 60
        self._next_sample_index = 0
        self._days: list[DaySummary] = []

    def fluid_index(self, composition: Composition) -> int:
        """Index of ``composition`` in ``fluids`` (appended when it is a new one)."""
        fluids = self.fluids
        if not fluids or fluids[-1] is not composition:
            fluids.append(composition)
        return len(fluids) - 1

    # ------------------------------------------------------------------ days
    def day_index(self, t: float) -> int:
        """Pump-clock calendar day of ``t`` (days since origin); 0 is the origin's date."""
        return math.floor((self._origin_minute + t * MINUTES_PER_DAY) / MINUTES_PER_DAY)

    def day(self, index: int) -> DaySummary:
        """The record of day ``index``, creating it and any day before it still missing."""
        days = self._days
        while len(days) <= index:
            record = DaySummary(date=self.trace.origin.date() + dt.timedelta(days=len(days)))
            days.append(record)
            self.trace.daily.append(record)
        return days[index]

    # ------------------------------------------------------------------ batches
    def flush(self) -> None:
        """Account for every stretch recorded so far."""
        rows = self.rows
        if not rows:
            return
        tips = self.tips
        self.rows, self.tips = [], {}
        table = np.array(rows, dtype=np.float64)
        self._write_samples(table)
        self._account(table, tips)

    def _write_samples(self, table: np.ndarray) -> None:
        """Grid samples ``k × interval`` in the batch: a point belongs to the first stretch that
        ends at or after it, so a point at the instant of a refill shows the volume before."""
        interval = self.trace.samples.interval_days
        limit = min(float(table[-1, 1]), self.trace.end_day) + TOLERANCE_DAYS
        k0 = self._next_sample_index
        k1 = math.floor(limit / interval)
        while (k1 + 1) * interval <= limit:
            k1 += 1
        while k1 * interval > limit:
            k1 -= 1
        if k1 < k0:
            return
        self._next_sample_index = k1 + 1
        days = np.arange(k0, k1 + 1) * interval
        owner = np.searchsorted(table[:, 1] + TOLERANCE_DAYS, days, side="left")
        t0, calc0, actual0, motor, outflow = (table[owner, i] for i in (0, 2, 3, 4, 5))
        calc = np.maximum(0.0, calc0 - motor * (days - t0))
        actual = np.maximum(0.0, actual0 - outflow * (days - t0))
        if self.sink is not None:
            sink = self.sink
            for row in zip(days.tolist(), calc.tolist(), actual.tolist(), strict=True):
                sink(*row)
            return
        samples = self.trace.samples
        samples.day.extend(days.tolist())
        samples.calculated_ml.extend(calc.tolist())
        samples.actual_ml.extend(actual.tolist())

    def _account(self, table: np.ndarray, tips: dict[int, dict[str, float]]) -> None:
        """Daily volume/dose/no-therapy time and the ledger's delivered and leaked totals."""
        t0, t1 = table[:, 0], table[:, 1]
        volume, share = table[:, 6], table[:, 7]
        leaking, prescribed = table[:, 8] > 0, table[:, 9] > 0
        fluid = table[:, 10].astype(np.intp)
        tip_ml = np.where(leaking, 0.0, volume)
        leaked_ml = volume - tip_ml
        no_therapy = np.where((tip_ml <= 0) & prescribed, t1 - t0, 0.0)
        day = np.floor(
            (self._origin_minute + 0.5 * (t0 + t1) * MINUTES_PER_DAY) / MINUTES_PER_DAY
        ).astype(np.intp)
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        per_day = {
            name: np.add.reduceat(values, starts)
            for name, values in (
                ("delivered", tip_ml),
                ("bolus", tip_ml * share),
                ("no_therapy", no_therapy),
            )
        }
        tip_mg, leaked_mg = self._masses(fluid, tip_ml, leaked_ml, tips)
        ledger = self.ledger
        ledger.delivered_ml += float(tip_ml.sum())
        ledger.leaked_ml += float(leaked_ml.sum())
        for name, (mass, present) in tip_mg.items():
            if present.any():
                ledger.delivered_mg[name] = ledger.delivered_mg.get(name, 0.0) + float(mass.sum())
        for name, (mass, present) in leaked_mg.items():
            if present.any():
                ledger.leaked_mg[name] = ledger.leaked_mg.get(name, 0.0) + float(mass.sum())
        dose = {
            name: (
                np.add.reduceat(mass, starts),
                np.add.reduceat(mass * share, starts),
                np.logical_or.reduceat(present, starts),
            )
            for name, (mass, present) in tip_mg.items()
        }
        for k, index in enumerate(day[starts].tolist()):
            record = self.day(index)
            delivered = float(per_day["delivered"][k])
            bolus = float(per_day["bolus"][k])
            record.delivered_ml += delivered
            record.bolus_ml += bolus
            record.basal_ml += delivered - bolus
            record.no_therapy_days += float(per_day["no_therapy"][k])
            for name, (total, bolus_mg, present) in dose.items():
                if present[k]:
                    record.dose_mg[name] = record.dose_mg.get(name, 0.0) + float(total[k])
                    if bolus_mg[k] > 0:
                        record.bolus_dose_mg[name] = record.bolus_dose_mg.get(name, 0.0) + float(
                            bolus_mg[k]
                        )

    def _masses(
        self,
        fluid: np.ndarray,
        tip_ml: np.ndarray,
        leaked_ml: np.ndarray,
        tips: dict[int, dict[str, float]],
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Per drug: (mass per row in mg, whether the drug was in that row's fluid) at the tip
        and leaked. At the tip it is volume × the reservoir's concentration unless ``tips``
        gives the dead volume's own output for the row."""
        names = list(dict.fromkeys(name for comp in self.fluids for name in comp))
        for tip in tips.values():
            names.extend(n for n in tip if n not in names)
        override = np.fromiter(tips.keys(), dtype=np.intp, count=len(tips))
        tip_mg: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        leaked_mg: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in names:
            conc = np.array([comp.get(name, 0.0) for comp in self.fluids])[fluid]
            has = np.array([name in comp for comp in self.fluids])[fluid]
            mass = tip_ml * conc
            present = has & (tip_ml > 0)
            if len(override):
                mass[override] = [tip.get(name, 0.0) for tip in tips.values()]
                present[override] = [name in tip for tip in tips.values()]
            tip_mg[name] = (mass, present)
            leaked_mg[name] = (leaked_ml * conc, has & (leaked_ml > 0))
        return tip_mg, leaked_mg
