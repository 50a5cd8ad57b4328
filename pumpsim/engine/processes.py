"""The SimPy processes of one pump and its patient. Each is a short plain generator that reads
like the clinical rule it models: it sleeps until its next moment (``env.timeout``), changes
the pump only through ``PumpModel`` and, when a rate changed, pokes the clock (``Clock.poke``),
which integrates the pump up to now, applies what it reached and sets its alarm for the next
threshold crossing. A process that must start over because the program changed is interrupted
by the caller (``process.interrupt()``), as ``simulate`` does for ``basal_schedule``."""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL, Timeout

from pumpsim.core.clock import EPS_DAYS, MINUTES_PER_DAY, to_days
from pumpsim.engine.pump import FAR_MARGIN_DAYS, TOLERANCE_DAYS, PumpModel
from pumpsim.engine.trace import PtmPress
from pumpsim.models.timeline import (
    CatheterDisconnection,
    CatheterOcclusion,
    MriExposure,
    PrimingBolus,
    PtmChange,
    Refill,
    Reprogram,
    Timeline,
)
from pumpsim.schedule.ptm import PtmGate
from pumpsim.schedule.segments import segment_rows

Proc = Generator[simpy.Event, Any, None]
_LOOKAHEAD_DAYS = 366.0
"""Program segments are worked out a year at a time (vectorized; bounded memory)."""


class Clock:
    """The pump's integrator: it looks at the pump whenever a rate changed (``poke()``, called
    by the processes) and at the next threshold crossing (its own timer).

    A look is ``catch_up(now)`` (integrate to now, apply what was reached), then
    ``next_crossing()``; a SimPy timeout is arranged for that time, one per distinct time: a
    timeout cannot be cancelled, so when a later look moves the crossing, the stale timer rings
    and does nothing. The look runs inside the event that changed the rate (a press, a segment
    boundary, a timeline entry, its own timer), never as an event of its own, so a change costs
    the events the model needs and no more. It stops looking at ``end_day``.
    """

    __slots__ = (
        "env",
        "pump",
        "end_day",
        "_stop_at",
        "_done",
        "_wake_at",
        "_timers",
        "_ring_callback",
    )

    def __init__(self, env: simpy.Environment, pump: PumpModel, end_day: float) -> None:
        self.env = env
        self.pump = pump
        self.end_day = end_day
        self._stop_at = end_day - TOLERANCE_DAYS
        self._done = False
        self._wake_at = math.inf
        self._timers: set[float] = set()
        self._ring_callback = self._ring

    def poke(self) -> None:
        """A rate changed now: bring the pump up to now and arrange the next look.

        It runs at every event, so ``PumpModel.catch_up`` is written out here, SimPy's clock
        is read as ``env._now`` (what the ``env.now`` property returns) and the short path of
        ``PumpModel.next_crossing`` (no threshold within reach) is written out too."""
        if self._done:
            return
        now = self.env._now
        pump = self.pump
        if now > pump.t:  # pump.catch_up(now)
            pump.advance(now)
        if now >= pump.due - TOLERANCE_DAYS or pump.unsettled:
            pump.settle()
        if now >= self._stop_at:
            self._done = True
            return
        t, midnight = pump.t, pump._midnight  # pump.next_crossing(self.end_day), short path
        if (
            t < midnight - EPS_DAYS
            and pump._far_until > midnight + FAR_MARGIN_DAYS
            and pump.motor <= pump._far_rate
            and not pump.unusual
        ):
            due = pump.ptm_until
            if t + TOLERANCE_DAYS >= due:
                due = math.inf
            pump.due = due
            at = self.end_day
            if midnight < at:
                at = midnight
            if due < at:
                at = due
        else:
            at = pump.next_crossing(self.end_day)
        self._wake_at = at
        if at not in self._timers:
            self._set_timer(at, now)

    def _set_timer(self, at: float, now: float) -> None:
        """Ring at ``at``: ``env.timeout(at - now, at)`` with ``_ring`` as its callback, written
        out (the same ``Timeout``, put on SimPy's queue at the same time, ``now + (at - now)``,
        without the frames of its ``__init__`` and of ``env.schedule``)."""
        self._timers.add(at)
        env = self.env
        timer = _new_timer(Timeout)  # set up as Timeout.__init__ does, in the same order
        timer.env = env
        timer.callbacks = [self._ring_callback]
        timer._value = at
        timer._delay = at - now
        timer._ok = True
        heappush(env._queue, (now + (at - now), NORMAL, next(env._eid), timer))

    def _ring(self, timer: simpy.Event) -> None:
        at = timer._value
        self._timers.discard(at)
        if at == self._wake_at or self.env._now >= self._wake_at:
            self.poke()


_new_timer = object.__new__
"""Makes the clock's ``Timeout`` without calling its ``__init__`` (``Clock._set_timer`` sets
its fields and puts it on the queue itself)."""


