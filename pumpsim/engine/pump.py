"""The pump's continuous state between events, and the rules that change it.

``PumpModel`` integrates piecewise-constant flows exactly: between two events every rate is
constant, so ``advance(t)`` moves the volumes, battery and bolus counters linearly and records
the stretch in a ``FlowLog`` (which turns stretches into samples, daily accounting and drug mass
in NumPy batches), and ``next_crossing()`` solves when the next threshold (low reservoir, empty,
actual dry, battery, end of a bolus or fault) is reached. ``refresh_rates`` stores the flows
after every change, so ``advance`` only multiplies. The SimPy processes in ``processes.py``
decide *when* things happen; this class decides *what* each happening does.

Three volumes, as in the real device:
``calculated_ml`` — what the pump believes (fill entered at refill minus programmed delivery);
``reservoir.volume_ml`` — the actual fluid, which leaves at ``delivery_factor`` × the motor rate;
``withdrawable_ml`` — actual minus the non-retrievable residual.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from pumpsim.core.clock import EPS_DAYS, next_midnight, origin_minute, to_datetime, to_days
from pumpsim.engine.flowlog import BATCH, FIELDS, FlowLog, SampleSink
from pumpsim.engine.fluid import Composition, DeadVolume, Reservoir
from pumpsim.engine.trace import (
    ALARM_SEVERITY,
    AlarmRecord,
    Event,
    FillRecord,
    RefillRecord,
    Trace,
)
from pumpsim.models import Infusate, Program, PtmSettings, Therapy
from pumpsim.models.refill import fill_stability_limit, judge_refill
from pumpsim.schedule.segments import mean_daily_volume_ml

TOLERANCE_ML = 1e-9
TOLERANCE_DAYS = 1e-9
FAR_MARGIN_DAYS = 1e-3
"""How far (days) beyond the next look ``_far_until`` must lie for the short solve: far more
than rounding can move a solved crossing."""
BATCH_VALUES = BATCH * FIELDS


def _add(total: dict[str, float], part: dict[str, float], scale: float = 1.0) -> None:
    for name, value in part.items():
        total[name] = total.get(name, 0.0) + value * scale


@dataclass
class _Ledger:
    """Totals for the conservation balance (mL and mg per drug)."""

    put_in_ml: float = 0.0
    delivered_ml: float = 0.0
    withdrawn_ml: float = 0.0
    leaked_ml: float = 0.0
    pocket_ml: float = 0.0
    flushed_ml: float = 0.0
    put_in_mg: dict[str, float] = field(default_factory=dict)
    delivered_mg: dict[str, float] = field(default_factory=dict)
    withdrawn_mg: dict[str, float] = field(default_factory=dict)
    leaked_mg: dict[str, float] = field(default_factory=dict)
    pocket_mg: dict[str, float] = field(default_factory=dict)
    flushed_mg: dict[str, float] = field(default_factory=dict)


class PumpModel:
    """One implanted pump and its catheter, integrated exactly between events."""

    # slots, not an instance dict: the event loop reads and writes these at every event, and
    # an instance with this many attributes would otherwise fall back to dict lookups
    __slots__ = (
        "_bolus_days",
        "_bolus_rate",
        "_bolus_settings",
        "_calm_until",
        "_empty_threshold_ml",
        "_eri_to_eos_days",
        "_far_rate",
        "_far_until",
        "_flow_values",
        "_has_battery",
        "_housekeeping",
        "_label",
        "_labelled",
        "_midnight",
        "_open_alarms",
        "_origin_minute",
        "_per_ml",
        "_rate_after_empty",
        "basal_rate",
        "battery_drain",
        "battery_used",
        "bolus_part",
        "bridge_left_ml",
        "calculated_ml",
        "context",
        "dead",
        "delivery_factor",
        "disconnected_until",
        "dry",
        "due",
        "empty_mode",
        "eos",
        "eri_day",
        "flows",
        "infusate",
        "last_fill_ml",
        "leaking",
        "ledger",
        "low_reservoir_ml",
        "motor",
        "occluded_until",
        "on_program_change",
        "origin",
        "outflow",
        "pending_program",
        "periodic_rate",
        "priming_left_ml",
        "priming_rate",
        "program",
        "program_start_day",
        "programmed_since_fill_ml",
        "ptm",
        "ptm_rate",
        "ptm_until",
        "reservoir",
        "spec",
        "stability_day",
        "stalled_until",
        "steady_dead_volume",
        "t",
        "therapy",
        "therapy_prescribed",
        "thresholds",
        "trace",
        "uncounted_residual_ml",
        "unsettled",
        "unusual",
    )

    def __init__(
        self,
        therapy: Therapy,
        trace: Trace,
        delivery_factor: float,
        sample_sink: SampleSink | None = None,
    ) -> None:
        self.therapy = therapy
        self.on_program_change: Callable[[], None] | None = None
        """Called when the running program changes (``simulate`` restarts the basal process)."""
        self.spec = therapy.pump
        self.trace = trace
        self.origin = trace.origin
        self.delivery_factor = delivery_factor
        self.t = 0.0
        state = therapy.state
        self.infusate: Infusate = therapy.infusate
        self.calculated_ml = state.calculated_volume_ml
        comp = self.infusate.concentrations()
        self.reservoir = Reservoir(0.0, {name: 0.0 for name in comp})
        self.reservoir.add(state.true_volume_ml, comp)
        self.dead = DeadVolume.filled_with(therapy.dead_volume_ml, comp)
        self.ledger = _Ledger()
        self.ledger.put_in_ml = state.true_volume_ml + self.dead.volume_ml()
        _add(self.ledger.put_in_mg, self.reservoir.mass_mg)
        _add(self.ledger.put_in_mg, self.dead.mass_mg())
        self.program: Program = therapy.program
        self.program_start_day = 0.0
        self.ptm: PtmSettings | None = therapy.ptm
        self.low_reservoir_ml = therapy.low_reservoir_alarm_ml or 0.0
        """The alarm threshold in effect (mL); 0 for a pump without the alarm."""
        # rates (mL/day) set by the processes
        self.basal_rate = 0.0
        self.periodic_rate = 0.0
        self.ptm_rate = 0.0
        self.ptm_until = -math.inf
        self.priming_rate = 0.0
        self.priming_left_ml = 0.0
        self.bridge_left_ml = 0.0
        self.pending_program: Program | None = None
        # faults and modes
        self.stalled_until = -math.inf
        self.occluded_until = -math.inf
        self.disconnected_until = -math.inf
        self.empty_mode = (
            self.calculated_ml <= self.spec.empty_reservoir_threshold_ml + TOLERANCE_ML
        )
        self.dry = self.reservoir.volume_ml <= 0
        self.battery_used = state.battery_used
        self.eri_day: float | None = None
        self.eos = False
        self.programmed_since_fill_ml = 0.0
        self.uncounted_residual_ml = 0.0
        """Fluid the pump believes is in the reservoir but not in ``calculated_ml``: the residual
        left behind at the last refill (the programmer is given the volume injected, not the
        total). The initial state's calculated volume is taken to be the whole content."""
        self.last_fill_ml: float | None = state.calculated_volume_ml
        """Volume entered at the last fill (the initial state's calculated volume at first)."""
        self.thresholds = therapy.discrepancy_thresholds
        self.stability_day = math.inf
        """When the fluid in the reservoir passes its stability limit (days; inf: no clock)."""
        self._open_alarms: dict[str, AlarmRecord] = {}
        self._housekeeping, self._per_ml = (
            self.spec.battery.drain_coefficients(self.spec.min_rate_ml_per_day)
            if self.spec.battery
            else (0.0, 0.0)
        )
        self._origin_minute = origin_minute(self.origin)
        self._empty_threshold_ml = self.spec.empty_reservoir_threshold_ml
        self._rate_after_empty = self.spec.rate_after_empty_ml_per_day
        self._eri_to_eos_days = self.spec.battery.eri_to_eos_days if self.spec.battery else 0.0
        self._has_battery = self.spec.battery is not None
        self._midnight = -math.inf
        self.due = -math.inf
        self._far_until = -math.inf
        self._far_rate = 0.0
        self._calm_until = -math.inf
        """Before this time (days) the clock's short path holds: the next midnight less
        ``EPS_DAYS`` while ``_far_until`` lies beyond that midnight, else ``-inf``
        (``_set_calm``)."""
        self.unsettled = True
        """An instantaneous change happened that ``settle`` must look at."""
        self.flows = FlowLog(trace, self.ledger, sample_sink)
        self._flow_values = self.flows.values  # the same list for the whole run
        self.leaking = False
        self.unusual = False
        """A bridge or priming bolus, a pending program, a motor stall, an occlusion or a
        disconnection is in play: only then do ``advance``, ``next_crossing`` and ``settle``
        look at them (they are rare, and those three run at every event)."""
        self._labelled: Infusate | None = None
        self._bolus_settings: PtmSettings | None = None
        self._bolus_rate = self._bolus_days = 0.0
        self._label = ""
        self.therapy_prescribed = False
        self.context = 0.0
        """Index in ``flows.contexts`` of (leaking, prescribed, reservoir fluid), as a float."""
        self.steady_dead_volume = True
        """The dead volume holds only reservoir fluid (what leaves the tip is what enters)."""
        self.fluid_changed()
        self.start_stability_clock(state.fill_time, first_fill=state.first_fill, in_reservoir=True)
        self.refresh_rates()

    # ------------------------------------------------------------------ rates
    def stopped(self, t: float | None = None) -> bool:
        """The motor is not turning (MRI stall, end of service)."""
        t = self.t if t is None else t
        return self.eos or t < self.stalled_until - TOLERANCE_DAYS

    def refresh_rates(self) -> None:
        """Recompute the flows that hold from now until the next change (mL/day).

        Every rule that changes a rate, a mode or a fault ends by calling this, so ``advance``
        can integrate with the stored values: ``motor`` (what the pump pumps and counts),
        ``outflow`` (what truly leaves the reservoir: motor × delivery factor, zero when the
        catheter is blocked or the reservoir dry), ``bolus_part`` (the mL/day of the motor rate
        that is periodic, PTM or priming bolus) and whether therapy is prescribed now. While
        the pump runs normally (no rare state, not empty, dry or at end of service) the motor
        pumps the program and the catheter passes it all; otherwise ``_refresh_rare_rates``."""
        if self.unusual or self.eos or self.empty_mode or self.dry:
            self._refresh_rare_rates()
            return
        basal, periodic, ptm = self.basal_rate, self.periodic_rate, self.ptm_rate
        bolus = periodic + ptm + self.priming_rate
        motor = self.motor = basal + bolus
        self.bolus_part = bolus
        self.outflow = self.delivery_factor * motor
        prescribed = basal + periodic + ptm > 0
        if self.leaking or prescribed is not self.therapy_prescribed:
            self.leaking, self.therapy_prescribed = False, prescribed
            self._new_context()
        self.battery_drain = self._housekeeping + self._per_ml * motor

    def _refresh_rare_rates(self) -> None:
        """``refresh_rates`` with a stall, fault or mode in play."""
        t = self.t
        basal, periodic, ptm = self.basal_rate, self.periodic_rate, self.ptm_rate
        bolus = periodic + ptm + self.priming_rate
        eos = self.eos
        unusual = self.unusual  # without a stall or fault in play their checks are False
        if eos or (unusual and t < self.stalled_until - TOLERANCE_DAYS):  # stopped()
            motor, bolus = 0.0, 0.0
        elif self.empty_mode:
            motor, bolus = self._rate_after_empty, 0.0
        else:
            motor = basal + bolus
        self.motor = motor
        self.bolus_part = bolus
        blocked = self.dry or (unusual and t < self.occluded_until - TOLERANCE_DAYS)
        self.outflow = 0.0 if blocked else self.delivery_factor * motor
        leaking = unusual and t < self.disconnected_until - TOLERANCE_DAYS
        prescribed = basal + periodic + ptm > 0
        if leaking is not self.leaking or prescribed is not self.therapy_prescribed:
            self.leaking, self.therapy_prescribed = leaking, prescribed
            self._new_context()
        self.battery_drain = 0.0 if eos else self._housekeeping + self._per_ml * motor

    def _update_unusual(self) -> None:
        """Whether a rare state is in play (see ``unusual``): set by the rules that start one,
        cleared here when ``settle`` has ended them."""
        self.unusual = (
            self.bridge_left_ml > 0
            or self.priming_left_ml > 0
            or self.pending_program is not None
            or self.t < self.stalled_until + TOLERANCE_DAYS
            or "motor_stall" in self._open_alarms
            or self.occluded_until != -math.inf
            or self.disconnected_until != -math.inf
        )
        if self.unusual:
            self._calm_until = -math.inf  # the clock solves in full while a rare state is on

    def _changed_now(self) -> None:
        """A rule changed the pump at this instant: ``settle`` must look, the rare-state flag
        and the rates are worked out again."""
        self.unsettled = True
        self._forget_far()
        self._update_unusual()
        self.refresh_rates()

    def _new_context(self) -> None:
        index = self.flows.context(
            self.leaking, self.therapy_prescribed, self.reservoir.concentration
        )
        self.context = float(index)  # stored with the stretch's other numbers

    def set_basal(self, basal_ml_per_day: float, periodic_ml_per_day: float) -> None:
        """The running program's basal and periodic-bolus rates from now on (mL/day)."""
        self.basal_rate = basal_ml_per_day
        self.periodic_rate = periodic_ml_per_day
        self.refresh_rates()

    @property
    def withdrawable_ml(self) -> float:
        return max(0.0, self.reservoir.volume_ml - self.spec.nonretrievable_residual_ml)

    # ------------------------------------------------------------------ integration
    def advance(self, t_now: float) -> None:
        """Move every continuous quantity from ``self.t`` to ``t_now`` at the current rates.

        The volumes, battery and bolus counters move here; the stretch is recorded in
        ``flows``, which turns stretches into samples, daily accounting and drug mass."""
        t0 = self.t
        dt_days = t_now - t0
        if dt_days <= 0:
            return
        self.t = t_now
        motor, outflow = self.motor, self.outflow
        calc0 = self.calculated_ml
        reservoir = self.reservoir
        actual0 = reservoir.volume_ml
        values = self._flow_values
        values.extend((t0, calc0, actual0, motor, outflow, self.bolus_part, self.context))
        volume = outflow * dt_days
        if volume > actual0:
            volume = actual0
        if volume > 0:
            left = actual0 - volume  # reservoir.draw(volume), inlined: this runs per stretch
            reservoir.volume_ml = left if left > 1e-15 else 0.0
            if not self.steady_dead_volume:
                self._push_dead_volume(volume)
        pumped = motor * dt_days
        self.calculated_ml = calc0 - pumped if calc0 > pumped else 0.0
        self.programmed_since_fill_ml += pumped
        self.battery_used += self.battery_drain * dt_days
        if self.unusual:
            self._advance_unusual(dt_days, pumped)
        if len(values) >= BATCH_VALUES:
            self.flows.flush(t_now)

    def _push_dead_volume(self, volume: float) -> None:
        """``volume`` mL of reservoir fluid enter the dead volume during the stretch just
        recorded; what leaves the tip is booked for that stretch (unless it leaks away)."""
        if self.leaking:
            return
        flows = self.flows
        fluid = self.reservoir.concentration
        flows.tips[flows.stretches - 1] = self.dead.push(volume, fluid)
        self.steady_dead_volume = self.dead.holds_only(fluid)

    def _advance_unusual(self, dt_days: float, pumped: float) -> None:
        """The part of ``advance`` for boluses counted in volume (bridge, priming)."""
        if self.bridge_left_ml > 0:
            self.bridge_left_ml = max(0.0, self.bridge_left_ml - pumped)
        if self.priming_left_ml > 0 and self.motor > 0 and not self.empty_mode:
            self.priming_left_ml = max(0.0, self.priming_left_ml - self.priming_rate * dt_days)

    def catch_up(self, now: float) -> None:
        """``advance`` to ``now`` and ``settle`` what was reached, skipping what has nothing to
        do (the clock calls this at every look)."""
        if now > self.t:
            self.advance(now)
        if now >= self.due - TOLERANCE_DAYS or self.unsettled:
            self.settle()

    def apply_reached(self, now: float) -> None:
        """Apply any threshold reached by ``now`` before a decision that depends on the modes
        (a PTM press). Only when one may have been reached (``due``) is the pump advanced;
        otherwise the running stretch is left whole."""
        if now >= self.due - TOLERANCE_DAYS:
            self.catch_up(now)

    def fluid_changed(self) -> None:
        """The reservoir's or the dead volume's content changed (refill, new catheter)."""
        self._new_context()
        self.steady_dead_volume = self.dead.holds_only(self.reservoir.concentration)

    def next_midnight(self) -> float:
        """The first pump-clock midnight after ``self.t`` (days since origin)."""
        if self.t < self._midnight - EPS_DAYS:
            return self._midnight
        self._midnight = next_midnight(self._origin_minute, self.t)
        self._set_calm()
        return self._midnight

    def _forget_far(self) -> None:
        """A threshold moved or a mode changed: the far bound no longer holds."""
        self._far_until = self._calm_until = -math.inf

    def _set_calm(self) -> None:
        """Work out ``_calm_until`` from the next midnight and the far bound."""
        midnight = self._midnight
        far = self._far_until > midnight + FAR_MARGIN_DAYS
        self._calm_until = midnight - EPS_DAYS if far else -math.inf

    # ------------------------------------------------------------------ crossings
    def next_crossing(self, limit: float = math.inf) -> float:
        """When to look at the pump next (days): the earliest time a threshold is reached or a
        running bolus or fault ends at the current rates (kept in ``due``), the next midnight
        (days are accounted separately) or ``limit``, whichever is first.

        It runs after every change of rate, so it first asks ``_far_until``: while no volume,
        battery or stability threshold can be reached before the next midnight at any rate up
        to ``_far_rate``, only the end of a running patient bolus is solved. ``due`` then stays
        beyond the next look whenever the full solve would put it there, and the look falls at
        the same time, so the run is the same."""
        t = self.t
        midnight = self._midnight
        wake = midnight if t < midnight - EPS_DAYS else self.next_midnight()
        if (
            self._far_until > wake + FAR_MARGIN_DAYS
            and self.motor <= self._far_rate
            and not self.unusual
        ):
            ptm_until = self.ptm_until
            due = self.due = ptm_until if t + TOLERANCE_DAYS < ptm_until else math.inf
        else:
            due = self._solve_due(t)
        if limit < wake:
            wake = limit
        return due if due < wake else wake

    def _solve_due(self, t: float) -> float:
        """The earliest threshold, end of a bolus or end of a fault at the current rates (days,
        stored in ``due``), as plain comparisons on local names."""
        t = self.t
        soonest = math.inf
        motor = self.motor
        empty_mode = self.empty_mode
        unusual = self.unusual
        if motor > 0:
            calc = self.calculated_ml
            low = self.low_reservoir_ml
            if low > 0 and calc > low and "low_reservoir" not in self._open_alarms:
                soonest = t + (calc - low) / motor
            if not empty_mode:
                at = t + (calc - self._empty_threshold_ml) / motor
                if at < soonest:
                    soonest = at
            if unusual:
                if self.priming_left_ml > 0 and self.priming_rate > 0 and not empty_mode:
                    at = t + self.priming_left_ml / self.priming_rate
                    if at < soonest:
                        soonest = at
                if self.bridge_left_ml > 0:
                    at = t + self.bridge_left_ml / motor
                    if at < soonest:
                        soonest = at
        outflow = self.outflow
        if outflow > 0:
            at = t + self.reservoir.volume_ml / outflow
            if at < soonest:
                soonest = at
        if not self.eos:
            if self.eri_day is not None:
                at = self.eri_day + self._eri_to_eos_days
                if at < soonest:
                    soonest = at
            else:
                drain = self.battery_drain
                if drain > 0:
                    left = 1.0 - self.battery_used
                    at = t + left / drain if left > 0 else t
                    if at < soonest:
                        soonest = at
        stability_day = self.stability_day
        if stability_day < soonest:
            soonest = stability_day + 2 * TOLERANCE_DAYS  # a refill at the limit comes first
        after = t + TOLERANCE_DAYS
        ptm_until = self.ptm_until
        if after < ptm_until < soonest:
            soonest = ptm_until
        if unusual:
            for until in (self.stalled_until, self.occluded_until, self.disconnected_until):
                if after < until < soonest:
                    soonest = until
        due = self.due = soonest if soonest > t else t
        if not unusual:
            self._far_bound(t)
        return due

    def _far_bound(self, t: float) -> None:
        """Store in ``_far_until`` a time before which no volume, battery or stability
        threshold can be reached at any motor rate up to ``_far_rate`` (the highest rate seen
        so far): each is solved as in ``_solve_due`` at that rate, short of the tolerance
        ``settle`` tests it with, so before then ``settle`` has only a patient bolus to end. A
        rule that raises a rate is followed by a look, where ``next_crossing`` sees the higher
        rate and solves in full; a rule that moves a threshold or changes a mode resets the
        bound (``_forget_far``)."""
        rate = self.motor if self.motor > self._far_rate else self._far_rate
        until = self.stability_day
        if rate > 0:
            calc = self.calculated_ml - TOLERANCE_ML  # settle's tests allow this much
            low = self.low_reservoir_ml
            # the alarm's threshold counts while the alarm is off (with the volume within the
            # tolerance of it, or below, the bound is now: settle tests it in full)
            if low > 0 and "low_reservoir" not in self._open_alarms:
                until = min(until, t + (calc - low) / rate)
            if not self.empty_mode:
                until = min(until, t + (calc - self._empty_threshold_ml) / rate)
            held = self.reservoir.volume_ml - TOLERANCE_ML
            until = min(until, t + held / (self.delivery_factor * rate))
        if not self.eos:
            if self.eri_day is not None:
                until = min(until, self.eri_day + self._eri_to_eos_days)
            else:
                housekeeping = self._housekeeping
                drain = max(housekeeping, housekeeping + self._per_ml * rate)
                if drain > 0:
                    left = 1.0 - 1e-12 - self.battery_used
                    until = min(until, t + left / drain if left > 0 else t)
        self._far_until, self._far_rate = until, rate
        self._set_calm()

    def settle(self) -> None:
        """Apply every threshold reached at ``self.t`` (alarms, modes, ends of boluses).

        Between two crossings nothing can be reached: ``next_crossing`` stored the earliest one
        in ``due``, and the rules that change state at an instant (refill, stall, faults,
        priming, bridge) set ``unsettled``. Otherwise the checks are skipped; and before the
        far bound (``_far_bound``) no threshold is within reach, so only a patient bolus can
        have ended."""
        t = self.t
        if self.unsettled:
            self.unsettled = False
            full = True
        elif t < self.due - TOLERANCE_DAYS:
            return
        else:
            full = self.unusual or t + FAR_MARGIN_DAYS >= self._far_until
        if full:
            self._settle_volumes()
        if self.ptm_rate > 0 and t >= self.ptm_until - TOLERANCE_DAYS:
            self.ptm_rate, self.ptm_until = 0.0, -math.inf  # the patient bolus has run
        if full:
            self._settle_clocks(t)
        self.refresh_rates()

    def _settle_volumes(self) -> None:
        """The part of ``settle`` for the volumes: the low-reservoir alarm, the empty
        reservoir (which ends a patient bolus), the reservoir running dry."""
        if self.calculated_ml <= self.low_reservoir_ml + TOLERANCE_ML and self.low_reservoir_ml > 0:
            self.alarm_on("low_reservoir", calculated_ml=self.calculated_ml)
        if not self.empty_mode and self.calculated_ml <= self._empty_threshold_ml + TOLERANCE_ML:
            self.calculated_ml = max(self.calculated_ml, 0.0)
            self.empty_mode = True
            self._forget_far()
            self.alarm_on("empty_reservoir", calculated_ml=self.calculated_ml)
            self.ptm_rate, self.ptm_until = 0.0, -math.inf
        if not self.dry and self.reservoir.volume_ml <= TOLERANCE_ML:
            self.reservoir.draw(self.reservoir.volume_ml)
            self.dry = True
            self._forget_far()
            self.log("actual_dry", calculated_ml=round(self.calculated_ml, 9))

    def _settle_clocks(self, t: float) -> None:
        """The part of ``settle`` for the stability limit, the battery and the rare states."""
        if t >= self.stability_day + TOLERANCE_DAYS:
            self._stability_exceeded()
        if self._has_battery:
            if self.eri_day is None and self.battery_used >= 1.0 - 1e-12:
                self.eri_day = t
                self._forget_far()
                self.alarm_on("elective_replacement", battery_used=round(self.battery_used, 6))
            if (
                self.eri_day is not None
                and not self.eos
                and t >= self.eri_day + self._eri_to_eos_days - TOLERANCE_DAYS
            ):
                self.eos = True
                self._forget_far()
                self.alarm_on("end_of_service")
        if self.unusual:
            self._settle_unusual()

    def _settle_unusual(self) -> None:
        """The part of ``settle`` for boluses counted in volume, a pending program, a motor
        stall and catheter faults."""
        t = self.t
        if self.priming_rate > 0 and self.priming_left_ml <= TOLERANCE_ML:
            self.priming_rate, self.priming_left_ml = 0.0, 0.0
            self.log("priming_bolus_end")
        if self.pending_program is not None and self.bridge_left_ml <= TOLERANCE_ML:
            program, self.pending_program = self.pending_program, None
            self.bridge_left_ml = 0.0
            self.log("bridge_bolus_end")
            self.set_program(program)
        if "motor_stall" in self._open_alarms and not self.stopped() and not self.eos:
            self.alarm_off("motor_stall")
            self.log("motor_restart")
        if self.occluded_until != -math.inf and t >= self.occluded_until - TOLERANCE_DAYS:
            self.occluded_until = -math.inf
            self.log("occlusion_end")
        if self.disconnected_until != -math.inf and t >= self.disconnected_until - TOLERANCE_DAYS:
            self.disconnected_until = -math.inf
            self.log("reconnection")
        self._update_unusual()

    # ------------------------------------------------------------------ stability clock
    def start_stability_clock(
        self, filled_at: dt.datetime, *, first_fill: bool, in_reservoir: bool
    ) -> None:
        """A fill of the current infusate at ``filled_at``: record its stability limit and, if
        the fill reached the reservoir, watch that limit (a pocket fill leaves the old clock)."""
        limit = fill_stability_limit(filled_at, self.infusate, first_fill=first_fill)
        self.trace.fills.append(
            FillRecord(
                time=filled_at,
                fluid=self.fluid_label(),
                first_fill=first_fill,
                stability_days=self.infusate.stability_days(first_fill=first_fill),
                stability_limit=limit,
                in_reservoir=in_reservoir,
            )
        )
        if in_reservoir:
            self.stability_day = to_days(self.origin, limit)
            self._forget_far()

    def _stability_exceeded(self) -> None:
        """The fluid in the reservoir has passed its stability limit (not logged for an empty
        reservoir: there is nothing left to exceed it)."""
        fill = self.trace.current_fill(self.t)
        self.stability_day = math.inf
        self._forget_far()
        if self.dry or fill is None:
            return
        self.log(
            "drug_stability_exceeded",
            filled_at=fill.time,
            stability_limit=fill.stability_limit,
            stability_days=fill.stability_days,
            first_fill=fill.first_fill,
            reservoir_ml=round(self.reservoir.volume_ml, 9),
        )

    # ------------------------------------------------------------------ log and alarms
    def log(self, kind: str, **detail: object) -> None:
        self.trace.events.append(Event(self.t, kind, detail, self.origin))

    def fluid_label(self) -> str:
        """``self.infusate.label()``, worked out once per infusate (formatting costs)."""
        if self._labelled is not self.infusate:
            self._labelled, self._label = self.infusate, self.infusate.label()
        return self._label

    def time(self, day: float) -> dt.datetime:
        """Wall-clock time of ``day`` (days since origin), to the second."""
        return to_datetime(self.origin, day)

    def alarm_on(self, name: str, **detail: object) -> None:
        if name in self._open_alarms:
            return
        severity = ALARM_SEVERITY[name]
        repeat = (
            self.spec.critical_alarm_repeat_days
            if severity == "critical"
            else self.spec.noncritical_alarm_repeat_days
        )
        record = AlarmRecord(name, severity, self.t, self.time(self.t), repeat)
        self._open_alarms[name] = record
        self._forget_far()  # the low-reservoir threshold counts only while it is off
        self.trace.alarms.append(record)
        self.log("alarm_on", alarm=name, severity=severity, **detail)

    def alarm_off(self, name: str) -> None:
        record = self._open_alarms.pop(name, None)
        if record is not None:
            self._forget_far()
            record.off_day, record.off_time = self.t, self.time(self.t)
            self.log("alarm_off", alarm=name)

    # ------------------------------------------------------------------ interventions
    def set_program(self, program: Program) -> None:
        """Run ``program`` from now on; ``on_program_change`` tells the basal process."""
        self.program = program
        self.program_start_day = self.t
        self.unsettled = True
        self.log("program_active", mean_ml_per_day=round(mean_daily_volume_ml(program), 9))
        if self.on_program_change is not None:
            self.on_program_change()

    def refill(
        self,
        *,
        fill_ml: float,
        entered_ml: float,
        infusate: Infusate | None,
        pocket_fill: bool,
    ) -> RefillRecord:
        """Withdraw what can be withdrawn, then fill (or, in a pocket fill, miss the reservoir)."""
        calculated = self.calculated_ml
        residual = self.spec.nonretrievable_residual_ml
        believed_total = calculated + self.uncounted_residual_ml
        expected_withdrawable = max(0.0, believed_total - residual)
        withdrawn = self.withdrawable_ml
        comp_out = self.reservoir.draw(withdrawn)
        self.ledger.withdrawn_ml += withdrawn
        _add(self.ledger.withdrawn_mg, comp_out, withdrawn)
        if infusate is not None:
            self.infusate = infusate
            for drug in infusate.drugs:
                self.trace.drug_units.setdefault(drug.name, drug.mass_unit)
        new_comp: Composition = self.infusate.concentrations()
        self._put_in(fill_ml, new_comp, pocket_fill)
        record = self._refill_record(
            calculated, expected_withdrawable, withdrawn, fill_ml, entered_ml, pocket_fill
        )
        self.trace.refills.append(record)
        self.calculated_ml = entered_ml
        self.last_fill_ml = entered_ml
        self.uncounted_residual_ml = min(believed_total, residual)
        self.programmed_since_fill_ml = 0.0
        self._after_refill()
        self._log_refill(record, new_comp)
        self.start_stability_clock(
            self.time(self.t), first_fill=False, in_reservoir=not pocket_fill
        )
        return record

    def _refill_record(
        self,
        calculated_ml: float,
        expected_withdrawable_ml: float,
        withdrawn_ml: float,
        fill_ml: float,
        entered_ml: float,
        pocket_fill: bool,
    ) -> RefillRecord:
        """The record of a refill now, with the verdict on its discrepancy."""
        verdict = judge_refill(
            expected_withdrawable_ml=expected_withdrawable_ml,
            withdrawn_ml=withdrawn_ml,
            programmed_ml=self.programmed_since_fill_ml,
            previous_fill_ml=self.last_fill_ml,
            thresholds=self.thresholds,
        )
        return RefillRecord(
            day=self.t,
            time=self.time(self.t),
            calculated_ml=calculated_ml,
            expected_withdrawable_ml=expected_withdrawable_ml,
            withdrawn_ml=withdrawn_ml,
            discrepancy_ml=verdict.discrepancy_ml,
            fill_ml=fill_ml,
            entered_ml=entered_ml,
            pocket_fill=pocket_fill,
            programmed_since_last_ml=self.programmed_since_fill_ml,
            verdict=verdict,
            previous_fill_ml=self.last_fill_ml,
        )

    def _put_in(self, fill_ml: float, comp: Composition, pocket_fill: bool) -> None:
        """Book a fill of ``fill_ml`` at ``comp``: into the reservoir, or into the pocket."""
        self.ledger.put_in_ml += fill_ml
        _add(self.ledger.put_in_mg, comp, fill_ml)
        if pocket_fill:
            self.ledger.pocket_ml += fill_ml
            _add(self.ledger.pocket_mg, comp, fill_ml)
        else:
            self.reservoir.add(fill_ml, comp)
        held = self.reservoir.concentration
        if any(name not in held for name in comp):
            self.reservoir.concentration = {
                **held,
                **{name: 0.0 for name in comp if name not in held},
            }
        self.fluid_changed()

    def _after_refill(self) -> None:
        """Modes and alarms after the calculated volume was reset by a refill."""
        self.empty_mode = (
            self.calculated_ml <= self.spec.empty_reservoir_threshold_ml + TOLERANCE_ML
        )
        if self.dry and self.reservoir.volume_ml > 0:
            self.dry = False
            self.log("therapy_resumed")
        self._changed_now()
        if self.calculated_ml > self.low_reservoir_ml:
            self.alarm_off("low_reservoir")
        if not self.empty_mode:
            self.alarm_off("empty_reservoir")

    def _log_refill(self, record: RefillRecord, comp: Composition) -> None:
        """The ``refill`` event (every volume named for what it is, and the verdict) and, for a
        pocket fill, the ``pocket_fill`` event with the dose that went into the pocket."""
        verdict = record.verdict
        self.log(
            "refill",
            calculated_ml=round(record.calculated_ml, 9),
            expected_withdrawable_ml=round(record.expected_withdrawable_ml, 9),
            withdrawn_ml=round(record.withdrawn_ml, 9),
            discrepancy_ml=round(record.discrepancy_ml, 9),
            fill_ml=record.fill_ml,
            entered_ml=record.entered_ml,
            pocket_fill=record.pocket_fill,
            fluid=self.fluid_label(),
            verdict=verdict.level,
            cause=verdict.cause,
        )
        if record.pocket_fill:
            self.log(
                "pocket_fill",
                volume_ml=record.fill_ml,
                dose_mg={k: v * record.fill_ml for k, v in comp.items()},
            )

    def reprogram(self, program: Program) -> None:
        """A clinician programs ``program`` now. A bridge bolus still running is cancelled: the
        new program replaces the one the bridge was waiting to start."""
        if self.pending_program is not None:
            self.log("bridge_bolus_cancelled", left_ml=round(self.bridge_left_ml, 9))
            self.pending_program, self.bridge_left_ml = None, 0.0
        self.set_program(program)

    def start_bridge(self, new_program: Program) -> None:
        """Keep the old program until the dead volume (old fluid) has been pumped out."""
        self.bridge_left_ml = self.therapy.dead_volume_ml
        self.pending_program = new_program
        self.log("bridge_bolus_start", volume_ml=round(self.bridge_left_ml, 9))
        self._changed_now()

    def start_priming(self, new_catheter: bool) -> None:
        """Fill a drug-free dead volume with a bolus of exactly its volume."""
        if new_catheter:
            flushed = self.dead.flush_with({name: 0.0 for name in self.infusate.concentrations()})
            self.ledger.flushed_ml += self.dead.capacity_ml
            _add(self.ledger.flushed_mg, flushed)
            self.ledger.put_in_ml += self.dead.capacity_ml
            self.fluid_changed()
        rate = self.spec.max_bolus_rate_ml_per_day or self.spec.max_rate_ml_per_day
        self.priming_rate = max(0.0, rate - self.basal_rate - self.periodic_rate)
        self.priming_left_ml = self.therapy.dead_volume_ml
        self.log("priming_bolus_start", volume_ml=round(self.priming_left_ml, 9))
        self._changed_now()

    def start_ptm_bolus(self, settings: PtmSettings) -> None:
        if settings is not self._bolus_settings:  # read once per settings
            self._bolus_settings = settings
            self._bolus_rate, self._bolus_days = settings.rate_ml_per_day, settings.duration_days
        self.ptm_rate = self._bolus_rate
        self.ptm_until = self.t + self._bolus_days
        self.refresh_rates()

    def stall(self, until: float) -> None:
        if self.spec.mri.stalls or self.spec.mri.must_be_emptied:
            self.stalled_until = max(self.stalled_until, until)
            self.alarm_on("motor_stall")
            self._changed_now()

    def occlude(self, until: float) -> None:
        """The catheter is blocked until ``until`` (days): nothing leaves the reservoir."""
        self.occluded_until = until
        self.log("occlusion_start")
        self._changed_now()

    def disconnect(self, until: float) -> None:
        """The catheter is disconnected until ``until`` (days): what is pumped leaks away."""
        self.disconnected_until = until
        self.log("disconnection")
        self._changed_now()

    def balance(self) -> dict[str, object]:
        """Current ledger plus what is in reservoir and dead volume (see ``Trace.balance``)."""
        return {
            "reservoir_ml": self.reservoir.volume_ml,
            "dead_volume_ml": self.dead.volume_ml(),
            "reservoir_mg": dict(self.reservoir.mass_mg),
            "dead_volume_mg": self.dead.mass_mg(),
        }
