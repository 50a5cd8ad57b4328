"""Cumulative cost of intrathecal therapy versus comprehensive medical management (CMM).

The shape comes from the seed trial (Smith et al., J Clin Oncol 2002;20:4040-9): intrathecal
therapy (IDDS) costs much at first (the implant) and little each month after; CMM costs keep
rising with opioid escalation, so its cumulative cost can catch up. The trial arms were IDDS + CMM
versus CMM alone, so the intrathecal arm here still pays for medical care and for the systemic
drugs the patient keeps taking.

What is simulated and what is a parameter: the intrathecal arm's refill visits and the volume of
drug put into the pump come from the engine's ``Trace`` (every refill on the timeline, every
fill). All money amounts are ``CostModel`` parameters. Only ``it_systemic_fraction`` has a cited
default (69 % of implanted patients stopped systemic opioids, Smith 2002 → 31 % keep paying);
every money default is an **illustrative assumption**, not a published figure — docs/teaching.md
says so and a teaching scenario should set its own local numbers.

A month is 30.4375 days (365.25 / 12); month 1 covers simulated days [0, 30.4375).

The money arithmetic shared with the cohort economics (CMM growth, cumulative sums, the crossover
that stays) is ``pumpsim.population.economics``'s: one home for money rules (docs/economics.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from pumpsim.core.errors import SimulationError
from pumpsim.engine import Trace
from pumpsim.models import FrozenModel
from pumpsim.population.economics import crossover_months, cumulative, growth_factors
from pumpsim.population.outcome import DAYS_PER_MONTH

__all__ = ["DAYS_PER_MONTH", "CostCurves", "CostModel", "cost_curves"]

Money = Annotated[float, Field(ge=0, le=1e7)]


class CostModel(FrozenModel):
    """Cost parameters in ``currency`` (money per event or per month); see the module docstring
    for which defaults are cited (only ``it_systemic_fraction``) and which are assumptions."""

    currency: str = Field(default="USD", min_length=1, max_length=8)
    months: Annotated[int, Field(ge=1, le=120)] = 24
    """How many months to add up (the trace must cover them)."""
    implant: Money = 20000.0
    """Pump, catheter, surgery and hospital stay, paid in month 1 (assumption)."""
    it_care_per_month: Money = 250.0
    """Pump clinic follow-up per month, refills excluded (assumption)."""
    refill_visit: Money = 350.0
    """One refill visit: clinician time, kit, programmer session (assumption)."""
    infusate_per_ml: Money = 15.0
    """Compounded intrathecal drug per mL put into the pump (assumption)."""
    it_systemic_fraction: Annotated[float, Field(ge=0, le=1)] = 0.31
    """Share of the CMM systemic-drug cost the intrathecal patient keeps paying. Cited default:
    69 % stopped systemic opioids after implantation (Smith et al. 2002)."""
    cmm_drugs_first_month: Money = 1500.0
    """Systemic analgesics and adjuvants in month 1 of CMM (assumption)."""
    cmm_drug_growth_per_month: Annotated[float, Field(ge=0, le=1)] = 0.05
    """Monthly growth of the CMM drug cost from dose escalation (assumption: 5 %/month)."""
    cmm_care_per_month: Money = 300.0
    """Medical-management visits and side-effect care per month, paid in both arms
    (assumption)."""


@dataclass(frozen=True)
class CostCurves:
    """Month-by-month costs of both arms; lists are indexed by month − 1."""

    model: CostModel
    months: tuple[int, ...]
    it_monthly: tuple[float, ...]
    cmm_monthly: tuple[float, ...]
    it_cumulative: tuple[float, ...]
    cmm_cumulative: tuple[float, ...]
    refills_per_month: tuple[int, ...]
    crossover_month: int | None
    """The first month whose cumulative intrathecal cost is at or below the CMM one and stays so
    (``None``: not within the horizon)."""

    def cumulative(self, arm: str, month: int) -> float:
        """Cumulative cost of ``arm`` ('intrathecal' or 'cmm') at the end of ``month`` (1-based)."""
        if not 1 <= month <= len(self.months):
            raise SimulationError(f"month: got {month}; allowed: 1 to {len(self.months)}")
        if arm == "intrathecal":
            return self.it_cumulative[month - 1]
        if arm == "cmm":
            return self.cmm_cumulative[month - 1]
        raise SimulationError(f"cost arm: got {arm!r}; allowed: 'intrathecal' or 'cmm'")

    def to_dict(self) -> dict[str, object]:
        return {
            "currency": self.model.currency,
            "crossover_month": self.crossover_month,
            "months": list(self.months),
            "intrathecal_cumulative": list(self.it_cumulative),
            "cmm_cumulative": list(self.cmm_cumulative),
            "refills_per_month": list(self.refills_per_month),
        }


def _month_of(day: float) -> int:
    return math.floor(day / DAYS_PER_MONTH + 1e-12) + 1


def cost_curves(trace: Trace, model: CostModel, initial_fill_ml: float) -> CostCurves:
    """Cumulative costs per month of both arms, refills and fills taken from ``trace``.

    ``initial_fill_ml`` is the drug in the reservoir at the start of the run (the first fill),
    charged in month 1 with the implant.
    """
    n = model.months
    if trace.end_day + 1e-9 < n * DAYS_PER_MONTH:
        raise SimulationError(
            f"costs.months: {n} months need {n * DAYS_PER_MONTH:.1f} simulated days; "
            f"the run has {trace.end_day:g}"
        )
    refills = [0] * n
    fill_ml = [0.0] * n
    fill_ml[0] = initial_fill_ml
    for r in trace.refills:
        m = _month_of(r.day)
        if m <= n:
            refills[m - 1] += 1
            fill_ml[m - 1] += r.fill_ml
    cmm_drugs = model.cmm_drugs_first_month * growth_factors(n, model.cmm_drug_growth_per_month)
    cmm_monthly = cmm_drugs + model.cmm_care_per_month
    it_monthly = (
        model.it_care_per_month
        + np.asarray(refills) * model.refill_visit
        + np.asarray(fill_ml) * model.infusate_per_ml
        + model.it_systemic_fraction * cmm_drugs
        + model.cmm_care_per_month
    )
    it_monthly[0] += model.implant
    it_cum, cmm_cum = cumulative(it_monthly), cumulative(cmm_monthly)
    crossover = int(crossover_months(it_cum, cmm_cum)[0]) or None
    return CostCurves(
        model=model,
        months=tuple(range(1, n + 1)),
        it_monthly=tuple(float(x) for x in it_monthly),
        cmm_monthly=tuple(float(x) for x in cmm_monthly),
        it_cumulative=tuple(float(x) for x in it_cum),
        cmm_cumulative=tuple(float(x) for x in cmm_cum),
        refills_per_month=tuple(refills),
        crossover_month=crossover,
    )
