"""The press-log window a demand is estimated from: [start, pump state), checks and messages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pumpsim.core.errors import ProfileError, SimulationError
from pumpsim.forecast.press_window import (
    demand_from_press_log,
    press_window,
    read_press_window,
)
from pumpsim.io.profiles import load_catalog
from pumpsim.models import Catheter, Drug, Infusate, Program, PtmSettings, PumpState, Therapy

STATE = dt.datetime(2026, 1, 11, 9, 0)
PTM = PtmSettings(bolus_volume_ml=0.1, duration_days=1 / 48, lockout_days=1 / 8, max_per_day=3)
# two presses a day, 5-10 January, then two after the pump state
LOG = [dt.datetime(2026, 1, d, h) for d in range(5, 11) for h in (10, 20)] + [
    dt.datetime(2026, 1, 11, 10),
    dt.datetime(2026, 1, 12, 10),
]


def therapy(ptm: PtmSettings | None = PTM) -> Therapy:
    catalog = load_catalog()
    return Therapy(
        patient_id="window-test",
        pump=catalog.pumps["synchromed-ii-20"],
        infusate=Infusate(drugs=(Drug.from_entry(catalog.drugs["baclofen"], 2.0),)),
        catheter=Catheter(volume_ml_given=0.2),
        program=Program.simple(0.5),
        ptm=ptm,
        state=PumpState(time=STATE, calculated_volume_ml=20.0),
    )


def test_default_window_opens_at_the_midnight_before_the_first_press() -> None:
    """12 presses from 5 Jan 00:00 to the state 11 Jan 09:00 (6.375 days); the 2 later presses
    are counted as ignored. Rate (12 + 1/2) / 6.375 = 1.96 a day."""
    window = press_window(therapy(), LOG)
    assert (window.start, window.end) == (dt.datetime(2026, 1, 5), STATE)
    assert (len(window.presses), window.ignored) == (12, 2)
    estimate = demand_from_press_log(therapy(), LOG)
    assert estimate.presses == 12
    assert estimate.span_days == pytest.approx(6.375)
    assert estimate.demand.presses_per_day == pytest.approx(12.5 / 6.375, rel=1e-12)
    assert estimate.demand.presses_per_day == pytest.approx(1.9608, abs=1e-4)


def test_an_explicit_start_widens_the_span() -> None:
    estimate = demand_from_press_log(therapy(), LOG, dt.datetime(2026, 1, 4))
    assert estimate.span_days == pytest.approx(7.375)
    assert estimate.demand.presses_per_day == pytest.approx(12.5 / 7.375, rel=1e-12)


def test_errors_name_the_rule() -> None:
    with pytest.raises(SimulationError, match="window-test: a PTM log needs ptm settings"):
        demand_from_press_log(therapy(ptm=None), LOG)
    with pytest.raises(SimulationError, match="log.csv: no presses before the pump state"):
        press_window(therapy(), LOG[-2:], source="log.csv")
    with pytest.raises(SimulationError, match="--from: got 2026-01-11T09:00:00; allowed: before"):
        press_window(therapy(), LOG, STATE, start_name="--from")


def test_read_press_window_reads_the_csv(tmp_path: Path) -> None:
    path = tmp_path / "ptm.csv"
    path.write_text("time\n" + "".join(f"{p.isoformat()}\n" for p in LOG), encoding="utf-8")
    window = read_press_window(therapy(), path)
    assert window == press_window(therapy(), LOG)
    with pytest.raises(SimulationError, match="needs ptm settings"):
        read_press_window(therapy(ptm=None), tmp_path / "missing.csv")  # PTM checked first
    with pytest.raises(ProfileError, match="missing.csv"):
        read_press_window(therapy(), tmp_path / "missing.csv")
