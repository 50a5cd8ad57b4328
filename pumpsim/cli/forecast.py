"""``pumpsim forecast``: refill-by dates with their uncertainty, per patient profile."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import console, err_console, user_errors
from pumpsim.core.clock import PumpTimeError, parse_pump_time
from pumpsim.core.errors import SimulationError
from pumpsim.forecast import EventForecast, Forecast, forecast_many
from pumpsim.forecast.calibration import DemandEstimate, estimate_demand
from pumpsim.io.press_log import read_press_log
from pumpsim.io.profiles import load_profile
from pumpsim.models import Therapy

_PLOT_FORMATS = {".png": "png", ".svg": "svg"}


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` command to ``app``."""
    app.command("forecast")(forecast_command)


def forecast_command(
    profiles: Annotated[list[Path], typer.Argument(help="Patient profile YAML files.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Forecast time, e.g. 2026-03-02T08:00 (default: the state)."),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Monte Carlo trajectories.")] = 10_000,
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
        int | None, typer.Option("--workers", min=1, help="Processes (default: all cores).")
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
) -> None:
    """Forecast when each patient must be refilled."""
    when = _parse_as_of(as_of)
    log_from = _parse_time(ptm_log_from, "--ptm-log-from")
    if ptm_log is not None and len(profiles) != 1:
        raise typer.BadParameter("a PTM log belongs to one patient: give one profile")
    if plot is not None and plot.suffix.lower() not in _PLOT_FORMATS:
        raise typer.BadParameter("use a .png or .svg file name", param_hint="--plot")
    with user_errors():
        loaded = [load_profile(p) for p in profiles]
        therapies = [profile.therapy for profile in loaded]
        for path, profile in zip(profiles, loaded, strict=True):
            if profile.timeline.entries:
                err_console.print(
                    f"[yellow]note:[/] {escape(str(path))} has "
                    f"{len(profile.timeline.entries)} timeline entries; the forecast starts "
                    "from the pump state and does not apply them (use pumpsim simulate).",
                    highlight=False,
                )
        estimate = None
        if ptm_log is not None:
            estimate = _demand_from_log(ptm_log, log_from, therapies[0])
            err_console.print(
                f"PTM demand from {escape(str(ptm_log))}: {estimate.presses} presses over "
                f"{estimate.span_days:.1f} days = "
                f"{estimate.demand.presses_per_day or 0:.2f} a day "
                f"(day-to-day cv {estimate.demand.daily_cv:.2f})",
                highlight=False,
            )
        results = forecast_many(
            therapies,
            demand=estimate,
            as_of=when,
            runs=runs,
            risk=risk,
            seed=seed,
            workers=workers,
            fan=plot is not None,
        )
    if as_json:
        for result in results:
            typer.echo(json.dumps(result.to_json_dict()))
    else:
        for result in results:
            _print_table(result)
    if plot is not None:
        write_fan_chart(results, plot)
        if not as_json:
            console.print(f"fan chart written to {plot}")


def _parse_as_of(text: str | None) -> dt.datetime | None:
    return _parse_time(text, "--as-of")


def _parse_time(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return parse_pump_time(text)
    except PumpTimeError as exc:
        raise typer.BadParameter(f"{text!r}: {exc}", param_hint=option) from None


def _demand_from_log(path: Path, start: dt.datetime | None, therapy: Therapy) -> DemandEstimate:
    """The patient's demand estimated from a press log over [start, pump state)."""
    if therapy.ptm is None:
        raise SimulationError(f"{therapy.patient_id}: a PTM log needs ptm settings in the profile")
    logged = read_press_log(path)
    end = therapy.state.time
    presses = [p for p in logged if p < end]
    if len(presses) < len(logged):
        err_console.print(
            f"[yellow]note:[/] {len(logged) - len(presses)} presses in {escape(str(path))} are "
            f"at or after the pump state ({end.isoformat()}) and are not used.",
            highlight=False,
        )
    if start is None:
        if not presses:
            raise SimulationError(
                f"{path}: no presses before the pump state {end.isoformat()}; "
                "give --ptm-log-from for a log without presses"
            )
        start = presses[0].replace(hour=0, minute=0, second=0, microsecond=0)
    if start >= end:
        raise SimulationError(
            f"--ptm-log-from: got {start.isoformat()}; allowed: before the pump state "
            f"{end.isoformat()}"
        )
    return estimate_demand(presses, start=start, end=end)


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
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("event", "nominal", "p05", "p50", "p95"):
        table.add_column(name, no_wrap=True)
    rows: list[tuple[str, EventForecast | None]] = [
        ("low reservoir", f.low_reservoir_alarm),
        ("empty alarm", f.empty_reservoir),
        ("actually dry", f.actual_dry),
    ]
    for label, event in rows:
        if event is not None:
            table.add_row(
                label,
                _short(event.nominal),
                _short(event.p05),
                _short(event.p50),
                _short(event.p95),
            )
    console.print(table)
    d = f.deterministic
    for label, value in (
        ("programmer low-reservoir date", d.programmer_lra),
        ("Prometra next refill (all boluses used)", d.prometra_next_refill),
        ("actually dry, best / worst case", None),
        ("drug stability limit", f.drug_stability_limit),
        ("elective replacement", f.elective_replacement),
    ):
        text = (
            f"{_fmt(d.actual_dry_best_case)} / {_fmt(d.actual_dry_worst_case)}"
            if value is None and label.startswith("actually")
            else _fmt(value)
        )
        console.print(f"  {label}: {text}")
    console.print(
        f"  refill window: {f.earliest_refill.isoformat()} .. {f.refill_by.isoformat()}"
        f" (limiting factor: {f.limiting_factor})"
    )
    console.print(f"  [bold]{escape(f.recommendation())}[/]")


def write_fan_chart(results: list[Forecast], path: Path) -> None:
    """Draw each patient's calculated-volume fan chart and write it atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(8, 3.2 * len(results)), squeeze=False)
    for ax, f in zip(axes[:, 0], results, strict=True):
        if f.fan is None:
            continue
        for lo, hi, alpha, label in (
            ("p05", "p95", 0.2, "5-95 %"),
            ("p25", "p75", 0.35, "25-75 %"),
        ):
            levels, early, late = zip(*f.fan.band(lo, hi), strict=True)
            ax.fill_betweenx(levels, early, late, alpha=alpha, color="tab:blue", label=label, lw=0)
        levels, mid, _ = zip(*f.fan.band("p50", "p50"), strict=True)
        ax.plot(mid, levels, color="tab:blue", label="median")
        ax.axvline(
            dt.datetime.combine(f.refill_by, dt.time()), color="tab:red", ls="--", label="refill by"
        )
        if f.low_reservoir_alarm_ml is not None:
            ax.axhline(
                f.low_reservoir_alarm_ml, color="tab:orange", lw=1, label="low-reservoir alarm"
            )
        ax.tick_params(axis="x", labelrotation=25)
        ax.set_title(f"{f.patient_id}: calculated reservoir volume")
        ax.set_ylabel("mL")
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent or ".")
    os.close(fd)
    try:
        fig.savefig(tmp, format=_PLOT_FORMATS[path.suffix.lower()])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
