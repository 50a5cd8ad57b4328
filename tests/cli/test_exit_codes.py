"""Exit codes: 0 ok, 2 bad input, 3 valid but unsafe (a dose above a hard limit), in the real
process and through typer's runner; soft limits warn on stderr; the override is shown; overdue
refills are reported by ``check`` and booked urgently by ``plan``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import REPO, base_profile, flat, run_cli, run_subprocess
from typer.testing import CliRunner

from pumpsim.cli import app

runner = CliRunner()
ROSTER = REPO / "profiles" / "rosters" / "clinic-12.csv"
REASON = "teaching overdose scenario: mL/h typed for mL/day"


def _slip() -> dict[str, Any]:
    """Morphine 10 mg/mL at 0.5 mL/h: 12 mL/day, 120 mg/day (hard limit 20 mg/day)."""
    data = base_profile()
    data["drugs"] = [{"drug": "morphine", "concentration": "10 mg/mL"}]
    data["program"]["rate"] = "0.5 mL/h"
    del data["ptm"], data["demand"]
    return data


def test_help_documents_the_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    text = flat(result.output)
    assert "Exit codes: 0 ok; 2 bad input" in text
    assert "3 valid but unsafe" in text


def test_hard_limit_exits_3_in_a_real_process(write_profile: Callable[..., Path]) -> None:
    path = write_profile(_slip())
    proc = run_subprocess("check", str(path))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    err = flat(proc.stderr)
    assert f"error: {path} (test-01): dose above a hard limit" in err
    assert (
        "morphine: highest-day programmed dose 120 mg/day is above the HARD limit of 20 mg/day "
        "(0.5 mL/h = 12 mL/day; did you mean 0.5 mL/day?)"
    ) in err
    assert "0 of 1 profile(s) valid." in proc.stdout
    assert "Traceback" not in proc.stderr


def test_unsafe_wins_over_invalid(write_profile: Callable[..., Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient_id: [a\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(bad), str(write_profile(_slip()))])
    assert result.exit_code == 3
    only_bad = runner.invoke(app, ["check", str(bad)])
    assert only_bad.exit_code == 2


def test_soft_limit_warns_on_stderr_and_exits_0(write_profile: Callable[..., Path]) -> None:
    """Morphine 10 mg/mL at 1.6 mL/day = 16 mg/day: above the soft 15, below the hard 20."""
    data = _slip()
    data["program"]["rate"] = "1.6 mL/day"
    proc = run_cli("check", "--as-of", "2026-03-03", str(write_profile(data)))
    assert proc.returncode == 0, proc.stderr
    assert flat(proc.stderr) == (
        "warning: morphine: highest-day programmed dose 16 mg/day is above the soft limit of "
        "15 mg/day"
    )
    assert "warning" not in proc.stdout


def test_override_is_shown_in_text_and_json(write_profile: Callable[..., Path]) -> None:
    data = _slip()
    data["dose_limits"] = {"override": REASON}
    path = write_profile(data)
    proc = run_cli("check", "--as-of", "2026-03-03", str(path))
    assert proc.returncode == 0, proc.stderr
    assert f"DOSE LIMITS OVERRIDDEN: {REASON}" in proc.stdout
    assert "above the HARD limit of 20 mg/day" in flat(proc.stderr)
    result = runner.invoke(app, ["check", "--json", "--as-of", "2026-03-03", str(path)])
    assert result.exit_code == 0
    data_out = json.loads(result.stdout)
    assert data_out["dose_limit_override"] == REASON
    assert data_out["warnings"][0]["level"] == "hard"


def test_check_json_doses_in_the_drug_unit() -> None:
    path = REPO / "profiles" / "patients" / "ziconotide-first-fill.yaml"
    result = runner.invoke(app, ["check", "--json", str(path)])
    assert result.exit_code == 0, result.output
    (drug,) = json.loads(result.stdout)["drugs"]
    assert drug["name"] == "ziconotide" and drug["mass_unit"] == "mcg"
    assert drug["concentration_mcg_per_ml"] == 25.0
    assert abs(drug["mean_daily_dose_mcg_per_day"] - 2.4) < 1e-9
    assert abs(drug["hard_limit_mcg_per_day"] - 19.2) < 1e-9
    assert not [key for key in drug if "_mg" in key]


def test_check_reports_overdue_against_as_of() -> None:
    """prometra-morphine: filled 2026-03-09 16:00; with every PTM bolus the 3 mL alarm comes
    after 24.3 days, 2026-04-02 22:51: due then, overdue on 2026-04-03, not on 2026-04-02."""
    path = str(REPO / "profiles" / "patients" / "prometra-morphine.yaml")
    late = runner.invoke(app, ["check", "--as-of", "2026-04-03T12:00", path])
    assert late.exit_code == 0
    assert (
        "OVERDUE: the refill was due by 2026-04-02 22:51 (low-reservoir alarm with every PTM "
        "bolus), 0.5 days before 2026-04-03 12:00; refill now"
    ) in flat(late.stdout)
    assert "Prometra next refill 24.3 days, 2026-04-02 22:51 (3 mL, every bolus taken)" in flat(
        late.stdout
    )
    on_time = runner.invoke(app, ["check", "--as-of", "2026-04-02", path])
    assert "OVERDUE" not in on_time.stdout
    js = runner.invoke(app, ["check", "--json", "--as-of", "2026-04-03T12:00", path])
    data = json.loads(js.stdout)
    assert data["overdue_since"] == "2026-04-02T22:51"
    assert data["as_of"] == "2026-04-03T12:00"
    assert data["controller_next_refill_ml"] == 3.0


def test_prometra_line_only_for_prometra() -> None:
    """morphine-cancer-pain (SynchroMed II): 18 mL above the alarm at 0.21 + 0.08 mL/day with
    every bolus is about 18 / 0.29 = 62.1 days from 2026-03-02 09:00: 3 May, with its date."""
    path = str(REPO / "profiles" / "patients" / "morphine-cancer-pain.yaml")
    result = runner.invoke(app, ["check", "--as-of", "2026-03-03", path])
    text = flat(result.stdout)
    assert "Prometra" not in text
    assert "with every PTM bolus 62.1 days, 2026-05-03 10:36" in text


def test_plan_of_a_roster_with_a_hard_limit_exits_3(tmp_path: Path) -> None:
    rows = ROSTER.read_text(encoding="utf-8").splitlines()
    header, first = rows[0], next(r for r in rows[1:] if r.startswith("ITP-001"))
    roster = tmp_path / "roster.csv"
    roster.write_text(f"{header}\n{first.replace('3 mg/day', '0.5 mL/h')}\n", encoding="utf-8")
    proc = run_cli(
        "plan", str(roster), "--start", "2026-03-02", "--weeks", "2", "--windows", "schedule"
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert (
        "ITP-001 (row 2): morphine: highest-day programmed dose 300 mg/day is above the HARD "
        "limit of 20 mg/day (0.5 mL/h = 12 mL/day; did you mean 0.5 mL/day?)"
    ) in flat(proc.stderr)


def test_plan_books_every_overdue_patient_urgently(tmp_path: Path) -> None:
    """The shipped 12-patient roster planned from 2026-12-01 (every window closed months ago):
    all 12 booked, urgent, on the first open days with room (2 a day from Tue 1 Dec)."""
    out = tmp_path / "plan.csv"
    worklist = tmp_path / "worklist.md"
    ics = tmp_path / "plan.ics"
    proc = run_cli(
        "plan", str(ROSTER), "--start", "2026-12-01", "--weeks", "4", "--capacity", "2",
        "--windows", "schedule", "--csv", str(out), "--worklist", str(worklist),
        "--ics", str(ics), "--country", "DE",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = flat(proc.stdout)
    assert "12 URGENT refill(s): overdue at the plan start" in text
    assert "URGENT ITP-001 2026-12-01 08:00: overdue since 2026-05-14" in text
    assert "not placed" not in text
    rows = [r for r in csv.DictReader(io.StringIO(out.read_text())) if r["cycle"] == "1"]
    assert len(rows) == 12 and {r["status"] for r in rows} == {"planned"}
    assert all(r["urgent"].startswith("overdue since 2026-") for r in rows)
    dates = sorted(r["date"] for r in rows)
    assert dates[:2] == ["2026-12-01", "2026-12-01"] and dates[-1] <= "2026-12-08"
    assert "URGENT: overdue since 2026-05-14; refill today" in worklist.read_text()
    assert "SUMMARY:URGENT Pump refill ITP-001" in ics.read_text()


def test_usage_errors_exit_64_in_a_real_process(tmp_path: Path) -> None:
    """click's usage errors (unknown option or command, missing argument, a value click
    refuses) exit 64, bad input read by pumpsim 2: a script can tell them apart."""
    for args in (
        ["check", "--bogus"],
        ["nosuch"],
        ["check"],
        ["forecast", "x.yaml", "--runs", "0"],
    ):
        proc = run_subprocess(*args)
        assert proc.returncode == 64, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert run_subprocess("check", str(tmp_path / "missing.yaml")).returncode == 2
    assert "64 usage error" in flat(runner.invoke(app, ["--help"]).output)


def test_shell_completion_is_available() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.output and "--show-completion" in result.output
