"""The planner with a process pool: the same plan for any worker count, today's plan kept, and
the windows of the next day's refills started before they are asked for.

``data/clinic-12-plan-cap1.json`` is the plan of ``profiles/rosters/clinic-12.csv`` made by the
planner before it prefetched (commit 3542760): 26 weeks from Mon 9 Mar 2026, one refill a day,
Germany, Europe/Berlin, forecast windows with 1,000 runs, seed 0, one worker, written by
``pumpsim.clinic.export.plan_json``. It holds 48 refills over 7 cycles, 3 of them early. A change
to the forecast's numbers (not to the planner) is a reason to write it again with ``_plan(1)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest

from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.clinic.export import plan_json
from pumpsim.clinic.planner import plan_clinic
from pumpsim.clinic.results import Plan
from pumpsim.clinic.windows import (
    ForecastWindowSource,
    Prefetching,
    ScheduleWindowSource,
    Window,
    WindowRequest,
)
from pumpsim.io.roster import load_roster

HERE = Path(__file__).resolve().parent
ROSTER = HERE.parents[1] / "profiles" / "rosters" / "clinic-12.csv"
START = dt.date(2026, 3, 9)


def _calendar(capacity: int = 1, weeks: int = 26) -> ClinicCalendar:
    return ClinicCalendar(
        start=START,
        end=START + dt.timedelta(weeks=weeks, days=-1),
        capacity_per_day=capacity,
        country="DE",
        timezone="Europe/Berlin",
    )


def _plan(workers: int) -> tuple[Plan, ForecastWindowSource]:
    with ForecastWindowSource(runs=1000, seed=0, workers=workers) as source:
        return plan_clinic(load_roster(ROSTER), _calendar(), source), source


@pytest.mark.parametrize("workers", [1, 2])
def test_the_plan_is_todays_for_one_and_two_workers(workers: int) -> None:
    plan, source = _plan(workers)
    expected = (HERE / "data" / "clinic-12-plan-cap1.json").read_text(encoding="utf-8")
    assert plan_json(plan) == expected
    assert len(plan.appointments) == 48
    assert source.asked == 12 + 48  # the first windows, then one after each booked refill
    if workers == 2:
        # every refill after the first cycle was predicted the open day before it was booked
        assert source.ahead == 48
        assert source.wasted == 0
    else:
        assert (source.ahead, source.wasted) == (0, 0)  # one worker computes on demand


class RecordingSource:
    """Schedule windows, and a record of what the planner prefetched and asked for."""

    description = "schedule, recorded"
    prefetching = True

    def __init__(self) -> None:
        self.inner = ScheduleWindowSource()
        self.prefetched: list[WindowRequest] = []
        self.asked: list[WindowRequest] = []

    def prefetch(self, requests: Sequence[WindowRequest]) -> None:
        self.prefetched.extend(requests)

    def windows(self, requests: Sequence[WindowRequest], progress: object = None) -> list[Window]:
        self.asked.extend(requests)
        return self.inner.windows(requests)


def test_the_planner_predicts_the_next_days_refills_without_changing_the_plan() -> None:
    recorded = RecordingSource()
    assert isinstance(recorded, Prefetching)
    roster, calendar = load_roster(ROSTER), _calendar(capacity=2)
    plan = plan_clinic(roster, calendar, recorded)
    plain = plan_clinic(roster, calendar, ScheduleWindowSource())
    assert plan.model_dump_json() == plain.model_dump_json().replace(
        "programmed schedule, 3 days margin", "schedule, recorded"
    )
    later = recorded.asked[len(roster) :]  # after the first windows
    assert len(later) == len(plan.appointments) == 52
    # each later request was prefetched twice: predicted a day ahead, then when booked
    for request in later:
        assert recorded.prefetched.count(request) == 2, request.key
    # the guesses are the real requests (the same therapy, state and stream), nothing else
    assert len(recorded.prefetched) == 2 * len(later)


def test_a_prefetched_window_is_used_only_for_an_equal_request() -> None:
    roster = load_roster(ROSTER)
    first, second = roster.entries[0].therapy, roster.entries[1].therapy
    a = WindowRequest(first, key="k")
    b = WindowRequest(second, key="k")  # same stream, another therapy
    with ForecastWindowSource(runs=200, seed=3, workers=1) as alone:
        expected = alone.windows([a, b])
    with ForecastWindowSource(runs=200, seed=3, workers=2) as pooled:
        pooled.prefetch([a])
        pooled.prefetch([a])
        assert pooled.ahead == 1
        assert pooled.windows([b]) == [expected[1]]  # not a's window
        assert pooled.wasted == 1
        pooled.prefetch([a])
        assert pooled.windows([a]) == [expected[0]]
    assert expected[0] != expected[1]
