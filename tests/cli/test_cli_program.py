"""``pumpsim program``: the worked example from the command line, a hard limit refused with exit
code 3, and a written profile that ``forecast`` and ``simulate`` accept and agree with."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import flat, run_subprocess
from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.engine import simulate
from pumpsim.forecast import forecast
from pumpsim.io.profiles import load_profile

runner = CliRunner()

PROFILE = """\
patient_id: prog-cli
indication: cancer pain
pump: synchromed-ii-20
drugs: [{drug: morphine, concentration: "10 mg/mL"}]
catheter: {volume: "0.25 mL"}
program: {mode: simple, rate: "0.5 mL/day"}
state: {time: "2026-03-02T08:00", calculated_volume: "20 mL", filled_at: "2026-03-02T08:00"}
"""
AT = dt.datetime(2026, 4, 1, 8, 0)
NEW_ALARM = AT + dt.timedelta(days=0.9 + 17.55 / 0.25)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    return path


def _session(path: Path, *extra: str) -> dict[str, Any]:
    result = runner.invoke(
        app,
        ["program", str(path), "--drugs", "morphine 20 mg/mL", "--fill", "20 mL", "--at",
         "2026-04-01T08:00", "--runs", "300", "--json", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return data


def test_the_example_in_json(profile: Path) -> None:
    s = _session(profile)
    assert s["new"]["program"] == {"mode": "simple", "rate": "0.25 mL/day"}
    assert s["new"]["daily_volume_ml_per_day"] == pytest.approx(0.25, abs=1e-9)
    assert s["old"]["drugs"][0]["daily_dose_mg_per_day"] == pytest.approx(5.0, abs=1e-9)
    assert s["new"]["drugs"][0]["daily_dose_mg_per_day"] == pytest.approx(5.0, abs=1e-9)
    bolus = s["bolus"]
    assert bolus["kind"] == "bridge"
    assert bolus["volume_ml"] == pytest.approx(0.45, abs=1e-9)
    assert bolus["duration_days"] == pytest.approx(0.9, abs=1e-9)
    assert s["old"]["low_reservoir_alarm"] == "2026-04-07T08:00:00"
    new_alarm = dt.datetime.fromisoformat(s["new"]["low_reservoir_alarm"])
    assert abs(new_alarm - NEW_ALARM) < dt.timedelta(minutes=1)
    assert s["new"]["stability_limit"] == "2026-06-30T08:00:00"
    assert s["timeline_entries"][0]["bridge_bolus"] is True


def test_the_side_by_side_table_in_text(profile: Path) -> None:
    result = runner.invoke(app, ["program", str(profile), "--titrate", "+10%", "--runs", "200"])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "old new" in text
    assert "daily dose morphine 5 mg/day 5.5 mg/day" in text
    assert "0.5 mL/day 0.55 mL/day" in text
    assert "NOT a medical device" in text


def test_a_dose_above_the_hard_limit_exits_3_naming_the_limit(profile: Path) -> None:
    result = run_subprocess("program", str(profile), "--dose", "25 mg/day", "--runs", "50")
    assert result.returncode == 3, result.stderr
    assert "HARD limit" in flat(result.stderr)
    assert "Traceback" not in result.stderr


def test_a_bad_option_exits_2(profile: Path) -> None:
    result = run_subprocess("program", str(profile), "--titrate", "ten percent")
    assert result.returncode == 2
    assert "--titrate" in result.stderr and "'ten percent'" in flat(result.stderr)


def test_the_written_profile_is_what_forecast_and_simulate_use(
    profile: Path, tmp_path: Path
) -> None:
    out = tmp_path / "new.yaml"
    _session(profile, "--write", str(out))
    written = load_profile(out)
    assert [e.action for e in written.timeline.entries] == ["refill"]
    f = forecast(written.therapy, timeline=written.timeline, as_of=AT, runs=300, seed=1)
    assert f.cycle_start == AT
    assert f.deterministic.programmer_lra is not None
    assert abs(f.deterministic.programmer_lra - NEW_ALARM) < dt.timedelta(minutes=1)
    trace = simulate(written.therapy, written.timeline, days=110, seed=0)
    alarms = [a for a in trace.alarms if a.name == "low_reservoir"]
    assert abs(alarms[-1].on_time - NEW_ALARM) < dt.timedelta(minutes=1)
    assert out.read_text(encoding="utf-8").startswith("# written by pumpsim program")


def test_a_new_program_shape_from_a_file_scaled_to_the_dose(profile: Path, tmp_path: Path) -> None:
    """A day/night shape (night half the day rate) scaled to 6 mg/day at 10 mg/mL: 0.6 mL/day
    on average, 8 h at r/2 and 16 h at r, so r = 0.72 mL/day."""
    shape = tmp_path / "shape.yaml"
    shape.write_text(
        'mode: flex\nsteps:\n  - {start: "00:00", rate: "0.25 mL/day"}\n'
        '  - {start: "08:00", rate: "0.5 mL/day"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        ["program", str(profile), "--dose", "6 mg/day", "--program-file", str(shape),
         "--runs", "100", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    new = json.loads(result.stdout.splitlines()[-1])["new"]
    assert new["program"]["steps"] == [
        {"start": "00:00", "rate": "0.36 mL/day"},
        {"start": "08:00", "rate": "0.72 mL/day"},
    ]
    assert new["drugs"][0]["daily_dose_mg_per_day"] == pytest.approx(6.0, abs=1e-9)
    bad = runner.invoke(app, ["program", str(profile), "--program-file", str(tmp_path / "no.yaml")])
    assert bad.exit_code == 2 and "--program-file" in flat(bad.output)
