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
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from pumpsim.core.clock import EPS_DAYS, MINUTES_PER_DAY, midnight_before, origin_minute
from pumpsim.models import Program, Therapy

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


SegmentColumns = tuple[list[float], list[float], list[float], list[float]]
"""``(start_day, end_day, basal_ml_per_day, bolus_ml_per_day)`` of each segment, as four
columns (the fields of ``Segment``)."""


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
    columns = segment_columns(
        program,
        origin=origin,
        start_day=start_day,
        end_day=end_day,
        program_start_day=program_start_day,
    )
    return list(map(Segment, *columns))


def segment_columns(
    program: Program,
    *,
    origin: dt.datetime,
    start_day: float,
    end_day: float,
    program_start_day: float | None = None,
) -> SegmentColumns:
    """``program_segments`` as four columns: start and end days, basal and bolus rates. The
    event engine walks through them with ``zip``, which keeps no tuple per segment."""
    if end_day <= start_day:
        return [], [], [], []
    p0 = start_day if program_start_day is None else program_start_day
    times, rates = _basal_breaks(program, origin, start_day, end_day)
    windows = _bolus_windows(program, origin, p0, start_day, end_day)
    if not windows:
        return _basal_columns(times, rates, end_day)
    breaks = list(zip(times.tolist(), rates.tolist(), strict=True))
    return _columns(_merged_segments(breaks, windows, start_day, end_day))


def _columns(segments: Sequence[Segment]) -> SegmentColumns:
    """``segments`` as columns (``segment_columns``)."""
    if not segments:
        return [], [], [], []
    start, end, basal, bolus = (list(column) for column in zip(*segments, strict=True))
    return start, end, basal, bolus


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


def _basal_columns(times: FloatArray, rates: FloatArray, end_day: float) -> SegmentColumns:
    """``segment_columns`` without periodic boluses: the basal steps themselves, equal rates
    merged. A sliver shorter than the tolerance is joined to the segment before."""
    if times.size == 0:
        return [], [], [], []
    ends = np.append(times[1:], end_day)
    if np.any(ends - times <= EPS_DAYS * 1e-3):
        breaks = list(zip(times.tolist(), rates.tolist(), strict=True))
        return _columns(_merged_segments(breaks, [], float(times[0]), end_day))
    change = np.r_[True, rates[1:] != rates[:-1]]
    starts = times[change]
    stops = np.append(starts[1:], end_day)
    return starts.tolist(), stops.tolist(), rates[change].tolist(), [0.0] * starts.size


def _with_extra(segments: Sequence[Segment], extra_ml_per_day: float) -> list[Segment]:
    """``segments`` with an even ``extra_ml_per_day`` added, counted as bolus."""
    if not extra_ml_per_day:
        return list(segments)
    return [s._replace(bolus_ml_per_day=s.bolus_ml_per_day + extra_ml_per_day) for s in segments]


