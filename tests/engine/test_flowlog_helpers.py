"""FlowLog's own helpers and the day table's: the sample owner search and the per-day dose maps."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pumpsim.engine.flowlog import _first_ending_at_or_after
from pumpsim.engine.trace import _day_doses

GRID = st.lists(st.integers(0, 40), min_size=1, max_size=60).map(
    lambda v: np.sort(np.array(v, dtype=float) / 4)
)


def test_owner_search_on_ties_and_beyond_the_last_end() -> None:
    ends = np.array([1.0, 1.0, 2.5, 4.0])
    points = np.array([0.0, 1.0, 1.5, 2.5, 2.75, 4.0, 4.5, 5.0, 6.0])
    # a point at an end belongs to that stretch; past the last end: one past the last index
    assert _first_ending_at_or_after(ends, points).tolist() == [0, 0, 2, 2, 3, 3, 4, 4, 4]


@given(GRID, GRID)
def test_owner_search_is_searchsorted_left(ends: np.ndarray, points: np.ndarray) -> None:
    expected = np.searchsorted(ends, points, side="left")
    assert _first_ending_at_or_after(ends, points).tolist() == expected.tolist()


def test_day_doses_keep_drug_order_and_skip_absent_drugs() -> None:
    dose = [
        ("morphine", [1.5, 0.0, 2.0], [0.5, 0.0, 0.0], [True, False, True]),
        ("clonidine", [0.1, 0.2, 0.0], [0.0, 0.05, 0.0], [True, True, False]),
    ]
    doses, boluses = _day_doses(dose, 3)
    assert doses == [{"morphine": 1.5, "clonidine": 0.1}, {"clonidine": 0.2}, {"morphine": 2.0}]
    assert [list(d) for d in doses] == [["morphine", "clonidine"], ["clonidine"], ["morphine"]]
    assert boluses == [{"morphine": 0.5}, {"clonidine": 0.05}, {}]
    assert _day_doses([], 2) == ([{}, {}], [{}, {}])
