"""``pumpsim forecast``: JSON lines, the human table, the fan chart, errors exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from conftest import PATIENTS, base_profile, flat, run_cli
from typer.testing import CliRunner

from pumpsim.cli.forecast import register

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test root so ``forecast`` is a subcommand."""

    return app


def _profile() -> dict[str, object]:
    data = base_profile()
    data["state"] = {"time": "2026-03-02T08:00", "calculated_volume": "20 mL"}
    return data


def test_json_one_object_per_patient(write_profile: Callable[..., Path]) -> None:
    a = write_profile(_profile(), "a.yaml")
    other = _profile()
    other["patient_id"] = "test-02"
    other["program"] = {"mode": "simple", "rate": "0.4 mL/day"}
    b = write_profile(other, "b.yaml")
    result = runner.invoke(
        _app(),
        [
            "forecast",
            str(a),
            str(b),
            "--runs",
            "300",
            "--seed",
            "3",
            "--json",
            "--workers",
            "1",
            "--as-of",
            "state",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [d["patient_id"] for d in lines] == ["test-01", "test-02"]
    first = lines[0]
    assert first["as_of"] == "2026-03-02T08:00:00"
    assert first["calculated_volume_ml"] == 20.0
    # programmed delivery alone: 18 mL to the alarm at 0.5 mL/day = 36 days
    assert first["programmer_lra"] == "2026-04-07T08:00:00"
    # the nominal follows the expected demand (3 presses a day), so it lies within the spread
    lra = first["low_reservoir_alarm"]
    assert lra["p05"] <= lra["nominal"] <= lra["p95"] < "2026-04-07T08:00:00"
    assert first["drug_stability_limit"] == "2026-05-31T08:00:00"
    assert (first["runs"], first["seed"], first["risk"]) == (300, 3, 0.01)
    assert first["limiting_factor"] in {"low_reservoir_alarm", "actual_dry"}


def test_table_and_fan_chart(write_profile: Callable[..., Path], tmp_path: Path) -> None:
    path = write_profile(_profile())
    png, svg = tmp_path / "fan.png", tmp_path / "fan.svg"
    result = runner.invoke(
        _app(),
        ["forecast", str(path), "--runs", "300", "--plot", str(png), "--as-of", "2026-03-10T08:00"],
    )
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "low reservoir" in text and "Refill between" in text
    assert "16.00 mL at 2026-03-10 08:00" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(
        _app(), ["forecast", str(path), "--runs", "200", "--plot", str(svg), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "<svg" in svg.read_text()[:2000]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fan")]  # no temp files left


def test_errors_exit_2(write_profile: Callable[..., Path], tmp_path: Path) -> None:
    path = write_profile(_profile())
    bad_time = runner.invoke(_app(), ["forecast", str(path), "--as-of", "yesterday"])
    assert bad_time.exit_code == 2
    early = runner.invoke(_app(), ["forecast", str(path), "--as-of", "2026-03-01T08:00"])
    assert early.exit_code == 2 and "before the pump state" in flat(early.output)
    broken = _profile()
    broken["program"] = {"mode": "simple", "rate": "0.5"}
    result = runner.invoke(_app(), ["forecast", str(write_profile(broken, "bad.yaml"))])
    assert result.exit_code == 2 and "program.rate" in flat(result.output)
    plot = runner.invoke(_app(), ["forecast", str(path), "--plot", str(tmp_path / "x.gif")])
    assert plot.exit_code == 2


def test_the_forecast_applies_the_profile_timeline() -> None:
    """Past entries set the cycle (as of 2026-05-20 the last refill, 2026-05-18 10:00, with its
    25 mg/mL fill, starts it); from the pump state the first refill is the planned one."""
    path = PATIENTS / "morphine-with-timeline.yaml"
    done = run_cli(
        "forecast", str(path), "--runs", "200", "--json", "--workers", "1",
        "--as-of", "2026-05-20T09:00",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    late = json.loads(done.stdout)
    assert late["cycle_start"] == "2026-05-18T10:00:00"
    assert late["drug_stability_limit"] == "2026-08-16T10:00:00"  # 90 days from that refill
    assert late["planned_refill"] is None and late["timeline_not_applied"] == []
    start = run_cli("forecast", str(path), "--runs", "200", "--json", "--as-of", "state")
    early = json.loads(start.stdout)
    assert early["cycle_start"] == "2026-03-02T09:00:00"
    assert early["planned_refill"] == "2026-04-08T10:00:00"
    assert early["timeline_not_applied"] == [
        "mri at 2026-04-20T14:00: after the planned refill",
        "reprogram at 2026-04-27T11:00: after the planned refill",
        "refill at 2026-05-18T10:00: after the planned refill",
    ]
    assert "Traceback" not in start.stderr


def test_ptm_log_calibrates_the_demand(write_profile: Callable[..., Path], tmp_path: Path) -> None:
    """A month of PTM log from `pumpsim simulate --ptm` at 6 presses a day, fed to the forecast
    of a profile that says 1 a day: the estimate (on stderr) is near 6 a day, and the forecast
    grants more boluses per day than the profile's own demand gives."""
    earlier = _profile()
    earlier["state"] = {"time": "2026-02-01T00:00", "calculated_volume": "20 mL"}
    earlier["demand"] = {"presses_per_day": 6}
    log = tmp_path / "ptm.csv"
    sim = run_cli(
        "simulate", str(write_profile(earlier, "earlier.yaml")), "--days", "29", "--ptm", str(log)
    )
    assert sim.returncode == 0, sim.stderr
    now = _profile()
    now["state"] = {"time": "2026-03-02T00:00", "calculated_volume": "20 mL"}
    now["demand"] = {"presses_per_day": 1}
    path = write_profile(now, "now.yaml")
    args = ("forecast", str(path), "--runs", "400", "--json", "--workers", "1")
    calibrated = run_cli(*args, "--ptm-log", str(log))
    assert calibrated.returncode == 0, calibrated.stderr
    note = flat(calibrated.stderr)
    assert "presses over 29.0 days" in note  # 2026-02-01 00:00 to 2026-03-02 00:00
    per_day = float(note.split(" days = ")[1].split(" a day")[0])
    assert 5.0 < per_day < 7.0
    plain = run_cli(*args)
    assert (
        json.loads(calibrated.stdout)["ptm_granted_per_day"]
        > json.loads(plain.stdout)["ptm_granted_per_day"]
    )


def test_ptm_log_errors_exit_2(write_profile: Callable[..., Path], tmp_path: Path) -> None:
    path = write_profile(_profile(), "p.yaml")
    bad = tmp_path / "bad.csv"
    bad.write_text("time,decision\n2026-02-10T09:00,granted\nyesterday,granted\n")
    cases = [
        (["--ptm-log", str(tmp_path / "missing.csv")], "missing.csv"),
        (["--ptm-log", str(bad)], "row 3, column time"),
        (["--ptm-log", str(bad), str(path)], "one profile"),
        (
            ["--ptm-log", str(tmp_path / "x.csv"), "--ptm-log-from", "2026-04-01T00:00"],
            "x.csv",
        ),
    ]
    good = tmp_path / "good.csv"
    good.write_text("time\n2026-02-10T09:00\n")
    cases.append((["--ptm-log", str(good), "--ptm-log-from", "2026-04-01T00:00"], "before"))
    later = tmp_path / "later.csv"
    later.write_text("time\n2026-03-05T09:00\n")  # after the pump state 2026-03-02 08:00
    cases.append((["--ptm-log", str(later)], "no presses before the pump state"))
    for extra, needle in cases:
        result = runner.invoke(_app(), ["forecast", str(path), *extra, "--runs", "50"])
        assert result.exit_code == 2, (extra, result.output)
        assert needle in flat(result.output), (needle, result.output)
        assert "Traceback" not in result.output
