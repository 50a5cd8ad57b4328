"""The story of a run in plain sentences, generated from the trace (no number written by hand)."""

from __future__ import annotations

from collections.abc import Callable

from pumpsim.core.units import format_mass_mg
from pumpsim.engine import Event, Trace
from pumpsim.schedule.segments import mean_daily_volume_ml
from pumpsim.teaching.scenarios import ScenarioResult

__all__ = ["narrative"]


def _at(e: Event) -> str:
    return f"{e.time:%Y-%m-%d %H:%M} (day {e.day:.2f})"


def _sentence(e: Event, trace: Trace) -> str | None:
    """The sentence telling ``e``, or ``None`` for an event the story leaves out."""
    for tell in _TELLERS:
        text = tell(e, trace)
        if text is not None:
            return text
    return None


def _alarm_sentence(e: Event, trace: Trace) -> str | None:
    """An alarm starting or clearing."""
    d = e.detail
    if e.kind == "alarm_on":
        name = str(d.get("alarm", "")).replace("_", " ")
        calc = d.get("calculated_ml")
        extra = f" with {calc:.2f} mL calculated" if isinstance(calc, float) else ""
        return f"{_at(e)}: the {d.get('severity', '')} {name} alarm starts{extra}."
    if e.kind == "alarm_off":
        return f"{_at(e)}: the {str(d.get('alarm', '')).replace('_', ' ')} alarm clears."
    return None


def _reservoir_sentence(e: Event, trace: Trace) -> str | None:
    """The reservoir running dry, being refilled (or pocket-filled), and therapy resuming."""
    d = e.detail
    kind = e.kind
    if kind == "actual_dry":
        return (
            f"{_at(e)}: the reservoir is actually empty while the pump still calculates "
            f"{float(d.get('calculated_ml', 0.0)):.2f} mL — no drug reaches the patient now."
        )
    if kind == "refill":
        return (
            f"{_at(e)}: refill — expected to withdraw "
            f"{float(d['expected_withdrawable_ml']):.2f} mL, withdrew "
            f"{float(d['withdrawn_ml']):.2f} mL "
            f"(discrepancy {float(d['discrepancy_ml']):+.2f} mL), "
            f"filled {float(d['fill_ml']):g} mL of {d.get('fluid', 'drug')}."
            f"{_verdict_clause(e, trace)}"
        )
    if kind == "drug_stability_exceeded":
        return (
            f"{_at(e)}: the fluid filled {d['filled_at']:%Y-%m-%d %H:%M} passes its "
            f"{float(d['stability_days']):g}-day stability limit with "
            f"{float(d['reservoir_ml']):.2f} mL still in the reservoir."
        )
    if kind == "pocket_fill":
        doses = d.get("dose_mg", {})
        dose = ", ".join(
            f"{format_mass_mg(float(v), trace.drug_units.get(k, 'mg'))} {k}"
            for k, v in doses.items()
        )
        return (
            f"{_at(e)}: POCKET FILL — {float(d['volume_ml']):g} mL ({dose}) went into the pocket."
        )
    if kind == "therapy_resumed":
        return f"{_at(e)}: drug is back in the reservoir; therapy resumes."
    return None


def _pump_sentence(e: Event, trace: Trace) -> str | None:
    """A program becoming active, an MRI scan, and the motor restarting after it."""
    kind = e.kind
    if kind == "program_active":
        return (
            f"{_at(e)}: a program of {float(e.detail['mean_ml_per_day']):.3f} mL/day "
            "becomes active."
        )
    if kind == "mri_start":
        return f"{_at(e)}: MRI scan of {float(e.detail['duration_min']):g} min begins."
    if kind == "mri_end":
        return f"{_at(e)}: MRI scan ends."
    if kind == "motor_restart":
        return f"{_at(e)}: the motor restarts — interrogate the pump to confirm."
    return None


def _bolus_sentence(e: Event, trace: Trace) -> str | None:
    """A priming or bridge bolus starting, ending or being cancelled."""
    kind = e.kind
    if kind in ("priming_bolus_start", "bridge_bolus_start"):
        what = "priming" if kind.startswith("priming") else "bridge"
        return f"{_at(e)}: {what} bolus of {float(e.detail['volume_ml']):.3f} mL starts."
    if kind in ("priming_bolus_end", "bridge_bolus_end"):
        return f"{_at(e)}: {'priming' if kind.startswith('priming') else 'bridge'} bolus ends."
    if kind == "bridge_bolus_cancelled":
        return (
            f"{_at(e)}: the pump is reprogrammed during the bridge bolus, which is cancelled "
            f"with {float(e.detail['left_ml']):.3f} mL still to go."
        )
    return None


def _catheter_sentence(e: Event, trace: Trace) -> str | None:
    """The catheter occluding, clearing or disconnecting."""
    if e.kind == "occlusion_start":
        return f"{_at(e)}: the catheter is occluded — the pump counts, nothing flows."
    if e.kind == "occlusion_end":
        return f"{_at(e)}: the occlusion clears."
    if e.kind == "disconnection":
        return (
            f"{_at(e)}: the catheter is disconnected — drug leaves the pump but not intrathecally."
        )
    return None


_TELLERS: tuple[Callable[[Event, Trace], str | None], ...] = (
    _alarm_sentence,
    _reservoir_sentence,
    _pump_sentence,
    _bolus_sentence,
    _catheter_sentence,
)
"""The sentence makers, each for its own event kinds (``_sentence`` asks them in turn)."""


def _verdict_clause(e: Event, trace: Trace) -> str:
    """The verdict on the refill at ``e`` in words (empty when the discrepancy is ok)."""
    record = next((r for r in trace.refills if abs(r.day - e.day) < 1e-9), None)
    if record is None or record.verdict.level == "ok":
        return ""
    verdict = record.verdict
    return f" Verdict: {verdict.level.upper()} ({verdict.cause}) — {verdict.explanation}."


def narrative(result: ScenarioResult) -> list[str]:
    """Sentences in time order: the start, each notable event, and the totals."""
    trace = result.trace
    therapy = result.scenario.profile.therapy
    state = therapy.state
    lines = [
        f"{trace.origin:%Y-%m-%d %H:%M}: the run starts with {state.calculated_volume_ml:g} mL "
        f"calculated in a {therapy.pump.name} ({therapy.infusate.label()}), "
        f"programmed at {mean_daily_volume_ml(therapy.program):.3f} mL/day on average."
    ]
    for event in trace.events:
        text = _sentence(event, trace)
        if text:
            lines.append(text)
    granted = sum(d.ptm_granted for d in trace.daily)
    denied = sum(d.ptm_denied for d in trace.daily)
    if granted or denied:
        lines.append(f"Over the run the PTM granted {granted} boluses and denied {denied} presses.")
    gap_h = 24 * trace.no_therapy_days()
    lines.append(
        f"In {trace.end_day:g} simulated days the patient spent {gap_h:.1f} h without drug at "
        "the catheter tip while the program asked for some."
    )
    return lines
