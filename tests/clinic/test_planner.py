"""The planner: calendar rules, capacity, windows, chained cycles, unplaceable patients,
re-planning stability and determinism.

Most tests use ``FixedWindows`` (refill by ``interval`` days after the fill, window ``span``
days long) so every date can be checked by hand; one test uses the real forecast with few runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest

from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.clinic.planner import plan_clinic
from pumpsim.clinic.results import Plan
from pumpsim.clinic.windows import (
    ForecastWindowSource,
    ScheduleWindowSource,
    Window,
    WindowRequest,
)
from pumpsim.io.roster import Roster, load_roster

HEADER = (
    "patient_id,pump,drugs,catheter_volume,last_refill,fill_volume,daily_rate,"
    "allowed_weekdays,nurse\n"
)
MON = dt.date(2026, 3, 30)  # Monday before Easter 2026 (Good Friday 3 April, Easter Monday 6 April)


class FixedWindows:
    """Refill by ``interval`` days after the fill's date; window opens ``span`` days earlier."""

    description = "fixed"

    def __init__(self, interval: int = 20, span: int = 4, overrides: dict[str, int] | None = None):
        self.interval, self.span = interval, span
        self.overrides = overrides or {}
        self.calls: list[tuple[str, dt.datetime]] = []

    def windows(self, requests: Sequence[WindowRequest], progress=None) -> list[Window]:
        out = []
        for r in requests:
            t = r.therapy
            self.calls.append((t.patient_id, t.state.time))
            latest = t.state.time.date() + dt.timedelta(
                days=self.overrides.get(t.patient_id, self.interval)
            )
            out.append(Window(latest - dt.timedelta(days=self.span), latest, "fixed"))
        return out


def _roster(tmp_path: Path, rows: list[str]) -> Roster:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return load_roster(path)


def _row(pid: str, last: str, weekdays: str = "", nurse: str = "") -> str:
    return (
        f"{pid},synchromed-ii-20,morphine 25 mg/mL,0.2 mL,{last},20 mL,0.5 mL/day,"
        f'"{weekdays}",{nurse}'
    )


def _check_invariants(plan: Plan, calendar: ClinicCalendar) -> None:
    """No appointment on a closed day; capacity never exceeded; each inside its window."""
    per_day: dict[tuple[str, dt.date], int] = {}
    starts: set[tuple[str, dt.datetime]] = set()
    for a in plan.appointments:
        assert calendar.is_open(a.date), (a.patient_id, a.date, calendar.closed_reason(a.date))
        per_day[(a.pool, a.date)] = per_day.get((a.pool, a.date), 0) + 1
        assert a.date <= a.window_latest
        assert a.early or a.window_earliest <= a.date
        assert (a.pool, a.start) not in starts
        starts.add((a.pool, a.start))
        assert a.start.date() == a.date
    for (pool, _), n in per_day.items():
        assert n <= calendar.capacity(pool)


def test_easter_capacity_and_latest_dates(tmp_path: Path) -> None:
    # four patients all due by Easter Monday; the clinic is closed Good Friday and Easter Monday
    roster = _roster(tmp_path, [_row(f"P{i}", "2026-03-17T09:00") for i in range(4)])
    calendar = ClinicCalendar(
        start=MON,
        end=MON + dt.timedelta(days=20),
        capacity_per_day=2,
        country="DE",
        timezone="Europe/Berlin",
    )
    plan = plan_clinic(roster, calendar, FixedWindows(interval=20, span=6))
    _check_invariants(plan, calendar)
    # windows 2026-03-31 .. 2026-04-06; latest open days are Thu 2 April and Wed 1 April
    first = [(a.patient_id, a.start) for a in plan.appointments if a.cycle == 1]
    assert first == [
        ("P0", dt.datetime(2026, 4, 1, 8, 0)),
        ("P1", dt.datetime(2026, 4, 1, 8, 30)),
        ("P2", dt.datetime(2026, 4, 2, 8, 0)),
        ("P3", dt.datetime(2026, 4, 2, 8, 30)),
    ]
    assert plan.closed_days == {
        dt.date(2026, 4, 3): "public holiday (Good Friday)",
        dt.date(2026, 4, 6): "public holiday (Easter Monday)",
    }
    assert not plan.unplaceable
    # with one refill a day only three open days remain in the window: the fourth patient
    # comes early (Monday 30 March) instead of being missed
    tight = plan_clinic(
        roster, calendar.model_copy(update={"capacity_per_day": 1}), FixedWindows(20, 6)
    )
    first = sorted((a.date, a.patient_id, a.early) for a in tight.appointments if a.cycle == 1)
    assert first == [
        (dt.date(2026, 3, 30), "P3", True),
        (dt.date(2026, 3, 31), "P0", False),
        (dt.date(2026, 4, 1), "P1", False),
        (dt.date(2026, 4, 2), "P2", False),
    ]
    assert not tight.unplaceable


