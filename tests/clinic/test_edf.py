"""The scheduling core against exhaustive search on small random instances.

Rules checked: forward EDF places the most jobs any plan can place (so it meets every deadline
whenever some plan does); the lazy sweep places every job when a plan exists, never exceeds a
day's capacity, keeps each job inside its days, and its plan is the latest one: the sum of its
dates equals the largest sum over all deadline-meeting plans.
"""

from __future__ import annotations

import itertools
import random

import pytest

from pumpsim.clinic.edf import LazyEdf, UnitJob, edf_unplaced, weekday_of


def _instance(rng: random.Random) -> tuple[list[UnitJob], list[int], dict[int, int]]:
    n_days = rng.randint(2, 6)
    days = sorted(rng.sample(range(10, 20), n_days))
    capacity = {d: rng.randint(0, 2) for d in days}
    jobs = []
    for i in range(rng.randint(1, 5)):
        a = rng.randint(8, 20)
        b = rng.randint(a, 21)
        jobs.append(UnitJob(key=f"j{i}", release=a, deadline=b))
    return jobs, days, capacity


def _all_plans(jobs, days, capacity):
    """Every assignment of every job to an allowed day within capacity (None = not placed)."""
    options = [[d for d in days if j.allowed_on(d)] + [None] for j in jobs]
    for choice in itertools.product(*options):
        used: dict[int, int] = {}
        for d in choice:
            if d is not None:
                used[d] = used.get(d, 0) + 1
        if all(used[d] <= capacity[d] for d in used):
            yield choice


def _lazy(jobs, days, capacity, horizon_end):
    sweep = LazyEdf(days=days, capacity=capacity, horizon_end=horizon_end)
    sweep.add(jobs)
    placed: dict[str, int] = {}
    dropped: list[str] = []
    for day in days:
        today, gone = sweep.run_day(day)
        assert len(today) <= capacity[day]
        placed.update({j.key: day for j in today})
        dropped.extend(j.key for j in gone)
    return placed, dropped


@pytest.mark.parametrize("seed", range(300))
def test_edf_matches_exhaustive_search(seed: int) -> None:
    rng = random.Random(seed)
    jobs, days, capacity = _instance(rng)
    end = 21  # every deadline is inside the horizon
    plans = list(_all_plans(jobs, days, capacity))
    best_count = max(sum(d is not None for d in p) for p in plans)
    unplaced = edf_unplaced(jobs, days, capacity, horizon_end=end)
    assert len(jobs) - len(unplaced) == best_count

    placed, dropped = _lazy(jobs, days, capacity, end)
    assert len(placed) == best_count
    assert len(placed) + len(dropped) == len(jobs)
    for job in jobs:
        if job.key in placed:
            assert job.allowed_on(placed[job.key])
    full = [p for p in plans if all(d is not None for d in p)]
    if full:
        assert not dropped
        assert sum(placed.values()) == max(sum(p) for p in full)


@pytest.mark.parametrize("seed", range(100))
def test_weekday_restrictions_are_respected(seed: int) -> None:
    rng = random.Random(1000 + seed)
    jobs, days, capacity = _instance(rng)
    jobs = [
        UnitJob(j.key, j.release, j.deadline, weekdays=frozenset(rng.sample(range(7), 3)))
        for j in jobs
    ]
    placed, dropped = _lazy(jobs, days, capacity, 21)
    by_key = {j.key: j for j in jobs}
    for key, day in placed.items():
        assert weekday_of(day) in by_key[key].weekdays
        assert by_key[key].release <= day <= by_key[key].deadline
    assert len(placed) + len(dropped) == len(jobs)


def test_jobs_due_after_the_horizon_are_left_for_later() -> None:
    jobs = [UnitJob("a", 10, 30), UnitJob("b", 10, 11)]
    placed, dropped = _lazy(jobs, [10, 11], {10: 1, 11: 1}, 12)
    assert placed == {"b": 11}
    assert dropped == []


def test_pinned_job_stays_on_its_day() -> None:
    jobs = [UnitJob("a", 10, 14, pinned=11), UnitJob("b", 10, 14)]
    placed, _ = _lazy(jobs, [10, 11, 12, 13, 14], {d: 1 for d in range(10, 15)}, 14)
    assert placed == {"a": 11, "b": 14}
