"""Alarm settings and the pump's state at a moment (after a refill, or at an interrogation)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pumpsim.core.units import VOLUME
from pumpsim.models.base import FrozenModel, PumpTime, unit

Volume = Annotated[float, unit(VOLUME)]

MAX_FILL_AGE_DAYS = 366
"""A fill at most this long before the state: no drug in a pump is stable for over a year, so an
older ``filled_at`` is a typing error (``2016`` for ``2026``), not a pump to forecast."""


class AlarmSettings(FrozenModel):
    """Programmable alarm settings. ``None`` means the pump model's default."""

    low_reservoir_ml: Annotated[Volume | None, Field(alias="low_reservoir", gt=0, le=100)] = None


class PumpState(FrozenModel):
    """The pump at ``time``: the calculated reservoir volume the programmer shows (mL), when the
    current fill went in, and the share of the battery used so far.

    ``actual_volume_ml`` is the true volume if known (defaults to the calculated one).
    ``first_fill`` marks the first fill of a new pump (some drugs have shorter limits then).
    """

    time: PumpTime
    calculated_volume_ml: Annotated[Volume, Field(alias="calculated_volume", ge=0, le=100)]
    actual_volume_ml: Annotated[Volume | None, Field(alias="actual_volume", ge=0, le=105)] = None
    filled_at: PumpTime | None = None
    battery_used: Annotated[float, Field(ge=0, le=1)] = 0.0
    first_fill: bool = False

    @property
    def fill_time(self) -> PumpTime:
        """When the drug now in the reservoir went in (defaults to ``time``)."""
        return self.filled_at or self.time

    @property
    def true_volume_ml(self) -> float:
        return self.calculated_volume_ml if self.actual_volume_ml is None else self.actual_volume_ml
