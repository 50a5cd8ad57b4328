"""From integrated stretches to samples, daily accounting and drug mass, in batches.

Between two events every flow is constant, so the engine only has to remember each stretch it
integrated: when, the volumes at its start and the rates (what left the reservoir follows from
them exactly as ``PumpModel.advance`` worked it out). ``FlowLog`` keeps those rows and, every
``BATCH`` rows and at the end of a run, turns them with NumPy into what the trace reports:

* the reservoir volumes on the sample grid (calculated and actual, linear along a stretch);
* per pump-clock day: volume and drug mass at the catheter tip, basal vs bolus, time without
  therapy;
* the conservation ledger's delivered and leaked mass.

Doing this in batches keeps the event loop to what decides *when* things happen, and keeps
memory flat when samples are streamed. The results are the same sums the loop would have made,
in a different order (equal to rounding, far below 1e-9).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pumpsim.core.clock import day_indices, origin_minute
from pumpsim.engine.fluid import Composition
from pumpsim.engine.trace import PressLog, Trace

if TYPE_CHECKING:
    from pumpsim.engine.pump import _Ledger

BATCH = 4096
"""Stretches held before they are turned into samples and accounting (bounds memory)."""

SAMPLE_CHUNK = 8192
"""Samples worked out (and streamed) at a time."""

TOLERANCE_DAYS = 1e-9

FIELDS = 7
"""A stretch is recorded as ``FIELDS`` numbers appended to ``FlowLog.values``: ``t0`` (days),
``calculated0`` and ``actual0`` (mL at its start), ``motor`` and ``outflow`` (mL/day),
``bolus`` (the bolus part of the motor rate, mL/day) and ``context`` (index in
``FlowLog.contexts``). A stretch ends where the next begins; the last ends at the time given to
``flush``. Flat numbers, because a run records thousands of stretches."""

SampleSink = Callable[[np.ndarray, np.ndarray, np.ndarray], None]
"""Receives ``(day, calculated_ml, actual_ml)`` arrays: the samples of one batch, in time
order."""


class FlowLog:
    """The stretches of one run, turned into the trace's samples and daily records."""

    def __init__(self, trace: Trace, ledger: _Ledger, sink: SampleSink | None = None) -> None:
        self.trace = trace
        self.ledger = ledger
        self.sink = sink
        self.values = array("d")
        """The stretches' numbers as raw doubles (no float object is kept alive per number)."""
        self.contexts: list[tuple[bool, bool, int]] = []
        """``(leaking, prescribed, fluid)`` of stretches: catheter disconnected, the program asks
        for drug, index in ``fluids`` of the reservoir's concentrations."""
        self.tips: dict[int, dict[str, float]] = {}
        """Drug mass (mg) out of the catheter tip for rows where it is not volume × the
        reservoir's concentration (fluid of another composition still in the dead volume)."""
        self.fluids: list[Composition] = []
        origin = trace.origin
        self._origin_minute = origin_minute(origin)
        self._next_sample_index = 0

    def context(self, leaking: bool, prescribed: bool, composition: Composition) -> int:
        """Index in ``contexts`` of this combination (appended when it differs from the last)."""
        fluids = self.fluids
        if not fluids or fluids[-1] is not composition:
            fluids.append(composition)
        entry = (leaking, prescribed, len(fluids) - 1)
        if not self.contexts or self.contexts[-1] != entry:
            self.contexts.append(entry)
        return len(self.contexts) - 1

    @property
    def stretches(self) -> int:
        """Stretches recorded since the last flush."""
        return len(self.values) // FIELDS

    # ------------------------------------------------------------------ days
    def _day_of(self, t: np.ndarray) -> np.ndarray:
        """Pump-clock calendar day of each time ``t`` (days since origin); 0 is the origin's."""
        return day_indices(self._origin_minute, t)

    def count_presses(self, log: PressLog) -> None:
        """Add each day's granted and denied PTM presses (the run's PTM log) to its record."""
        n = len(log.days)
        if not n:
            return
        days = np.fromiter(log.days, dtype=np.float64, count=n)
        granted = np.fromiter(map("granted".__eq__, log.decisions), dtype=bool, count=n)
        index = self._day_of(days)
        pressed = np.bincount(index)
        granted_per_day = np.bincount(index, weights=granted, minlength=pressed.size)
        with_presses = np.flatnonzero(pressed)
        self.trace.days.add_presses(
            with_presses.tolist(),
            pressed[with_presses].tolist(),
            granted_per_day[with_presses].astype(np.intp).tolist(),
        )

    # ------------------------------------------------------------------ batches
    def flush(self, end: float) -> None:
        """Account for every stretch recorded so far; the last one ends at ``end`` (days)."""
        values = self.values
        if not values:
            return
        tips, self.tips = self.tips, {}
        table = np.frombuffer(values, dtype=np.float64).reshape(-1, FIELDS).copy()
        del values[:]  # cleared in place: the engine appends to this very array
        t0 = table[:, 0]
        t1 = np.append(t0[1:], end)
        self._write_samples(t0, t1, table)
        self._account(t0, t1, table, tips)

    def _write_samples(self, t0: np.ndarray, t1: np.ndarray, table: np.ndarray) -> None:
        """Grid samples ``k × interval`` in the batch: a point belongs to the first stretch that
        ends at or after it, so a point at the instant of a refill shows the volume before."""
        interval = self.trace.samples.interval_days
        limit = min(float(t1[-1]), self.trace.end_day) + TOLERANCE_DAYS
        k0 = self._next_sample_index
        k1 = math.floor(limit / interval)
        while (k1 + 1) * interval <= limit:
            k1 += 1
        while k1 * interval > limit:
            k1 -= 1
        if k1 < k0:
            return
        self._next_sample_index = k1 + 1
        ends = t1 + TOLERANCE_DAYS
        for first in range(k0, k1 + 1, SAMPLE_CHUNK):  # bounded arrays, however dense the grid
            days = np.arange(first, min(first + SAMPLE_CHUNK, k1 + 1)) * interval
            owner = _first_ending_at_or_after(ends, days)
            start = t0[owner]
            calc0, actual0, motor, outflow = (table[owner, i] for i in (1, 2, 3, 4))
            calc = np.maximum(0.0, calc0 - motor * (days - start))
            actual = np.maximum(0.0, actual0 - outflow * (days - start))
            if self.sink is not None:
                self.sink(days, calc, actual)
            else:
                self.trace.samples.append(days, calc, actual)

    def _account(
        self, t0: np.ndarray, t1: np.ndarray, table: np.ndarray, tips: dict[int, dict[str, float]]
    ) -> None:
        """Daily volume/dose/no-therapy time and the ledger's delivered and leaked totals."""
        # what left the reservoir, exactly as ``PumpModel.advance`` computed it
        volume = np.minimum(table[:, 4] * (t1 - t0), table[:, 2])
        motor, bolus = table[:, 3], table[:, 5]  # the bolus share, as bolus / motor in Python
        share = np.divide(bolus, motor, out=np.zeros_like(bolus), where=motor > 0)
        context = np.array(self.contexts, dtype=np.intp)[table[:, 6].astype(np.intp)]
        leaking, prescribed, fluid = context[:, 0] > 0, context[:, 1] > 0, context[:, 2]
        tip_ml = np.where(leaking, 0.0, volume)
        leaked_ml = volume - tip_ml
        no_therapy = np.where((tip_ml <= 0) & prescribed, t1 - t0, 0.0)
        day = self._day_of(0.5 * (t0 + t1))  # stretches never cross a midnight
        starts = np.concatenate((_FIRST, np.flatnonzero(day[1:] != day[:-1]) + 1))
        delivered = np.add.reduceat(tip_ml, starts).tolist()
        bolus = np.add.reduceat(tip_ml * share, starts).tolist()
        gaps = np.add.reduceat(no_therapy, starts).tolist()
        tip_mg, leaked_mg = self._masses(fluid, tip_ml, leaked_ml, tips)
        ledger = self.ledger
        ledger.delivered_ml += float(tip_ml.sum())
        ledger.leaked_ml += float(leaked_ml.sum())
        for totals, masses in ((ledger.delivered_mg, tip_mg), (ledger.leaked_mg, leaked_mg)):
            for name, (mass, present) in masses.items():
                if present.any():
                    totals[name] = totals.get(name, 0.0) + float(mass.sum())
        dose = [
            (
                name,
                np.add.reduceat(mass, starts).tolist(),
                np.add.reduceat(mass * share, starts).tolist(),
                np.logical_or.reduceat(present, starts).tolist(),
            )
            for name, (mass, present) in tip_mg.items()
        ]
        self.trace.days.add(day[starts].tolist(), delivered, bolus, gaps, dose)

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


_FIRST = np.zeros(1, dtype=np.intp)


def _first_ending_at_or_after(ends: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each of the sorted ``points``, the index of the first of the sorted ``ends`` at or
    after it: ``np.searchsorted(ends, points, side="left")``. With fewer ends than points it
    is worked out from the ends' side (each end's place among the points, then a running
    count), which takes fewer comparisons and gives the same indices."""
    if ends.size >= points.size:
        return np.searchsorted(ends, points, side="left")
    places = np.searchsorted(points, ends, side="right")  # points at or before each end
    return np.cumsum(np.bincount(places, minlength=points.size + 1))[: points.size]
