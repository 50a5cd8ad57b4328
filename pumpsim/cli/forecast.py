"""``pumpsim forecast``: refill-by dates with their uncertainty, per patient profile.

Rendering only: the press-log window comes from ``pumpsim.forecast.press_window``, the fan chart
from ``pumpsim.report.fan`` (imported only when a plot is asked for, so matplotlib is too).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import console, err_console, progress_bar, user_errors
from pumpsim.cli._lazy import library
from pumpsim.core.atomic import OutputError
from pumpsim.core.jsonout import dumps

if TYPE_CHECKING:
    from pumpsim.forecast import EventForecast, Forecast, batch, probabilistic
    from pumpsim.forecast.calibration import DemandEstimate
    from pumpsim.forecast.visit import SheetCalibration
    from pumpsim.models import Therapy
else:  # the bounds of --runs and --workers, read when this command is built
    batch = library("pumpsim.forecast.batch")
    probabilistic = library("pumpsim.forecast.probabilistic")

# about 2 s of trajectories: a forecast this big shows a progress bar (on a terminal)
LONG_RUN_TRAJECTORIES = 200_000


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` command to ``app``."""
    app.command("forecast")(forecast_command)


def forecast_command(
    profiles: Annotated[list[Path], typer.Argument(help="Patient profile YAML files.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Forecast time on the pump clock, e.g. 2026-03-02T08:00, or 'state' for the "
            "profile's pump state (default: now). The profile's timeline before it sets the "
            "state; entries after it change the forecast.",
        ),
    ] = None,
    runs: Annotated[
        int,
        typer.Option("--runs", min=1, max=probabilistic.MAX_RUNS, help="Monte Carlo trajectories."),
    ] = 10_000,
    risk: Annotated[
        float, typer.Option("--risk", min=0.0001, max=0.5, help="Accepted risk (0-1).")
    ] = 0.01,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per patient, one per line.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a fan chart (.png or .svg).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=batch.MAX_WORKERS, help="Processes (default: all cores)."
        ),
    ] = None,
    ptm_log: Annotated[
        Path | None,
        typer.Option(
            "--ptm-log",
            help="CSV with a time column: every PTM press (granted or denied), e.g. from "
            "pumpsim simulate --ptm or the therapy manager. The patient's demand is estimated "
            "from it instead of the profile's. One profile only.",
        ),
    ] = None,
    ptm_log_from: Annotated[
        str | None,
        typer.Option(
            "--ptm-log-from",
            help="Start of the logged span (default: midnight before the first press); "
            "it ends at the pump state.",
        ),
    ] = None,
    fhir: Annotated[
        Path | None,
        typer.Option("--fhir", help="Write the forecasts as a FHIR R4 Bundle (docs/fhir.md)."),
    ] = None,
    refills: Annotated[
        Path | None,
        typer.Option(
            "--refills",
            help="Refill sheet CSV (time, withdrawn, filled; optional concentration, program): "
            "each visit's discrepancy is judged and the delivery factor calibrated from them. "
            "One profile only.",
        ),
    ] = None,
) -> None:
    """Forecast when each patient must be refilled."""
    from pumpsim.forecast import forecast_many
    from pumpsim.io.profiles import load_profile
    from pumpsim.schedule.limits import enforce_dose_limits

    log_from = _parse_time(ptm_log_from, "--ptm-log-from")
    _check_arguments(profiles, ptm_log, plot, refills)
    with user_errors():
        loaded = [load_profile(p) for p in profiles]
        for path, p in zip(profiles, loaded, strict=True):
            enforce_dose_limits(p.therapy, p.timeline, source=str(path))
        therapies = [p.therapy for p in loaded]
        when = _as_of(as_of, therapies)
        estimate = None if ptm_log is None else _demand_from_log(ptm_log, log_from, therapies[0])
        calibration = None if refills is None else _calibration(refills, therapies[0], as_json)
        long_run = len(therapies) >= 10 or len(therapies) * runs >= LONG_RUN_TRAJECTORIES
        with progress_bar("forecasting", len(therapies), show=long_run) as progress:
            results = forecast_many(
                therapies,
                progress=progress,
                demand=estimate,
                delivery_factor=None if calibration is None else calibration.estimate,
                as_of=when,
                timelines=[p.timeline for p in loaded],
                runs=runs,
                risk=risk,
                seed=seed,
                workers=workers,
                fan=plot is not None,
            )
        if fhir is not None:
            from pumpsim.clinic.fhir import write_forecast_bundle

            visits = calibration.visits if calibration is not None else ()
            write_forecast_bundle(fhir, therapies, results, visits)
    _render(results, as_json, calibration)
    if plot is not None:
        _write_plot(results, plot, quiet=as_json)


