"""Terminal manners: piped output is not hard-wrapped at 80 columns, tables keep every column,
an error is one line on stderr, and no progress bar is drawn off a terminal."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, run_subprocess


def test_scenario_list_in_a_pipe_shows_every_column() -> None:
    proc = run_subprocess("scenario", "list")
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if "name" in line and "title" in line)
    assert header.split() == ["name", "title", "pump", "days"]
    row = next(line for line in proc.stdout.splitlines() if "battery-replacement" in line)
    assert "planning surgery against refill cycles" in row and row.rstrip().endswith("240")


def test_an_error_in_a_pipe_is_one_line_on_stderr(tmp_path: Path) -> None:
    missing = tmp_path / ("a-rather-long-directory-name-" * 3) / "missing.yaml"
    proc = run_subprocess("check", str(missing))
    assert proc.returncode == 2
    first = proc.stderr.splitlines()[0]
    assert first == f"error: {missing}: invalid input"
    assert any(
        line.startswith("  - file: got no such file") and line.endswith("bytes)")
        for line in proc.stderr.splitlines()
    )
    assert "error" not in proc.stdout


def test_a_long_plan_in_a_pipe_draws_no_progress_bar() -> None:
    roster = REPO / "profiles" / "rosters" / "clinic-12.csv"
    proc = run_subprocess("plan", str(roster), "--start", "2026-03-02", "--weeks", "2")
    assert proc.returncode == 0, proc.stderr
    assert "━" not in proc.stderr and "forecasting" not in proc.stderr
