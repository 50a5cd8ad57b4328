"""The published JSON Schemas (docs/schemas) match the models, and every command's real JSON
output validates against its schema, with ``schema_version`` and rounded numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import REPO
from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.cli.schemas import DOCUMENTS, generate
from pumpsim.core.jsonout import SCHEMA_VERSION, rounded

runner = CliRunner()
PATIENTS = REPO / "profiles" / "patients"
MORPHINE = str(PATIENTS / "morphine-cancer-pain.yaml")
ZICONOTIDE = str(PATIENTS / "ziconotide-first-fill.yaml")
SCHEMAS = REPO / "docs" / "schemas"
# a float with binary noise: more decimals than the 6 promised
NOISE = re.compile(r"\d\.\d{7,}")


def _schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def test_published_schemas_are_the_generated_ones() -> None:
    generated = generate()
    assert sorted(generated) == sorted(DOCUMENTS)
    published = {p.stem for p in SCHEMAS.glob("*.json")}
    assert published == set(generated), "run `make schemas`"
    for name, text in generated.items():
        assert (SCHEMAS / f"{name}.json").read_text(encoding="utf-8") == text, (
            f"docs/schemas/{name}.json is stale: run `make schemas`"
        )


def _documents(args: list[str], lines: bool) -> tuple[str, list[dict[str, Any]]]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = result.stdout
    if lines:
        return text, [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return text, [json.loads(text)]


CASES = {
    "check": (["check", MORPHINE, ZICONOTIDE, "--json", "--as-of", "2026-04-01"], True),
    "forecast": (["forecast", MORPHINE, "--as-of", "state", "--runs", "200", "--json"], True),
    "program": (["program", MORPHINE, "--titrate", "+10%", "--fill", "20 mL", "--json"], True),
    "simulate": (["simulate", ZICONOTIDE, "--days", "12", "--seed", "3", "--json"], False),
    "scenario": (["scenario", "run", "missed-refill", "--json"], False),
    "plan": (
        ["plan", str(REPO / "profiles/rosters/clinic-12.csv"), "--start", "2026-03-02"]
        + ["--weeks", "3", "--json"],
        False,
    ),
    "cohort": (
        ["cohort", "run", "smith-2002-pump-arm", "--workers", "1", "--costs", "stearns-2019"]
        + ["--psa", "50", "--json", "-"],
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_output_matches_its_published_schema(name: str) -> None:
    args, lines = CASES[name]
    text, docs = _documents(args, lines)
    assert docs
    for doc in docs:
        jsonschema.validate(doc, _schema(name), cls=jsonschema.Draft202012Validator)
        assert next(iter(doc)) == "schema_version" and doc["schema_version"] == SCHEMA_VERSION
    assert not NOISE.findall(re.sub(r'"[^"]*"', '""', text)), "unrounded float in the output"


def test_forecast_with_a_refill_sheet_matches_the_schema() -> None:
    args = ["forecast", str(PATIENTS / "morphine-refill-history.yaml"), "--runs", "200"]
    args += ["--refills", str(REPO / "profiles/refills/morphine-over-infusion.csv"), "--json"]
    _, docs = _documents(args, True)
    jsonschema.validate(docs[-1], _schema("forecast"), cls=jsonschema.Draft202012Validator)
    assert docs[-1]["refill_visits"]


def test_trace_to_json_is_versioned(tmp_path: Path) -> None:
    from pumpsim import load_therapy, simulate

    trace = simulate(load_therapy(MORPHINE), days=3, seed=1)
    trace.to_json(tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, _schema("simulate"), cls=jsonschema.Draft202012Validator)


def test_rounded_removes_binary_noise_everywhere() -> None:
    data = {"a": 0.1 + 0.2, "b": [0.5000000000000004, (1, -0.0)], "c": True, "d": "0.1"}
    assert rounded(data) == {"a": 0.3, "b": [0.5, [1, 0.0]], "c": True, "d": "0.1"}
    assert json.dumps(rounded(5.250000000000001)) == "5.25"
