"""One self-contained HTML page of a cohort run: the cohort, its outcomes with 95 % intervals, the
cumulative cost curves of pump therapy against medical management with the crossover month and
its interval, device and clinical events by month, patients alive and on the pump, and the
refill-burden histogram.

Every number comes from the run (``pumpsim.population.cohort_run.CohortRun``: the integer tally,
its outcome summary and, with a cost preset, the economic result); this module only draws and
lays them out. The page is the Jinja2 template ``pumpsim/report/templates/cohort.html.j2``
(autoescaped); plots are inline PNG through ``report.plots.figure_bytes``. It loads nothing
from outside (a Content-Security-Policy forbids it). Written atomically.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pumpsim.core.about import DISCLAIMER, VERSION
from pumpsim.core.atomic import write_text_atomic
from pumpsim.population.cohort_run import CohortRun
from pumpsim.population.outcome import EVENT_KINDS, REFILL_BURDEN_EDGES, CohortTally
from pumpsim.population.summary import CohortSummary
from pumpsim.report.plots import figure_bytes, mark_crossover
from pumpsim.report.templating import render

if TYPE_CHECKING:
    from pumpsim.population.economics import EconomicResult

__all__ = [
    "cohort_figures",
    "draw_burden",
    "draw_cohort_costs",
    "draw_events",
    "draw_survival",
    "render_cohort_report",
    "write_cohort_report",
]

_CAPTIONS = {
    "costs": "Cumulative cost per patient by month: pump therapy against comprehensive medical "
    "management; the crossover month is marked with its interval.",
    "survival": "Share of the cohort alive, and alive with therapy, by month from implant.",
    "events": "Device and clinical events, and refill visits, by month (whole cohort).",
    "burden": "Refill burden: patients by refill visits per patient-year alive.",
}
_IT = "#8e44ad"
_CMM = "#d35400"


def draw_survival(ax: Axes, summary: CohortSummary) -> None:
    """The share of the cohort alive, and alive with therapy, per month (the summary's)."""
    months = np.arange(summary.months)
    ax.plot(months, 100 * np.asarray(summary.share_alive), color="#1f618d", lw=1.8, label="alive")
    ax.plot(
        months,
        100 * np.asarray(summary.share_on_pump),
        color="#117a65",
        lw=1.6,
        ls="--",
        label="alive with therapy",
    )
    ax.set_ylim(0, 105)
    ax.set_xlabel("month from implant")
    ax.set_ylabel("% of the cohort")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)


def draw_events(ax: Axes, tally: CohortTally) -> None:
    """Counts per month: refill visits (right axis) and every event kind seen (left axis)."""
    months = np.arange(tally.months)
    for kind in EVENT_KINDS:
        counts = tally.events[kind]
        if kind != "implant" and counts.any():
            ax.plot(months, counts, lw=1.2, label=kind.replace("_", " "))
    emergency = tally.monthly["emergency_visits"]
    if emergency.any():
        ax.plot(months, emergency, lw=1.2, ls=":", color="#c0392b", label="emergency visits")
    ax.set_xlabel("month from implant")
    ax.set_ylabel("events per month")
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.bar(months, tally.monthly["refill_visits"], color="#aed6f1", alpha=0.5, width=0.9)
    right.set_ylabel("refill visits per month", color="#2471a3")
    ax.set_zorder(right.get_zorder() + 1)
    ax.patch.set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)


def draw_burden(ax: Axes, tally: CohortTally) -> None:
    """Patients per bin of refill visits per patient-year alive (the last bin: 25 or more)."""
    edges = np.asarray(REFILL_BURDEN_EDGES)
    ax.bar(edges, tally.refill_burden, width=0.9, align="edge", color="#5d6d7e")
    ax.set_xlabel("refill visits per patient-year alive")
    ax.set_ylabel("patients")
    ax.set_xlim(0, edges[-1] + 1)
    ax.grid(alpha=0.3, axis="y")


def draw_cohort_costs(ax: Axes, economics: EconomicResult) -> None:
    """Cumulative cost per patient of both arms by month; the crossover and its interval (a
    PSA end beyond the horizon is drawn to the last month)."""
    e = economics
    months = np.arange(1, e.months + 1)
    ax.plot(months, e.pump_cumulative, color=_IT, lw=1.8, label="pump therapy (IDDS + CMM)")
    ax.plot(months, e.cmm_cumulative, color=_CMM, lw=1.8, label="medical management (CMM)")
    if e.crossover_interval is not None and e.crossover_interval != (None, None):
        low, high = e.crossover_interval
        ax.axvspan(
            1 if low is None else low,
            e.months if high is None else high,
            color="#bbbbbb",
            alpha=0.35,
            label="crossover, 95 % interval (PSA)",
        )
    mark_crossover(ax, e.crossover_month)
    ax.set_xlabel("month from implant")
    ax.set_ylabel(f"cumulative cost per patient ({e.currency})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def cohort_figures(run: CohortRun) -> dict[str, Figure]:
    """One figure per plot: 'costs' (with a cost preset), 'survival', 'events', 'burden'."""
    figs: dict[str, Figure] = {}
    if run.economics is not None:
        fig = Figure(figsize=(9, 3.8), layout="constrained")
        draw_cohort_costs(fig.add_subplot(), run.economics)
        figs["costs"] = fig
    fig = Figure(figsize=(9, 3.0), layout="constrained")
    draw_survival(fig.add_subplot(), run.summary)
    figs["survival"] = fig
    for key, draw, height in (("events", draw_events, 3.4), ("burden", draw_burden, 3.0)):
        fig = Figure(figsize=(9, height), layout="constrained")
        draw(fig.add_subplot(), run.tally)
        figs[key] = fig
    return figs


def render_cohort_report(run: CohortRun) -> str:
    """The cohort page as one HTML string (plots as base64 PNG)."""
    plots = [
        {
            "key": key,
            "caption": _CAPTIONS[key],
            "data": base64.b64encode(figure_bytes(fig, "png", dpi=100)).decode("ascii"),
        }
        for key, fig in cohort_figures(run).items()
    ]
    return render(
        "cohort.html.j2",
        run=run,
        spec=run.spec,
        version=VERSION,
        disclaimer=DISCLAIMER,
        plots=plots,
        outcomes=run.outcome_rows(),
        economics=run.economics_rows(),
        events=run.event_rows(),
        burden=_burden_rows(run.tally),
    )


def _burden_rows(tally: CohortTally) -> list[tuple[str, int]]:
    """The histogram's bins that hold patients: (refill visits per patient-year, patients)."""
    last = len(REFILL_BURDEN_EDGES) - 1
    return [
        (
            f"{edge:g} or more"
            if i == last
            else f"{edge:g} to under {REFILL_BURDEN_EDGES[i + 1]:g}",
            int(n),
        )
        for i, (edge, n) in enumerate(zip(REFILL_BURDEN_EDGES, tally.refill_burden, strict=True))
        if n
    ]


def write_cohort_report(run: CohortRun, path: Path | str) -> None:
    """Write the cohort page for ``run`` to ``path`` atomically."""
    write_text_atomic(Path(path), render_cohort_report(run))
