"""The forecast's fan chart, one panel (axes) per patient: the calculated reservoir volume (what
the pump believes) over time with the 5-95 % and 25-75 % bands of the Monte Carlo trajectories
and the median, the actual-volume 5-95 % band (delivery-accuracy uncertainty), the low-reservoir
alarm threshold, and vertical lines at the earliest refill, the refill-by date and the drug's
stability limit (Agg, no pyplot state). Every line is labelled in the panel's legend.

Written atomically through the same format table and writer as the scenario plots
(:func:`pumpsim.report.plots.plot_format`, :func:`pumpsim.report.plots.figure_bytes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pumpsim.core.atomic import write_bytes_atomic
from pumpsim.forecast import Forecast
from pumpsim.report.plots import figure_bytes, plot_format

__all__ = ["draw_fan", "fan_figure", "write_fan_chart"]

_BANDS = (("p05", "p95", 0.2, "5-95 %"), ("p25", "p75", 0.35, "25-75 %"))
"""Quantile bands drawn, outermost first: (low, high, opacity, legend label)."""


def draw_fan(ax: Axes, f: Forecast) -> None:
    """One patient's fan chart on ``ax``; nothing for a forecast made without a fan."""
    if f.fan is None:
        return
    for lo, hi, alpha, label in _BANDS:
        levels, early, late = zip(*f.fan.band(lo, hi), strict=True)
        ax.fill_betweenx(levels, early, late, alpha=alpha, color="tab:blue", label=label, lw=0)
    levels, mid, _ = zip(*f.fan.band("p50", "p50"), strict=True)
    ax.plot(mid, levels, color="tab:blue", label="median")
    actual = f.fan.band("p05", "p95", actual=True)
    if len(actual) > 1:
        levels, early, late = zip(*actual, strict=True)
        ax.fill_betweenx(
            levels, early, late, color="tab:green", alpha=0.18, lw=0, label="actual volume 5-95 %"
        )
    _date_lines(ax, f)
    if f.low_reservoir_alarm_ml is not None:
        ax.axhline(f.low_reservoir_alarm_ml, color="tab:orange", lw=1, label="low-reservoir alarm")
    ax.tick_params(axis="x", labelrotation=25)
    ax.set_title(f"{f.patient_id}: reservoir volume (calculated fan, actual band)")
    ax.set_ylabel("mL")
    ax.legend(loc="upper right", fontsize="small")


def _date_lines(ax: Axes, f: Forecast) -> None:
    """Earliest refill, refill-by and the stability limit as labelled vertical lines."""
    for when, color, style, label in (
        (dt.datetime.combine(f.earliest_refill, dt.time()), "tab:gray", "-.", "earliest refill"),
        (dt.datetime.combine(f.refill_by, dt.time()), "tab:red", "--", "refill by"),
        (f.drug_stability_limit, "tab:purple", ":", "stability limit"),
    ):
        if when <= f.horizon_end:
            ax.axvline(when, color=color, ls=style, label=label)  # type: ignore[arg-type]


def fan_figure(results: Sequence[Forecast]) -> Figure:
    """One fan chart per forecast, stacked in one figure."""
    fig = Figure(figsize=(8, 3.2 * len(results)))
    axes = fig.subplots(len(results), 1, squeeze=False)
    for ax, f in zip(axes[:, 0], results, strict=True):
        draw_fan(ax, f)
    fig.tight_layout()
    return fig


def write_fan_chart(results: Sequence[Forecast], path: Path | str) -> None:
    """Draw the fan charts of ``results`` and write them to ``path`` (.png or .svg) atomically;
    ``OutputError`` for another suffix (before anything is drawn) or an unwritable file."""
    fmt = plot_format(path)
    write_bytes_atomic(Path(path), figure_bytes(fan_figure(results), fmt))
