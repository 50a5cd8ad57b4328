"""The programming-session teaching pair: the session's numbers, and the under-dose that the
bridge bolus prevents, asserted from the runs."""

from __future__ import annotations

import pytest

from pumpsim.teaching.scenarios import run_scenario


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
