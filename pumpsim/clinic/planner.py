"""Turn a roster into refill appointments under the clinic's calendar and capacity.

The rules (``docs/planning.md`` has a worked example):

1. Each refill has a *window* from a ``WindowSource`` (by default the forecast's
   ``earliest_refill`` … ``refill_by`` at the chosen risk), clipped to the horizon's start.
2. A refill takes one slot on an open clinic day inside its window, on one of the patient's
   allowed weekdays, in the patient's capacity pool (clinic, nurse or location).
3. Days are swept in order with ``edf.LazyEdf``: whenever a plan meeting every deadline exists
   one is found, and among those the latest (fewest visits, least drug discarded).
   ``earliest`` is a preference, ``latest`` is not: a refill with no room in its window may come
   earlier (flagged ``early``) rather than be missed.
4. Cycles chain: once a refill has a slot, the next window comes from the therapy refilled at
   that slot (state = the fill volume at the slot's start, battery aged by the programmed
   delivery) and joins the sweep. Windows starting after the horizon are reported as next due.
   With a ``Prefetching`` source (a forecast source with a process pool) the planner also
   predicts the next open day's bookings and has their next windows started early; a window
   is only ever taken for an equal request, so this changes when windows are ready, never the
   plan (``docs/planning.md`` section 7).
5. An *overdue* refill (its ``latest`` date is before the first open day: the window closed
   before the plan starts) is booked on the first open day with room on the patient's weekdays
   and flagged ``urgent`` ("overdue since <refill-by date>").
   A refill that cannot be placed is reported with the reason and the best option.
6. Re-planning with ``previous=`` keeps each booked appointment (matched by its stable uid) on
   its day and slot while that day is still open, allowed, inside the horizon, not after the new
   window's latest date and within capacity; otherwise it is moved and the change is explained.
7. Before anything is planned, every roster therapy (and its ``next_drugs`` therapy) goes
   through ``schedule.limits.enforce_dose_limits``: a dose above a hard limit stops the plan
   with one ``DoseLimitError`` naming every such patient.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pumpsim.clinic.calendar import ClinicCalendar
from pumpsim.clinic.edf import LazyEdf, UnitJob
from pumpsim.clinic.explain import explain_unplaced
from pumpsim.clinic.results import Appointment, DrugFill, NextDue, Plan, Unplaceable
from pumpsim.clinic.windows import Prefetching, Window, WindowRequest, WindowSource
from pumpsim.core.clock import to_days, weekday_label
from pumpsim.forecast.calibration import DeliveryFactorEstimate
from pumpsim.forecast.deterministic import battery_used_at
from pumpsim.forecast.visit import roster_calibration
from pumpsim.io.roster import Roster, RosterEntry
from pumpsim.models import PumpState, Therapy
from pumpsim.schedule.limits import DoseLimitError, DoseWarning, enforce_dose_limits
from pumpsim.schedule.segments import programmed_volume_ml

__all__ = ["PlanProgress", "plan_clinic"]

PlanProgress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phases ``"forecast"`` (first windows) and ``"plan"`` (days)."""

_UID_NAMESPACE = uuid.UUID("6f2a4c1e-8d7b-5e0a-9c3f-2b1d4e6a8c10")

LOOKAHEAD_DAYS = 1
"""Open days a ``Prefetching`` source is told about ahead: after each day the planner predicts
the next day's refills (a copy of the sweep without the windows still being forecast) and has
their next windows started, so the pool never waits for the planner."""

PREDICT_BELOW = 64
"""Predict only after a day that booked fewer refills than this: a larger day's windows keep
the pool busy on their own, and predicting costs the planner a second sweep of the day."""


@dataclass
class _Job:
    """Everything the planner knows about one refill while it is pending."""

    unit: UnitJob
    entry: RosterEntry
    cycle: int
    therapy: Therapy
    """The therapy whose window this is (its state is the fill before this refill)."""
    window: Window
    uid: str
    pool: str
    booked: Appointment | None = None
    booked_note: str | None = None
    early: bool = False
    """True once the window held no slot and the refill may come before ``earliest``."""
    urgent: str | None = None
    """Why the refill is booked on the first open day with room (``overdue since …``)."""


def plan_clinic(
    roster: Roster,
    calendar: ClinicCalendar,
    source: WindowSource,
    *,
    previous: Plan | None = None,
    progress: PlanProgress | None = None,
) -> Plan:
    """Plan every refill of ``roster`` over ``calendar``'s horizon (see the module rules).

    Raises ``DoseLimitError`` if a roster therapy has a dose above a hard limit (no override).
    """
    check_roster_dose_limits(roster)
    planner = _Planner(roster, calendar, source, previous, progress)
    return planner.run()


