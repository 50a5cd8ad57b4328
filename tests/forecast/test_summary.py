"""``summarize``: daily volume and dose, PTM allowance, days of supply and stability limit, each
checked against a calculation done by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pydantic
import pytest
from conftest import PATIENTS, base_profile

from pumpsim.forecast.summary import TherapySummary, summarize
from pumpsim.io.profiles import load_profile, therapy_from_dict
from pumpsim.schedule.limits import dose_limit_check


def _summary(name: str) -> TherapySummary:
    return summarize(load_profile(PATIENTS / name).therapy)


def _from(data: dict[str, Any]) -> TherapySummary:
    return summarize(therapy_from_dict(data, "test.yaml"))


def test_prometra_worked_example() -> None:
    """domain.md: 20 mL, basal 0.5 mL/day, 4 × 0.05 mL boluses allowed, alarm at 3 mL:
    (20 − 3)/0.5 = 34 days; with every bolus (20 − 3)/0.70 ≈ 24.3 days; empty after 40 days."""
    s = _summary("prometra-morphine.yaml")
    assert s.mean_daily_volume_ml == pytest.approx(0.5, abs=1e-12)
    assert s.ptm_max_volume_ml_per_day == pytest.approx(0.2, abs=1e-12)
    assert s.low_reservoir_alarm_ml == 3.0
    assert s.days_to_low_reservoir == pytest.approx(34.0, abs=1e-9)
    assert s.days_to_low_reservoir_all_ptm == pytest.approx(17 / 0.7, abs=1e-9)
    assert s.days_to_empty == pytest.approx(40.0, abs=1e-9)
    assert s.low_reservoir_time == dt.datetime(2026, 4, 12, 16, 0)
    assert s.empty_time == dt.datetime(2026, 4, 18, 16, 0)
    (morphine,) = s.drugs
    assert morphine.mean_daily_dose_mg == pytest.approx(5.0, abs=1e-12)
    assert morphine.ptm_max_dose_mg_per_day == pytest.approx(2.0, abs=1e-12)
    assert s.stability_limit_time == dt.datetime(2026, 6, 7, 16, 0)
    assert s.warnings == ()


def test_flex_schedule_alarm_is_solved_exactly() -> None:
    """Steps 0.18/0.22/0.24/0.20 mL/day from 00/06/12/18 h, 0.21 mL/day mean, start 09:00,
    18 mL to deliver before the 2 mL alarm. 85 whole days (17.85 mL) end at 09:00 on 26 May;
    then 0.0275 mL to 12:00, 0.06 to 18:00, 0.05 to midnight (0.1375) and the last 0.0125 mL
    at 0.18 mL/day takes 100 min: alarm at 01:40 on 27 May = 85 + 15/24 + 100/1440 days."""
    s = _summary("morphine-cancer-pain.yaml")
    assert s.mean_daily_volume_ml == pytest.approx(0.21, abs=1e-12)
    assert s.max_daily_volume_ml == pytest.approx(0.21, abs=1e-9)
    assert s.days_to_low_reservoir == pytest.approx(85 + 15 / 24 + 100 / 1440, abs=1e-9)
    assert s.low_reservoir_time == dt.datetime(2026, 5, 27, 1, 40)
    (morphine,) = s.drugs
    assert morphine.mean_daily_dose_mg == pytest.approx(5.25, abs=1e-12)
    assert morphine.ptm_max_dose_mg_per_day == pytest.approx(2.0, abs=1e-12)
    assert s.ptm_max_volume_ml_per_day == pytest.approx(0.08, abs=1e-12)
    assert s.flex_steps_per_day == 4
    assert s.stability_limit_time == dt.datetime(2026, 5, 31, 9, 0)


def test_weekday_flex_with_periodic_bolus() -> None:
    """Mon-Fri: 250×6 + 400×4 + 300×12 + 250×2 over 24 h = 300 mcg + 50 mcg bolus = 350 mcg;
    Sat/Sun: 250×8 + 300×14 + 250×2 over 24 = 279.1667 + 50 = 329.1667 mcg.
    Mean (5×350 + 2×329.1667)/7 = 344.0476 mcg/day; at 1000 mcg/mL that is mL/day × 1000."""
    s = _summary("baclofen-weekday-flex.yaml")
    weekend = (250 * 8 + 300 * 14 + 250 * 2) / 24 + 50
    mean_mcg = (5 * 350 + 2 * weekend) / 7
    assert s.mean_daily_volume_ml == pytest.approx(mean_mcg / 1000, rel=1e-12)
    assert s.max_daily_volume_ml == pytest.approx(0.35, abs=1e-9)
    (baclofen,) = s.drugs
    assert baclofen.mass_unit == "mcg"
    assert baclofen.mean_daily_dose_mg == pytest.approx(mean_mcg / 1000, rel=1e-12)
    assert s.periodic_bolus_count == 1


def test_mixture_doses_and_shortest_stability() -> None:
    """0.5 mL/day of hydromorphone 4 mg/mL + bupivacaine 15 mg/mL: 2 and 7.5 mg/day; alarm at
    4 mL from 38 mL: 68 days; bupivacaine's 60-day override is the shortest stability."""
    s = _summary("hydromorphone-bupivacaine-cancer-pain.yaml")
    doses = {d.name: d.mean_daily_dose_mg for d in s.drugs}
    assert doses == pytest.approx({"hydromorphone": 2.0, "bupivacaine": 7.5}, abs=1e-12)
    ptm = {d.name: d.ptm_max_dose_mg_per_day for d in s.drugs}
    assert ptm == pytest.approx({"hydromorphone": 0.6, "bupivacaine": 2.25}, abs=1e-12)
    assert s.days_to_low_reservoir == pytest.approx(68.0, abs=1e-9)
    assert s.days_to_low_reservoir_all_ptm == pytest.approx(34 / 0.65, abs=1e-9)
    assert s.stability_days == 60
    assert s.stability_limit_time == dt.datetime(2026, 5, 4, 14, 30)


