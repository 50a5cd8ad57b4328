"""Schedule semantics shared by both engines: a program as piecewise-constant rate segments,
cumulative delivered volume and its exact inverse, dose↔volume conversion, and the PTM rules.

Time is float **days since an origin** (a naive local datetime on the pump clock); rates are
mL/day. Flex steps follow the pump's wall clock and weekday; periodic boluses repeat every
``every`` from their first time of day on the day the program took effect.

This module is the single source of truth for "how much does the pump deliver, when". If the
SimPy engine and the vectorized engine disagree, the fix belongs here.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from pumpsim.models import Program, PtmSettings, Therapy

MINUTES_PER_DAY = 1440
EPS_DAYS = 1e-9
"""Times closer than this (about 0.1 ms) are the same instant."""

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------- conversions (mg, mL, mg/mL)
def volume_to_dose_mg(volume_ml: float, concentration_mg_per_ml: float) -> float:
    """Drug mass (mg) in ``volume_ml`` of fluid at ``concentration_mg_per_ml``."""
    return volume_ml * concentration_mg_per_ml


def dose_to_volume_ml(dose_mg: float, concentration_mg_per_ml: float) -> float:
    """Volume (mL) that carries ``dose_mg`` at ``concentration_mg_per_ml`` (> 0)."""
    if concentration_mg_per_ml <= 0:
        raise ValueError("concentration must be positive")
    return dose_mg / concentration_mg_per_ml


# ---------------------------------------------------------------- clock helpers
def to_days(origin: dt.datetime, when: dt.datetime) -> float:
    """Days from ``origin`` to ``when`` (both naive pump-clock datetimes)."""
    return (when - origin).total_seconds() / 86400.0


_SECOND = dt.timedelta(seconds=1)


def to_datetime(origin: dt.datetime, days: float) -> dt.datetime:
    """The pump-clock datetime ``days`` after ``origin``, rounded to the second."""
    return origin + _SECOND * round(days * 86400.0)


def origin_minute(origin: dt.datetime) -> float:
    """Minutes since the pump clock's midnight at ``origin`` (day 0 of a run)."""
    return origin.hour * 60 + origin.minute + origin.second / 60 + origin.microsecond / 6e7


# ---------------------------------------------------------------- segments
class Segment(NamedTuple):
    """From ``start_day`` to ``end_day`` the pump runs at ``basal`` + ``bolus`` mL/day.

    A named tuple: a long run is made of many thousands of them."""

    start_day: float
    end_day: float
    basal_ml_per_day: float
    bolus_ml_per_day: float = 0.0

    @property
    def rate_ml_per_day(self) -> float:
        return self.basal_ml_per_day + self.bolus_ml_per_day

    @property
    def volume_ml(self) -> float:
        return self.rate_ml_per_day * (self.end_day - self.start_day)


def _basal_breaks(
    program: Program, origin: dt.datetime, start: float, end: float
) -> tuple[FloatArray, FloatArray]:
    """Times (days) and basal rates (mL/day) of the steps in force over ``[start, end)``: the
    first at ``start``, then every step change before ``end``. Vectorized over the days."""
    base_minute = origin_minute(origin)
    first_day = math.floor((base_minute + start * MINUTES_PER_DAY) / MINUTES_PER_DAY)
    last_day = math.floor((base_minute + end * MINUTES_PER_DAY) / MINUTES_PER_DAY)
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    weekday = (origin.weekday() + days) % 7
    every_day = not program.weekly  # the same steps each day: one group
    times, nexts, rates = [], [], []
    for w in [0] if every_day else np.unique(weekday).tolist():
        steps = program.steps_for(w)
        begin = np.array([s.start_minute for s in steps], dtype=np.int64)
        finish = np.append(begin[1:], MINUTES_PER_DAY)
        day_minute = (days if every_day else days[weekday == w])[:, None] * MINUTES_PER_DAY
        times.append((((day_minute + begin) - base_minute) / MINUTES_PER_DAY).ravel())
        nexts.append((((day_minute + finish) - base_minute) / MINUTES_PER_DAY).ravel())
        rates.append(
            np.broadcast_to(
                [s.rate_ml_per_day for s in steps], day_minute.shape[:1] + begin.shape
            ).ravel()
        )
    t, t_next, rate = (np.concatenate(x) for x in (times, nexts, rates))
    if not every_day:
        order = np.argsort(t, kind="stable")
        t, t_next, rate = t[order], t_next[order], rate[order]
    keep = (t_next > start + EPS_DAYS) & (t < end - EPS_DAYS)
    t, rate = t[keep], rate[keep]
    if t.size:
        t[0] = start
        later = np.r_[True, t[1:] > start]
        t, rate = t[later], rate[later]
    return t, rate


