"""``schedule.limits``: the one dose-limit rule. Soft limits warn, hard limits raise
``DoseLimitError`` (with the likely slip named) unless the profile overrides them with a reason;
every drug of a mixture, the programmed highest day and that day plus every PTM bolus, and
every later program or infusate of a timeline are judged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import base_profile

from pumpsim.core.errors import ProfileError, PumpsimError
from pumpsim.forecast.summary import summarize
from pumpsim.io.profiles import profile_from_dict, therapy_from_dict
from pumpsim.schedule.limits import (
    DoseLimitError,
    dose_limit_check,
    enforce_dose_limits,
    mass_fields_from_json,
    mass_fields_json,
)

OVERRIDE = {"override": "teaching overdose scenario: mL/h typed for mL/day"}


def _therapy(data: dict[str, Any]) -> Any:
    return therapy_from_dict(data, "test.yaml")


def _morphine(rate: str, concentration: str = "10 mg/mL") -> dict[str, Any]:
    data = base_profile()
    data["drugs"] = [{"drug": "morphine", "concentration": concentration}]
    data["program"]["rate"] = rate
    del data["ptm"], data["demand"]
    return data


def test_ml_per_hour_slip_is_a_hard_limit_error_naming_the_slip() -> None:
    """0.5 mL/h of morphine 10 mg/mL = 12 mL/day = 120 mg/day (hard limit 20): an error that
    says 0.5 mL/day (5 mg/day) was likely meant."""
    therapy = _therapy(_morphine("0.5 mL/h"))
    with pytest.raises(DoseLimitError) as info:
        summarize(therapy)
    exc = info.value
    assert isinstance(exc, PumpsimError) and not isinstance(exc, ProfileError)
    (warning,) = exc.warnings
    assert (warning.level, warning.basis) == ("hard", "programmed")
    assert warning.dose_mg_per_day == pytest.approx(120.0, abs=1e-9)
    assert warning.limit_mg_per_day == 20.0
    assert warning.hint == "0.5 mL/h = 12 mL/day; did you mean 0.5 mL/day?"
    assert str(exc).splitlines()[:2] == [
        "test-01: dose above a hard limit",
        "  - morphine: highest-day programmed dose 120 mg/day is above the HARD limit of "
        "20 mg/day (0.5 mL/h = 12 mL/day; did you mean 0.5 mL/day?)",
    ]
    assert "dose_limits: {override:" in str(exc)


def test_mg_for_mcg_slip_is_named_for_a_drug_dosed_in_mcg() -> None:
    """Ziconotide 100 mcg/mL at "0.5 mg/day" (5 mL/day): 500 mcg/day against a hard 19.2;
    per hour it would still be 20.8 mcg/day, but 0.5 mcg/day is within the limit."""
    data = base_profile()
    data["drugs"] = [{"drug": "ziconotide", "concentration": "100 mcg/mL"}]
    data["program"]["rate"] = "0.5 mg/day"
    del data["ptm"], data["demand"]
    (warning,) = dose_limit_check(_therapy(data))
    assert warning.level == "hard"
    assert warning.hint == "0.5 mg/day = 500 mcg/day; did you mean 0.5 mcg/day?"
    assert "dose 500 mcg/day is above the HARD limit of 19.2 mcg/day" in warning.message


def test_no_slip_hint_when_neither_reading_fits() -> None:
    """Morphine 25 mg/mL at 0.9 mL/day = 22.5 mg/day: per hour it would be 0.0375 mL/day, below
    the pump's 0.048 mL/day minimum, so no per-hour hint (and morphine is dosed in mg)."""
    (warning,) = dose_limit_check(_therapy(_morphine("0.9 mL/day", "25 mg/mL")))
    assert warning.hint is None
    assert warning.message == (
        "morphine: highest-day programmed dose 22.5 mg/day is above the HARD limit of 20 mg/day"
    )


def test_every_drug_of_a_mixture_is_judged() -> None:
    """Hydromorphone 2 mg/mL + bupivacaine 30 mg/mL at 0.8 mL/day: hydromorphone 1.6 mg/day is
    fine, bupivacaine 24 mg/day is above its hard 20 mg/day."""
    data = _morphine("0.8 mL/day")
    data["drugs"] = [
        {"drug": "hydromorphone", "concentration": "2 mg/mL"},
        {"drug": "bupivacaine", "concentration": "30 mg/mL"},
    ]
    (warning,) = dose_limit_check(_therapy(data))
    assert (warning.drug, warning.level) == ("bupivacaine", "hard")
    assert warning.dose_mg_per_day == pytest.approx(24.0, abs=1e-9)