def check_roster_dose_limits(roster: Roster) -> None:
    """Every hard-limit dose of the roster's therapies (and ``next_drugs`` prescriptions) in
    one ``DoseLimitError`` (each line names the patient and roster row)."""
    hard: list[DoseWarning] = []
    for entry in roster.entries:
        where = f"{entry.patient_id} (row {entry.row})"
        for therapy, what in ((entry.therapy, ""), (entry.next_therapy, " next_drugs")):
            if therapy is None:
                continue
            try:
                enforce_dose_limits(therapy)
            except DoseLimitError as exc:
                hard.extend(w.model_copy(update={"where": f"{where}{what}"}) for w in exc.warnings)
    if hard:
        raise DoseLimitError(roster.source, tuple(hard))


class _Planner:
    def __init__(
        self,
        roster: Roster,
        calendar: ClinicCalendar,
        source: WindowSource,
        previous: Plan | None,
        progress: PlanProgress | None,
    ) -> None:
        self.roster = roster
        self.calendar = calendar
        self.source = source
        self.progress = progress
        self.booked = {a.uid: a for a in previous.appointments} if previous else {}
        self.days = [d.toordinal() for d in calendar.open_days]
        self.pool_of = {e.patient_id: e.pool(calendar.pool_by) for e in roster.entries}
        self.sweeps = {
            pool: LazyEdf(
                days=self.days,
                capacity={d: calendar.capacity(pool) for d in self.days},
                horizon_end=calendar.end.toordinal(),
                relax=self._relax,
            )
            for pool in calendar.pools
        }
        self.jobs: dict[str, _Job] = {}
        self.pinned: dict[tuple[str, int], list[int]] = {}
        self._factors: dict[str, DeliveryFactorEstimate | None] = {}
        self._refills: dict[str, Therapy] = {}
        """Next-cycle therapies worked out by ``_predicted``, by job key."""
        self.appointments: list[Appointment] = []
        self.dropped: list[_Job] = []
        self.unplaceable: list[Unplaceable] = []
        self.next_due: list[NextDue] = []

    # ------------------------------------------------------------------ the sweep
    def run(self) -> Plan:
        """Sweep every open day of the horizon and collect the plan."""
        self._add_first_cycles()
        if isinstance(self.source, Prefetching) and self.source.prefetching:
            self.source.prefetch(self._predicted(0))
        for n, day in enumerate(self.days):
            self._sweep_day(n, day)
            if self.progress is not None:
                self.progress("plan", n + 1, len(self.days))
        for job in self.jobs.values():  # never forced inside the horizon: due after it
            self.next_due.append(_next_due(job.entry.patient_id, job.cycle, job.window))
        self._explain_dropped()
        return self._plan()

    def _add_first_cycles(self) -> None:
        """Queue every patient's first refill (patients without a capacity pool are reported)."""
        entries = list(self.roster.entries)
        for entry in entries:
            if self.pool_of[entry.patient_id] not in self.sweeps:
                self._no_pool(entry)
        entries = [e for e in entries if self.pool_of[e.patient_id] in self.sweeps]

        def first_progress(done: int, total: int) -> None:
            if self.progress is not None:
                self.progress("forecast", done, total)

        windows = self.source.windows(
            [
                WindowRequest(e.therapy, key=_uid(e, 1), delivery_factor=self._factor(e))
                for e in entries
            ],
            first_progress,
        )
        for entry, window in zip(entries, windows, strict=True):
            self._add(entry, 1, entry.therapy, window)

    def _sweep_day(self, n: int, day: int) -> None:
        """Place the day's refills in every pool and queue the refill after each of them."""
        successors: list[tuple[RosterEntry, int, Therapy]] = []  # (entry, cycle, therapy)
        for pool, sweep in self.sweeps.items():
            placed, dropped = sweep.run_day(day)
            self.dropped.extend(self.jobs.pop(unit.key) for unit in dropped)
            for appointment, job in self._slots(pool, day, placed):
                self.appointments.append(appointment)
                therapy = self._refills.pop(job.unit.key, None)
                if therapy is None or therapy.state.time != appointment.start:
                    therapy = self._refilled(job, appointment.start)
                successors.append((job.entry, job.cycle + 1, therapy))
        requests = [
            WindowRequest(t, key=_uid(e, c), delivery_factor=self._factor(e))
            for e, c, t in successors
        ]
        if isinstance(self.source, Prefetching) and self.source.prefetching:
            self.source.prefetch(requests)
            if len(requests) < PREDICT_BELOW:
                self.source.prefetch(self._predicted(n + 1))
        if requests:
            windows = self.source.windows(requests)
            for (entry, cycle, therapy), window in zip(successors, windows, strict=True):
                self._add(entry, cycle, therapy, window)

    def _predicted(self, first: int) -> list[WindowRequest]:
        """The next-cycle requests of the refills a copy of the sweep places on the
        ``LOOKAHEAD_DAYS`` open days from ``self.days[first]`` on, knowing only today's jobs
        (a guess: the refills booked today are not in it; nothing here changes the plan)."""
        early = {key for key, job in self.jobs.items() if job.early}

        def relax(unit: UnitJob) -> UnitJob | None:
            job = self.jobs[unit.key]
            looser = self._looser(job, unit, unit.key in early)
            if looser is not None and job.urgent is None:
                early.add(unit.key)
            return looser

        copies = {
            pool: LazyEdf(sweep.days, sweep.capacity, sweep.horizon_end, relax, list(sweep.pending))
            for pool, sweep in self.sweeps.items()
        }
        out: list[WindowRequest] = []
        for day in self.days[first : first + LOOKAHEAD_DAYS]:
            date = dt.date.fromordinal(day)
            for pool, sweep in copies.items():
                placed, _ = sweep.run_day(day)
                jobs = [self.jobs[u.key] for u in placed]
                for job, index, _kept in self._slot_indexes(pool, jobs):
                    therapy = self._refilled(job, self.calendar.slot_start(date, index))
                    self._refills[job.unit.key] = therapy  # the booking will likely need it
                    key = _uid(job.entry, job.cycle + 1)
                    factor = self._factor(job.entry)
                    out.append(WindowRequest(therapy, key=key, delivery_factor=factor))
        return out

    def _plan(self) -> Plan:
        """The finished plan, its lists sorted for display."""
        return Plan(
            start=self.calendar.start,
            end=self.calendar.end,
            timezone=self.calendar.timezone,
            window_source=self.source.description,
            appointments=tuple(
                sorted(self.appointments, key=lambda a: (a.start, a.pool, a.patient_id))
            ),
            unplaceable=tuple(
                sorted(self.unplaceable, key=lambda u: (u.window_latest, u.patient_id))
            ),
            next_due=tuple(sorted(self.next_due, key=lambda n: (n.earliest, n.patient_id))),
            closed_days={
                d: reason
                for d in self.calendar.days()
                if (reason := self.calendar.closed_reason(d)) is not None
                and not reason.startswith("the clinic is closed on")
            },
        )

    def _factor(self, entry: RosterEntry) -> DeliveryFactorEstimate | None:
        """The delivery factor calibrated from the patient's refill sheet (read once)."""
        if entry.patient_id not in self._factors:
            calibration = roster_calibration(entry)
            self._factors[entry.patient_id] = None if calibration is None else calibration.estimate
        return self._factors[entry.patient_id]

    def _add(self, entry: RosterEntry, cycle: int, therapy: Therapy, window: Window) -> None:
        start = self.calendar.start
        if window.earliest > self.calendar.end:
            self.next_due.append(_next_due(entry.patient_id, cycle, window))
            return
        pool = self.pool_of[entry.patient_id]
        uid = _uid(entry, cycle)
        key = f"{entry.patient_id}#{cycle}"
        release = max(window.earliest, start).toordinal()
        deadline = window.latest.toordinal()
        urgent = None
        first = self._next_day(release - 1, entry.allowed_weekdays)
        if self.days and deadline < self.days[0] and first is not None:
            urgent, deadline = f"overdue since {window.latest}", first
        unit = UnitJob(key, release, deadline, weekdays=entry.allowed_weekdays)
        job = _Job(unit, entry, cycle, therapy, window, uid, pool, urgent=urgent)
        booked = self.booked.get(uid)
        if booked is not None:
            job.booked = booked
            note = self._keep_problem(job, booked)
            if note is None:
                job.unit = UnitJob(
                    key, release, unit.deadline, booked.date.toordinal(), entry.allowed_weekdays
                )
                self.pinned.setdefault((pool, booked.date.toordinal()), []).append(
                    self._slot_index(booked)
                )
            job.booked_note = note
        self.jobs[key] = job
        self.sweeps[pool].add([job.unit])

    def _relax(self, unit: UnitJob) -> UnitJob | None:
        """No slot inside the window: allow the days before ``earliest`` (a refill too early
        wastes drug; a missed one is unsafe). ``None`` when there is nothing left to relax."""
        job = self.jobs[unit.key]
        looser = self._looser(job, unit, job.early)
        if looser is not None:
            if job.urgent is None:
                job.early = True
            job.unit = looser
        return looser

    def _looser(self, job: _Job, unit: UnitJob, early: bool) -> UnitJob | None:
        """``_relax``'s looser job for ``unit`` (``early``: the job was relaxed before)."""
        if job.urgent is not None:
            later = self._next_day(unit.deadline, unit.weekdays)
            if later is None:
                return None
            return UnitJob(unit.key, unit.release, later, None, unit.weekdays)
        floor = max(self.calendar.start, job.therapy.state.time.date() + dt.timedelta(days=1))
        release = floor.toordinal()
        if early or unit.pinned is not None or release >= unit.release:
            return None
        return UnitJob(unit.key, release, unit.deadline, None, unit.weekdays)

    def _next_day(self, after: int, weekdays: frozenset[int] | None) -> int | None:
        """The first open day after ``after`` (an ordinal) on one of ``weekdays``."""
        for day in self.days[bisect.bisect_right(self.days, after) :]:
            if weekdays is None or dt.date.fromordinal(day).weekday() in weekdays:
                return day
        return None

    def _keep_problem(self, job: _Job, booked: Appointment) -> str | None:
        """Why a booked appointment cannot stay where it is (``None``: it can)."""
        day = booked.date
        closed = self.calendar.closed_reason(day)
        if closed is not None:
            return f"the booked day {day} is now closed ({closed})"
        if day > job.window.latest:
            return (
                f"unsafe: the booked day {day} is after the new refill-by date {job.window.latest}"
            )
        weekdays = job.entry.allowed_weekdays
        if weekdays is not None and day.weekday() not in weekdays:
            return f"the patient now comes only on {weekday_label(weekdays)}"
        if booked.pool != job.pool:
            return f"the patient moved from {booked.pool} to {job.pool}"
        taken = self.pinned.get((job.pool, day.toordinal()), [])
        if len(taken) >= self.calendar.capacity(job.pool):
            return f"the booked day {day} is over capacity"
        index = self._slot_index(booked)
        if index in taken or index >= self.calendar.capacity(job.pool):
            return f"the booked slot {booked.start:%H:%M} is no longer available"
        return None

    def _slot_index(self, booked: Appointment) -> int:
        minutes = (booked.start - dt.datetime.combine(booked.date, dt.time())).total_seconds() / 60
        index, rest = divmod(int(minutes) - self.calendar.opens_minute, self.calendar.slot_minutes)
        return index if rest == 0 and index >= 0 else self.calendar.slots_per_day

    # ------------------------------------------------------------------ slots and refills
    def _slots(
        self, pool: str, day: int, placed: Sequence[UnitJob]
    ) -> list[tuple[Appointment, _Job]]:
        """Give the day's placed jobs their slots: kept bookings their own, the rest in order."""
        jobs = [self.jobs.pop(u.key) for u in placed]
        date = dt.date.fromordinal(day)
        return [
            (self._appointment(job, date, index, kept), job)
            for job, index, kept in self._slot_indexes(pool, jobs)
        ]

    def _slot_indexes(self, pool: str, jobs: Sequence[_Job]) -> list[tuple[_Job, int, bool]]:
        """``(job, slot index, kept)`` for a day's placed jobs in order: a kept booking keeps
        its slot, the others take the free slots in turn."""
        taken = {self._slot_index(j.booked) for j in jobs if j.unit.pinned is not None and j.booked}
        free = (i for i in range(self.calendar.capacity(pool)) if i not in taken)
        out = []
        for job in jobs:
            kept = job.unit.pinned is not None and job.booked is not None
            index = self._slot_index(job.booked) if kept and job.booked else next(free)
            out.append((job, index, kept))
        return out

    def _appointment(self, job: _Job, date: dt.date, index: int, kept: bool) -> Appointment:
        start = self.calendar.slot_start(date, index)
        entry, therapy = job.entry, job.therapy
        change = job.cycle == 1 and entry.next_therapy is not None
        new = entry.next_therapy if change and entry.next_therapy is not None else therapy
        bridge = change and (new.infusate.concentrations() != therapy.infusate.concentrations())
        fill = entry.fill_ml
        booked = job.booked
        moved = booked is not None and not kept and booked.start != start
        return Appointment(
            uid=job.uid,
            patient_id=entry.patient_id,
            name=entry.name,
            cycle=job.cycle,
            pool=job.pool,
            location=entry.location,
            nurse=entry.nurse,
            date=date,
            start=start,
            end=start + dt.timedelta(minutes=self.calendar.slot_minutes),
            window_earliest=job.window.earliest,
            window_latest=job.window.latest,
            limiting_factor=job.window.limiting_factor,
            slack_days=(job.window.latest - date).days,
            kept=kept,
            early=date < job.window.earliest,
            urgent=job.urgent is not None,
            urgent_reason=job.urgent,
            previous_start=booked.start if moved and booked is not None else None,
            change_reason=(job.booked_note or "moved to fit other refills") if moved else None,
            pump_key=therapy.pump.key,
            pump_name=therapy.pump.name,
            drugs_label=new.infusate.label(),
            fill_ml=fill,
            drugs=tuple(
                DrugFill(
                    name=d.name,
                    mass_unit=d.mass_unit,
                    concentration_mg_per_ml=d.concentration_mg_per_ml,
                    amount_mg=fill * d.concentration_mg_per_ml,
                )
                for d in new.infusate.drugs
            ),
            expected_remaining_ml=max(
                0.0,
                therapy.state.calculated_volume_ml
                - programmed_volume_ml(therapy, to_days(therapy.state.time, start)),
            ),
            bridge_bolus=bridge,
            previous_drugs_label=therapy.infusate.label() if bridge else None,
        )

    def _refilled(self, job: _Job, when: dt.datetime) -> Therapy:
        """The therapy right after this refill at ``when``: the next cycle's window comes from
        it."""
        entry, therapy = job.entry, job.therapy
        base = entry.next_therapy if job.cycle == 1 and entry.next_therapy else therapy
        state = PumpState(
            time=when,
            calculated_volume_ml=entry.fill_ml,
            filled_at=when,
            battery_used=battery_used_at(therapy, when),
        )
        return base.model_copy(update={"state": state})

    # ------------------------------------------------------------------ what could not be placed
    def _no_pool(self, entry: RosterEntry) -> None:
        pool = self.pool_of[entry.patient_id]
        what = self.calendar.pool_by or "pool"
        self.unplaceable.append(
            Unplaceable(
                uid=_uid(entry, 1),
                patient_id=entry.patient_id,
                cycle=1,
                pool=pool,
                window_earliest=self.calendar.start,
                window_latest=self.calendar.start,
                limiting_factor="calendar",
                reason=f"the roster names {what} {pool or '(none)'!r}, which has no capacity "
                f"in the calendar ({', '.join(self.calendar.pools)})",
                best_option=f"give {what} {pool or '(none)'!r} a capacity, or assign another",
                best_date=None,
            )
        )

    def _explain_dropped(self) -> None:
        used: dict[tuple[str, dt.date], int] = {}
        for a in self.appointments:
            used[(a.pool, a.date)] = used.get((a.pool, a.date), 0) + 1
        for job in self.dropped:
            reason, option, best = explain_unplaced(
                self.calendar,
                pool=job.pool,
                earliest=job.window.earliest,
                latest=job.window.latest,
                weekdays=job.entry.allowed_weekdays,
                used=used,
            )
            self.unplaceable.append(
                Unplaceable(
                    uid=job.uid,
                    patient_id=job.entry.patient_id,
                    cycle=job.cycle,
                    pool=job.pool,
                    window_earliest=job.window.earliest,
                    window_latest=job.window.latest,
                    limiting_factor=job.window.limiting_factor,
                    reason=reason,
                    best_option=option,
                    best_date=best,
                )
            )


def _next_due(patient_id: str, cycle: int, window: Window) -> NextDue:
    """A refill whose window lies (or stays) beyond the horizon: reported as next due."""
    return NextDue(
        patient_id=patient_id,
        cycle=cycle,
        earliest=window.earliest,
        latest=window.latest,
        limiting_factor=window.limiting_factor,
    )


def _uid(entry: RosterEntry, cycle: int) -> str:
    """Stable across re-plans of the same roster fill: patient, fill time and cycle."""
    fill = entry.therapy.state.fill_time.isoformat(timespec="minutes")
    name = f"{entry.patient_id}|{fill}|{cycle}"
    return f"{uuid.uuid5(_UID_NAMESPACE, name)}@pumpsim"
