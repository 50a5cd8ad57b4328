"""The models' own rules, from Python code and from files (the schedule they feed is tested in
tests/schedule)."""

from __future__ import annotations

import pydantic
import pytest
from hypothesis import settings

from pumpsim.io.profiles import load_catalog
from pumpsim.models import (
    AlarmRange,
    Catheter,
    Drug,
    Infusate,
    PeriodicBolus,
    Program,
    PtmDemand,
    PtmSettings,
)
from pumpsim.models.base import FROM_FILE

FAST = settings(max_examples=40, deadline=None, derandomize=True)


def test_models_are_frozen() -> None:
    program = Program.simple(0.5)
    with pytest.raises(pydantic.ValidationError):
        program.rate_ml_per_day = 1.0  # type: ignore[misc]


def test_python_code_may_pass_internal_floats_but_files_may_not() -> None:
    assert Catheter(volume_ml_given=0.2).volume_ml == 0.2
    assert Catheter.model_validate({"volume": "0.2 mL"}, context=FROM_FILE).volume_ml == 0.2
    with pytest.raises(pydantic.ValidationError, match="bare number has no unit"):
        Catheter.model_validate({"volume": 0.2}, context=FROM_FILE)


def test_catheter_from_length() -> None:
    """Prometra IFU: catheter trimmed by 20 cm: 90 cm × 0.0026 mL/cm = 0.234 mL."""
    c = Catheter.model_validate(
        {"length": "90 cm", "volume_per_length": "0.0026 mL/cm"}, context=FROM_FILE
    )
    assert c.volume_ml == pytest.approx(0.234, abs=1e-12)
    with pytest.raises(pydantic.ValidationError, match="give volume, or both"):
        Catheter.model_validate({"length": "90 cm"}, context=FROM_FILE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "simple"}, "a simple program needs a rate"),
        ({"mode": "simple", "rate": 0.5, "steps": [{"start": "00:00", "rate": 0.5}]}, "not steps"),
        ({"mode": "flex", "rate": 0.5}, "not a single rate"),
        ({"mode": "flex"}, "needs daily steps"),
        (
            {
                "mode": "flex",
                "steps": [{"start": "00:00", "rate": 0.5}, {"start": "00:00", "rate": 1}],
            },
            "strictly increasing",
        ),
        ({"mode": "flex", "steps": [{"start": "06:00", "rate": 0.5}]}, "got 06:00"),
        ({"mode": "flex", "steps": [{"start": "6:00", "rate": 0.5}]}, "HH:MM"),
        ({"mode": "simple", "rate": -0.1}, "greater than or equal to 0"),
    ],
)
def test_program_shape_rules(data: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Program.model_validate(data)


def test_periodic_bolus_and_ptm_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="longer than its repeat interval"):
        PeriodicBolus(start_minute=0, every_days=1 / 24, volume_ml=0.05, duration_days=0.1)
    bolus = PeriodicBolus(start_minute=420, every_days=1, volume_ml=0.05, duration_days=1 / 48)
    assert bolus.rate_ml_per_day == pytest.approx(2.4, rel=1e-12)
    ptm = PtmSettings.model_validate(
        {"bolus": "0.5 mg", "duration": "10 min", "lockout": "3 h", "max_per_day": 4},
        context={**FROM_FILE, "concentration_mg_per_ml": 25.0},
    )
    assert ptm.bolus_volume_ml == pytest.approx(0.02, rel=1e-12)
    assert ptm.rate_ml_per_day == pytest.approx(0.02 * 144, rel=1e-12)
    with pytest.raises(pydantic.ValidationError, match="no drug concentration"):
        PtmSettings.model_validate(
            {"bolus": "0.5 mg", "duration": "10 min", "lockout": "3 h", "max_per_day": 4},
            context=FROM_FILE,
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "either presses_per_day or a list"),
        ({"presses_per_day": 3, "presses": ["2026-01-01T08:00"]}, "not both"),
        ({"presses": ["2026-01-01T08:00"], "daily_cv": 0.3}, "not to a press log"),
        ({"presses_per_day": 3, "profile": [{"start": "06:00", "weight": 1}]}, "start at 00:00"),
        (
            {"presses_per_day": 3, "profile": [{"start": "00:00", "weight": 0}]},
            "cannot all be zero",
        ),
        ({"presses": ["2026-01-02T08:00", "2026-01-01T08:00"]}, "time order"),
    ],
)
def test_demand_rules(data: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        PtmDemand.model_validate(data)


def test_demand_day_profile_shares_sum_to_one() -> None:
    demand = PtmDemand.model_validate(
        {
            "presses_per_day": 3,
            "profile": [{"start": "00:00", "weight": 1}, {"start": "12:00", "weight": 3}],
        }
    )
    assert demand.day_profile() == [(0, 720, 0.25), (720, 1440, 0.75)]


def test_alarm_range_and_drug_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="min <= default <= max"):
        AlarmRange(default_ml=0.5, min_ml=1, max_ml=10)
    catalog = load_catalog()
    zic = catalog.drugs["ziconotide"]
    assert zic.stability_for(0.1) == 84 and zic.stability_for(0.025) == 40
    mixture = Infusate(
        drugs=(
            Drug.from_entry(zic, 0.1),
            Drug.from_entry(catalog.drugs["morphine"], 25.0),
        )
    )
    assert mixture.stability_days() == 84
    assert mixture.stability_days(first_fill=True) == 14
    assert mixture.label() == "ziconotide 100 mcg/mL + morphine 25 mg/mL"


def test_pump_catalog_values_are_parsed_with_units() -> None:
    pump = load_catalog().pumps["synchromed-ii-20"]
    assert pump.reservoir_ml == 20.0
    assert pump.min_rate_ml_per_day == 0.048
    assert pump.rated_accuracy == pytest.approx(0.145, rel=1e-12)
    assert pump.delivery_factor_range == pytest.approx((0.855, 1.145), rel=1e-12)
    assert pump.low_reservoir_alarm is not None and pump.low_reservoir_alarm.default_ml == 2.0
