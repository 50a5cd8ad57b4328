"""Health economics over a cohort tally: the arithmetic by hand, PSA determinism, ICER, invariants.

Tallies here are written by hand (integer arrays, as ``CohortTally`` holds them) so every
expected number can be worked out on paper: a patient alive a whole month is 43,830 minutes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.core.errors import SimulationError
from pumpsim.io.cohort import load_cohort
from pumpsim.io.economics import load_cost_preset
from pumpsim.io.profiles import shipped
from pumpsim.models.economics import CostPreset
from pumpsim.population.economics import (
    EVENT_PRICES,
    crossover_months,
    discount_factors,
    evaluate,
)
from pumpsim.population.outcome import EVENT_KINDS, MINUTES_PER_MONTH, CohortTally
from pumpsim.population.simulate import simulate_cohort

MONTH = int(MINUTES_PER_MONTH)  # 43,830 minutes
SOURCES = {"currency": "test", "price_year": "test", "discount_rate": "test"}


def tally(
    alive: list[int],
    *,
    patients: int | None = None,
    on_pump: list[int] | None = None,
    refills: list[int] | None = None,
    emergencies: list[int] | None = None,
    infusate_ul: list[int] | None = None,
    events: dict[str, list[int]] | None = None,
) -> CohortTally:
    """A tally from patients alive (whole months) per month; every patient implanted in month 0."""
    months = len(alive)
    patients = patients if patients is not None else alive[0]
    t = CohortTally.empty(months)
    zeros = [0] * months
    t.monthly["alive_minutes"][:] = np.asarray(alive) * MONTH
    t.monthly["on_pump_minutes"][:] = np.asarray(on_pump if on_pump is not None else alive) * MONTH
    t.monthly["refill_visits"][:] = refills or zeros
    t.monthly["emergency_visits"][:] = emergencies or zeros
    t.monthly["infusate_ul"][:] = infusate_ul or zeros
    t.events["implant"][0] = patients
    for kind, counts in (events or {}).items():
        t.events[kind][:] = counts
    return CohortTally(
        months=months,
        patients=patients,
        monthly=t.monthly,
        events=t.events,
        patient_sum=t.patient_sum,
        patient_sumsq=t.patient_sumsq,
        refill_burden=t.refill_burden,
    )


def preset(**fields: Any) -> CostPreset:
    data: dict[str, Any] = {
        "title": "hand",
        "source": "hand-made",
        "currency": "USD",
        "price_year": 2024,
        "cmm_per_month": 400.0,
    }
    data.update(fields)
    sourced = {
        k: "test"
        for k in data
        if k not in ("title", "source", "sources", "uncertainty", "utilities")
    }
    for key in ("utilities", "uncertainty"):
        if key in data:
            sourced[key] = "test"
    data["sources"] = {**SOURCES, **sourced}
    return CostPreset.model_validate(data)


def test_cumulative_curves_and_crossover_by_hand() -> None:
    """2 patients, implant 1000 each, follow-up 100, one refill visit of 50 each in month 2, CMM
    400 a month: pump 1100, 1250, 1350, 1450; CMM 400, 800, 1200, 1600 -> crossover month 4."""
    t = tally([2, 2, 2, 2, 2, 2], refills=[0, 2, 0, 0, 0, 0])
    p = preset(
        implant_pump=700.0,
        implant_catheter=100.0,
        implant_surgery=200.0,
        follow_up_per_month=100.0,
        refill_visit=50.0,
    )
    r = evaluate(t, p, psa_draws=0, seed=1)
    assert r.pump_cumulative == pytest.approx([1100, 1250, 1350, 1450, 1550, 1650], abs=1e-9)
    assert r.cmm_cumulative == pytest.approx([400, 800, 1200, 1600, 2000, 2400], abs=1e-9)
    assert r.crossover_month == 4
    assert r.savings_at(6) == pytest.approx(750.0, abs=1e-9)
    assert r.components["refill_visit"] == pytest.approx(50.0, abs=1e-12)
    assert r.components["implant_pump"] == pytest.approx(700.0, abs=1e-12)
    assert r.crossover_interval is None and r.icer is None


def test_crossover_must_stay_a_later_revision_undoes_it() -> None:
    """Same as above plus a catheter revision (1000) for both patients in month 5: the pump arm
    is at or below CMM in month 4 only, so there is no crossover within 6 months."""
    t = tally([2] * 6, refills=[0, 2, 0, 0, 0, 0], events={"catheter_surgery": [0, 0, 0, 0, 2, 0]})
    p = preset(
        implant_surgery=1000.0,
        follow_up_per_month=100.0,
        refill_visit=50.0,
        complication_surgery=1000.0,
    )
    r = evaluate(t, p, psa_draws=0, seed=1)
    assert r.pump_cumulative[3] <= r.cmm_cumulative[3]
    assert r.pump_cumulative[4] == pytest.approx(2550.0) and r.cmm_cumulative[4] == 2000.0
    assert r.crossover_month is None
    cmm = np.array([[4.0, 4.0, 4.0, 4.0]])
    assert crossover_months(np.array([[5.0, 3.0, 4.0, 1.0]]), cmm).tolist() == [2]  # 4 ≤ 4 holds
    assert crossover_months(np.array([[5.0, 3.0, 5.0, 1.0]]), cmm).tolist() == [4]  # 3 undone
    assert crossover_months(np.array([1.0, 5.0]), np.array([2.0, 4.0])).tolist() == [0]


def test_survival_weighting_explant_and_event_prices() -> None:
    """Deaths shrink both arms alike; a patient alive without a pump costs CMM in the pump arm;
    battery replacement and motor stall cost a pump replacement, infections their own price, a
    pocket fill an emergency visit, an explant nothing of its own."""
    t = tally(
        [4, 4, 2, 2],
        on_pump=[4, 4, 2, 1],
        emergencies=[0, 1, 0, 0],
        infusate_ul=[40_000, 40_000, 20_000, 10_000],
        events={
            "battery_replacement": [0, 0, 1, 0],
            "motor_stall": [0, 1, 0, 0],
            "infection": [0, 0, 0, 1],
            "pocket_fill": [0, 1, 0, 0],
            "explant": [0, 0, 0, 1],
        },
    )
    p = preset(
        implant_pump=1000.0,
        pump_replacement=800.0,
        infection=300.0,
        emergency_visit=200.0,
        drug_per_ml=2.0,
        cmm_per_month=100.0,
    )
    r = evaluate(t, p, psa_draws=0, seed=1)
    # per patient (4): implant 1000; stall 800/4; battery 800/4; infection 300/4; emergency
    # visit and pocket fill 2 x 200/4; drug 110 mL x 2 / 4; CMM for the patient alive without a
    # pump in month 4: 100/4
    assert r.pump_total == pytest.approx(1000 + 200 + 200 + 75 + 100 + 55 + 25, abs=1e-9)
    assert r.cmm_total == pytest.approx(100 * (4 + 4 + 2 + 2) / 4, abs=1e-9)
    assert r.components["cmm"] == pytest.approx(25.0)
    assert r.on_pump_days == pytest.approx((4 + 4 + 2 + 1) / 4 * 365.25 / 12)
    assert r.system_cost_per_day == pytest.approx((1000 + 400 + 75) / r.on_pump_days)


def test_discounting_by_hand_1000_a_month_at_5_percent() -> None:
    """1000 a month for 12 months at 5 %/yr: sum of 1000 × 1.05^(−m/12), m = 0 … 11 = 11,735.79."""
    t = tally([1] * 12)
    r = evaluate(t, preset(cmm_per_month=1000.0), psa_draws=0, seed=1, discount_rate=0.05)
    assert round(r.cmm_total, 2) == 11735.79
    assert r.cmm_monthly[0] == 1000.0
    assert r.cmm_monthly[11] == pytest.approx(1000 / 1.05 ** (11 / 12), abs=1e-9)
    monthly = (1.05 ** (1 / 12)) - 1  # the documented monthly rate
    assert discount_factors(12, 0.05)[5] == pytest.approx(1 / (1 + monthly) ** 5, abs=1e-15)
    assert evaluate(t, preset(cmm_per_month=1000.0), psa_draws=0, seed=1).cmm_total == 12000.0


def test_cmm_growth_compounds_monthly() -> None:
    t = tally([1] * 3)
    r = evaluate(t, preset(cmm_per_month=100.0, cmm_growth_per_month=0.1), psa_draws=0, seed=1)
    assert r.cmm_monthly == pytest.approx((100.0, 110.0, 121.0), abs=1e-9)


def test_pump_cmm_share_charges_part_of_cmm_while_on_the_pump() -> None:
    t = tally([1, 1])
    r = evaluate(t, preset(cmm_per_month=100.0, pump_cmm_share=0.31), psa_draws=0, seed=1)
    assert r.pump_cumulative == pytest.approx((31.0, 62.0), abs=1e-12)


UNCERTAIN = {
    "implant_pump": {"kind": "gamma", "se": 300.0},
    "cmm_per_month": {"kind": "gamma", "ci95": [300.0, 500.0]},
    "follow_up_per_month": {"kind": "gamma", "iqr": [80.0, 120.0]},
}


def test_psa_same_seed_same_interval_other_seed_differs() -> None:
    t = tally([10] * 24)
    p = preset(implant_pump=3000.0, follow_up_per_month=100.0, uncertainty=UNCERTAIN)
    a = evaluate(t, p, psa_draws=2000, seed=7)
    b = evaluate(t, p, psa_draws=2000, seed=7)
    c = evaluate(t, p, psa_draws=2000, seed=8)
    assert a == b
    assert a.crossover_month == 10  # 3000 / (400 - 100) = 10
    assert a.crossover_interval is not None and a.incremental_cost_interval is not None
    low, high = a.crossover_interval
    assert low is not None and high is not None and low < 10 < high
    assert a.incremental_cost_interval != c.incremental_cost_interval
    assert a.pump_cumulative == c.pump_cumulative  # the base case does not depend on the seed


def test_psa_draws_have_the_preset_means() -> None:
    """Gamma draws keep the mean: the mean incremental cost of many draws is near the base."""
    t = tally([10] * 24)
    p = preset(implant_pump=3000.0, follow_up_per_month=100.0, uncertainty=UNCERTAIN)
    r = evaluate(t, p, psa_draws=20000, seed=3)
    assert r.incremental_cost == pytest.approx(3000 + 24 * 100 - 24 * 400)
    assert r.incremental_cost_interval is not None
    low, high = r.incremental_cost_interval
    assert low < r.incremental_cost < high
    assert r.never_cross_share is not None and 0 < r.never_cross_share < 0.1


def test_icer_qalys_and_probability_cost_effective() -> None:
    """12 months alive, no discount: 1 life-year; utilities 0.6 vs 0.4 -> 0.2 QALY. Pump costs
    3000 + 12 × 100 = 4200, CMM 12 × 300 = 3600: ICER = 600 / 0.2 = 3000 per QALY."""
    t = tally([5] * 12)
    p = preset(
        implant_surgery=3000.0,
        follow_up_per_month=100.0,
        cmm_per_month=300.0,
        utilities={"pump": 0.6, "cmm": 0.4},
        willingness_to_pay=20000.0,
        uncertainty={
            "utility_pump": {"kind": "beta", "se": 0.05},
            "utility_cmm": {"kind": "beta", "se": 0.05},
        },
    )
    r = evaluate(t, p, psa_draws=4000, seed=11)
    assert r.pump_qalys == pytest.approx(0.6) and r.cmm_qalys == pytest.approx(0.4)
    assert r.icer == pytest.approx(3000.0, abs=1e-9)
    # cost-effective when 20000 × ΔQ > 600, i.e. ΔQ > 0.03; ΔQ ~ 0.2 ± 0.071
    assert r.probability_cost_effective is not None
    assert 0.98 < r.probability_cost_effective < 1.0
    same = evaluate(t, p.model_copy(update={"utilities": p.utilities}), psa_draws=0, seed=11)
    assert same.probability_cost_effective is None and same.icer == pytest.approx(3000.0)
    assert r.to_json_dict()["qalys"] == {"pump": r.pump_qalys, "cmm": r.cmm_qalys, "icer": r.icer}


def test_bad_arguments_are_named() -> None:
    t = tally([1, 1])
    with pytest.raises(SimulationError, match="psa_draws: got -1"):
        evaluate(t, preset(), psa_draws=-1, seed=1)
    with pytest.raises(SimulationError, match="discount_rate: got 0.5"):
        evaluate(t, preset(), psa_draws=0, seed=1, discount_rate=0.5)
    no_implant = tally([1, 1])
    no_implant.events["implant"][0] = 0
    with pytest.raises(SimulationError, match="1 patients but 0 implants"):
        evaluate(no_implant, preset(), psa_draws=0, seed=1)


def test_json_dict_carries_curves_and_psa() -> None:
    t = tally([2] * 6, refills=[0, 2, 0, 0, 0, 0])
    p = preset(implant_pump=1000.0, follow_up_per_month=100.0, uncertainty=UNCERTAIN)
    d = evaluate(t, p, psa_draws=50, seed=2).to_json_dict()
    assert d["crossover_month"] is None or isinstance(d["crossover_month"], int)
    assert len(d["pump_cumulative"]) == 6 and d["currency"] == "USD"
    assert d["psa"]["draws"] == 50 and len(d["psa"]["incremental_cost_interval"]) == 2


@st.composite
def _tallies(draw: st.DrawFn) -> CohortTally:
    months = draw(st.integers(1, 36))
    patients = draw(st.integers(1, 50))
    alive = sorted(
        draw(st.lists(st.integers(0, patients), min_size=months, max_size=months)), reverse=True
    )
    alive[0] = patients
    counts = st.lists(st.integers(0, 5), min_size=months, max_size=months)
    return tally(
        alive,
        patients=patients,
        on_pump=[draw(st.integers(0, a)) for a in alive],
        refills=draw(counts),
        emergencies=draw(counts),
        infusate_ul=draw(st.lists(st.integers(0, 10**6), min_size=months, max_size=months)),
        events={"catheter_surgery": draw(counts), "infection": draw(counts)},
    )


money = st.floats(0, 50_000, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    t=_tallies(),
    implant=money,
    visit=money,
    cmm=money,
    rate=st.floats(0, 0.2),
    growth=st.floats(-0.1, 0.2),
)
def test_cumulative_costs_never_fall_and_discounting_never_raises_a_total(
    t: CohortTally, implant: float, visit: float, cmm: float, rate: float, growth: float
) -> None:
    p = preset(
        implant_surgery=implant,
        refill_visit=visit,
        emergency_visit=visit,
        complication_surgery=visit,
        infection=visit,
        drug_per_ml=1.0,
        follow_up_per_month=visit / 10,
        cmm_per_month=cmm,
        cmm_growth_per_month=growth,
    )
    plain = evaluate(t, p, psa_draws=0, seed=0, discount_rate=0.0)
    discounted = evaluate(t, p, psa_draws=0, seed=0, discount_rate=rate)
    for r in (plain, discounted):
        assert np.all(np.diff(r.pump_cumulative) >= 0) and np.all(np.diff(r.cmm_cumulative) >= 0)
    assert discounted.pump_total <= plain.pump_total + 1e-9
    assert discounted.cmm_total <= plain.cmm_total + 1e-9


def test_every_event_kind_has_a_price_rule() -> None:
    """One pump surgery and one over-infusion each cost a new pump; a catheter revision its own
    price; every kind the tally counts is priced by exactly one rule."""
    assert set(EVENT_PRICES) == set(EVENT_KINDS)
    t = tally(
        [1, 1], events={"pump_surgery": [0, 1], "over_infusion": [1, 0], "catheter_surgery": [0, 1]}
    )
    p = preset(pump_replacement=5000.0, complication_surgery=700.0, cmm_per_month=0.0)
    r = evaluate(t, p, psa_draws=0, seed=1)
    assert r.pump_cumulative == pytest.approx((5000.0, 10700.0), abs=1e-9)


def test_a_simulated_cancer_cohort_is_priced_from_its_tally() -> None:
    """On a real ``simulate_cohort`` tally (the Smith 2002 pump-arm cohort, with deaths), each
    pump-arm component is its price times the tally's count per patient, and CMM is the same
    survival at the CMM price."""
    (path,) = [p for p in shipped("cohorts") if p.stem == "smith-2002-pump-arm"]
    t = simulate_cohort(load_cohort(path), 7)
    p = load_cost_preset("brogan-2013")
    r = evaluate(t, p, psa_draws=0, seed=7)
    n = t.patients
    alive_months = t.monthly["alive_minutes"].sum() / MINUTES_PER_MONTH / n
    assert int(t.monthly["deaths"].sum()) > 0 and alive_months < t.months
    assert r.cmm_total == pytest.approx(p.cmm_per_month * alive_months, rel=1e-12)
    visits = t.monthly["refill_visits"].sum() / n
    assert r.components["refill_visit"] == pytest.approx(p.refill_visit * visits, rel=1e-12)
    replaced = sum(
        int(t.events[k].sum())
        for k in ("motor_stall", "over_infusion", "pump_surgery", "battery_replacement")
    )
    assert r.components["pump_replacement"] == pytest.approx(p.pump_replacement * replaced / n)
    on_pump_days = t.monthly["on_pump_minutes"].sum() / 1440 / n
    assert r.components["drug_per_day"] == pytest.approx(p.drug_per_day * on_pump_days)
    assert r.pump_total == pytest.approx(sum(r.components.values()), rel=1e-12)
