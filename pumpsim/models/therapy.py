"""A patient's therapy: pump, fluid, catheter, program, PTM, demand, alarms and current state.

``Therapy`` checks the rules that span several parts (a rate inside the pump's range, a fill
inside the reservoir, no more flex steps than the pump allows, ...) and reports every broken rule
with its field path.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from pumpsim.core.errors import Problem
from pumpsim.models.base import FrozenModel
from pumpsim.models.catheter import Catheter
from pumpsim.models.demand import PtmDemand
from pumpsim.models.drug import Infusate
from pumpsim.models.program import WEEKDAYS, Program, PtmSettings
from pumpsim.models.pump import PumpSpec
from pumpsim.models.state import AlarmSettings, PumpState

_RATE_TOLERANCE = 1e-9


class CrossCheckError(ValueError):
    """Rules spanning several fields were broken; ``problems`` names each one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class Therapy(FrozenModel):
    """Everything needed to simulate one patient's pump from ``state`` onwards."""

    patient_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    indication: str = ""
    pump: PumpSpec
    infusate: Infusate
    catheter: Catheter
    program: Program
    ptm: PtmSettings | None = None
    demand: PtmDemand | None = None
    alarms: AlarmSettings = AlarmSettings()
    state: PumpState
    delivery_factor: Annotated[float | None, Field(gt=0.5, lt=1.5)] = None
    """The true actual/programmed delivery ratio if known; ``None`` means draw it within the
    pump's rated accuracy (forecast) or take 1.0 (single deterministic run)."""

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems = therapy_problems(self)
        if problems:
            raise CrossCheckError(problems)
        return self

    @property
    def low_reservoir_alarm_ml(self) -> float | None:
        """The low-reservoir alarm threshold in effect (mL of calculated volume): the profile's
        setting, else the pump's default; ``None`` for a pump without the alarm."""
        if self.pump.low_reservoir_alarm is None:
            return None
        if self.alarms.low_reservoir_ml is not None:
            return self.alarms.low_reservoir_ml
        return self.pump.low_reservoir_alarm.default_ml

    @property
    def dead_volume_ml(self) -> float:
        """Pump tubing plus catheter volume between reservoir and catheter tip (mL)."""
        return self.pump.internal_dead_volume_ml + self.catheter.volume_ml


def therapy_problems(t: Therapy) -> list[Problem]:
    """Every cross-field rule ``t`` breaks, each with its field path."""
    pump = t.pump
    problems: list[Problem] = []
    lo, hi = pump.min_rate_ml_per_day, pump.max_rate_ml_per_day
    allowed_rate = f"0 (off) or {lo:g} to {hi:g} mL/day for {pump.name}"

    def check_rate(path: str, rate: float) -> None:
        if rate != 0 and not lo - _RATE_TOLERANCE <= rate <= hi + _RATE_TOLERANCE:
            problems.append(Problem(path, f"{rate:g} mL/day", allowed_rate))

    prog = t.program
    if pump.kind == "constant-flow":
        if prog.mode != "simple" or prog.periodic_boluses:
            problems.append(
                Problem("program.mode", prog.mode, "simple only: a constant-flow pump has one rate")
            )
        elif prog.rate_ml_per_day is not None and abs(prog.rate_ml_per_day - lo) > 1e-6 * lo:
            problems.append(
                Problem(
                    "program.rate",
                    f"{prog.rate_ml_per_day:g} mL/day",
                    f"the pump's fixed flow {lo:g} mL/day",
                )
            )
        if t.ptm is not None:
            problems.append(Problem("ptm", "settings", "none: a constant-flow pump has no bolus"))
    if prog.mode == "simple" and prog.rate_ml_per_day is not None and pump.kind != "constant-flow":
        check_rate("program.rate", prog.rate_ml_per_day)
    for i, step in enumerate(prog.steps):
        check_rate(f"program.steps[{i}].rate", step.rate_ml_per_day)
    for day_name, steps in prog.weekly.items():
        for i, step in enumerate(steps):
            check_rate(f"program.weekly.{day_name}[{i}].rate", step.rate_ml_per_day)
    if prog.mode == "flex":
        for day in range(7):
            n = len(prog.steps_for(day))
            if n > pump.max_flex_steps:
                where = (
                    f"program.weekly.{WEEKDAYS[day]}"
                    if WEEKDAYS[day] in prog.weekly
                    else ("program.steps")
                )
                problems.append(
                    Problem(where, f"{n} steps", f"at most {pump.max_flex_steps} for {pump.name}")
                )
                break
    max_bolus = pump.max_bolus_rate_ml_per_day
    for i, bolus in enumerate(prog.periodic_boluses):
        if max_bolus is not None and bolus.rate_ml_per_day > max_bolus * (1 + 1e-9):
            problems.append(
                Problem(
                    f"program.periodic_boluses[{i}]",
                    f"{bolus.rate_ml_per_day:g} mL/day",
                    f"a bolus rate up to {max_bolus:g} mL/day; lengthen the duration",
                )
            )
    if (
        t.ptm is not None
        and max_bolus is not None
        and t.ptm.rate_ml_per_day > max_bolus * (1 + 1e-9)
    ):
        problems.append(
            Problem(
                "ptm.duration",
                f"{t.ptm.duration_days * 1440:g} min for {t.ptm.bolus_volume_ml:g} mL",
                f"a bolus rate up to {max_bolus:g} mL/day; lengthen the duration",
            )
        )
    if t.demand is not None and t.ptm is None:
        problems.append(Problem("demand", "given", "only with ptm settings"))
    cap = pump.reservoir_ml
    if t.state.calculated_volume_ml > cap:
        problems.append(
            Problem(
                "state.calculated_volume",
                f"{t.state.calculated_volume_ml:g} mL",
                f"0 to {cap:g} mL",
            )
        )
    if t.state.actual_volume_ml is not None and t.state.actual_volume_ml > cap + 5:
        problems.append(
            Problem("state.actual_volume", f"{t.state.actual_volume_ml:g} mL", f"0 to {cap:g} mL")
        )
    if t.state.filled_at is not None and t.state.filled_at > t.state.time:
        problems.append(
            Problem("state.filled_at", t.state.filled_at.isoformat(), "not after state.time")
        )
    lra = pump.low_reservoir_alarm
    if t.alarms.low_reservoir_ml is not None:
        if lra is None:
            problems.append(Problem("alarms.low_reservoir", "set", f"none for {pump.name}"))
        elif not lra.min_ml <= t.alarms.low_reservoir_ml <= lra.max_ml:
            problems.append(
                Problem(
                    "alarms.low_reservoir",
                    f"{t.alarms.low_reservoir_ml:g} mL",
                    f"{lra.min_ml:g} to {lra.max_ml:g} mL for {pump.name}",
                )
            )
    if t.delivery_factor is not None:
        f_lo, f_hi = pump.delivery_factor_range
        if not f_lo - 0.1 <= t.delivery_factor <= f_hi + 0.1:
            problems.append(
                Problem(
                    "delivery_factor",
                    t.delivery_factor,
                    f"{f_lo - 0.1:.3f} to {f_hi + 0.1:.3f} (rated {f_lo:.3f}-{f_hi:.3f})",
                )
            )
    return problems
