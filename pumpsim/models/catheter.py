"""The intrathecal catheter: the dead volume between the pump outlet and the catheter tip."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from pumpsim.core.units import LENGTH, VOLUME, VOLUME_PER_LENGTH
from pumpsim.models.base import FrozenModel, unit


class Catheter(FrozenModel):
    """Give ``volume`` directly, or ``length`` × ``volume_per_length`` (90 cm × 0.0026 mL/cm)."""

    volume_ml_given: Annotated[
        Annotated[float, unit(VOLUME)] | None, Field(alias="volume", ge=0, le=5)
    ] = None
    length_cm: Annotated[
        Annotated[float, unit(LENGTH)] | None, Field(alias="length", ge=1, le=300)
    ] = None
    volume_per_cm_ml: Annotated[
        Annotated[float, unit(VOLUME_PER_LENGTH)] | None,
        Field(alias="volume_per_length", ge=1e-5, le=0.05),
    ] = None

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        by_length = self.length_cm is not None or self.volume_per_cm_ml is not None
        if self.volume_ml_given is not None and by_length:
            raise ValueError("give either volume, or length and volume_per_length, not both")
        if self.volume_ml_given is None and (
            self.length_cm is None or self.volume_per_cm_ml is None
        ):
            raise ValueError("give volume, or both length and volume_per_length")
        return self

    @property
    def volume_ml(self) -> float:
        """Catheter volume in mL."""
        if self.volume_ml_given is not None:
            return self.volume_ml_given
        assert self.length_cm is not None and self.volume_per_cm_ml is not None
        return self.length_cm * self.volume_per_cm_ml