def _check_arguments(
    profiles: list[Path], ptm_log: Path | None, plot: Path | None, refills: Path | None
) -> None:
    """Usage errors found before any file is read."""
    if ptm_log is not None and len(profiles) != 1:
        raise typer.BadParameter("a PTM log belongs to one patient: give one profile")
    if refills is not None and len(profiles) != 1:
        raise typer.BadParameter("a refill sheet belongs to one patient: give one profile")
    if plot is not None:
        from pumpsim.report.plots import plot_format

        try:
            plot_format(plot)
        except OutputError:
            raise typer.BadParameter("use a .png or .svg file name", param_hint="--plot") from None


def _render(
    results: list[Forecast], as_json: bool, calibration: SheetCalibration | None = None
) -> None:
    extra = {} if calibration is None else calibration.to_json_dict()
    if as_json:
        for result in results:
            typer.echo(dumps({**result.to_json_dict(), **extra}))
    else:
        for result in results:
            _print_table(result)


def _calibration(path: Path, therapy: Therapy, quiet: bool) -> SheetCalibration:
    """The refill sheet's verdicts and calibrated delivery factor, told on stderr."""
    from pumpsim.forecast.visit import read_sheet_calibration

    calibration = read_sheet_calibration(therapy, path)
    if calibration.ignored:
        err_console.print(
            f"[yellow]note:[/] {calibration.ignored} visits in {escape(str(path))} are after "
            f"the pump state ({therapy.state.time.isoformat()}) and are not used.",
            highlight=False,
        )
    for visit in calibration.visits:
        if visit.verdict.level != "ok" or not quiet:
            err_console.print(
                f"refill {visit.time:%Y-%m-%d %H:%M}: expected {visit.expected_withdrawable_ml:.2f}"
                f" mL, withdrawn {visit.withdrawn_ml:.2f} mL — {visit.verdict.level}"
                f"{'' if visit.verdict.cause is None else f' ({visit.verdict.cause})'}"
                f"{'' if visit.calibrates else ', not used for the factor'}",
                highlight=False,
            )
    lo, hi = calibration.interval()
    err_console.print(
        f"delivery factor from {escape(str(path))}: {calibration.estimate.mean:.3f} "
        f"(95% interval {lo:.3f}-{hi:.3f}, {calibration.used} visits used)",
        highlight=False,
    )
    return calibration


def _write_plot(results: list[Forecast], plot: Path, *, quiet: bool) -> None:
    from pumpsim.report.fan import write_fan_chart

    with user_errors():
        write_fan_chart(results, plot)
    if not quiet:
        console.print(f"fan chart written to {plot}")


def _as_of(text: str | None, therapies: list[Therapy]) -> list[dt.datetime] | dt.datetime | None:
    """``--as-of``: a pump-clock time, ``state`` (each profile's pump state), or now (the
    default), never before a profile's state (a profile written after now is forecast from its
    state)."""
    if text is not None and text.strip().lower() == "state":
        return None
    when = _parse_time(text, "--as-of") or dt.datetime.now().replace(second=0, microsecond=0)
    if text is None:
        return [max(when, t.state.time) for t in therapies]
    return when


