"""Every reproducer of the hostile-input campaign (issue 13) as a regression test: the CLI
exits 2 with one message that names the file, the field, the value as written and what is
allowed, and no traceback."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, base_profile
from typer.testing import CliRunner

from pumpsim.cli import app

ROSTER = REPO / "profiles" / "rosters" / "clinic-12.csv"


def _denied(*args: Any, **kwargs: Any) -> Any:
    raise PermissionError(13, "Permission denied")


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    return result.exit_code, " ".join(output.split())


def _profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _mutated(tmp_path: Path, section: str, field: str, value: object) -> Path:
    data = base_profile()
    data[section][field] = value
    return _profile(tmp_path, yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("? [a]\n: 1\n", "line 1, column 3", "key [] is not text"),
        ("[" * 2000 + "\n", "line 1, column 33", "nested deeper than 32 levels"),
        ("foo: 1\n1: 2\n", "line 2, column 1", "key 1 is not text"),
        ("state: {time: 2026-02-30}\n", "file", "ValueError: day is out of range for month"),
    ],
)
def test_yaml_that_broke_the_loader_is_a_clean_error(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    code, out = _cli("check", str(_profile(tmp_path, text)))
    assert code == 2
    assert f"bad.yaml: invalid input - {where}: got {problem}" in out
    assert "valid YAML" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9**9**9 mL", "cannot read '9**9**9 mL' as a volume: write a number and a unit"),
        ("2**1024 mL", "cannot read '2**1024 mL' as a volume: write a number and a unit"),
        ("(-1)**0.5 mL", "cannot read '(-1)**0.5 mL' as a volume: write a number and a unit"),
        ("x" * 30_000 + " mL", "too long for a quantity (30003 characters, at most 40)"),
        ("1e999 mL", "the number is out of range"),
    ],
)
def test_quantities_are_never_evaluated(tmp_path: Path, value: str, message: str) -> None:
    """pint evaluated arithmetic: a hang, an overflow, a complex number, a quadratic parse."""
    started = time.monotonic()
    code, out = _cli("check", str(_mutated(tmp_path, "state", "calculated_volume", value)))
    assert time.monotonic() - started < 5
    assert code == 2
    assert "state.calculated_volume: got" in out
    assert message in out


@pytest.mark.parametrize(
    ("section", "field", "value", "allowed"),
    [
        ("state", "time", "9999-12-31T00:00", "a pump time from 1970-01-01 to before 2100-01-01"),
        ("state", "time", "0001-01-01", "a pump time from 1970-01-01 to before 2100-01-01"),
        ("state", "filled_at", "2016-03-02T09:00", "at most 366 days before state.time"),
        ("drugs", "stability", "inf day", "cannot read 'inf day' as a duration"),
        ("drugs", "concentration", "1e-300 mcg/mL", "greater than or equal to 0.0001"),
    ],
)
def test_absurd_values_are_errors_with_their_range(
    tmp_path: Path, section: str, field: str, value: str, allowed: str
) -> None:
    data = base_profile()
    if section == "drugs":
        data["drugs"][0][field] = value
        where = f"drugs[0].{field}"
    else:
        data[section][field] = value
        where = f"{section}.{field}"
    code, out = _cli("check", str(_profile(tmp_path, yaml.safe_dump(data))))
    assert code == 2
    assert f"{where}: got '{value}" in out
    assert allowed in out


def test_roster_with_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"patient_id,pump\nP\xff1,x\n")
    code, out = _cli("plan", str(path), "--start", "2026-03-02", "--windows", "schedule")
    assert code == 2
    assert "r.csv: invalid input - file: got not UTF-8 (byte 18)" in out


def test_roster_cell_over_the_csv_limit(tmp_path: Path) -> None:
    header, _, row = ROSTER.read_text(encoding="utf-8").splitlines()[:3]
    path = tmp_path / "r.csv"
    path.write_text(f"{header}\n{row.replace('Nurse A', 'N' * 200_000)}\n", encoding="utf-8")
    code, out = _cli("plan", str(path), "--start", "2026-03-02", "--windows", "schedule")
    assert code == 2
    assert "row 2: got 'a cell over 131,072 characters'; allowed: cells of at most 1000" in out


def test_roster_with_a_repeated_column(tmp_path: Path) -> None:
    header, _, row = ROSTER.read_text(encoding="utf-8").splitlines()[:3]
    path = tmp_path / "r.csv"
    path.write_text(f"{header},nurse\n{row},B\n", encoding="utf-8")
    code, out = _cli("plan", str(path), "--start", "2026-03-02", "--windows", "schedule")
    assert code == 2
    assert "row 1, column nurse: got '2 columns named nurse'; allowed: each once" in out


def test_profile_cell_naming_another_file_never_prints_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-TOKEN: hunter2\nuser: SECRET-TOKEN\n", encoding="utf-8")
    path = tmp_path / "r.csv"
    path.write_text(f"patient_id,profile\nP1,{secret}\n", encoding="utf-8")
    code, out = _cli("plan", str(path), "--start", "2026-03-02", "--windows", "schedule")
    assert code == 2
    assert "SECRET-TOKEN" not in out and "hunter2" not in out
    assert "row 2, column profile" in out and "none of them a profile's" in out


def test_emoji_codes_in_messages_stay_text(tmp_path: Path) -> None:
    data = base_profile()
    data["patient_id"] = ":x: bad id"
    code, out = _cli("check", str(_profile(tmp_path, yaml.safe_dump(data))))
    assert code == 2
    assert "patient_id: got ':x: bad id'" in out
    assert "❌" not in out


def test_read_only_output_folder_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file was created outside the error handling: a PermissionError traceback.
    (mkstemp is made to fail as in a read-only folder; chmod does not stop root.)"""
    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", _denied)
    code, out = _cli(
        "plan", str(ROSTER), "--start", "2026-03-02", "--weeks", "2",
        "--windows", "schedule", "--csv", str(folder / "plan.csv"),
    )  # fmt: skip
    assert code == 2
    assert "plan.csv: cannot write (Permission denied)" in out
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "option", "maximum"),
    [
        (["forecast", str(REPO / "profiles/patients/prometra-morphine.yaml")], "--runs", 1_000_000),
        (["plan", str(ROSTER), "--start", "2026-03-02"], "--runs", 100_000),
        (["plan", str(ROSTER), "--start", "2026-03-02"], "--capacity", 1000),
        (["forecast", str(REPO / "profiles/patients/prometra-morphine.yaml")], "--workers", 64),
    ],
)
def test_size_options_have_a_maximum(args: list[str], option: str, maximum: int) -> None:
    code, out = _cli(*args, option, "100000000")
    assert code == 64  # a usage error (was 2 before usage errors got their own code)
    assert f"Invalid value for '{option}'" in out
    assert f"less than or equal to {maximum}" in out
