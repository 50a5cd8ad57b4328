"""The refill verdict in the teaching scenarios: questions ``refill_verdict(i)`` and
``refill_cause(i)``, the report's refill table and the narrative.

pocket-fill: at the next refill (04-11 09:00, 10 days of 0.5 mL/day after the pocket fill) the
pump believes 20 - 5 = 15 mL, plus the 1.4 mL left uncounted, minus the 1.4 mL residual: 15 mL
expected; nothing comes out → -15 mL, investigate.
occlusion-discrepancy: 6 days occluded at 0.5 mL/day → +3 mL, investigate."""

from __future__ import annotations

import pytest

from pumpsim.report.html import render_html
from pumpsim.report.narrative import narrative
from pumpsim.teaching.questions import TraceQueries, evaluate
from pumpsim.teaching.scenarios import ScenarioResult, run_scenario


def answer(result: ScenarioResult, expression: str) -> object:
    therapy = result.scenario.profile.therapy
    return evaluate(expression, TraceQueries(result.trace, therapy, result.costs))


def test_pocket_fill_scenario_asks_for_the_verdict_and_its_cause() -> None:
    r = run_scenario("pocket-fill")
    assert answer(r, "refill_verdict(0)") == "ok"
    assert answer(r, "refill_cause(0)") == "none"
    assert answer(r, "refill_calculated(1)") == pytest.approx(15.0, abs=1e-9)
    assert answer(r, "refill_expected(1) - refill_withdrawn(1)") == pytest.approx(15.0, abs=1e-9)
    assert answer(r, "refill_verdict(1)") == "investigate"
    assert answer(r, "refill_cause(1)") == "suspected pocket fill"
    assert answer(r, "refill_verdict(2)") is None
    asked = [q.answer for q in r.scenario.questions]
    assert "refill_verdict(1)" in asked and "refill_cause(1)" in asked
    page = render_html(r)
    assert "<th>verdict</th>" in page and "suspected pocket fill" in page
    assert any("Verdict: INVESTIGATE (suspected pocket fill)" in line for line in narrative(r))


def test_occlusion_scenario_asks_for_the_verdict_and_its_cause() -> None:
    r = run_scenario("occlusion-discrepancy")
    assert answer(r, "refill_verdict(0)") == "investigate"
    assert answer(r, "refill_cause(0)") == "under-infusion or occlusion"
    asked = [q.answer for q in r.scenario.questions]
    assert "refill_verdict(0)" in asked and "refill_cause(0)" in asked
    assert "under-infusion or occlusion" in render_html(r)
