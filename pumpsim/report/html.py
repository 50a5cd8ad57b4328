"""One self-contained HTML page for a scenario run: the case, plots (inline PNG), questions
with answers hidden until clicked, the narrative, and the alarm, refill and event tables.

The page loads nothing from outside (a Content-Security-Policy forbids it), so it can be mailed
or opened from a USB stick. Written atomically.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path

from pumpsim.core.about import DISCLAIMER, VERSION
from pumpsim.core.atomic import write_text_atomic
from pumpsim.engine import Trace
from pumpsim.report.narrative import narrative
from pumpsim.report.plots import figure_bytes, scenario_figures
from pumpsim.teaching.scenarios import ScenarioResult

__all__ = ["render_html", "write_html"]

_PLOT_CAPTIONS = {
    "volume": "Calculated (what the pump believes) and actual reservoir volume, alarm onsets "
    "and interventions.",
    "dose": "Drug reaching the catheter tip per pump-clock day (basal and bolus).",
    "ptm": "Patient-bolus presses per day: granted and denied.",
    "costs": "Cumulative cost by month, intrathecal therapy versus medical management.",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:980px;margin:0 auto;
padding:1rem 1.2rem 3rem;color:#1c2833;line-height:1.45}
h1{font-size:1.55rem;margin-bottom:.2rem}h2{border-bottom:2px solid #d6dbdf;padding-bottom:.2rem;
margin-top:2rem}.disclaimer{background:#fdedec;border-left:4px solid #c0392b;padding:.5rem .8rem}
.meta{color:#566573;font-size:.92rem}figure{margin:1rem 0}figure img{max-width:100%;
border:1px solid #d6dbdf}figcaption{font-size:.9rem;color:#566573}
table{border-collapse:collapse;width:100%;font-size:.86rem}th,td{border:1px solid #d6dbdf;
padding:.25rem .45rem;text-align:left;vertical-align:top}th{background:#f4f6f7}
ol.questions>li{margin-bottom:.9rem}details.answer{background:#f4f6f7;border-radius:4px;
padding:.35rem .6rem;margin-top:.3rem}details.answer summary{cursor:pointer;color:#1f618d;
font-weight:600}.value{font-size:1.1rem;font-weight:700;margin:.3rem 0}code{font-size:.85rem}
button{font:inherit;padding:.2rem .7rem;cursor:pointer}
"""

_JS = """
document.getElementById('toggle-answers').addEventListener('click', function () {
  var all = document.querySelectorAll('details.answer');
  var open = Array.prototype.some.call(all, function (d) { return !d.open; });
  all.forEach(function (d) { d.open = open; });
  this.textContent = open ? 'Hide all answers' : 'Show all answers';
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _list(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], table_id: str, empty: str
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr class="empty"><td colspan="{len(headers)}">{_e(empty)}</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


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
    """The report page as one HTML string (plots embedded as base64 PNG)."""
    sc = result.scenario
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{_e(sc.title)} — pumpsim teaching scenario</title>
<style>{_CSS}</style>
</head>
<body>
{_header(result)}
{_case_section(result)}
{_plots_section(result)}
{_questions_section(result)}
{_narrative_section(result)}
{_tables_section(result)}
<script>{_JS}</script>
</body>
</html>
"""


def _header(result: ScenarioResult) -> str:
    """Title, run metadata and the disclaimer."""
    sc, trace = result.scenario, result.trace
    return f"""<header>
<h1 id="title">{_e(sc.title)}</h1>
<p class="meta">Scenario <code>{_e(sc.name)}</code> · {trace.end_day:g} simulated days from
{trace.origin:%Y-%m-%d %H:%M} · seed {result.seed} · pumpsim {_e(VERSION)}</p>
<p class="disclaimer">{_e(DISCLAIMER)} The patient is fictional.</p>
</header>"""


def _case_section(result: ScenarioResult) -> str:
    """The case summary, learning objectives, what to watch and the clinical source."""
    sc = result.scenario
    return f"""<section id="case"><h2>The case</h2><p>{_e(sc.summary)}</p>
<h3>Learning objectives</h3>{_list(sc.objectives)}
<h3>What to watch</h3>{_list(sc.watch)}
<p class="meta"><strong>Clinical source:</strong> {_e(sc.source)}</p></section>"""


def _plots_section(result: ScenarioResult) -> str:
    """Every plot of the run as an inline PNG with its caption."""
    plots = []
    for key, fig in scenario_figures(result).items():
        data = base64.b64encode(figure_bytes(fig, "png", dpi=100)).decode("ascii")
        plots.append(
            f'<figure><img id="plot-{key}" class="plot" alt="{_e(_PLOT_CAPTIONS[key])}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_e(_PLOT_CAPTIONS[key])}'
            "</figcaption></figure>"
        )
    return f'<section id="plots"><h2>Plots</h2>{"".join(plots)}</section>'


def _questions_section(result: ScenarioResult) -> str:
    """The questions, each answer hidden in a ``<details>`` until clicked."""
    questions = []
    for i, a in enumerate(result.answers):
        explain = f'<p class="explain">{_e(a.explain)}</p>' if a.explain else ""
        questions.append(
            f'<li id="q{i}"><p class="ask">{_e(a.ask)}</p>'
            f'<details class="answer"><summary>Show answer</summary>'
            f'<p class="value">{_e(a.text)}</p>{explain}'
            f'<p class="expr">computed from the run as <code>{_e(a.expression)}</code></p>'
            "</details></li>"
        )
    return f"""<section id="questions"><h2>Questions</h2>
<p>Every answer is computed from this simulated run. Think first, then click.
<button type="button" id="toggle-answers">Show all answers</button></p>
<ol class="questions">{"".join(questions)}</ol></section>"""


def _narrative_section(result: ScenarioResult) -> str:
    """What happened, step by step."""
    story = "".join(f"<li>{_e(s)}</li>" for s in narrative(result))
    return f'<section id="narrative"><h2>What happened</h2><ol>{story}</ol></section>'


def _tables_section(result: ScenarioResult) -> str:
    """The alarm, refill and event tables."""
    trace = result.trace
    return (
        f'<section id="tables"><h2>Alarms</h2>{_alarm_table(trace)}'
        f"<h2>Refills</h2>{_refill_table(trace)}\n"
        f"<h2>Event log</h2>{_event_table(trace)}</section>"
    )


def _alarm_table(trace: Trace) -> str:
    return _table(
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


def _refill_table(trace: Trace) -> str:
    return _table(
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


def _event_table(trace: Trace) -> str:
    return _table(
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
