"""The compiled kernels (schedule._kernels) on hand-made cases: PtmGate's rules at their edges
(lockout, the daily cap at the pump clock's midnight, a bolus still running, the reservoir
empty), exact crossings inside a bolus, press placement equal to a global sort of keys, the
sorting network of a day's presses, and placing, gating and crossing in one pass equal to the
three steps."""

from __future__ import annotations

import datetime as dt
import inspect
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.core.clock import EPS_DAYS, MINUTES_PER_DAY
from pumpsim.ensemble.kernels import (
    DECISIONS,
    NO_PRESS,
    delivered_crossing,
    drawn_crossings,
    gate_presses,
    grant_presses,
)
from pumpsim.models import DemandWindow, FlexStep, Program, PtmDemand, PtmSettings
from pumpsim.schedule import _kernels
from pumpsim.schedule.presses import day_grid, draw_presses, profile_knots, random_press_times
from pumpsim.schedule.ptm import PtmGate
from pumpsim.schedule.segments import CumulativeSchedule

MINUTE = 1 / MINUTES_PER_DAY


def test_kernel_constants_are_the_clock_s() -> None:
    assert _kernels._EPS_DAYS == EPS_DAYS
    assert _kernels._MINUTES_PER_DAY == MINUTES_PER_DAY


def _gate(
    presses: list[float],
    settings: PtmSettings,
    origin: dt.datetime,
    *,
    volume_ml: float = 100.0,
    rate: float = 0.5,
) -> tuple[list[str], list[float]]:
    schedule = CumulativeSchedule.for_program(
        Program.simple(rate), origin=origin, start_day=0.0, end_day=30.0, program_start_day=0.0
    )
    decisions, grants = gate_presses(
        np.array([presses]),
        settings,
        base_minute=origin.hour * 60 + origin.minute,
        schedule=schedule,
        volume_ml=volume_ml,
        empty_threshold_ml=0.0,
    )
    names = [DECISIONS[c] for c in decisions[0] if c != NO_PRESS]
    return names, [float(g) for g in grants[0] if math.isfinite(g)]


def _ptmgate(presses: list[float], settings: PtmSettings, origin: dt.datetime) -> list[str]:
    gate, last, out = PtmGate(settings, origin), -math.inf, []
    for t in presses:
        decision = gate.decide(t, bolus_running_until=last + settings.duration_days)
        if decision == "granted":
            last = t
        out.append(decision)
    return out


ORIGIN = dt.datetime(2026, 3, 2, 8, 0)


def test_lockout_ends_at_last_grant_plus_lockout_within_eps() -> None:
    """2 h lockout from a grant at day 1: 2e-9 days early is locked out, 0.5e-9 early is the
    same instant (granted)."""
    s = PtmSettings(
        bolus_volume_ml=0.02, duration_days=10 * MINUTE, lockout_days=2 / 24, max_per_day=10
    )
    presses = [1.0, 1.0 + 1 / 12 - 2e-9, 1.0 + 1 / 12 - 0.5e-9, 1.1]
    names, grants = _gate(presses, s, ORIGIN)
    assert names == ["granted", "lockout", "granted", "lockout"]
    assert grants == [1.0, 1.0 + 1 / 12 - 0.5e-9]
    assert names == _ptmgate(presses, s, ORIGIN)


def test_bolus_still_running_denies_a_press_the_lockout_would_allow() -> None:
    """A 1 h bolus with a 15 min lockout: a press 30 min after the grant finds the bolus
    running, one at the bolus end is granted."""
    s = PtmSettings(
        bolus_volume_ml=0.1, duration_days=1 / 24, lockout_days=15 * MINUTE, max_per_day=10
    )
    presses = [0.5, 0.5 + 30 * MINUTE, 0.5 + 1 / 24]
    names, grants = _gate(presses, s, ORIGIN)
    assert names == ["granted", "bolus_running", "granted"]
    assert grants == [0.5, 0.5 + 1 / 24]
    assert names == _ptmgate(presses, s, ORIGIN)


