"""`pumpsim forecast PROFILE --refills SHEET` and `pumpsim simulate` showing the verdict."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pumpsim.cli import app

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "patients" / "morphine-refill-history.yaml"
SHEET = ROOT / "profiles" / "refills" / "morphine-over-infusion.csv"
POCKET = ROOT / "profiles" / "scenarios" / "pocket-fill.yaml"
runner = CliRunner()


def test_forecast_with_a_refill_sheet_reports_the_calibrated_factor() -> None:
    """Factor 1.1 per visit (3.5 mL out where 5 mL were expected) → posterior mean 1.0987:
    dry 20 / (0.5 × 1.0987) = 36.40 days after 2026-04-01 09:00 = 2026-05-07 18:45."""
    args = ["forecast", str(PROFILE), "--refills", str(SHEET), "--runs", "500", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.splitlines()[-1])
    assert data["delivery_factor_mean"] == pytest.approx(1.0987, abs=0.003)
    lo, hi = data["delivery_factor_interval"]
    assert lo < 1.0987 < hi
    assert data["delivery_factor_visits"] == 3
    assert [v["verdict"] for v in data["refill_visits"]] == ["review"] * 3
    assert data["actual_dry"]["nominal"].startswith("2026-05-07T18:45")
    plain = runner.invoke(app, ["forecast", str(PROFILE), "--runs", "500", "--json"])
    assert json.loads(plain.stdout)["actual_dry"]["nominal"] == "2026-05-11T09:00:00"
    human = runner.invoke(app, ["forecast", str(PROFILE), "--refills", str(SHEET), "--runs", "500"])
    text = " ".join(human.output.split())  # rich wraps at 80 columns
    assert "review (over-infusion)" in text
    assert "3 visits used" in text


def test_a_refill_sheet_belongs_to_one_profile_and_a_bad_sheet_exits_2(tmp_path: Path) -> None:
    two = runner.invoke(app, ["forecast", str(PROFILE), str(PROFILE), "--refills", str(SHEET)])
    assert two.exit_code == 64  # a usage error (was 2 before usage errors got their code)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,withdrawn,filled\n2026-01-01T09:00,3.5,20 mL\n")
    result = runner.invoke(app, ["forecast", str(PROFILE), "--refills", str(bad)])
    assert result.exit_code == 2
    assert "row 2, column withdrawn" in result.output


def test_simulate_shows_the_verdict_in_summary_events_and_json(tmp_path: Path) -> None:
    """The pocket-fill scenario's profile with its timeline: the second refill is investigated."""
    import yaml

    scenario = yaml.safe_load(POCKET.read_text())
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({**scenario["profile"], "timeline": scenario["timeline"]}))
    events = tmp_path / "e.csv"
    result = runner.invoke(app, ["simulate", str(profile), "--days", "45", "--events", str(events)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps at 80 columns
    assert "2026-04-11 09:00 investigate: -15.00 mL" in text
    assert "the fill may have gone into the pocket" in text
    rows = [r for r in csv.DictReader(events.open()) if r["kind"] == "refill"]
    detail = json.loads(rows[1]["detail"])
    assert detail["verdict"] == "investigate"
    assert detail["expected_withdrawable_ml"] == pytest.approx(15.0)
    assert detail["calculated_ml"] == pytest.approx(15.0)
    data = json.loads(
        runner.invoke(app, ["simulate", str(profile), "--days", "45", "--json"]).stdout
    )
    assert data["refills"][1]["verdict"]["cause"] == "suspected pocket fill"
