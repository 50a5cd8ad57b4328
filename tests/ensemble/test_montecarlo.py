"""The vectorized engine: PtmGate's decisions press for press, exact crossings, seeds, chunks."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from pumpsim import load_catalog
from pumpsim.core.errors import SimulationError
from pumpsim.ensemble.montecarlo import (
    DECISIONS,
    NO_PRESS,
    FactorDistribution,
    Plan,
    delivered_crossing,
    gate_presses,
    grant_presses,
    presses_for,
    simulate_ensemble,
)
from pumpsim.models import (
    Catheter,
    Drug,
    FlexStep,
    Infusate,
    PeriodicBolus,
    Program,
    PtmDemand,
    PtmSettings,
    PumpState,
    Therapy,
)
from pumpsim.schedule.ptm import PtmGate
from pumpsim.schedule.segments import CumulativeSchedule

T0 = dt.datetime(2026, 3, 2, 8, 0)


def therapy(
    *,
    pump: str = "synchromed-ii-20",
    program: Program | None = None,
    volume_ml: float = 20.0,
    ptm: PtmSettings | None = None,
    demand: PtmDemand | None = None,
    when: dt.datetime = T0,
    **extra: object,
) -> Therapy:
    catalog = load_catalog()
    drug = Drug.from_entry(catalog.drugs["morphine"], 25.0)
    return Therapy(
        patient_id="mc-test",
        pump=catalog.pumps[pump],
        infusate=Infusate(drugs=(drug,)),
        catheter=Catheter(volume_ml_given=0.2),
        program=program or Program.simple(0.5),
        ptm=ptm,
        demand=demand,
        state=PumpState(time=when, calculated_volume_ml=volume_ml),
        **extra,  # type: ignore[arg-type]
    )


FLEX = Program(
    mode="flex",
    steps=(
        FlexStep(start_minute=0, rate_ml_per_day=0.3),
        FlexStep(start_minute=420, rate_ml_per_day=0.7),
        FlexStep(start_minute=1320, rate_ml_per_day=0.4),
    ),
    weekly={
        "saturday": (FlexStep(start_minute=0, rate_ml_per_day=0.2),),
        "sunday": (FlexStep(start_minute=0, rate_ml_per_day=0.2),),
    },
    periodic_boluses=(
        PeriodicBolus(start_minute=720, every_days=1.0, volume_ml=0.05, duration_days=1 / 24),
    ),
)


def _reference_decisions(
    presses: np.ndarray,
    settings: PtmSettings,
    origin: dt.datetime,
    schedule: CumulativeSchedule,
    volume_ml: float,
) -> list[list[str]]:
    """The scalar rules: PtmGate press by press, reservoir empty when the calculated volume
    (programmed delivery plus granted boluses delivered so far) reaches 0."""
    out = []
    for row in presses:
        gate, grants, decisions = PtmGate(settings, origin), [], []
        for t in row[np.isfinite(row)]:
            n = len(grants)
            running = min(max((t - grants[-1]) / settings.duration_days, 0.0), 1.0) if n else 0.0
            delivered = float(schedule.volume_at(t)) + settings.bolus_volume_ml * (
                max(n - 1, 0) + running
            )
            decision = gate.decide(
                float(t),
                bolus_running_until=grants[-1] + settings.duration_days if n else -math.inf,
                reservoir_empty=delivered >= volume_ml,
            )
            if decision == "granted":
                grants.append(float(t))
            decisions.append(decision)
        out.append(decisions)
    return out


@pytest.mark.parametrize("day_definition", ["rolling", "clock"])
def test_vector_gate_matches_ptmgate_press_for_press(day_definition: str) -> None:
    """Random press sequences (some on exact lockout multiples, some emptying the reservoir):
    every decision equals PtmGate's, and the fast grant-only path grants the same presses."""
    rng = np.random.default_rng(11)
    seen: set[str] = set()
    for trial in range(12):
        settings = PtmSettings(
            bolus_volume_ml=0.25,
            duration_days=float(rng.uniform(0.004, 0.08)),
            lockout_days=float(rng.choice([0.0, 1 / 24, 1 / 12, 0.25])),
            max_per_day=int(rng.integers(1, 6)),
            day_definition=day_definition,  # type: ignore[arg-type]
        )
        origin = dt.datetime(2026, 3, 1, int(rng.integers(0, 24)), int(rng.integers(0, 60)))
        schedule = CumulativeSchedule.for_program(
            FLEX, origin=origin, start_day=0.0, end_day=30.0, program_start_day=0.0
        )
        presses = np.sort(rng.uniform(0, 12, (40, 50)), axis=1)
        presses[:, ::4] = np.round(presses[:, ::4] * 24) / 24  # exact hour ties
        presses = np.sort(presses, axis=1)
        presses[::3, 40:] = np.inf  # ragged rows
        volume = 6.0 if trial % 2 else 40.0
        decisions, grants = gate_presses(
            presses,
            settings,
            base_minute=origin.hour * 60 + origin.minute,
            schedule=schedule,
            volume_ml=volume,
            empty_threshold_ml=0.0,
        )
        fast, n_presses, n_granted = grant_presses(
            presses,
            settings,
            base_minute=origin.hour * 60 + origin.minute,
            schedule=schedule,
            volume_ml=volume,
            empty_threshold_ml=0.0,
        )
        assert np.array_equal(fast, grants)
        assert np.array_equal(n_granted, (decisions == 0).sum(axis=1))
        assert np.array_equal(n_presses, (decisions != NO_PRESS).sum(axis=1))
        expected = _reference_decisions(presses, settings, origin, schedule, volume)
        for i, row in enumerate(expected):
            got = [DECISIONS[c] for c in decisions[i] if c != NO_PRESS]
            assert got == row
            seen.update(row)
            granted = presses[i][decisions[i] == 0]
            assert np.array_equal(grants[i][np.isfinite(grants[i])], granted)
    assert {"granted", "lockout", "daily_cap", "bolus_running", "reservoir_empty"} <= seen


