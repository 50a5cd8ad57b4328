"""A virtual cohort of pump patients: who they are, what they get, what happens to them.

A ``CohortSpec`` is plain, validated data (``profiles/cohorts/*.yaml``, read by
``pumpsim.io.cohort.load_cohort``, which resolves catalog names into ``PumpSpec`` and
``Infusate`` objects). Every field has an allowed range. Quantities are written with their unit
(``"5 mg/day"``, ``"7 day"``, ``"0.7 %"``) and parsed by ``pumpsim.core.units``, so
``mg/day`` vs ``mcg/day`` or ``day`` vs ``hour`` cannot slip; a bare number in a file is an
error where a unit belongs.

Random quantities are a ``Dist``: ``fixed``, ``normal`` (mean, sd) or ``lognormal`` (median,
sigma = standard deviation of the logarithm), the last two with required ``min`` and ``max``
bounds; a draw outside the bounds is **clipped** to them (docs/cohort.md, "Distributions").
Categorical choices (pump model, infusate) carry weights.

docs/cohort.md describes every field and cites every default of the shipped presets.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from pumpsim.core.errors import Problem
from pumpsim.core.units import (
    DURATION,
    FRACTION,
    MASS_RATE,
    VOLUME,
    Kind,
    UnitParseError,
    format_mass_mg,
    parse_quantity,
)
from pumpsim.models.base import FrozenModel, InternalValue, unit
from pumpsim.models.catheter import Catheter
from pumpsim.models.demand import PtmDemand
from pumpsim.models.drug import Infusate
from pumpsim.models.program import Program, PtmSettings
from pumpsim.models.pump import PumpSpec
from pumpsim.models.state import AlarmSettings, PumpState
from pumpsim.models.therapy import CrossCheckError, Therapy

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "INDICATIONS",
    "BatteryPolicy",
    "CohortSpec",
    "DeliveryFactor",
    "Dist",
    "EventRate",
    "Events",
    "Infection",
    "MotorStall",
    "OverInfusion",
    "PocketFill",
    "PumpChoice",
    "RefillPolicy",
    "Survival",
    "TherapyOption",
]

INDICATIONS = ("cancer-pain", "non-malignant-pain", "spasticity")
"""What the cohort is treated for; a ``cancer-pain`` cohort must declare its survival."""

Days = Annotated[float, unit(DURATION)]
Share = Annotated[float, unit(FRACTION)]
Source = Annotated[str, Field(min_length=3, max_length=500, pattern=r"\S")]
"""Where a figure comes from (a paper and its table, a recall notice) or ``assumption: why``."""

DAYS_PER_YEAR = 365.25
MAX_PATIENTS = 10_000_000
MAX_YEARS = 30.0


# ---------------------------------------------------------------- distributions
class Dist(FrozenModel):
    """A random quantity in its internal unit (mg/day, days, a plain number).

    ``fixed``: always ``value``. ``normal``: mean ``mean``, standard deviation ``sd``.
    ``lognormal``: median ``median``, ``sigma`` the standard deviation of its logarithm. A
    normal or lognormal draw is clipped to ``[min, max]`` (both required)."""

    shape: Literal["fixed", "normal", "lognormal"]
    value: float | None = None
    mean: float | None = None
    sd: Annotated[float | None, Field(ge=0)] = None
    median: Annotated[float | None, Field(gt=0)] = None
    sigma: Annotated[float | None, Field(ge=0, le=3)] = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        need = {
            "fixed": ("value",),
            "normal": ("mean", "sd", "min", "max"),
            "lognormal": ("median", "sigma", "min", "max"),
        }[self.shape]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.shape} distribution needs {', '.join(need)}")
        extra = [
            name
            for name in ("value", "mean", "sd", "median", "sigma", "min", "max")
            if name not in need and getattr(self, name) is not None
        ]
        if extra:
            raise ValueError(f"a {self.shape} distribution has no {', '.join(extra)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self

    @classmethod
    def fixed(cls, value: float) -> Dist:
        return cls(shape="fixed", value=value)

    @property
    def low(self) -> float:
        """The smallest value a draw can take."""
        return float(self.value if self.shape == "fixed" else self.min)  # type: ignore[arg-type]

    @property
    def high(self) -> float:
        """The largest value a draw can take."""
        return float(self.value if self.shape == "fixed" else self.max)  # type: ignore[arg-type]

    @property
    def is_fixed(self) -> bool:
        return self.shape == "fixed"

    def from_normal(self, z: FloatArray) -> FloatArray:
        """Draws from standard-normal deviates ``z`` (one per draw), clipped to the bounds."""
        if self.shape == "fixed":
            return np.full(z.shape, float(self.value))  # type: ignore[arg-type]
        if self.shape == "normal":
            raw = float(self.mean) + float(self.sd) * z  # type: ignore[arg-type]
        else:
            raw = float(self.median) * np.exp(float(self.sigma) * z)  # type: ignore[arg-type]
        return np.clip(raw, self.min, self.max)


_DIST_KEYS = {
    "normal": ("mean", "sd", "min", "max"),
    "lognormal": ("median", "sigma", "min", "max"),
}


def _parse_dist(kind: Kind | None, lo: float, hi: float, label: str) -> Any:
    """A before-validator reading a ``Dist`` as a file writes it: ``"7 day"`` (fixed),
    ``{fixed: "7 day"}``, ``{normal: {mean, sd, min, max}}``, ``{lognormal: {median, sigma,
    min, max}}``; every quantity in ``kind`` (``None``: a plain number) and, except ``sd`` and
    ``sigma``, in ``[lo, hi]`` (``label`` says so in the file's words). A message names the
    key and the value as written."""

    def quantity(raw: Any, where: str, info: ValidationInfo) -> float:
        if kind is None or where.endswith("sigma"):
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError(f"{where}: expected a plain number, got {raw!r}")
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = parse_quantity(raw, kind)
            except UnitParseError as exc:
                raise ValueError(f"{where}: {exc}") from None
        elif (
            isinstance(raw, int | float)
            and not isinstance(raw, bool)
            and (isinstance(raw, InternalValue) or not _from_file(info))
        ):
            value = float(raw)
        else:
            raise ValueError(
                f"{where}: a bare number has no unit; write a {kind.name} with its unit, "
                f"e.g. {kind.example!r}"
            )
        bounded = not where.endswith(("sd", "sigma"))
        if bounded and not lo <= value <= hi:
            raise ValueError(f"{where} {raw!r}: must be {label}")
        if not bounded and value < 0:
            raise ValueError(f"{where} {raw!r}: must be 0 or more")
        return value

    def convert(raw: Any, info: ValidationInfo) -> Any:
        if isinstance(raw, Dist):
            return raw
        if not isinstance(raw, dict):
            return Dist(shape="fixed", value=quantity(raw, "value", info))
        if len(raw) != 1 or next(iter(raw)) not in ("fixed", *_DIST_KEYS):
            raise ValueError(
                "one of: a value, {fixed: V}, {normal: {mean, sd, min, max}}, "
                "{lognormal: {median, sigma, min, max}}"
            )
        shape, body = next(iter(raw.items()))
        if shape == "fixed":
            return Dist(shape="fixed", value=quantity(body, "fixed", info))
        if not isinstance(body, dict):
            raise ValueError(f"{shape}: a mapping of {', '.join(_DIST_KEYS[shape])}")
        unknown = sorted(set(body) - set(_DIST_KEYS[shape]), key=str)
        if unknown:
            raise ValueError(f"{shape}: no field {unknown[0]!r}; {', '.join(_DIST_KEYS[shape])}")
        missing = [k for k in _DIST_KEYS[shape] if k not in body]
        if missing:
            raise ValueError(f"{shape}: needs {', '.join(_DIST_KEYS[shape])}; missing {missing[0]}")
        fields = {k: quantity(v, f"{shape}.{k}", info) for k, v in body.items()}
        if fields["min"] > fields["max"]:
            raise ValueError(f"{shape}.min {body['min']!r} is above {shape}.max {body['max']!r}")
        return Dist.model_validate({"shape": shape, **fields})

    return BeforeValidator(convert)


def _from_file(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and info.context.get("source") == "file"


_DOSE = _parse_dist(MASS_RATE, 1e-6, 1000.0, "0.001 mcg/day to 1000 mg/day")
_PRESSES = _parse_dist(None, 0.0, 200.0, "0 to 200 presses a day")
_DAYS_BEFORE = _parse_dist(DURATION, 0.0, 60.0, "0 to 60 days")
_LATENESS = _parse_dist(DURATION, 0.0, 120.0, "0 to 120 days")
_EMERGENCY = _parse_dist(DURATION, 0.0, 30.0, "0 to 30 days")
DoseDist = Annotated[Dist, _DOSE]
"""A daily dose (mg/day internally; files write ``"5 mg/day"`` or ``"300 mcg/day"``)."""
PressesDist = Annotated[Dist, _PRESSES]
DaysBeforeDist = Annotated[Dist, _DAYS_BEFORE]
LatenessDist = Annotated[Dist, _LATENESS]
EmergencyDist = Annotated[Dist, _EMERGENCY]


# ---------------------------------------------------------------- what patients get
class PumpChoice(FrozenModel):
    """A pump model (a catalog entry) and its relative weight in the cohort."""

    pump: PumpSpec
    weight: Annotated[float, Field(gt=0, le=1000)]

    @model_validator(mode="after")
    def _programmable(self) -> Self:
        if self.pump.kind != "programmable" or self.pump.low_reservoir_alarm is None:
            raise ValueError(
                f"{self.pump.key}: a programmable pump with a low-reservoir alarm (a cohort's "
                "refills are booked from the alarm date)"
            )
        return self


class TherapyOption(FrozenModel):
    """One infusate (a drug or mixture at its concentrations) with its dosing, weighted.

    ``daily_dose`` is the primary drug's programmed starting dose (mg/day internally);
    ``titration_per_month`` changes it at each refill by that share per month since implant,
    never beyond ``daily_dose``'s bounds (its ``max`` is the titration cap, checked against the
    drug library's hard limit before a run: ``pumpsim.population.therapies``). ``on_label``:
    the drug is approved for the pump (motor-stall rates differ)."""

    weight: Annotated[float, Field(gt=0, le=1000)]
    infusate: Infusate
    on_label: bool
    daily_dose: DoseDist
    titration_per_month: Annotated[Share, Field(ge=-0.5, le=1.0)] = 0.0
    ptm: PtmSettings | None = None
    presses_per_day: PressesDist | None = None

    @model_validator(mode="after")
    def _demand_with_ptm(self) -> Self:
        if (self.ptm is None) != (self.presses_per_day is None):
            raise ValueError("ptm and presses_per_day go together")
        return self


class DeliveryFactor(FrozenModel):
    """The true actual/programmed delivery ratio across the cohort: normal(``mean``, ``sd``)
    clipped to 0.5-1.5 (``FactorDistribution``'s normal); ``sd: 0`` fixes it."""

    mean: Annotated[float, Field(ge=0.7, le=1.3)]
    sd: Annotated[float, Field(ge=0, le=0.2)]
    source: Source


# ---------------------------------------------------------------- what happens to them
class Survival(FrozenModel):
    """Time from implant to death: Weibull with ``shape`` (1 = exponential) and a median, given
    directly (``median``) or as the share alive at a time (``alive_at`` + ``alive_share``)."""

    median_days: Annotated[Days | None, Field(alias="median", gt=0, le=100 * DAYS_PER_YEAR)] = None
    alive_at_days: Annotated[Days | None, Field(alias="alive_at", gt=0, le=50 * DAYS_PER_YEAR)] = (
        None
    )
    alive_share: Annotated[Share | None, Field(gt=0, lt=1)] = None
    shape: Annotated[float, Field(ge=0.2, le=5)] = 1.0
    source: Source

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        by_share = self.alive_at_days is not None or self.alive_share is not None
        if (self.median_days is None) == (not by_share):
            raise ValueError("give either median, or alive_at with alive_share")
        if by_share and (self.alive_at_days is None or self.alive_share is None):
            raise ValueError("alive_at and alive_share go together")
        return self

    @property
    def median(self) -> float:
        """Median survival in days: ``S(t) = exp(-ln 2 (t / median) ** shape)``."""
        if self.median_days is not None:
            return self.median_days
        assert self.alive_at_days is not None and self.alive_share is not None
        ratio = math.log(2) / -math.log(self.alive_share)
        return float(self.alive_at_days * ratio ** (1 / self.shape))

    def days_from_uniform(self, u: FloatArray) -> FloatArray:
        """Survival times (days) from uniforms on (0, 1]: the inverse of ``S``."""
        return self.median * (-np.log(u) / math.log(2)) ** (1 / self.shape)


class RefillPolicy(FrozenModel):
    """How refills are booked and kept.

    A refill is booked ``days_before_alarm`` before the earlier of the low-reservoir alarm date
    and the drug-stability limit (never sooner than a day after the fill); the patient comes
    ``lateness`` after the booking, or misses it (``no_show``) and comes ``rebook_after`` later
    (plus the same lateness). A pump that runs dry first brings the patient in as an emergency
    ``emergency_after_empty`` after it is empty."""

    days_before_alarm: DaysBeforeDist
    lateness: LatenessDist
    no_show: Annotated[Share, Field(ge=0, le=0.5)]
    rebook_after_days: Annotated[Days, Field(alias="rebook_after", ge=1, le=60)]
    emergency_after_empty: EmergencyDist
    source: Source


class EventRate(FrozenModel):
    """A device or clinical event as a Poisson process over implanted time: ``per_pump_year``
    events a pump-year (``"6.8 %"``); each takes ``therapy_gap`` without therapy until the
    operation that ends it (which fills the pump again)."""

    per_pump_year: Annotated[Share, Field(ge=0, le=5)]
    therapy_gap_days: Annotated[Days, Field(alias="therapy_gap", ge=0, le=90)] = 0.0
    source: Source


class MotorStall(EventRate):
    """Motor stall: ``per_pump_year`` with on-label drugs, ``off_label_per_pump_year`` with
    drugs the pump is not approved for. The pump is replaced."""

    off_label_per_pump_year: Annotated[Share, Field(ge=0, le=5)]


class OverInfusion(EventRate):
    """Over-infusion: from the fill after its onset the pump delivers ``delivery_factor`` ×
    the programmed volume (above its rated accuracy) while the calculated volume, and so the
    alarm, still follow the program; it is found at the next refill (less is withdrawn than
    expected) and the pump is replaced, ``therapy_gap`` without therapy."""

    delivery_factor: Annotated[float, Field(gt=1.0, le=2.0)]


class Infection(EventRate):
    """Infection; ``explant_share`` of them end therapy (the pump is removed for good)."""

    explant_share: Annotated[Share, Field(ge=0, le=1)]


class PocketFill(FrozenModel):
    """A pocket fill (drug injected into the pocket, not the reservoir) at a refill."""

    per_refill: Annotated[Share, Field(ge=0, le=0.1)]
    source: Source


class Events(FrozenModel):
    """Event rates: pocket fill per refill; the others per pump-year (``EventRate``).

    ``motor_stall`` and ``pump_surgery`` replace the pump (a new battery), ``catheter_surgery``
    revises the catheter, all three refilling the pump at the operation; ``over_infusion`` (see
    ``OverInfusion``) replaces the pump at the refill that finds it."""

    pocket_fill: PocketFill
    motor_stall: MotorStall
    over_infusion: OverInfusion
    catheter_surgery: EventRate
    pump_surgery: EventRate
    infection: Infection


class BatteryPolicy(FrozenModel):
    """The battery (the pump catalog's battery model) reaches ERI; the pump is replaced
    ``replace_after_eri`` later, before end of service (checked per pump model)."""

    replace_after_eri_days: Annotated[Days, Field(alias="replace_after_eri", ge=0, le=366)]
    source: Source


# ---------------------------------------------------------------- the cohort
class CohortSpec(FrozenModel):
    """A cohort: ``patients`` patients followed ``years`` from implant (see the module doc)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    indication: Literal["cancer-pain", "non-malignant-pain", "spasticity"]
    patients: Annotated[int, Field(ge=1, le=MAX_PATIENTS)]
    years: Annotated[float, Field(ge=1 / 12, le=MAX_YEARS)]
    pumps: tuple[PumpChoice, ...] = Field(min_length=1, max_length=10)
    therapies: tuple[TherapyOption, ...] = Field(min_length=1, max_length=10)
    low_reservoir_alarm_ml: Annotated[
        Annotated[float, unit(VOLUME)] | None, Field(alias="low_reservoir_alarm", gt=0, le=100)
    ] = None
    """The alarm threshold programmed for every pump (``None``: each pump model's default)."""
    delivery_factor: DeliveryFactor | None = None
    """``None``: uniform within each pump's rated accuracy (``FactorDistribution.for_therapy``)."""
    survival: Survival | None = None
    refill: RefillPolicy
    events: Events
    battery: BatteryPolicy

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems: list[Problem] = []
        if self.indication == "cancer-pain" and self.survival is None:
            problems.append(
                Problem(
                    "survival",
                    "(missing)",
                    "a cancer-pain cohort dies: give survival (median, or alive_at with "
                    "alive_share, and its source)",
                )
            )
        keys = [c.pump.key for c in self.pumps]
        if len(set(keys)) != len(keys):
            problems.append(Problem("pumps", ", ".join(keys), "each pump model once"))
        for choice in self.pumps:
            battery = choice.pump.battery
            if battery and self.battery.replace_after_eri_days > battery.eri_to_eos_days:
                problems.append(
                    Problem(
                        "battery.replace_after_eri",
                        f"{self.battery.replace_after_eri_days:g} days",
                        f"at most {battery.eri_to_eos_days:g} days (ERI to end of service of "
                        f"{choice.pump.key})",
                    )
                )
        over = self.events.over_infusion.delivery_factor
        for choice in self.pumps:
            top = choice.pump.delivery_factor_range[1]
            if over <= top:
                problems.append(
                    Problem(
                        "events.over_infusion.delivery_factor",
                        over,
                        f"above {choice.pump.key}'s rated accuracy (more than {top:g})",
                    )
                )
        problems.extend(p for i in range(len(self.therapies)) for p in self._rate_problems(i))
        if problems:
            raise CrossCheckError(problems)
        return self

    @property
    def months(self) -> int:
        """Follow-up in whole months: ``round(years * 12)``."""
        return round(self.years * 12)

    def therapy(self, pump: int, option: int, dose_mg_per_day: float) -> Therapy:
        """The one-patient ``Therapy`` of ``pumps[pump]`` with ``therapies[option]`` at a
        programmed ``dose_mg_per_day`` (a simple program), just filled, with the option's PTM
        and the highest demand it allows: what the pump rules (``Therapy``,
        ``schedule.limits``, ``schedule.ptm``, the battery model) are asked about."""
        choice, opt = self.pumps[pump], self.therapies[option]
        rate = dose_mg_per_day / opt.infusate.primary.concentration_mg_per_ml
        demand = None
        if opt.ptm is not None and opt.presses_per_day is not None:
            demand = PtmDemand(presses_per_day=opt.presses_per_day.high)
        return Therapy(
            patient_id=f"cohort-{choice.pump.key}-{option}",
            indication=self.indication,
            pump=choice.pump,
            infusate=opt.infusate,
            catheter=Catheter(volume_ml_given=0.0),
            program=Program.simple(rate),
            ptm=opt.ptm,
            demand=demand,
            alarms=AlarmSettings(low_reservoir_ml=self.low_reservoir_alarm_ml),
            state=PumpState(time=_ORIGIN, calculated_volume_ml=choice.pump.reservoir_ml),
        )

    def _rate_problems(self, option: int) -> list[Problem]:
        """The lowest and highest dose of ``therapies[option]`` run on every pump of the cohort
        (programmed rate in the pump's range, alarm setting in its range, PTM bolus rate)."""
        opt = self.therapies[option]
        unit_name = opt.infusate.primary.mass_unit
        problems: list[Problem] = []
        for p, choice in enumerate(self.pumps):
            for dose in sorted({opt.daily_dose.low, opt.daily_dose.high}):
                try:
                    self.therapy(p, option, dose)
                except ValidationError as exc:
                    for err in exc.errors(include_url=False):
                        ctx = (err.get("ctx") or {}).get("error")
                        found = ctx.problems if isinstance(ctx, CrossCheckError) else []
                        problems.extend(
                            Problem(
                                _COHORT_FIELD.get(f.field.split(".")[0], "therapies").format(
                                    i=option
                                ),
                                f"{format_mass_mg(dose, unit_name, '.4g')}/day on "
                                f"{choice.pump.key}: {f.field} {f.value}",
                                f.allowed,
                            )
                            for f in found
                        )
                        if not found:
                            problems.append(
                                Problem(f"therapies[{option}]", choice.pump.key, err["msg"])
                            )
        return problems


_ORIGIN = dt.datetime(2026, 1, 1)
"""The pump-clock time of every template therapy (its dates are never shown)."""

_COHORT_FIELD = {
    "program": "therapies[{i}].daily_dose",
    "ptm": "therapies[{i}].ptm",
    "alarms": "low_reservoir_alarm",
}
"""Where a template therapy's broken rule is written in a cohort file."""
