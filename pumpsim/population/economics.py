"""What a cohort costs with the pump and what the same patients would cost on medical management.

The one home of pumpsim's money arithmetic (the teaching cost curve calls it too). Method
(docs/economics.md):

* **Months.** Curves are indexed by month 1 … M; month 1 is the tally's month 0 (it holds the
  implant). ``pump_cumulative[k - 1]`` is the cost per implanted patient up to the end of month k.
* **Pump arm**, per month, from the tally: every implant (``events['implant']``: pump + catheter +
  surgery), pump replacements (battery end, motor stall, over-infusion, pump surgery: the
  simulation replaces the pump for each), catheter revisions, infections, refill visits,
  emergency visits (in the tally an emergency visit is also a refill visit, so
  ``emergency_visit`` is what coming in as an emergency adds), pocket fills (priced as an
  emergency visit), the intrathecal drug (per mL put in and/or per day on the pump), the
  follow-up per patient-month on the pump, residual systemic drugs per patient-month alive, a
  share of the CMM cost while on the pump (``pump_cmm_share``) and the full CMM cost for the time
  a patient is alive without therapy from the pump (``alive − on_pump``: explanted, or in a
  therapy gap). An explant is priced by the infection that caused it.
* **CMM arm**: the same survival (the tally's alive patient-months) at ``cmm_per_month ×
  (1 + growth)^(m − 1)``.
* **Discounting**: month m is weighted ``(1 + r)^(−(m − 1)/12)`` for an annual rate r (month 1
  undiscounted; the monthly rate is ``(1 + r)^(1/12) − 1``, so 12 months at 5 % weigh exactly
  what a year at 5 % does). QALYs are discounted the same way.
* **Crossover**: the first month whose cumulative pump cost is at or below the CMM one and stays
  so to the horizon; ``None`` if there is none within the horizon.
* **PSA**: each parameter with a distribution is drawn ``psa_draws`` times (gamma for money, beta
  for utilities and shares, mean = the preset value), all draws at once as a draws × months
  array; the intervals are the 2.5th and 97.5th percentiles.

Everything is a deterministic function of (tally, preset, seed, psa_draws, discount_rate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pumpsim.core.errors import SimulationError
from pumpsim.models.economics import CMM_SHARE_FIELDS, MONEY_FIELDS, CostPreset, Distribution
from pumpsim.population.outcome import DAYS_PER_MONTH, MINUTES_PER_MONTH, CohortTally

__all__ = [
    "EVENT_PRICES",
    "MAX_PSA_DRAWS",
    "PSA_SPAWN_KEY",
    "EconomicResult",
    "crossover_months",
    "cumulative",
    "discount_factors",
    "evaluate",
    "growth_factors",
]

MAX_PSA_DRAWS = 100_000

PSA_SPAWN_KEY = (0xEC0,)
"""The PSA's stream is ``SeedSequence(seed, spawn_key=PSA_SPAWN_KEY)``: apart from every
simulated patient's ``SeedSequence([seed, i])``, so one cohort seed serves both."""

EVENT_PRICES: Mapping[str, tuple[str, ...]] = {
    "implant": ("implant_pump", "implant_catheter", "implant_surgery"),
    "battery_replacement": ("pump_replacement",),
    "motor_stall": ("pump_replacement",),
    "over_infusion": ("pump_replacement",),
    "pump_surgery": ("pump_replacement",),
    "catheter_surgery": ("complication_surgery",),
    "infection": ("infection",),
    "pocket_fill": ("emergency_visit",),
    "explant": (),
}
"""Tally event kind -> the preset's money fields one event costs (``()``: priced elsewhere)."""

SYSTEM_FIELDS = (
    "implant_pump",
    "implant_catheter",
    "implant_surgery",
    "pump_replacement",
    "complication_surgery",
    "infection",
)
"""The device's own costs (Bolash 2015's "system cost": refills and drugs excluded)."""

_BETA = (*CMM_SHARE_FIELDS, "utility_pump", "utility_cmm")
_TOLERANCE = 1e-9
"""Money below which two cumulative costs count as equal (float noise, not money)."""


# ---------------------------------------------------------------- the shared money primitives
def discount_factors(months: int, annual_rate: float) -> np.ndarray:
    """Weight of month m = 1 … ``months``: ``(1 + r)^(−(m − 1)/12)``."""
    return np.power(1.0 + annual_rate, -np.arange(months) / 12.0)


