"""``pumpsim plan ROSTER``: a clinic's refill schedule, with exports and a summary.

Rendering only: the calendar, windows and assignment come from ``pumpsim.clinic``. A roster
patient with a dose above a hard limit stops the plan (exit 3, ``plan_clinic``); overdue
patients are listed as URGENT bookings.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import console, progress_display, user_errors
from pumpsim.cli._lazy import library
from pumpsim.core.about import DISCLAIMER
from pumpsim.core.errors import Problem, ProfileError

if TYPE_CHECKING:
    from pumpsim.clinic.calendar import ClinicCalendar
    from pumpsim.clinic.results import Plan
    from pumpsim.clinic.windows import WindowSource
    from pumpsim.forecast import batch
    from pumpsim.io.roster import Roster
else:
    batch = library("pumpsim.forecast.batch")  # --workers up to batch.MAX_WORKERS

MAX_PLAN_RUNS = 100_000
"""The most Monte Carlo runs per patient a plan's forecasts use (a roster may hold 10,000)."""


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the root app."""
    app.command("plan", help=f"Plan refill appointments for a clinic roster.\n\n{DISCLAIMER}")(plan)


def plan(
    roster: Annotated[
        Path,
        typer.Argument(help="Roster CSV, YAML or FHIR Bundle .json (docs/planning.md, fhir.md)."),
    ],
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First day.")],
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=156, help="Horizon in weeks.")] = 13,
    capacity: Annotated[
        int, typer.Option("--capacity", min=0, max=1000, help="Refills per open day.")
    ] = 8,
    country: Annotated[
        str | None, typer.Option("--country", help="Public holidays of this country (e.g. DE).")
    ] = None,
    subdiv: Annotated[
        str | None, typer.Option("--subdiv", help="Holiday subdivision (e.g. BY).")
    ] = None,
    open_days: Annotated[str, typer.Option("--open-days", help="Clinic weekdays.")] = "mon-fri",
    opens: Annotated[str, typer.Option("--opens", help="Opening time HH:MM.")] = "08:00",
    closes: Annotated[str, typer.Option("--closes", help="Closing time HH:MM.")] = "16:00",
    slot: Annotated[int, typer.Option("--slot-minutes", min=5, max=480, help="Slot minutes.")] = 30,
    closed: Annotated[
        list[dt.datetime] | None,
        typer.Option("--closed", formats=["%Y-%m-%d"], help="A closure date (repeatable)."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            help="The clinic's IANA time zone, e.g. Europe/Berlin (default: the roster's, else "
            "the country's when it has one; needed for --ics and --fhir).",
        ),
    ] = None,
    risk: Annotated[
        float, typer.Option("--risk", min=1e-6, max=0.5, help="Accepted risk of a late refill.")
    ] = 0.01,
    runs: Annotated[
        int,
        typer.Option("--runs", min=10, max=MAX_PLAN_RUNS, help="Monte Carlo runs/forecast."),
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same plan).")] = 0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=batch.MAX_WORKERS, help="Forecast processes (default: cores)."
        ),
    ] = None,
    windows: Annotated[
        str, typer.Option("--windows", help="forecast, or schedule (deterministic, quick).")
    ] = "forecast",
    previous: Annotated[
        Path | None, typer.Option("--previous", help="Earlier plan JSON: keep safe bookings.")
    ] = None,
    ics: Annotated[Path | None, typer.Option("--ics", help="Write an iCalendar file.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write the plan as CSV.")] = None,
    save: Annotated[Path | None, typer.Option("--save", help="Write the plan as JSON.")] = None,
    worklist: Annotated[
        Path | None, typer.Option("--worklist", help="Write a per-day worklist.")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write the plan as one self-contained HTML page."),
    ] = None,
    fhir: Annotated[
        Path | None, typer.Option("--fhir", help="Write a FHIR R4 Bundle (docs/fhir.md).")
    ] = None,
    names: Annotated[bool, typer.Option("--names", help="Patient names in exports.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Plan refills for ROSTER from --start over --weeks."""
    from pumpsim.clinic import export
    from pumpsim.io.roster import load_roster

    with user_errors():
        if windows not in ("forecast", "schedule"):
            raise ProfileError("--windows", [Problem("--windows", windows, "forecast or schedule")])
        patients = load_roster(roster)
        calendar = _calendar(
            start,
            weeks,
            open_days=open_days,
            opens=opens,
            closes=closes,
            slot=slot,
            capacity=capacity,
            country=country,
            subdiv=subdiv,
            closed=closed,
            timezone=timezone or patients.timezone,  # the option, else the roster's, else
        )  # the country's (ClinicCalendar)
        if ics is not None or fhir is not None:
            calendar.tz  # noqa: B018 - zoned exports need the clinic's zone: ask before planning
        result = _make_plan(
            patients, calendar, windows, previous, risk, runs, seed, workers, quiet=as_json
        )
        export.write_plan_files(
            result,
            json_path=save,
            csv_path=csv_path,
            ics_path=ics,
            worklist_path=worklist,
            fhir=None if fhir is None else (fhir, patients, calendar),
            include_names=names,
        )
        if report is not None:
            from pumpsim.report.plan_report import write_plan_report  # loads jinja2 only now

            write_plan_report(result, calendar, report)
    if as_json:
        typer.echo(export.plan_json(result, include_names=names), nl=False)
        return
    _summary(result, calendar)


