"""Matplotlib figures of a scenario run (Agg, no pyplot state): reservoir volume, dose per day,
PTM use and — when the scenario has costs — the cumulative cost curves.

Every number drawn is read from the ``Trace`` (or the ``CostCurves``); the only conversion is
showing a drug dosed in mcg in mcg instead of mg.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pumpsim.core.atomic import OutputError, write_bytes_atomic  # noqa: E402
from pumpsim.core.clock import to_datetime  # noqa: E402
from pumpsim.core.units import mass_in_unit  # noqa: E402
from pumpsim.engine import Trace  # noqa: E402
from pumpsim.teaching.costs import CostCurves  # noqa: E402
from pumpsim.teaching.scenarios import ScenarioResult  # noqa: E402

__all__ = [
    "INTERVENTION_KINDS",
    "combined_figure",
    "draw_costs",
    "draw_dose",
    "draw_ptm",
    "draw_volume",
    "figure_bytes",
    "mark_crossover",
    "plot_format",
    "save_figure",
    "scenario_figures",
]

INTERVENTION_KINDS: dict[str, str] = {
    "refill": "refill",
    "pocket_fill": "pocket fill",
    "reprogram": "reprogram",
    "program_active": "program",
    "mri_start": "MRI",
    "occlusion_start": "occlusion",
    "disconnection": "disconnection",
    "priming_bolus_start": "priming",
    "bridge_bolus_start": "bridge",
}
"""Event kinds drawn as vertical lines on the reservoir plot, with their labels."""

_ALARM_STYLE: dict[str, tuple[str, str]] = {
    "low_reservoir": ("v", "#d98c00"),
    "empty_reservoir": ("X", "#c0392b"),
    "motor_stall": ("s", "#8e44ad"),
    "elective_replacement": ("^", "#2471a3"),
    "end_of_service": ("P", "#1b2631"),
}
_CALC = "#1f618d"
_ACTUAL = "#117a65"


def _when(trace: Trace, day: float) -> dt.datetime:
    return to_datetime(trace.origin, day)


def _num(times: list[dt.datetime]) -> npt.NDArray[np.float64]:
    """Matplotlib date numbers (days) for pump-clock times."""
    return np.asarray(date2num(times), dtype=np.float64)  # type: ignore[no-untyped-call]


def _noon(dates: list[dt.date]) -> npt.NDArray[np.float64]:
    """Bar centres: noon of each pump-clock day."""
    return _num([dt.datetime.combine(d, dt.time(12)) for d in dates])


def _date_axis(ax: Axes) -> None:
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def draw_volume(ax: Axes, trace: Trace) -> None:
    """Calculated and actual reservoir volume (mL), alarm onsets as markers on the calculated
    line, interventions as labelled vertical lines, the actual-dry moment as a cross."""
    days, calc, actual = trace.samples.arrays()
    times = _num([_when(trace, d) for d in days])
    ax.plot(times, calc, color=_CALC, lw=1.8, label="calculated (pump's belief)")
    ax.plot(times, actual, color=_ACTUAL, lw=1.6, ls="--", label="actual reservoir")
    seen: set[str] = set()
    for alarm in trace.alarms:
        marker, color = _ALARM_STYLE.get(alarm.name, ("o", "black"))
        y = _calc_at(trace, alarm.on_day)
        label = alarm.name.replace("_", " ") + " alarm"
        ax.scatter(
            _num([alarm.on_time]),
            [y],
            marker=marker,
            s=90,
            color=color,
            zorder=5,
            edgecolor="white",
            label=None if label in seen else label,
        )
        seen.add(label)
    for event in trace.events:
        if event.kind == "actual_dry":
            ax.scatter(
                _num([event.time]),
                [0.0],
                marker="x",
                s=110,
                color="#c0392b",
                zorder=6,
                label="actual reservoir dry" if "dry" not in seen else None,
            )
            seen.add("dry")
        elif event.kind in INTERVENTION_KINDS and event.kind != "program_active":
            ax.axvline(float(_num([event.time])[0]), color="#7f8c8d", ls=":", lw=1.2)
            ax.annotate(
                INTERVENTION_KINDS[event.kind],
                (float(_num([event.time])[0]), 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=8,
                color="#555555",
            )
    ax.set_ylabel("reservoir volume (mL)")
    ax.set_ylim(bottom=0)
    ax.set_title("Reservoir volume: calculated vs actual")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    _date_axis(ax)


def _calc_at(trace: Trace, day: float) -> float:
    days = trace.samples.day
    if days.size == 0:
        return 0.0
    return float(np.interp(day, days, trace.samples.calculated_ml))


def _drugs(trace: Trace) -> list[str]:
    names: list[str] = list(trace.drug_units)
    for d in trace.daily:
        names.extend(n for n in d.dose_mg if n not in names)
    return names


def draw_dose(axes: list[Axes], trace: Trace) -> None:
    """Drug at the catheter tip per pump-clock day, one axis per drug, basal and bolus stacked,
    in the drug's own mass unit."""
    dates = _noon([d.date for d in trace.daily])
    for ax, drug in zip(axes, _drugs(trace), strict=False):
        unit = trace.drug_units.get(drug, "mg")
        total = [mass_in_unit(d.dose_mg.get(drug, 0.0), unit) for d in trace.daily]
        bolus = [mass_in_unit(d.bolus_dose_mg.get(drug, 0.0), unit) for d in trace.daily]
        basal = [t - b for t, b in zip(total, bolus, strict=True)]
        ax.bar(dates, basal, width=0.85, color="#5dade2", label="basal")
        if any(b > 0 for b in bolus):
            ax.bar(dates, bolus, width=0.85, bottom=basal, color="#f5b041", label="bolus")
        ax.set_ylabel(f"{drug} ({unit}/day)")
        ax.set_title(f"{drug} at the catheter tip per day")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="upper right", fontsize=8)
        _date_axis(ax)


