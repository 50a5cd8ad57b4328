"""``pumpsim --help/--version``, ``catalog pumps|drugs`` and ``check``, through typer's runner
and through the real console entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PATIENTS, base_profile, flat, run_subprocess
from typer.testing import CliRunner

from pumpsim import DISCLAIMER, __version__
from pumpsim.cli import app

runner = CliRunner()


def test_help_shows_the_disclaimer() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "NOT a medical device" in flat(result.output)
    check_help = runner.invoke(app, ["check", "--help"])
    assert "NOT a medical device" in flat(check_help.output)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"pumpsim {__version__}"


def test_catalog_pumps_table_has_units() -> None:
    result = runner.invoke(app, ["catalog", "pumps"])
    text = flat(result.output)
    assert result.exit_code == 0, text
    for key in ("synchromed-ii-20", "synchromed-ii-40", "prometra-ii-20", "constant-flow-generic"):
        assert key in text
    assert "20 / 1.4" in text and "0.048 to 24" in text and "±14.5 %" in text
    assert "mL/day" in text


def test_catalog_drugs_table_uses_each_drugs_unit() -> None:
    result = runner.invoke(app, ["catalog", "drugs"])
    text = flat(result.output)
    assert result.exit_code == 0, text
    assert "19.2 mcg/day" in text  # ziconotide hard limit
    assert "20 mg/day" in text  # morphine hard limit
    assert "2000 mcg/mL" in text  # baclofen max concentration
    assert "10000 mcg/mL" in text  # fentanyl max concentration, no exponent notation
    assert "14 days first fill" in text


def test_catalog_without_subcommand_shows_help() -> None:
    result = runner.invoke(app, ["catalog"])
    assert "pumps" in result.output and "drugs" in result.output


def test_check_prints_hand_calculated_numbers() -> None:
    """Prometra: 0.5 mL/day of morphine 10 mg/mL = 5 mg/day; PTM 4 × 0.05 mL = 0.2 mL/day =
    2 mg/day; alarm at 3 mL after (20 − 3)/0.5 = 34 days (12 Apr 16:00), 24.3 days with every
    bolus; empty after 40 days; stability 90 days after the 9 Mar fill = 7 Jun."""
    result = runner.invoke(app, ["check", str(PATIENTS / "prometra-morphine.yaml")])
    text = flat(result.output)
    assert result.exit_code == 0, text
    assert "daily volume 0.5 mL/day" in text
    assert "daily dose morphine 5 mg/day" in text
    assert "PTM max extra 0.2 mL/day (2 mg/day morphine)" in text
    assert "low-reservoir alarm (3 mL) 34.0 days, 2026-04-12 16:00" in text
    assert "with every PTM bolus 24.3 days" in text
    assert "empty (0 mL calculated) 40.0 days, 2026-04-18 16:00" in text
    assert "drug stability limit 2026-06-07 16:00 (fill + 90 days; in 90.0 days)" in text
    assert flat(DISCLAIMER) in text


def test_check_shows_mcg_doses_for_mcg_drugs() -> None:
    """Ziconotide 2.4 mcg/day at 25 mcg/mL = 0.096 mL/day; alarm after 18/0.096 = 187.5 days;
    first fill: stability 14 days."""
    result = runner.invoke(app, ["check", str(PATIENTS / "ziconotide-first-fill.yaml")])
    text = flat(result.output)
    assert "drugs ziconotide 25 mcg/mL" in text
    assert "daily volume 0.096 mL/day" in text
    assert "daily dose ziconotide 2.4 mcg/day" in text
    assert "187.5 days, 2026-10-11 22:00" in text
    assert "2026-04-21 10:00 (fill + 14 days; in 14.0 days)" in text


def test_check_flex_program_and_mixture() -> None:
    result = runner.invoke(
        app,
        [
            "check",
            str(PATIENTS / "morphine-cancer-pain.yaml"),
            str(PATIENTS / "hydromorphone-bupivacaine-cancer-pain.yaml"),
        ],
    )
    text = flat(result.output)
    assert result.exit_code == 0, text
    assert "flex, up to 4 steps per day" in text
    assert "daily dose morphine 5.25 mg/day" in text
    assert "85.7 days, 2026-05-27 01:40" in text
    assert "daily dose hydromorphone 2 mg/day" in text
    assert "daily dose bupivacaine 7.5 mg/day" in text
    assert "2 of 2 profile(s) valid." in text


def test_check_stops_above_hard_dose_limits(write_profile: Callable[..., Path]) -> None:
    """A hard limit is an error now (exit 3, ``tests/cli/test_exit_codes.py``), not a warning."""
    data = base_profile()
    data["program"]["rate"] = "0.9 mL/day"  # 22.5 mg/day morphine, hard limit 20
    result = runner.invoke(app, ["check", str(write_profile(data))])
    text = flat(result.output)
    assert result.exit_code == 3, text
    assert (
        "morphine: highest-day programmed dose 22.5 mg/day is above the HARD limit of 20 mg/day"
    ) in text


def test_check_reports_every_invalid_file_and_exits_2(tmp_path: Path) -> None:
    good = PATIENTS / "baclofen-spasticity.yaml"
    bad1 = tmp_path / "bad1.yaml"
    bad1.write_text("patient_id: a\npatient_id: b\n", encoding="utf-8")
    bad2 = tmp_path / "bad2.yaml"
    bad2.write_text(
        (PATIENTS / "baclofen-spasticity.yaml")
        .read_text(encoding="utf-8")
        .replace('rate: "450 mcg/day"', 'rate: "450 mcg"'),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["check", str(bad1), str(good), str(bad2)])
    text = flat(result.output)
    assert result.exit_code == 2
    assert f"error: {bad1}: invalid input" in text and "duplicate key 'patient_id'" in text
    assert f"error: {bad2}: invalid input" in text and "program.rate: got '450 mcg'" in text
    assert "baclofen-spasticity.yaml: OK" in text
    assert "1 of 3 profile(s) valid." in text
    assert "Traceback" not in text


def test_check_json_output() -> None:
    result = runner.invoke(app, ["check", "--json", str(PATIENTS / "prometra-morphine.yaml")])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["days_to_low_reservoir"] == pytest.approx(34.0, abs=1e-9)
    assert data["drugs"][0]["mean_daily_dose_mg_per_day"] == pytest.approx(5.0, abs=1e-12)


def test_check_needs_a_file() -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 64  # a usage error (was 2 before usage errors got their code)


def test_every_shipped_profile_passes_check_in_a_real_subprocess() -> None:
    shipped = sorted(str(p) for p in PATIENTS.glob("*.yaml"))
    proc = run_subprocess("check", *shipped)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    for path in shipped:
        assert f"{path}: OK" in proc.stdout
    assert f"{len(shipped)} of {len(shipped)} profile(s) valid." in proc.stdout
    assert "NOT a medical device" in proc.stdout


def test_console_script_and_debug_flag(tmp_path: Path) -> None:
    """The real process: --version, and --debug shows the traceback that is hidden otherwise."""
    proc = run_subprocess("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"pumpsim {__version__}"
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient_id: [a\n", encoding="utf-8")
    quiet = run_subprocess("check", str(bad))
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    loud = run_subprocess("--debug", "check", str(bad))
    assert loud.returncode == 2 and "Traceback" in loud.stderr


def test_error_text_with_brackets_is_not_swallowed_as_markup(
    write_profile: Callable[..., Path],
) -> None:
    """``[list of 2]`` must reach the user; rich must not read it as a style tag."""
    path = write_profile("- a\n- b\n")
    result = runner.invoke(app, ["check", str(path)])
    assert "[list of 2]" in flat(result.output)
