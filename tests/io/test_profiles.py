"""Profile loading: every validation rule has a failing example, checked through the library,
typer's test runner and one real ``python -m pumpsim check`` of them all; shipped profiles
round-trip."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PATIENTS, base_profile, flat, run_subprocess
from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.core.errors import ProfileError
from pumpsim.io.profiles import (
    SHIPPED_KINDS,
    default_catalog_dir,
    load_catalog,
    load_profile,
    load_therapy,
    shipped,
    shipped_data_dir,
    therapy_from_dict,
)
from pumpsim.models import Therapy

DELETE = object()


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split("/")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _steps(n: int) -> list[dict[str, str]]:
    return [{"start": f"{h:02d}:00", "rate": "0.5 mL/day"} for h in range(n)]


# (id, mutations of the base profile or raw YAML text, field path in the message, value in it)
BAD: list[tuple[str, list[tuple[str, Any]] | str, str, str]] = [
    ("unknown-top-level-key", [("pumpp", "x")], "pumpp", "'x'"),
    ("unknown-nested-key", [("program/rat", "0.5 mL/day")], "program.rat", "0.5 mL/day"),
    ("unknown-pump", [("pump", "synchromed-iii")], "pump.model", "synchromed-iii"),
    ("unknown-drug", [("drugs/0/drug", "morphin")], "drugs[0].drug", "morphin"),
    ("mass-for-rate", [("program/rate", "5 mg")], "program.rate", "5 mg"),
    (
        "dose-rate-for-concentration",
        [("drugs/0/concentration", "25 mg/day")],
        "drugs[0].concentration",
        "25 mg/day",
    ),
    ("bare-number", [("catheter/volume", 0.25)], "catheter.volume", "0.25"),
    ("bool-for-quantity", [("catheter/volume", True)], "catheter.volume", "True"),
    ("negative-volume", [("state/calculated_volume", "-1 mL")], "state.calculated_volume", "-1 mL"),
    ("zero-bolus", [("ptm/bolus", "0 mL")], "ptm.bolus", "0 mL"),
    ("rate-above-pump-range", [("program/rate", "30 mL/day")], "program.rate", "30 mL/day"),
    ("rate-below-pump-range", [("program/rate", "0.01 mL/day")], "program.rate", "0.01 mL/day"),
    ("ml-per-hour-mistake", [("program/rate", "2 mL/h")], "program.rate", "2 mL/h (= 48 mL/day)"),
    (
        "mg-for-mcg-mistake",
        [
            ("drugs/0", {"drug": "ziconotide", "concentration": "25 mcg/mL"}),
            ("program/rate", "2.4 mg/day"),
            ("ptm", DELETE),
            ("demand", DELETE),
        ],
        "program.rate",
        "2.4 mg/day (= 96 mL/day)",
    ),
    ("unknown-unit", [("program/rate", "0.5 mL/dia")], "program.rate", "0.5 mL/dia"),
    (
        "fill-above-reservoir",
        [("state/calculated_volume", "25 mL")],
        "state.calculated_volume",
        "25 mL",
    ),
    ("tz-aware-time", [("state/time", "2026-03-02T09:00+01:00")], "state.time", "+01:00"),
    (
        "filled-after-state",
        [("state/filled_at", "2026-03-03T09:00")],
        "state.filled_at",
        "2026-03-03T09:00",
    ),
    ("missing-state", [("state", DELETE)], "state", "(missing)"),
    (
        "concentration-above-max",
        [("drugs/0/concentration", "50 mg/mL")],
        "drugs[0].concentration",
        "50 mg/mL",
    ),
    (
        "missing-concentration",
        [("drugs/0/concentration", DELETE)],
        "drugs[0].concentration",
        "(missing)",
    ),
    ("drug-override-typo", [("drugs/0/stabilty", "60 day")], "drugs[0].stabilty", "60 day"),
    (
        "pump-override-typo",
        [("pump", {"model": "synchromed-ii-20", "reservoir_size": "30 mL"})],
        "pump.reservoir_size",
        "30 mL",
    ),
    (
        "pump-override-wrong-dimension",
        [("pump", {"model": "synchromed-ii-20", "reservoir": "30 mg"})],
        "pump.reservoir",
        "30 mg",
    ),
    (
        "too-many-flex-steps",
        [("program", {"mode": "flex", "steps": _steps(11)})],
        "program.steps",
        "11 steps",
    ),
    (
        "bad-time-of-day",
        [
            (
                "program",
                {"mode": "flex", "steps": [*_steps(1), {"start": "25:00", "rate": "0.4 mL/day"}]},
            )
        ],
        "program.steps[1].start",
        "25:00",
    ),
    (
        "first-step-not-midnight",
        [("program", {"mode": "flex", "steps": [{"start": "01:00", "rate": "0.5 mL/day"}]})],
        "program",
        "01:00",
    ),
    (
        "unknown-weekday",
        [("program", {"mode": "flex", "steps": _steps(1), "weekly": {"funday": _steps(1)}})],
        "program.weekly.funday",
        "funday",
    ),
    ("alarm-outside-range", [("alarms/low_reservoir", "15 mL")], "alarms.low_reservoir", "15 mL"),
    ("bolus-too-fast", [("ptm/duration", "1 s")], "ptm.duration", "1 s"),
    ("too-many-boluses-per-day", [("ptm/max_per_day", 100)], "ptm.max_per_day", "100"),
    ("demand-without-ptm", [("ptm", DELETE)], "demand", "given"),
    ("patient-id-with-spaces", [("patient_id", "John Smith")], "patient_id", "John Smith"),
    (
        "catheter-both-ways",
        [
            (
                "catheter",
                {"volume": "0.2 mL", "length": "80 cm", "volume_per_length": "0.0026 mL/cm"},
            )
        ],
        "catheter",
        "volume, length, volume_per_length",
    ),
    ("delivery-factor-out-of-range", [("delivery_factor", 2.0)], "delivery_factor", "2.0"),
    (
        "drug-twice-in-mixture",
        [("drugs", [{"drug": "morphine", "concentration": "25 mg/mL"}] * 2)],
        "drugs",
        "'morphine', 'morphine'",
    ),
    (
        "ptm-on-constant-flow-pump",
        [("pump", "constant-flow-generic"), ("program/rate", "1 mL/day"), ("alarms", DELETE)],
        "ptm",
        "settings",
    ),
    (
        "constant-flow-rate-mismatch",
        [
            ("pump", "constant-flow-generic"),
            ("program/rate", "0.8 mL/day"),
            ("alarms", DELETE),
            ("ptm", DELETE),
            ("demand", DELETE),
        ],
        "program.rate",
        "0.8 mL/day",
    ),
    (
        "periodic-bolus-longer-than-interval",
        [
            (
                "program/periodic_boluses",
                [{"start": "07:00", "every": "1 h", "volume": "0.05 mL", "duration": "2 h"}],
            )
        ],
        "program.periodic_boluses[0]",
        "start, every, volume, duration",
    ),
    (
        "duplicate-yaml-key",
        "patient_id: a\npatient_id: b\n",
        "line 2, column 1",
        "duplicate key 'patient_id'",
    ),
    ("yaml-syntax-error", "patient_id: [a\n", "line 2, column 1", "expected ','"),
    ("top-level-list", "- a\n- b\n", "(top level)", "[list of 2]"),
]


def _write_case(spec: list[tuple[str, Any]] | str, tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "bad.yaml"
    if isinstance(spec, str):
        path.write_text(spec, encoding="utf-8")
    else:
        data = base_profile()
        for where, value in spec:
            _set(data, where, value)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_there_are_at_least_20_distinct_bad_inputs() -> None:
    assert len({case[0] for case in BAD}) == len(BAD) >= 20


@pytest.mark.parametrize(("spec", "field", "value"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_profile_library_error(spec: Any, field: str, value: str, tmp_path: Path) -> None:
    """The library raises one ProfileError naming the file, and a problem with field and value."""
    path = _write_case(spec, tmp_path)
    with pytest.raises(ProfileError) as info:
        load_therapy(path)
    assert info.value.source == str(path)
    matches = [
        p for p in info.value.problems if p.field == field and value in str(p.value) + str(p)
    ]
    assert matches, info.value.problems


@pytest.mark.parametrize(("spec", "field", "value"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_profile_cli_runner(spec: Any, field: str, value: str, tmp_path: Path) -> None:
    """Through typer's runner: exit 2, no traceback, the message names file, field and value."""
    path = _write_case(spec, tmp_path)
    result = CliRunner().invoke(app, ["check", str(path)])
    text = flat(result.output)
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert str(path) in text and f"{field}:" in text and value in text, text