def growth_factors(months: int, growth_per_month: float) -> np.ndarray:
    """Cost multiplier of month m = 1 … ``months``: ``(1 + growth)^(m − 1)``."""
    return (1.0 + growth_per_month) ** np.arange(months, dtype=float)


def cumulative(monthly: np.ndarray) -> np.ndarray:
    """Cumulative costs along the last axis (months)."""
    out: np.ndarray = np.cumsum(monthly, axis=-1)
    return out


def crossover_months(pump_cum: np.ndarray, cmm_cum: np.ndarray) -> np.ndarray:
    """Per row (a PSA draw; or one curve), the first month (1-based) from which the pump's
    cumulative cost is at or below the CMM one to the end; 0 where there is none."""
    ok = np.atleast_2d(pump_cum) <= np.atleast_2d(cmm_cum) + _TOLERANCE
    stays = np.logical_and.accumulate(ok[:, ::-1], axis=1)[:, ::-1]
    first = np.argmax(stays, axis=1) + 1
    return np.where(stays.any(axis=1), first, 0)


# ---------------------------------------------------------------- the result
@dataclass(frozen=True)
class EconomicResult:
    """Costs per implanted patient, in ``currency`` at ``price_year`` prices."""

    title: str
    currency: str
    price_year: int
    patients: int
    months: int
    discount_rate: float
    pump_monthly: tuple[float, ...]
    """Discounted cost of each month, pump arm."""
    cmm_monthly: tuple[float, ...]
    pump_cumulative: tuple[float, ...]
    cmm_cumulative: tuple[float, ...]
    pump_total: float
    cmm_total: float
    components: Mapping[str, float]
    """Pump-arm total per money field (discounted), and the CMM it keeps paying (``cmm``)."""
    on_pump_days: float
    """Days on the pump per implanted patient (undiscounted)."""
    crossover_month: int | None
    """First month the pump's cumulative cost is ≤ CMM's and stays so; ``None``: never."""
    psa_draws: int
    seed: int
    crossover_interval: tuple[int | None, int | None] | None
    """2.5th and 97.5th percentile of the draws' crossover months (``None`` at an end: beyond
    the horizon); ``None`` without PSA."""
    never_cross_share: float | None
    """Share of PSA draws with no crossover within the horizon."""
    incremental_cost_interval: tuple[float, float] | None
    """Pump minus CMM total, 2.5th and 97.5th percentile of the draws."""
    pump_qalys: float | None = None
    cmm_qalys: float | None = None
    icer: float | None = None
    """(pump − CMM cost) / (pump − CMM QALYs); ``None`` without utilities or equal QALYs."""
    willingness_to_pay: float | None = None
    probability_cost_effective: float | None = None
    """Share of PSA draws with a positive net monetary benefit at ``willingness_to_pay``."""

    @property
    def incremental_cost(self) -> float:
        return self.pump_total - self.cmm_total

    @property
    def system_cost_per_day(self) -> float | None:
        """Implant, replacements, revisions and infections per day on the pump (refill visits
        and drugs excluded, as Bolash 2015 counts it)."""
        if self.on_pump_days <= 0:
            return None
        return sum(self.components[name] for name in SYSTEM_FIELDS) / self.on_pump_days

    def savings_at(self, month: int) -> float:
        """CMM minus pump cumulative cost at the end of ``month`` (1-based)."""
        if not 1 <= month <= self.months:
            raise SimulationError(f"month: got {month}; allowed: 1 to {self.months}")
        return self.cmm_cumulative[month - 1] - self.pump_cumulative[month - 1]

    def to_json_dict(self) -> dict[str, Any]:
        """The result as plain JSON data (``pumpsim.core.jsonout.document`` rounds it)."""
        interval = self.crossover_interval
        return {
            "title": self.title,
            "currency": self.currency,
            "price_year": self.price_year,
            "patients": self.patients,
            "months": self.months,
            "discount_rate": self.discount_rate,
            "pump_cumulative": list(self.pump_cumulative),
            "cmm_cumulative": list(self.cmm_cumulative),
            "pump_total": self.pump_total,
            "cmm_total": self.cmm_total,
            "incremental_cost": self.incremental_cost,
            "components": dict(self.components),
            "on_pump_days": self.on_pump_days,
            "system_cost_per_day": self.system_cost_per_day,
            "crossover_month": self.crossover_month,
            "psa": {
                "draws": self.psa_draws,
                "seed": self.seed,
                "crossover_interval": None if interval is None else list(interval),
                "never_cross_share": self.never_cross_share,
                "incremental_cost_interval": None
                if self.incremental_cost_interval is None
                else list(self.incremental_cost_interval),
                "probability_cost_effective": self.probability_cost_effective,
            },
            "qalys": None
            if self.pump_qalys is None
            else {"pump": self.pump_qalys, "cmm": self.cmm_qalys, "icer": self.icer},
            "willingness_to_pay": self.willingness_to_pay,
        }


