"""What the pump is programmed to do: basal schedule, periodic boluses, patient bolus (PTM).

All rates are mL/day and all durations days; a profile may write each rate as a volume rate or
as a dose rate, converted through the primary drug's concentration at load time.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from pumpsim.core.units import DURATION
from pumpsim.models.base import FrozenModel, MinuteOfDay, RateMlPerDay, VolumeOrDoseMl, unit

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
Days = Annotated[float, unit(DURATION)]


class FlexStep(FrozenModel):
    """From ``start`` (time of day) until the next step, deliver ``rate``."""

    start_minute: Annotated[MinuteOfDay, Field(alias="start", ge=0, le=1439)]
    rate_ml_per_day: Annotated[RateMlPerDay, Field(alias="rate", ge=0)]


def _check_steps(steps: tuple[FlexStep, ...], where: str) -> None:
    starts = [s.start_minute for s in steps]
    if starts != sorted(set(starts)):
        raise ValueError(f"{where}: step start times must be strictly increasing, got {starts}")
    if steps and starts[0] != 0:
        first = f"{starts[0] // 60:02d}:{starts[0] % 60:02d}"
        raise ValueError(
            f"{where}: the first step must start at 00:00 so every minute has a rate, got {first}"
        )


class PeriodicBolus(FrozenModel):
    """A bolus of ``volume`` over ``duration``, first at ``start`` (time of day) on the program's
    first day, then every ``every``."""

    start_minute: Annotated[MinuteOfDay, Field(alias="start", ge=0, le=1439)]
    every_days: Annotated[Days, Field(alias="every", ge=1 / 24, le=28)]
    volume_ml: Annotated[VolumeOrDoseMl, Field(alias="volume", gt=0, le=5)]
    duration_days: Annotated[Days, Field(alias="duration", gt=0, le=1)]

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.duration_days > self.every_days:
            raise ValueError("a periodic bolus cannot last longer than its repeat interval")
        return self

    @property
    def rate_ml_per_day(self) -> float:
        return self.volume_ml / self.duration_days


class Program(FrozenModel):
    """A basal program: ``simple`` (one rate) or ``flex`` (daily steps, optionally per weekday),
    plus periodic boluses."""

    mode: Literal["simple", "flex"]
    rate_ml_per_day: Annotated[RateMlPerDay | None, Field(alias="rate", ge=0)] = None
    steps: tuple[FlexStep, ...] = ()
    weekly: dict[Weekday, tuple[FlexStep, ...]] = Field(default_factory=dict)
    periodic_boluses: tuple[PeriodicBolus, ...] = Field(default=(), max_length=8)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.mode == "simple":
            if self.rate_ml_per_day is None:
                raise ValueError("a simple program needs a rate")
            if self.steps or self.weekly:
                raise ValueError("a simple program has a rate, not steps; use mode: flex")
        else:
            if self.rate_ml_per_day is not None:
                raise ValueError("a flex program has steps, not a single rate")
            if not self.steps and len(self.weekly) < 7:
                raise ValueError("a flex program needs daily steps, or weekly steps for all 7 days")
            _check_steps(self.steps, "steps")
            for day, steps in self.weekly.items():
                if not steps:
                    raise ValueError(f"weekly.{day}: needs at least one step")
                _check_steps(steps, f"weekly.{day}")
        return self

    @classmethod
    def simple(cls, rate_ml_per_day: float) -> Program:
        return cls(mode="simple", rate_ml_per_day=rate_ml_per_day)

    def steps_for(self, weekday: int) -> tuple[FlexStep, ...]:
        """The day's steps (weekday 0 = Monday); a simple program is one step at 00:00."""
        if self.mode == "simple":
            assert self.rate_ml_per_day is not None
            return (FlexStep(start_minute=0, rate_ml_per_day=self.rate_ml_per_day),)
        return self.weekly.get(WEEKDAYS[weekday], self.steps)

    def max_steps_per_day(self) -> int:
        return max(len(self.steps_for(d)) for d in range(7))

    def basal_rates(self) -> list[float]:
        """Every basal rate the program uses (mL/day)."""
        return sorted({s.rate_ml_per_day for d in range(7) for s in self.steps_for(d)})


class PtmSettings(FrozenModel):
    """Patient-activated bolus settings (myPTM / PTC): dose, duration, lockout, daily cap."""

    bolus_volume_ml: Annotated[VolumeOrDoseMl, Field(alias="bolus", gt=0, le=2)]
    duration_days: Annotated[Days, Field(alias="duration", gt=0, le=1)]
    lockout_days: Annotated[Days, Field(alias="lockout", ge=0, le=1)]
    max_per_day: Annotated[int, Field(ge=0, le=48)]
    day_definition: Literal["rolling", "clock"] = "rolling"
    """'rolling': the cap counts grants in the 24 h before a press; 'clock': since midnight."""

    @property
    def rate_ml_per_day(self) -> float:
        return self.bolus_volume_ml / self.duration_days