@pytest.mark.parametrize(
    ("day_definition", "expected"),
    [
        ("clock", ["granted", "granted", "daily_cap", "granted", "granted"]),
        ("rolling", ["granted", "granted", "daily_cap", "daily_cap", "daily_cap"]),
    ],
)
def test_daily_cap_resets_at_the_pump_clock_midnight(
    day_definition: str, expected: list[str]
) -> None:
    """Origin 22:30, at most 2 a day, no lockout: presses at 23:00, 23:20, 23:40, at the
    midnight (day 90 min) and at 00:10. The clock day starts again at midnight (two more
    grants); the rolling day
    still holds the two grants of the last 24 h."""
    origin = dt.datetime(2026, 3, 2, 22, 30)
    s = PtmSettings(
        bolus_volume_ml=0.02,
        duration_days=5 * MINUTE,
        lockout_days=0.0,
        max_per_day=2,
        day_definition=day_definition,  # type: ignore[arg-type]
    )
    presses = [30 * MINUTE, 50 * MINUTE, 70 * MINUTE, 90 * MINUTE, 100 * MINUTE]
    names, _ = _gate(presses, s, origin)
    assert names == expected
    assert names == _ptmgate(presses, s, origin)


def test_reservoir_empty_denies_every_later_press_and_the_crossing_is_exact() -> None:
    """2 mL at 1 mL/day, boluses of 0.5 mL over 10 min: grants at 0.2 and 1.0 (1.5 mL
    delivered); at 1.2 the program plus both boluses reach 2 mL, so that press and every later
    one is reservoir_empty. The empty time solves t + 0.5 + 0.5 * (t - 1) / dur = 2 exactly."""
    dur = 10 * MINUTE
    s = PtmSettings(bolus_volume_ml=0.5, duration_days=dur, lockout_days=0.0, max_per_day=10)
    presses = [0.2, 1.0, 1.2, 1.6]
    names, grants = _gate(presses, s, ORIGIN, volume_ml=2.0, rate=1.0)
    assert names == ["granted", "granted", "reservoir_empty", "reservoir_empty"]
    assert grants == [0.2, 1.0]
    schedule = CumulativeSchedule.for_program(
        Program.simple(1.0), origin=ORIGIN, start_day=0.0, end_day=3.0, program_start_day=0.0
    )
    t = delivered_crossing(np.array([2.0]), np.array([grants]), schedule, 0.5, dur)
    assert t[0] == pytest.approx((1.5 + 0.5 / dur) / (1 + 0.5 / dur), abs=1e-12)


def test_crossing_inside_a_bolus_that_spans_a_program_step() -> None:
    """1 mL/day until 12:00, then 3 mL/day; a 0.24 mL bolus over 2 h from 11:00 (2.88 mL/day).
    The delivered volume at 12:30 is 0.5 + 3/48 + 2.88 * 1.5/24 = 0.7425 mL: solving for it
    walks across the 12:00 step inside the bolus."""
    program = Program(
        mode="flex",
        steps=(
            FlexStep(start_minute=0, rate_ml_per_day=1.0),
            FlexStep(start_minute=720, rate_ml_per_day=3.0),
        ),
    )
    origin = dt.datetime(2026, 3, 2, 0, 0)
    schedule = CumulativeSchedule.for_program(
        program, origin=origin, start_day=0.0, end_day=2.0, program_start_day=0.0
    )
    grants = np.array([[11 / 24, np.inf], [np.inf, np.inf]])
    t = delivered_crossing(np.array([0.7425, 0.7425]), grants, schedule, 0.24, 1 / 12)
    assert t[0] == pytest.approx(12.5 / 24, abs=1e-12)
    # without the bolus, the program alone: 0.5 + 3 * (t - 0.5) = 0.7425
    assert t[1] == pytest.approx(0.5 + 0.2425 / 3, abs=1e-12)


