"""From what a block's patients did (days since implant) to a ``CohortTally`` of integers.

Times become whole minutes (``round(days × 1440)``) per patient, then intervals are cut at
month boundaries (a month is exactly 43,830 minutes: 365.25 / 12 days) and counted per month;
infused volume is rounded to whole microlitres per patient and month piece. Every rounding is
per patient, so the tally of a block is the sum of its patients' tallies and blocks add up
exactly, whatever the partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pumpsim.population.outcome import (
    DAYS_PER_MONTH,
    EVENT_KINDS,
    MONTHLY,
    PER_PATIENT,
    REFILL_BURDEN_EDGES,
    CohortTally,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["MINUTES_PER_MONTH_INT", "BlockLog", "monthly_minutes", "tally_block"]

MINUTES_PER_MONTH_INT = round(DAYS_PER_MONTH * 1440)
"""43,830: a month of the tally in whole minutes (exact: 365.25 × 1440 / 12)."""
_COUNTED = ("refill_visits", "emergency_visits", "alarms", "no_shows")
_YEAR_MINUTES = 365.25 * 1440


@dataclass
class BlockLog:
    """What happened to the ``n`` patients of a block, appended cycle by cycle."""

    n: int
    counts: dict[str, list[tuple[IntArray, FloatArray]]] = field(
        default_factory=lambda: {name: [] for name in _COUNTED}
    )
    events: dict[str, list[tuple[IntArray, FloatArray]]] = field(
        default_factory=lambda: {kind: [] for kind in EVENT_KINDS}
    )
    gaps: list[tuple[IntArray, FloatArray, FloatArray]] = field(default_factory=list)
    deliveries: list[tuple[IntArray, FloatArray, FloatArray, FloatArray]] = field(
        default_factory=list
    )

    def count(self, name: str, who: IntArray, day: FloatArray) -> None:
        self.counts[name].append((who, day))

    def event(self, kind: str, who: IntArray, day: FloatArray) -> None:
        self.events[kind].append((who, day))

    def gap(self, who: IntArray, start: FloatArray, end: FloatArray) -> None:
        self.gaps.append((who, start, end))

    def delivery(
        self, who: IntArray, start: FloatArray, end: FloatArray, ml_per_day: FloatArray
    ) -> None:
        self.deliveries.append((who, start, end, ml_per_day))


def _minutes(days: FloatArray, horizon: int) -> IntArray:
    finite = np.where(np.isfinite(days), days, horizon / 1440.0)
    return np.clip(np.rint(finite * 1440.0), 0, horizon).astype(np.int64)


def _cat(parts: list[tuple[IntArray, FloatArray]]) -> tuple[IntArray, FloatArray]:
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate([w for w, _ in parts]), np.concatenate([d for _, d in parts])


def monthly_minutes(
    start: IntArray, end: IntArray, months: int, per_minute: FloatArray | None = None
) -> IntArray:
    """Minutes of the intervals ``[start, end)`` (whole minutes) falling in each month; with
    ``per_minute``, that amount per minute instead, rounded per interval and month."""
    out = np.zeros(months, np.int64)
    keep = end > start
    start, end = start[keep], end[keep]
    if len(start) == 0:
        return out
    rate = None if per_minute is None else per_minute[keep]
    first = start // MINUTES_PER_MONTH_INT
    span = int(((end - 1) // MINUTES_PER_MONTH_INT - first).max()) + 1
    for j in range(span):
        month = first + j
        lo = np.maximum(start, month * MINUTES_PER_MONTH_INT)
        hi = np.minimum(end, (month + 1) * MINUTES_PER_MONTH_INT)
        inside = (hi > lo) & (month < months)
        piece = (hi - lo)[inside]
        amount = piece if rate is None else np.rint(piece * rate[inside]).astype(np.int64)
        out += np.bincount(month[inside], weights=amount, minlength=months)[:months].astype(
            np.int64
        )
    return out


def tally_block(
    months: int, log: BlockLog, alive_end: FloatArray, implant_end: FloatArray, death: FloatArray
) -> CohortTally:
    """The block's ``CohortTally`` (see the module docstring)."""
    n, horizon = log.n, months * MINUTES_PER_MONTH_INT
    zero = np.zeros(n, np.int64)
    alive = _minutes(alive_end, horizon)
    implanted = _minutes(implant_end, horizon)
    gap_who, gap_a, gap_b = _gap_minutes(log, horizon)
    monthly = {name: np.zeros(months, np.int64) for name in MONTHLY}
    monthly["alive_minutes"] = monthly_minutes(zero, alive, months)
    monthly["gap_minutes"] = monthly_minutes(gap_a, gap_b, months)
    monthly["on_pump_minutes"] = monthly_minutes(zero, implanted, months) - monthly["gap_minutes"]
    died = _minutes(death, horizon)
    monthly["deaths"] = _per_month(died[died < horizon], months)
    per_patient = {name: zero.copy() for name in PER_PATIENT}
    for name in _COUNTED:
        who, day = _cat(log.counts[name])
        at = _minutes(day, horizon)
        inside = at < horizon
        monthly[name] = _per_month(at[inside], months)
        if name in per_patient:
            per_patient[name] = np.bincount(who[inside], minlength=n).astype(np.int64)
    monthly["infusate_ul"] = _infusate(log, horizon, months)
    events = {}
    for kind in EVENT_KINDS:
        _, day = _cat(log.events[kind])
        at = _minutes(day, horizon)
        events[kind] = _per_month(at[at < horizon], months)
    events["implant"][0] += n
    gap_per_patient = np.bincount(gap_who, weights=gap_b - gap_a, minlength=n).astype(np.int64)
    per_patient["gap_minutes"] = gap_per_patient
    per_patient["alive_minutes"] = alive
    per_patient["on_pump_minutes"] = implanted - gap_per_patient
    return CohortTally(
        months=months,
        patients=n,
        monthly=monthly,
        events=events,
        patient_sum={k: int(v.sum()) for k, v in per_patient.items()},
        patient_sumsq={k: _dot(v, v) for k, v in per_patient.items()},
        patient_cross={k: _dot(v, alive) for k, v in per_patient.items()},
        refill_burden=_burden(per_patient["refill_visits"], alive),
    )