def draw_ptm(ax: Axes, trace: Trace) -> None:
    """Patient boluses granted and denied per pump-clock day (stacked bars)."""
    dates = _noon([d.date for d in trace.daily])
    granted = [d.ptm_granted for d in trace.daily]
    denied = [d.ptm_denied for d in trace.daily]
    ax.bar(dates, granted, width=0.85, color="#27ae60", label="granted")
    ax.bar(dates, denied, width=0.85, bottom=granted, color="#e74c3c", label="denied")
    ax.set_ylabel("PTM presses per day")
    ax.set_title("Patient boluses (PTM): granted and denied")
    if not any(granted) and not any(denied):
        ax.text(
            0.5,
            0.5,
            "no patient-bolus presses in this scenario",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#555555",
        )
        ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper right", fontsize=8)
    _date_axis(ax)


def mark_crossover(ax: Axes, month: int | None) -> None:
    """The cost plots' crossover: a dotted line at ``month`` with its label (nothing if
    ``None``: the curves never cross)."""
    if month is None:
        return
    ax.axvline(month, color="#555555", ls=":")
    ax.annotate(
        f"crossover: month {month}",
        (month, 0.05),
        xycoords=("data", "axes fraction"),
        ha="left",
        fontsize=9,
    )


def draw_costs(ax: Axes, curves: CostCurves) -> None:
    """Cumulative cost of both arms by month, the crossover month marked."""
    months = list(curves.months)
    ax.plot(months, curves.it_cumulative, marker="o", ms=3, color="#8e44ad", label="intrathecal")
    ax.plot(
        months,
        curves.cmm_cumulative,
        marker="s",
        ms=3,
        color="#d35400",
        label="comprehensive medical management",
    )
    mark_crossover(ax, curves.crossover_month)
    ax.set_xlabel("month")
    ax.set_ylabel(f"cumulative cost ({curves.model.currency})")
    ax.set_title("Cumulative cost by month")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def scenario_figures(result: ScenarioResult) -> dict[str, Figure]:
    """One figure per plot: 'volume', 'dose', 'ptm' and, with costs, 'costs'."""
    trace = result.trace
    figs: dict[str, Figure] = {}
    fig = Figure(figsize=(9, 4), layout="constrained")
    draw_volume(fig.add_subplot(), trace)
    figs["volume"] = fig
    drugs = _drugs(trace)
    fig = Figure(figsize=(9, 2.6 * max(1, len(drugs)) + 0.4), layout="constrained")
    draw_dose(list(fig.subplots(max(1, len(drugs)), 1, squeeze=False)[:, 0]), trace)
    figs["dose"] = fig
    fig = Figure(figsize=(9, 3), layout="constrained")
    draw_ptm(fig.add_subplot(), trace)
    figs["ptm"] = fig
    if result.costs is not None:
        fig = Figure(figsize=(9, 3.6), layout="constrained")
        draw_costs(fig.add_subplot(), result.costs)
        figs["costs"] = fig
    return figs


def combined_figure(result: ScenarioResult) -> Figure:
    """All plots of a run stacked in one figure (for ``--plot FILE``)."""
    trace = result.trace
    drugs = _drugs(trace) or ["(none)"]
    heights = [3.0] + [2.0] * len(drugs) + [1.8] + ([2.4] if result.costs else [])
    fig = Figure(figsize=(9, sum(heights) + 0.8), layout="constrained")
    axes = fig.subplots(len(heights), 1, gridspec_kw={"height_ratios": heights})
    draw_volume(axes[0], trace)
    draw_dose(list(axes[1 : 1 + len(drugs)]), trace)
    draw_ptm(axes[1 + len(drugs)], trace)
    if result.costs is not None:
        draw_costs(axes[-1], result.costs)
    fig.suptitle(result.scenario.title, fontsize=11)
    return fig


def figure_bytes(fig: Figure, fmt: str, dpi: int = 100) -> bytes:
    """The figure encoded as 'png' or 'svg'."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    return buf.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    # no creation date, so the same run gives the same bytes
    if fmt == "svg":
        return {"Date": None}
    return {"Software": "pumpsim (matplotlib)"}


def plot_format(path: Path | str) -> str:
    """'png' or 'svg' from the file name; ``OutputError`` for anything else."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise OutputError(f"{path}: a plot file ends in .png or .svg")
    return fmt


def save_figure(fig: Figure, path: Path | str) -> None:
    """Write ``fig`` to ``path`` (.png or .svg) atomically."""
    write_bytes_atomic(Path(path), figure_bytes(fig, plot_format(path), dpi=110))