# ---------------------------------------------------------------- press placement
def _global_sort_reference(
    demand: PtmDemand,
    origin: dt.datetime,
    horizon: float,
    rng: np.random.Generator,
    n: int,
    rate_shape: float | None,
) -> np.ndarray:
    """The former NumPy placement: the same draws, every key ``group + u`` sorted at once."""
    assert demand.presses_per_day is not None
    starts, lo, hi = day_grid(origin, horizon)
    fracs, cdf, inv_f, inv_c = profile_knots(demand)
    c_lo, c_hi = np.interp(lo, fracs, cdf), np.interp(hi, fracs, cdf)
    mass = c_hi - c_lo
    mean = np.broadcast_to(demand.presses_per_day * mass, (n, starts.size))
    if rate_shape is not None:
        mean = mean * rng.gamma(rate_shape, 1.0 / rate_shape, n)[:, None]
    if demand.daily_cv > 0:
        shape = 1.0 / demand.daily_cv**2
        mean = mean * rng.gamma(shape, 1.0 / shape, (n, starts.size))
    counts = rng.poisson(mean)
    per_row = counts.sum(axis=1)
    out = np.full((n, int(per_row.max())), np.inf)
    group = np.repeat(np.arange(counts.size), counts.ravel())
    key = np.sort(group + rng.random(int(per_row.sum())))
    shift = np.repeat(np.arange(n) * starts.size, per_row)
    rel = key - shift
    if not (inv_c.size == 2 and inv_f[0] == 0.0 and inv_f[1] == 1.0):
        day = (group - shift).astype(float)
        rel = day + np.interp(rel - day, inv_c, inv_f)
    for k in np.flatnonzero((lo > 0) | (hi < 1)):
        sel = np.flatnonzero((group - shift) == k)
        u = np.clip(key[sel] - group[sel], 0.0, 1.0)
        rel[sel] = k + np.interp(c_lo[k] + u * mass[k], inv_c, inv_f)
    out[np.arange(out.shape[1]) < per_row[:, None]] = starts[0] + rel
    return out


PROFILE = (
    DemandWindow(start_minute=0, weight=0.3),
    DemandWindow(start_minute=420, weight=1.0),
    DemandWindow(start_minute=900, weight=1.5),
    DemandWindow(start_minute=1320, weight=0.5),
)


@pytest.mark.parametrize(
    ("demand", "origin", "horizon", "rate_shape"),
    [
        (PtmDemand(presses_per_day=3, profile=PROFILE, daily_cv=0.3), ORIGIN, 40.25, None),
        (PtmDemand(presses_per_day=12), dt.datetime(2026, 3, 7, 23, 37), 9.5, None),
        (PtmDemand(presses_per_day=40, profile=PROFILE), dt.datetime(2026, 3, 1, 0, 0), 6.0, 2.0),
    ],
)
def test_placement_equals_a_global_sort_of_every_key(
    demand: PtmDemand, origin: dt.datetime, horizon: float, rate_shape: float | None
) -> None:
    """Day-by-day placement gives bit for bit the times of the former global sort, each row
    sorted inside [0, horizon)."""
    got = random_press_times(demand, origin, horizon, np.random.default_rng(5), 300, rate_shape)
    ref = _global_sort_reference(demand, origin, horizon, np.random.default_rng(5), 300, rate_shape)
    assert np.array_equal(got, ref)
    finite = got[np.isfinite(got)]
    assert finite.min() >= 0.0 and finite.max() < horizon
    assert np.all(np.diff(np.where(np.isfinite(got), got, 1e9), axis=1) >= 0)


# ---------------------------------------------------------------- sorting a day's presses
NETWORKS = {
    4: _kernels.batcher_pairs(4),
    8: _kernels.batcher_pairs(8),
    12: [(i, j) for i, j in _kernels.batcher_pairs(16) if j < 12],
    16: _kernels.batcher_pairs(16),
}
"""Each unrolled network's compare-exchanges: Batcher's odd-even merge sort of 4, 8 and 16,
and the 16-network without the exchanges that reach past index 11."""


