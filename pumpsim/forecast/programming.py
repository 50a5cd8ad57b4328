"""The programming session: a new prescription in clinical terms, the program it becomes, the
bridge or priming bolus it needs, its dose-limit check, and old against new side by side.

A clinician programmer (SynchroMed A810, the Prometra programmer) works in doses: "raise the
dose 10 % and switch to 20 mg/mL at this refill". ``programming_session`` answers as the
programmer would, as a simulation (``work_out_change`` alone gives the change without the
forecasts of the last point):

* **the new program** in the pump's terms: the program's shape (flex steps, weekday steps,
  periodic boluses) scaled to the new daily dose at the new concentration, every rate rounded
  to the pump's rate resolution and checked against its minimum and maximum rate;
* **the bridge bolus** when the concentration changes at a refill: the old fluid between the
  reservoir and the catheter tip (the dead volume: pump tubing + catheter) is pushed out at the
  old program's rate, so the old dose continues until the new fluid reaches the tip: volume =
  the dead volume, duration = that volume at the old mean rate. For a new system (``prime``) a
  priming bolus fills the empty dead volume at the pump's maximum bolus rate instead;
* **the PTM bolus** keeps its dose when the concentration changes (its volume is rescaled), the
  classic error being a doubled PTM dose after doubling the concentration;
* **the dose-limit check** of the new prescription (``schedule.limits``: soft limits warn, hard
  limits stop with ``DoseLimitError``);
* **old vs new**: daily dose and volume, PTM maximum, low-reservoir-alarm date, refill-by date,
  stability limit and ERI, each from its one home (``forecast``, ``stability_limit``, …).

The change becomes a timeline entry (a refill with drugs, program and bridge bolus, or a
reprogram), which ``pumpsim.io.writer`` can add to the profile so that ``forecast``, ``plan`` and
``simulate`` use it. Sources of each computation: docs/programming.md.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any, Literal

from pumpsim.core.clock import PUMP_TIME_EXAMPLE, parse_pump_time, to_datetime, to_days
from pumpsim.core.errors import Problem, ProfileError, SimulationError
from pumpsim.core.units import (
    DURATION,
    MASS,
    MASS_RATE,
    VOLUME,
    UnitParseError,
    mass_in_unit,
    parse_quantity,
)
from pumpsim.forecast.course import course_at, refilled_state
from pumpsim.forecast.deterministic import (
    battery_used_at,
    elective_replacement_day,
    stability_limit,
    when,
)
from pumpsim.forecast.probabilistic import Forecast, forecast
from pumpsim.io._cells import parse_drugs
from pumpsim.io.profiles import infusate_from_list, load_program
from pumpsim.io.writer import entry_to_file, program_to_file
from pumpsim.models import (
    FlexStep,
    FrozenModel,
    Infusate,
    PeriodicBolus,
    Program,
    PtmSettings,
    PumpSpec,
    PumpState,
    Therapy,
)
from pumpsim.models.timeline import (
    Intervention,
    PrimingBolus,
    PtmChange,
    Refill,
    Reprogram,
    Timeline,
)
from pumpsim.schedule.limits import DoseWarning, enforce_dose_limits
from pumpsim.schedule.ptm import ptm_max_ml_per_day
from pumpsim.schedule.segments import bridge_days, mean_daily_volume_ml, programmed_volume_ml

__all__ = [
    "Bolus",
    "ChangeText",
    "ProgramChange",
    "Session",
    "Side",
    "parse_change",
    "programming_session",
    "WorkedChange",
    "therapy_at",
    "work_out_change",
]


class ProgramChange(FrozenModel):
    """What the clinician asks for, in internal units (mg/day, mL, mL/day, days).

    ``daily_dose_mg`` (the primary drug's new daily dose) or ``titrate`` (a fraction: +0.10
    raises the dose 10 %) set the dose; without either the dose stays. ``infusate`` is the new
    fluid (needs ``fill_ml``: a concentration changes only at a refill). ``program`` replaces the
    program's shape (scaled to the dose when a dose is asked for, used as given otherwise).
    ``ptm`` replaces the PTM settings; ``ptm_off`` removes the PTM. ``prime``: a new system whose
    dead volume is empty (a priming bolus instead of a bridge bolus)."""

    at: dt.datetime | None = None
    daily_dose_mg: float | None = None
    titrate: float | None = None
    infusate: Infusate | None = None
    program: Program | None = None
    ptm: PtmSettings | None = None
    ptm_off: bool = False
    fill_ml: float | None = None
    prime: bool = False


class Bolus(FrozenModel):
    """The bridge or priming bolus the change needs (mL, days, mL/day)."""

    kind: Literal["bridge", "priming"]
    volume_ml: float
    duration_days: float
    rate_ml_per_day: float
    reason: str


class Side(FrozenModel):
    """One column of the old-vs-new table (doses in mg/day, the internal unit)."""

    program: Program
    infusate: Infusate
    ptm: PtmSettings | None
    daily_volume_ml: float
    daily_dose_mg: dict[str, float]
    ptm_max_ml_per_day: float
    ptm_max_dose_mg: dict[str, float]
    low_reservoir_alarm: dt.datetime | None
    refill_by: dt.date
    limiting_factor: str
    stability_limit: dt.datetime
    elective_replacement: dt.datetime | None


class Session(FrozenModel):
    """The answer of a programming session (see the module docstring)."""

    patient_id: str
    at: dt.datetime
    old: Side
    new: Side
    bolus: Bolus | None
    fill_ml: float | None
    rounded: tuple[str, ...]
    """What the rate resolution changed, in words."""
    warnings: tuple[DoseWarning, ...]
    entries: tuple[Intervention, ...]
    """The change as timeline entries, in order (for ``io.writer``)."""

    def to_json_dict(self) -> dict[str, Any]:
        """Old and new side by side, the bolus, the warnings and the timeline entries as a
        profile writes them; doses in each drug's own unit, named in the field."""
        return {
            "patient_id": self.patient_id,
            "at": self.at.isoformat(timespec="seconds"),
            "old": _side_json(self.old),
            "new": _side_json(self.new),
            "bolus": None if self.bolus is None else self.bolus.model_dump(mode="json"),
            "fill_ml": self.fill_ml,
            "rounded": list(self.rounded),
            "warnings": [w.message for w in self.warnings],
            "timeline_entries": [entry_to_file(e) for e in self.entries],
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _side_json(side: Side) -> dict[str, Any]:
    drugs = []
    for d in side.infusate.drugs:
        u = d.mass_unit
        drugs.append(
            {
                "name": d.name,
                "mass_unit": u,
                f"concentration_{u}_per_ml": round(mass_in_unit(d.concentration_mg_per_ml, u), 9),
                f"daily_dose_{u}_per_day": round(mass_in_unit(side.daily_dose_mg[d.name], u), 9),
                f"ptm_max_dose_{u}_per_day": round(
                    mass_in_unit(side.ptm_max_dose_mg[d.name], u), 9
                ),
            }
        )
    return {
        "drugs": drugs,
        "program": program_to_file(side.program),
        "daily_volume_ml_per_day": round(side.daily_volume_ml, 9),
        "ptm_max_ml_per_day": round(side.ptm_max_ml_per_day, 9),
        "low_reservoir_alarm": _iso(side.low_reservoir_alarm),
        "refill_by": side.refill_by.isoformat(),
        "limiting_factor": side.limiting_factor,
        "stability_limit": _iso(side.stability_limit),
        "elective_replacement": _iso(side.elective_replacement),
    }


# ---------------------------------------------------------------- the request in clinical words
class ChangeText(FrozenModel):
    """A change as a clinician writes it (the ``pumpsim program`` options, a scenario's
    ``session:``): ``dose`` "5.5 mg/day", ``titrate`` "+10%", ``drugs`` "morphine 20 mg/mL"
    (mixtures joined with '+'), ``fill`` "20 mL", ``at`` a pump time, ``ptm_bolus`` a dose or a
    volume, ``ptm_lockout`` "3 h", ``ptm_max`` a count."""

    at: str | None = None
    dose: str | None = None
    titrate: str | None = None
    drugs: str | None = None
    fill: str | None = None
    ptm_bolus: str | None = None
    ptm_lockout: str | None = None
    ptm_max: int | None = None
    no_ptm: bool = False
    prime: bool = False
    program_file: str | None = None
    """A YAML file with the new program's shape (profile syntax; dose rates at the new
    concentration): used as given, or scaled to ``dose``/``titrate`` when one is asked for."""


_PERCENT = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")


def parse_change(
    text: ChangeText, therapy: Therapy, source: str, *, as_options: bool = False
) -> ProgramChange:
    """``text`` read into a ``ProgramChange`` for ``therapy``; every bad value at once, as a
    ``ProfileError`` naming the field (``--ptm-bolus`` style with ``as_options``), the value as
    written and what is allowed."""
    problems: list[Problem] = []
    if text.dose is not None and text.titrate is not None:
        problems.append(Problem("dose", text.dose, "a dose or a titration, not both"))
    at = _parsed(problems, "at", text.at, parse_pump_time, f"a pump time like {PUMP_TIME_EXAMPLE}")
    dose = _parsed(
        problems,
        "dose",
        text.dose,
        lambda v: parse_quantity(v, MASS_RATE),
        "a dose rate like '5.5 mg/day'",
    )
    fill = _parsed(
        problems, "fill", text.fill, lambda v: parse_quantity(v, VOLUME), "a volume like '20 mL'"
    )
    titrate = _parsed(
        problems, "titrate", text.titrate, _percent, "a change from -90% to +100%, e.g. '+10%'"
    )
    infusate = _parsed(
        problems,
        "drugs",
        text.drugs,
        lambda v: _infusate(v, source),
        "drugs like 'morphine 20 mg/mL'",
    )
    concentration = (infusate or therapy.infusate).primary.concentration_mg_per_ml
    program = _parsed(
        problems, "program_file", text.program_file,
        lambda v: load_program(v, concentration), "a YAML file with a program",
    )  # fmt: skip
    change = ProgramChange(
        at=at, daily_dose_mg=dose, titrate=titrate, infusate=infusate, fill_ml=fill,
        prime=text.prime, ptm_off=text.no_ptm, program=program,
    )  # fmt: skip
    ptm = _ptm_change(text, therapy, infusate or therapy.infusate, problems)
    if problems:
        if as_options:
            problems = [Problem(_option(p.field), p.value, p.allowed) for p in problems]
        raise ProfileError(source, problems)
    return change.model_copy(update={"ptm": ptm})


def _option(field: str) -> str:
    name, sep, rest = field.partition(":")
    return f"--{name.replace('_', '-')}{sep}{rest}"


def _parsed(
    problems: list[Problem], field: str, value: str | None, read: Callable[[str], Any], allowed: str
) -> Any:
    if value is None:
        return None
    try:
        return read(value)
    except ProfileError as exc:
        problems.extend(Problem(f"{field}: {p.field}", p.value, p.allowed) for p in exc.problems)
    except ValueError as exc:
        problems.append(Problem(field, value, f"{allowed} ({exc})" if str(exc) else allowed))
    return None


def _percent(value: str) -> float:
    match = _PERCENT.match(value)
    if not match or not -90 <= float(match.group(1)) <= 100:
        raise ValueError("")
    return float(match.group(1)) / 100


def _infusate(value: str, source: str) -> Infusate:
    return infusate_from_list(parse_drugs(value), source, field="drugs")


def _ptm_change(
    text: ChangeText, therapy: Therapy, infusate: Infusate, problems: list[Problem]
) -> PtmSettings | None:
    """New PTM settings from the text (the rest as in the therapy); ``None`` if none given."""
    if text.ptm_bolus is None and text.ptm_lockout is None and text.ptm_max is None:
        return None
    if therapy.ptm is None:
        problems.append(Problem("ptm", "(none)", "a profile with PTM settings to change"))
        return None
    update: dict[str, Any] = {}
    bolus = _parsed(
        problems,
        "ptm_bolus",
        text.ptm_bolus,
        lambda v: _bolus_ml(v, infusate),
        "a volume or a dose, e.g. '0.02 mL' or '0.2 mg'",
    )
    if bolus is not None:
        update["bolus_volume_ml"] = bolus
    lockout = _parsed(
        problems,
        "ptm_lockout",
        text.ptm_lockout,
        lambda v: parse_quantity(v, DURATION),
        "a duration like '3 h'",
    )
    if lockout is not None:
        update["lockout_days"] = lockout
    if text.ptm_max is not None:
        update["max_per_day"] = text.ptm_max
    try:
        return PtmSettings.model_validate({**therapy.ptm.model_dump(), **update})
    except ValueError as exc:
        problems.append(Problem("ptm", str(update), str(exc).splitlines()[-1].strip()))
        return None


def _bolus_ml(value: str, infusate: Infusate) -> float:
    """A PTM bolus written as a volume or as a dose of the primary drug (mL)."""
    try:
        return parse_quantity(value, VOLUME)
    except UnitParseError:
        return parse_quantity(value, MASS) / infusate.primary.concentration_mg_per_ml


# ---------------------------------------------------------------- the session
class WorkedChange(FrozenModel):
    """A change worked out in the pump's terms, before any forecast: what a scenario needs to
    put the change in its timeline, and what ``programming_session`` compares."""

    patient_id: str
    at: dt.datetime
    old: Therapy
    """The therapy as it stands at ``at`` (``therapy_at``)."""
    new: Therapy
    """The therapy right after the change (during a bridge bolus: still the old program)."""
    bridge: Timeline | None
    """The switch to the new program once the bridge bolus has pushed the old fluid out."""
    program: Program
    """The new program in the pump's terms (rates rounded to its resolution)."""
    bolus: Bolus | None
    fill_ml: float | None
    rounded: tuple[str, ...]
    warnings: tuple[DoseWarning, ...]
    entries: tuple[Intervention, ...]


def work_out_change(
    therapy: Therapy, change: ProgramChange, *, timeline: Timeline | None = None
) -> WorkedChange:
    """Work out ``change`` for ``therapy`` (and its ``timeline``) at ``change.at`` (default: the
    state time): the new program, PTM settings, bolus and timeline entries, no forecast. Raises
    ``DoseLimitError`` above a hard limit, ``SimulationError`` for a change the pump cannot
    run."""
    at = change.at or therapy.state.time
    old = therapy_at(therapy, timeline, at)
    if change.infusate is not None and change.fill_ml is None:
        raise SimulationError("a new concentration or drug needs a refill: give the fill volume")
    infusate = change.infusate or old.infusate
    program, rounded = _new_program(old, infusate, change)
    ptm = _new_ptm(old, infusate, change)
    bolus = _bolus(old, infusate, change)
    new_therapy, bridge = _after_change(old, infusate, program, ptm, bolus, change, at)
    warnings = enforce_dose_limits(
        new_therapy.model_copy(update={"program": program}), source=therapy.patient_id
    )
    return WorkedChange(
        patient_id=therapy.patient_id,
        at=at,
        old=old,
        new=new_therapy,
        bridge=bridge,
        program=program,
        bolus=bolus,
        fill_ml=change.fill_ml,
        rounded=rounded,
        warnings=warnings,
        entries=_entries(at, infusate, program, ptm, old, change, bolus),
    )


def programming_session(
    therapy: Therapy,
    change: ProgramChange,
    *,
    timeline: Timeline | None = None,
    runs: int = 2000,
    seed: int = 0,
) -> Session:
    """``work_out_change``, then old against new: each side's dates from its own forecast of
    ``runs`` runs. Raises as ``work_out_change`` does."""
    worked = work_out_change(therapy, change, timeline=timeline)
    return Session(
        patient_id=worked.patient_id,
        at=worked.at,
        old=_side(worked.old, None, runs, seed),
        new=_side(worked.new, worked.bridge, runs, seed, program=worked.program),
        bolus=worked.bolus,
        fill_ml=worked.fill_ml,
        rounded=worked.rounded,
        warnings=worked.warnings,
        entries=worked.entries,
    )


def therapy_at(therapy: Therapy, timeline: Timeline | None, at: dt.datetime) -> Therapy:
    """The therapy as it stands at ``at``: the cycle running then (``forecast.course``), the
    program in force, the calculated and actual volume after the programmed delivery since the
    cycle began, the battery used by then; its stability clock stays the cycle's fill."""
    if at < therapy.state.time:
        raise SimulationError(
            f"at: got {at.isoformat()}; allowed: not before the pump state "
            f"{therapy.state.time.isoformat()}"
        )
    cycle = course_at(therapy, timeline, at)
    start = cycle.therapy
    day = to_days(start.state.time, at)
    programs = [p for d, p in cycle.course.programs if d <= day]
    pumped = programmed_volume_ml(start, day, course=cycle.course)
    factor = start.delivery_factor or 1.0
    state = PumpState(
        time=at,
        calculated_volume_ml=max(start.state.calculated_volume_ml - pumped, 0.0),
        actual_volume_ml=max(start.state.true_volume_ml - factor * pumped, 0.0),
        filled_at=start.state.fill_time,
        first_fill=start.state.first_fill,
        battery_used=battery_used_at(start, at),
    )
    program = programs[-1] if programs else start.program
    return start.model_copy(update={"state": state, "program": program})


# ---------------------------------------------------------------- the new program
def _new_program(
    old: Therapy, infusate: Infusate, change: ProgramChange
) -> tuple[Program, tuple[str, ...]]:
    """The program that gives the asked dose at the new concentration, in the pump's terms."""
    shape = change.program or old.program
    asked = change.daily_dose_mg is not None or change.titrate is not None
    if change.program is not None and not asked:
        target_ml = mean_daily_volume_ml(shape)
    else:
        target_ml = _dose_mg(old, change) / infusate.primary.concentration_mg_per_ml
    base_ml = mean_daily_volume_ml(shape)
    if base_ml <= 0 and target_ml > 0:
        raise SimulationError("the program delivers nothing; give a program shape with rates")
    scale = target_ml / base_ml if base_ml > 0 else 0.0
    notes: list[str] = []
    program = _scaled(shape, scale, old.pump, notes)
    return program, tuple(notes)


def _dose_mg(old: Therapy, change: ProgramChange) -> float:
    """The primary drug's new daily dose (mg/day)."""
    if change.daily_dose_mg is not None:
        return change.daily_dose_mg
    now = mean_daily_volume_ml(old.program) * old.infusate.primary.concentration_mg_per_ml
    return now * (1.0 + (change.titrate or 0.0))


def _scaled(program: Program, scale: float, pump: PumpSpec, notes: list[str]) -> Program:
    """``program`` with every rate and periodic-bolus volume times ``scale``, rates in the
    pump's terms."""

    def steps(items: tuple[FlexStep, ...]) -> tuple[FlexStep, ...]:
        return tuple(
            FlexStep(
                start_minute=s.start_minute,
                rate_ml_per_day=_rate(s.rate_ml_per_day * scale, pump, notes),
            )
            for s in items
        )

    boluses = tuple(
        PeriodicBolus(
            start_minute=b.start_minute,
            every_days=b.every_days,
            volume_ml=b.volume_ml * scale,
            duration_days=b.duration_days,
        )
        for b in program.periodic_boluses
    )
    if program.mode == "simple":
        assert program.rate_ml_per_day is not None
        rate = _rate(program.rate_ml_per_day * scale, pump, notes)
        return Program(mode="simple", rate_ml_per_day=rate, periodic_boluses=boluses)
    weekly = {day: steps(items) for day, items in program.weekly.items()}
    return Program(mode="flex", steps=steps(program.steps), weekly=weekly, periodic_boluses=boluses)


def _rate(rate_ml_per_day: float, pump: PumpSpec, notes: list[str]) -> float:
    """A rate rounded to the pump's resolution; ``SimulationError`` outside its range (0 is
    'off' and always allowed)."""
    resolution = pump.rate_resolution_ml_per_day
    rounded = (
        round(rate_ml_per_day / resolution) * resolution if resolution > 0 else rate_ml_per_day
    )
    if resolution > 0 and abs(rounded - rate_ml_per_day) > 1e-12:
        notes.append(
            f"{rate_ml_per_day:.6g} mL/day rounded to {rounded:.6g} mL/day "
            f"(the pump's resolution is {resolution:g} mL/day)"
        )
    if rounded == 0:
        return 0.0
    if not pump.min_rate_ml_per_day <= rounded <= pump.max_rate_ml_per_day:
        raise SimulationError(
            f"the new rate {rounded:.6g} mL/day is outside what {pump.name} can run "
            f"({pump.min_rate_ml_per_day:g} to {pump.max_rate_ml_per_day:g} mL/day); "
            "choose another concentration"
        )
    return rounded


def _new_ptm(old: Therapy, infusate: Infusate, change: ProgramChange) -> PtmSettings | None:
    """The PTM after the change: as asked, or the old settings with the bolus volume rescaled so
    that the bolus dose stays the same at the new concentration."""
    if change.ptm_off:
        return None
    if change.ptm is not None:
        return change.ptm
    if old.ptm is None:
        return None
    ratio = old.infusate.primary.concentration_mg_per_ml / infusate.primary.concentration_mg_per_ml
    return old.ptm.model_copy(update={"bolus_volume_ml": old.ptm.bolus_volume_ml * ratio})


def _bolus(old: Therapy, infusate: Infusate, change: ProgramChange) -> Bolus | None:
    """The bridge bolus of a concentration change, or the priming bolus of a new system."""
    dead = old.dead_volume_ml
    if change.prime:
        rate = old.pump.max_bolus_rate_ml_per_day or old.pump.max_rate_ml_per_day
        return Bolus(
            kind="priming",
            volume_ml=dead,
            duration_days=dead / rate,
            rate_ml_per_day=rate,
            reason="a new system: the empty pump tubing and catheter are filled first",
        )
    if change.fill_ml is None or infusate.concentrations() == old.infusate.concentrations():
        return None
    days = bridge_days(old.program, old.state.time, dead)
    if not math.isfinite(days) or days <= 0:
        return None
    return Bolus(
        kind="bridge",
        volume_ml=dead,
        duration_days=days,
        rate_ml_per_day=dead / days,
        reason="the old fluid in pump tubing and catheter is pushed out at the old program's "
        "rate, so the old dose continues until the new fluid reaches the catheter tip",
    )


# ---------------------------------------------------------------- after the change
def _after_change(
    old: Therapy,
    infusate: Infusate,
    program: Program,
    ptm: PtmSettings | None,
    bolus: Bolus | None,
    change: ProgramChange,
    at: dt.datetime,
) -> tuple[Therapy, Timeline | None]:
    """The therapy right after the change, and the bridge as a timeline (the old program runs
    until the dead volume is pushed out, then the new one)."""
    update: dict[str, Any] = {"ptm": ptm, "program": program}
    if ptm is None:
        update["demand"] = None
    if change.fill_ml is not None:
        update["infusate"] = infusate
        update["state"] = refilled_state(
            old, at, change.fill_ml, first_fill=change.prime, battery_used=old.state.battery_used
        )
    new = old.model_copy(update=update)
    if bolus is None or bolus.kind != "bridge":
        return new, None
    bridged = new.model_copy(update={"program": old.program})
    switch = Reprogram(at=to_datetime(at, bolus.duration_days), program=program)
    return bridged, Timeline(entries=(switch,))


def _entries(
    at: dt.datetime,
    infusate: Infusate,
    program: Program,
    ptm: PtmSettings | None,
    old: Therapy,
    change: ProgramChange,
    bolus: Bolus | None,
) -> tuple[Intervention, ...]:
    """The change as the timeline entries a profile carries."""
    out: list[Intervention] = []
    if change.fill_ml is not None:
        out.append(
            Refill(
                at=at,
                fill_ml=change.fill_ml,
                infusate=infusate if change.infusate is not None else None,
                program=program,
                bridge_bolus=bolus is not None and bolus.kind == "bridge",
            )
        )
    else:
        out.append(Reprogram(at=at, program=program))
    if bolus is not None and bolus.kind == "priming":
        out.append(PrimingBolus(at=at, new_catheter=True))
    if ptm != old.ptm:
        out.append(PtmChange(at=at, ptm=ptm))
    return tuple(out)


def _side(
    therapy: Therapy,
    plan: Timeline | None,
    runs: int,
    seed: int,
    *,
    program: Program | None = None,
) -> Side:
    """One column: the prescription ``program`` (default: the therapy's) and the dates of the
    therapy (with the bridge ``plan``) from the one forecast."""
    program = program or therapy.program
    f: Forecast = forecast(therapy, timeline=plan, runs=runs, seed=seed, keep_samples=False)
    volume = mean_daily_volume_ml(program)
    ptm_ml = ptm_max_ml_per_day(therapy.ptm)
    drugs = therapy.infusate.drugs
    return Side(
        program=program,
        infusate=therapy.infusate,
        ptm=therapy.ptm,
        daily_volume_ml=volume,
        daily_dose_mg={d.name: volume * d.concentration_mg_per_ml for d in drugs},
        ptm_max_ml_per_day=ptm_ml,
        ptm_max_dose_mg={d.name: ptm_ml * d.concentration_mg_per_ml for d in drugs},
        low_reservoir_alarm=f.deterministic.programmer_lra,
        refill_by=f.refill_by,
        limiting_factor=f.limiting_factor,
        stability_limit=stability_limit(therapy),
        elective_replacement=when(
            therapy, elective_replacement_day(therapy.model_copy(update={"program": program}))
        ),
    )
