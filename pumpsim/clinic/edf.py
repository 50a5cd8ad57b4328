"""Unit-slot scheduling with release dates and deadlines: the planner's exact core.

A *job* is one refill: it takes one slot on one open day ``d`` with ``release <= d <= deadline``
(days are integers, e.g. ``date.toordinal()``), optionally only on some weekdays. Each open day
has a capacity. Two classical facts drive the design:

* **Feasibility.** Going forward day by day and giving each day's slots to the released jobs with
  the earliest deadlines (EDF; Glover's rule for convex bipartite matching) places the largest
  possible number of jobs. In particular it meets every deadline whenever any plan does.
* **Lateness.** Among plans that meet every deadline we want late dates (a refill too early
  wastes drug and adds visits). ``LazyEdf`` places on each day only the *fewest* EDF-first jobs
  that must go that day for the rest to stay feasible. Doing so never loses feasibility and
  gives the latest plan: for every day ``t`` it maximises the number of jobs placed on or after
  ``t`` (``tests/test_clinic_edf.py`` checks both facts against exhaustive search).

Jobs can be added while the sweep runs (a chained refill cycle is only known once the previous
refill has a date); jobs whose deadline lies beyond the last day of the horizon are never forced,
because days after the horizon are someone else's plan.

With weekday restrictions the jobs' day sets are no longer intervals and EDF is a good heuristic,
not an exact method; the planner reports any patient it cannot place.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["LazyEdf", "UnitJob", "edf_unplaced", "weekday_of"]


def weekday_of(day: int) -> int:
    """Weekday (Monday = 0) of a proleptic Gregorian ordinal (``date.toordinal()``)."""
    return (day - 1) % 7


@dataclass(frozen=True, slots=True, order=False)
class UnitJob:
    """One unit of work allowed on days ``release..deadline`` (inclusive ordinals).

    ``pinned`` fixes the job to that day (a kept booking); it must lie in the job's days.
    ``weekdays`` restricts the job to those weekdays (Monday = 0); ``None`` allows all.
    """

    key: str
    release: int
    deadline: int
    pinned: int | None = None
    weekdays: frozenset[int] | None = None
    rank: tuple[int, int, int, str] = field(init=False, repr=False, compare=False)
    """``priority()``, computed once (the sweep sorts and heaps jobs many times a day)."""
    start_rank: tuple[int, tuple[int, int, int, str]] = field(init=False, repr=False, compare=False)
    """``(first, priority())``: the order in which a forward sweep releases jobs."""

    def __post_init__(self) -> None:
        first = self.release if self.pinned is None else self.pinned
        last = self.deadline if self.pinned is None else self.pinned
        rank = (last, 0 if self.pinned is not None else 1, first, self.key)
        object.__setattr__(self, "rank", rank)
        object.__setattr__(self, "start_rank", (first, rank))

    @property
    def first(self) -> int:
        return self.release if self.pinned is None else self.pinned

    @property
    def last(self) -> int:
        return self.deadline if self.pinned is None else self.pinned

    def allowed_on(self, day: int) -> bool:
        if not self.first <= day <= self.last:
            return False
        return self.weekdays is None or weekday_of(day) in self.weekdays

    def priority(self) -> tuple[int, int, int, str]:
        """EDF order: earliest (effective) deadline, pinned first, earliest release, key."""
        return self.rank


def _start_rank(job: UnitJob) -> tuple[int, tuple[int, int, int, str]]:
    return job.start_rank


def edf_unplaced(
    jobs: Iterable[UnitJob],
    days: Sequence[int],
    capacity: Mapping[int, int],
    *,
    horizon_end: int | None = None,
) -> list[UnitJob]:
    """Forward EDF over ``days`` (sorted open days with their capacity): the jobs it cannot place.

    Jobs whose last day is after ``horizon_end`` (default: the last of ``days``) are never
    reported: they may still be placed after the horizon.
    """
    end = horizon_end if horizon_end is not None else (days[-1] if days else 0)
    return _unplaced_in_order(sorted(jobs, key=_start_rank), days, capacity, end)


def _unplaced_in_order(
    order: Sequence[UnitJob], days: Sequence[int], capacity: Mapping[int, int], end: int
) -> list[UnitJob]:
    """``edf_unplaced`` of jobs already sorted by ``start_rank``. A job on the heap was
    released (``first <= day``) and is not late (checked at the top), so only its weekdays can
    keep it off the day."""
    heap: list[tuple[tuple[int, int, int, str], int, UnitJob]] = []
    unplaced: list[UnitJob] = []
    push, pop = heapq.heappush, heapq.heappop
    i, n = 0, len(order)
    for day in days:
        while i < n and order[i].start_rank[0] <= day:
            job = order[i]
            push(heap, (job.rank, i, job))
            i += 1
        room = capacity.get(day, 0)
        weekday = (day - 1) % 7
        skipped = []
        while heap:
            if heap[0][0][0] < day:  # rank[0] is the job's last day
                unplaced.append(pop(heap)[2])
                continue
            if room == 0:
                break
            item = pop(heap)
            allowed = item[2].weekdays
            if allowed is None or weekday in allowed:
                room -= 1
            else:
                skipped.append(item)
        for item in skipped:
            push(heap, item)
    leftovers = [job for _, _, job in heap] + list(order[i:])
    unplaced.extend(job for job in leftovers if job.last <= end)
    return sorted(unplaced, key=UnitJob.priority)


@dataclass
class LazyEdf:
    """A day-by-day sweep that places each job as late as feasibility allows.

    Call ``add`` for the jobs known so far and ``run_day`` for each open day in order; each call
    returns the jobs placed that day (in EDF order, which is slot order) and the jobs dropped
    because no plan can place them any more (the fewest possible, by EDF's maximality). Before a
    job is dropped, ``relax`` may swap it for a looser job (e.g. an earlier release).
    """

    days: Sequence[int]
    capacity: Mapping[int, int]
    horizon_end: int
    relax: Callable[[UnitJob], UnitJob | None] | None = None
    """Called with a job no plan can place any more; may return a looser job to try instead."""
    pending: list[UnitJob] = field(default_factory=list)
    _index: int = 0

    def add(self, jobs: Iterable[UnitJob]) -> None:
        self.pending.extend(jobs)

    def run_day(self, day: int) -> tuple[list[UnitJob], list[UnitJob]]:
        """Place the jobs that must go on ``day`` (the next open day); return (placed, dropped)."""
        position = bisect.bisect_left(self.days, day)
        if position >= len(self.days) or self.days[position] != day:
            raise ValueError(f"day {day} is not an open day of this sweep")
        self._index = position
        future = self.days[position:]
        dropped: list[UnitJob] = []
        while True:
            order = sorted(self.pending, key=_start_rank)
            lost = _unplaced_in_order(order, future, self.capacity, self.horizon_end)
            if not lost:
                break
            lost_ids = {id(j) for j in lost}
            self.pending = [j for j in self.pending if id(j) not in lost_ids]
            retried: list[UnitJob] = []
            for job in lost:
                looser = self.relax(job) if self.relax is not None else None
                if looser is None:
                    dropped.append(job)
                else:
                    retried.append(looser)
            if not retried:
                order = sorted(self.pending, key=_start_rank)
                break
            self.pending.extend(retried)
        # jobs that may go today, in EDF order; the rest of the schedule starts tomorrow
        ready = sorted((j for j in self.pending if j.allowed_on(day)), key=UnitJob.priority)
        most = min(self.capacity.get(day, 0), len(ready))
        later_days = self.days[position + 1 :]

        def feasible_with(k: int) -> bool:
            chosen = {id(j) for j in ready[:k]}
            rest = [j for j in order if id(j) not in chosen]  # still in start order
            return not _unplaced_in_order(rest, later_days, self.capacity, self.horizon_end)

        lo, hi = 0, most  # feasible_with(most) holds: it is what forward EDF does today
        while lo < hi:
            mid = (lo + hi) // 2
            if feasible_with(mid):
                hi = mid
            else:
                lo = mid + 1
        placed = ready[:lo]
        chosen = {id(j) for j in placed}
        self.pending = [j for j in self.pending if id(j) not in chosen]
        return placed, sorted(dropped, key=UnitJob.priority)
