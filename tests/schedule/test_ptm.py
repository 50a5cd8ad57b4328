"""The PTM's daily maximum: ``max_boluses_per_day`` is what the pump's gate really grants."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.models import PtmSettings
from pumpsim.schedule.ptm import PtmGate, max_boluses_per_day, ptm_max_ml_per_day

ORIGIN = dt.datetime(2026, 3, 2, 0, 0)


def test_a_3_hour_lockout_allows_8_boluses_a_day_not_the_cap_of_12() -> None:
    """The issue's example: bolus 0.02 mL, lockout 3 h, at most 12 a day → 8 a day, 0.16 mL."""
    ptm = PtmSettings(
        bolus_volume_ml=0.02, duration_days=10 / 1440, lockout_days=3 / 24, max_per_day=12
    )
    assert max_boluses_per_day(ptm) == 8
    assert ptm_max_ml_per_day(ptm) == pytest.approx(0.16, abs=1e-12)


@pytest.mark.parametrize(
    ("lockout_h", "duration_min", "cap", "expected"),
    [
        (5, 10, 12, 5),  # 00:00, 05:00, 10:00, 15:00, 20:00
        (4, 10, 3, 3),  # the cap binds
        (0, 30, 100, 48),  # back-to-back 30-minute boluses
        (0, 10, 0, 0),  # disabled
    ],
)
def test_the_spacing_or_the_cap_binds(
    lockout_h: float, duration_min: float, cap: int, expected: int
) -> None:
    ptm = PtmSettings(
        bolus_volume_ml=0.1,
        duration_days=duration_min / 1440,
        lockout_days=lockout_h / 24,
        max_per_day=min(cap, 48),
    )
    assert max_boluses_per_day(ptm) == min(expected, 48)
    assert max_boluses_per_day(None) == 0 and ptm_max_ml_per_day(None) == 0.0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    lockout_min=st.integers(0, 600),
    duration_min=st.integers(1, 120),
    cap=st.integers(1, 48),
    day_definition=st.sampled_from(["rolling", "clock"]),
)
def test_pressing_every_minute_gets_exactly_the_maximum_in_a_day(
    lockout_min: int, duration_min: int, cap: int, day_definition: str
) -> None:
    """A patient pressing every minute for three days: the most grants the gate gives in one
    day (24 h before a press, or a calendar day) is ``max_boluses_per_day``."""
    ptm = PtmSettings(
        bolus_volume_ml=0.01,
        duration_days=duration_min / 1440,
        lockout_days=lockout_min / 1440,
        max_per_day=cap,
        day_definition=day_definition,  # type: ignore[arg-type]
    )
    gate = PtmGate(ptm, ORIGIN)
    grants: list[int] = []  # minutes
    running_until = -math.inf
    for minute in range(3 * 1440):
        t = minute / 1440
        if gate.decide(t, bolus_running_until=running_until) == "granted":
            grants.append(minute)
            running_until = t + ptm.duration_days
    if day_definition == "clock":
        most = max(sum(1 for g in grants if g // 1440 == d) for d in range(3))
    else:
        most = max(sum(1 for g in grants if end - 1440 < g <= end) for end in grants)
    assert most == max_boluses_per_day(ptm)
