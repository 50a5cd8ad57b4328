"""Every teaching scenario runs, and each one's teaching point holds as a number.

Expected values are derived by hand from the scenario inputs (rates, volumes, delivery factor,
catalog values), not copied from a run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pixel_std
from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.core.errors import ProfileError
from pumpsim.teaching.questions import ExpressionError, TraceQueries, check_expression, evaluate
from pumpsim.teaching.scenarios import (
    ScenarioResult,
    list_scenarios,
    load_scenario,
    run_scenario,
    scenario_dir,
)

TOL = 1e-9
NAMES = sorted(p.stem for p in scenario_dir().glob("*.yaml"))
_CACHE: dict[str, ScenarioResult] = {}


def run(name: str) -> ScenarioResult:
    if name not in _CACHE:
        _CACHE[name] = run_scenario(name)
    return _CACHE[name]


def answer(result: ScenarioResult, expression: str) -> object:
    sc = result.scenario
    return evaluate(expression, TraceQueries(result.trace, sc.profile.therapy, result.costs))


def test_at_least_eleven_scenarios_ship() -> None:
    assert len(NAMES) >= 11
    assert [s.name for s in list_scenarios()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_runs_and_answers_every_question(name: str) -> None:
    result = run(name)
    sc = result.scenario
    assert sc.title and sc.objectives and sc.source
    assert len(result.answers) == len(sc.questions) >= 3
    for a in result.answers:
        assert a.value is not None, f"{name}: {a.ask} did not happen"
        assert a.text and "did not happen" not in a.text
    b = result.trace.balance
    assert b is not None
    accounted = (
        b.delivered_ml
        + b.reservoir_ml
        + b.dead_volume_ml
        + b.withdrawn_ml
        + b.leaked_ml
        + b.pocket_ml
        + b.flushed_ml
    )
    assert accounted == pytest.approx(b.put_in_ml, abs=1e-6)


def test_missed_refill_alarm_order_and_therapy_gap() -> None:
    r = run("missed-refill")
    lra = answer(r, "first_alarm_day('low_reservoir')")
    empty = answer(r, "first_alarm_day('empty_reservoir')")
    dry = answer(r, "day_of('actual_dry')")
    assert lra == pytest.approx((20 - 2) / 0.5, abs=TOL)  # 36 days
    assert empty == pytest.approx(20 / 0.5, abs=TOL)  # 40 days
    assert dry == pytest.approx(20 / (0.5 * 1.01), abs=1e-6)  # delivers 1 % more
    assert lra < dry < empty
    refill_day = 45.0
    assert answer(r, "no_therapy_hours()") == pytest.approx((refill_day - dry) * 24, abs=1e-6)


def test_bridge_bolus_removes_the_under_dose_days() -> None:
    without, with_bridge = run("concentration-change-no-bridge"), run("concentration-change-bridge")
    under_without = answer(without, "days_below('morphine', 5)")
    under_with = answer(with_bridge, "days_below('morphine', 5)")
    assert isinstance(under_without, int) and under_without > 0
    assert under_with == 0
    # first full day after the refill: old 10 mg/mL fluid at the new 0.2 mL/day
    assert answer(without, "dose_on_day('2026-04-02', 'morphine')") == pytest.approx(2.0, abs=TOL)
    # the bridge runs the old 0.5 mL/day until the 0.45 mL dead volume is out: 0.9 days
    hours = answer(with_bridge, "(day_of('bridge_bolus_end') - day_of('bridge_bolus_start'))*24")
    assert hours == pytest.approx(0.45 / 0.5 * 24, abs=1e-6)
    deficit_without = answer(without, "dose_deficit_mg('morphine', 5)")
    deficit_with = answer(with_bridge, "dose_deficit_mg('morphine', 5)")
    assert isinstance(deficit_without, float) and isinstance(deficit_with, float)
    assert deficit_without > deficit_with + 5
    # the non-retrievable 1.4 mL of 10 mg/mL dilutes the 20 mL of 25 mg/mL in both runs
    late = 0.2 * (1.4 * 10 + 20 * 25) / 21.4
    for r in (without, with_bridge):
        assert answer(r, "dose_on_day('2026-04-08', 'morphine')") == pytest.approx(late, rel=1e-9)


def test_ptm_overuse_denies_by_lockout_and_by_cap() -> None:
    r = run("ptm-overuse")
    lockout = answer(r, "ptm_denied_count('lockout')")
    cap = answer(r, "ptm_denied_count('daily_cap')")
    granted = answer(r, "ptm_granted_total()")
    denied = answer(r, "ptm_denied_total()")
    assert isinstance(lockout, int) and lockout > 0
    assert isinstance(cap, int) and cap > 0
    assert isinstance(granted, int) and isinstance(denied, int) and denied > granted
    assert max(d.ptm_granted for d in r.trace.daily) <= 4  # rolling 24 h cap of 4
    # grants are at least the 3 h lockout apart
    grants = [p.day for p in r.trace.ptm_presses if p.decision == "granted"]
    assert min(np.diff(grants)) >= 3 / 24 - 1e-9


def test_mri_stall_gap_is_scan_plus_restart_delay() -> None:
    r = run("mri-motor-stall")
    gap_h = 0.75 + 2.0  # 45 min scan + 2 h restart delay
    assert answer(r, "alarm_hours('motor_stall')") == pytest.approx(gap_h, abs=1e-6)
    assert answer(r, "no_therapy_hours()") == pytest.approx(gap_h, abs=1e-6)
    lost_mcg = 450 * gap_h / 24
    mri_day = answer(r, "dose_on_day('2026-01-22', 'baclofen') * 1000")
    assert mri_day == pytest.approx(450 - lost_mcg, abs=1e-6)


def test_occlusion_gives_a_positive_refill_discrepancy() -> None:
    r = run("occlusion-discrepancy")
    assert answer(r, "refill_discrepancy(0)") == pytest.approx(6 * 0.5, abs=1e-9)
    assert answer(r, "no_therapy_hours()") == pytest.approx(6 * 24, abs=1e-6)


def test_pocket_fill_puts_the_dose_in_the_pocket_and_the_pump_runs_dry() -> None:
    r = run("pocket-fill")
    assert answer(r, "balance_ml('pocket', 'morphine')") == pytest.approx(20 * 10, abs=1e-9)
    residual = 1.4  # SynchroMed II non-retrievable residual (catalog)
    assert answer(r, "day_of('actual_dry') - refill_day(0)") == pytest.approx(
        residual / 0.5, abs=1e-6
    )
    assert answer(r, "calculated_at(day_of('actual_dry'))") == pytest.approx(
        20 - 0.5 * residual / 0.5, abs=1e-6
    )


def test_rated_accuracy_edge_runs_dry_before_the_alarm() -> None:
    r = run("rated-accuracy-edge")
    dry = answer(r, "day_of('actual_dry')")
    lra = answer(r, "first_alarm_day('low_reservoir')")
    assert dry == pytest.approx(20 / (0.5 * 1.14), abs=1e-6)
    assert lra == pytest.approx(36.0, abs=TOL)
    assert isinstance(dry, float) and isinstance(lra, float) and dry < lra
    calc = answer(r, "calculated_at(day_of('actual_dry'))")
    assert calc == pytest.approx(20 - 0.5 * dry, abs=1e-6)
    assert isinstance(calc, float) and calc > 2.0  # the pump says there is time left


def test_battery_eri_window_and_therapy_gap_after_eos() -> None:
    r = run("battery-replacement")
    spec = r.scenario.profile.therapy.pump
    assert spec.battery is not None
    housekeeping, per_ml = spec.battery.drain_coefficients(spec.min_rate_ml_per_day)
    eri = 0.05 / (housekeeping + per_ml * 0.225)
    assert answer(r, "first_alarm_day('elective_replacement')") == pytest.approx(eri, abs=1e-6)
    eos = answer(r, "first_alarm_day('end_of_service')")
    assert eos == pytest.approx(eri + 90, abs=1e-6)
    refill = answer(r, "refill_day(0)")
    assert isinstance(refill, float) and isinstance(eos, float) and eri < refill < eos
    assert answer(r, "no_therapy_hours()") == pytest.approx((240 - eos) * 24, abs=1e-5)


def test_ziconotide_refills_are_set_by_stability_not_volume() -> None:
    r = run("ziconotide-titration")
    assert answer(r, "dose_on_day('2026-04-18', 'ziconotide') * 1000") == pytest.approx(9.6)
    assert answer(r, "refill_day(1) - refill_day(0)") == pytest.approx(40.0, abs=TOL)
    left = answer(r, "calculated_at(refill_day(1) - 0.001)")
    top_rate = 9.6 / 25  # mL/day
    assert left == pytest.approx(20 - top_rate * (40 - 0.001), abs=1e-6)
    assert isinstance(left, float) and left > 2.0  # volume was not the limit


def test_first_fill_priming_takes_minutes_instead_of_days() -> None:
    r = run("first-fill-priming")
    dead = 0.2 + 0.2  # catalog pump tubing + catheter
    priming_min = answer(r, "(day_of('priming_bolus_end') - day_of('priming_bolus_start'))*1440")
    assert priming_min == pytest.approx(dead / (24 - 0.096) * 1440, abs=1e-6)
    assert answer(r, "dead_volume_ml() / start_rate_ml_per_day()") == pytest.approx(dead / 0.096)
    assert answer(r, "dose_on_day(1, 'ziconotide') * 1000") == pytest.approx(2.4, abs=1e-9)
    assert answer(r, "refill_day(0)") == pytest.approx(14.0, abs=TOL)


def test_cost_curves_cross_and_refills_come_from_the_run() -> None:
    r = run("cost-curve")
    c = r.costs
    assert c is not None
    assert sum(c.refills_per_month) == len(r.trace.refills) == 8
    m = c.crossover_month
    assert m is not None and 1 < m <= 24
    assert c.it_cumulative[m - 1] <= c.cmm_cumulative[m - 1]
    assert c.it_cumulative[m - 2] > c.cmm_cumulative[m - 2]
    assert c.it_cumulative[0] > c.cmm_cumulative[0]  # high initial cost
    it_steps = np.diff(c.it_cumulative)
    cmm_steps = np.diff(c.cmm_cumulative)
    assert np.all(cmm_steps[1:] > cmm_steps[:-1])  # CMM monthly cost keeps rising
    assert float(np.mean(it_steps)) < float(np.mean(cmm_steps))  # low maintenance
    model = c.model
    month1_it = (
        model.implant
        + model.it_care_per_month
        + model.cmm_care_per_month
        + 20 * model.infusate_per_ml
        + model.it_systemic_fraction * model.cmm_drugs_first_month
    )
    assert c.it_cumulative[0] == pytest.approx(month1_it, abs=1e-9)


def test_same_seed_same_answers_and_seed_override() -> None:
    a = run_scenario("ptm-overuse")
    b = run_scenario("ptm-overuse")
    assert [x.value for x in a.answers] == [x.value for x in b.answers]
    c = run_scenario("ptm-overuse", seed=12345)
    assert c.seed == 12345
    assert [x.value for x in c.answers] != [x.value for x in a.answers]


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "().__class__",
        "(lambda: 1)()",
        "[1, 2][0]",
        "first_alarm_day(name='low_reservoir')",
        "open('/etc/passwd')",
        "days.real",
        "first_alarm_day()",
        "x + 1",
        "True + 1",
        "1 if 2 else 3",
    ],
)
def test_evaluator_rejects_anything_outside_the_grammar(expression: str) -> None:
    with pytest.raises(ExpressionError):
        check_expression(expression)


def test_evaluator_arithmetic_none_and_limits() -> None:
    r = run("missed-refill")
    assert answer(r, "round((first_alarm_day('low_reservoir') + 4) / 2, 1)") == 20.0
    assert answer(r, "days * 2") == 100.0
    assert answer(r, "first_alarm_day('motor_stall') + 1") is None
    assert answer(r, "refill_day(5)") is None
    with pytest.raises(ExpressionError):
        answer(r, "10 ** 100")
    with pytest.raises(ExpressionError):
        answer(r, "1 / 0")
    with pytest.raises(ExpressionError):
        answer(r, "cost_crossover_month()")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(text)
    return path


_MINIMAL = """
title: t
summary: s
objectives: [o]
source: src
days: "10 day"
profile_ref: patients/morphine-cancer-pain.yaml
questions:
  - {ask: q, answer: "%s"}