def test_every_bad_profile_in_one_real_process(tmp_path: Path) -> None:
    """Every case through one real ``python -m pumpsim check`` of all the files at once (a
    process start costs about a second, not worth paying per case): exit 2, no traceback, and
    for each file one message on stderr that starts with its path and names its field and
    value."""
    cases = []
    for name, spec, field, value in BAD:
        folder = tmp_path / name
        folder.mkdir()
        cases.append((_write_case(spec, folder), field, value))
    proc = run_subprocess("check", *[str(path) for path, _, _ in cases])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"0 of {len(BAD)} profile(s) valid."), proc.stdout
    messages = {
        block.split(": invalid input", 1)[0].removeprefix("error: "): flat(block)
        for block in re.split(r"(?m)^(?=error: )", proc.stderr)
        if block.startswith("error: ")
    }
    assert sorted(messages) == sorted(str(path) for path, _, _ in cases)
    for path, field, value in cases:
        text = messages[str(path)]
        assert text.startswith(f"error: {path}: invalid input"), text
        assert f"{field}:" in text and value in text, text


def test_all_problems_of_one_file_are_reported_together(write_profile: Callable[..., Path]) -> None:
    data = base_profile()
    data["program"]["rate"] = "30 mL/day"
    data["state"]["calculated_volume"] = "25 mL"
    data["alarms"]["low_reservoir"] = "15 mL"
    with pytest.raises(ProfileError) as info:
        load_therapy(write_profile(data))
    fields = {p.field for p in info.value.problems}
    assert fields == {"program.rate", "state.calculated_volume", "alarms.low_reservoir"}