def _bolus_windows(
    program: Program, origin: dt.datetime, program_start: float, start: float, end: float
) -> list[tuple[float, float, float]]:
    """(start, end, rate) of every periodic bolus overlapping [start, end)."""
    windows = []
    base_minute = origin_minute(origin)
    start_calendar_day = math.floor(
        (base_minute + program_start * MINUTES_PER_DAY) / MINUTES_PER_DAY
    )
    for bolus in program.periodic_boluses:
        anchor = (
            start_calendar_day * MINUTES_PER_DAY + bolus.start_minute - base_minute
        ) / MINUTES_PER_DAY
        # first occurrence at or after the program start
        k0 = max(0, math.ceil((program_start - anchor - EPS_DAYS) / bolus.every_days))
        # skip occurrences that end before the window
        k = max(k0, math.floor((start - anchor - bolus.duration_days) / bolus.every_days))
        while True:
            b0 = anchor + k * bolus.every_days
            if b0 >= end - EPS_DAYS:
                break
            b1 = b0 + bolus.duration_days
            if b1 > start + EPS_DAYS and k >= k0:
                windows.append((b0, b1, bolus.rate_ml_per_day))
            k += 1
    return windows


SegmentRow = tuple[float, float, float, float]
"""``(start_day, end_day, basal_ml_per_day, bolus_ml_per_day)``, as in ``Segment``."""


def program_segments(
    program: Program,
    *,
    origin: dt.datetime,
    start_day: float,
    end_day: float,
    program_start_day: float | None = None,
) -> list[Segment]:
    """The program's delivery over ``[start_day, end_day)`` as contiguous segments.

    ``program_start_day`` is when the program took effect (anchor of periodic boluses);
    it defaults to ``start_day``. Segments are contiguous, non-empty and in time order; the
    programmed volume over the window is ``sum(s.volume_ml for s in segments)``.
    """
    rows = segment_rows(
        program,
        origin=origin,
        start_day=start_day,
        end_day=end_day,
        program_start_day=program_start_day,
    )
    return [Segment._make(row) for row in rows]


def segment_rows(
    program: Program,
    *,
    origin: dt.datetime,
    start_day: float,
    end_day: float,
    program_start_day: float | None = None,
) -> Sequence[SegmentRow]:
    """``program_segments`` as plain tuples, for the event engine that walks through them."""
    if end_day <= start_day:
        return []
    p0 = start_day if program_start_day is None else program_start_day
    times, rates = _basal_breaks(program, origin, start_day, end_day)
    windows = _bolus_windows(program, origin, p0, start_day, end_day)
    if not windows:
        return _basal_rows(times, rates, end_day)
    breaks = list(zip(times.tolist(), rates.tolist(), strict=True))
    return _merged_segments(breaks, windows, start_day, end_day)


def _merged_segments(
    breaks: list[tuple[float, float]],
    windows: list[tuple[float, float, float]],
    start_day: float,
    end_day: float,
) -> list[Segment]:
    """Basal steps and periodic-bolus windows cut into contiguous segments of constant rate."""
    cuts = {t for t, _ in breaks}
    for b0, b1, _ in windows:
        cuts.update(t for t in (b0, b1) if start_day < t < end_day)
    times = sorted(cuts) + [end_day]
    break_times = [t for t, _ in breaks]
    by_start = sorted(range(len(windows)), key=lambda i: windows[i][0])
    started = 0
    running: list[int] = []  # windows with b0 <= mid < b1, swept forward as mid grows
    segments: list[Segment] = []
    for a, b in zip(times, times[1:], strict=False):
        if b - a <= EPS_DAYS * 1e-3:
            continue
        a = segments[-1].end_day if segments else times[0]  # no gap where a sliver was skipped
        basal = breaks[bisect.bisect_right(break_times, a + EPS_DAYS) - 1][1]
        mid = 0.5 * (a + b)
        while started < len(by_start) and windows[by_start[started]][0] <= mid:
            running.append(by_start[started])
            started += 1
        running = [i for i in running if mid < windows[i][1]]
        bolus = sum(windows[i][2] for i in sorted(running))  # in window order, as always
        if (
            segments
            and segments[-1].basal_ml_per_day == basal
            and segments[-1].bolus_ml_per_day == bolus
        ):
            segments[-1] = Segment(segments[-1].start_day, b, basal, bolus)
        else:
            segments.append(Segment(a, b, basal, bolus))
    if segments and segments[-1].end_day != end_day:  # a sliver was skipped at the end
        last = segments[-1]
        segments[-1] = Segment(
            last.start_day, end_day, last.basal_ml_per_day, last.bolus_ml_per_day
        )
    return segments