def _calendar(
    start: dt.datetime,
    weeks: int,
    *,
    open_days: str,
    opens: str,
    closes: str,
    slot: int,
    capacity: int,
    country: str | None,
    subdiv: str | None,
    closed: list[dt.datetime] | None,
    timezone: str | None,
) -> ClinicCalendar:
    """The clinic calendar the options describe (validated by ``pumpsim.clinic``)."""
    from pumpsim.clinic.calendar import calendar_from_dict

    return calendar_from_dict(
        {
            "start": start.date(),
            "end": start.date() + dt.timedelta(weeks=weeks, days=-1),
            "open_weekdays": open_days,
            "opens": opens,
            "closes": closes,
            "slot_minutes": slot,
            "capacity_per_day": capacity,
            "country": country,
            "subdivision": subdiv,
            "closures": frozenset(d.date() for d in closed or ()),
            "timezone": timezone,
        },
        source="command line",
    )


def _make_plan(
    patients: Roster,
    calendar: ClinicCalendar,
    windows: str,
    previous: Path | None,
    risk: float,
    runs: int,
    seed: int,
    workers: int | None,
    *,
    quiet: bool,
) -> Plan:
    """Plan the roster (keeping an earlier plan's bookings) with the chosen window source."""
    from pumpsim.clinic.windows import ForecastWindowSource, ScheduleWindowSource

    before = _read_previous(previous) if previous else None
    if windows == "schedule":
        return _run(patients, calendar, ScheduleWindowSource(), before, quiet)
    with ForecastWindowSource(risk=risk, runs=runs, seed=seed, workers=workers) as fws:
        return _run(patients, calendar, fws, before, quiet)


def _read_previous(path: Path) -> Plan:
    from pumpsim.clinic.results import Plan

    try:
        return Plan.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ProfileError(
            str(path), [Problem("plan", path.name, f"a plan JSON ({exc})")]
        ) from None


def _run(
    patients: Roster,
    calendar: ClinicCalendar,
    source: WindowSource,
    before: Plan | None,
    quiet: bool,
) -> Plan:
    from pumpsim.clinic.planner import plan_clinic

    with progress_display(show=not quiet and len(patients) >= 20) as bar:
        tasks = {
            "forecast": bar.add_task("forecasting", total=len(patients)),
            "plan": bar.add_task("planning days", total=len(calendar.open_days)),
        }

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(tasks[phase], completed=done, total=total)

        return plan_clinic(patients, calendar, source, previous=before, progress=progress)


def _summary(result: Plan, calendar: ClinicCalendar) -> None:
    per_day = result.per_day()
    console.print(
        f"[bold]{len(result.appointments)} refills[/] for "
        f"{len({a.patient_id for a in result.appointments})} patients, "
        f"{result.start} to {result.end} ({escape(result.window_source)})"
    )
    table = Table(title="Appointments per day", box=box.SIMPLE_HEAD)
    table.add_column("date")
    table.add_column("refills", justify="right")
    table.add_column("tightest patient")
    for day, appointments in per_day.items():
        tight = min(appointments, key=lambda a: (a.slack_days, a.patient_id))
        table.add_row(
            f"{day:%a} {day}",
            f"{len(appointments)}/{calendar.capacity(appointments[0].pool)}"
            if calendar.pool_by is None
            else str(len(appointments)),
            f"{tight.patient_id} (slack {tight.slack_days} d)",
        )
    console.print(table)
    tightest = Table(title="Tightest refills", box=box.SIMPLE_HEAD)
    for column in ("patient", "date", "refill by", "slack", "limited by"):
        tightest.add_column(column)
    for a in result.tightest(5):
        tightest.add_row(
            a.patient_id, str(a.date), str(a.window_latest), f"{a.slack_days} d", a.limiting_factor
        )
    console.print(tightest)
    if result.closed_days:
        console.print(
            "Closed: " + ", ".join(f"{d} ({escape(r)})" for d, r in result.closed_days.items())
        )
    _urgent(result)
    if result.unplaceable:
        console.print(f"[bold red]{len(result.unplaceable)} refill(s) at risk: not placed[/]")
        for u in result.unplaceable:
            console.print(
                f"  {u.patient_id} refill by {u.window_latest}: {escape(u.reason)}\n"
                f"    best option: {escape(u.best_option)}"
            )
    else:
        console.print("[green]Every refill due in the horizon is placed.[/]")
    moved = [a for a in result.appointments if a.previous_start is not None]
    for a in moved:
        console.print(
            f"moved {a.patient_id}: {a.previous_start:%Y-%m-%d %H:%M} -> {a.start:%Y-%m-%d %H:%M}"
            f" ({escape(a.change_reason or '')})"
        )
    console.print(f"{len(result.next_due)} refill window(s) open after the horizon.")


def _urgent(result: Plan) -> None:
    """Overdue patients, booked on the first open day with room: one red line each."""
    urgent = [a for a in result.appointments if a.urgent]
    if not urgent:
        return
    console.print(
        f"[bold red]{len(urgent)} URGENT refill(s): overdue at the plan start, booked on the "
        "first open day with room[/]"
    )
    for a in urgent:
        console.print(
            f"  URGENT {a.patient_id} {a.start:%Y-%m-%d %H:%M}: "
            f"{escape(a.urgent_reason or 'overdue')}",
            highlight=False,
        )