def _dot(a: IntArray, b: IntArray) -> int:
    """Σ a·b exactly: in int64 when it cannot overflow, else in Python integers."""
    if len(a) == 0:
        return 0
    bound = int(np.abs(a).max()) * int(np.abs(b).max()) * len(a)
    if bound < 2**62:
        return int(np.dot(a, b))
    return sum(int(x) * int(y) for x, y in zip(a.tolist(), b.tolist(), strict=True))


def _per_month(minutes: IntArray, months: int) -> IntArray:
    return np.bincount(minutes // MINUTES_PER_MONTH_INT, minlength=months)[:months].astype(np.int64)


def _gap_minutes(log: BlockLog, horizon: int) -> tuple[IntArray, IntArray, IntArray]:
    if not log.gaps:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    who = np.concatenate([g[0] for g in log.gaps])
    start = _minutes(np.concatenate([g[1] for g in log.gaps]), horizon)
    end = _minutes(np.concatenate([g[2] for g in log.gaps]), horizon)
    return who, start, np.maximum(start, end)


def _infusate(log: BlockLog, horizon: int, months: int) -> IntArray:
    if not log.deliveries:
        return np.zeros(months, np.int64)
    start = _minutes(np.concatenate([x[1] for x in log.deliveries]), horizon)
    end = _minutes(np.concatenate([x[2] for x in log.deliveries]), horizon)
    ul_per_minute = np.concatenate([x[3] for x in log.deliveries]) * 1000.0 / 1440.0
    return monthly_minutes(start, np.maximum(start, end), months, ul_per_minute)


def _burden(visits: IntArray, alive_minutes: IntArray) -> IntArray:
    """Patients per refill-burden bin: refill visits per year alive, bin ``i`` holding
    ``[i, i + 1)`` and the last bin everything from its edge up."""
    years = alive_minutes / _YEAR_MINUTES
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(years > 0, visits / years, 0.0)
    last = len(REFILL_BURDEN_EDGES) - 1
    bins = np.minimum(np.floor(rate), last).astype(np.int64)
    return np.bincount(bins, minlength=len(REFILL_BURDEN_EDGES)).astype(np.int64)
