"""How often the patient presses the therapy manager (PTM): a random rate or an explicit log."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from pumpsim.models.base import FrozenModel, MinuteOfDay, PumpTime


class DemandWindow(FrozenModel):
    """From ``start`` (time of day) until the next window, presses come with relative ``weight``."""

    start_minute: Annotated[MinuteOfDay, Field(alias="start", ge=0, le=1439)]
    weight: Annotated[float, Field(ge=0, le=1000)]


class PtmDemand(FrozenModel):
    """Patient demand for boluses.

    Either a Poisson process with ``presses_per_day`` (mean presses per day, denied ones
    included), shaped over the day by ``profile`` windows, with day-to-day variation
    ``daily_cv`` (coefficient of variation of a gamma-distributed daily rate; 0 = plain Poisson);
    or an explicit list of press times ``presses``.
    """

    presses_per_day: Annotated[float | None, Field(ge=0, le=200)] = None
    profile: tuple[DemandWindow, ...] = ()
    daily_cv: Annotated[float, Field(ge=0, le=3)] = 0.0
    presses: tuple[PumpTime, ...] = Field(default=(), max_length=100_000)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.presses_per_day is None) == (not self.presses):
            raise ValueError("give either presses_per_day or a list of presses, not both or none")
        if self.presses and (self.profile or self.daily_cv):
            raise ValueError("profile and daily_cv apply to presses_per_day, not to a press log")
        if self.profile:
            starts = [w.start_minute for w in self.profile]
            if starts != sorted(set(starts)) or starts[0] != 0:
                raise ValueError(
                    f"profile windows must start at 00:00 and increase strictly, got {starts}"
                )
            if sum(w.weight for w in self.profile) <= 0:
                raise ValueError("profile weights cannot all be zero")
        if list(self.presses) != sorted(self.presses):
            raise ValueError("presses must be in time order")
        return self

    def day_profile(self) -> list[tuple[int, int, float]]:
        """``(start_minute, end_minute, share of the day's presses)`` windows covering the day."""
        windows = self.profile or (DemandWindow(start_minute=0, weight=1.0),)
        spans = []
        for i, w in enumerate(windows):
            end = windows[i + 1].start_minute if i + 1 < len(windows) else 1440
            spans.append((w.start_minute, end, w.weight * (end - w.start_minute)))
        total = sum(mass for *_, mass in spans)
        return [(a, b, mass / total) for a, b, mass in spans]
