"""Refill sheets judged and calibrated (``pumpsim.forecast.visit``).

The worked example: 0.5 mL/day, refilled to 20 mL every 30 days on a pump with no
non-retrievable residual; 3.5 mL comes out each time where 20 - 15 = 5.0 mL were expected. The
pump delivered 16.5 mL where 15 mL were programmed: factor 1.1 per visit. With the prior
N(1, (0.145/√3)²) and per-visit variance (0.2/15)² + 0.01², three visits give the posterior
mean (1/σ₀² + 3 × 1.1/v) / (1/σ₀² + 3/v) = 1.0987."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from pumpsim.core.errors import SimulationError
from pumpsim.forecast import forecast
from pumpsim.forecast.visit import calibrate_from_sheet, read_sheet_calibration, roster_calibration
from pumpsim.io.profiles import load_therapy
from pumpsim.io.refill_sheet import read_refill_sheet
from pumpsim.io.roster import load_roster

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "patients" / "morphine-refill-history.yaml"
SHEET = ROOT / "profiles" / "refills" / "morphine-over-infusion.csv"


def expected_mean() -> float:
    prior = 1 / (0.145 / math.sqrt(3)) ** 2
    v = (0.2 / 15) ** 2 + 0.01**2
    return (prior + 3 * 1.1 / v) / (prior + 3 / v)


def test_each_visit_is_judged_and_the_factor_is_calibrated() -> None:
    therapy = load_therapy(PROFILE)
    result = read_sheet_calibration(therapy, SHEET)
    assert [(v.expected_withdrawable_ml, v.discrepancy_ml) for v in result.visits] == [
        (pytest.approx(5.0), pytest.approx(-1.5))
    ] * 3
    assert {(v.verdict.level, v.verdict.cause) for v in result.visits} == {
        ("review", "over-infusion")
    }
    assert result.used == 3
    assert expected_mean() == pytest.approx(1.0987, abs=1e-4)
    assert result.estimate.mean == pytest.approx(expected_mean(), abs=1e-9)
    lo, hi = result.interval()
    assert lo < 1.0987 < hi and hi - lo < 0.04
    data = result.to_json_dict()
    assert data["delivery_factor_visits"] == 3
    assert data["refill_visits"][0]["verdict"] == "review"


def test_the_calibrated_forecast_runs_dry_earlier() -> None:
    """20 mL at 0.5 × 1.0987 mL/day: dry after 36.4 days, not 40 (the median too). The 1 %
    refill-by date may be later than uncalibrated: the calibration narrows the factor's spread
    from the rated ±14.5 %, so its tail is shorter."""
    therapy = load_therapy(PROFILE)
    estimate = read_sheet_calibration(therapy, SHEET).estimate
    plain = forecast(therapy, runs=2000, seed=1)
    calibrated = forecast(therapy, runs=2000, seed=1, delivery_factor=estimate)
    assert calibrated.delivery_factor_mean == pytest.approx(expected_mean(), abs=0.002)
    assert calibrated.actual_dry.nominal is not None
    days = (calibrated.actual_dry.nominal - therapy.state.time).total_seconds() / 86400
    assert days == pytest.approx(20 / (0.5 * expected_mean()), abs=1 / 1440)
    assert calibrated.actual_dry.p50 is not None and plain.actual_dry.p50 is not None
    assert calibrated.actual_dry.p50 < plain.actual_dry.p50
    # uncalibrated, the nominal date assumes the programmed delivery: 40 days
    assert plain.actual_dry.nominal == therapy.state.time + dt.timedelta(days=40)


def test_an_investigated_visit_is_judged_but_not_calibrated(tmp_path: Path) -> None:
    """A visit with nothing withdrawn after a 20 mL fill: investigate, suspected pocket fill,
    left out of the factor (as is a censored zero withdrawal)."""
    sheet = tmp_path / "s.csv"
    sheet.write_text(SHEET.read_text().replace("2026-03-02T09:00,3.5 mL", "2026-03-02T09:00,0 mL"))
    result = calibrate_from_sheet(load_therapy(PROFILE), read_refill_sheet(sheet))
    levels = [(v.verdict.level, v.verdict.cause, v.calibrates) for v in result.visits]
    assert levels[1] == ("investigate", "suspected pocket fill", False)
    assert result.used == 2


def test_a_sheet_needs_two_visits_up_to_the_state(tmp_path: Path) -> None:
    sheet = tmp_path / "s.csv"
    sheet.write_text(
        "time,withdrawn,filled\n2026-04-01T09:00,3.5 mL,20 mL\n2026-05-01,1 mL,20 mL\n"
    )
    with pytest.raises(SimulationError):
        read_sheet_calibration(load_therapy(PROFILE), sheet)


def test_the_roster_hook_returns_the_calibration(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text(f"patient_id,profile,refill_sheet\nA,{PROFILE},{SHEET}\nB,{PROFILE},\n")
    a, b = load_roster(roster).entries
    got = roster_calibration(a)
    assert got is not None and got.estimate.mean == pytest.approx(expected_mean(), abs=1e-9)
    assert roster_calibration(b) is None