"""


def test_bad_scenario_file_names_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, _MINIMAL % "first_alarm_day('low_reservoir').__class__")
    with pytest.raises(ProfileError) as info:
        load_scenario(path)
    assert [p.field for p in info.value.problems] == ["questions[0].answer"]
    path = _write(
        tmp_path,
        (_MINIMAL % "no_therapy_hours()").replace(
            "profile_ref:", "profile: {pump: no-such-pump}\nprofile_ref:"
        ),
    )
    with pytest.raises(ProfileError) as info:
        load_scenario(path)
    assert [p.field for p in info.value.problems] == ["profile.pump.model"]
    path = _write(tmp_path, (_MINIMAL % "no_therapy_hours()").replace('"10 day"', '"10 mL"'))
    with pytest.raises(ProfileError) as info:
        load_scenario(path)
    assert info.value.problems[0].field == "days"


def test_cli_list_show_run_json_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["scenario", "list"])
    assert out.exit_code == 0 and "missed-refill" in out.output
    out = runner.invoke(app, ["scenario", "show", "pocket-fill"])
    assert out.exit_code == 0 and "Objectives" in out.output
    out = runner.invoke(app, ["scenario", "run", "occlusion-discrepancy", "--json"])
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert data["answers"][2]["value"] == pytest.approx(3.0, abs=1e-9)
    png, svg = tmp_path / "p.png", tmp_path / "p.svg"
    out = runner.invoke(app, ["scenario", "run", "missed-refill", "--plot", str(png)])
    assert out.exit_code == 0, out.output
    assert pixel_std(png.read_bytes()) > 0.05
    out = runner.invoke(app, ["scenario", "run", "cost-curve", "--plot", str(svg)])
    assert out.exit_code == 0 and svg.read_text().lstrip().startswith("<?xml")
    out = runner.invoke(app, ["scenario", "run", "no-such-case"])
    assert out.exit_code == 2 and "missed-refill" in out.output
    out = runner.invoke(
        app, ["scenario", "run", "missed-refill", "--plot", str(tmp_path / "a.pdf")]
    )
    assert out.exit_code == 2
