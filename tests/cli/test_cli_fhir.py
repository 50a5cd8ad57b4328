"""``--fhir`` on ``plan`` and ``forecast``, and ``plan BUNDLE.json``: bad Bundles exit 2 with the
file, the FHIR path and the value cut short, and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from pumpsim.cli import app

ROOT = Path(__file__).resolve().parents[2]
ROSTER = ROOT / "profiles" / "rosters" / "clinic-12.csv"
PROFILE = ROOT / "profiles" / "patients" / "morphine-cancer-pain.yaml"
PLAN = [
    *("--start", "2026-03-09", "--weeks", "6", "--capacity", "2", "--windows", "schedule"),
    *("--timezone", "Europe/Berlin"),
]


def test_plan_writes_a_bundle_and_plans_from_it(tmp_path: Path) -> None:
    bundle, first, second = tmp_path / "b.json", tmp_path / "1.json", tmp_path / "2.json"
    result = CliRunner().invoke(
        app, ["plan", str(ROSTER), *PLAN, "--fhir", str(bundle), "--save", str(first)]
    )
    assert result.exit_code == 0, result.output
    Bundle.model_validate_json(bundle.read_bytes())
    result = CliRunner().invoke(app, ["plan", str(bundle), *PLAN, "--save", str(second)])
    assert result.exit_code == 0, result.output
    assert json.loads(first.read_bytes()) == json.loads(second.read_bytes())


def test_forecast_writes_a_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "f.json"
    result = CliRunner().invoke(
        app,
        ["forecast", str(PROFILE), "--as-of", "state", "--runs", "50", "--workers", "1",
         "--fhir", str(bundle)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    parsed = Bundle.model_validate_json(bundle.read_bytes())
    kinds = {e.resource.get_resource_type() for e in parsed.entry}
    assert {"Patient", "Device", "MedicationRequest", "Observation", "Appointment"} <= kinds


def test_a_bad_bundle_exits_2_with_path_and_clipped_value(tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    assert (
        CliRunner().invoke(app, ["plan", str(ROSTER), *PLAN, "--fhir", str(bundle)]).exit_code == 0
    )
    data = json.loads(bundle.read_bytes())
    device = next(e for e in data["entry"] if e["resource"]["resourceType"] == "Device")
    device["resource"]["type"]["coding"][0]["code"] = "pump-" + "x" * 300
    bundle.write_text(json.dumps(data), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pumpsim", "plan", str(bundle), *PLAN],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bundle.name) in proc.stderr
    assert "Bundle.entry[1].resource.type.coding" in proc.stderr
    assert "pump-xxx" in proc.stderr and "x" * 100 not in proc.stderr


def test_a_json_file_that_is_no_bundle_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"resourceType": "Patient"}', encoding="utf-8")
    result = CliRunner().invoke(app, ["plan", str(path), *PLAN])
    assert result.exit_code == 2
    assert "resourceType" in result.output and "Bundle" in result.output


def test_forecast_bundle_with_a_refill_sheet_carries_each_visits_verdict(tmp_path: Path) -> None:
    """forecast --refills --fhir: an Observation per judged visit, the discrepancy in mL (UCUM)
    and the verdict as its interpretation; the Bundle validates with the FHIR models."""
    import json

    from fhir.resources.R4B.bundle import Bundle

    root = Path(__file__).resolve().parents[2]
    profile = root / "profiles" / "patients" / "morphine-refill-history.yaml"
    sheet = root / "profiles" / "refills" / "morphine-over-infusion.csv"
    bundle = tmp_path / "forecast.json"
    result = CliRunner().invoke(
        app,
        ["forecast", str(profile), "--refills", str(sheet), "--fhir", str(bundle), "--runs",
         "100", "--as-of", "state", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = bundle.read_text(encoding="utf-8")
    Bundle.model_validate_json(text)
    observations = [
        e["resource"]
        for e in json.loads(text)["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "refill-discrepancy"
    ]
    assert len(observations) == 3  # the visits after the first fill
    first = observations[0]
    assert first["valueQuantity"]["unit"] == "mL" and first["valueQuantity"]["code"] == "mL"
    assert first["valueQuantity"]["value"] == pytest.approx(-1.5, abs=1e-9)  # 3.5 - 5.0
    assert first["interpretation"][0]["text"] in {"review", "investigate"}
    assert first["interpretation"][1]["text"] == "over-infusion"
