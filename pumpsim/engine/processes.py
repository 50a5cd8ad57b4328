"""The SimPy processes of one pump and its patient. Each is a short plain generator that reads
like the clinical rule it models: it sleeps until its next moment (``env.timeout``), changes
the pump only through ``PumpModel`` and, when a rate changed, pokes the clock (``Clock.poke``),
which integrates the pump up to now, applies what it reached and sets its alarm for the next
threshold crossing. A process that must start over because the program changed is interrupted
by the caller (``process.interrupt()``), as ``simulate`` does for ``basal_schedule``."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from heapq import heappop, heappush
from operator import attrgetter
from typing import Any

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, Event, Timeout

from pumpsim.core.clock import MINUTES_PER_DAY, to_days
from pumpsim.engine.pump import TOLERANCE_DAYS, PumpModel
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
from pumpsim.schedule.segments import segment_columns

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
    the events the model needs and no more. No timer is set for a look the program will make
    anyway: ``program_wakes`` is when ``basal_schedule`` next pokes (its next segment
    boundary), and a look due then or later waits for that poke (a flex step at midnight is
    one event, not two). It stops looking at ``end_day``.
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
        "program_wakes",
    )

    def __init__(self, env: simpy.Environment, pump: PumpModel, end_day: float) -> None:
        self.env = env
        self.pump = pump
        self.end_day = end_day
        self._stop_at = end_day - TOLERANCE_DAYS
        self._done = False
        self._wake_at = math.inf
        self._timers: set[float] = set()
        self._ring_callback: Callable[[simpy.Event], None] = self._ring
        self.program_wakes = math.inf
        """When ``basal_schedule`` pokes next (days): set by it before it sleeps."""

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
        t = pump.t  # pump.next_crossing(self.end_day), short path: no threshold within reach
        if t < pump._calm_until and pump.motor <= pump._far_rate:
            due = pump.ptm_until
            if t + TOLERANCE_DAYS >= due:
                due = math.inf
            pump.due = due
            at = self.end_day
            midnight = pump._midnight
            if midnight < at:
                at = midnight
            if due < at:
                at = due
        else:
            at = pump.next_crossing(self.end_day)
        self._wake_at = at
        wakes = self.program_wakes
        if (at < wakes or now >= wakes) and at not in self._timers:
            self._set_timer(at, now)  # else the program's poke at ``wakes`` <= ``at`` looks

    def _set_timer(self, at: float, now: float) -> None:
        """Ring at ``at``: ``env.timeout(at - now, at)`` with ``_ring`` as its callback."""
        self._timers.add(at)
        self.env.timeout(at - now, at).callbacks.append(self._ring_callback)

    def release(self) -> None:
        """Stop looking and drop the timer callback (a bound method of the clock itself)."""
        self._done = True
        self._ring_callback = _no_callback

    def _ring(self, timer: simpy.Event) -> None:
        at = timer._value
        self._timers.discard(at)
        if at == self._wake_at or self.env._now >= self._wake_at:
            self.poke()


def _no_callback(event: simpy.Event) -> None:
    """The timer callback of a released clock."""


_new_timer = object.__new__
"""Makes a ``Timeout`` without calling its ``__init__`` (``Environment.timeout`` sets its fields
and puts it on the queue itself)."""


class Environment(simpy.Environment):
    """SimPy's environment with three shortcuts taken at every event, the same behaviour:
    ``now`` is read by a C getter (``env._now``, as the property does); ``timeout`` makes the
    very ``Timeout`` SimPy's does, put on the queue at the same time with the same priority and
    order, without the frames of ``Timeout.__init__`` and ``env.schedule``; ``run_until`` is
    ``run(until=...)`` with the body of ``step`` written into its loop. Methods, not closures
    on the instance, so a finished run holds no reference cycle through its environment."""

    now = property(attrgetter("_now"))

    def timeout(self, delay: float = 0, value: Any = None) -> Timeout:
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        event = _new_timer(Timeout)  # the fields in Timeout.__init__'s order
        event.env = self
        event.callbacks = []
        event._value = value
        event._delay = delay
        event._ok = True
        heappush(self._queue, (self._now + delay, NORMAL, next(self._eid), event))
        return event

    def run_until(self, at: float) -> None:
        """``env.run(until=at)``: process every event before ``at``, in SimPy's order.

        The loop is ``Environment.step``'s body, without a method call per event: the next
        event leaves the queue, its callbacks run, and a failed event nobody defused raises a
        copy of its exception. (``step`` also re-queues the callbacks left when a run stops
        midway through an event, for a run that is resumed; these runs are not.)"""
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = Event(self)
        stop._ok = True
        stop._value = None
        self.schedule(stop, URGENT, at - self._now)
        stop.callbacks.append(StopSimulation.callback)
        queue = self._queue
        try:
            while True:
                try:
                    self._now, _, _, event = heappop(queue)
                except IndexError:
                    raise RuntimeError(f"no events left before day {at}") from None
                callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    failure = event._value
                    exc = type(failure)(*failure.args)
                    exc.__cause__ = failure
                    raise exc
        except StopSimulation:
            return


def basal_schedule(env: simpy.Environment, pump: PumpModel, clock: Clock, end_day: float) -> Proc:
    """Set the basal and periodic-bolus rates segment by segment from the running program.

    Interrupted on reprogramming, it recomputes from the new program."""
    while True:
        program = pump.program
        try:
            while env.now < end_day - TOLERANCE_DAYS:
                horizon = min(end_day, env.now + _LOOKAHEAD_DAYS)
                _, ends, basals, boluses = segment_columns(
                    program,
                    origin=pump.origin,
                    start_day=env.now,
                    end_day=horizon,
                    program_start_day=pump.program_start_day,
                )
                for end, basal, bolus in zip(ends, basals, boluses, strict=True):
                    now = env.now
                    pump.advance(now)
                    pump.set_basal(basal, bolus)
                    clock.program_wakes = end  # the clock needs no timer of its own then
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
    (``trace.presses``, read as ``trace.ptm_presses``), like the therapy manager's own log;
    they are not repeated in the pump's event log."""
    gate: PtmGate | None = None  # the rules in force; a new gate for new settings
    log = pump.trace.presses  # the PTM log: each press's time and the pump's decision
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
        log.days.append(now)
        log.decisions.append(decision)
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
