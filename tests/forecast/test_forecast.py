"""Forecast: deterministic dates, the refill-by rule, limiting factors, rosters and seeds.

The worked example (docs/forecasting.md): SynchroMed II 20 mL, 20 mL at 0.5 mL/day from
2026-03-02 08:00, alarm at 2 mL, no patient boluses, delivery factor uniform on 0.855..1.145."""

from __future__ import annotations

import datetime as dt

import pytest

from pumpsim import load_catalog
from pumpsim.core.errors import SimulationError
from pumpsim.forecast import (
    deterministic,
    elective_replacement_day,
    forecast,
    forecast_many,
)
from pumpsim.models import (
    Catheter,
    Drug,
    Infusate,
    Program,
    PtmDemand,
    PtmSettings,
    PumpState,
    Therapy,
)
from pumpsim.schedule.ptm import ptm_max_ml_per_day

T0 = dt.datetime(2026, 3, 2, 8, 0)


def therapy(
    *,
    pump: str = "synchromed-ii-20",
    rate: float = 0.5,
    drug: str = "morphine",
    concentration: float = 25.0,
    state: PumpState | None = None,
    ptm: PtmSettings | None = None,
    demand: PtmDemand | None = None,
    patient_id: str = "fc-test",
    **extra: object,
) -> Therapy:
    catalog = load_catalog()
    return Therapy(
        patient_id=patient_id,
        pump=catalog.pumps[pump],
        infusate=Infusate(drugs=(Drug.from_entry(catalog.drugs[drug], concentration),)),
        catheter=Catheter(volume_ml_given=0.2),
        program=Program.simple(rate),
        ptm=ptm,
        demand=demand,
        state=state or PumpState(time=T0, calculated_volume_ml=20.0),
        **extra,  # type: ignore[arg-type]
    )


def at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def test_deterministic_worked_example() -> None:
    d = deterministic(therapy())
    assert d.low_reservoir_alarm == d.programmer_lra == dt.datetime(2026, 4, 7, 8, 0)
    assert d.empty_reservoir == dt.datetime(2026, 4, 11, 8, 0)
    assert d.actual_dry == dt.datetime(2026, 4, 11, 8, 0)
    assert d.prometra_next_refill is None  # a SynchroMed: no controller "next refill" rule
    assert d.actual_dry_worst_case is not None and d.actual_dry_best_case is not None
    assert abs((d.actual_dry_worst_case - at(40 / 1.145)).total_seconds()) <= 0.5
    best = 40 + (20 / 0.855 - 20) / 0.048  # empty at day 40, then 0.048 mL/day
    assert abs((d.actual_dry_best_case - at(best)).total_seconds()) <= 0.5
    assert d.drug_stability_limit == dt.datetime(2026, 5, 31, 8, 0)  # morphine: 90 days


def test_probabilistic_worked_example_refill_by() -> None:
    """T = min(36 d, 40/f d). P(T < e) = (1.145 - 40/e) / 0.29 for e < 36 d, so the 1 % point
    is 40 / 1.1421 = 35.023 d = 2026-04-06 08:33: refill by 2026-04-05, the pump running dry
    binds. Earliest: half of the 18 mL usable delivered after 18 days = 2026-03-20."""
    f = forecast(therapy(), runs=10_000, seed=0)
    assert f.refill_by == dt.date(2026, 4, 5)
    assert f.limiting_factor == "actual_dry"
    assert f.earliest_refill == dt.date(2026, 3, 20)
    assert not f.overdue
    noon = dt.datetime(2026, 4, 6, 12, 0)
    e = (noon - T0).total_seconds() / 86400
    exact = (1.145 - 40 / e) / 0.29
    assert f.probability_before("refill_needed", noon) == pytest.approx(exact, abs=0.005)
    assert f.low_reservoir_alarm is not None
    assert f.low_reservoir_alarm.p05 == f.low_reservoir_alarm.p95 == dt.datetime(2026, 4, 7, 8)
    # dry quantiles: factor quantile q gives 40/f_q days before day 40 (f > 1); the sample
    # 95th percentile of 10,000 uniform factors has a standard error of 0.0006 (0.02 days)
    assert f.actual_dry.p05 is not None
    expected = at(40 / (1.145 - 0.05 * 0.29))
    assert abs((f.actual_dry.p05 - expected).total_seconds()) < 0.06 * 86400
    assert f.quantile("actual_dry", 0.05) == f.actual_dry.p05


def test_known_factor_the_alarm_binds() -> None:
    f = forecast(therapy(delivery_factor=1.0), runs=200)
    assert f.refill_by == dt.date(2026, 4, 6)  # alarm 2026-04-07 08:00
    assert f.limiting_factor == "low_reservoir_alarm"


def test_drug_stability_binds_for_a_first_fill() -> None:
    """Ziconotide (25 mcg/mL at 0.5 mL/day: 12.5 mcg/day, within its limits) in a new pump:
    refill within 14 days of the first fill."""
    state = PumpState(time=T0, calculated_volume_ml=20.0, first_fill=True)
    t = therapy(drug="ziconotide", concentration=0.025, rate=0.5, state=state)
    f = forecast(t, runs=200)
    assert f.drug_stability_limit == dt.datetime(2026, 3, 16, 8, 0)
    assert f.refill_by == dt.date(2026, 3, 15)
    assert f.limiting_factor == "drug_stability"


