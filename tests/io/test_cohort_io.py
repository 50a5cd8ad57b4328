"""Reading cohort specifications: every rule has a failing example whose message names the
file, the field as written and the value; the shipped presets load."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pumpsim.core.errors import ProfileError
from pumpsim.io.cohort import cohort_from_dict, load_cohort
from pumpsim.io.profiles import shipped

SMITH = next(p for p in shipped("cohorts") if p.stem == "smith-2002-pump-arm")
BASE: dict[str, Any] = yaml.safe_load(SMITH.read_text(encoding="utf-8"))
DELETE = object()


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split("/")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


_DOSE = "therapies/0/daily_dose/lognormal"
# (id, path, new value, field in the message, value in the message)
BAD: list[tuple[str, str, Any, str, str]] = [
    ("unknown-key", "patiens", 5, "patiens", "5"),
    ("patients-zero", "patients", 0, "patients", "0"),
    ("patients-huge", "patients", 10**8, "patients", "100000000"),
    ("years-zero", "years", 0, "years", "0"),
    ("years-31", "years", 31, "years", "31"),
    ("indication", "indication", "cancer", "indication", "cancer"),
    ("unknown-pump", "pumps/0/pump", "synchromed-iii", "pumps[0].pump", "synchromed-iii"),
    ("constant-flow", "pumps/0/pump", "constant-flow-generic", "pumps[0]", "pump, weight"),
    ("pump-weight-0", "pumps/0/weight", 0, "pumps[0].weight", "0"),
    (
        "unknown-drug",
        "therapies/0/drugs/0/drug",
        "morphin",
        "therapies[0].drugs[0].drug",
        "morphin",
    ),
    (
        "concentration-above-max",
        "therapies/0/drugs/0/concentration",
        "50 mg/mL",
        "therapies[0].drugs[0].concentration",
        "50 mg/mL",
    ),
    ("dose-mass-not-rate", f"{_DOSE}/median", "3 mg", "therapies[0].daily_dose", "'3 mg'"),
    ("dose-bare-number", f"{_DOSE}/median", 3, "therapies[0].daily_dose", "median: a bare"),
    # mcg for mg: 1.5 mcg/day of morphine 25 mg/mL is 0.00006 mL/day, below the pump's minimum
    ("dose-mcg-slip", f"{_DOSE}/min", "1.5 mcg/day", "therapies[0].daily_dose", "0.0015 mg/day"),
    # mg for mcg the other way: 1500 mg/day is 60 mL/day, above the pump's 24 mL/day
    ("dose-mg-slip", f"{_DOSE}/max", "1500 mg/day", "therapies[0].daily_dose", "1500 mg/day"),
    ("dose-min-above-max", f"{_DOSE}/min", "20 mg/day", "therapies[0].daily_dose", "'20 mg/day'"),
    ("dose-sigma-unit", f"{_DOSE}/sigma", "0.6 day", "therapies[0].daily_dose", "'0.6 day'"),
    ("dose-no-max", f"{_DOSE}/max", DELETE, "therapies[0].daily_dose", "missing max"),
    ("dose-shape", "therapies/0/daily_dose", {"gamma": {}}, "therapies[0].daily_dose", "gamma"),
    (
        "titration-200",
        "therapies/0/titration_per_month",
        "200 %",
        "therapies[0].titration_per_month",
        "200 %",
    ),
    (
        "titration-bare",
        "therapies/0/titration_per_month",
        0.1,
        "therapies[0].titration_per_month",
        "0.1",
    ),
    (
        "ptm-bolus-rate",
        "therapies/0/ptm/bolus",
        "0.5 mg/day",
        "therapies[0].ptm.bolus",
        "0.5 mg/day",
    ),
    ("ptm-max-49", "therapies/0/ptm/max_per_day", 49, "therapies[0].ptm.max_per_day", "49"),
    ("presses-without-ptm", "therapies/0/ptm", DELETE, "therapies[0]", "weight"),
    (
        "presses-201",
        "therapies/0/presses_per_day/normal/max",
        201,
        "therapies[0].presses_per_day",
        "normal",
    ),
    ("on-label-missing", "therapies/0/on_label", DELETE, "therapies[0].on_label", "(missing)"),
    ("alarm-above-pump-range", "low_reservoir_alarm", "15 mL", "low_reservoir_alarm", "15 mL"),
    ("factor-mean", "delivery_factor/mean", 2, "delivery_factor.mean", "2"),
    ("no-survival-for-cancer", "survival", DELETE, "survival", "(missing)"),
    ("survival-share-100", "survival/alive_share", "100 %", "survival.alive_share", "100 %"),
    ("survival-both", "survival/median", "200 day", "survival", "alive_at"),
    ("survival-no-source", "survival/source", DELETE, "survival.source", "(missing)"),
    ("days-before-61", "refill/days_before_alarm", "61 day", "refill.days_before_alarm", "61 day"),
    ("lateness-hours-unit", "refill/lateness", "2 mL", "refill.lateness", "2 mL"),
    ("no-show-60", "refill/no_show", "60 %", "refill.no_show", "60 %"),
    ("rebook-0", "refill/rebook_after", "0 day", "refill.rebook_after", "0 day"),
    (
        "pocket-fill-bare",
        "events/pocket_fill/per_refill",
        0.0001,
        "events.pocket_fill.per_refill",
        "0.0001",
    ),
    (
        "stall-600",
        "events/motor_stall/per_pump_year",
        "600 %",
        "events.motor_stall.per_pump_year",
        "600 %",
    ),
    (
        "gap-91",
        "events/catheter_surgery/therapy_gap",
        "91 day",
        "events.catheter_surgery.therapy_gap",
        "91 day",
    ),
    (
        "explant-share",
        "events/infection/explant_share",
        "150 %",
        "events.infection.explant_share",
        "150 %",
    ),
    (
        "over-infusion-within-accuracy",
        "events/over_infusion/delivery_factor",
        1.1,
        "events.over_infusion.delivery_factor",
        "1.1",
    ),
    ("event-missing", "events/over_infusion", DELETE, "events.over_infusion", "(missing)"),
    (
        "battery-after-eos",
        "battery/replace_after_eri",
        "100 day",
        "battery.replace_after_eri",
        "100 days",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "shown"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_cohort_names_file_field_and_value(
    path: str, value: Any, field: str, shown: str, tmp_path: Path
) -> None:
    data = copy.deepcopy(BASE)
    _set(data, path, value)
    target = tmp_path / "bad-cohort.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_cohort(target)
    err = info.value
    assert err.source == str(target)
    assert str(target) in str(err)
    fields = [p.field for p in err.problems]
    assert field in fields, fields
    problem = err.problems[fields.index(field)]
    assert shown in str(problem.value) or shown in problem.allowed, problem


def test_there_are_at_least_40_distinct_bad_inputs() -> None:
    assert len({b[0] for b in BAD}) >= 40


def test_every_problem_of_a_file_is_reported_together() -> None:
    data = copy.deepcopy(BASE)
    data["patients"] = 0
    data["pumps"][0]["pump"] = "nope"
    data["refill"]["no_show"] = "90 %"
    with pytest.raises(ProfileError) as info:
        cohort_from_dict(data, "x.yaml")
    assert {p.field for p in info.value.problems} >= {"patients", "pumps[0].pump", "refill.no_show"}


def test_a_file_that_is_not_a_cohort(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="list of 2"):
        load_cohort(path)
    with pytest.raises(ProfileError, match="a cohort"):
        cohort_from_dict({"secret": "x"}, "x.yaml")


def test_units_are_converted_not_guessed() -> None:
    """The Smith preset: 3 mg/day median, 6 months = 182.625 days; the survival median from
    53.9 % alive at 6 months (exponential): 182.625 × ln 2 / -ln 0.539."""
    import math

    spec = load_cohort(SMITH)
    dose = spec.therapies[0].daily_dose
    assert (dose.shape, dose.median, dose.min, dose.max) == ("lognormal", 3.0, 1.5, 15.0)
    assert spec.survival is not None
    assert spec.survival.alive_at_days == pytest.approx(182.625, abs=1e-9)
    assert spec.survival.median == pytest.approx(182.625 * math.log(2) / -math.log(0.539), abs=1e-9)
    assert spec.therapies[0].ptm is not None
    assert spec.therapies[0].ptm.bolus_volume_ml == pytest.approx(0.02, abs=1e-12)
    assert spec.refill.no_show == pytest.approx(0.02, abs=1e-12)
    assert spec.events.motor_stall.therapy_gap_days == 3.0
    assert (spec.patients, spec.months) == (101, 24)


def test_baclofen_doses_read_in_mcg_are_mg_inside() -> None:
    spec = load_cohort(next(p for p in shipped("cohorts") if p.stem == "baclofen-spasticity"))
    dose = spec.therapies[0].daily_dose
    assert (dose.median, dose.min, dose.max) == pytest.approx((0.4, 0.1, 1.0), abs=1e-12)


def test_shipped_cohorts() -> None:
    stems = {p.stem for p in shipped("cohorts")}
    assert {"smith-2002-pump-arm", "kumar-2002-failed-back", "baclofen-spasticity"} <= stems
    for path in shipped("cohorts"):
        spec = load_cohort(path)
        assert spec.name
        if spec.indication == "cancer-pain":
            assert spec.survival is not None
