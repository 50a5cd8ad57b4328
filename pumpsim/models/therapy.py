"""A patient's therapy: pump, fluid, catheter, program, PTM, demand, alarms and current state.

``Therapy`` checks the rules that span several parts (a rate inside the pump's range, a fill
inside the reservoir, no more flex steps than the pump allows, ...) and reports every broken rule
with its field path.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import Field, model_validator

from pumpsim.core.clock import MINUTES_PER_DAY
from pumpsim.core.errors import Problem
from pumpsim.models.base import FrozenModel
from pumpsim.models.catheter import Catheter
from pumpsim.models.demand import PtmDemand
from pumpsim.models.drug import Infusate
from pumpsim.models.program import WEEKDAYS, Program, PtmSettings
from pumpsim.models.pump import PumpSpec
from pumpsim.models.refill import DiscrepancySettings, DiscrepancyThresholds, resolve_thresholds
from pumpsim.models.state import MAX_FILL_AGE_DAYS, AlarmSettings, PumpState

_RATE_TOLERANCE = 1e-9
_MAX_FILL_AGE = dt.timedelta(days=MAX_FILL_AGE_DAYS)
MIN_RATE_ML_PER_DAY = 0.001
"""The smallest non-zero programmed rate (1 uL/day), whatever a pump override says: below it the
reservoir would last centuries."""


class CrossCheckError(ValueError):
    """Rules spanning several fields were broken; ``problems`` names each one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class DoseLimits(FrozenModel):
    """``dose_limits: {override: "teaching overdose scenario: <reason>"}`` in a profile.

    ``override`` (a reason, required) lets a therapy above a drug's hard daily limit load and run
    for teaching; every output that shows the therapy shows the reason. ``None``: hard limits
    stop (``pumpsim.schedule.limits``).
    """

    override: Annotated[str | None, Field(min_length=3, max_length=300, pattern=r"\S")] = None


class Therapy(FrozenModel):
    """Everything needed to simulate one patient's pump from ``state`` onwards."""

    patient_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    indication: str = Field(default="", max_length=500)
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
    refill_discrepancy: DiscrepancySettings | None = None
    """This patient's refill-discrepancy thresholds (``None``: the pump's, else the defaults)."""
    dose_limits: DoseLimits = DoseLimits()
    """An explicit, visible override of the drugs' hard daily limits (teaching only)."""

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
    def discrepancy_thresholds(self) -> DiscrepancyThresholds:
        """The refill-discrepancy thresholds in effect: the profile's settings, else the pump's,
        else the sourced defaults (``pumpsim.models.refill``)."""
        return resolve_thresholds(
            self.pump.reservoir_ml,
            self.pump.rated_accuracy,
            self.refill_discrepancy,
            self.pump.refill_discrepancy,
        )

    @property
    def dead_volume_ml(self) -> float:
        """Pump tubing plus catheter volume between reservoir and catheter tip (mL)."""
        return self.pump.internal_dead_volume_ml + self.catheter.volume_ml


def therapy_problems(t: Therapy) -> list[Problem]:
    """Every cross-field rule ``t`` breaks, each with its field path."""
    return [
        *_constant_flow_problems(t),
        *_rate_problems(t),
        *_flex_step_problems(t),
        *_bolus_rate_problems(t),
        *_demand_problems(t),
        *_state_problems(t),
        *_alarm_problems(t),
        *_delivery_factor_problems(t),
    ]


def _constant_flow_problems(t: Therapy) -> list[Problem]:
    """A constant-flow pump: a simple program at the pump's fixed flow, no PTM."""
    pump, prog = t.pump, t.program
    if pump.kind != "constant-flow":
        return []
    problems: list[Problem] = []
    lo = pump.min_rate_ml_per_day
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
    return problems


def _rate_problems(t: Therapy) -> list[Problem]:
    """Every programmed rate (simple, flex steps, weekly steps) is off or in the pump's range."""
    pump, prog = t.pump, t.program
    rates: list[tuple[str, float]] = []
    if prog.mode == "simple" and prog.rate_ml_per_day is not None and pump.kind != "constant-flow":
        rates.append(("program.rate", prog.rate_ml_per_day))
    rates.extend((f"program.steps[{i}].rate", s.rate_ml_per_day) for i, s in enumerate(prog.steps))
    for day_name, steps in prog.weekly.items():
        rates.extend(
            (f"program.weekly.{day_name}[{i}].rate", s.rate_ml_per_day) for i, s in enumerate(steps)
        )
    lo, hi = max(pump.min_rate_ml_per_day, MIN_RATE_ML_PER_DAY), pump.max_rate_ml_per_day
    allowed = f"0 (off) or {lo:g} to {hi:g} mL/day for {pump.name}"
    return [
        Problem(path, f"{rate:g} mL/day", allowed)
        for path, rate in rates
        if rate != 0 and not lo - _RATE_TOLERANCE <= rate <= hi + _RATE_TOLERANCE
    ]