def test_elective_replacement_binds_near_end_of_battery() -> None:
    pump = load_catalog().pumps["synchromed-ii-20"]
    assert pump.battery is not None
    house, per_ml = pump.battery.drain_coefficients(pump.min_rate_ml_per_day)
    used = 1 - 10 * (house + per_ml * 0.5)  # ten days left at 0.5 mL/day
    t = therapy(state=PumpState(time=T0, calculated_volume_ml=20.0, battery_used=used))
    assert elective_replacement_day(t) == pytest.approx(10.0, abs=1e-9)
    f = forecast(t, runs=200)
    assert f.elective_replacement == dt.datetime(2026, 3, 12, 8, 0)
    assert f.refill_by == dt.date(2026, 3, 11)
    assert f.limiting_factor == "elective_replacement"


def test_prometra_rule_every_allowed_bolus() -> None:
    """Prometra PTC guide: 20 mL, 0.5 mL/day, 4 × 0.05 mL allowed -> 0.70 mL/day -> 3.0 mL
    after 17 / 0.7 = 24.2857 days."""
    ptm = PtmSettings(
        bolus_volume_ml=0.05, duration_days=5 / 1440, lockout_days=4 / 24, max_per_day=4
    )
    t = therapy(pump="prometra-ii-20", ptm=ptm, concentration=10.0)
    assert ptm_max_ml_per_day(ptm) == pytest.approx(0.2)
    d = deterministic(t)
    assert d.prometra_next_refill is not None
    assert abs((d.prometra_next_refill - at(17 / 0.7)).total_seconds()) <= 0.5
    # Prometra's default alarm is 3 mL, programmed delivery only: 34 days
    assert d.programmer_lra == dt.datetime(2026, 4, 5, 8, 0)


def test_boluses_bring_the_alarm_forward() -> None:
    ptm = PtmSettings(bolus_volume_ml=0.1, duration_days=1 / 48, lockout_days=1 / 8, max_per_day=3)
    t = therapy(ptm=ptm, demand=PtmDemand(presses_per_day=4, daily_cv=0.3))
    f = forecast(t, runs=2000, seed=3)
    assert f.low_reservoir_alarm is not None
    lra = f.low_reservoir_alarm
    assert lra.p05 is not None and lra.p95 is not None and lra.nominal is not None
    # the nominal is the expected-demand trajectory: inside the spread, ahead of the program
    assert lra.p05 <= lra.nominal <= lra.p95
    assert f.deterministic.programmer_lra is not None
    assert lra.nominal < f.deterministic.programmer_lra
    assert 2.0 < f.ptm_granted_per_day <= 3.0
    assert f.refill_by <= f.low_reservoir_alarm.p05.date()  # type: ignore[union-attr]


def test_overdue_when_as_of_is_late() -> None:
    f = forecast(therapy(), runs=500, as_of=at(37))
    assert f.overdue
    assert f.refill_by == f.earliest_refill == at(37).date()
    assert f.recommendation().startswith("Refill now")
    assert f.calculated_volume_ml == pytest.approx(20 - 0.5 * 37, abs=1e-9)


def test_json_shape() -> None:
    data = forecast(therapy(), runs=300, seed=5, fan=True).to_json_dict()
    for key in (
        "patient_id",
        "as_of",
        "calculated_volume_ml",
        "low_reservoir_alarm",
        "empty_reservoir",
        "drug_stability_limit",
        "elective_replacement",
        "refill_by",
        "earliest_refill",
        "limiting_factor",
        "risk",
        "runs",
        "seed",
    ):
        assert key in data
    assert set(data["low_reservoir_alarm"]) == {"nominal", "p05", "p50", "p95"}
    assert data["low_reservoir_alarm"]["nominal"] == "2026-04-07T08:00:00"
    assert data["as_of"] == "2026-03-02T08:00:00"
    assert dt.date.fromisoformat(data["refill_by"]) <= dt.date(2026, 4, 6)
    assert dt.date.fromisoformat(data["earliest_refill"]) == dt.date(2026, 3, 20)
    assert (data["runs"], data["seed"], data["risk"]) == (300, 5, 0.01)


def test_fan_chart_bands_are_ordered() -> None:
    ptm = PtmSettings(bolus_volume_ml=0.1, duration_days=1 / 48, lockout_days=1 / 8, max_per_day=3)
    t = therapy(ptm=ptm, demand=PtmDemand(presses_per_day=4))
    f = forecast(t, runs=500, fan=True)
    assert f.fan is not None
    band = f.fan.band("p05", "p95")
    assert band[0] == (20.0, T0, T0)
    assert all(early <= late for _, early, late in band)
    assert [v for v, *_ in band] == sorted((v for v, *_ in band), reverse=True)


def test_roster_same_answer_for_any_worker_count() -> None:
    ptm = PtmSettings(bolus_volume_ml=0.05, duration_days=0.01, lockout_days=0.1, max_per_day=4)
    roster = [
        therapy(
            patient_id=f"p{i}", rate=0.3 + 0.1 * i, ptm=ptm, demand=PtmDemand(presses_per_day=3)
        )
        for i in range(4)
    ]
    calls: list[tuple[int, int]] = []
    one = forecast_many(
        roster, runs=300, seed=9, workers=1, progress=lambda d, n: calls.append((d, n))
    )
    two = forecast_many(roster, runs=300, seed=9, workers=2)
    assert [f.to_json_dict() for f in one] == [f.to_json_dict() for f in two]
    assert [f.patient_id for f in two] == ["p0", "p1", "p2", "p3"]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len({f.stream for f in one}) == 4
    with pytest.raises(SimulationError):
        one[0].probability_before("actual_dry", T0)  # samples not kept for rosters


def test_bad_requests_raise() -> None:
    with pytest.raises(SimulationError):
        forecast(therapy(), runs=10, as_of=T0 - dt.timedelta(days=1))
    with pytest.raises(SimulationError):
        forecast(therapy(), runs=10, risk=1.5)
    with pytest.raises(SimulationError):
        forecast(therapy(), runs=10, min_used_share=2)
