"""The engine judges every refill (``pumpsim.models.refill.judge_refill``), starts a stability
clock at every fill and names every exported volume and mass for what it holds.

Numbers are hand-computed from the reference pump at 20 mL (residual 1.4 mL, rated ±14.5 %),
morphine 25 mg/mL at 0.5 mL/day from Monday 2026-03-02 08:00."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest

from pumpsim.engine import simulate
from pumpsim.models import Catheter, Drug, Infusate, Program, PumpSpec, PumpState, Therapy
from pumpsim.models.refill import (
    DiscrepancySettings,
    DiscrepancyThresholds,
    judge_refill,
    resolve_thresholds,
)
from pumpsim.models.timeline import CatheterOcclusion, Refill, Timeline
from pumpsim.testing import reference_pump

START = dt.datetime(2026, 3, 2, 8, 0)
MORPHINE = Infusate(drugs=(Drug(name="morphine", concentration_mg_per_ml=25, stability_days=90),))
ZICONOTIDE = Infusate(
    drugs=(
        Drug(
            name="ziconotide",
            mass_unit="mcg",
            concentration_mg_per_ml=0.025,
            stability_days=40,
            first_fill_stability_days=14,
        ),
    )
)


def pump(**changes: Any) -> PumpSpec:
    return reference_pump(**{"key": "test", "name": "Test pump", "reservoir_ml": 20, **changes})


def therapy(
    *, infusate: Infusate = MORPHINE, state: PumpState | None = None, **extra: Any
) -> Therapy:
    spec = extra.pop("spec", None) or pump()
    return Therapy(
        patient_id="case",
        pump=spec,
        infusate=infusate,
        catheter=Catheter(volume_ml_given=0.3),
        program=extra.pop("program", None) or Program.simple(0.5),
        state=state or PumpState(time=START, calculated_volume_ml=20),
        **extra,
    )


# ------------------------------------------------------------------ the verdict
def test_default_thresholds_come_from_the_pump_size_and_rated_accuracy() -> None:
    """20 mL pump: review beyond 1 mL; 40 mL: beyond 2 mL; investigate beyond 2 mL or the
    rated accuracy; a profile setting replaces only the field it sets."""
    small = therapy().discrepancy_thresholds
    assert small == DiscrepancyThresholds(
        review_ml=1.0, investigate_ml=2.0, investigate_fraction=0.145
    )
    assert therapy(spec=pump(reservoir_ml=40)).discrepancy_thresholds.review_ml == 2.0
    mixed = therapy(
        spec=pump(refill_discrepancy=DiscrepancySettings(investigate_ml=3.0, review_ml=1.5)),
        refill_discrepancy=DiscrepancySettings(review_ml=0.5),
    ).discrepancy_thresholds
    assert (mixed.review_ml, mixed.investigate_ml, mixed.investigate_fraction) == (0.5, 3.0, 0.145)


def test_judge_refill_levels_and_causes() -> None:
    t = resolve_thresholds(20, 0.145)
    ok = judge_refill(
        expected_withdrawable_ml=5,
        withdrawn_ml=4.2,
        programmed_ml=15,
        previous_fill_ml=20,
        thresholds=t,
    )
    assert (ok.level, ok.cause) == ("ok", None)
    over = judge_refill(
        expected_withdrawable_ml=5,
        withdrawn_ml=3.5,
        programmed_ml=15,
        previous_fill_ml=20,
        thresholds=t,
    )
    assert (over.level, over.cause) == ("review", "over-infusion")
    assert over.share_of_programmed == pytest.approx(0.1)
    assert "low-reservoir alarm cannot be trusted" in over.explanation
    # 1.5 mL of a 6 mL interval is 25 % > 14.5 %: investigate although below 2 mL
    share = judge_refill(
        expected_withdrawable_ml=5,
        withdrawn_ml=3.5,
        programmed_ml=6,
        previous_fill_ml=11,
        thresholds=t,
    )
    assert (share.level, share.cause) == ("investigate", "over-infusion")
    surplus = judge_refill(
        expected_withdrawable_ml=4.6,
        withdrawn_ml=7.6,
        programmed_ml=14,
        previous_fill_ml=20,
        thresholds=t,
    )
    assert (surplus.level, surplus.cause) == ("investigate", "under-infusion or occlusion")


def test_pocket_fill_refill_is_investigated_as_a_suspected_pocket_fill() -> None:
    """Pocket fill 04-01 08:00; the refill 05-01 08:00 expects 5 + 1.4 - 1.4 = 5 mL and gets
    nothing: -5 mL, beyond 2 mL → investigate, suspected pocket fill. The pocket-fill refill
    itself withdrew exactly what was expected (3.6 mL): ok."""
    timeline = Timeline(
        entries=(
            Refill(at=dt.datetime(2026, 4, 1, 8, 0), fill_ml=20, pocket_fill=True),
            Refill(at=dt.datetime(2026, 5, 1, 8, 0), fill_ml=20),
        )
    )
    trace = simulate(therapy(), timeline, days=65)
    first, second = trace.refills
    assert (first.verdict.level, first.verdict.cause) == ("ok", None)
    assert second.verdict.level == "investigate"
    assert second.verdict.cause == "suspected pocket fill"
    assert second.verdict.discrepancy_ml == pytest.approx(-5.0, abs=1e-9)
    assert second.previous_fill_ml == 20
    refill_event = trace.events_of("refill")[1]
    assert refill_event.detail["verdict"] == "investigate"
    assert refill_event.detail["cause"] == "suspected pocket fill"


def test_occlusion_surplus_is_under_infusion_or_occlusion() -> None:
    """4 days occluded at 0.5 mL/day: +2.0 mL is not beyond 2 mL, but 2/15 = 13.3 % < 14.5 %:
    review; 5 days: +2.5 mL → investigate."""
    for days, level in ((4, "review"), (5, "investigate")):
        timeline = Timeline(
            entries=(
                CatheterOcclusion(at=dt.datetime(2026, 3, 10, 8, 0), duration_days=days),
                Refill(at=dt.datetime(2026, 4, 1, 8, 0), fill_ml=20),
            )
        )
        (record,) = simulate(therapy(), timeline, days=31).refills
        assert record.discrepancy_ml == pytest.approx(0.5 * days, abs=1e-9)
        assert (record.verdict.level, record.verdict.cause) == (
            level,
            "under-infusion or occlusion",
        )


def test_over_infusion_by_ten_percent_is_reviewed() -> None:
    """No residual, factor 1.1, refill after 30 days: 20 - 16.5 = 3.5 mL out where 5 mL were
    expected: -1.5 mL (10 % of 15 mL) → review, over-infusion."""
    timeline = Timeline(entries=(Refill(at=dt.datetime(2026, 4, 1, 8, 0), fill_ml=20),))
    t = therapy(spec=pump(nonretrievable_residual_ml=0))
    (record,) = simulate(t, timeline, days=31, delivery_factor=1.1).refills
    assert record.expected_withdrawable_ml == pytest.approx(5.0, abs=1e-9)
    assert record.withdrawn_ml == pytest.approx(3.5, abs=1e-9)
    assert (record.verdict.level, record.verdict.cause) == ("review", "over-infusion")


def test_events_csv_and_json_name_every_refill_volume() -> None:
    """``calculated_ml`` is what the pump believed, ``expected_withdrawable_ml`` what should come
    out; the old ambiguous ``expected_ml`` is gone."""
    timeline = Timeline(entries=(Refill(at=dt.datetime(2026, 3, 12, 8, 0), fill_ml=20),))
    trace = simulate(therapy(), timeline, days=11)
    rows = [r for r in csv.DictReader(io.StringIO(trace.events_csv())) if r["kind"] == "refill"]
    detail = json.loads(rows[0]["detail"])
    assert "expected_ml" not in detail
    assert detail["calculated_ml"] == pytest.approx(15.0)
    assert detail["expected_withdrawable_ml"] == pytest.approx(13.6)
    assert (detail["verdict"], detail["cause"]) == ("ok", None)
    (refill,) = trace.to_dict()["refills"]
    assert refill["calculated_ml"] == pytest.approx(15.0)
    assert refill["verdict"]["level"] == "ok"


# ------------------------------------------------------------------ the stability clock
def test_stability_exceeded_at_fill_time_plus_limit_to_the_minute() -> None:
    """Filled 2026-03-02 08:00, 90 days: the event at 2026-05-31 08:00 (run of 100 days; the
    pump runs at 0.1 mL/day so fluid is left)."""
    trace = simulate(therapy(program=Program.simple(0.1)), days=100)
    (event,) = trace.events_of("drug_stability_exceeded")
    assert event.time == dt.datetime(2026, 5, 31, 8, 0)
    assert event.detail["stability_limit"] == dt.datetime(2026, 5, 31, 8, 0)
    assert event.detail["reservoir_ml"] == pytest.approx(20 - 9.0, abs=1e-9)
    assert trace.fills[0].stability_limit == dt.datetime(2026, 5, 31, 8, 0)


def test_each_refill_starts_its_own_clock_and_a_refill_at_the_limit_is_in_time() -> None:
    """Ziconotide, new pump: the first fill 03-02 08:00 may stay 14 days (first-fill limit);
    refilled exactly then, the next fill's 40-day clock runs to 04-25 08:00, where the event
    comes. The filled_at of the state (02-28 20:30) starts the first clock."""
    state = PumpState(
        time=START,
        calculated_volume_ml=20,
        filled_at=dt.datetime(2026, 2, 28, 20, 30),
        first_fill=True,
    )
    t = therapy(infusate=ZICONOTIDE, state=state, program=Program.simple(0.1))
    first_limit = dt.datetime(2026, 3, 14, 20, 30)
    timeline = Timeline(entries=(Refill(at=first_limit, fill_ml=10),))
    trace = simulate(t, timeline, days=60)
    assert [(f.time, f.first_fill, f.stability_limit) for f in trace.fills] == [
        (dt.datetime(2026, 2, 28, 20, 30), True, first_limit),
        (first_limit, False, dt.datetime(2026, 4, 23, 20, 30)),
    ]
    assert [e.time for e in trace.events_of("drug_stability_exceeded")] == [
        dt.datetime(2026, 4, 23, 20, 30)
    ]
    current = trace.current_fill()
    assert current is not None and current.stability_limit == dt.datetime(2026, 4, 23, 20, 30)


def test_a_pocket_fill_keeps_the_old_clock_and_a_dry_reservoir_passes_nothing() -> None:
    """The pocket fill never reaches the reservoir: the fluid there keeps the 03-02 clock, and
    since that residual runs dry on 04-04, no stability event follows."""
    timeline = Timeline(
        entries=(Refill(at=dt.datetime(2026, 4, 1, 8, 0), fill_ml=20, pocket_fill=True),)
    )
    trace = simulate(therapy(), timeline, days=120)
    assert [f.in_reservoir for f in trace.fills] == [True, False]
    assert trace.current_fill() == trace.fills[0]
    assert not trace.events_of("drug_stability_exceeded")


# ------------------------------------------------------------------ units in the exports
def test_mcg_drugs_are_written_in_mcg_in_csv_and_json() -> None:
    """Ziconotide 25 mcg/mL at 0.1 mL/day = 2.5 mcg/day on a whole day (the tip holds the same
    fluid): the daily CSV's ``unit`` is ``mcg`` (fixed columns, a row per day and drug), JSON
    ``dose: {ziconotide_mcg: 2.5}``."""
    trace = simulate(therapy(infusate=ZICONOTIDE, program=Program.simple(0.1)), days=3)
    rows = list(csv.DictReader(io.StringIO(trace.daily_csv())))
    assert (rows[1]["drug"], rows[1]["unit"]) == ("ziconotide", "mcg")
    assert float(rows[1]["dose"]) == pytest.approx(2.5, abs=1e-6)
    day = trace.to_dict()["daily"][1]
    assert day["dose"] == {"ziconotide_mcg": pytest.approx(2.5, abs=1e-9)}
    assert "dose_mg" not in day