def _basal_rows(times: FloatArray, rates: FloatArray, end_day: float) -> Sequence[SegmentRow]:
    """``segment_rows`` without periodic boluses: the basal steps themselves, equal rates
    merged. A sliver shorter than the tolerance is joined to the segment before."""
    if times.size == 0:
        return []
    ends = np.append(times[1:], end_day)
    if np.any(ends - times <= EPS_DAYS * 1e-3):
        return _merged_segments(
            list(zip(times.tolist(), rates.tolist(), strict=True)), [], float(times[0]), end_day
        )
    change = np.r_[True, rates[1:] != rates[:-1]]
    starts = times[change]
    stops = np.append(starts[1:], end_day)
    return list(
        zip(
            starts.tolist(),
            stops.tolist(),
            rates[change].tolist(),
            itertools.repeat(0.0),
            strict=False,
        )
    )


def daily_volume_ml(program: Program, origin: dt.datetime, day: int) -> float:
    """Programmed volume (mL) over calendar day ``day`` counted from the origin's midnight."""
    midnight = -origin_minute(origin) / MINUTES_PER_DAY
    segs = program_segments(
        program, origin=origin, start_day=midnight + day, end_day=midnight + day + 1
    )
    return sum(s.volume_ml for s in segs)


# ---------------------------------------------------------------- cumulative volume
@dataclass(frozen=True)
class CumulativeSchedule:
    """Cumulative programmed volume ``V(t)`` over a window, with its exact inverse.

    ``times`` are the segment boundaries and ``volumes`` the cumulative mL delivered at each,
    starting at 0 at ``times[0]``. Between boundaries the volume is linear, so
    ``time_of_volume`` solves threshold crossings exactly. Both accept NumPy arrays.
    """

    times: FloatArray
    volumes: FloatArray

    @classmethod
    def from_segments(cls, segments: Sequence[Segment]) -> CumulativeSchedule:
        if not segments:
            raise ValueError("need at least one segment")
        times = np.array([segments[0].start_day] + [s.end_day for s in segments])
        volumes = np.concatenate([[0.0], np.cumsum([s.volume_ml for s in segments])])
        return cls(times=times, volumes=volumes)

    @classmethod
    def for_program(
        cls,
        program: Program,
        *,
        origin: dt.datetime,
        start_day: float,
        end_day: float,
        program_start_day: float | None = None,
        extra_ml_per_day: float = 0.0,
    ) -> CumulativeSchedule:
        """The program's cumulative volume over the window, plus an even ``extra_ml_per_day``
        (e.g. every allowed patient bolus spread over the day), counted as bolus."""
        segments = program_segments(
            program,
            origin=origin,
            start_day=start_day,
            end_day=end_day,
            program_start_day=program_start_day,
        )
        if extra_ml_per_day:
            segments = [
                Segment(
                    s.start_day,
                    s.end_day,
                    s.basal_ml_per_day,
                    s.bolus_ml_per_day + extra_ml_per_day,
                )
                for s in segments
            ]
        return cls.from_segments(segments)

    @classmethod
    def for_therapy(
        cls, therapy: Therapy, days: float, *, extra_ml_per_day: float = 0.0
    ) -> CumulativeSchedule:
        """The therapy's program from its pump state (day 0 = ``state.time``, where the program
        is taken to start) over ``[0, days]``, plus an even ``extra_ml_per_day``."""
        return cls.for_program(
            therapy.program,
            origin=therapy.state.time,
            start_day=0.0,
            end_day=days,
            program_start_day=0.0,
            extra_ml_per_day=extra_ml_per_day,
        )

    @property
    def end_day(self) -> float:
        return float(self.times[-1])

    def volume_at(self, t: npt.ArrayLike) -> FloatArray:
        """Cumulative programmed volume (mL) at time(s) ``t`` (clamped to the window)."""
        out: FloatArray = np.interp(np.asarray(t, dtype=float), self.times, self.volumes)
        return out

    def time_of_volume(self, volume_ml: npt.ArrayLike) -> FloatArray:
        """Earliest time at which the cumulative volume reaches ``volume_ml``; ``inf`` when it is
        not reached inside the window. Exact on the piecewise-linear curve."""
        v = np.asarray(volume_ml, dtype=float)
        idx = np.searchsorted(self.volumes, v, side="left")
        out = np.full(v.shape, np.inf)
        inside = idx < len(self.volumes)
        i = np.clip(idx, 1, len(self.volumes) - 1)
        v0, v1 = self.volumes[i - 1], self.volumes[i]
        t0, t1 = self.times[i - 1], self.times[i]
        span = np.where(v1 > v0, v1 - v0, 1.0)
        frac = np.clip((v - v0) / span, 0.0, 1.0)
        solved = np.where(idx == 0, self.times[0], t0 + frac * (t1 - t0))
        out[inside] = solved[inside]
        return out


