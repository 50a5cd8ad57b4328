"""Teaching scenarios: a therapy, a dated timeline of interventions and faults, and questions
whose answers are computed from the simulated run — never written by hand.

A scenario file (``profiles/scenarios/NAME.yaml``)::

    title: "Missed refill"
    summary: "..."                         # one paragraph, no numbers (they come from the run)
    objectives: ["...", "..."]             # what the student should be able to explain
    watch: ["...", "..."]                  # what to look at in the plots
    source: "Bolash et al. ..."            # the clinical source the case is built on
    days: "60 day"                         # simulated length
    seed: 0                                # PTM presses are random; same seed, same run
    profile_ref: ../patients/x.yaml        # a patient profile (relative to this file, or to
                                           # profiles/) ...
    profile: {...}                         # ... and/or an inline profile; its top-level keys
                                           # replace those of profile_ref
    timeline: [...]                        # interventions (replaces a profile's timeline)
    questions:
      - ask: "On which day does the low-reservoir alarm sound?"
        answer: "first_alarm_day('low_reservoir')"   # pumpsim.teaching.questions grammar
        unit: "day"
        format: ".2f"                      # Python format spec (strftime for date-times)
        explain: "..."                     # optional, shown with the answer
    costs: {...}                           # optional pumpsim.teaching.costs.CostModel parameters

Every problem in a file is reported at once with its field path (``questions[2].answer``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from pumpsim.core.errors import Problem, ProfileError, PumpsimError
from pumpsim.core.units import DURATION, parse_quantity
from pumpsim.core.yamlio import read_yaml
from pumpsim.engine import Trace, simulate
from pumpsim.engine.simulate import MAX_DAYS
from pumpsim.forecast.programming import ChangeText, WorkedChange, parse_change, work_out_change
from pumpsim.io.profiles import Profile, default_catalog_dir, profile_from_dict
from pumpsim.models import FrozenModel
from pumpsim.models.timeline import Refill, ordered
from pumpsim.teaching.costs import CostCurves, CostModel, cost_curves
from pumpsim.teaching.questions import (
    ExpressionError,
    TraceQueries,
    Value,
    check_expression,
    evaluate,
)

__all__ = [
    "Answer",
    "Question",
    "Scenario",
    "ScenarioResult",
    "format_value",
    "list_scenarios",
    "load_scenario",
    "run_scenario",
    "scenario_dir",
]


class Question(FrozenModel):
    """A question and the expression that answers it from the run."""

    ask: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    unit: str = ""
    format: str = ""
    explain: str = ""


class _Session(ChangeText):
    """A programming session in a scenario: the change as a clinician writes it, worked out by
    ``pumpsim.forecast.programming`` and added to the timeline. ``bridge_bolus: false`` runs the
    same change without the bridge bolus (to show the under-dose it prevents)."""

    bridge_bolus: bool = True


class _ScenarioFile(FrozenModel):
    title: str = Field(min_length=1, max_length=120)
    summary: str = Field(min_length=1)
    objectives: Annotated[list[str], Field(min_length=1)]
    watch: list[str] = []
    source: str = Field(min_length=1)
    days: str
    seed: Annotated[int, Field(ge=0)] = 0
    sample_every: str = "1 h"
    profile: dict[str, Any] | None = None
    profile_ref: str | None = None
    timeline: list[Any] | None = None
    questions: Annotated[list[Question], Field(min_length=1)]
    costs: CostModel | None = None
    session: _Session | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: metadata, the profile (therapy + timeline) and the questions."""

    name: str
    path: Path
    title: str
    summary: str
    objectives: tuple[str, ...]
    watch: tuple[str, ...]
    source: str
    days: float
    seed: int
    sample_every_days: float
    profile: Profile
    questions: tuple[Question, ...]
    costs: CostModel | None
    session: WorkedChange | None = None
    """The programming session the scenario walks through, if it has one: the change worked
    out (no forecast of its own: the scenario's run is the simulation)."""


@dataclass(frozen=True)
class Answer:
    """A question with its value from the run and the value as text (with unit)."""

    ask: str
    expression: str
    value: Value
    text: str
    unit: str
    explain: str