# ---------------------------------------------------------------- quantities from the tally
@dataclass(frozen=True)
class _Quantities:
    """Per implanted patient and month: what each money field multiplies."""

    linear: np.ndarray
    """(len(MONEY_FIELDS) - 1, months): every money field but ``cmm_per_month``."""
    alive: np.ndarray
    on_pump: np.ndarray
    off_pump: np.ndarray


def _quantities(tally: CohortTally) -> _Quantities:
    if tally.patients <= 0 or tally.months <= 0:
        raise SimulationError(
            f"economics: the tally has {tally.patients} patients and {tally.months} months; "
            "allowed: at least 1 of each"
        )
    implants = tally.events["implant"]
    if int(implants[0]) < tally.patients:
        raise SimulationError(
            f"economics: the tally has {tally.patients} patients but {int(implants[0])} implants "
            "in month 0; every cohort patient is implanted in month 0 (events['implant'])"
        )
    n = float(tally.patients)
    monthly = {k: v.astype(float) / n for k, v in tally.monthly.items()}
    alive = monthly["alive_minutes"] / MINUTES_PER_MONTH
    on_pump = monthly["on_pump_minutes"] / MINUTES_PER_MONTH
    per_field = {name: np.zeros(tally.months) for name in MONEY_FIELDS}
    for kind, fields in EVENT_PRICES.items():
        for name in fields:
            per_field[name] = per_field[name] + tally.events[kind] / n
    per_field["refill_visit"] += monthly["refill_visits"]
    per_field["emergency_visit"] += monthly["emergency_visits"]
    per_field["drug_per_ml"] += monthly["infusate_ul"] / 1000.0
    per_field["drug_per_day"] += on_pump * DAYS_PER_MONTH
    per_field["pump_systemic_per_month"] += alive
    per_field["follow_up_per_month"] += on_pump
    linear = np.stack([per_field[name] for name in MONEY_FIELDS[:-1]])
    return _Quantities(linear, alive, on_pump, np.maximum(alive - on_pump, 0.0))


# ---------------------------------------------------------------- parameters and their draws
def _draw(dist: Distribution, mean: float, n: int, rng: np.random.Generator) -> np.ndarray:
    se = dist.standard_error
    if dist.kind == "gamma":
        return rng.gamma((mean / se) ** 2, se * se / mean, size=n)
    common = mean * (1.0 - mean) / (se * se) - 1.0
    return rng.beta(mean * common, (1.0 - mean) * common, size=n)


def _parameters(preset: CostPreset, draws: int, seed: int) -> dict[str, np.ndarray]:
    """Each parameter as a column: row 0 the preset's value, rows 1 … draws the PSA draws
    (drawn in a fixed order from one generator on the PSA stream of ``seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=PSA_SPAWN_KEY))
    names = [*MONEY_FIELDS, *_BETA]
    out = {}
    for name in names:
        if name.startswith("utility_") and preset.utilities is None:
            continue
        mean = preset.parameter_value(name)
        dist = preset.uncertainty.get(name)
        column = np.full(draws + 1, mean)
        if dist is not None and draws:
            column[1:] = _draw(dist, mean, draws, rng)
        out[name] = column
    return out


# ---------------------------------------------------------------- evaluate
def evaluate(
    tally: CohortTally,
    preset: CostPreset,
    *,
    psa_draws: int,
    seed: int,
    discount_rate: float | None = None,
) -> EconomicResult:
    """Cost curves, crossover, QALYs and PSA of ``tally`` priced with ``preset`` (see the
    module docstring); ``discount_rate`` (annual) overrides the preset's."""
    if not 0 <= psa_draws <= MAX_PSA_DRAWS:
        raise SimulationError(f"psa_draws: got {psa_draws}; allowed: 0 to {MAX_PSA_DRAWS}")
    rate = preset.discount_rate if discount_rate is None else discount_rate
    if not 0.0 <= rate <= 0.2:
        raise SimulationError(f"discount_rate: got {rate}; allowed: 0 to 0.2 a year")
    q = _quantities(tally)
    params = _parameters(preset, psa_draws, seed)
    weights = discount_factors(tally.months, rate)
    growth = growth_factors(tally.months, preset.cmm_growth_per_month)
    pump, cmm = _arm_costs(q, params, growth)
    pump, cmm = pump * weights, cmm * weights
    pump_cum, cmm_cum = cumulative(pump), cumulative(cmm)
    cross = crossover_months(pump_cum, cmm_cum)
    incremental = pump_cum[:, -1] - cmm_cum[:, -1]
    base = _components(q, params, growth, weights)
    result = EconomicResult(
        title=preset.title,
        currency=preset.currency,
        price_year=preset.price_year,
        patients=tally.patients,
        months=tally.months,
        discount_rate=rate,
        pump_monthly=tuple(float(x) for x in pump[0]),
        cmm_monthly=tuple(float(x) for x in cmm[0]),
        pump_cumulative=tuple(float(x) for x in pump_cum[0]),
        cmm_cumulative=tuple(float(x) for x in cmm_cum[0]),
        pump_total=float(pump_cum[0, -1]),
        cmm_total=float(cmm_cum[0, -1]),
        components=base,
        on_pump_days=float(q.on_pump.sum() * DAYS_PER_MONTH),
        crossover_month=int(cross[0]) or None,
        psa_draws=psa_draws,
        seed=seed,
        **_psa_summary(cross[1:], incremental[1:], tally.months),
    )
    if preset.utilities is None:
        return result
    return _with_qalys(result, q.alive, params, weights, incremental, preset.willingness_to_pay)


