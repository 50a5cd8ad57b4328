"""The deterministic dates with the curve cache: the same dates as built afresh, fewer builds,
and a cache that never hands one curve to another program, clock zone or window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

import pumpsim.schedule.segments as segments
from pumpsim.forecast.deterministic import deterministic
from pumpsim.forecast.probabilistic import forecast
from pumpsim.io.roster import load_roster
from pumpsim.models import Program, Therapy
from pumpsim.schedule.segments import CumulativeSchedule

ROSTER = Path(__file__).resolve().parents[2] / "profiles" / "rosters" / "clinic-1000.csv"


@pytest.fixture(scope="module")
def therapies() -> list[Therapy]:
    return [entry.therapy for entry in load_roster(ROSTER).entries[:40]]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the program-segment builds (each is one curve built from the program)."""
    calls = [0]
    real = segments.program_segments

    def counting(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(segments, "program_segments", counting)
    cache = segments._cached_schedule
    cache.cache_clear()
    yield calls
    cache.cache_clear()


def test_cached_dates_are_the_dates_built_afresh(
    therapies: list[Therapy], counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = [(deterministic(t), forecast(t, runs=50, keep_samples=False)) for t in therapies]
    with_cache = counted[0]
    counted[0] = 0
    monkeypatch.setattr(segments, "_cached_schedule", segments._cached_schedule.__wrapped__)
    fresh = [(deterministic(t), forecast(t, runs=50, keep_samples=False)) for t in therapies]
    for (det, fc), (det_fresh, fc_fresh) in zip(cached, fresh, strict=True):
        assert det == det_fresh  # every date to the microsecond
        assert fc.to_json_dict() == fc_fresh.to_json_dict()
    # a forecast's probabilistic plan and its deterministic trajectories share their curves
    assert 3 * with_cache < 2 * counted[0]


def test_a_cached_curve_is_read_only_and_shared(therapies: list[Therapy]) -> None:
    first = CumulativeSchedule.for_therapy(therapies[0], 60.0)
    again = CumulativeSchedule.for_therapy(therapies[0], 60)
    assert again is first
    with pytest.raises(ValueError, match="read-only"):
        first.volumes[0] = 1.0


def test_the_cache_key_tells_programs_windows_and_zones_apart(therapies: list[Therapy]) -> None:
    base = next(t for t in therapies if t.program.mode == "simple")
    rate = base.program.rate_ml_per_day
    assert rate is not None
    faster = base.model_copy(update={"program": Program.simple(2 * rate)})
    a = CumulativeSchedule.for_therapy(base, 30.0)
    b = CumulativeSchedule.for_therapy(faster, 30.0)
    assert b.volumes[-1] == pytest.approx(2 * a.volumes[-1], rel=1e-12)
    assert CumulativeSchedule.for_therapy(base, 31.0).end_day == 31.0
    assert CumulativeSchedule.for_therapy(base, 30.0, extra_ml_per_day=0.5).volumes[-1] == (
        pytest.approx(a.volumes[-1] + 15.0, rel=1e-12)
    )
    # the same instant on another wall clock is another curve (flex steps follow the clock)
    utc = base.state.time.replace(tzinfo=dt.UTC)
    plus_two = utc.astimezone(dt.timezone(dt.timedelta(hours=2)))
    key_utc = segments._CurveKey(base.program, utc, 30.0, 0.0, None)
    key_plus_two = segments._CurveKey(base.program, plus_two, 30.0, 0.0, None)
    assert utc == plus_two and key_utc != key_plus_two