def _parse_time(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    from pumpsim.core.clock import PumpTimeError, parse_pump_time
    from pumpsim.models.base import plausible_pump_time

    try:
        return plausible_pump_time(parse_pump_time(text))
    except (PumpTimeError, ValueError) as exc:
        raise typer.BadParameter(f"{text!r}: {exc}", param_hint=option) from None


def _demand_from_log(path: Path, start: dt.datetime | None, therapy: Therapy) -> DemandEstimate:
    """The patient's demand estimated from a press log over [start, pump state), with notes."""
    from pumpsim.forecast.press_window import read_press_window

    window = read_press_window(therapy, path, start, start_name="--ptm-log-from")
    if window.ignored:
        err_console.print(
            f"[yellow]note:[/] {window.ignored} presses in {escape(str(path))} are "
            f"at or after the pump state ({window.end.isoformat()}) and are not used.",
            highlight=False,
        )
    estimate = window.estimate()
    err_console.print(
        f"PTM demand from {escape(str(path))}: {estimate.presses} presses over "
        f"{estimate.span_days:.1f} days = "
        f"{estimate.demand.presses_per_day or 0:.2f} a day "
        f"(day-to-day cv {estimate.demand.daily_cv:.2f})",
        highlight=False,
    )
    return estimate


def _fmt(value: dt.datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _short(value: dt.datetime | None) -> str:
    """Compact form for the quantile table (fits 80 columns): ``27 May 01:40``."""
    return "-" if value is None else value.strftime("%d %b %H:%M")


def _print_table(f: Forecast) -> None:
    console.print(
        f"[bold]{escape(f.patient_id)}[/]  {f.calculated_volume_ml:.2f} mL at {_fmt(f.as_of)}"
        f"  ({f.runs} runs, seed {f.seed}, risk {f.risk:g})"
    )
    _quantiles(f)
    _dates(f)
    _timeline_lines(f)
    style = "bold red" if f.overdue else "bold"
    console.print(f"  [{style}]{escape(f.recommendation())}[/]")


def _quantiles(f: Forecast) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("event", "nominal", "p05", "p50", "p95"):
        table.add_column(name, no_wrap=True)
    events: list[tuple[str, EventForecast | None]] = [
        ("low reservoir", f.low_reservoir_alarm),
        ("empty alarm", f.empty_reservoir),
        ("actually dry", f.actual_dry),
    ]
    for label, event in events:
        if event is not None:
            table.add_row(
                label, *(_short(x) for x in (event.nominal, event.p05, event.p50, event.p95))
            )
    console.print(table)


def _dates(f: Forecast) -> None:
    d = f.deterministic
    rows: list[tuple[str, str]] = [("programmer low-reservoir date", _fmt(d.programmer_lra))]
    if d.prometra_next_refill is not None:  # only pumps whose controller dates the refill
        rows.append(
            ("controller's next refill (every allotted bolus)", _fmt(d.prometra_next_refill))
        )
    rows += [
        (
            "actually dry, best / worst case",
            f"{_fmt(d.actual_dry_best_case)} / {_fmt(d.actual_dry_worst_case)}",
        ),
        ("drug stability limit", _fmt(f.drug_stability_limit)),
        ("elective replacement", _fmt(f.elective_replacement)),
    ]
    for label, text in rows:
        console.print(f"  {label}: {text}")
    console.print(
        f"  refill window: {f.earliest_refill.isoformat()} .. {f.refill_by.isoformat()}"
        f" (limiting factor: {f.limiting_factor})"
    )


def _timeline_lines(f: Forecast) -> None:
    console.print(f"  reservoir cycle from: {_fmt(f.cycle_start)}")
    if f.planned_refill is not None and f.risk_before_planned_refill is not None:
        console.print(
            f"  planned refill {_fmt(f.planned_refill)}: risk of an alarm or a dry reservoir "
            f"before it {f.risk_before_planned_refill:.1%}"
        )
    for note in f.timeline_not_applied:
        err_console.print(f"[yellow]note:[/] {escape(f.patient_id)}: {escape(note)}")
