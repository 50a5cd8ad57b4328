"""Plots and the self-contained HTML report of a teaching-scenario run (read-only over a trace),
and the forecast's fan chart."""

from pumpsim.report.fan import fan_figure, write_fan_chart
from pumpsim.report.html import render_html, write_html
from pumpsim.report.plots import (
    combined_figure,
    figure_bytes,
    plot_format,
    save_figure,
    scenario_figures,
)

__all__ = [
    "combined_figure",
    "fan_figure",
    "figure_bytes",
    "plot_format",
    "render_html",
    "save_figure",
    "scenario_figures",
    "write_fan_chart",
    "write_html",
]
