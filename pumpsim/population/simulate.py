"""Simulating a cohort: N patients over years, in blocks, vectorized over a block's patients.

Each patient is implanted at day 0 with a full reservoir and followed until death or the
horizon (``spec.months`` months). One step of the loop takes every still-followed patient of
the block from its last fill to whatever comes first:

* its **refill visit**: booked ``days_before_alarm`` before the earlier of the programmer's
  low-reservoir alarm date (programmed basal only, as the programmer dates it) and the
  drug-stability limit, never sooner than a day after the fill; the patient comes
  ``lateness`` later, or misses it (``no_show``) and comes ``rebook_after`` later. The pump's
  calculated volume falls with the basal and the expected PTM boluses, so the **alarm** sounds
  when it reaches the threshold; the actual reservoir empties at the true delivery factor, and
  a pump that runs **dry** brings the patient in as an **emergency** ``emergency_after_empty``
  later (if before the booked visit). Empty to refill is **therapy gap**. At a refill the pump
  is filled to capacity and the dose is titrated (``titration_per_month``, within the
  ``daily_dose`` bounds); a **pocket fill** happens with ``per_refill`` probability;
* a **device or clinical event** (Poisson over implanted time): motor stall and pump surgery
  replace the pump (a new battery), catheter surgery revises the catheter; each takes its
  ``therapy_gap`` without therapy and refills the pump at the operation; an infection ends
  therapy (explant) with ``explant_share``, else it is only counted; an **over-infusion** makes
  the next fill deliver ``delivery_factor`` × the program while the calculated volume (and the
  alarm) follow the program, so the pump may run dry before its alarm; the refill that ends
  that fill finds it and the pump is replaced (``therapy_gap``);
* the battery's **ERI** (``BatterySpec.drain_coefficients`` over the programmed volume) is
  followed ``replace_after_eri`` later by a **battery replacement** (a new pump, refilled);
* **death** or the end of follow-up.

Every number a patient draws comes from its own stream (``pumpsim.population.draws``); the
tally is integers per month (``CohortTally``), rounded per patient, so blocks add exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from pumpsim.core.errors import SimulationError
from pumpsim.models.cohort import CohortSpec
from pumpsim.population.draws import (
    EVENT_STREAMS,
    Draws,
    Layout,
    cycle_normal,
    draw_block,
    layout,
    out_of_cycles,
)
from pumpsim.population.outcome import CohortTally
from pumpsim.population.patients import BlockPatients
from pumpsim.population.tally import BlockLog, tally_block
from pumpsim.population.therapies import Combination, check_dose_limits, combinations

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["DEFAULT_BLOCK_SIZE", "FillDays", "fill_days", "simulate_block", "simulate_cohort"]

DEFAULT_BLOCK_SIZE = 1024
"""Patients per block: the memory of a block is about ``block × layout.length × 8`` bytes."""

_REPLACES_PUMP = (True, False, True, False, False)
"""Per ``EVENT_STREAMS`` kind ending a fill: does it put in a new pump (new battery)? (An
over-infusion does not end the fill it begins in; its pump is replaced at the refill that
finds it.)"""
_INFECTION = EVENT_STREAMS.index("infection")
_OVER = EVENT_STREAMS.index("over_infusion")


def simulate_cohort(
    spec: CohortSpec, seed: int, block_size: int = DEFAULT_BLOCK_SIZE
) -> CohortTally:
    """The whole cohort, block after block in one process: the reference every runner must
    reproduce exactly."""
    if block_size < 1:
        raise SimulationError(f"block_size must be at least 1, got {block_size}")
    tally = CohortTally.empty(spec.months)
    for first in range(0, spec.patients, block_size):
        tally = tally.merge(
            simulate_block(spec, seed, first, min(first + block_size, spec.patients))
        )
    return tally


def simulate_block(spec: CohortSpec, seed: int, first: int, stop: int) -> CohortTally:
    """The tally of patients ``first .. stop - 1`` of the cohort seeded ``seed``."""
    if seed < 0 or not 0 <= first <= stop <= spec.patients:
        raise SimulationError(
            f"need seed >= 0 and 0 <= first <= stop <= {spec.patients}, got seed {seed}, "
            f"patients {first}..{stop}"
        )
    combos, lay = _prepared(spec)
    if stop == first:
        return CohortTally.empty(spec.months)
    draws = draw_block(spec, combos, lay, seed, first, stop)
    patients = BlockPatients.start(spec, combos, draws)
    log = BlockLog(n=stop - first)
    _run(spec, lay, draws, patients, log)
    return tally_block(spec.months, log, patients.alive_end, patients.implant_end, patients.death)


@lru_cache(maxsize=16)
def _prepared(spec: CohortSpec) -> tuple[tuple[Combination, ...], Layout]:
    """The dose-limit check, the rules per combination and the draw layout of ``spec``, once
    per process (every block of a run asks for the same)."""
    check_dose_limits(spec)
    combos = combinations(spec)
    return combos, layout(spec, combos)


# ---------------------------------------------------------------- one cycle for the block
@dataclass(frozen=True)
class FillDays:
    """Days from a full fill (constant program) to each crossing, per patient."""

    programmer_alarm: FloatArray
    """The refill date the programmer gives, which the clinic books from: the low-reservoir
    alarm on the program alone (``programmer_lra``), or for a pump with its own "next refill"
    rule (Prometra: 3 mL with every allotted bolus) that rule (``prometra_next_refill``)."""
    alarm: FloatArray
    """The calculated volume reaches the threshold: program + expected PTM boluses."""
    dry: FloatArray
    """The actual reservoir is empty: the true delivery factor × (program + PTM)."""
    empty: FloatArray
    """The calculated volume reaches the pump's empty threshold: the empty-reservoir alarm, and
    the pump drops to its ``rate_after_empty`` (a pump that under-delivers still holds drug)."""

    @property
    def therapy_ends(self) -> FloatArray:
        """The earlier of running dry and the calculated empty: therapy stops (the trickle at
        ``rate_after_empty`` is not counted as therapy)."""
        ends: FloatArray = np.minimum(self.dry, self.empty)
        return ends


def fill_days(
    usable_ml: FloatArray,
    reservoir_ml: FloatArray,
    empty_ml: FloatArray,
    basal_ml_per_day: FloatArray,
    ptm_ml_per_day: FloatArray,
    factor: FloatArray,
    controller_ml: FloatArray,
    ptm_max_ml_per_day: FloatArray,
) -> FillDays:
    """The crossings of a full reservoir on a constant program: the vectorized form of
    ``forecast.deterministic.deterministic``'s ``programmer_lra`` (or ``prometra_next_refill``
    where ``controller_ml`` is not NaN), ``low_reservoir_alarm``, ``actual_dry`` and
    ``empty_reservoir`` for a simple program (tested against it)."""
    total = basal_ml_per_day + ptm_ml_per_day
    by_controller = (reservoir_ml - controller_ml) / (basal_ml_per_day + ptm_max_ml_per_day)
    return FillDays(
        programmer_alarm=np.where(
            np.isnan(controller_ml), usable_ml / basal_ml_per_day, by_controller
        ),
        alarm=usable_ml / total,
        dry=reservoir_ml / (factor * total),
        empty=(reservoir_ml - empty_ml) / total,
    )


@dataclass(frozen=True)
class _Cycle:
    """One step for the patients ``idx``: what would happen next, and what comes first."""

    idx: IntArray
    t: FloatArray
    total_ml: FloatArray
    factor: FloatArray
    """The delivery factor of this fill (an over-infusing pump's, if it is one)."""
    alarm: FloatArray
    dry: FloatArray
    booked: FloatArray
    no_show: BoolArray
    visit: FloatArray
    emergency: BoolArray
    event: FloatArray
    kind: IntArray
    eri: FloatArray
    replace: FloatArray
    stop: FloatArray
    what: IntArray
    """0 end of follow-up (death, horizon, explant), 1 visit, 2 event, 3 battery."""


def _run(spec: CohortSpec, lay: Layout, d: Draws, p: BlockPatients, log: BlockLog) -> None:
    while True:
        idx = np.flatnonzero(p.active)
        if len(idx) == 0:
            return
        if np.any(p.cycle[idx] >= lay.cycles):
            raise out_of_cycles(lay)
        c = _next(spec, d, p, idx)
        _apply(spec, d, p, c, log)


def _next(spec: CohortSpec, d: Draws, p: BlockPatients, idx: IntArray) -> _Cycle:
    """What comes next for the patients ``idx``, each from its last fill at ``p.t``."""
    t = p.t[idx]
    dose = np.clip(p.dose0[idx] * np.exp(p.growth[idx] * t), p.dose_lo[idx], p.dose_hi[idx])
    basal_ml = dose * p.conc_ml_per_mg[idx]
    total_ml = basal_ml + p.ptm_ml[idx]
    factor = np.where(p.over[idx] == 2, spec.events.over_infusion.delivery_factor, p.factor[idx])
    days = fill_days(
        p.usable[idx],
        p.reservoir[idx],
        p.empty[idx],
        basal_ml,
        p.ptm_ml[idx],
        factor,
        p.controller[idx],
        p.ptm_max[idx],
    )
    dry = t + days.therapy_ends
    booked, no_show, visit, emergency = _visit(spec, d, p, idx, t, days, dry)
    event, kind = _next_event(p, idx, t)
    eri, replace = _battery(spec, p, idx, t, total_ml)
    options = np.column_stack([p.implant_end[idx], visit, event, replace])
    what = np.argmin(options, axis=1)
    return _Cycle(
        idx=idx,
        t=t,
        total_ml=total_ml,
        factor=factor,
        alarm=t + days.alarm,
        dry=dry,
        booked=booked,
        no_show=no_show,
        visit=visit,
        emergency=emergency,
        event=event,
        kind=kind,
        eri=eri,
        replace=replace,
        stop=options[np.arange(len(idx)), what],
        what=what,
    )


def _visit(
    spec: CohortSpec,
    d: Draws,
    p: BlockPatients,
    idx: IntArray,
    t: FloatArray,
    days: FillDays,
    dry: FloatArray,
) -> tuple[FloatArray, BoolArray, FloatArray, BoolArray]:
    """The booking, whether it is missed, the visit and whether it is an emergency."""
    u = d.cycle[idx, p.cycle[idx]]
    policy = spec.refill
    due = t + np.minimum(days.programmer_alarm, p.stability[idx])
    booked = np.maximum(due - p.days_before[idx], t + 1.0)
    no_show = u[:, 2] < policy.no_show
    attended = (
        booked
        + policy.lateness.from_normal(cycle_normal(u, 0))
        + np.where(no_show, policy.rebook_after_days, 0.0)
    )
    rescue = dry + policy.emergency_after_empty.from_normal(cycle_normal(u, 4))
    emergency = rescue < attended
    return booked, no_show, np.where(emergency, rescue, attended), emergency


def _next_event(p: BlockPatients, idx: IntArray, t: FloatArray) -> tuple[FloatArray, IntArray]:
    """The day (not before ``t``) and kind of each patient's next Poisson event."""
    pointer = p.pointer[idx]
    depth = p.event_at.shape[2]
    upcoming = np.take_along_axis(
        p.event_at[idx], np.minimum(pointer, depth - 1)[:, :, None], axis=2
    )[:, :, 0]
    upcoming = np.where(pointer < depth, upcoming, np.inf)
    kind = np.argmin(upcoming, axis=1)
    return np.maximum(upcoming[np.arange(len(idx)), kind], t), kind


def _battery(
    spec: CohortSpec, p: BlockPatients, idx: IntArray, t: FloatArray, total_ml: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The ERI day on this fill's program and the day of the battery replacement."""
    drain = p.house[idx] + p.per_ml[idx] * total_ml
    with np.errstate(divide="ignore", invalid="ignore"):
        eri = np.where(drain > 0, t + np.maximum(1.0 - p.battery[idx], 0.0) / drain, np.inf)
    known = np.isfinite(p.replace_at[idx])
    replace = np.where(known, p.replace_at[idx], eri + spec.battery.replace_after_eri_days)
    return eri, replace


def _apply(spec: CohortSpec, d: Draws, p: BlockPatients, c: _Cycle, log: BlockLog) -> None:
    """Log what the cycle ``c`` did and move each patient to its next fill (or end)."""
    explant = _infections(spec, d, p, c, log)
    onset = (c.what == 2) & (c.kind == _OVER)
    if np.any(onset):
        rows = np.flatnonzero(onset)
        who = c.idx[rows]
        log.event("over_infusion", who, c.stop[rows])
        p.pointer[who, _OVER] += 1
        p.over[who] = np.where(p.over[who] == 0, 1, p.over[who])
    # an infection without explant and the onset of an over-infusion are only counted: the
    # fill goes on, nothing else happened yet
    counted_only = ((c.what == 2) & (c.kind == _INFECTION) & ~explant) | onset
    ends = ~counted_only
    if not np.any(ends):
        return
    resume = _resume(spec, p, c, ends)
    _log_fill(spec, d, p, c, ends, resume, log)
    _advance(p, c, ends, explant, resume, log)


def _infections(
    spec: CohortSpec, d: Draws, p: BlockPatients, c: _Cycle, log: BlockLog
) -> BoolArray:
    """Count the infections of cycle ``c``; the rows that end in an explant."""
    infection = (c.what == 2) & (c.kind == _INFECTION)
    explant = np.zeros(len(c.idx), bool)
    if np.any(infection):
        rows = np.flatnonzero(infection)
        who = c.idx[rows]
        n_before = p.pointer[who, _INFECTION]
        explant[rows] = d.explant_u[who, n_before] < spec.events.infection.explant_share
        log.event("infection", who, c.stop[rows])
        p.pointer[who, _INFECTION] += 1
        log.event("explant", c.idx[explant], c.stop[explant])
        p.implant_end[c.idx[explant]] = c.stop[explant]
    return explant


def _found_over_infusing(p: BlockPatients, c: _Cycle, ends: BoolArray) -> BoolArray:
    """The fills ending now at a refill visit that finds an over-infusing pump."""
    found: BoolArray = (c.what[ends] == 1) & (p.over[c.idx[ends]] == 2)
    return found


def _resume(spec: CohortSpec, p: BlockPatients, c: _Cycle, ends: BoolArray) -> FloatArray:
    """When the next fill starts, for each fill ending now: at the visit, at the end of an
    operation's therapy gap (an event, or the replacement of an over-infusing pump found at
    the visit), capped by the end of follow-up."""
    stop = c.stop[ends]
    gaps = np.array([float(getattr(spec.events, k).therapy_gap_days) for k in EVENT_STREAMS])
    after = np.where(c.what[ends] == 2, gaps[c.kind[ends]], 0.0)
    after = np.where(_found_over_infusing(p, c, ends), gaps[_OVER], after)
    resume: FloatArray = np.minimum(stop + after, p.implant_end[c.idx[ends]])
    return resume


def _log_fill(
    spec: CohortSpec,
    d: Draws,
    p: BlockPatients,
    c: _Cycle,
    ends: BoolArray,
    resume: FloatArray,
    log: BlockLog,
) -> None:
    """Delivery, gap, alarm, no-show, visit and pocket fill of the fills that end now."""
    idx, stop = c.idx[ends], c.stop[ends]
    dry = c.dry[ends]
    delivered_to = np.minimum(dry, stop)
    log.delivery(idx, c.t[ends], delivered_to, c.factor[ends] * c.total_ml[ends])
    operation = (c.what[ends] == 2) | _found_over_infusing(p, c, ends)
    gap_start = np.where(operation, delivered_to, dry)  # an operation stops therapy at once
    gap_end = np.where(operation, resume, stop)
    without = gap_start < gap_end
    log.gap(idx[without], gap_start[without], gap_end[without])
    sounded = c.alarm[ends] < stop
    log.count("alarms", idx[sounded], c.alarm[ends][sounded])
    missed = c.no_show[ends] & (c.booked[ends] < stop)
    log.count("no_shows", idx[missed], c.booked[ends][missed])
    visit = c.what[ends] == 1
    log.count("refill_visits", idx[visit], stop[visit])
    urgent = visit & c.emergency[ends]
    log.count("emergency_visits", idx[urgent], stop[urgent])
    u = d.cycle[idx, p.cycle[idx]]
    pocket = visit & (u[:, 3] < spec.events.pocket_fill.per_refill)
    log.event("pocket_fill", idx[pocket], stop[pocket])


def _advance(
    p: BlockPatients,
    c: _Cycle,
    ends: BoolArray,
    explant: BoolArray,
    resume: FloatArray,
    log: BlockLog,
) -> None:
    """Battery, events, pump and the next fill of each patient whose fill ended."""
    idx, stop, what = c.idx[ends], c.stop[ends], c.what[ends]
    drain = p.house[idx] + p.per_ml[idx] * c.total_ml[ends]
    p.battery[idx] = np.minimum(1.0, p.battery[idx] + drain * (stop - c.t[ends]))
    reached = np.isinf(p.replace_at[idx]) & (c.eri[ends] < stop)
    p.replace_at[idx[reached]] = c.replace[ends][reached]
    event = (what == 2) & ~explant[ends]
    new_pump = (what == 3) | _found_over_infusing(p, c, ends)
    if np.any(event):
        kinds = c.kind[ends][event]
        who = idx[event]
        for k, name in enumerate(EVENT_STREAMS):
            log.event(name, who[kinds == k], stop[event][kinds == k])
        p.pointer[who, kinds] += 1
        new_pump[event] = np.array(_REPLACES_PUMP)[kinds]
    battery = what == 3
    log.event("battery_replacement", idx[battery], stop[battery])
    # over-infusion begun in this fill shows in the next one, unless the pump is replaced
    p.over[idx] = np.where(new_pump, 0, np.where(p.over[idx] == 1, 2, p.over[idx]))
    _new_pump(p, idx[new_pump])
    p.t[idx] = resume
    p.cycle[idx] += 1
    p.active[idx] = (what != 0) & ~explant[ends] & (resume < p.implant_end[idx])


def _new_pump(p: BlockPatients, who: IntArray) -> None:
    p.battery[who] = 0.0
    p.replace_at[who] = np.inf
