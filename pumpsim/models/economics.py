"""A cost preset: the money side of a cohort, pump therapy against medical management (CMM).

Every money field is an amount in ``currency`` at ``price_year`` prices, per event, per visit,
per day, per mL or per patient-month as its name says; each has an allowed range. A preset is
built from a published paper: ``sources`` names, for every field the file sets, the table or
abstract figure it comes from, or the assumption that fills it when the paper does not give it
(docs/economics.md lists them per preset). ``uncertainty`` gives the parameters that
probabilistic sensitivity analysis (PSA) draws: a gamma distribution for a cost, a beta
distribution for a utility or a share, each with its mean at the preset's value and a spread
from a standard error, a 95 % confidence interval or an interquartile range.

How the fields are charged is decided in one place, ``pumpsim.population.economics``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from pumpsim.core.errors import Problem
from pumpsim.models.base import FrozenModel
from pumpsim.models.therapy import CrossCheckError

__all__ = [
    "CMM_SHARE_FIELDS",
    "MONEY_FIELDS",
    "CostPreset",
    "Distribution",
    "Utilities",
]


def _number(value: object) -> object:
    """``yes``/``no`` in a file are booleans, not 1 and 0."""
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value


Money = Annotated[float, BeforeValidator(_number), Field(ge=0, le=1e7)]
"""An amount of money (per event, visit, day, mL or patient-month), at most 10 million."""

Share = Annotated[float, BeforeValidator(_number), Field(ge=0, le=1)]

MONEY_FIELDS = (
    "implant_pump",
    "implant_catheter",
    "implant_surgery",
    "pump_replacement",
    "complication_surgery",
    "infection",
    "refill_visit",
    "emergency_visit",
    "drug_per_ml",
    "drug_per_day",
    "pump_systemic_per_month",
    "follow_up_per_month",
    "cmm_per_month",
)
"""The money fields, in the order PSA draws them (gamma distributions)."""

CMM_SHARE_FIELDS = ("pump_cmm_share",)
"""Shares PSA may draw (beta distributions), besides the utilities."""

_UTILITY_FIELDS = ("utility_pump", "utility_cmm")
_DRAWABLE = (*MONEY_FIELDS, *CMM_SHARE_FIELDS, *_UTILITY_FIELDS)
_ALWAYS_SOURCED = ("currency", "price_year", "discount_rate")
_SOURCED = frozenset(
    {*MONEY_FIELDS, *CMM_SHARE_FIELDS, *_ALWAYS_SOURCED}
    | {"cmm_growth_per_month", "utilities", "willingness_to_pay", "uncertainty"}
)


class Distribution(FrozenModel):
    """The uncertainty of one parameter: its kind and exactly one measure of spread.

    The mean is the preset's value of the parameter. ``se`` is a standard error; ``ci95`` a 95 %
    confidence interval (SE = width / (2 × 1.96)); ``iqr`` an interquartile range
    (SE = width / 1.349, the normal approximation, for papers that report medians and IQRs).
    """

    kind: Literal["gamma", "beta"]
    se: Annotated[float, Field(gt=0, le=1e7)] | None = None
    ci95: (
        tuple[Annotated[float, Field(ge=0, le=1e7)], Annotated[float, Field(ge=0, le=1e7)]] | None
    ) = None
    iqr: (
        tuple[Annotated[float, Field(ge=0, le=1e7)], Annotated[float, Field(ge=0, le=1e7)]] | None
    ) = None

    @model_validator(mode="after")
    def _one_spread(self) -> Distribution:
        given = [name for name in ("se", "ci95", "iqr") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of se, ci95, iqr (got {', '.join(given) or 'none'})"
            )
        for name in ("ci95", "iqr"):
            pair = getattr(self, name)
            if pair is not None and not pair[0] < pair[1]:
                raise ValueError(
                    f"{name}: the low end must be below the high end, got {list(pair)}"
                )
        return self

    @property
    def standard_error(self) -> float:
        """The standard error the spread stands for."""
        if self.se is not None:
            return self.se
        if self.ci95 is not None:
            return (self.ci95[1] - self.ci95[0]) / (2 * 1.959964)
        assert self.iqr is not None
        return (self.iqr[1] - self.iqr[0]) / 1.349


class Utilities(FrozenModel):
    """Health-state utilities (0 = dead, 1 = full health) for QALYs, one per arm."""

    pump: Share
    cmm: Share


class CostPreset(FrozenModel):
    """The costs of one published setting (see the module docstring)."""

    title: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=400)
    """The paper the preset is built from (authors, journal, volume, pages)."""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    """ISO 4217 code, e.g. CAD, USD."""
    price_year: Annotated[int, Field(ge=1950, le=2100)]

    implant_pump: Money = 0.0
    """The pump device, charged per implant (``events['implant']``)."""
    implant_catheter: Money = 0.0
    """The catheter, per implant."""
    implant_surgery: Money = 0.0
    """Surgery, anaesthesia and hospital stay of the implant, per implant."""
    pump_replacement: Money = 0.0
    """A new pump and its surgery, per replacement (battery end of service, motor stall,
    over-infusion, pump surgery)."""
    complication_surgery: Money = 0.0
    """A catheter revision (catheter surgery), per operation."""
    infection: Money = 0.0
    """Treating a pump-pocket or CNS infection, per infection."""
    refill_visit: Money = 0.0
    """One refill visit (clinician time, kit, programmer session)."""
    emergency_visit: Money = 0.0
    """What an emergency visit adds to the refill done there (a dry pump), and the care of a
    pocket fill, per visit or pocket fill."""
    drug_per_ml: Money = 0.0
    """Intrathecal drug per mL put into the pump (``infusate_ul``)."""
    drug_per_day: Money = 0.0
    """Intrathecal drug per day on the pump (for papers that price it per day)."""
    pump_systemic_per_month: Money = 0.0
    """Systemic drugs a pump patient still takes, per patient-month alive."""
    pump_cmm_share: Share = 0.0
    """Share of the CMM monthly cost the pump arm keeps paying while on the pump (the trial's
    arms were pump + CMM against CMM alone)."""
    follow_up_per_month: Money = 0.0
    """Pump-clinic follow-up per patient-month on the pump, refills excluded."""
    cmm_per_month: Money
    """Medical management per patient-month alive in month 1 (the CMM arm, and the pump arm's
    patients alive without a pump)."""
    cmm_growth_per_month: Annotated[float, Field(ge=-0.1, le=0.2)] = 0.0
    """Monthly growth of the CMM cost (dose escalation): month m costs
    ``cmm_per_month × (1 + growth)^(m − 1)``."""
    utilities: Utilities | None = None
    """Utilities for QALYs and the ICER (optional)."""
    willingness_to_pay: Money | None = None
    """Money per QALY for the probability that the pump is cost-effective (optional; needs
    utilities)."""
    discount_rate: Annotated[float, Field(ge=0, le=0.2)] = 0.0
    """Annual discount rate for costs and QALYs (monthly: ``(1 + r)^(−(m − 1)/12)``)."""
    uncertainty: dict[str, Distribution] = Field(default_factory=dict)
    """Parameter name -> its distribution for PSA (money: gamma; utilities ``utility_pump``,
    ``utility_cmm`` and ``pump_cmm_share``: beta)."""
    sources: dict[str, Annotated[str, Field(min_length=1, max_length=600)]]
    """Field name -> where its value comes from (a table, an abstract figure, an assumption)."""

    @property
    def implant(self) -> float:
        """Pump, catheter and surgery of one implant."""
        return self.implant_pump + self.implant_catheter + self.implant_surgery

    @model_validator(mode="after")
    def _consistent(self) -> CostPreset:
        problems = [*self._uncertainty_problems(), *self._source_problems()]
        if self.willingness_to_pay is not None and self.utilities is None:
            problems.append(
                Problem(
                    "willingness_to_pay", self.willingness_to_pay, "only with utilities (QALYs)"
                )
            )
        if problems:
            raise CrossCheckError(problems)
        return self

    def parameter_value(self, name: str) -> float:
        """The value of a PSA parameter (a money field, a share, ``utility_pump``/``_cmm``)."""
        if name in _UTILITY_FIELDS:
            if self.utilities is None:
                raise KeyError(name)
            return self.utilities.pump if name == "utility_pump" else self.utilities.cmm
        value = getattr(self, name)
        assert isinstance(value, float)
        return value

    def _uncertainty_problems(self) -> list[Problem]:
        problems = []
        for name, dist in self.uncertainty.items():
            where = f"uncertainty.{name}"
            if name in MONEY_FIELDS:
                wanted = "gamma"
            elif name in CMM_SHARE_FIELDS or (name in _UTILITY_FIELDS and self.utilities):
                wanted = "beta"
            else:
                problems.append(Problem(where, name, f"one of {', '.join(_DRAWABLE)}"))
                continue
            if dist.kind != wanted:
                problems.append(Problem(f"{where}.kind", dist.kind, f"{wanted} for {name}"))
                continue
            mean = self.parameter_value(name)
            se = dist.standard_error
            if wanted == "beta" and not (0 < mean < 1 and se * se < mean * (1 - mean)):
                problems.append(
                    Problem(
                        where,
                        f"mean {mean:g}, SE {se:.4g}",
                        "a beta needs 0 < mean < 1 and SE² < mean × (1 − mean)",
                    )
                )
            if wanted == "gamma" and mean <= 0:
                problems.append(Problem(where, f"mean {mean:g}", "a gamma needs a mean above 0"))
        return problems

    def _source_problems(self) -> list[Problem]:
        problems = [
            Problem(f"sources.{name}", name, "a field of the preset")
            for name in self.sources
            if name not in _SOURCED
        ]
        needed = set(_ALWAYS_SOURCED) | {n for n in _SOURCED if n in self.model_fields_set}
        problems += [
            Problem(f"sources.{name}", "(missing)", f"where the value of {name} comes from")
            for name in sorted(needed)
            if name not in self.sources
        ]
        return problems
