"""Calibration: delivery factor from refill discrepancies, demand from a press log."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pumpsim import load_catalog
from pumpsim.engine import simulate
from pumpsim.forecast import forecast
from pumpsim.forecast.calibration import (
    RefillObservation,
    estimate_delivery_factor,
    estimate_demand,
    observations_from_refills,
)
from pumpsim.models import (
    Catheter,
    DemandWindow,
    Drug,
    Infusate,
    Program,
    PtmDemand,
    PtmSettings,
    PumpState,
    Therapy,
)
from pumpsim.models.timeline import Refill, Timeline

T0 = dt.datetime(2026, 1, 5, 9, 0)


def therapy(when: dt.datetime = T0, **extra: object) -> Therapy:
    catalog = load_catalog()
    return Therapy(
        patient_id="cal-test",
        pump=catalog.pumps["synchromed-ii-20"],
        infusate=Infusate(drugs=(Drug.from_entry(catalog.drugs["baclofen"], 2.0),)),
        catheter=Catheter(volume_ml_given=0.2),
        program=Program.simple(0.5),
        state=PumpState(time=when, calculated_volume_ml=20.0),
        **extra,  # type: ignore[arg-type]
    )


def test_observation_implied_factor() -> None:
    """15 mL programmed, 1.2 mL less came out than expected: factor 1 + 1.2/15 = 1.08."""
    obs = RefillObservation(programmed_ml=15.0, discrepancy_ml=-1.2)
    assert obs.implied_factor == pytest.approx(1.08, abs=1e-12)


def test_posterior_is_the_precision_weighted_mean() -> None:
    pump = load_catalog().pumps["synchromed-ii-20"]
    obs = [RefillObservation(programmed_ml=15.0, discrepancy_ml=-1.2)] * 2
    est = estimate_delivery_factor(obs, pump, measurement_sd_ml=0.15, drift_sd=0.0)
    prior_sd = 0.145 / np.sqrt(3)
    var = (0.15 / 15) ** 2
    precision = 1 / prior_sd**2 + 2 / var
    assert est.sd == pytest.approx(np.sqrt(1 / precision), rel=1e-12)
    assert est.mean == pytest.approx((1 / prior_sd**2 + 2 * 1.08 / var) / precision, rel=1e-12)
    lo, hi = est.interval(0.95)
    assert lo < est.mean < hi and hi - lo == pytest.approx(2 * 1.959964 * est.sd, rel=1e-5)


def test_biased_pump_three_refills_calibrated_forecast_is_closer() -> None:
    """A pump delivering 8 % more than programmed, refilled every 30 days by the SimPy engine:
    after three refills the calibrated forecast's median dry date lies closer to the truth."""
    timeline = Timeline(
        entries=tuple(Refill(at=T0 + dt.timedelta(days=30 * k), fill_ml=20.0) for k in (1, 2, 3))
    )
    history = simulate(therapy(), timeline, days=91, delivery_factor=1.08, sample_every_days=30)
    observations = observations_from_refills(history.refills)
    assert len(observations) == 3
    assert [o.implied_factor for o in observations] == pytest.approx([1.08] * 3, abs=1e-9)
    est = estimate_delivery_factor(observations, load_catalog().pumps["synchromed-ii-20"])
    assert est.mean == pytest.approx(1.08, abs=0.005)
    now = T0 + dt.timedelta(days=90)
    truth_trace = simulate(therapy(now), days=45, delivery_factor=1.08, sample_every_days=30)
    dry = truth_trace.first_event("actual_dry")
    assert dry is not None
    truth = dry.time
    plain = forecast(therapy(now), runs=2000, seed=1)
    calibrated = forecast(therapy(now), runs=2000, seed=1, delivery_factor=est)
    assert plain.actual_dry.p50 is not None and calibrated.actual_dry.p50 is not None
    error_plain = abs((plain.actual_dry.p50 - truth).total_seconds())
    error_calibrated = abs((calibrated.actual_dry.p50 - truth).total_seconds())
    assert error_calibrated < error_plain
    assert error_calibrated < 0.2 * 86400  # within about 5 h of 37.04 days


def test_demand_estimated_from_a_simulated_press_log() -> None:
    """60 days of presses at 4/day, three times as often 12:00-18:00 as 06:00-12:00 and
    18:00-24:00, none at night: the estimate recovers the rate and the shape."""
    truth = PtmDemand(
        presses_per_day=4.0,
        profile=(
            DemandWindow(start_minute=0, weight=0.0),
            DemandWindow(start_minute=360, weight=1.0),
            DemandWindow(start_minute=720, weight=3.0),
            DemandWindow(start_minute=1080, weight=1.0),
        ),
        daily_cv=0.5,
    )
    midnight = dt.datetime(2026, 1, 5)
    ptm = PtmSettings(bolus_volume_ml=0.01, duration_days=0.005, lockout_days=0.0, max_per_day=48)
    t = therapy(midnight, ptm=ptm, demand=truth)
    trace = simulate(t, days=60, seed=4, sample_every_days=30)
    log = [p.time for p in trace.ptm_presses]
    est = estimate_demand(log, start=midnight, end=midnight + dt.timedelta(days=60))
    assert est.presses == len(log)
    assert est.demand.presses_per_day == pytest.approx((len(log) + 0.5) / 60, rel=1e-12)
    assert est.demand.presses_per_day == pytest.approx(4.0, rel=0.2)
    weights = [w.weight for w in est.demand.profile]
    assert weights[2] == 1.0 and weights[0] < 0.05
    assert weights[1] == pytest.approx(1 / 3, abs=0.12) and weights[3] == pytest.approx(
        1 / 3, abs=0.12
    )
    assert est.demand.daily_cv == pytest.approx(0.5, abs=0.25)
    assert est.rate_shape == len(log) + 0.5
    # feeds the forecast
    f = forecast(therapy(ptm=ptm), runs=300, demand=est)
    assert f.ptm_granted_per_day == pytest.approx(4.0, rel=0.3)


def test_skips_censored_and_pocket_fill_intervals() -> None:
    class Rec:
        def __init__(self, programmed: float, disc: float, withdrawn: float, pocket: bool) -> None:
            self.programmed_since_last_ml = programmed
            self.discrepancy_ml = disc
            self.withdrawn_ml = withdrawn
            self.pocket_fill = pocket

    records = [
        Rec(15, -1, 2, False),
        Rec(15, -1, 0, False),
        Rec(15, -1, 2, True),
        Rec(15, -20, 2, False),
    ]
    obs = observations_from_refills(records, initial_offset_ml=0.5)
    assert [(o.programmed_ml, o.offset_at_fill_ml) for o in obs] == [(15.0, 0.5)]
