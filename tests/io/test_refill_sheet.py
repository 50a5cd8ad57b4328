"""Refill sheets (``pumpsim.io.refill_sheet``) and the roster column naming them: every bad
cell reported with its row and column, the value truncated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pumpsim.core.errors import ProfileError
from pumpsim.io.refill_sheet import MAX_VALUE_CHARS, read_refill_sheet
from pumpsim.io.roster import load_roster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "profiles" / "refills" / "morphine-over-infusion.csv"


def test_the_example_sheet_reads_with_units_and_pump_times() -> None:
    sheet = read_refill_sheet(EXAMPLE)
    assert len(sheet.visits) == 4
    first = sheet.visits[0]
    assert first.time == dt.datetime(2026, 1, 1, 9, 0)
    assert (first.withdrawn_ml, first.filled_ml) == (3.5, 20.0)
    assert first.concentration_mg_per_ml == 25.0
    assert first.program == ("volume", pytest.approx(0.5))
    assert first.row == 4  # two comment lines, then the header on line 3
    assert sheet.visits[1].program is None


def test_bad_rows_are_reported_with_row_and_column(tmp_path: Path) -> None:
    long = "x" * 100
    path = tmp_path / "sheet.csv"
    path.write_text(
        "time,withdrawn,filled,program\n"
        "2026-01-01T09:00,3.5 mL,20 mL,\n"
        "2026-13-01,3.5,20 mL,\n"
        f"2026-02-01T09:00,,{long},2 mg\n"
        "2026-03-01T09:00+01:00,-1 mL,0 mL,\n"
        "2026-01-01T09:00,1 mL,20 mL,\n"
    )
    with pytest.raises(ProfileError) as info:
        read_refill_sheet(path)
    got = {p.field: p.value for p in info.value.problems}
    assert info.value.source == str(path)
    assert got["row 3, column time"] == "2026-13-01"
    assert got["row 3, column withdrawn"] == "3.5"  # a bare number has no unit
    assert got["row 4, column withdrawn"] == "(empty)"
    assert got["row 4, column filled"] == "x" * (MAX_VALUE_CHARS - 1) + "…"
    assert got["row 4, column program"] == "2 mg"  # a mass, not a rate
    assert "row 5, column time" in got  # a time zone
    assert got["row 5, column withdrawn"] == "-1 mL"
    assert got["row 5, column filled"] == "0 mL"
    assert got["row 6, column time"] == "2026-01-01T09:00:00"  # two visits at one time
    assert "row 2, column time" not in got


def test_header_problems_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_text("time,taken,filled\n2026-01-01,1 mL,20 mL\n")
    with pytest.raises(ProfileError) as info:
        read_refill_sheet(path)
    fields = [p.field for p in info.value.problems]
    assert fields == ["row 1, column taken", "row 1, column withdrawn"]
    with pytest.raises(ProfileError) as missing:
        read_refill_sheet(tmp_path / "missing.csv")
    assert missing.value.problems[0].field == "file"


def test_a_roster_names_each_patients_sheet_relative_to_the_roster(tmp_path: Path) -> None:
    profile = ROOT / "profiles" / "patients" / "morphine-refill-history.yaml"
    (tmp_path / "sheets").mkdir()
    (tmp_path / "sheets" / "a.csv").write_text(EXAMPLE.read_text())
    roster = tmp_path / "roster.csv"
    roster.write_text(f"patient_id,profile,refill_sheet\nA,{profile},sheets/a.csv\nB,{profile},\n")
    a, b = load_roster(roster).entries
    assert a.refill_sheet == tmp_path / "sheets" / "a.csv"
    assert b.refill_sheet is None
    roster.write_text(f"patient_id,profile,refill_sheet\nA,{profile},sheets/nope.csv\n")
    with pytest.raises(ProfileError) as info:
        load_roster(roster)
    assert info.value.problems[0].field == "row 2, column refill_sheet"


# ---------------------------------------------------------------- the bounded CSV reader
def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from pumpsim.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    return result.exit_code, " ".join(output.split())


def _forecast(sheet: Path) -> tuple[int, str]:
    profile = ROOT / "profiles" / "patients" / "morphine-refill-history.yaml"
    return _cli("forecast", str(profile), "--refills", str(sheet), "--runs", "20", "--json")


def test_a_sheet_that_is_not_utf8_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("time,withdrawn,filled\n2026-01-01T09:00,3.5 mL,20 mL ü\n".encode("latin-1"))
    with pytest.raises(ProfileError) as info:
        read_refill_sheet(path)
    (problem,) = info.value.problems
    assert problem.field == "file"
    assert "not UTF-8" in problem.value
    code, out = _forecast(path)
    assert code == 2
    assert "not UTF-8" in out


@pytest.mark.parametrize("length", [5_000, 200_000])
def test_a_huge_cell_is_reported_by_its_row_never_echoed(tmp_path: Path, length: int) -> None:
    """A cell over ``MAX_CELL_CHARS`` names its row and column; one over csv's own limit
    (131,072) can only be named by its row (csv stops reading there)."""
    path = tmp_path / "long.csv"
    path.write_text(
        "time,withdrawn,filled\n"
        "2026-01-01T09:00,3.5 mL,20 mL\n"
        f"2026-01-31T09:00,{'9' * length} mL,20 mL\n"
    )
    with pytest.raises(ProfileError) as info:
        read_refill_sheet(path)
    (problem,) = info.value.problems
    if length < 131_072:
        assert problem.field == "row 3, column withdrawn"
        assert problem.value == f"{length + 3:,} characters"
    else:
        assert problem.field == "row 3"
        assert problem.value == "a cell over 131,072 characters"
    code, out = _forecast(path)
    assert code == 2
    assert problem.field in out
    assert "9" * 100 not in out
    assert len(out) < 1000


def test_a_repeated_column_is_named_with_the_header_row(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(
        "# two comment lines\n#\n"
        "time,withdrawn,filled,Filled\n"
        "2026-01-01T09:00,3.5 mL,20 mL,10 mL\n"
        "2026-01-31T09:00,3.5 mL,20 mL,10 mL\n"
    )
    with pytest.raises(ProfileError) as info:
        read_refill_sheet(path)
    assert [(p.field, p.value) for p in info.value.problems] == [
        ("row 3, column filled", "2 columns named filled")
    ]
    code, out = _forecast(path)
    assert code == 2
    assert "row 3, column filled" in out


def test_a_nul_byte_and_implausible_times_and_volumes_are_clean_errors(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"time,withdrawn,filled\n2026-01-01T09:00,3.5 mL\x00,20 mL\n")
    with pytest.raises(ProfileError) as nul:
        read_refill_sheet(path)
    assert nul.value.problems[0].field.startswith("row 2")  # csv reads NULs since 3.13
    path.write_text(
        "time,withdrawn,filled\n"
        "0001-01-01T09:00,3.5 mL,20 mL\n"
        "2026-01-31T09:00,1e300 mL,20 mL\n"
        "9999-01-01,3.5 mL,20 mL\n"
    )
    with pytest.raises(ProfileError) as info:
        read_refill_sheet(path)
    assert [p.field for p in info.value.problems] == [
        "row 2, column time",
        "row 3, column withdrawn",
        "row 4, column time",
    ]