@dataclass(frozen=True)
class ScenarioResult:
    """One run of a scenario: the trace, the answers and (if the scenario has costs) the curves."""

    scenario: Scenario
    seed: int
    trace: Trace
    answers: tuple[Answer, ...]
    costs: CostCurves | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary: answers, alarms, refills, daily doses, costs."""
        trace = self.trace.to_dict()
        return {
            "scenario": self.scenario.name,
            "title": self.scenario.title,
            "source": self.scenario.source,
            "days": self.scenario.days,
            "seed": self.seed,
            "answers": [
                {
                    "ask": a.ask,
                    "expression": a.expression,
                    "value": a.value.isoformat() if isinstance(a.value, dt.datetime) else a.value,
                    "text": a.text,
                    "unit": a.unit,
                }
                for a in self.answers
            ],
            "alarms": trace["alarms"],
            "refills": trace["refills"],
            "daily": trace["daily"],
            "no_therapy_hours": 24 * self.trace.no_therapy_days(),
            "costs": self.costs.to_dict() if self.costs else None,
        }


def scenario_dir() -> Path:
    """The folder of scenarios: ``scenarios/`` of the catalog folder in effect
    (``default_catalog_dir``: ``$PUMPSIM_CATALOG`` if set, else the data shipped with pumpsim)."""
    return default_catalog_dir() / "scenarios"


def list_scenarios(directory: Path | None = None) -> list[Scenario]:
    """Load every ``*.yaml`` scenario in ``directory`` (default: the shipped ones), by name."""
    directory = directory or scenario_dir()
    return [load_scenario(p) for p in sorted(directory.glob("*.yaml"), key=lambda p: p.stem)]


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A shipped scenario name (``missed-refill``) or a path to a scenario file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ProfileError(
                str(candidate), [Problem("(file)", str(candidate), "an existing file")]
            )
        return candidate
    path = scenario_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(scenario_dir().glob("*.yaml")))
        raise ProfileError(str(name_or_path), [Problem("scenario", str(name_or_path), names)])
    return path


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario; every problem is reported at once (``ProfileError``)."""
    path = resolve_scenario_path(name_or_path)
    source = str(path)
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ProfileError(source, [Problem("(top level)", type(data).__name__, "a mapping")])
    try:
        meta = _ScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(source, _problems(exc)) from None
    problems: list[Problem] = []
    days = _duration(meta.days, "days", problems, upper=MAX_DAYS)
    sample_days = _duration(meta.sample_every, "sample_every", problems, upper=30)
    for i, q in enumerate(meta.questions):
        try:
            check_expression(q.answer)
        except ExpressionError as exc:
            problems.append(Problem(f"questions[{i}].answer", q.answer, str(exc)))
        if q.format:
            try:
                sample: Value = dt.datetime(2026, 1, 1) if "%" in q.format else 1.5
                format_value(sample, q.format)
            except (ValueError, TypeError):
                problems.append(Problem(f"questions[{i}].format", q.format, "a format like '.2f'"))
    if meta.profile is None and meta.profile_ref is None:
        problems.append(Problem("profile", "(missing)", "a profile mapping or profile_ref: path"))
    if problems:
        raise ProfileError(source, problems)
    profile = _profile(meta, path)
    session = None
    if meta.session is not None:
        profile, session = _with_session(profile, meta.session, source)
    if meta.costs is not None and days + 1e-9 < meta.costs.months * 365.25 / 12:
        raise ProfileError(
            source,
            [Problem("days", meta.days, f"at least {meta.costs.months} months for costs.months")],
        )
    return Scenario(
        name=path.stem,
        path=path,
        title=meta.title,
        summary=meta.summary.strip(),
        objectives=tuple(meta.objectives),
        watch=tuple(meta.watch),
        source=meta.source.strip(),
        days=days,
        seed=meta.seed,
        sample_every_days=sample_days,
        profile=profile,
        questions=tuple(meta.questions),
        costs=meta.costs,
        session=session,
    )


def _with_session(profile: Profile, text: _Session, source: str) -> tuple[Profile, WorkedChange]:
    """The profile with the session's change in its timeline (the bridge bolus left out when
    the scenario says so), and the session."""
    try:
        change = parse_change(text, profile.therapy, source)
        session = work_out_change(profile.therapy, change, timeline=profile.timeline)
    except ProfileError as exc:
        raise ProfileError(
            source, [Problem(f"session.{p.field}", p.value, p.allowed) for p in exc.problems]
        ) from None
    entries = [
        e.model_copy(update={"bridge_bolus": False})
        if isinstance(e, Refill) and not text.bridge_bolus
        else e
        for e in session.entries
    ]
    timeline = ordered([*profile.timeline.entries, *entries])
    return Profile(therapy=profile.therapy, timeline=timeline, source=profile.source), session