@pytest.mark.parametrize("n", sorted(NETWORKS))
def test_each_network_is_batchers_and_sorts_every_zero_one_input(n: int) -> None:
    """The unrolled ``sortN`` is its network of ``NETWORKS`` (the compare-exchanges of its
    source, in order), and it sorts all 2**n inputs of zeros and ones, so by the 0-1 principle
    it sorts every input."""
    source = inspect.getsource(getattr(_kernels, f"sort{n}").py_func)
    pairs = [
        (int(i), int(j))
        for i, j, i2, j2, i3, j3 in re.findall(
            r"a(\d+), a(\d+) = min\(a(\d+), a(\d+)\), max\(a(\d+), a(\d+)\)", source
        )
        if (i, j) == (i2, j2) == (i3, j3)
    ]
    assert pairs == NETWORKS[n]
    assert len(pairs) == {4: 5, 8: 19, 12: 42, 16: 63}[n]
    network = getattr(_kernels, f"sort{n}")
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    for row in bits.astype(float):
        v = row.copy()
        network(v)
        assert np.array_equal(v, np.sort(row))


@pytest.mark.parametrize(
    "c", [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16, 17, 24, 31, 32, 33, 40, 64]
)
def test_sort_day_sorts_every_size_with_ties(c: int) -> None:
    """Up to 16 (the smallest network that holds the day, on the ``inf`` padding it writes), up
    to 32 (two 16-networks and a merge) and beyond (insertion): the day's times come out as
    ``np.sort`` gives them, ties included, whatever the buffer held after the day."""
    rng = np.random.default_rng(c)
    for values in (rng.random(c), rng.integers(0, 4, c).astype(float)):
        v = np.full(max(c, 16), np.nan)
        v[:c] = values
        _kernels.sort_day(v, c, np.full(34, np.nan))
        assert np.array_equal(v[:c], np.sort(values))


# ---------------------------------------------------------------- placing, gating, crossing at once
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    presses_per_day=st.sampled_from([0.5, 3.0, 12.0, 30.0]),
    lockout_minutes=st.sampled_from([0, 10, 60, 180]),
    cap=st.integers(0, 12),
    rolling=st.booleans(),
    volume_ml=st.sampled_from([0.3, 2.0, 5.5, 40.0]),
    minute=st.integers(0, 1439),
)
def test_one_pass_equals_placing_gating_then_crossing(
    seed: int,
    presses_per_day: float,
    lockout_minutes: int,
    cap: int,
    rolling: bool,
    volume_ml: float,
    minute: int,
) -> None:
    """``drawn_crossings`` (one pass, row by row, the days after an empty press not placed)
    gives bit for bit the crossings, presses and grants per row of ``grant_presses`` on the
    placed times then ``delivered_crossing``, for shaped and flat days, clock and rolling caps,
    no bolus allowed, and reservoirs that empty early, late or not inside the window."""
    origin = dt.datetime(2026, 3, 2) + dt.timedelta(minutes=minute)
    profile = PROFILE if seed % 2 else ()
    demand = PtmDemand(presses_per_day=presses_per_day, profile=profile, daily_cv=0.3)
    s = PtmSettings(
        bolus_volume_ml=0.05,
        duration_days=10 * MINUTE,
        lockout_days=lockout_minutes * MINUTE,
        max_per_day=cap,
        day_definition="rolling" if rolling else "clock",
    )
    schedule = CumulativeSchedule.for_program(
        Program.simple(0.4), origin=origin, start_day=0.0, end_day=12.0, program_start_day=0.0
    )
    rng = np.random.default_rng(seed)
    drawn = draw_presses(demand, origin, 11.75, rng, 64)
    targets = np.column_stack(
        [np.full(64, max(volume_ml - 0.1, 0.0)), rng.uniform(0.0, 8.0, (64, 3))]
    )
    gate = {
        "base_minute": float(minute),
        "schedule": schedule,
        "volume_ml": volume_ml,
        "empty_threshold_ml": 0.1,
    }
    days, n_presses, n_granted = drawn_crossings(targets, drawn, s, **gate)  # type: ignore[arg-type]
    grants, presses_apart, granted_apart = grant_presses(drawn.times(), s, **gate)  # type: ignore[arg-type]
    apart = delivered_crossing(targets, grants, schedule, 0.05, 10 * MINUTE, granted_apart)
    assert np.array_equal(days, apart)
    assert np.array_equal(n_presses, presses_apart) and np.array_equal(n_granted, granted_apart)
    assert np.array_equal(n_presses, drawn.per_row)