def _arm_costs(
    q: _Quantities, params: Mapping[str, np.ndarray], growth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Undiscounted monthly costs, (1 + draws) × months, of the pump and the CMM arm."""
    money = np.stack([params[name] for name in MONEY_FIELDS[:-1]], axis=1)
    cmm_rate = params["cmm_per_month"][:, None] * growth[None, :]
    share = params["pump_cmm_share"][:, None]
    pump = money @ q.linear + cmm_rate * (q.off_pump[None, :] + share * q.on_pump[None, :])
    return pump, cmm_rate * q.alive[None, :]


def _components(
    q: _Quantities, params: Mapping[str, np.ndarray], growth: np.ndarray, weights: np.ndarray
) -> dict[str, float]:
    """The pump arm's discounted total per money field (preset values, not draws)."""
    out = {
        name: float(params[name][0] * (q.linear[i] * weights).sum())
        for i, name in enumerate(MONEY_FIELDS[:-1])
    }
    share = float(params["pump_cmm_share"][0])
    cmm = params["cmm_per_month"][0] * growth * (q.off_pump + share * q.on_pump)
    out["cmm"] = float((cmm * weights).sum())
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def _psa_summary(cross: np.ndarray, incremental: np.ndarray, months: int) -> dict[str, Any]:
    if cross.size == 0:
        return {
            "crossover_interval": None,
            "never_cross_share": None,
            "incremental_cost_interval": None,
        }
    beyond = np.where(cross == 0, months + 1, cross)
    low, high = (int(x) for x in np.quantile(beyond, [0.025, 0.975], method="inverted_cdf"))
    return {
        "crossover_interval": (
            low if low <= months else None,
            high if high <= months else None,
        ),
        "never_cross_share": float(np.mean(cross == 0)),
        "incremental_cost_interval": _interval(incremental),
    }


def _with_qalys(
    result: EconomicResult,
    alive: np.ndarray,
    params: Mapping[str, np.ndarray],
    weights: np.ndarray,
    incremental: np.ndarray,
    wtp: float | None,
) -> EconomicResult:
    """``result`` with QALYs (same survival, one utility per arm), the ICER and, with a
    willingness to pay and PSA draws, the probability that the pump is cost-effective
    (positive net monetary benefit ``wtp × ΔQALY − Δcost``)."""
    years = float((alive * weights).sum() / 12.0)
    d_qaly = (params["utility_pump"] - params["utility_cmm"]) * years
    icer = None if d_qaly[0] == 0 else float(incremental[0] / d_qaly[0])
    probability = None
    if wtp is not None and result.psa_draws:
        probability = float(np.mean(wtp * d_qaly[1:] - incremental[1:] > 0))
    return replace(
        result,
        pump_qalys=float(params["utility_pump"][0]) * years,
        cmm_qalys=float(params["utility_cmm"][0]) * years,
        icer=icer,
        willingness_to_pay=wtp,
        probability_cost_effective=probability,
    )