def test_cycles_chain_from_the_planned_refill(tmp_path: Path) -> None:
    roster = _roster(tmp_path, [_row("A", "2026-03-20T10:00")])
    calendar = ClinicCalendar(start=MON, end=MON + dt.timedelta(weeks=8, days=-1))
    source = FixedWindows(interval=14, span=3)
    plan = plan_clinic(roster, calendar, source)
    dates = [a.date for a in plan.appointments]
    # 20 Mar + 14 = Fri 3 Apr (open: no holidays here); then 14 days after each refill,
    # moved back to Friday when it falls on a weekend
    assert dates == [
        dt.date(2026, 4, 3),
        dt.date(2026, 4, 17),
        dt.date(2026, 5, 1),
        dt.date(2026, 5, 15),
    ]
    # each later window was forecast from the therapy refilled at the appointment's start
    assert source.calls[1:] == [("A", dt.datetime.combine(d, dt.time(8, 0))) for d in dates]
    assert [(n.cycle, n.latest) for n in plan.next_due] == [(5, dt.date(2026, 5, 29))]
    a = plan.appointments[0]
    # 20 mL at 0.5 mL/day from 20 Mar 10:00 to 3 Apr 08:00 (13 d 22 h): 20 - 6.958333 mL
    assert a.expected_remaining_ml == pytest.approx(20 - 0.5 * (13 + 22 / 24), abs=1e-9)
    assert a.fill_ml == 20.0 and a.drugs[0].amount_mg == pytest.approx(500.0, abs=1e-9)
    assert [a.cycle for a in plan.appointments] == [1, 2, 3, 4]
    assert len({a.uid for a in plan.appointments}) == 4


def test_unplaceable_with_reason_and_best_option(tmp_path: Path) -> None:
    # window Sat 4 Apr .. Mon 6 Apr (holiday) for a Friday-only patient: nothing open inside,
    # and no open day before it on a Friday that isn't Good Friday -> a different weekday
    roster = _roster(
        tmp_path,
        [_row("F", "2026-03-31T09:00", weekdays="fri"), _row("O", "2026-03-01T09:00")],
    )
    calendar = ClinicCalendar(start=MON, end=MON + dt.timedelta(days=13), country="DE")
    source = FixedWindows(interval=6, span=2, overrides={"O": 20})
    plan = plan_clinic(roster, calendar, source)
    by_id = {u.patient_id: u for u in plan.unplaceable}
    assert set(by_id) == {"F"}  # O, overdue, is booked urgently now (below)
    f = by_id["F"]
    assert f.window_earliest == dt.date(2026, 4, 4) and f.window_latest == dt.date(2026, 4, 6)
    assert f.reason == (
        "no open clinic day between 2026-04-04 and 2026-04-06 (2026-04-04 the clinic is closed "
        "on sat; 2026-04-05 the clinic is closed on sun; 2026-04-06 public holiday (Easter Monday))"
    )
    assert f.best_option == "an extra session on 2026-04-05 (Sunday)"
    assert f.best_date == dt.date(2026, 4, 5)
    (o,) = [a for a in plan.appointments if a.patient_id == "O" and a.cycle == 1]
    assert (o.date, o.urgent, o.urgent_reason) == (
        dt.date(2026, 3, 30),
        True,
        "overdue since 2026-03-21",
    )
    assert o.slack_days == -9


