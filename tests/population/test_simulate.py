"""The cohort simulation: hand-computed cohorts to the minute and microlitre, the pump rules it
shares with the single-patient code, and the invariants of any tally (hypothesis)."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
import yaml
from cohort_cases import deterministic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpsim.core.errors import SimulationError
from pumpsim.forecast.deterministic import elective_replacement_day
from pumpsim.io.cohort import cohort_from_dict, load_cohort
from pumpsim.io.profiles import shipped
from pumpsim.models.cohort import CohortSpec
from pumpsim.population.outcome import EVENT_KINDS, MONTHLY, CohortTally
from pumpsim.population.simulate import simulate_block, simulate_cohort
from pumpsim.population.tally import MINUTES_PER_MONTH_INT, monthly_minutes
from pumpsim.schedule.limits import DoseLimitError

YEAR_MIN = 525_960  # 365.25 days in minutes: the 12 months of a 1-year cohort


def _spec(data: dict[str, Any]) -> CohortSpec:
    return cohort_from_dict(data, "test.yaml")


def _totals(tally: CohortTally) -> dict[str, int]:
    out = {k: int(v.sum()) for k, v in tally.monthly.items()}
    out.update({f"event:{k}": int(v.sum()) for k, v in tally.events.items()})
    return out


def test_on_time_refills_by_hand() -> None:
    """Booked 0.5 day before the alarm (12.5 days after each fill) and 1.5 days late: a visit
    every 13.5 days, after the alarm (12.5) and before the pump is dry (13.89): 27 visits in
    365.25 days (27 × 13.5 = 364.5), 27 alarms, no gap; 1 uL/min all year."""
    tally = simulate_cohort(_spec(deterministic()), seed=1)
    n = 3
    totals = _totals(tally)
    assert totals["refill_visits"] == 27 * n
    assert totals["alarms"] == 27 * n
    assert totals["emergency_visits"] == 0
    assert totals["gap_minutes"] == 0
    assert totals["alive_minutes"] == YEAR_MIN * n
    assert totals["on_pump_minutes"] == YEAR_MIN * n
    assert totals["infusate_ul"] == YEAR_MIN * n
    assert totals["deaths"] == 0
    assert tally.monthly["alive_minutes"].tolist() == [43_830 * n] * 12
    # visits at 13.5 k days: month of 13.5 k × 1440 min
    months = [int(13.5 * k * 1440) // MINUTES_PER_MONTH_INT for k in range(1, 28)]
    assert tally.monthly["refill_visits"].tolist() == [months.count(m) * n for m in range(12)]
    assert tally.patient_sum["refill_visits"] == 27 * n
    assert tally.patient_sumsq["refill_visits"] == 27 * 27 * n
    assert tally.events["implant"].tolist() == [n] + [0] * 11
    assert all(int(tally.events[k].sum()) == 0 for k in EVENT_KINDS if k != "implant")
    # 27 refill visits a year alive: the last bin (26 and up)
    assert tally.refill_burden[-1] == n and int(tally.refill_burden.sum()) == n


def test_late_refills_run_dry_and_come_as_emergencies() -> None:
    """3 days late (15 days after the fill): the pump is dry at 20,000 min, the patient comes
    0.5 day (720 min) later as an emergency: a cycle of 20,720 min, 25 of them in the year
    (518,000 min), each with an alarm and 720 min without therapy; the 26th cycle neither
    alarms (its alarm would be at 536,000 min) nor runs dry before the year ends."""
    tally = simulate_cohort(_spec(deterministic(refill={"lateness": "3 day"})), seed=1)
    totals, n = _totals(tally), 3
    assert totals["refill_visits"] == 25 * n
    assert totals["emergency_visits"] == 25 * n
    assert totals["alarms"] == 25 * n
    assert totals["gap_minutes"] == 25 * 720 * n
    assert totals["on_pump_minutes"] == (YEAR_MIN - 25 * 720) * n
    assert totals["infusate_ul"] == (YEAR_MIN - 25 * 720) * n
    assert tally.patient_sum["gap_minutes"] == 25 * 720 * n
    assert tally.patient_sum["on_pump_minutes"] == (YEAR_MIN - 25 * 720) * n


def test_a_no_show_comes_back_rebooked() -> None:
    """Half the bookings missed: a kept one is a visit 13.5 days after the fill; a missed one
    would be rebooked to 12 + 1.5 + 7 = 20.5 days, so the pump (dry at 13.89 days) brings the
    patient in as an emergency first, 720 min after it ran dry."""
    data = deterministic(refill={"no_show": "50 %"})
    tally = simulate_cohort(_spec({**data, "patients": 400}), seed=3)
    totals = _totals(tally)
    # a no-show cycle: emergency at 20,720 min; a kept one: a visit at 13.5 days
    assert 0 < totals["no_shows"] < totals["refill_visits"]
    # every missed booking is an emergency, except in a patient's last, unfinished cycle
    assert totals["emergency_visits"] <= totals["no_shows"] <= totals["emergency_visits"] + 400
    assert totals["gap_minutes"] == 720 * totals["emergency_visits"]


def test_same_seed_same_tally_other_seed_other_tally() -> None:
    spec = load_cohort(shipped_cohort("smith-2002-pump-arm"))
    assert simulate_cohort(spec, 11) == simulate_cohort(spec, 11)
    assert simulate_cohort(spec, 11) != simulate_cohort(spec, 12)


def shipped_cohort(stem: str) -> Any:
    return next(p for p in shipped("cohorts") if p.stem == stem)


@pytest.mark.parametrize("stem", ["smith-2002-pump-arm", "baclofen-spasticity"])
def test_any_block_partition_gives_the_same_tally(stem: str) -> None:
    """Blocks of 1, 7, 64 and all patients, and blocks merged out of order: one tally."""
    spec = load_cohort(shipped_cohort(stem))
    spec = spec.model_copy(update={"patients": 130})
    whole = simulate_cohort(spec, 5, block_size=130)
    for size in (1, 7, 64):
        assert simulate_cohort(spec, 5, block_size=size) == whole
    blocks = [simulate_block(spec, 5, a, min(a + 40, 130)) for a in range(0, 130, 40)]
    merged = CohortTally.empty(spec.months)
    for block in reversed(blocks):
        merged = merged.merge(block)
    assert merged == whole


def test_battery_replacement_at_the_batterys_own_eri() -> None:
    """No events, 10 years at 1.44 mL/day: the first battery replacement comes
    ``replace_after_eri`` (30 days) after the ERI day ``elective_replacement_day`` gives for the
    same pump and program."""
    spec = _spec({**deterministic(), "years": 10, "patients": 1})
    eri = elective_replacement_day(spec.therapy(0, 0, 14.4))
    assert eri is not None
    tally = simulate_cohort(spec, 1)
    replaced = tally.events["battery_replacement"]
    first = int(np.flatnonzero(replaced)[0])
    assert first == round((eri + 30) * 1440) // MINUTES_PER_MONTH_INT
    life_days = eri + 30
    assert int(replaced.sum()) == math.floor(10 * 365.25 / life_days)


def test_a_titration_cap_above_the_hard_limit_is_refused() -> None:
    """20 mg/day of morphine is its hard limit; a cap of 21 mg/day stops the run (exit 3 in
    the CLI), whatever the dose the patients draw."""
    data = deterministic()
    data["therapies"][0]["daily_dose"] = {
        "normal": {"mean": "10 mg/day", "sd": "1 mg/day", "min": "5 mg/day", "max": "21 mg/day"}
    }
    spec = _spec(data)
    with pytest.raises(DoseLimitError, match=r"therapies\[0\]\.daily_dose max"):
        simulate_cohort(spec, 1)


def test_bad_block_bounds_are_errors() -> None:
    spec = _spec(deterministic())
    with pytest.raises(SimulationError):
        simulate_block(spec, 1, 2, 1)
    with pytest.raises(SimulationError):
        simulate_block(spec, -1, 0, 1)
    with pytest.raises(SimulationError):
        simulate_cohort(spec, 1, block_size=0)
    assert simulate_block(spec, 1, 2, 2) == CohortTally.empty(12)


def test_monthly_minutes_cuts_at_month_boundaries() -> None:
    start = np.array([0, 43_000, 10], np.int64)
    end = np.array([100, 44_000, 10], np.int64)
    assert monthly_minutes(start, end, 2).tolist() == [100 + 830, 170]
    rate = np.array([0.5, 1.0, 3.0])
    assert monthly_minutes(start, end, 2, rate).tolist() == [50 + 830, 170]


# ---------------------------------------------------------------- invariants (hypothesis)
_SMITH = load_cohort(shipped_cohort("smith-2002-pump-arm"))
_BACLOFEN = load_cohort(shipped_cohort("baclofen-spasticity"))


def _check_invariants(tally: CohortTally, patients: int) -> None:
    m = tally.monthly
    for name in MONTHLY:
        assert (m[name] >= 0).all(), name
    assert ((m["on_pump_minutes"] + m["gap_minutes"]) <= m["alive_minutes"]).all()
    assert (m["alive_minutes"] <= patients * 43_830).all()
    assert int(m["deaths"].sum()) <= patients
    assert int(m["emergency_visits"].sum()) <= int(m["refill_visits"].sum())
    assert int(tally.refill_burden.sum()) == patients
    assert tally.patient_sum["alive_minutes"] == int(m["alive_minutes"].sum())
    assert tally.patient_sum["gap_minutes"] == int(m["gap_minutes"].sum())
    assert tally.patient_sum["on_pump_minutes"] == int(m["on_pump_minutes"].sum())
    for kind in EVENT_KINDS:
        assert (tally.events[kind] >= 0).all()


def _prometra_mixture() -> CohortSpec:
    """The Smith cohort on Prometra II 20 mL pumps (its own "next refill" rule, no trickle
    after empty) with a second, off-label option: morphine + bupivacaine."""
    data = yaml.safe_load(shipped_cohort("smith-2002-pump-arm").read_text(encoding="utf-8"))
    data["pumps"] = [{"pump": "prometra-ii-20", "weight": 1}]
    mixture = copy.deepcopy(data["therapies"][0])
    mixture["drugs"] = [
        {"drug": "morphine", "concentration": "20 mg/mL"},
        {"drug": "bupivacaine", "concentration": "10 mg/mL"},
    ]
    mixture["on_label"] = False
    mixture["weight"] = 0.5
    data["therapies"].append(mixture)
    return _spec(data)


_PROMETRA_MIX = _prometra_mixture()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(["smith", "baclofen", "prometra-mixture"]),
    seed=st.integers(0, 2**32 - 1),
    patients=st.integers(1, 40),
    lateness_days=st.floats(0, 40),
    no_show=st.floats(0, 0.5),
    years=st.sampled_from([0.5, 1, 3]),
    high_events=st.booleans(),
)
def test_tally_invariants(
    preset: str,
    seed: int,
    patients: int,
    lateness_days: float,
    no_show: float,
    years: float,
    high_events: bool,
) -> None:
    """For three cohorts (morphine on SynchroMed, baclofen on two pump sizes, Prometra with an
    off-label mixture) and random seeds, sizes, lateness, no-show and event rates: no negative
    count, on-pump + gap <= alive, deaths <= patients, per-patient sums = monthly sums; blocks
    of 3 give the same tally as one block."""
    base = {"smith": _SMITH, "baclofen": _BACLOFEN, "prometra-mixture": _PROMETRA_MIX}[preset]
    refill = base.refill.model_copy(
        update={"no_show": no_show, "lateness": base.refill.lateness.fixed(lateness_days)}
    )
    events = base.events
    if high_events:
        bump = {"per_pump_year": 2.0}
        events = events.model_copy(
            update={
                "motor_stall": events.motor_stall.model_copy(update=bump),
                "catheter_surgery": events.catheter_surgery.model_copy(update=bump),
                "infection": events.infection.model_copy(update={"per_pump_year": 1.0}),
            }
        )
    spec = base.model_copy(
        update={"patients": patients, "years": years, "refill": refill, "events": events}
    )
    tally = simulate_cohort(spec, seed)
    _check_invariants(tally, patients)
    assert simulate_cohort(spec, seed, block_size=3) == tally


@pytest.mark.parametrize(
    "stem", ["smith-2002-pump-arm", "kumar-2002-failed-back", "baclofen-spasticity"]
)
def test_shipped_presets_run(stem: str) -> None:
    spec = load_cohort(shipped_cohort(stem))
    tally = simulate_cohort(spec, 2026)
    _check_invariants(tally, spec.patients)
    assert tally.patients == spec.patients and tally.months == spec.months
    assert int(tally.monthly["refill_visits"].sum()) > spec.patients


def test_cancer_cohort_dies_on_its_survival_curve() -> None:
    """10,000 patients of the Smith preset: the share alive at 6 months is the trial's 53.9 %
    within sampling error (binomial sd 0.5 %)."""
    spec = _SMITH.model_copy(update={"patients": 10_000})
    tally = simulate_cohort(spec, 9, block_size=4096)
    dead_by_6 = int(tally.monthly["deaths"][:6].sum())
    assert abs(1 - dead_by_6 / 10_000 - 0.539) < 0.02


def test_a_spec_travels_to_another_process_unchanged() -> None:
    """Runners send the spec to workers: pickled and back, it is equal, hashes alike and gives
    the same block tally."""
    import pickle

    spec = _SMITH.model_copy(update={"patients": 20})
    back = pickle.loads(pickle.dumps(spec))
    assert back == spec and hash(back) == hash(spec)
    assert simulate_block(back, 3, 5, 17) == simulate_block(spec, 3, 5, 17)


def test_an_over_infusing_pump_runs_dry_before_its_alarm() -> None:
    """The hand-computed cohort with over-infusions (×1.25): an over-infused fill delivers
    1.8 mL/day, so it is dry at 11.11 days, before the calculated alarm (12.5 days): the patient
    comes as an emergency 0.5 day later with no alarm, and the pump is replaced (1 day). So
    every visit is either on time with an alarm or such an emergency, and each found pump
    costs 0.5 + 1 day without therapy."""
    data = deterministic(patients=60)
    data["events"] = {
        **data["events"],
        "over_infusion": {
            "per_pump_year": "300 %",
            "delivery_factor": 1.25,
            "therapy_gap": "1 day",
            "source": "test",
        },
    }
    tally = simulate_cohort(_spec(data), 8)
    totals = _totals(tally)
    emergencies, visits = totals["emergency_visits"], totals["refill_visits"]
    assert emergencies > 60
    # fills cut by the end of follow-up: at most one per patient is unfinished
    assert totals["event:over_infusion"] >= emergencies
    assert 0 <= totals["alarms"] - (visits - emergencies) <= 60
    found = emergencies  # every emergency here is a found over-infusing pump
    assert found * 2160 <= totals["gap_minutes"] <= found * 2160 + 60 * 2160
    assert totals["event:pump_surgery"] == 0 and totals["event:motor_stall"] == 0