def test_missing_file_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="readable UTF-8 file"):
        load_therapy(tmp_path / "nope.yaml")


def test_times_of_day_stay_text_not_base_60(write_profile: Callable[..., Path]) -> None:
    """YAML 1.1 reads an unquoted 07:30 as 450; pumpsim keeps it as the time 07:30."""
    text = (PATIENTS / "morphine-cancer-pain.yaml").read_text(encoding="utf-8")
    therapy = load_therapy(write_profile(text.replace('"06:00"', "06:00")))
    assert [s.start_minute for s in therapy.program.steps] == [0, 360, 720, 1080]


# ------------------------------------------------------------------ shipped profiles
SHIPPED = sorted(PATIENTS.glob("*.yaml"))


def test_at_least_six_shipped_profiles_cover_the_required_therapies() -> None:
    assert len(SHIPPED) >= 6
    therapies = {p.name: load_profile(p).therapy for p in SHIPPED}
    morphine = therapies["morphine-cancer-pain.yaml"]
    assert morphine.pump.key == "synchromed-ii-20"
    assert morphine.program.mode == "flex" and len(morphine.program.steps) == 4
    assert morphine.demand is not None and morphine.demand.presses_per_day == 3
    pumps = {t.pump.key for t in therapies.values()}
    assert {
        "synchromed-ii-20",
        "synchromed-ii-40",
        "prometra-ii-20",
        "constant-flow-generic",
    } <= pumps
    names = [{d.name for d in t.infusate.drugs} for t in therapies.values()]
    assert {"hydromorphone", "bupivacaine"} in names
    assert any(
        t.state.first_fill and t.infusate.primary.name == "ziconotide" for t in therapies.values()
    )
    baclofen = [t for t in therapies.values() if t.infusate.primary.name == "baclofen"]
    assert any(t.program.mode == "simple" and t.pump.reservoir_ml == 40 for t in baclofen)
    assert any(t.program.weekly for t in baclofen)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_profile_round_trips(path: Path) -> None:
    """load → model_dump → validate again gives the same model, and loading twice is stable."""
    therapy = load_profile(path).therapy
    dumped = therapy.model_dump()
    again = Therapy.model_validate(dumped)
    assert again == therapy
    assert again.model_dump() == dumped
    assert load_profile(path).therapy.model_dump() == dumped
    assert Therapy.model_validate_json(therapy.model_dump_json()) == therapy


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_profile_doses_are_inside_the_drug_limits(path: Path) -> None:
    """Example doses are plausible: programmed + all PTM boluses stay under every soft limit."""
    from pumpsim.forecast.summary import summarize

    summary = summarize(load_profile(path).therapy)
    assert summary.warnings == ()
    for drug in summary.drugs:
        if drug.soft_limit_mg_per_day is not None:
            assert (
                drug.max_daily_dose_mg + drug.ptm_max_dose_mg_per_day <= drug.soft_limit_mg_per_day
            )


def test_catalog_has_the_required_entries() -> None:
    catalog = load_catalog()
    assert {
        "synchromed-ii-20",
        "synchromed-ii-40",
        "prometra-ii-20",
        "constant-flow-generic",
    } <= set(catalog.pumps)
    required = {
        "morphine",
        "hydromorphone",
        "ziconotide",
        "baclofen",
        "bupivacaine",
        "clonidine",
        "fentanyl",
    }
    assert required <= set(catalog.drugs)


def test_overrides_replace_catalog_values_only_where_given() -> None:
    therapy = load_therapy(PATIENTS / "hydromorphone-bupivacaine-cancer-pain.yaml")
    catalog = load_catalog()
    assert therapy.pump.nonretrievable_residual_ml == 2.4
    assert (
        therapy.pump.model_copy(update={"nonretrievable_residual_ml": 1.4})
        == catalog.pumps["synchromed-ii-40"]
    )
    bupivacaine = therapy.infusate.drugs[1]
    assert bupivacaine.stability_days == 60
    assert bupivacaine.hard_limit_mg_per_day == catalog.drugs["bupivacaine"].hard_limit_mg_per_day


def test_profile_from_python_dict_equals_file(write_profile: Callable[..., Path]) -> None:
    data = base_profile()
    assert therapy_from_dict(data, "dict") == load_therapy(write_profile(data))


def test_shipped_data_in_a_source_tree_is_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("PUMPSIM_CATALOG", raising=False)
    assert shipped_data_dir() == repo / "profiles"
    assert default_catalog_dir() == repo / "profiles"
    for kind in SHIPPED_KINDS:
        expected = sorted(p for p in (repo / "profiles" / kind).iterdir() if p.is_file())
        assert shipped(kind) == expected and expected, kind
    monkeypatch.setenv("PUMPSIM_CATALOG", "/somewhere/else")
    assert default_catalog_dir() == Path("/somewhere/else")
    assert shipped("patients")[0].parent == repo / "profiles" / "patients"  # always the shipped
    with pytest.raises(ValueError, match="one of pumps, drugs"):
        shipped("recipes")