def test_refill_moves_before_earliest_rather_than_be_missed(tmp_path: Path) -> None:
    # window Mon 6 Apr (holiday) only: the refill comes earlier, on Thu 2 Apr, flagged early
    roster = _roster(tmp_path, [_row("E", "2026-03-27T09:00")])
    calendar = ClinicCalendar(start=MON, end=MON + dt.timedelta(days=9), country="DE")
    plan = plan_clinic(roster, calendar, FixedWindows(interval=10, span=0))
    (a,) = plan.appointments
    assert (a.date, a.early, a.window_earliest) == (dt.date(2026, 4, 2), True, dt.date(2026, 4, 6))
    assert not plan.unplaceable


def test_pools_per_nurse_and_allowed_weekdays(tmp_path: Path) -> None:
    rows = [_row(f"K{i}", "2026-03-16T09:00", nurse="Kim") for i in range(3)]
    rows += [_row(f"L{i}", "2026-03-16T09:00", nurse="Lee", weekdays="tue") for i in range(2)]
    roster = _roster(tmp_path, rows)
    calendar = ClinicCalendar(
        start=MON,
        end=MON + dt.timedelta(days=13),
        pool_by="nurse",
        pool_capacity={"Kim": 1, "Lee": 2},
    )
    plan = plan_clinic(roster, calendar, FixedWindows(interval=21, span=5))
    _check_invariants(plan, calendar)
    lee = [(a.patient_id, a.date, a.early) for a in plan.appointments if a.pool == "Lee"]
    # the window 1-6 April has no Tuesday: both come early, on Tuesday 31 March (room for 2)
    assert sorted(lee) == [("L0", dt.date(2026, 3, 31), True), ("L1", dt.date(2026, 3, 31), True)]
    kim = sorted(a.date for a in plan.appointments if a.pool == "Kim" and a.cycle == 1)
    assert kim == [dt.date(2026, 4, 2), dt.date(2026, 4, 3), dt.date(2026, 4, 6)]


def test_replanning_keeps_bookings_unless_unsafe_or_closed(tmp_path: Path) -> None:
    rows = [_row(f"P{i}", f"2026-03-{10 + i}T09:00") for i in range(6)]
    roster = _roster(tmp_path, rows)
    calendar = ClinicCalendar(start=MON, end=MON + dt.timedelta(weeks=6), capacity_per_day=2)
    source = FixedWindows(interval=25, span=5)
    first = plan_clinic(roster, calendar, source)
    again = plan_clinic(roster, calendar, source, previous=first)
    assert [a.model_dump(exclude={"kept"}) for a in again.appointments] == [
        a.model_dump(exclude={"kept"}) for a in first.appointments
    ]
    assert all(a.kept for a in again.appointments)
    # a closure on the day of P0's first refill, and another patient's refill-by date moves
    # one day before their booked day
    p0 = next(a for a in first.appointments if a.patient_id == "P0")
    p1 = next(a for a in first.appointments if a.cycle == 1 and a.date != p0.date)
    closed = calendar.model_copy(update={"closures": frozenset({p0.date})})
    shorter = FixedWindows(interval=25, span=5, overrides={p1.patient_id: 25 - (p1.slack_days + 1)})
    changed = plan_clinic(roster, closed, shorter, previous=first)
    _check_invariants(changed, closed)
    moved = {a.patient_id: a for a in changed.appointments if a.cycle == 1 and not a.kept}
    same_day = {a.patient_id for a in first.appointments if a.cycle == 1 and a.date == p0.date}
    assert set(moved) == same_day | {p1.patient_id}
    assert moved["P0"].change_reason == f"the booked day {p0.date} is now closed (clinic closure)"
    assert moved["P0"].previous_start == p0.start
    assert moved[p1.patient_id].change_reason == (
        f"unsafe: the booked day {p1.date} is after the new refill-by date "
        f"{p1.date - dt.timedelta(days=1)}"
    )
    assert moved[p1.patient_id].date < p1.date
    kept = {a.patient_id for a in changed.appointments if a.cycle == 1 and a.kept}
    assert kept == {f"P{i}" for i in range(6)} - set(moved)
    assert len(kept) >= 2
    assert {a.uid for a in changed.appointments if a.cycle == 1} == {
        a.uid for a in first.appointments if a.cycle == 1
    }


