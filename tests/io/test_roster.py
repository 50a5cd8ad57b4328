"""Roster reading: valid rows become therapies with exact internal values; every bad cell in
every row is reported at once with its row number and column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pumpsim.core.errors import ProfileError
from pumpsim.io.roster import load_roster, parse_drugs

HEADER = (
    "patient_id,name,pump,drugs,catheter_volume,last_refill,fill_volume,last_interrogation,"
    "calculated_volume,daily_rate,ptm_bolus,ptm_duration,ptm_lockout,ptm_max_per_day,"
    "ptm_presses_per_day,allowed_weekdays,location,nurse,refill_volume,next_drugs\n"
)


def _write(tmp_path: Path, body: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_valid_rows_become_therapies(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER + "P1,Anna,synchromed-ii-20,morphine 25 mg/mL,0.2 mL,2026-03-02T10:30,20 mL,,,"
        '3 mg/day,,,,,,"mon,wed",North,Kim,18 mL,morphine 10 mg/mL\n'
        "# a comment line\n"
        "P2,,prometra-ii-20,hydromorphone 10 mg/mL + bupivacaine 15 mg/mL,0.23 mL,"
        "2026-02-01T09:00,20 mL,2026-03-01T09:00,8.5 mL,0.4 mL/day,0.02 mL,10 min,3 h,4,2.5,"
        "tue-thu,,,,\n",
    )
    roster = load_roster(path)
    assert [e.patient_id for e in roster.entries] == ["P1", "P2"]
    p1, p2 = roster.entries
    assert p1.therapy.program.rate_ml_per_day == pytest.approx(0.12, abs=1e-12)
    assert p1.therapy.state.time == dt.datetime(2026, 3, 2, 10, 30)
    assert p1.therapy.state.calculated_volume_ml == 20.0
    assert p1.allowed_weekdays == frozenset({0, 2})
    assert (p1.name, p1.location, p1.nurse, p1.fill_ml) == ("Anna", "North", "Kim", 18.0)
    assert p1.next_therapy is not None
    # the dose rate is kept: 3 mg/day at 10 mg/mL is 0.3 mL/day after the change
    assert p1.next_therapy.program.rate_ml_per_day == pytest.approx(0.3, abs=1e-12)
    assert p1.row == 2
    # interrogation state, with the last refill dating the fill
    assert p2.therapy.state.time == dt.datetime(2026, 3, 1, 9, 0)
    assert p2.therapy.state.filled_at == dt.datetime(2026, 2, 1, 9, 0)
    assert p2.therapy.state.calculated_volume_ml == 8.5
    assert p2.therapy.ptm is not None and p2.therapy.ptm.max_per_day == 4
    assert p2.therapy.ptm.lockout_days == pytest.approx(0.125, abs=1e-12)
    assert p2.therapy.demand is not None and p2.therapy.demand.presses_per_day == 2.5
    assert p2.allowed_weekdays == frozenset({1, 2, 3})
    assert p2.row == 4  # the comment line still counts as a line of the file
    assert [d.name for d in p2.therapy.infusate.drugs] == ["hydromorphone", "bupivacaine"]


def test_every_bad_cell_is_reported_with_row_and_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER
        + "P1,,synchromed-ii-20,morphine 25 mg/mL,0.2 mL,2026-03-02T10:30,20 mL,,,0.5 mL/day,"
        ",,,,,,,,,\n"
        "P2,,synchromed-ii-20,morphine 30 mg/mL,0.2,2026-03-05,20 mL,,,5 mL,,,,,,xyz,,,,\n"
        "P1,,nopump,morfine 25 mg/mL,0.2 mL,,20 mL,,,0.5 mL/day,,,,,,,,,,\n"
        "P4,,synchromed-ii-20,morphine 25 mg/mL,0.2 mL,2026-13-01,25 mL,,,0.5 mL/day,"
        "0.1 mL,,,,,,,,30 mL,\n",
    )
    with pytest.raises(ProfileError) as info:
        load_roster(path)
    found = {(p.field, str(p.value)) for p in info.value.problems}
    assert found == {
        ("row 3, column allowed_weekdays", "xyz"),
        ("row 3, column catheter_volume", "0.2"),
        ("row 3, column daily_rate", "5 mL"),
        ("row 3, column drugs", "30 mg/mL"),
        ("row 4, column last_refill", "(missing)"),
        ("row 4, column pump", "nopump"),
        ("row 4, column drugs", "morfine"),
        ("row 4, column patient_id", "P1"),
        ("row 5, column last_refill", "2026-13-01"),
        ("row 5, column ptm_duration", "(missing)"),
        ("row 5, column ptm_lockout", "(missing)"),
        ("row 5, column ptm_max_per_day", "(missing)"),
    }
    assert str(path) in str(info.value)


def test_unknown_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "patient_id,pump,colour\nP1,synchromed-ii-20,red\n")
    with pytest.raises(ProfileError) as info:
        load_roster(path)
    assert [p.field for p in info.value.problems] == ["row 1, column colour"]


def test_yaml_roster_of_profile_references(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "patient_id: X\n"
        "pump: synchromed-ii-20\n"
        "drugs: [{drug: morphine, concentration: '25 mg/mL'}]\n"
        "catheter: {volume: '0.2 mL'}\n"
        "program: {mode: simple, rate: '0.5 mL/day'}\n"
        "state: {time: '2026-03-01T08:00', calculated_volume: '20 mL'}\n",
        encoding="utf-8",
    )
    path = _write(
        tmp_path,
        "- p.yaml\n"
        "- {profile: p.yaml, patient_id: Y, allowed_weekdays: fri, nurse: Kim,\n"
        "   last_interrogation: '2026-03-10T09:00', calculated_volume: '15 mL'}\n"
        "- {profile: missing.yaml, patient_id: Z}\n",
        "roster.yaml",
    )
    with pytest.raises(ProfileError) as info:
        load_roster(path)
    assert [p.field for p in info.value.problems] == [
        "entry 1, column patient_id",
        "entry 3, column profile",
    ]
    path.write_text(path.read_text().replace("- p.yaml\n", "- {profile: p.yaml, patient_id: X}\n"))
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    roster = load_roster(path)
    x, y = roster.entries
    assert x.therapy.state.calculated_volume_ml == 20.0
    assert y.patient_id == "Y" and y.allowed_weekdays == frozenset({4}) and y.nurse == "Kim"
    assert y.therapy.state.time == dt.datetime(2026, 3, 10, 9, 0)
    assert y.therapy.state.calculated_volume_ml == 15.0


def test_parse_drugs() -> None:
    assert parse_drugs("Hydromorphone 10 mg/mL + bupivacaine 15 mg/mL") == [
        {"drug": "hydromorphone", "concentration": "10 mg/mL"},
        {"drug": "bupivacaine", "concentration": "15 mg/mL"},
    ]
    with pytest.raises(ValueError, match="DRUG CONCENTRATION"):
        parse_drugs("25 mg/mL")


def test_example_rosters_load() -> None:
    root = Path(__file__).resolve().parents[2] / "profiles" / "rosters"
    assert len(load_roster(root / "clinic-12.csv")) == 12
    assert len(load_roster(root / "clinic-1000.csv")) == 1000


def test_a_roster_may_name_the_clinics_time_zone(tmp_path: Path) -> None:
    """A ``timezone`` column gives the roster's one zone; two zones or an unknown one are errors."""
    from pumpsim.core.errors import ProfileError as Error

    base = (
        Path(__file__).resolve().parents[2] / "profiles" / "rosters" / "clinic-12.csv"
    ).read_text()
    header, *lines = base.splitlines()
    path = tmp_path / "r.csv"
    path.write_text("\n".join([header + ",timezone", *(f"{line},Europe/Berlin" for line in lines)]))
    assert load_roster(path).timezone == "Europe/Berlin"
    mixed = [f"{line},Europe/Berlin" for line in lines[:-1]] + [f"{lines[-1]},Europe/Paris"]
    path.write_text("\n".join([header + ",timezone", *mixed]))
    with pytest.raises(Error, match="the roster's one time zone"):
        load_roster(path)
    path.write_text("\n".join([header + ",timezone", *(f"{line},Mars/Base" for line in lines)]))
    with pytest.raises(Error, match="an IANA time zone"):
        load_roster(path)
