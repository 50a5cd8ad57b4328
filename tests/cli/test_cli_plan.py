"""``pumpsim plan``: exports written, summary shown, bad input exits 2 without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
