"""One self-contained HTML page for a scenario run: the case, plots (inline PNG), questions
with answers hidden until clicked, the narrative, and the alarm, refill and event tables.

This module gathers the values; the page itself is the Jinja2 template
``pumpsim/report/templates/scenario.html.j2`` (autoescaped, editable by educators).

The page loads nothing from outside (a Content-Security-Policy forbids it), so it can be mailed
or opened from a USB stick. Written atomically.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from pathlib import Path

from pumpsim.core.about import DISCLAIMER, VERSION
from pumpsim.core.atomic import write_text_atomic
from pumpsim.engine import Trace
from pumpsim.report.narrative import narrative
from pumpsim.report.plots import figure_bytes, scenario_figures
from pumpsim.report.templating import render
from pumpsim.teaching.scenarios import ScenarioResult

__all__ = ["render_html", "write_html"]

_PLOT_CAPTIONS = {
    "volume": "Calculated (what the pump believes) and actual reservoir volume, alarm onsets "
    "and interventions.",
    "dose": "Drug reaching the catheter tip per pump-clock day (basal and bolus).",
    "ptm": "Patient-bolus presses per day: granted and denied.",
    "costs": "Cumulative cost by month, intrathecal therapy versus medical management.",
}

Row = Sequence[object]


def _table(
    title: str, headers: Sequence[str], rows: Iterable[Row], table_id: str, empty: str
) -> dict[str, object]:
    """One table of the page, as the template's ``table`` macro takes it."""
    return {"title": title, "headers": headers, "rows": list(rows), "id": table_id, "empty": empty}


def _detail(detail: dict[str, object]) -> str:
    parts = []
    for key, value in detail.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, dict):
            value = ", ".join(
                f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items()
            )
        parts.append(f"{key}={value}")
    return "; ".join(parts)


def render_html(result: ScenarioResult) -> str:
    """The report page as one HTML string (plots embedded as base64 PNG), rendered from the
    package template ``templates/scenario.html.j2`` with every value HTML-escaped."""
    trace = result.trace
    run = {
        "days": f"{trace.end_day:g}",
        "origin": f"{trace.origin:%Y-%m-%d %H:%M}",
        "seed": result.seed,
        "version": VERSION,
        "disclaimer": DISCLAIMER,
    }
    return render(
        "scenario.html.j2",
        sc=result.scenario,
        run=run,
        plots=_plots(result),
        answers=result.answers,
        story=narrative(result),
        tables=[_alarm_table(trace), _refill_table(trace), _event_table(trace)],
    )


def _plots(result: ScenarioResult) -> list[dict[str, str]]:
    """Every plot of the run as base64 PNG with its caption."""
    return [
        {
            "key": key,
            "caption": _PLOT_CAPTIONS[key],
            "data": base64.b64encode(figure_bytes(fig, "png", dpi=100)).decode("ascii"),
        }
        for key, fig in scenario_figures(result).items()
    ]


def _alarm_table(trace: Trace) -> dict[str, object]:
    return _table(
        "Alarms",
        ["alarm", "severity", "on", "off"],
        (
            (
                a.name.replace("_", " "),
                a.severity,
                f"{a.on_time:%Y-%m-%d %H:%M} (day {a.on_day:.2f})",
                f"{a.off_time:%Y-%m-%d %H:%M}" if a.off_time else "still on at the end",
            )
            for a in trace.alarms
        ),
        "alarms",
        "No alarm sounded in this run.",
    )


def _refill_table(trace: Trace) -> dict[str, object]:
    return _table(
        "Refills",
        [
            "time",
            "calculated mL",
            "expected withdrawable mL",
            "withdrawn mL",
            "discrepancy mL",
            "verdict",
            "likely cause",
            "fill mL",
            "pocket",
        ],
        (
            (
                f"{r.time:%Y-%m-%d %H:%M}",
                f"{r.calculated_ml:.2f}",
                f"{r.expected_withdrawable_ml:.2f}",
                f"{r.withdrawn_ml:.2f}",
                f"{r.discrepancy_ml:+.2f}",
                r.verdict.level,
                r.verdict.cause or "-",
                f"{r.fill_ml:g}",
                "yes" if r.pocket_fill else "no",
            )
            for r in trace.refills
        ),
        "refills",
        "No refill in this run.",
    )


def _event_table(trace: Trace) -> dict[str, object]:
    return _table(
        "Event log",
        ["time", "day", "event", "detail"],
        (
            (
                f"{e.time:%Y-%m-%d %H:%M}",
                f"{e.day:.3f}",
                e.kind,
                _detail(trace.exported_detail(e.detail)),
            )
            for e in trace.events
        ),
        "events",
        "No pump events (patient-bolus presses are in the PTM plot).",
    )


def write_html(result: ScenarioResult, path: Path | str) -> None:
    """Write the report for ``result`` to ``path`` atomically."""
    write_text_atomic(Path(path), render_html(result))