def _duration(text: str, field: str, problems: list[Problem], *, upper: float) -> float:
    try:
        value = parse_quantity(text, DURATION)
    except PumpsimError as exc:
        problems.append(Problem(field, text, str(exc)))
        return 1.0
    except ValueError as exc:
        problems.append(Problem(field, text, str(exc)))
        return 1.0
    if not 0 < value <= upper:
        problems.append(Problem(field, text, f"more than 0 and at most {upper:g} days"))
    return value


def _problems(exc: ValidationError) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "no such key in a scenario (see pumpsim/scenarios.py)"
        value = "(missing)" if err["type"] == "missing" else err.get("input")
        if isinstance(value, dict | list):
            value = f"[{type(value).__name__} of {len(value)}]"
        out.append(Problem(loc or "(top level)", value, msg))
    return out


def _profile(meta: _ScenarioFile, path: Path) -> Profile:
    source = str(path)
    merged: dict[str, Any] = {}
    if meta.profile_ref is not None:
        ref = _find_ref(meta.profile_ref, path)
        if ref is None:
            raise ProfileError(
                source, [Problem("profile_ref", meta.profile_ref, "a patient profile file")]
            )
        base = read_yaml(ref)
        if not isinstance(base, Mapping):
            raise ProfileError(str(ref), [Problem("(top level)", "not a mapping", "a mapping")])
        merged.update(base)
    merged.update(meta.profile or {})
    if meta.timeline is not None:
        if meta.profile is not None and "timeline" in meta.profile:
            raise ProfileError(
                source, [Problem("timeline", "given twice", "either timeline: or profile.timeline")]
            )
        merged["timeline"] = meta.timeline
    try:
        return profile_from_dict(merged, source, field="timeline")
    except ProfileError as exc:
        fixed = [
            p
            if p.field.startswith("timeline")
            else Problem(f"profile.{p.field}", p.value, p.allowed)
            for p in exc.problems
        ]
        raise ProfileError(source, fixed) from None


def _find_ref(ref: str, scenario_path: Path) -> Path | None:
    for base in (scenario_path.parent, default_catalog_dir()):
        candidate = (base / ref).resolve()
        if candidate.is_file():
            return candidate
    return None


def format_value(value: Value, spec: str = "", unit: str = "") -> str:
    """An answer as text: numbers by ``spec`` (default: 2 decimals), date-times by ``spec`` as
    strftime (default minute precision), ``None`` as 'did not happen'."""
    if value is None:
        return "did not happen in the simulated run"
    if isinstance(value, dt.datetime):
        text = value.strftime(spec or "%Y-%m-%d %H:%M")
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = format(value, spec or "d")
    elif isinstance(value, float):
        text = format(value, spec or ".2f")
    else:
        text = str(value)
    return f"{text} {unit}".strip() if unit else text


def run_scenario(name_or_path: str | Path | Scenario, seed: int | None = None) -> ScenarioResult:
    """Simulate a scenario and answer its questions from the trace (``seed`` overrides the
    file's)."""
    scenario = name_or_path if isinstance(name_or_path, Scenario) else load_scenario(name_or_path)
    use_seed = scenario.seed if seed is None else seed
    therapy = scenario.profile.therapy
    trace = simulate(
        therapy,
        scenario.profile.timeline,
        days=scenario.days,
        seed=use_seed,
        sample_every_days=scenario.sample_every_days,
    )
    curves = (
        cost_curves(trace, scenario.costs, therapy.state.true_volume_ml)
        if scenario.costs is not None
        else None
    )
    queries = TraceQueries(trace, therapy, curves, scenario.session)
    answers = []
    for i, q in enumerate(scenario.questions):
        try:
            value = evaluate(q.answer, queries)
        except ExpressionError as exc:
            raise ProfileError(
                str(scenario.path), [Problem(f"questions[{i}].answer", q.answer, str(exc))]
            ) from None
        answers.append(
            Answer(q.ask, q.answer, value, format_value(value, q.format, q.unit), q.unit, q.explain)
        )
    return ScenarioResult(scenario, use_seed, trace, tuple(answers), curves)
