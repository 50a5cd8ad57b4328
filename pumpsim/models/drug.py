"""Drugs: the catalog entry (what is known about a drug) and a drug as filled in a pump."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from pumpsim.core.units import CONCENTRATION, DURATION, MASS_RATE, MassUnit, format_concentration
from pumpsim.models.base import FrozenModel, unit

Concentration = Annotated[float, unit(CONCENTRATION)]
DoseRate = Annotated[float, unit(MASS_RATE)]
Days = Annotated[float, unit(DURATION)]

MAX_STABILITY_DAYS = 366
"""No intrathecal drug is labelled or known to be stable in a pump for over a year."""
MIN_CONCENTRATION_MG_PER_ML = 1e-4
"""0.1 mcg/mL: below any intrathecal preparation (ziconotide, the most dilute, is 25 mcg/mL)."""
MAX_DOSE_RATE_MG_PER_DAY = 1000.0


class DrugEntry(FrozenModel):
    """What the drug library knows about a drug (concentrations in mg/mL, doses in mg/day)."""

    key: str = Field(min_length=1)
    name: str = Field(min_length=1)
    mass_unit: MassUnit
    """The unit clinicians use for this drug's doses; display only, values stay in mg."""
    typical_concentrations_mg_per_ml: tuple[Concentration, ...] = Field(
        alias="typical_concentrations", default=()
    )
    max_concentration_mg_per_ml: Annotated[
        Concentration | None, Field(alias="max_concentration", gt=0)
    ] = None
    stability_days: Annotated[Days, Field(alias="stability", gt=0, le=MAX_STABILITY_DAYS)]
    diluted_stability_days: Annotated[
        Days | None, Field(alias="diluted_stability", gt=0, le=MAX_STABILITY_DAYS)
    ] = None
    stock_concentration_mg_per_ml: Annotated[
        Concentration | None, Field(alias="stock_concentration", gt=0)
    ] = None
    first_fill_stability_days: Annotated[Days | None, Field(alias="first_fill_stability", gt=0)] = (
        None
    )
    soft_limit_mg_per_day: Annotated[DoseRate | None, Field(alias="soft_daily_limit", gt=0)] = None
    hard_limit_mg_per_day: Annotated[DoseRate | None, Field(alias="hard_daily_limit", gt=0)] = None

    @model_validator(mode="after")
    def _limits_ordered(self) -> Self:
        soft, hard = self.soft_limit_mg_per_day, self.hard_limit_mg_per_day
        if soft is not None and hard is not None and soft > hard:
            raise ValueError(f"soft_daily_limit {soft} mg/day exceeds hard_daily_limit {hard}")
        if (self.diluted_stability_days is None) != (self.stock_concentration_mg_per_ml is None):
            raise ValueError("diluted_stability and stock_concentration go together")
        return self

    def stability_for(self, concentration_mg_per_ml: float) -> float:
        """Days a fill at this concentration may stay in the pump (labelled or consensus)."""
        stock = self.stock_concentration_mg_per_ml
        if (
            stock is not None
            and self.diluted_stability_days is not None
            and concentration_mg_per_ml < stock * (1 - 1e-9)
        ):
            return self.diluted_stability_days
        return self.stability_days


class Drug(FrozenModel):
    """One drug in the reservoir at a concentration (mg/mL), with its limits (mg/day, days)."""

    name: str = Field(min_length=1, max_length=100)
    mass_unit: MassUnit = "mg"
    concentration_mg_per_ml: Annotated[
        Concentration, Field(alias="concentration", ge=MIN_CONCENTRATION_MG_PER_ML, le=1000)
    ]
    stability_days: Annotated[Days, Field(alias="stability", gt=0, le=MAX_STABILITY_DAYS)]
    first_fill_stability_days: Annotated[
        Days | None, Field(alias="first_fill_stability", gt=0, le=MAX_STABILITY_DAYS)
    ] = None
    soft_limit_mg_per_day: Annotated[
        DoseRate | None, Field(alias="soft_daily_limit", gt=0, le=MAX_DOSE_RATE_MG_PER_DAY)
    ] = None
    hard_limit_mg_per_day: Annotated[
        DoseRate | None, Field(alias="hard_daily_limit", gt=0, le=MAX_DOSE_RATE_MG_PER_DAY)
    ] = None

    @classmethod
    def from_entry(cls, entry: DrugEntry, concentration_mg_per_ml: float) -> Drug:
        """The drug of a catalog entry at a concentration, with the stability that applies."""
        return cls(
            name=entry.name,
            mass_unit=entry.mass_unit,
            concentration_mg_per_ml=concentration_mg_per_ml,
            stability_days=entry.stability_for(concentration_mg_per_ml),
            first_fill_stability_days=entry.first_fill_stability_days,
            soft_limit_mg_per_day=entry.soft_limit_mg_per_day,
            hard_limit_mg_per_day=entry.hard_limit_mg_per_day,
        )


class Infusate(FrozenModel):
    """The fluid in the reservoir: one drug or a mixture. The first drug is the primary one,
    through which dose rates in a program are converted to volume rates."""

    drugs: tuple[Drug, ...] = Field(min_length=1, max_length=6)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [d.name for d in self.drugs]
        if len(set(names)) != len(names):
            raise ValueError(f"a drug appears twice in the mixture: {names}")
        return self

    @property
    def primary(self) -> Drug:
        return self.drugs[0]

    def stability_days(self, *, first_fill: bool = False) -> float:
        """The shortest stability limit of the drugs in the mixture (days)."""
        limits = []
        for drug in self.drugs:
            limit = drug.stability_days
            if first_fill and drug.first_fill_stability_days is not None:
                limit = min(limit, drug.first_fill_stability_days)
            limits.append(limit)
        return min(limits)

    def concentrations(self) -> dict[str, float]:
        """Drug name → concentration in mg/mL."""
        return {d.name: d.concentration_mg_per_ml for d in self.drugs}

    def label(self) -> str:
        return " + ".join(f"{d.name} {_fmt_conc(d)}" for d in self.drugs)


def _fmt_conc(drug: Drug) -> str:
    return format_concentration(drug.concentration_mg_per_ml, drug.mass_unit)