# ---------------------------------------------------------------- a course of programs
@dataclass(frozen=True)
class Course:
    """What changes the delivery after the pump state, as days since ``state.time``: later
    programs (a planned reprogram) from their start day on, and motor stalls (an MRI) during
    which nothing flows. The first program is the therapy's own, from day 0."""

    programs: tuple[tuple[float, Program], ...] = ()
    """``(start_day, program)`` in time order, each start after day 0."""
    stalls: tuple[tuple[float, float], ...] = ()
    """``(start_day, end_day)`` windows of no delivery."""

    def segments(self, first: Program, origin: dt.datetime, end_day: float) -> list[Segment]:
        """The delivery over ``[0, end_day)``: each program over its own span, its periodic
        boluses anchored at its own start."""
        starts = [0.0, *(day for day, _ in self.programs)]
        programs = [first, *(program for _, program in self.programs)]
        out: list[Segment] = []
        for i, (begin, program) in enumerate(zip(starts, programs, strict=True)):
            stop = min(starts[i + 1] if i + 1 < len(starts) else end_day, end_day)
            if stop > begin:
                out += program_segments(
                    program, origin=origin, start_day=begin, end_day=stop, program_start_day=begin
                )
        return out

    def stalled(self, segments: Sequence[Segment]) -> list[Segment]:
        """``segments`` with every stall window cut out and set to no delivery."""
        out = list(segments)
        for a, b in self.stalls:
            cut: list[Segment] = []
            for s in out:
                if s.end_day <= a or s.start_day >= b:
                    cut.append(s)
                    continue
                if s.start_day < a:
                    cut.append(s._replace(end_day=a))
                cut.append(Segment(max(s.start_day, a), min(s.end_day, b), 0.0, 0.0))
                if s.end_day > b:
                    cut.append(s._replace(start_day=b))
            out = cut
        return out


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
        return cls.from_segments(_with_extra(segments, extra_ml_per_day))

    @classmethod
    def for_therapy(
        cls,
        therapy: Therapy,
        days: float,
        *,
        extra_ml_per_day: float = 0.0,
        course: Course | None = None,
    ) -> CumulativeSchedule:
        """The therapy's program from its pump state (day 0 = ``state.time``, where the program
        is taken to start) over ``[0, days]``, plus an even ``extra_ml_per_day``; with a
        ``course``, its reprograms take over from their day and nothing flows during its
        stalls (the extra rate included: a stalled pump grants no bolus).

        Cached (``SCHEDULE_CACHE_SIZE`` recent curves, keyed on the frozen program, the state's
        time, the window, the extra rate and the course; the arrays are read-only): one
        forecast asks for the same curve several times (its horizon search, the deterministic
        dates' plans, the battery)."""
        origin = therapy.state.time
        if course is not None and not (course.programs or course.stalls):
            course = None
        return _cached_schedule(
            _CurveKey(therapy.program, origin, float(days), float(extra_ml_per_day), course)
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


SCHEDULE_CACHE_SIZE = 256
"""How many cumulative schedules ``CumulativeSchedule.for_therapy`` keeps (per process)."""


@dataclass(frozen=True, eq=False)
class _CurveKey:
    """What a cumulative curve depends on. Programs hold a dict (``weekly``), so the key hashes
    a few plain fields and compares the whole program, course and the origin's zone."""

    program: Program
    origin: dt.datetime
    days: float
    extra_ml_per_day: float
    course: Course | None

    def __hash__(self) -> int:
        p = self.program
        return hash((p.mode, p.rate_ml_per_day, p.steps, self.origin, self.days))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _CurveKey)
            and self.origin == other.origin
            and self.origin.tzinfo == other.origin.tzinfo
            and self.days == other.days
            and self.extra_ml_per_day == other.extra_ml_per_day
            and self.program == other.program
            and self.course == other.course
        )


@functools.lru_cache(maxsize=SCHEDULE_CACHE_SIZE)
def _cached_schedule(key: _CurveKey) -> CumulativeSchedule:
    """``CumulativeSchedule.for_therapy``'s curve for ``key`` (arrays made read-only)."""
    program, origin, days, extra = key.program, key.origin, key.days, key.extra_ml_per_day
    if key.course is None:
        schedule = CumulativeSchedule.for_program(
            program,
            origin=origin,
            start_day=0.0,
            end_day=days,
            program_start_day=0.0,
            extra_ml_per_day=extra,
        )
    else:
        segments = key.course.segments(program, origin, days)
        schedule = CumulativeSchedule.from_segments(
            key.course.stalled(_with_extra(segments, extra))
        )
    schedule.times.flags.writeable = False
    schedule.volumes.flags.writeable = False
    return schedule


# ---------------------------------------------------------------- a day's volume
MAX_DAY_WINDOW_DAYS = 28
"""Calendar days examined for the largest programmed daily volume (covers every weekday and
every periodic-bolus interval up to the 28-day maximum)."""


def mean_daily_volume_ml(program: Program) -> float:
    """Programmed basal + periodic-bolus volume per day, averaged over a week (mL/day)."""
    total = 0.0
    for day in range(7):
        steps = program.steps_for(day)
        for i, step in enumerate(steps):
            end = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
            total += step.rate_ml_per_day * (end - step.start_minute) / MINUTES_PER_DAY
    basal = total / 7
    return basal + sum(b.volume_ml / b.every_days for b in program.periodic_boluses)


