"""``pumpsim simulate``: run the discrete-event engine on one profile and show what happened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import console, user_errors
from pumpsim.core.about import DISCLAIMER
from pumpsim.core.jsonout import dumps
from pumpsim.core.units import format_mass_mg

if TYPE_CHECKING:
    from pumpsim.engine.summary import TraceSummary


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)


def simulate_command(
    profile: Path = typer.Argument(..., help="Patient profile YAML (may carry a timeline:)."),
    days: float = typer.Option(180.0, "--days", min=0.01, max=5490, help="Days to simulate."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed for the patient's PTM presses."),
    events: Path | None = typer.Option(None, "--events", help="Write the event log as CSV."),
    ptm: Path | None = typer.Option(
        None, "--ptm", help="Write the PTM log (every press and its decision) as CSV."
    ),
    timeline: Path | None = typer.Option(
        None, "--timeline", help="Write sampled calculated/actual volumes as CSV."
    ),
    daily: Path | None = typer.Option(None, "--daily", help="Write the daily summary as CSV."),
    sample_minutes: float = typer.Option(
        60.0, "--sample-minutes", min=1, max=43200, help="Sampling interval of --timeline."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole trace as JSON."),
) -> None:
    """Simulate one patient's pump minute by minute: alarms, supply, dose, PTM use.

    Planning and teaching simulator, not a medical device."""
    from pumpsim.core.clock import MINUTES_PER_DAY
    from pumpsim.engine import simulate
    from pumpsim.engine.summary import summarize_trace
    from pumpsim.io.profiles import load_profile
    from pumpsim.schedule.limits import enforce_dose_limits

    with user_errors():
        loaded = load_profile(profile)
        enforce_dose_limits(loaded.therapy, loaded.timeline, source=str(profile))
        trace = simulate(
            loaded.therapy,
            loaded.timeline,
            days=days,
            seed=seed,
            sample_every_days=sample_minutes / MINUTES_PER_DAY,
        )
        if events:
            trace.to_csv(events, "events")
        if ptm:
            trace.to_csv(ptm, "ptm")
        if timeline:
            trace.to_csv(timeline, "timeline")
        if daily:
            trace.to_csv(daily, "daily")
    if as_json:
        typer.echo(dumps(trace.to_dict()))
        return
    _render(summarize_trace(trace))


def _render(s: TraceSummary) -> None:
    console.print(
        f"[bold]{s.patient_id}[/]  {s.start:%Y-%m-%d %H:%M} → {s.end:%Y-%m-%d %H:%M}"
        f"  (delivery factor {s.delivery_factor:.3f})"
    )
    table = Table(title="Alarms", show_lines=False)
    for col in ("alarm", "class", "on", "off"):
        table.add_column(col)
    for a in s.alarms:
        off = f"{a.off_time:%Y-%m-%d %H:%M}" if a.off_time else "still on"
        table.add_row(a.name, a.severity, f"{a.on_time:%Y-%m-%d %H:%M}", off)
    if s.alarms:
        console.print(table)
    else:
        console.print("No alarms.")
    if s.days_of_supply is not None:
        console.print(f"First low-reservoir alarm after {s.days_of_supply:.2f} days")
    else:
        console.print("No low-reservoir alarm within the run")
    if s.actual_dry:
        console.print(f"[red]Reservoir actually ran dry: {s.actual_dry:%Y-%m-%d %H:%M}[/]")
    for name, mg in s.mean_dose_mg_per_day.items():
        unit = s.drug_units.get(name, "mg")
        dose = format_mass_mg(mg, unit, ".4g")
        console.print(f"Mean dose at the catheter tip: {name} {dose}/day")
    console.print(f"Mean delivered volume: {s.mean_delivered_ml_per_day:.4f} mL/day")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.ptm_denied_by_reason.items()))
    console.print(
        f"PTM: {s.ptm_granted} granted, {s.ptm_denied} denied"
        + (f" ({reasons})" if reasons else "")
    )
    console.print(f"Refills: {s.refills}; time without therapy: {s.no_therapy_hours:.2f} h")
    _render_refills(s)
    _render_stability(s)
    console.print(f"[dim]{DISCLAIMER}[/]")


_LEVEL_STYLE = {"ok": "green", "review": "yellow", "investigate": "bold red"}


def _render_refills(s: TraceSummary) -> None:
    """Each refill's volumes and the verdict on its discrepancy, with the likely cause."""
    if not s.refill_lines:
        return
    table = Table(title="Refills")
    table.add_column("time", no_wrap=True)
    for col in ("expected out mL", "withdrawn mL", "discrepancy mL", "verdict", "cause"):
        table.add_column(col)
    for r in s.refill_lines:
        table.add_row(
            f"{r.time:%Y-%m-%d %H:%M}",
            f"{r.expected_withdrawable_ml:.2f}",
            f"{r.withdrawn_ml:.2f}",
            f"{r.discrepancy_ml:+.2f}",
            f"[{_LEVEL_STYLE[r.level]}]{r.level}[/]",
            escape(r.cause or "-"),
        )
    console.print(table)
    for r in s.refill_lines:
        if r.level != "ok":
            console.print(f"  {r.time:%Y-%m-%d %H:%M} {r.level}: {escape(r.explanation)}")


def _render_stability(s: TraceSummary) -> None:
    for when in s.stability_exceeded:
        console.print(f"[red]Drug stability limit passed: {when:%Y-%m-%d %H:%M}[/]")
    if s.stability_limit is not None:
        console.print(
            f"Stability limit of the fill in the reservoir: {s.stability_limit:%Y-%m-%d %H:%M}"
        )
