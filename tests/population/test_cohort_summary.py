"""Per-cohort rates with 95 % intervals from a tally."""

from __future__ import annotations

import json
import math

import pytest
from cohort_cases import deterministic

from pumpsim.io.cohort import cohort_from_dict, load_cohort
from pumpsim.io.profiles import shipped
from pumpsim.population.outcome import CohortTally
from pumpsim.population.simulate import simulate_cohort
from pumpsim.population.summary import (
    Estimate,
    median_month,
    poisson_rate,
    summarize_tally,
)

SMITH = load_cohort(next(p for p in shipped("cohorts") if p.stem == "smith-2002-pump-arm"))


def test_identical_patients_have_exact_rates() -> None:
    """The hand-computed cohort (see test_simulate): 27 visits and 27 alarms in one year alive,
    every patient alike, so the interval has no width; 3 days late: 25 emergencies with 0.5 day
    of gap each = 12.5 gap days a year."""
    on_time = summarize_tally(simulate_cohort(cohort_from_dict(deterministic(), "t"), 1))
    assert on_time.per_patient_year["refill_visits"] == Estimate(27.0, 27.0, 27.0)
    assert on_time.per_patient_year["alarms"] == Estimate(27.0, 27.0, 27.0)
    assert on_time.per_patient_year["gap_days"] == Estimate(0.0, 0.0, 0.0)
    assert on_time.mean_months_alive == Estimate(12.0, 12.0, 12.0)
    assert on_time.mean_months_on_pump == Estimate(12.0, 12.0, 12.0)
    assert on_time.median_months_alive is None
    assert on_time.patient_years == pytest.approx(3.0, abs=1e-12)
    late = summarize_tally(
        simulate_cohort(cohort_from_dict(deterministic(refill={"lateness": "3 day"}), "t"), 1)
    )
    gap = late.per_patient_year["gap_days"]
    assert (gap.value, gap.low, gap.high) == pytest.approx((12.5, 12.5, 12.5), abs=1e-9)
    assert late.per_patient_year["emergency_visits"].value == pytest.approx(25.0, abs=1e-12)
    assert late.mean_months_on_pump.value == pytest.approx(12 - 25 * 0.5 / (365.25 / 12))


def test_poisson_interval_matches_the_exact_one() -> None:
    """Byar's approximation against the exact (Garwood) 95 % limits: 0 -> [0, 3.689],
    10 -> [4.795, 18.39], 100 -> [81.36, 121.6]."""
    assert poisson_rate(0, 1.0).high == pytest.approx(3.689, abs=0.03)
    assert poisson_rate(0, 1.0).low == 0.0
    ten = poisson_rate(10, 2.0, 100)
    assert ten.value == 500.0
    assert (ten.low / 50, ten.high / 50) == pytest.approx((4.795, 18.39), abs=0.02)
    hundred = poisson_rate(100, 1.0)
    assert (hundred.low, hundred.high) == pytest.approx((81.36, 121.63), abs=0.05)


def test_median_month_interpolates_between_midpoints() -> None:
    import numpy as np

    assert median_month(np.array([0.9, 0.7, 0.3])) == pytest.approx(1.5 + 0.5 * 1.0, abs=1e-12)
    assert median_month(np.array([0.25])) == pytest.approx(0.5 * 0.5 / 0.75, abs=1e-12)
    assert median_month(np.array([0.9, 0.6])) is None


def test_cancer_cohort_median_survival_is_the_trials() -> None:
    """Exponential with 53.9 % alive at 6 months: median 204.8 days = 6.73 months; 20,000
    patients give it within sampling error; the median on pump is not later."""
    tally = simulate_cohort(SMITH.model_copy(update={"patients": 20_000}), 4, block_size=4096)
    summary = summarize_tally(tally)
    expected = 182.625 * math.log(2) / -math.log(0.539) / (365.25 / 12)
    assert summary.median_months_alive == pytest.approx(expected, abs=0.25)
    assert summary.median_months_on_pump is not None
    assert summary.median_months_on_pump <= summary.median_months_alive
    assert summary.deaths == int(tally.monthly["deaths"].sum())


def test_intervals_cover_the_large_cohort_value() -> None:
    """Refill visits per patient-year: the 95 % intervals of 20 cohorts of 150 patients cover
    the rate of a 20,000-patient cohort at least 16 times (binomial: P(< 16 | 0.95) < 2 %)."""
    truth = (
        summarize_tally(
            simulate_cohort(SMITH.model_copy(update={"patients": 20_000}), 99, block_size=4096)
        )
        .per_patient_year["refill_visits"]
        .value
    )
    small = SMITH.model_copy(update={"patients": 150})
    covered = 0
    for seed in range(20):
        est = summarize_tally(simulate_cohort(small, seed)).per_patient_year["refill_visits"]
        covered += est.low <= truth <= est.high
    assert covered >= 16


def test_summary_json_is_plain_data() -> None:
    summary = summarize_tally(simulate_cohort(SMITH, 3))
    data = json.loads(json.dumps(summary.to_json_dict()))
    assert data["patients"] == 101
    assert len(data["share_alive"]) == 24
    assert sum(data["refill_burden"]["patients"]) == 101
    assert set(data["events_per_100_pump_years"]) >= {"pocket_fill", "motor_stall", "infection"}
    assert (
        data["per_patient_year"]["refill_visits"]["low"]
        <= data["per_patient_year"]["refill_visits"]["value"]
    )


def test_an_empty_tally_summarizes_to_zeros() -> None:
    summary = summarize_tally(CohortTally.empty(12))
    assert summary.per_patient_year["refill_visits"] == Estimate(0.0, 0.0, 0.0)
    assert summary.mean_months_alive == Estimate(0.0, 0.0, 0.0)
