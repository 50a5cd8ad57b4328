"""A readable digest of a ``Trace``: alarms with dates, days of supply, dose per day, PTM use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pumpsim.engine.trace import Trace


@dataclass(frozen=True)
class AlarmLine:
    name: str
    severity: str
    on_time: dt.datetime
    off_time: dt.datetime | None
    day: float


@dataclass(frozen=True)
class RefillLine:
    """One refill as the summary shows it (mL) with the verdict on its discrepancy."""

    time: dt.datetime
    expected_withdrawable_ml: float
    withdrawn_ml: float
    discrepancy_ml: float
    level: str
    cause: str | None
    explanation: str


@dataclass(frozen=True)
class TraceSummary:
    """What a clinician wants from a run. Doses are mg/day at the catheter tip (full days only)."""

    patient_id: str
    start: dt.datetime
    end: dt.datetime
    delivery_factor: float
    alarms: tuple[AlarmLine, ...]
    actual_dry: dt.datetime | None
    days_of_supply: float | None
    """Days from the start until the low-reservoir alarm (``None`` if it never sounded)."""
    mean_dose_mg_per_day: dict[str, float]
    mean_delivered_ml_per_day: float
    ptm_granted: int
    ptm_denied: int
    ptm_denied_by_reason: dict[str, int]
    refills: int
    no_therapy_hours: float
    drug_units: dict[str, str]
    refill_lines: tuple[RefillLine, ...] = ()
    stability_exceeded: tuple[dt.datetime, ...] = ()
    """When the fluid in the reservoir passed its stability limit (``drug_stability_exceeded``)."""
    stability_limit: dt.datetime | None = None
    """The stability limit of the fill in the reservoir at the end of the run."""


def summarize_trace(trace: Trace) -> TraceSummary:
    """Digest ``trace``. Mean doses use the run's complete calendar days
    (``Trace.complete_days``), or every day of a run shorter than one."""
    full_days = trace.complete_days() or trace.daily
    n = max(1, len(full_days))
    doses: dict[str, float] = {}
    for d in full_days:
        for name, mg in d.dose_mg.items():
            doses[name] = doses.get(name, 0.0) + mg / n
    reasons: dict[str, int] = {}
    for press in trace.ptm_presses:
        if press.decision != "granted":
            reasons[press.decision] = reasons.get(press.decision, 0) + 1
    lra = trace.first_alarm("low_reservoir")
    dry = trace.first_event("actual_dry")
    return TraceSummary(
        patient_id=trace.patient_id,
        start=trace.origin,
        end=trace.origin + dt.timedelta(days=trace.end_day),
        delivery_factor=trace.delivery_factor,
        alarms=tuple(
            AlarmLine(a.name, a.severity, a.on_time, a.off_time, a.on_day) for a in trace.alarms
        ),
        actual_dry=dry.time if dry else None,
        days_of_supply=lra.on_day if lra else None,
        mean_dose_mg_per_day=doses,
        mean_delivered_ml_per_day=sum(d.delivered_ml for d in full_days) / n,
        ptm_granted=sum(1 for p in trace.ptm_presses if p.decision == "granted"),
        ptm_denied=sum(reasons.values()),
        ptm_denied_by_reason=reasons,
        refills=len(trace.refills),
        no_therapy_hours=trace.no_therapy_days() * 24,
        drug_units=dict(trace.drug_units),
        refill_lines=tuple(
            RefillLine(
                r.time,
                r.expected_withdrawable_ml,
                r.withdrawn_ml,
                r.discrepancy_ml,
                r.verdict.level,
                r.verdict.cause,
                r.verdict.explanation,
            )
            for r in trace.refills
        ),
        stability_exceeded=tuple(e.time for e in trace.events_of("drug_stability_exceeded")),
        stability_limit=_limit(trace),
    )


def _limit(trace: Trace) -> dt.datetime | None:
    fill = trace.current_fill()
    return None if fill is None else fill.stability_limit