def max_calendar_day_volume_ml(therapy: Therapy) -> float:
    """Largest programmed volume (mL) in one pump-clock calendar day over the next 4 weeks,
    counting whole days from the first midnight after ``state.time``."""
    origin = therapy.state.time
    first_midnight = midnight_before(origin, 0.0)
    if first_midnight < 0:
        first_midnight += 1.0
    end = first_midnight + MAX_DAY_WINDOW_DAYS
    schedule = CumulativeSchedule.for_therapy(therapy, end)
    midnights = [first_midnight + k for k in range(MAX_DAY_WINDOW_DAYS + 1)]
    volumes = schedule.volume_at(midnights)
    return float(max(volumes[1:] - volumes[:-1]))


def programmed_volume_ml(therapy: Therapy, days: float, *, course: Course | None = None) -> float:
    """Programmed volume (mL) delivered in the ``days`` after ``therapy.state.time`` (with the
    ``course``'s reprograms and stalls)."""
    if days <= 0:
        return 0.0
    return float(CumulativeSchedule.for_therapy(therapy, days, course=course).volume_at(days))


# ---------------------------------------------------------------- the horizon search
def schedule_reaching(
    therapy: Therapy,
    volume_ml: float,
    *,
    first_span_days: float,
    max_days: float,
    extra_ml_per_day: float = 0.0,
    course: Course | None = None,
) -> tuple[CumulativeSchedule, float]:
    """The therapy's cumulative schedule over ``[0, span]`` with ``span`` doubled from
    ``first_span_days`` until the program (plus an even ``extra_ml_per_day``) has delivered
    ``volume_ml`` or ``span`` reaches ``max_days``; returns ``(schedule, span)``."""
    span = min(first_span_days, max_days)
    while True:
        schedule = CumulativeSchedule.for_therapy(
            therapy, span, extra_ml_per_day=extra_ml_per_day, course=course
        )
        if schedule.volumes[-1] >= volume_ml or span >= max_days:
            return schedule, span
        span = min(2 * span, max_days)


def days_to_deliver(
    therapy: Therapy,
    volume_ml: float,
    *,
    extra_ml_per_day: float = 0.0,
    max_days: float,
    course: Course | None = None,
) -> float | None:
    """Days from ``state.time`` until the program (plus an even ``extra_ml_per_day``) has
    delivered ``volume_ml``; 0 if there is nothing left to deliver, ``None`` beyond
    ``max_days``. The first guess is the mean rate's estimate plus two 4-week patterns."""
    if volume_ml <= 0:
        return 0.0
    mean = mean_daily_volume_ml(therapy.program) + extra_ml_per_day
    if mean <= 0:
        return None
    schedule, _ = schedule_reaching(
        therapy,
        volume_ml,
        first_span_days=volume_ml / mean + 2 * MAX_DAY_WINDOW_DAYS,
        max_days=max_days,
        extra_ml_per_day=extra_ml_per_day,
        course=course,
    )
    days = float(schedule.time_of_volume(volume_ml))
    return days if math.isfinite(days) else None


# ---------------------------------------------------------------- the bridge bolus
def bridge_days(program: Program, origin: dt.datetime, volume_ml: float) -> float:
    """How long ``program``, started at ``origin``, takes to pump ``volume_ml`` (days): the
    bridge bolus after a concentration change keeps the old program running until the dead
    volume of old fluid has been pushed out (as ``PumpModel.start_bridge`` does). ``inf`` if
    the program never delivers it within three years."""
    if volume_ml <= 0:
        return 0.0
    mean = mean_daily_volume_ml(program)
    if mean <= 0:
        return math.inf
    span = volume_ml / mean + 2 * MAX_DAY_WINDOW_DAYS
    schedule = CumulativeSchedule.for_program(
        program, origin=origin, start_day=0.0, end_day=min(span, 3 * 366.0), program_start_day=0.0
    )
    return float(schedule.time_of_volume(volume_ml))