# ---------------------------------------------------------------- PTM rules
Decision = Literal[
    "granted",
    "lockout",
    "daily_cap",
    "bolus_running",
    "reservoir_empty",
    "pump_stopped",
    "disabled",
]


@dataclass
class PtmGate:
    """The pump's rules for a patient bolus request, applied press by press.

    A press at ``t`` is denied when the motor is stopped (MRI stall, end of service), when the
    reservoir is at its empty limit, when another bolus is
    still running, when the lockout since the last *granted* bolus has not passed, or when the
    day's maximum is used: either the grants in the last 24 h (``rolling``) or since the pump
    clock's midnight (``clock``). Otherwise it is granted and delivered over its duration.
    """

    settings: PtmSettings
    origin: dt.datetime
    _grants: deque[float] = field(default_factory=deque)

    def decide(
        self,
        t: float,
        bolus_running_until: float = -math.inf,
        reservoir_empty: bool = False,
        pump_stopped: bool = False,
    ) -> Decision:
        """Decide a press at ``t`` (days since origin) and record it when granted."""
        s = self.settings
        if s.max_per_day == 0:
            return "disabled"
        if pump_stopped:
            return "pump_stopped"
        if reservoir_empty:
            return "reservoir_empty"
        if t < bolus_running_until - EPS_DAYS:
            return "bolus_running"
        if self._grants and t < self._grants[-1] + s.lockout_days - EPS_DAYS:
            return "lockout"
        if self.count_in_day(t) >= s.max_per_day:
            return "daily_cap"
        self._grants.append(t)
        return "granted"

    def count_in_day(self, t: float) -> int:
        """Grants that count against the daily maximum for a press at ``t``: those in the 24 h
        before ``t`` (rolling) or since the pump clock's last midnight (clock)."""
        while self._grants and self._grants[0] <= t - 1.0 - EPS_DAYS:
            self._grants.popleft()  # too old for any later press to count
        if self.settings.day_definition == "rolling":
            since = t - 1.0 + EPS_DAYS  # counted: g > since
        else:
            since = math.nextafter(self.midnight_before(t) - EPS_DAYS, -math.inf)
        count = 0
        for g in reversed(self._grants):  # grants are in time order: count back to ``since``
            if g <= since:
                break
            count += 1
        return count

    def midnight_before(self, t: float) -> float:
        """The pump clock's last midnight at or before ``t`` (days since origin)."""
        return midnight_before(self.origin, t)


def midnight_before(origin: dt.datetime, t: float) -> float:
    """The last pump-clock midnight at or before ``t`` (days since ``origin``)."""
    base = origin_minute(origin)
    minute = base + t * MINUTES_PER_DAY
    return (
        math.floor(minute / MINUTES_PER_DAY + EPS_DAYS) * MINUTES_PER_DAY - base
    ) / MINUTES_PER_DAY