def test_ziconotide_first_fill_limits_the_refill() -> None:
    """2.4 mcg/day at 25 mcg/mL = 0.096 mL/day; alarm after 18/0.096 = 187.5 days; but a first
    fill must be refilled within 14 days (and diluted ziconotide within 40)."""
    s = _summary("ziconotide-first-fill.yaml")
    assert s.mean_daily_volume_ml == pytest.approx(0.096, abs=1e-12)
    assert s.drugs[0].mean_daily_dose_mg == pytest.approx(0.0024, abs=1e-15)
    assert s.days_to_low_reservoir == pytest.approx(187.5, abs=1e-9)
    assert s.stability_days == 14
    assert s.days_to_stability_limit == 14
    data = base_profile()
    data["drugs"] = [{"drug": "ziconotide", "concentration": "25 mcg/mL"}]
    data["program"]["rate"] = "2.4 mcg/day"
    del data["ptm"], data["demand"]
    assert _from(data).stability_days == 40  # diluted, not a first fill
    data["drugs"][0]["concentration"] = "100 mcg/mL"
    data["program"]["rate"] = "6 mcg/day"  # 0.06 mL/day, inside the pump's range
    assert _from(data).stability_days == 84  # undiluted


def test_constant_flow_pump_has_no_alarm_and_empties_on_schedule() -> None:
    s = _summary("constant-flow-morphine-clonidine.yaml")
    assert s.low_reservoir_alarm_ml is None
    assert s.days_to_low_reservoir is None and s.low_reservoir_time is None
    assert s.days_to_empty == pytest.approx(30.0, abs=1e-9)
    assert {d.name: d.mean_daily_dose_mg for d in s.drugs} == pytest.approx(
        {"morphine": 5.0, "clonidine": 0.1}, abs=1e-12
    )


def test_fill_time_before_state_time_counts_stability_from_the_fill() -> None:
    data = base_profile()
    data["state"]["filled_at"] = "2026-02-01T09:00"
    data["state"]["calculated_volume"] = "5 mL"
    s = _from(data)
    assert s.stability_limit_time == dt.datetime(2026, 5, 2, 9, 0)  # 1 Feb + 90 days
    assert s.days_to_stability_limit == pytest.approx(61.0, abs=1e-12)
    assert s.days_to_low_reservoir == pytest.approx(6.0, abs=1e-9)  # (5 - 2) / 0.5


def test_already_below_the_alarm_is_zero_days() -> None:
    data = base_profile()
    data["state"]["calculated_volume"] = "1.5 mL"
    s = _from(data)
    assert s.days_to_low_reservoir == 0.0
    assert s.days_to_empty == pytest.approx(3.0, abs=1e-9)


def test_zero_rate_program_never_reaches_the_alarm() -> None:
    data = base_profile()
    data["program"]["rate"] = "0 mL/day"
    del data["ptm"], data["demand"]
    s = _from(data)
    assert s.days_to_low_reservoir is None and s.days_to_empty is None and s.empty_time is None


@pytest.mark.parametrize(
    ("rate", "max_per_day", "expected"),
    [
        ("0.5 mL/day", 4, []),  # 12.5 + 2 mg/day: under the 15 mg soft limit
        ("0.5 mL/day", 8, [("soft", "programmed + all PTM boluses", 16.5, 15.0)]),
        ("0.7 mL/day", 4, [("soft", "programmed", 17.5, 15.0)]),  # 19.5 with PTM: still soft
        (
            "0.7 mL/day",
            6,
            [
                ("soft", "programmed", 17.5, 15.0),
                ("hard", "programmed + all PTM boluses", 20.5, 20.0),
            ],
        ),
        ("0.9 mL/day", 4, [("hard", "programmed", 22.5, 20.0)]),
    ],
)
def test_dose_limit_warnings(rate: str, max_per_day: int, expected: list[tuple[Any, ...]]) -> None:
    """Morphine 25 mg/mL (soft 15 / hard 20 mg/day), PTM 0.5 mg per bolus: a warning for the
    programmed dose, and one with every PTM bolus only when that breaks a higher limit."""
    data = base_profile()
    data["program"]["rate"] = rate
    data["ptm"]["max_per_day"] = max_per_day
    warnings = dose_limit_check(therapy_from_dict(data, "test.yaml"))  # summarize raises on hard
    got = [(w.level, w.basis, round(w.dose_mg_per_day, 9), w.limit_mg_per_day) for w in warnings]
    assert got == expected
    for w in warnings:
        assert ("HARD limit" in w.message) == (w.level == "hard")


def test_warning_message_uses_the_drug_unit() -> None:
    data = base_profile()
    data["drugs"] = [{"drug": "baclofen", "concentration": "2000 mcg/mL"}]
    data["program"]["rate"] = "1200 mcg/day"
    del data["ptm"], data["demand"]
    (warning,) = _from(data).warnings
    assert warning.message == (
        "baclofen: highest-day programmed dose 1200 mcg/day is above the soft limit of 1000 mcg/day"
    )


def test_summary_is_frozen_and_serialisable() -> None:
    s = _summary("prometra-morphine.yaml")
    with pytest.raises(pydantic.ValidationError):
        s.mean_daily_volume_ml = 1.0  # type: ignore[misc]
    assert TherapySummary.model_validate_json(s.model_dump_json()) == s
