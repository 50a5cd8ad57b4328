"""The pump's continuous state between events, and the rules that change it.

``PumpModel`` integrates piecewise-constant flows exactly: between two events every rate is
constant, so ``advance(t)`` moves all volumes, masses, battery and the day's accounting linearly,
and ``next_crossing()`` solves when the next threshold (low reservoir, empty, actual dry, battery,
end of a bolus, midnight) is reached. The SimPy processes in ``processes.py`` decide *when*
things happen; this class decides *what* each happening does.

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

from pumpsim.engine.fluid import Composition, DeadVolume, Reservoir
from pumpsim.engine.trace import ALARM_SEVERITY, AlarmRecord, DaySummary, Event, RefillRecord, Trace
from pumpsim.models import Infusate, Program, PtmSettings, Therapy
from pumpsim.schedule_math import MINUTES_PER_DAY

TOLERANCE_ML = 1e-9
TOLERANCE_DAYS = 1e-9


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

    def __init__(self, therapy: Therapy, trace: Trace, delivery_factor: float) -> None:
        self.therapy = therapy
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
        self.low_reservoir_ml = therapy.low_reservoir_alarm_ml
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
        self._open_alarms: dict[str, AlarmRecord] = {}
        self._day_index = -1
        self._day: DaySummary | None = None
        self._day_start = math.inf
        self._day_end = -math.inf
        self._housekeeping, self._per_ml = (
            self.spec.battery.drain_coefficients(self.spec.min_rate_ml_per_day)
            if self.spec.battery
            else (0.0, 0.0)
        )
        self._origin_minute = self.origin.hour * 60 + self.origin.minute + self.origin.second / 60
        self._next_sample = 0.0

    # ------------------------------------------------------------------ rates
    def stopped(self, t: float | None = None) -> bool:
        """The motor is not turning (MRI stall, end of service)."""
        t = self.t if t is None else t
        return self.eos or t < self.stalled_until - TOLERANCE_DAYS

    def motor_rate(self) -> float:
        """What the pump pumps and counts now (mL/day)."""
        if self.stopped():
            return 0.0
        if self.empty_mode:
            return self.spec.rate_after_empty_ml_per_day
        return self.basal_rate + self.periodic_rate + self.ptm_rate + self.priming_rate

    def bolus_rate(self) -> float:
        """The part of the motor rate that is bolus (periodic, PTM, priming) in mL/day."""
        if self.stopped() or self.empty_mode:
            return 0.0
        return self.periodic_rate + self.ptm_rate + self.priming_rate

    def outflow_rate(self) -> float:
        """Fluid leaving the reservoir now (mL/day): the motor rate × delivery factor, unless the
        catheter is blocked or the reservoir is truly empty."""
        if self.dry or self.t < self.occluded_until - TOLERANCE_DAYS:
            return 0.0
        return self.delivery_factor * self.motor_rate()

    def prescribed_rate(self) -> float:
        return self.basal_rate + self.periodic_rate + self.ptm_rate

    @property
    def withdrawable_ml(self) -> float:
        return max(0.0, self.reservoir.volume_ml - self.spec.nonretrievable_residual_ml)

    # ------------------------------------------------------------------ integration
    def advance(self, t_now: float) -> None:
        """Move every continuous quantity from ``self.t`` to ``t_now`` at the current rates."""
        t0 = self.t
        dt_days = t_now - t0
        if dt_days <= 0:
            return
        motor = self.motor_rate()
        if self.dry or t0 < self.occluded_until - TOLERANCE_DAYS:
            outflow = 0.0
        else:
            outflow = self.delivery_factor * motor
        reservoir = self.reservoir
        calc0, actual0 = self.calculated_ml, reservoir.volume_ml
        if self._next_sample <= t_now + TOLERANCE_DAYS:
            self._sample_until(t_now, calc0, actual0, motor, outflow)
        pumped = motor * dt_days
        self.calculated_ml = max(0.0, calc0 - pumped)
        self.programmed_since_fill_ml += pumped
        if self.bridge_left_ml > 0:
            self.bridge_left_ml = max(0.0, self.bridge_left_ml - pumped)
        if self.priming_left_ml > 0 and motor > 0 and not self.empty_mode:
            self.priming_left_ml = max(0.0, self.priming_left_ml - self.priming_rate * dt_days)
        volume = min(outflow * dt_days, actual0)
        comp = reservoir.draw(volume)
        mid = t0 + 0.5 * dt_days
        day = self._day if self._day_start <= mid < self._day_end else self._day_at(mid)
        assert day is not None
        ledger = self.ledger
        if volume > 0 and t0 < self.disconnected_until - TOLERANCE_DAYS:
            ledger.leaked_ml += volume
            _add(ledger.leaked_mg, comp, volume)
            tip_ml = 0.0
        elif volume > 0:
            tip_ml = volume
            tip_mg = self.dead.push(volume, comp)
            ledger.delivered_ml += tip_ml
            _add(ledger.delivered_mg, tip_mg)
            day.delivered_ml += tip_ml
            _add(day.dose_mg, tip_mg)
            bolus = self.bolus_rate()
            if bolus > 0:
                share = bolus / motor
                day.bolus_ml += tip_ml * share
                day.basal_ml += tip_ml * (1 - share)
                _add(day.bolus_dose_mg, tip_mg, share)
            else:
                day.basal_ml += tip_ml
        else:
            tip_ml = 0.0
        if tip_ml <= 0 and self.prescribed_rate() > 0:
            day.no_therapy_days += dt_days
        if (self._per_ml or self._housekeeping) and not self.eos:
            self.battery_used += (self._housekeeping + self._per_ml * motor) * dt_days
        self.t = t_now

    def _sample_until(
        self, t_now: float, calc0: float, actual0: float, motor: float, outflow: float
    ) -> None:
        """Record the grid samples ``k × interval`` in ``[self.t, t_now]`` (the volumes are
        linear in between). Every grid point later than the previous call's ``t_now`` is due."""
        interval = self.trace.samples.interval_days
        limit = min(t_now, self.trace.end_day) + TOLERANCE_DAYS
        k0 = round(self._next_sample / interval)
        k1 = math.floor(limit / interval)
        while (k1 + 1) * interval <= limit:
            k1 += 1
        while k1 * interval > limit:
            k1 -= 1
        nxt = (k1 + 1) * interval
        self._next_sample = math.inf if nxt > self.trace.end_day + TOLERANCE_DAYS else nxt
        if k1 < k0:
            return
        t0 = self.t
        days = [k * interval for k in range(k0, k1 + 1)]
        calc = [max(0.0, calc0 - motor * (d - t0)) for d in days]
        actual = [max(0.0, actual0 - outflow * (d - t0)) for d in days]
        sink = self.sample_sink
        if sink is not None:
            for row in zip(days, calc, actual, strict=True):
                sink(*row)
            return
        table = self.trace.samples
        table.day.extend(days)
        table.calculated_ml.extend(calc)
        table.actual_ml.extend(actual)

    sample_sink: Callable[[float, float, float], None] | None = None
    on_program_change: Callable[[], None] | None = None

    def _day_at(self, t: float) -> DaySummary:
        index = math.floor((self._origin_minute + t * MINUTES_PER_DAY) / MINUTES_PER_DAY)
        if index != self._day_index or self._day is None:
            self._day_index = index
            self._day_start = (index * MINUTES_PER_DAY - self._origin_minute) / MINUTES_PER_DAY
            self._day_end = ((index + 1) * MINUTES_PER_DAY - self._origin_minute) / MINUTES_PER_DAY
            date = self.origin.date() + dt.timedelta(days=index)
            if self.trace.daily and self.trace.daily[-1].date == date:
                self._day = self.trace.daily[-1]
            else:
                self._day = DaySummary(date=date)
                self.trace.daily.append(self._day)
        return self._day

    def next_midnight(self) -> float:
        index = math.floor(
            (self._origin_minute + self.t * MINUTES_PER_DAY) / MINUTES_PER_DAY + 1e-12
        )
        return ((index + 1) * MINUTES_PER_DAY - self._origin_minute) / MINUTES_PER_DAY

    # ------------------------------------------------------------------ crossings
    def next_crossing(self) -> float:
        """The earliest time a threshold or a running bolus/fault ends at the current rates."""
        t = self.t
        candidates = [self.next_midnight()]
        motor = self.motor_rate()
        if motor > 0:
            if (
                "low_reservoir" not in self._open_alarms
                and self.calculated_ml > self.low_reservoir_ml
                and self.low_reservoir_ml > 0
            ):
                candidates.append(t + (self.calculated_ml - self.low_reservoir_ml) / motor)
            if not self.empty_mode:
                candidates.append(
                    t + (self.calculated_ml - self.spec.empty_reservoir_threshold_ml) / motor
                )
            if self.bridge_left_ml > 0:
                candidates.append(t + self.bridge_left_ml / motor)
        if (
            self.priming_left_ml > 0
            and self.priming_rate > 0
            and not self.stopped()
            and not self.empty_mode
        ):
            candidates.append(t + self.priming_left_ml / self.priming_rate)
        outflow = self.outflow_rate()
        if outflow > 0:
            candidates.append(t + self.reservoir.volume_ml / outflow)
        if self.spec.battery is not None and not self.eos:
            if self.eri_day is None:
                drain = self._housekeeping + self._per_ml * motor
                if drain > 0:
                    candidates.append(t + max(0.0, 1.0 - self.battery_used) / drain)
            else:
                candidates.append(self.eri_day + self.spec.battery.eri_to_eos_days)
        for until in (
            self.ptm_until,
            self.stalled_until,
            self.occluded_until,
            self.disconnected_until,
        ):
            if until > t + TOLERANCE_DAYS:
                candidates.append(until)
        return max(t, min(candidates))

    def settle(self) -> None:
        """Apply every threshold reached at ``self.t`` (alarms, modes, ends of boluses)."""
        t = self.t
        if self.calculated_ml <= self.low_reservoir_ml + TOLERANCE_ML and self.low_reservoir_ml > 0:
            self.alarm_on("low_reservoir", calculated_ml=self.calculated_ml)
        if (
            not self.empty_mode
            and self.calculated_ml <= self.spec.empty_reservoir_threshold_ml + TOLERANCE_ML
        ):
            self.calculated_ml = max(self.calculated_ml, 0.0)
            self.empty_mode = True
            self.alarm_on("empty_reservoir", calculated_ml=self.calculated_ml)
            self.ptm_rate, self.ptm_until = 0.0, -math.inf
        if not self.dry and self.reservoir.volume_ml <= TOLERANCE_ML:
            self.reservoir.draw(self.reservoir.volume_ml)
            self.dry = True
            self.log("actual_dry", calculated_ml=round(self.calculated_ml, 9))
        if self.ptm_rate > 0 and t >= self.ptm_until - TOLERANCE_DAYS:
            self.ptm_rate, self.ptm_until = 0.0, -math.inf
            self.log("ptm_bolus_end")
        if self.priming_rate > 0 and self.priming_left_ml <= TOLERANCE_ML:
            self.priming_rate, self.priming_left_ml = 0.0, 0.0
            self.log("priming_bolus_end")
        if self.pending_program is not None and self.bridge_left_ml <= TOLERANCE_ML:
            program, self.pending_program = self.pending_program, None
            self.bridge_left_ml = 0.0
            self.log("bridge_bolus_end")
            self.set_program(program)
        if self.spec.battery is not None:
            if self.eri_day is None and self.battery_used >= 1.0 - 1e-12:
                self.eri_day = t
                self.alarm_on("elective_replacement", battery_used=round(self.battery_used, 6))
            if (
                self.eri_day is not None
                and not self.eos
                and t >= self.eri_day + self.spec.battery.eri_to_eos_days - TOLERANCE_DAYS
            ):
                self.eos = True
                self.alarm_on("end_of_service")
        if "motor_stall" in self._open_alarms and not self.stopped() and not self.eos:
            self.alarm_off("motor_stall")
            self.log("motor_restart")
        if self.occluded_until != -math.inf and t >= self.occluded_until - TOLERANCE_DAYS:
            self.occluded_until = -math.inf
            self.log("occlusion_end")
        if self.disconnected_until != -math.inf and t >= self.disconnected_until - TOLERANCE_DAYS:
            self.disconnected_until = -math.inf
            self.log("reconnection")

    # ------------------------------------------------------------------ log and alarms
    def log(self, kind: str, **detail: object) -> None:
        self.trace.events.append(Event(self.t, self.time(self.t), kind, dict(detail)))

    def time(self, day: float) -> dt.datetime:
        return self.origin + dt.timedelta(seconds=round(day * 86400.0))

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
        self.trace.alarms.append(record)
        self.log("alarm_on", alarm=name, severity=severity, **detail)

    def alarm_off(self, name: str) -> None:
        record = self._open_alarms.pop(name, None)
        if record is not None:
            record.off_day, record.off_time = self.t, self.time(self.t)
            self.log("alarm_off", alarm=name)

    # ------------------------------------------------------------------ interventions
    def set_program(self, program: Program) -> None:
        """Run ``program`` from now on; ``on_program_change`` tells the basal process."""
        self.program = program
        self.program_start_day = self.t
        self.log("program_active", mean_ml_per_day=round(program.mean_daily_volume_ml(), 9))
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
        expected = self.calculated_ml
        residual = self.spec.nonretrievable_residual_ml
        believed_total = expected + self.uncounted_residual_ml
        expected_withdrawable = max(0.0, believed_total - residual)
        withdrawn = self.withdrawable_ml
        comp_out = self.reservoir.draw(withdrawn)
        self.ledger.withdrawn_ml += withdrawn
        _add(self.ledger.withdrawn_mg, comp_out, withdrawn)
        if infusate is not None:
            self.infusate = infusate
        new_comp: Composition = self.infusate.concentrations()
        self.ledger.put_in_ml += fill_ml
        _add(self.ledger.put_in_mg, new_comp, fill_ml)
        if pocket_fill:
            self.ledger.pocket_ml += fill_ml
            _add(self.ledger.pocket_mg, new_comp, fill_ml)
        else:
            self.reservoir.add(fill_ml, new_comp)
        for name in new_comp:
            self.reservoir.mass_mg.setdefault(name, 0.0)
        record = RefillRecord(
            day=self.t,
            time=self.time(self.t),
            expected_ml=expected,
            expected_withdrawable_ml=expected_withdrawable,
            withdrawn_ml=withdrawn,
            discrepancy_ml=withdrawn - expected_withdrawable,
            fill_ml=fill_ml,
            entered_ml=entered_ml,
            pocket_fill=pocket_fill,
            programmed_since_last_ml=self.programmed_since_fill_ml,
        )
        self.trace.refills.append(record)
        self.calculated_ml = entered_ml
        self.uncounted_residual_ml = min(believed_total, residual)
        self.programmed_since_fill_ml = 0.0
        self.empty_mode = (
            self.calculated_ml <= self.spec.empty_reservoir_threshold_ml + TOLERANCE_ML
        )
        if self.dry and self.reservoir.volume_ml > 0:
            self.dry = False
            self.log("therapy_resumed")
        if self.calculated_ml > self.low_reservoir_ml:
            self.alarm_off("low_reservoir")
        if not self.empty_mode:
            self.alarm_off("empty_reservoir")
        self.log(
            "refill",
            expected_ml=round(expected, 9),
            withdrawn_ml=round(withdrawn, 9),
            discrepancy_ml=round(record.discrepancy_ml, 9),
            fill_ml=fill_ml,
            pocket_fill=pocket_fill,
            fluid=self.infusate.label(),
        )
        if pocket_fill:
            self.log(
                "pocket_fill",
                volume_ml=fill_ml,
                dose_mg={k: v * fill_ml for k, v in new_comp.items()},
            )
        return record

    def start_bridge(self, new_program: Program) -> None:
        """Keep the old program until the dead volume (old fluid) has been pumped out."""
        self.bridge_left_ml = self.therapy.dead_volume_ml
        self.pending_program = new_program
        self.log("bridge_bolus_start", volume_ml=round(self.bridge_left_ml, 9))

    def start_priming(self, new_catheter: bool) -> None:
        """Fill a drug-free dead volume with a bolus of exactly its volume."""
        if new_catheter:
            flushed = self.dead.flush_with({name: 0.0 for name in self.infusate.concentrations()})
            self.ledger.flushed_ml += self.dead.capacity_ml
            _add(self.ledger.flushed_mg, flushed)
            self.ledger.put_in_ml += self.dead.capacity_ml
        rate = self.spec.max_bolus_rate_ml_per_day or self.spec.max_rate_ml_per_day
        self.priming_rate = max(0.0, rate - self.basal_rate - self.periodic_rate)
        self.priming_left_ml = self.therapy.dead_volume_ml
        self.log("priming_bolus_start", volume_ml=round(self.priming_left_ml, 9))

    def start_ptm_bolus(self, settings: PtmSettings) -> None:
        self.ptm_rate = settings.rate_ml_per_day
        self.ptm_until = self.t + settings.duration_days

    def stall(self, until: float) -> None:
        if self.spec.mri.stalls or self.spec.mri.must_be_emptied:
            self.stalled_until = max(self.stalled_until, until)
            self.alarm_on("motor_stall")

    def balance(self) -> dict[str, object]:
        """Current ledger plus what is in reservoir and dead volume (see ``Trace.balance``)."""
        return {
            "reservoir_ml": self.reservoir.volume_ml,
            "dead_volume_ml": self.dead.volume_ml(),
            "reservoir_mg": dict(self.reservoir.mass_mg),
            "dead_volume_mg": self.dead.mass_mg(),
        }
