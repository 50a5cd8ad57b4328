"""``pumpsim catalog pumps|drugs`` and ``pumpsim check PROFILE...``: look-ups and validation.

Rendering only: numbers come from the catalog models and ``pumpsim.forecast.summary``; masses
are shown in each drug's unit (``core.units.format_mass_mg``; JSON through the summary's
serializers). Dose-limit warnings go to stderr; a hard-limit dose exits 3
(``schedule.limits``), an invalid file 2; an overdue refill (``--as-of``) is reported on stdout.
"""

from __future__ import annotations

import datetime as dt
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import (
    console,
    err_console,
    exit_code,
    print_error,
    state,
    user_errors,
)
from pumpsim.core.about import DISCLAIMER
from pumpsim.core.errors import PumpsimError
from pumpsim.core.jsonout import dumps
from pumpsim.core.units import format_concentration, format_mass_mg

if TYPE_CHECKING:
    from pumpsim.forecast.summary import TherapySummary
    from pumpsim.models import DrugEntry, PumpSpec

catalog_app = typer.Typer(
    help="Show the pump catalog or the drug library (profiles/pumps, profiles/drugs).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``catalog`` and ``check`` to the root app."""
    app.add_typer(catalog_app, name="catalog")
    app.command(
        "check",
        help=f"Validate patient profiles and summarize each therapy.\n\n{DISCLAIMER}",
    )(check)


# ------------------------------------------------------------------ catalog
@catalog_app.command("pumps")
def catalog_pumps() -> None:
    """List the pump models: reservoir, rate range, accuracy, alarm threshold, flex steps."""
    from pumpsim.io.profiles import load_catalog

    with user_errors():
        catalog = load_catalog()
    table = Table(
        title=f"Pump catalog ({catalog.directory / 'pumps'})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    # widths fit an 80-column terminal; wider terminals get the same compact table
    table.add_column("key / name", min_width=21, max_width=34)
    table.add_column("reservoir / residual", max_width=10)
    table.add_column("basal rate mL/day", max_width=11)
    table.add_column("accuracy", justify="right", max_width=8)
    table.add_column("low-res. alarm mL default (range)", max_width=11)
    table.add_column("flex steps", justify="right", max_width=5)
    for key, pump in catalog.pumps.items():
        table.add_row(
            f"[bold]{key}[/]\n[dim]{pump.name}[/]",
            f"{pump.reservoir_ml:g} / {pump.nonretrievable_residual_ml:g} mL",
            _rate_range(pump),
            f"±{pump.rated_accuracy * 100:g} %",
            _alarm_range(pump),
            str(pump.max_flex_steps),
        )
    console.print(table)
    console.print("Sources and confidence of every value: docs/catalog.md")


@catalog_app.command("drugs")
def catalog_drugs() -> None:
    """List the drug library: concentrations, stability and daily-dose limits in the drug's unit."""
    from pumpsim.io.profiles import load_catalog

    with user_errors():
        catalog = load_catalog()
    table = Table(title=f"Drug library ({catalog.directory / 'drugs'})", box=box.SIMPLE_HEAD)
    table.add_column("key", no_wrap=True)
    table.add_column("typical conc.")
    table.add_column("max conc.")
    table.add_column("stability")
    table.add_column("daily limit soft / hard")
    for key, drug in catalog.drugs.items():
        unit = drug.mass_unit
        typical = ", ".join(
            format_mass_mg(c, unit).removesuffix(f" {unit}")
            for c in drug.typical_concentrations_mg_per_ml
        )
        table.add_row(
            key,
            f"{typical} {unit}/mL" if typical else "-",
            "-"
            if drug.max_concentration_mg_per_ml is None
            else format_concentration(drug.max_concentration_mg_per_ml, unit),
            _stability(drug),
            f"{_dose_rate(drug.soft_limit_mg_per_day, unit)} / "
            f"{_dose_rate(drug.hard_limit_mg_per_day, unit)}",
        )
    console.print(table)
    console.print("Doses in each drug's unit; sources and confidence: docs/catalog.md")


def _rate_range(pump: PumpSpec) -> str:
    if pump.kind == "constant-flow":
        return f"fixed {pump.min_rate_ml_per_day:g}"
    return f"{pump.min_rate_ml_per_day:g} to {pump.max_rate_ml_per_day:g}"


def _alarm_range(pump: PumpSpec) -> str:
    lra = pump.low_reservoir_alarm
    if lra is None:
        return "none"
    return f"{lra.default_ml:g} ({lra.min_ml:g} to {lra.max_ml:g})"


def _stability(drug: DrugEntry) -> str:
    text = f"{drug.stability_days:g} days"
    if drug.diluted_stability_days is not None and drug.stock_concentration_mg_per_ml:
        below = format_concentration(drug.stock_concentration_mg_per_ml, drug.mass_unit)
        text += f"; {drug.diluted_stability_days:g} days below {below}"
    if drug.first_fill_stability_days is not None:
        text += f"; {drug.first_fill_stability_days:g} days first fill"
    return text


def _dose_rate(mg_per_day: float | None, unit: str) -> str:
    return "-" if mg_per_day is None else f"{format_mass_mg(mg_per_day, unit)}/day"


# ------------------------------------------------------------------ check
def check(
    profiles: list[Path] = typer.Argument(  # noqa: B008 - typer's declaration style
        ..., help="Patient profile YAML files.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON lines."),
    as_of: dt.datetime | None = typer.Option(  # noqa: B008 - typer's declaration style
        None,
        "--as-of",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M"],
        help="Report refills due before this pump-clock time as overdue [default: now].",
        show_default=False,
    ),
) -> None:
    """Validate every profile (all errors are shown); exit 2 if any is invalid, 3 if any has a
    dose above a hard limit (3 wins)."""
    from pumpsim.io.profiles import load_catalog

    with user_errors():
        load_catalog()  # a broken catalog is one error, not one per profile
    now = as_of or dt.datetime.now().replace(second=0, microsecond=0)
    codes: list[int] = []
    for path in profiles:
        try:
            summary = _summarize(path)
        except PumpsimError as exc:
            codes.append(exit_code(exc))
            if state.debug:
                traceback.print_exc()
            print_error(exc)
            continue
        if as_json:
            typer.echo(dumps(_json(summary, now)))
        else:
            _render(path, summary, now)
        _print_warnings(summary)
    if not as_json:
        valid = len(profiles) - len(codes)
        console.print(
            f"{valid} of {len(profiles)} profile(s) valid.\n[dim]{DISCLAIMER}[/]", highlight=False
        )
    if codes:
        raise typer.Exit(max(codes))


def _summarize(path: Path) -> TherapySummary:
    """The profile's summary; a hard-limit error names the file and the patient."""
    from pumpsim.forecast.summary import summarize
    from pumpsim.io.profiles import load_profile
    from pumpsim.schedule.limits import DoseLimitError

    profile = load_profile(path)
    try:
        return summarize(profile.therapy, profile.timeline)
    except DoseLimitError as exc:
        raise DoseLimitError(f"{path} ({exc.source})", exc.warnings) from None


def _json(s: TherapySummary, as_of: dt.datetime) -> dict[str, Any]:
    """The summary as JSON (masses in each drug's unit) with ``as_of`` and ``overdue_since``."""
    from pumpsim.forecast.summary import overdue_since

    since = overdue_since(s, as_of)
    return {
        **s.model_dump(mode="json"),
        "as_of": as_of.isoformat(timespec="minutes"),
        "overdue_since": None if since is None else since.isoformat(timespec="minutes"),
    }


def _print_warnings(s: TherapySummary) -> None:
    """Dose-limit warnings on stderr: soft in yellow, overridden hard limits in red."""
    for w in s.warnings:
        style = "bold red" if w.level == "hard" else "yellow"
        err_console.print(f"[{style}]warning:[/] {escape(w.message)}", highlight=False)


def _render(path: Path, s: TherapySummary, as_of: dt.datetime) -> None:
    grid = Table(
        title=f"{escape(str(path))}: OK",
        title_justify="left",
        show_header=False,
        box=None,
        pad_edge=False,
    )
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("patient", escape(f"{s.patient_id}  {s.indication}".rstrip()))
    grid.add_row("pump", f"{s.pump_name} ({s.pump_key}), {s.reservoir_ml:g} mL")
    grid.add_row(
        "drugs",
        ", ".join(
            f"{d.name} {format_concentration(d.concentration_mg_per_ml, d.mass_unit)}"
            for d in s.drugs
        ),
    )
    grid.add_row("program", _program(s))
    grid.add_row("daily volume", f"{s.mean_daily_volume_ml:.4g} mL/day (mean programmed)")
    if abs(s.max_daily_volume_ml - s.mean_daily_volume_ml) > 1e-9:
        grid.add_row("", f"{s.max_daily_volume_ml:.4g} mL on the highest day")
    for d in s.drugs:
        grid.add_row(f"daily dose {d.name}", f"{_dose_rate(d.mean_daily_dose_mg, d.mass_unit)}")
    if s.ptm_max_volume_ml_per_day > 0:
        extra = ", ".join(
            f"{_dose_rate(d.ptm_max_dose_mg_per_day, d.mass_unit)} {d.name}" for d in s.drugs
        )
        grid.add_row("PTM max extra", f"{s.ptm_max_volume_ml_per_day:.4g} mL/day ({extra})")
    grid.add_row("state", f"{_time(s.state_time)}, calculated volume {s.calculated_volume_ml:g} mL")
    _alarm_rows(grid, s)
    grid.add_row(
        f"empty ({s.empty_threshold_ml:g} mL calculated)", _days(s.days_to_empty, s.empty_time)
    )
    grid.add_row(
        "drug stability limit",
        f"{_time(s.stability_limit_time)} (fill + {s.stability_days:g} days; "
        f"in {s.days_to_stability_limit:.1f} days)",
    )
    if s.elective_replacement_time is not None:
        grid.add_row("battery ERI", _time(s.elective_replacement_time))
    console.print(grid, highlight=False)
    if s.dose_limit_override is not None:
        console.print(
            f"[bold red]DOSE LIMITS OVERRIDDEN:[/] {escape(s.dose_limit_override)}",
            highlight=False,
        )
    from pumpsim.forecast.summary import overdue_since

    since = overdue_since(s, as_of)
    if since is not None:
        console.print(f"[bold red]OVERDUE:[/] {_overdue(s, since, as_of)}", highlight=False)
    console.print()


_FACTORS = {
    "low_reservoir_alarm": "low-reservoir alarm with every PTM bolus",
    "empty_reservoir": "calculated empty",
    "stability": "drug stability limit",
    "elective_replacement": "battery ERI",
}


def _overdue(s: TherapySummary, since: dt.datetime, as_of: dt.datetime) -> str:
    days = (as_of - since) / dt.timedelta(days=1)
    return (
        f"the refill was due by {_time(since)} ({_FACTORS[s.refill_limit_factor]}), "
        f"{days:.1f} days before {_time(as_of)}; refill now"
    )


def _alarm_rows(grid: Table, s: TherapySummary) -> None:
    """The low-reservoir alarm (with every PTM bolus, with its date) and, for a pump whose
    controller dates the next refill itself (Prometra), that date."""
    if s.low_reservoir_alarm_ml is None:
        grid.add_row("low-reservoir alarm", "none on this pump")
    else:
        grid.add_row(
            f"low-reservoir alarm ({s.low_reservoir_alarm_ml:g} mL)",
            _days(s.days_to_low_reservoir, s.low_reservoir_time),
        )
        if s.ptm_max_volume_ml_per_day > 0:
            grid.add_row(
                "  with every PTM bolus",
                _days(s.days_to_low_reservoir_all_ptm, s.low_reservoir_all_ptm_time),
            )
    if s.controller_next_refill_ml is not None:
        grid.add_row(
            "Prometra next refill",
            f"{_days(s.days_to_controller_next_refill, s.controller_next_refill_time)} "
            f"({s.controller_next_refill_ml:g} mL, every bolus taken)",
        )


def _program(s: TherapySummary) -> str:
    if s.program_mode == "simple":
        text = "simple continuous"
    else:
        text = f"flex, up to {s.flex_steps_per_day} steps per day"
    if s.periodic_bolus_count:
        text += f", {s.periodic_bolus_count} periodic bolus(es)"
    return text


def _days(days: float | None, when: dt.datetime | None) -> str:
    if days is None or when is None:
        return "not reached within 20 years"
    return f"{days:.1f} days, {_time(when)}"


def _time(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")