def test_disabled_ptm_denies_every_press() -> None:
    settings = PtmSettings(bolus_volume_ml=0.1, duration_days=0.01, lockout_days=0, max_per_day=0)
    schedule = CumulativeSchedule.for_program(
        Program.simple(0.5), origin=T0, start_day=0, end_day=10
    )
    presses = np.array([[0.5, 1.5, np.inf]])
    decisions, grants = gate_presses(
        presses, settings, base_minute=480.0, schedule=schedule, volume_ml=20, empty_threshold_ml=0
    )
    assert [DECISIONS[c] for c in decisions[0][:2]] == ["disabled", "disabled"]
    assert decisions[0][2] == NO_PRESS and grants.shape == (1, 0)


def test_crossings_are_exact_on_the_delivered_curve() -> None:
    """With random boluses on a flex program with a periodic bolus, the solved time t* has
    D(t*) = target to 1e-9 mL and D is still below the target just before."""
    rng = np.random.default_rng(3)
    schedule = CumulativeSchedule.for_program(
        FLEX, origin=T0, start_day=0.0, end_day=40.0, program_start_day=0.0
    )
    vol, dur = 0.1, 0.05
    starts = np.sort(rng.uniform(0, 30, (200, 25)), axis=1)
    starts = starts + np.arange(25) * dur  # no overlaps
    starts[::5, 20:] = np.inf

    def delivered(t: float, row: np.ndarray) -> float:
        g = row[np.isfinite(row)]
        return float(schedule.volume_at(t)) + vol * float(np.clip((t - g) / dur, 0, 1).sum())

    targets = rng.uniform(0.5, 14.0, 200)
    times = delivered_crossing(targets, starts, schedule, vol, dur)
    for i in range(200):
        assert delivered(times[i], starts[i]) == pytest.approx(targets[i], abs=1e-9)
        assert delivered(times[i] - 1e-6, starts[i]) < targets[i]


def test_no_ptm_alarm_times_are_exact() -> None:
    """20 mL at 0.5 mL/day, alarm 2 mL: alarm at day 36, empty at day 40; factor 1.1 runs dry at
    40/1.1 days; factor 0.9 after the empty alarm at the 0.048 mL/day empty rate."""
    t = therapy()
    ens = simulate_ensemble(t, runs=2, factor=FactorDistribution("fixed", 1.1))
    assert ens.low_reservoir_day is not None
    assert ens.low_reservoir_day[0] == pytest.approx(36.0, abs=1e-9)
    assert ens.empty_day[0] == pytest.approx(40.0, abs=1e-9)
    assert ens.actual_dry_day[0] == pytest.approx(40.0 / 1.1, abs=1e-9)
    slow = simulate_ensemble(t, runs=1, factor=FactorDistribution("fixed", 0.9))
    assert slow.actual_dry_day[0] == pytest.approx(40.0 + (20 / 0.9 - 20) / 0.048, abs=1e-9)
    assert ens.ptm_presses.tolist() == [0, 0]