def _flex_step_problems(t: Therapy) -> list[Problem]:
    """A flex program has no day with more steps than the pump allows (the first such day)."""
    pump, prog = t.pump, t.program
    if prog.mode != "flex":
        return []
    for day in range(7):
        n = len(prog.steps_for(day))
        if n > pump.max_flex_steps:
            where = (
                f"program.weekly.{WEEKDAYS[day]}"
                if WEEKDAYS[day] in prog.weekly
                else ("program.steps")
            )
            return [Problem(where, f"{n} steps", f"at most {pump.max_flex_steps} for {pump.name}")]
    return []


def _bolus_rate_problems(t: Therapy) -> list[Problem]:
    """Periodic boluses and the PTM bolus stay within the pump's maximum bolus rate."""
    max_bolus = t.pump.max_bolus_rate_ml_per_day
    if max_bolus is None:
        return []
    allowed = f"a bolus rate up to {max_bolus:g} mL/day; lengthen the duration"
    problems = [
        Problem(f"program.periodic_boluses[{i}]", f"{bolus.rate_ml_per_day:g} mL/day", allowed)
        for i, bolus in enumerate(t.program.periodic_boluses)
        if bolus.rate_ml_per_day > max_bolus * (1 + 1e-9)
    ]
    if t.ptm is not None and t.ptm.rate_ml_per_day > max_bolus * (1 + 1e-9):
        problems.append(
            Problem(
                "ptm.duration",
                f"{t.ptm.duration_days * MINUTES_PER_DAY:g} min for {t.ptm.bolus_volume_ml:g} mL",
                allowed,
            )
        )
    return problems


def _demand_problems(t: Therapy) -> list[Problem]:
    """A PTM demand only with PTM settings."""
    if t.demand is not None and t.ptm is None:
        return [Problem("demand", "given", "only with ptm settings")]
    return []


def _state_problems(t: Therapy) -> list[Problem]:
    """The pump state's volumes fit the reservoir; the fill is not after the state."""
    state, cap = t.state, t.pump.reservoir_ml
    problems: list[Problem] = []
    if state.calculated_volume_ml > cap:
        problems.append(
            Problem(
                "state.calculated_volume",
                f"{state.calculated_volume_ml:g} mL",
                f"0 to {cap:g} mL",
            )
        )
    if state.actual_volume_ml is not None and state.actual_volume_ml > cap + 5:
        problems.append(
            Problem("state.actual_volume", f"{state.actual_volume_ml:g} mL", f"0 to {cap:g} mL")
        )
    if state.filled_at is not None and state.filled_at > state.time:
        problems.append(
            Problem("state.filled_at", state.filled_at.isoformat(), "not after state.time")
        )
    elif state.filled_at is not None and state.time - state.filled_at > _MAX_FILL_AGE:
        problems.append(
            Problem(
                "state.filled_at",
                state.filled_at.isoformat(),
                f"at most {MAX_FILL_AGE_DAYS} days before state.time ({state.time.isoformat()})",
            )
        )
    return problems


def _alarm_problems(t: Therapy) -> list[Problem]:
    """A low-reservoir threshold only for a pump with the alarm, inside its settable range."""
    pump, lra, setting = t.pump, t.pump.low_reservoir_alarm, t.alarms.low_reservoir_ml
    if setting is None:
        return []
    if lra is None:
        return [Problem("alarms.low_reservoir", "set", f"none for {pump.name}")]
    if not lra.min_ml <= setting <= lra.max_ml:
        return [
            Problem(
                "alarms.low_reservoir",
                f"{setting:g} mL",
                f"{lra.min_ml:g} to {lra.max_ml:g} mL for {pump.name}",
            )
        ]
    return []


def _delivery_factor_problems(t: Therapy) -> list[Problem]:
    """A known delivery factor within 0.1 of the pump's rated range."""
    if t.delivery_factor is None:
        return []
    f_lo, f_hi = t.pump.delivery_factor_range
    if not f_lo - 0.1 <= t.delivery_factor <= f_hi + 0.1:
        return [
            Problem(
                "delivery_factor",
                t.delivery_factor,
                f"{f_lo - 0.1:.3f} to {f_hi + 0.1:.3f} (rated {f_lo:.3f}-{f_hi:.3f})",
            )
        ]
    return []
