"""``pumpsim plan``: exports written, summary shown, bad input exits 2 without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import flat, run_cli
from typer.testing import CliRunner

from pumpsim.cli import app

ROSTER = Path(__file__).resolve().parents[2] / "profiles" / "rosters" / "clinic-12.csv"


def test_plan_writes_exports_and_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "plan",
            str(ROSTER),
            "--start",
            "2026-03-09",
            "--weeks",
            "13",
            "--capacity",
            "2",
            "--country",
            "DE",
            "--subdiv",
            "BY",
            "--timezone",
            "Europe/Berlin",
            "--runs",
            "200",
            "--seed",
            "3",
            "--workers",
            "1",
            "--ics",
            str(tmp_path / "p.ics"),
            "--csv",
            str(tmp_path / "p.csv"),
            "--save",
            str(tmp_path / "p.json"),
            "--worklist",
            str(tmp_path / "w.md"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Appointments per day" in result.output
    assert "Tightest refills" in result.output
    assert "public holiday (Good Friday)" in result.output
    for name in ("p.ics", "p.csv", "p.json", "w.md"):
        assert (tmp_path / name).stat().st_size > 0
    again = CliRunner().invoke(
        app,
        [
            "plan",
            str(ROSTER),
            "--start",
            "2026-03-09",
            "--weeks",
            "13",
            "--capacity",
            "2",
            "--country",
            "DE",
            "--subdiv",
            "BY",
            "--timezone",
            "Europe/Berlin",
            "--runs",
            "200",
            "--seed",
            "3",
            "--workers",
            "1",
            "--json",
            "--previous",
            str(tmp_path / "p.json"),
        ],
    )
    assert again.exit_code == 0, again.output
    replanned = json.loads(again.output)
    saved = json.loads((tmp_path / "p.json").read_text())
    assert [a["start"] for a in replanned["appointments"]] == [
        a["start"] for a in saved["appointments"]
    ]
    assert all(a["kept"] for a in replanned["appointments"])


def test_bad_roster_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,pump\nP1,nopump\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pumpsim",
            "plan",
            str(bad),
            "--start",
            "2026-03-09",
            "--windows",
            "schedule",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "row 2, column pump" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_clinics_time_zone_comes_from_the_country_never_utc_by_default(
    tmp_path: Path,
) -> None:
    """The README's DE example writes Europe/Berlin wall-clock times with a VTIMEZONE; without
    a zone or a one-zone country, --ics is refused with a message asking for one."""
    ics = tmp_path / "plan.ics"
    done = run_cli(
        "plan", str(ROSTER), "--start", "2026-03-02", "--weeks", "13", "--windows",
        "schedule", "--country", "DE", "--ics", str(ics),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = ics.read_text(encoding="utf-8")
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Berlin" in text
    events = text.split("BEGIN:VEVENT")[1:]  # the VTIMEZONE's own DTSTARTs come before
    starts = [line for e in events for line in e.splitlines() if line.startswith("DTSTART")]
    assert starts and all(s.startswith("DTSTART;TZID=Europe/Berlin:") for s in starts)
    assert not any(s.endswith("Z") for s in starts)
    refused = run_cli(
        "plan", str(ROSTER), "--start", "2026-03-02", "--weeks", "4", "--windows", "schedule",
        "--ics", str(tmp_path / "x.ics"),
    )  # fmt: skip
    assert refused.returncode == 2
    assert "time zone is not known" in flat(refused.stderr)
    assert not (tmp_path / "x.ics").exists()
    us = run_cli(
        "plan", str(ROSTER), "--start", "2026-03-02", "--weeks", "4", "--windows", "schedule",
        "--country", "US", "--ics", str(tmp_path / "y.ics"),
    )  # fmt: skip
    assert us.returncode == 2 and "US has more than one" in flat(us.stderr)