def test_all_ptm_boluses_count() -> None:
    """Morphine 25 mg/mL at 0.7 mL/day (17.5 mg/day, soft) + 6 × 0.5 mg boluses = 20.5 mg/day:
    hard with every bolus, so the plain therapy is an error."""
    data = base_profile()
    data["program"]["rate"] = "0.7 mL/day"
    data["ptm"]["max_per_day"] = 6
    with pytest.raises(DoseLimitError) as info:
        enforce_dose_limits(_therapy(data))
    (hard,) = info.value.warnings
    assert hard.basis == "programmed + all PTM boluses"
    assert hard.dose_mg_per_day == pytest.approx(20.5, abs=1e-9)


def test_a_later_reprogram_in_the_timeline_is_judged() -> None:
    """The state is fine (12.5 mg/day); a reprogram on 10 March to 1 mL/day (25 mg/day) is not."""
    data = base_profile()
    data["timeline"] = [
        {
            "at": "2026-03-10T09:00",
            "action": "reprogram",
            "program": {"mode": "simple", "rate": "1 mL/day"},
        }
    ]
    profile = profile_from_dict(data, "test.yaml")
    assert enforce_dose_limits(profile.therapy) == ()
    with pytest.raises(DoseLimitError) as info:
        summarize(profile.therapy, profile.timeline)
    (warning,) = info.value.warnings
    assert warning.where == "timeline[0] reprogram at 2026-03-10 09:00"
    assert warning.message.startswith("timeline[0] reprogram at 2026-03-10 09:00: morphine: ")
    assert warning.dose_mg_per_day == pytest.approx(25.0, abs=1e-9)


def test_a_later_refill_with_a_stronger_infusate_is_judged() -> None:
    """Morphine 10 mg/mL at 1 mL/day (10 mg/day), refilled with 25 mg/mL on the same program:
    25 mg/day after the refill."""
    data = _morphine("1 mL/day")
    data["timeline"] = [
        {
            "at": "2026-03-20T09:00",
            "action": "refill",
            "fill": "20 mL",
            "drugs": [{"drug": "morphine", "concentration": "25 mg/mL"}],
        }
    ]
    profile = profile_from_dict(data, "test.yaml")
    (warning,) = dose_limit_check(profile.therapy, profile.timeline)
    assert warning.where == "timeline[0] refill at 2026-03-20 09:00"
    assert warning.dose_mg_per_day == pytest.approx(25.0, abs=1e-9)


def test_the_override_lets_the_therapy_through_and_is_shown() -> None:
    data = _morphine("0.5 mL/h")
    data["dose_limits"] = OVERRIDE
    s = summarize(_therapy(data))
    assert s.dose_limit_override == OVERRIDE["override"]
    (warning,) = s.warnings
    assert warning.level == "hard"
    dumped = json.loads(s.model_dump_json())
    assert dumped["dose_limit_override"] == OVERRIDE["override"]
    assert dumped["warnings"][0]["dose_mg_per_day"] == pytest.approx(120.0)


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_the_override_needs_a_reason(reason: str | None) -> None:
    data = _morphine("0.5 mL/day")
    data["dose_limits"] = {"override": reason} if reason is not None else {"override": 3}
    with pytest.raises(ProfileError) as info:
        _therapy(data)
    assert info.value.problems[0].field == "dose_limits.override"


def test_unknown_dose_limits_key_is_an_error() -> None:
    data = _morphine("0.5 mL/day")
    data["dose_limits"] = {"overide": "typo"}
    with pytest.raises(ProfileError) as info:
        _therapy(data)
    assert info.value.problems[0].field == "dose_limits.overide"


def test_mass_fields_json_renames_and_converts_to_the_drug_unit() -> None:
    data = {"name": "x", "concentration_mg_per_ml": 0.025, "mean_daily_dose_mg": 0.0024}
    out = mass_fields_json(data, "mcg")
    assert out == {
        "name": "x",
        "concentration_mcg_per_ml": pytest.approx(25.0),
        "mean_daily_dose_mcg_per_day": pytest.approx(2.4),
    }
    back = mass_fields_from_json(out, "mcg")
    assert back["concentration_mg_per_ml"] == pytest.approx(0.025)
    assert back["mean_daily_dose_mg"] == pytest.approx(0.0024)
