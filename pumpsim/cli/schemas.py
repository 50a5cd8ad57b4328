"""The JSON Schemas of the documents pumpsim writes, generated from typed output models.

Each document (``check``, ``forecast``, ``program``, ``simulate``, ``scenario``, ``plan``,
``cohort``) has one pydantic model here, or the library model it serializes
(``TherapySummary`` for ``check``, ``Plan`` for the plan export). ``generate()`` turns them
into JSON Schemas (draft 2020-12, via ``model_json_schema(mode="serialization")``); ``python -m
pumpsim.cli.schemas DIR`` (``make schemas``) writes them to ``docs/schemas/NAME.json``.
``tests/cli/test_schemas.py`` fails when a published schema differs from the generated one, and
checks each command's real output against its published schema.

The top level of each document is closed (``additionalProperties: false``); nested objects whose
field names carry a drug's unit (``concentration_mcg_per_ml``) are open objects.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pumpsim.clinic.results import Plan
from pumpsim.core.jsonout import SCHEMA_VERSION
from pumpsim.forecast.summary import TherapySummary

__all__ = ["DOCUMENTS", "generate", "main"]

Object = dict[str, Any]
Version = Literal[1]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Version = SCHEMA_VERSION


class CheckDocument(TherapySummary):
    """One line of ``pumpsim check --json``: the therapy summary, ``as_of`` and overdue."""

    schema_version: Version = SCHEMA_VERSION
    as_of: str
    overdue_since: str | None


class EventTimes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nominal: str | None
    p05: str | None
    p50: str | None
    p95: str | None


class ForecastDocument(_Document):
    """One line of ``pumpsim forecast --json`` (one patient); the ``delivery_factor_*``,
    ``refill_sheet`` and ``refill_visits`` fields only with ``--refills``."""

    patient_id: str
    as_of: str | None
    calculated_volume_ml: float
    low_reservoir_alarm: EventTimes | None
    empty_reservoir: EventTimes | None
    actual_dry: EventTimes | None
    actual_dry_best_case: str | None
    actual_dry_worst_case: str | None
    programmer_lra: str | None
    prometra_next_refill: str | None
    drug_stability_limit: str | None
    elective_replacement: str | None
    refill_by: str
    earliest_refill: str
    limiting_factor: str
    overdue: bool
    overdue_since: str | None
    recommendation: str
    risk: float
    runs: int
    seed: int | None
    delivery_factor_mean: float
    ptm_granted_per_day: float
    cycle_start: str | None
    planned_refill: str | None
    risk_before_planned_refill: float | None
    timeline_not_applied: list[str]
    delivery_factor_interval: tuple[float, float] | None = None
    delivery_factor_interval_level: float | None = None
    delivery_factor_sd: float | None = None
    delivery_factor_visits: int | None = None
    refill_sheet: str | None = None
    refill_visits: list[Object] | None = None


class ProgramSide(BaseModel):
    model_config = ConfigDict(extra="forbid")

    drugs: list[Object]
    program: Object
    daily_volume_ml_per_day: float
    ptm_max_ml_per_day: float
    low_reservoir_alarm: str | None
    refill_by: str
    limiting_factor: str
    stability_limit: str | None
    elective_replacement: str | None


class ProgramDocument(_Document):
    """``pumpsim program --json``: old and new side by side."""

    patient_id: str
    at: str
    old: ProgramSide
    new: ProgramSide
    bolus: Object | None
    fill_ml: float | None
    rounded: list[str]
    warnings: list[str]
    timeline_entries: list[Object]


class Samples(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_days: float
    day: list[float]
    calculated_ml: list[float]
    actual_ml: list[float]


class SimulateDocument(_Document):
    """``pumpsim simulate --json`` and ``Trace.to_json``: the whole trace."""

    patient_id: str
    origin: str
    end_day: float
    seed: int | None
    delivery_factor: float
    drug_units: dict[str, str]
    alarms: list[Object]
    refills: list[Object]
    fills: list[Object]
    events: list[Object]
    ptm_presses: list[Object]
    daily: list[Object]
    samples: Samples


class ScenarioDocument(_Document):
    """``pumpsim scenario run --json``: answers and a summary of the run."""

    scenario: str
    title: str
    source: str
    days: float
    seed: int | None
    answers: list[Object]
    alarms: list[Object]
    refills: list[Object]
    daily: list[Object]
    no_therapy_hours: float
    costs: Object | None


class CohortTallyDocument(BaseModel):
    """The merged integer tally of a cohort run (``pumpsim.population.outcome.CohortTally``)."""

    model_config = ConfigDict(extra="forbid")

    months: int
    patients: int
    monthly: dict[str, list[int]]
    events: dict[str, list[int]]
    patient_sum: dict[str, int]
    patient_sumsq: dict[str, int]
    patient_cross: dict[str, int]
    refill_burden_edges: list[float]
    refill_burden: list[int]


class CohortDocument(_Document):
    """``pumpsim cohort run --json``: the cohort, its outcomes with 95 % intervals, the economics
    (``null`` without ``--costs``) and the raw tally; nothing about workers or scheduler, so it
    is byte-identical however the run was spread."""

    cohort: str
    indication: str
    seed: int
    patients: int
    years: float
    months: int
    outcomes: Object
    costs: str | None
    economics: Object | None
    tally: CohortTallyDocument


DOCUMENTS: dict[str, type[BaseModel]] = {
    "check": CheckDocument,
    "forecast": ForecastDocument,
    "program": ProgramDocument,
    "simulate": SimulateDocument,
    "scenario": ScenarioDocument,
    "plan": Plan,
    "cohort": CohortDocument,
}


def generate() -> dict[str, str]:
    """Each document's JSON Schema as the text ``make schemas`` publishes."""
    out: dict[str, str] = {}
    for name, model in DOCUMENTS.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://pumpsim.invalid/schemas/{name}-v{SCHEMA_VERSION}.json",
            **model.model_json_schema(mode="serialization"),
        }
        out[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    """Write every schema to ``DIR/NAME.json`` (default ``docs/schemas``)."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "docs/schemas")
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
