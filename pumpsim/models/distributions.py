"""Uncertainty distributions of a therapy: how each trajectory's delivery factor is drawn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from pumpsim.models.therapy import Therapy

FloatArray = npt.NDArray[np.float64]

__all__ = ["FactorDistribution"]


@dataclass(frozen=True)
class FactorDistribution:
    """How each trajectory's delivery factor (actual / programmed, dimensionless) is drawn.

    ``fixed``: always ``a``. ``uniform``: uniform on ``[a, b]``. ``normal``: mean ``a``, standard
    deviation ``b``, clipped to ``[0.5, 1.5]`` (used for a calibration posterior).
    """

    kind: Literal["fixed", "uniform", "normal"]
    a: float
    b: float = 0.0

    def draw(self, rng: np.random.Generator, n: int) -> FloatArray:
        if self.kind == "fixed":
            return np.full(n, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, n)
        return np.clip(rng.normal(self.a, self.b, n), 0.5, 1.5)

    @property
    def mean(self) -> float:
        return 0.5 * (self.a + self.b) if self.kind == "uniform" else self.a

    @classmethod
    def for_therapy(cls, therapy: Therapy) -> FactorDistribution:
        """The therapy's known factor if set, else uniform within the pump's rated accuracy."""
        if therapy.delivery_factor is not None:
            return cls("fixed", therapy.delivery_factor)
        lo, hi = therapy.pump.delivery_factor_range
        return cls("uniform", lo, hi) if hi > lo else cls("fixed", lo)
