"""Pump hardware: what a pump model can do, independent of any patient."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from pumpsim.core.units import DURATION, FRACTION, VOLUME, VOLUME_RATE
from pumpsim.models.base import FrozenModel, unit
from pumpsim.models.refill import DiscrepancySettings

Volume = Annotated[float, unit(VOLUME)]
VolumeRate = Annotated[float, unit(VOLUME_RATE)]
Days = Annotated[float, unit(DURATION)]


class AlarmRange(FrozenModel):
    """Allowed and default low-reservoir-alarm thresholds, in mL of calculated volume."""

    default_ml: Annotated[Volume, Field(alias="default", gt=0, le=100)]
    min_ml: Annotated[Volume, Field(alias="min", gt=0, le=100)]
    max_ml: Annotated[Volume, Field(alias="max", gt=0, le=100)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.min_ml <= self.default_ml <= self.max_ml:
            raise ValueError(
                f"need min <= default <= max, got {self.min_ml} <= {self.default_ml} "
                f"<= {self.max_ml} mL"
            )
        return self


class BatterySpec(FrozenModel):
    """Battery model: a housekeeping drain plus a drain per mL pumped, as a share of capacity.

    Calibrated from two service lives: ``life_at_min_rate_days`` when pumping at the pump's
    minimum rate and ``life_at_reference_days`` at ``reference_rate_ml_per_day``. The elective
    replacement indicator (ERI) comes when the used share reaches 1; end of service (EOS) follows
    ``eri_to_eos_days`` later.
    """

    life_at_min_rate_days: Annotated[Days, Field(alias="life_at_min_rate", ge=30, le=7305)]
    life_at_reference_days: Annotated[Days, Field(alias="life_at_reference_rate", ge=30, le=7305)]
    reference_rate_ml_per_day: Annotated[VolumeRate, Field(alias="reference_rate", gt=0, le=100)]
    eri_to_eos_days: Annotated[Days, Field(alias="eri_to_eos", gt=0, le=366)]

    def drain_coefficients(self, min_rate_ml_per_day: float) -> tuple[float, float]:
        """Return ``(housekeeping per day, per mL pumped)`` as shares of the battery capacity."""
        per_ml = (1.0 / self.life_at_reference_days - 1.0 / self.life_at_min_rate_days) / (
            self.reference_rate_ml_per_day - min_rate_ml_per_day
        )
        housekeeping = 1.0 / self.life_at_min_rate_days - per_ml * min_rate_ml_per_day
        return housekeeping, per_ml


class MriBehaviour(FrozenModel):
    """What the pump does in an MRI field: motor stall, and how long it takes to restart."""

    stalls: bool = True
    restart_delay_days: Annotated[Days, Field(alias="restart_delay", ge=0, le=7)] = 0.0
    must_be_emptied: bool = False


class PumpSpec(FrozenModel):
    """A pump model's hardware parameters (all volumes in mL, rates in mL/day)."""

    key: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["programmable", "constant-flow"]
    reservoir_ml: Annotated[Volume, Field(alias="reservoir", gt=0, le=100)]
    min_rate_ml_per_day: Annotated[VolumeRate, Field(alias="min_rate", ge=0, le=100)]
    max_rate_ml_per_day: Annotated[VolumeRate, Field(alias="max_rate", gt=0, le=100)]
    rate_resolution_ml_per_day: Annotated[
        VolumeRate, Field(alias="rate_resolution", ge=0, le=1)
    ] = 0.0
    rated_accuracy: Annotated[float, unit(FRACTION), Field(ge=0, lt=0.5)]
    """Half-width of the delivery factor: actual/programmed lies in 1 ± this."""
    internal_dead_volume_ml: Annotated[Volume, Field(alias="internal_dead_volume", ge=0, le=5)]
    nonretrievable_residual_ml: Annotated[
        Volume, Field(alias="nonretrievable_residual", ge=0, le=100)
    ]
    low_reservoir_alarm: AlarmRange | None = None
    empty_reservoir_threshold_ml: Annotated[
        Volume, Field(alias="empty_reservoir_threshold", ge=0, le=100)
    ] = 0.0
    rate_after_empty_ml_per_day: Annotated[
        VolumeRate, Field(alias="rate_after_empty", ge=0, le=100)
    ] = 0.0
    max_flex_steps: Annotated[int, Field(ge=1, le=100)] = 1
    max_bolus_rate_ml_per_day: Annotated[
        VolumeRate | None, Field(alias="max_bolus_rate", gt=0, le=1000)
    ] = None
    battery: BatterySpec | None = None
    mri: MriBehaviour = MriBehaviour()
    controller_next_refill_ml: Annotated[
        Volume | None, Field(alias="controller_next_refill", gt=0)
    ] = None
    """The pump controller's own "date of next refill" rule: the calculated volume (mL) at which
    it dates the next refill assuming every allotted patient bolus is taken (Prometra's PTC:
    3.0 mL). ``None`` for a pump whose programmer has no such rule."""
    critical_alarm_repeat_days: Annotated[
        Days | None, Field(alias="critical_alarm_repeat", gt=0, le=7)
    ] = None
    noncritical_alarm_repeat_days: Annotated[
        Days | None, Field(alias="noncritical_alarm_repeat", gt=0, le=7)
    ] = None
    refill_discrepancy: DiscrepancySettings | None = None
    """Refill-discrepancy thresholds of this pump model (``None``: the sourced defaults,
    ``pumpsim.models.refill``)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_rate_ml_per_day > self.max_rate_ml_per_day:
            raise ValueError(
                f"min_rate {self.min_rate_ml_per_day} mL/day exceeds max_rate "
                f"{self.max_rate_ml_per_day} mL/day"
            )
        if self.nonretrievable_residual_ml >= self.reservoir_ml:
            raise ValueError("nonretrievable_residual must be smaller than the reservoir")
        if self.low_reservoir_alarm and self.low_reservoir_alarm.max_ml >= self.reservoir_ml:
            raise ValueError("low_reservoir_alarm.max must be below the reservoir capacity")
        if self.kind == "programmable" and self.low_reservoir_alarm is None:
            raise ValueError("a programmable pump needs a low_reservoir_alarm range")
        if self.battery and self.battery.reference_rate_ml_per_day <= self.min_rate_ml_per_day:
            raise ValueError("battery.reference_rate must be above the pump's min_rate")
        if self.battery and (
            self.battery.life_at_reference_days > self.battery.life_at_min_rate_days
        ):
            raise ValueError("battery life at the reference rate cannot exceed life at min rate")
        return self

    @property
    def delivery_factor_range(self) -> tuple[float, float]:
        """The rated range of actual/programmed delivery (dimensionless)."""
        return 1.0 - self.rated_accuracy, 1.0 + self.rated_accuracy
