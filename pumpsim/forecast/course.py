"""A profile's timeline as the forecast sees it: the cycle running at ``as_of`` and what is
planned in it.

Past entries establish the state at ``as_of``: the last refill before ``as_of`` starts the
reservoir cycle the forecast is about (its fill, drugs and program; every fill starts its own
stability clock), reprograms and PTM changes before ``as_of`` set the program and PTM in force.
Future entries change the forecast: a planned reprogram takes over from its time, an MRI stalls
the motor (if the pump stalls) for its duration and restart delay. A planned refill ends the
cycle: the forecast reports the risk that an alarm comes before it, and entries after it belong
to the next cycle. Entries the vectorized engine does not model (catheter faults, priming
boluses, a future PTM change) are named in ``not_applied``, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pumpsim.core.clock import to_days
from pumpsim.forecast.deterministic import battery_used_at
from pumpsim.models import Program, PumpState, Therapy
from pumpsim.models.timeline import (
    Intervention,
    MriExposure,
    PtmChange,
    Refill,
    Reprogram,
    Timeline,
)
from pumpsim.schedule.segments import Course, bridge_days

__all__ = ["CourseAt", "course_at", "refilled_state"]


@dataclass(frozen=True)
class CourseAt:
    """The therapy of the cycle running at ``as_of`` and the changes planned in it."""

    therapy: Therapy
    """The therapy from the start of the cycle (the state, or the last refill before as_of)."""
    course: Course
    """Later programs and motor stalls, days since ``therapy.state.time``."""
    planned_refills: tuple[dt.datetime, ...] = ()
    """Refills after ``as_of`` (the first ends the cycle the forecast is about)."""
    not_applied: tuple[str, ...] = ()
    """Timeline entries the forecast does not model, in words."""


@dataclass
class _Cycle:
    therapy: Therapy
    programs: list[tuple[float, Program]]
    stalls: list[tuple[float, float]]
    not_applied: list[str]


def course_at(therapy: Therapy, timeline: Timeline | None, as_of: dt.datetime) -> CourseAt:
    """Resolve ``timeline`` against ``therapy`` for a forecast at ``as_of``."""
    entries = timeline.entries if timeline is not None else ()
    past = [e for e in entries if e.at <= as_of]
    future = [e for e in entries if e.at > as_of]
    refills = [i for i, e in enumerate(past) if isinstance(e, Refill)]
    split = refills[-1] + 1 if refills else 0
    start, bridged = _cycle_start(therapy, past[:split])
    cycle = _Cycle(start, bridged, [], [])
    for entry in past[split:]:
        _apply_past(cycle, entry)
    planned: list[dt.datetime] = []
    for entry in future:
        if planned:
            cycle.not_applied.append(f"{_label(entry)}: after the planned refill")
        elif isinstance(entry, Refill):
            planned.append(entry.at)
        else:
            _apply_future(cycle, entry)
    return CourseAt(
        therapy=cycle.therapy,
        course=Course(programs=tuple(cycle.programs), stalls=tuple(cycle.stalls)),
        planned_refills=tuple(planned),
        not_applied=tuple(cycle.not_applied),
    )


def _cycle_start(
    therapy: Therapy, past: Sequence[Intervention]
) -> tuple[Therapy, list[tuple[float, Program]]]:
    """The therapy right after the refill that ends ``past`` (with the drugs, program and PTM in
    force then), or ``therapy`` itself when ``past`` is empty; with a bridge bolus, the new
    program as a later program of the cycle."""
    current = therapy
    later: list[tuple[float, Program]] = []
    for entry in past:
        if isinstance(entry, Reprogram):
            current = current.model_copy(update={"program": entry.program})
        elif isinstance(entry, PtmChange):
            current = _with_ptm(current, entry)
        elif isinstance(entry, Refill):
            current, later = _refilled(therapy, current, entry)
    return current, later


def _refilled(
    original: Therapy, current: Therapy, refill: Refill
) -> tuple[Therapy, list[tuple[float, Program]]]:
    """The therapy right after ``refill``: calculated volume = the volume keyed in, actual =
    the fill plus the non-retrievable residual left in the pump (the residual alone after a
    pocket fill), a new stability clock, the battery as used by then. With a bridge bolus the
    old program runs until the dead volume is pushed out (``schedule.segments.bridge_days``),
    then the refill's program."""
    state = refilled_state(
        current,
        refill.at,
        refill.fill_ml,
        entered_ml=refill.entered_ml,
        pocket_fill=refill.pocket_fill,
        battery_used=battery_used_at(original, refill.at),
    )
    update: dict[str, object] = {"state": state}
    if refill.infusate is not None:
        update["infusate"] = refill.infusate
    later: list[tuple[float, Program]] = []
    if refill.program is not None and refill.bridge_bolus:
        days = bridge_days(current.program, refill.at, current.dead_volume_ml)
        later = [(days, refill.program)] if math.isfinite(days) else []
    elif refill.program is not None:
        update["program"] = refill.program
    return current.model_copy(update=update), later


def refilled_state(
    before: Therapy,
    at: dt.datetime,
    fill_ml: float,
    *,
    battery_used: float,
    entered_ml: float | None = None,
    pocket_fill: bool = False,
    first_fill: bool = False,
) -> PumpState:
    """The pump state right after a refill of ``fill_ml`` at ``at``: the calculated volume is
    the volume keyed in (``entered_ml``, default the fill), the actual volume the fill plus the
    non-retrievable residual left in ``before``'s pump (the residual alone after a pocket
    fill), and the fill starts its own stability clock."""
    residual = before.pump.nonretrievable_residual_ml
    return PumpState(
        time=at,
        calculated_volume_ml=entered_ml or fill_ml,
        actual_volume_ml=residual if pocket_fill else fill_ml + residual,
        filled_at=at,
        first_fill=first_fill,
        battery_used=battery_used,
    )


def _with_ptm(therapy: Therapy, change: PtmChange) -> Therapy:
    update: dict[str, object] = {"ptm": change.ptm}
    if change.demand is not None:
        update["demand"] = change.demand
    if change.ptm is None:
        update["demand"] = None
    return therapy.model_copy(update=update)


def _apply_past(cycle: _Cycle, entry: Intervention) -> None:
    """An entry between the cycle's start and ``as_of``."""
    if isinstance(entry, PtmChange):
        cycle.therapy = _with_ptm(cycle.therapy, entry)  # taken as in force for the cycle
    else:
        _apply_future(cycle, entry)


def _apply_future(cycle: _Cycle, entry: Intervention) -> None:
    """A reprogram or an MRI inside the cycle; anything else is named, not modelled."""
    day = to_days(cycle.therapy.state.time, entry.at)
    if isinstance(entry, Reprogram):
        cycle.programs.append((day, entry.program))
    elif isinstance(entry, MriExposure):
        mri = cycle.therapy.pump.mri
        if mri.stalls:
            cycle.stalls.append((day, day + entry.duration_days + mri.restart_delay_days))
    else:
        cycle.not_applied.append(f"{_label(entry)}: not modelled by the forecast")


def _label(entry: Intervention) -> str:
    return f"{entry.action} at {entry.at.isoformat(timespec='minutes')}"