def test_flex_weekday_program_crossing_equals_schedule_inverse() -> None:
    """Flex steps, weekend steps and a daily periodic bolus: the alarm time is the exact inverse
    of the shared cumulative schedule."""
    t = therapy(program=FLEX, volume_ml=12.0)
    ens = simulate_ensemble(t, runs=1)
    schedule = CumulativeSchedule.for_program(
        FLEX, origin=T0, start_day=0.0, end_day=60.0, program_start_day=0.0
    )
    assert ens.low_reservoir_day is not None
    assert ens.low_reservoir_day[0] == pytest.approx(float(schedule.time_of_volume(10.0)), abs=1e-9)
    assert ens.empty_day[0] == pytest.approx(float(schedule.time_of_volume(12.0)), abs=1e-9)


PTM = PtmSettings(bolus_volume_ml=0.05, duration_days=1 / 96, lockout_days=1 / 12, max_per_day=4)


def test_same_seed_same_answer_and_chunks_bounded() -> None:
    t = therapy(ptm=PTM, demand=PtmDemand(presses_per_day=5, daily_cv=0.4))
    a = simulate_ensemble(t, runs=300, seed=7, chunk_size=128)
    b = simulate_ensemble(t, runs=300, seed=7, chunk_size=128)
    c = simulate_ensemble(t, runs=300, seed=8, chunk_size=128)
    assert np.array_equal(a.empty_day, b.empty_day)
    assert np.array_equal(a.delivery_factor, b.delivery_factor)
    assert not np.array_equal(a.empty_day, c.empty_day)
    # the first chunk of a long run is a run of one chunk's size
    head = simulate_ensemble(t, runs=128, seed=7, chunk_size=128)
    assert np.array_equal(a.actual_dry_day[:128], head.actual_dry_day)


def test_press_process_rate_and_day_profile() -> None:
    """Poisson presses at 6/day over whole days, two thirds of them between 12:00 and 18:00
    (weight 4 over 6 h against weight 1 over 12 h)."""
    demand = PtmDemand.model_validate(
        {
            "presses_per_day": 6,
            "profile": [
                {"start": "00:00", "weight": 0},
                {"start": "06:00", "weight": 1},
                {"start": "12:00", "weight": 4},
                {"start": "18:00", "weight": 1},
            ],
        }
    )
    t = therapy(ptm=PTM, demand=demand, when=dt.datetime(2026, 3, 2, 0, 0))
    plan = Plan.build(t, horizon_days=20.0)
    presses = presses_for(plan, np.random.default_rng(1), 2000)
    finite = presses[np.isfinite(presses)]
    assert finite.size / 2000 / 20 == pytest.approx(6.0, rel=0.01)
    hour = (finite % 1.0) * 24
    assert np.mean((hour >= 12) & (hour < 18)) == pytest.approx(4 / 6, abs=0.01)
    assert not np.any(hour < 6)
    padded = np.where(np.isfinite(presses), presses, 1e9)
    assert np.all(np.diff(padded, axis=1) >= 0)


def test_press_log_is_used_as_given() -> None:
    log = PtmDemand(presses=(dt.datetime(2026, 3, 3, 9), dt.datetime(2026, 3, 3, 10)))
    t = therapy(ptm=PTM, demand=log)
    ens = simulate_ensemble(t, runs=3)
    # 09:00 granted; 10:00 is inside the 2 h lockout
    assert ens.ptm_presses.tolist() == [2, 2, 2]
    assert ens.ptm_granted.tolist() == [1, 1, 1]
    assert ens.low_reservoir_day is not None
    assert ens.low_reservoir_day[0] == pytest.approx((18 - 0.05) / 0.5, abs=1e-9)


def test_bad_arguments_raise() -> None:
    with pytest.raises(SimulationError):
        simulate_ensemble(therapy(), runs=0)
    with pytest.raises(SimulationError):
        simulate_ensemble(therapy(), runs=5, horizon_days=-1)