def test_schedule_windows_plan(tmp_path: Path) -> None:
    roster = load_roster(Path(__file__).resolve().parents[2] / "profiles/rosters/clinic-12.csv")
    calendar = ClinicCalendar(
        start=dt.date(2026, 3, 9),
        end=dt.date(2026, 6, 7),
        capacity_per_day=1,
        country="DE",
        subdivision="BY",
    )
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    _check_invariants(plan, calendar)
    assert plan.appointments


def test_forecast_plan_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    roster = _roster(
        tmp_path,
        [_row(f"P{i}", f"2026-03-{10 + 3 * i:02d}T09:00") for i in range(4)],
    )
    calendar = ClinicCalendar(start=MON, end=MON + dt.timedelta(weeks=8), capacity_per_day=1)
    plans = []
    for workers in (1, 2):
        with ForecastWindowSource(runs=200, seed=7, workers=workers) as source:
            plans.append(plan_clinic(roster, calendar, source))
    with ForecastWindowSource(runs=200, seed=7, workers=1) as source:
        plans.append(plan_clinic(roster, calendar, source))
    assert plans[0].model_dump_json() == plans[1].model_dump_json() == plans[2].model_dump_json()
    _check_invariants(plans[0], calendar)
    assert len(plans[0].appointments) >= 4


def test_a_roster_refill_sheet_calibrates_the_patients_forecast_window(tmp_path: Path) -> None:
    """The planner forecasts a patient with a refill sheet at the factor calibrated from it:
    the window is the one ``forecast`` gives with that estimate, not the uncalibrated one."""
    from pumpsim.clinic import ClinicCalendar, ForecastWindowSource, WindowRequest
    from pumpsim.clinic.planner import _uid
    from pumpsim.forecast import forecast_many
    from pumpsim.forecast.visit import roster_calibration
    from pumpsim.io.roster import load_roster as load

    root = Path(__file__).resolve().parents[2]
    profile = root / "profiles" / "patients" / "morphine-refill-history.yaml"
    sheet = root / "profiles" / "refills" / "morphine-over-infusion.csv"
    roster_path = tmp_path / "roster.csv"
    roster_path.write_text(f"patient_id,profile,refill_sheet\nA,{profile},{sheet}\n")
    (entry,) = load(roster_path).entries
    calibration = roster_calibration(entry)
    assert calibration is not None
    with ForecastWindowSource(runs=400, seed=2, workers=1) as source:
        calibrated = source.windows(
            [WindowRequest(entry.therapy, key=_uid(entry, 1), delivery_factor=calibration.estimate)]
        )[0]
        plain = source.windows([WindowRequest(entry.therapy, key=_uid(entry, 1))])[0]
        calendar = ClinicCalendar(
            start=entry.therapy.state.time.date(),
            end=entry.therapy.state.time.date() + dt.timedelta(days=80),
            capacity_per_day=2,
        )
        plan = plan_clinic(load(roster_path), calendar, source)
    direct = forecast_many(
        [entry.therapy], runs=400, seed=2, workers=1, keys=[_uid(entry, 1)],
        delivery_factor=calibration.estimate,
    )[0]  # fmt: skip
    assert calibrated.latest == direct.refill_by
    assert plan.appointments[0].window_latest == calibrated.latest
    assert calibrated != plain or calibration.estimate.mean == 1.0
