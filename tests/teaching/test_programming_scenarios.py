"""The programming-session teaching pair: the session's numbers, and the under-dose that the
bridge bolus prevents, asserted from the runs."""

from __future__ import annotations

import pytest

import pumpsim.forecast.programming as programming
from pumpsim.core.yamlio import read_yaml
from pumpsim.forecast.programming import parse_change, programming_session
from pumpsim.teaching.scenarios import (
    _profile,
    _ScenarioFile,
    list_scenarios,
    run_scenario,
)


def _answers(name: str) -> dict[str, object]:
    result = run_scenario(name)
    return {a.expression: a.value for a in result.answers}


def test_the_session_done_right_keeps_the_dose() -> None:
    a = _answers("programming-session")
    assert a["session_rate_ml_per_day()"] == pytest.approx(0.25, abs=1e-9)
    assert a["session_bridge_ml()"] == pytest.approx(0.45, abs=1e-9)
    assert a["session_bridge_hours()"] == pytest.approx(21.6, abs=1e-9)
    assert a["days_below('morphine', 5)"] == 0


def test_the_same_change_without_the_bridge_underdoses() -> None:
    a = _answers("programming-session-no-bridge")
    assert a["session_bridge_ml()"] == pytest.approx(0.45, abs=1e-9)
    assert a["days_below('morphine', 5)"] == 2
    day_after = a["dose_on_day('2026-04-02', 'morphine')"]
    assert isinstance(day_after, float) and day_after == pytest.approx(2.5, abs=1e-6)
    # 0.45 mL of 10 mg/mL reaches the tip where 20 mg/mL was meant: 4.5 mg short, plus the
    # dilution of the new fill by the old residual
    deficit = a["dose_deficit_mg('morphine', 5)"]
    assert isinstance(deficit, float) and deficit > 4.5


def test_loading_scenarios_forecasts_nothing_and_works_out_the_session_as_program_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scenario's session is ``work_out_change`` alone: listing the scenarios runs no forecast
    (it used to run two of 500 runs per session), and the change is the one ``pumpsim program``
    works out, entry for entry."""

    def no_forecast(*args: object, **kwargs: object) -> None:
        raise AssertionError("a scenario was forecast while loading")

    with monkeypatch.context() as m:
        m.setattr(programming, "forecast", no_forecast)
        sessions = {s.name: s for s in list_scenarios() if s.session is not None}
    assert sorted(sessions) == ["programming-session", "programming-session-no-bridge"]
    scenario = sessions["programming-session"]
    worked = scenario.session
    assert worked is not None
    meta = _ScenarioFile.model_validate(read_yaml(scenario.path))
    assert meta.session is not None
    base = _profile(meta, scenario.path)
    change = parse_change(meta.session, base.therapy, str(scenario.path))
    session = programming_session(base.therapy, change, timeline=base.timeline, runs=50)
    assert session.entries == worked.entries
    assert session.bolus == worked.bolus
    assert session.new.program == worked.program
    assert session.new.daily_volume_ml == pytest.approx(0.25, abs=1e-9)