def quick_timeouts(env: simpy.Environment) -> None:
    """Give ``env`` an ``env.timeout`` that makes the very ``Timeout`` SimPy's does, put on the
    queue at the same time with the same priority and order, without the frames of
    ``Timeout.__init__`` and ``env.schedule`` (the processes wait on one at every event)."""
    queue, eid = env._queue, env._eid

    def timeout(delay: float = 0, value: Any = None) -> Timeout:
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        event = _new_timer(Timeout)  # the fields in Timeout.__init__'s order
        event.env = env
        event.callbacks = []
        event._value = value
        event._delay = delay
        event._ok = True
        heappush(queue, (env._now + delay, NORMAL, next(eid), event))
        return event

    env.timeout = timeout  # type: ignore[method-assign]


def basal_schedule(env: simpy.Environment, pump: PumpModel, clock: Clock, end_day: float) -> Proc:
    """Set the basal and periodic-bolus rates segment by segment from the running program.

    Interrupted on reprogramming, it recomputes from the new program."""
    while True:
        program = pump.program
        try:
            while env.now < end_day - TOLERANCE_DAYS:
                horizon = min(end_day, env.now + _LOOKAHEAD_DAYS)
                for _, end, basal, bolus in segment_rows(
                    program,
                    origin=pump.origin,
                    start_day=env.now,
                    end_day=horizon,
                    program_start_day=pump.program_start_day,
                ):
                    now = env.now
                    pump.advance(now)
                    pump.set_basal(basal, bolus)
                    clock.poke()
                    yield env.timeout(end - now)  # segments start now and are not empty
            return
        except simpy.Interrupt:
            continue


def patient(
    env: simpy.Environment, pump: PumpModel, clock: Clock, presses: Sequence[float]
) -> Proc:
    """The patient presses the PTM; the pump grants or denies each press by its rules.

    ``presses`` are in time order. Every press and its decision go to the PTM log
    (``trace.ptm_presses``), like the therapy manager's own log; they are not repeated in the
    pump's event log."""
    gate: PtmGate | None = None  # the rules in force; a new gate for new settings
    for t in presses:
        yield env.timeout(t - env.now)
        now = env.now
        pump.apply_reached(now)  # an empty reservoir or a stopped motor denies the press
        settings = pump.ptm
        if settings is None:
            decision = "disabled"
        else:
            if gate is None or gate.settings is not settings:
                gate = PtmGate(settings, pump.origin)
            decision = gate.decide(now, pump.ptm_until, pump.empty_mode, pump.stopped(now))
        pump.trace.ptm_presses.append(PtmPress(now, decision, pump.origin))
        if decision == "granted":
            assert settings is not None
            pump.advance(now)
            pump.start_ptm_bolus(settings)
            clock.poke()


def interventions(
    env: simpy.Environment, pump: PumpModel, clock: Clock, timeline: Timeline
) -> Proc:
    """Carry out the timeline: refills, reprogramming, PTM changes, MRI, catheter faults."""
    for entry in timeline.entries:
        at = to_days(pump.origin, entry.at)
        if at >= pump.trace.end_day:
            return
        yield env.timeout(max(0.0, at - env.now))
        pump.advance(env.now)
        pump.settle()
        if isinstance(entry, Refill):
            old_program = pump.program
            pump.refill(
                fill_ml=entry.fill_ml,
                entered_ml=entry.entered_ml if entry.entered_ml is not None else entry.fill_ml,
                infusate=entry.infusate,
                pocket_fill=entry.pocket_fill,
            )
            if entry.program is not None:
                if entry.bridge_bolus:
                    pump.start_bridge(entry.program)
                    pump.set_program(old_program)
                else:
                    pump.set_program(entry.program)
        elif isinstance(entry, Reprogram):
            pump.reprogram(entry.program)
        elif isinstance(entry, PtmChange):
            pump.ptm = entry.ptm
            pump.log("ptm_settings", enabled=entry.ptm is not None)
        elif isinstance(entry, MriExposure):
            restart = at + entry.duration_days + pump.spec.mri.restart_delay_days
            pump.log("mri_start", duration_min=round(entry.duration_days * MINUTES_PER_DAY, 3))
            pump.stall(restart)
            env.process(_mri_end(env, pump, at + entry.duration_days))
        elif isinstance(entry, CatheterOcclusion):
            pump.occlude(at + (entry.duration_days or math.inf))
        elif isinstance(entry, CatheterDisconnection):
            pump.disconnect(at + (entry.duration_days or math.inf))
        elif isinstance(entry, PrimingBolus):
            pump.start_priming(entry.new_catheter)
        clock.poke()


def _mri_end(env: simpy.Environment, pump: PumpModel, at: float) -> Proc:
    yield env.timeout(max(0.0, at - env.now))
    pump.advance(env.now)
    pump.log("mri_end")
