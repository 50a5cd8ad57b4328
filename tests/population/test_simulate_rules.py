"""The cohort asks the single-patient pump rules, and its vectorized forms agree with them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.core.clock import to_days
from pumpsim.forecast.deterministic import deterministic, expected_ptm_ml_per_day
from pumpsim.io.cohort import load_cohort
from pumpsim.io.profiles import load_catalog, shipped
from pumpsim.models import PtmDemand
from pumpsim.models.cohort import CohortSpec
from pumpsim.population.simulate import fill_days
from pumpsim.population.therapies import combinations

SMITH = load_cohort(next(p for p in shipped("cohorts") if p.stem == "smith-2002-pump-arm"))
BACLOFEN = load_cohort(next(p for p in shipped("cohorts") if p.stem == "baclofen-spasticity"))
_SECOND = 1 / 86_400  # pump times are kept to the second


def _with_pump(key: str) -> CohortSpec:
    pump = load_catalog().pumps[key]
    return SMITH.model_copy(update={"pumps": (SMITH.pumps[0].model_copy(update={"pump": pump}),)})


PROMETRA = _with_pump("prometra-ii-20")


@settings(max_examples=40, deadline=None)
@given(
    dose=st.floats(1.5, 15.0),
    presses=st.floats(0.0, 8.0),
    factor=st.floats(0.9, 1.15),
    prometra=st.booleans(),
)
def test_fill_days_are_the_forecasts_dates(
    dose: float, presses: float, factor: float, prometra: bool
) -> None:
    """Morphine 25 mg/mL on a SynchroMed II or a Prometra II 20 mL with the Smith PTM: the
    cohort's alarm, dry, empty and booking dates of a full fill equal ``deterministic()``'s
    (the programmer's alarm date, or Prometra's "next refill"), to the second."""
    spec = PROMETRA if prometra else SMITH
    therapy = spec.therapy(0, 0, dose).model_copy(
        update={"demand": PtmDemand(presses_per_day=presses)}
    )
    combo = combinations(spec)[0]
    ptm_ml = combo.bolus_ml * min(presses, combo.max_boluses_per_day)
    assert ptm_ml == pytest.approx(expected_ptm_ml_per_day(therapy), abs=1e-15)
    days = fill_days(
        np.array([combo.reservoir_ml - combo.alarm_ml]),
        np.array([combo.reservoir_ml]),
        np.array([combo.empty_ml]),
        np.array([dose * combo.ml_per_mg]),
        np.array([ptm_ml]),
        np.array([factor]),
        np.array([combo.controller_ml]),
        np.array([combo.ptm_max_ml_per_day]),
    )
    forecast = deterministic(therapy, delivery_factor=factor)
    start = therapy.state.time
    assert forecast.low_reservoir_alarm is not None and forecast.empty_reservoir is not None
    assert days.alarm[0] == pytest.approx(to_days(start, forecast.low_reservoir_alarm), abs=_SECOND)
    # a pump that stops at "empty" (rate_after_empty 0) while under-delivering is never dry
    dry = math.inf if forecast.actual_dry is None else to_days(start, forecast.actual_dry)
    empty = to_days(start, forecast.empty_reservoir)
    assert days.empty[0] == pytest.approx(empty, abs=_SECOND)
    assert days.therapy_ends[0] == pytest.approx(min(dry, empty), abs=_SECOND)
    if factor >= 1:  # an under-delivering pump still trickles at rate_after_empty after "empty"
        assert days.dry[0] == pytest.approx(dry, abs=_SECOND)
    booking = forecast.prometra_next_refill if prometra else forecast.programmer_lra
    assert booking is not None
    assert days.programmer_alarm[0] == pytest.approx(to_days(start, booking), abs=_SECOND)


def test_combinations_take_each_rule_from_its_home() -> None:
    """Baclofen: 2 pumps × 2 options; alarm 2 mL (SynchroMed default), 180-day stability,
    housekeeping and per-mL battery drain from the catalog's battery model."""
    combos = combinations(BACLOFEN)
    assert [(c.pump, c.option) for c in combos] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    big = combos[0]
    therapy = BACLOFEN.therapy(0, 0, 0.4)
    assert big.reservoir_ml == therapy.pump.reservoir_ml == 40.0
    assert big.alarm_ml == therapy.low_reservoir_alarm_ml == 2.0
    assert big.stability_days == 180.0
    assert big.ml_per_mg == pytest.approx(1 / 2.0, abs=1e-15)  # 2000 mcg/mL = 2 mg/mL
    assert therapy.pump.battery is not None
    assert (big.housekeeping_per_day, big.per_ml) == therapy.pump.battery.drain_coefficients(
        therapy.pump.min_rate_ml_per_day
    )
    assert big.max_boluses_per_day == 0 and big.bolus_ml == 0.0
    assert big.stall_per_year == BACLOFEN.events.motor_stall.per_pump_year
    smith = combinations(SMITH)[0]
    assert smith.max_boluses_per_day == 4  # 4 a day, 3 h lockout: 8 would fit
    assert smith.bolus_ml == pytest.approx(0.02, abs=1e-15)


def test_off_label_options_stall_more() -> None:
    option = BACLOFEN.therapies[0].model_copy(update={"on_label": False})
    spec = BACLOFEN.model_copy(update={"therapies": (option, BACLOFEN.therapies[1])})
    combos = combinations(spec)
    assert combos[0].stall_per_year == spec.events.motor_stall.off_label_per_pump_year
    assert combos[1].stall_per_year == spec.events.motor_stall.per_pump_year
