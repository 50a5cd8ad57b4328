"""Run one pump and patient through a timeline: ``simulate(therapy, timeline, days=, seed=)``."""

from __future__ import annotations

import numpy as np

from pumpsim.core.clock import MINUTES_PER_DAY, to_days
from pumpsim.core.errors import SimulationError
from pumpsim.engine.flowlog import SampleSink
from pumpsim.engine.processes import (
    Clock,
    Environment,
    basal_schedule,
    interventions,
    patient,
)
from pumpsim.engine.pump import PumpModel
from pumpsim.engine.trace import Balance, Trace
from pumpsim.models import PtmDemand, Therapy
from pumpsim.models.timeline import PtmChange, Timeline
from pumpsim.schedule.limits import enforce_dose_limits
from pumpsim.schedule.presses import press_times

MAX_DAYS = 366 * 15


def simulate(
    therapy: Therapy,
    timeline: Timeline | None = None,
    *,
    days: float = 180.0,
    seed: int | None = 0,
    sample_every_days: float = 1 / 24,
    delivery_factor: float | None = None,
    on_samples: SampleSink | None = None,
) -> Trace:
    """Simulate ``days`` days from ``therapy.state.time`` and return the ``Trace``.

    ``delivery_factor`` (actual/programmed) defaults to ``therapy.delivery_factor`` or 1.0.
    PTM presses come from ``therapy.demand`` drawn with ``seed`` (same seed → same trace).
    ``on_samples(day, calculated_ml, actual_ml)`` receives the samples instead of the trace
    storing them: NumPy arrays (days since origin, mL), a batch at a time in time order, so
    memory does not grow with the sampled timeline. A dose above a drug's hard limit, now or
    in the timeline, raises ``DoseLimitError`` unless the profile overrides it.
    """
    if not 0 < days <= MAX_DAYS:
        raise SimulationError(f"days: got {days}; allowed: more than 0 and at most {MAX_DAYS}")
    if not 1 / MINUTES_PER_DAY <= sample_every_days <= 30:
        raise SimulationError(
            f"sample interval: got {sample_every_days} days; allowed: 1 minute to 30 days"
        )
    factor = delivery_factor if delivery_factor is not None else therapy.delivery_factor or 1.0
    if not 0.5 < factor < 1.5:
        raise SimulationError(f"delivery_factor: got {factor}; allowed: between 0.5 and 1.5")
    timeline = timeline or Timeline()
    enforce_dose_limits(therapy, timeline)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    trace = Trace(
        patient_id=therapy.patient_id,
        origin=therapy.state.time,
        end_day=float(days),
        seed=seed,
        delivery_factor=factor,
        drug_units={d.name: d.mass_unit for d in therapy.infusate.drugs},
    )
    trace.samples.interval_days = sample_every_days
    pump = PumpModel(therapy, trace, factor, sample_sink=on_samples)
    env = Environment()
    clock = Clock(env, pump, float(days))
    basal = env.process(basal_schedule(env, pump, clock, float(days)))

    def _restart_basal() -> None:
        if basal.is_alive and basal is not env.active_process:
            basal.interrupt()

    pump.on_program_change = _restart_basal
    presses = patient_press_times(therapy, timeline, float(days), rng)
    if presses:
        env.process(patient(env, pump, clock, presses))
    env.process(interventions(env, pump, clock, timeline))
    env.run_until(float(days) + 1e-9)
    pump.advance(float(days))
    pump.settle()
    pump.flows.flush(pump.t)
    pump.flows.count_presses(trace.presses)
    trace.balance = _balance(pump)
    _release(env, pump, clock)
    return trace


def _release(env: Environment, pump: PumpModel, clock: Clock) -> None:
    """Break the finished run's reference cycles, so reference counting frees its objects at
    once instead of leaving them for the cyclic garbage collector (whose passes over them cost
    more than the run's own bookkeeping): the events still queued hold processes whose frames
    hold the environment, the pump's program callback holds the basal process, and the
    clock's timer callback is its own bound method."""
    env._queue.clear()
    pump.on_program_change = None
    clock.release()


def patient_press_times(
    therapy: Therapy, timeline: Timeline, end_day: float, rng: np.random.Generator
) -> list[float]:
    """Press times (days since ``therapy.state.time``, sorted) over ``[0, end_day)``.

    The therapy's demand holds from the start until a ``PtmChange`` brings another (``demand``
    on the entry); each period's presses are drawn in time order from ``rng``, so a run without
    such entries draws exactly as before they existed."""
    origin = therapy.state.time
    periods: list[tuple[float, PtmDemand]] = []
    if therapy.demand is not None:
        periods.append((0.0, therapy.demand))
    for entry in timeline.entries:
        if isinstance(entry, PtmChange) and entry.demand is not None:
            periods.append((to_days(origin, entry.at), entry.demand))
    presses: list[float] = []
    for i, (start, demand) in enumerate(periods):
        end = min(periods[i + 1][0], end_day) if i + 1 < len(periods) else end_day
        if end <= start:
            continue
        drawn = press_times(demand, origin, end, rng)[0]
        presses.extend(drawn[np.isfinite(drawn) & (drawn >= start)].tolist())
    return sorted(presses)


def _balance(pump: PumpModel) -> Balance:
    ledger = pump.ledger
    return Balance(
        put_in_ml=ledger.put_in_ml,
        delivered_ml=ledger.delivered_ml,
        reservoir_ml=pump.reservoir.volume_ml,
        dead_volume_ml=pump.dead.volume_ml(),
        withdrawn_ml=ledger.withdrawn_ml,
        leaked_ml=ledger.leaked_ml,
        pocket_ml=ledger.pocket_ml,
        flushed_ml=ledger.flushed_ml,
        put_in_mg=dict(ledger.put_in_mg),
        delivered_mg=dict(ledger.delivered_mg),
        reservoir_mg=dict(pump.reservoir.mass_mg),
        dead_volume_mg=pump.dead.mass_mg(),
        withdrawn_mg=dict(ledger.withdrawn_mg),
        leaked_mg=dict(ledger.leaked_mg),
        pocket_mg=dict(ledger.pocket_mg),
        flushed_mg=dict(ledger.flushed_mg),
    )
