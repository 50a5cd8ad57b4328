"""`pumpsim simulate`: summary, exports and errors, through typer's runner and a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.schedule.ptm import Decision

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "patients" / "morphine-cancer-pain.yaml"
runner = CliRunner()

SIMPLE = """\
patient_id: SIM-1
pump: synchromed-ii-20
drugs: [{drug: morphine, concentration: "25 mg/mL"}]
catheter: {volume: "0.2 mL"}
program: {mode: simple, rate: "0.5 mL/day"}
state: {time: "2026-03-01T08:00", calculated_volume: "20 mL"}
"""


def test_simple_profile_alarm_dates_to_the_minute(tmp_path: Path) -> None:
    """20 mL at 0.5 mL/day: the 2 mL alarm after 36 days, empty after 40 days."""
    path = tmp_path / "p.yaml"
    path.write_text(SIMPLE)
    result = runner.invoke(app, ["simulate", str(path), "--days", "45", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    alarms = {a["name"]: a for a in data["alarms"]}
    assert alarms["low_reservoir"]["on_time"] == "2026-04-06T08:00:00"
    assert alarms["empty_reservoir"]["on_time"] == "2026-04-10T08:00:00"
    human = runner.invoke(app, ["simulate", str(path), "--days", "45"])
    assert "First low-reservoir alarm after 36.00 days" in human.output
    before_empty = runner.invoke(app, ["simulate", str(path), "--days", "30"])
    assert "morphine 12.5 mg/day" in before_empty.output  # 0.5 mL/day x 25 mg/mL


def test_exports_are_written(tmp_path: Path) -> None:
    events, timeline, daily = tmp_path / "e.csv", tmp_path / "t.csv", tmp_path / "d.csv"
    ptm = tmp_path / "ptm.csv"
    result = runner.invoke(
        app,
        [
            "simulate",
            str(PROFILE),
            "--days",
            "10",
            "--events",
            str(events),
            "--timeline",
            str(timeline),
            "--daily",
            str(daily),
            "--ptm",
            str(ptm),
            "--sample-minutes",
            "720",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(timeline.open()))
    assert len(rows) == 21  # every 12 h over 10 days, both ends included
    assert float(rows[0]["calculated_ml"]) > float(rows[-1]["calculated_ml"])
    assert list(csv.reader(events.open()))[0] == ["time", "day", "kind", "detail"]
    header = daily.read_text().splitlines()[0].split(",")
    assert header[:4] == ["date", "drug", "unit", "dose"]  # fixed columns, whatever the drug
    presses = list(csv.DictReader(ptm.open()))
    day_rows = list(csv.DictReader(daily.open()))
    assert len(presses) == sum(int(d["ptm_granted"]) + int(d["ptm_denied"]) for d in day_rows)
    assert sum(p["decision"] == "granted" for p in presses) == sum(
        int(d["ptm_granted"]) for d in day_rows
    )
    assert presses and {p["decision"] for p in presses} <= set(get_args(Decision))
    json_out = runner.invoke(app, ["simulate", str(PROFILE), "--days", "10", "--json"])
    assert [p["decision"] for p in json.loads(json_out.output)["ptm_presses"]] == [
        p["decision"] for p in presses
    ]


def test_missing_file_and_bad_days_exit_2_without_traceback(tmp_path: Path) -> None:
    for args, code in (
        (["simulate", str(tmp_path / "missing.yaml")], 2),
        (["simulate", str(PROFILE), "--days", "0"], 64),  # a usage error (was 2)
        (["simulate", str(PROFILE), "--events", str(tmp_path / "no" / "dir.csv")], 2),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "pumpsim", *args], capture_output=True, text=True, cwd=ROOT
        )
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "no").exists()


PTM_LATER = (
    SIMPLE
    + """\
timeline:
  - at: "2026-03-11T08:00"
    action: ptm_change
    ptm: {bolus: "0.5 mg", duration: "10 min", lockout: "3 h", max_per_day: 4}
    demand: {presses_per_day: 6}
"""
)


def test_a_ptm_change_in_the_profile_brings_the_patients_presses(tmp_path: Path) -> None:
    """No PTM for 10 days, then settings and 6 presses a day: every press is after the change,
    and at most 4 a day are granted."""
    path = tmp_path / "later.yaml"
    path.write_text(PTM_LATER)
    result = runner.invoke(app, ["simulate", str(path), "--days", "20", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    presses = data["ptm_presses"]
    assert len(presses) > 30  # ~60 expected over the 10 days
    assert min(p["time"] for p in presses) >= "2026-03-11T08:00:00"
    granted_per_day = [d["ptm_granted"] for d in data["daily"]]
    assert max(granted_per_day) <= 4 and sum(granted_per_day[:10]) == 0
    bad = PTM_LATER.replace("presses_per_day: 6", "presses_per_day: -1")
    path.write_text(bad)
    error = runner.invoke(app, ["simulate", str(path)])
    assert error.exit_code == 2
    assert "timeline[0].demand.presses_per_day" in error.output
