"""The cohort page in a real headless Chromium: no console errors, no outside requests; every
plot is an image that decodes; the outcome, economics, event and refill-burden tables hold the
run's own figures (the burden adds up to the cohort's patients); the crossover month on the page
is the economic result's; a screenshot of the whole page is taken. Hostile text in a cohort's
name is escaped.

Chromium comes from the system packages (``make test`` installs it); without it this test FAILS.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page
from report_browser import report_page, screenshot_ok
from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.population.cohort_run import CohortRequest, CohortRun, evaluate_run
from pumpsim.population.simulate import simulate_cohort

SMITH = "smith-2002-pump-arm"
RUN = [SMITH, "--seed", "2", "--workers", "1", "--costs", "kumar-2002", "--psa", "100"]


def _expected() -> CohortRun:
    request = CohortRequest.load(SMITH, seed=2, costs="kumar-2002", psa_draws=100)
    return evaluate_run(request, simulate_cohort(request.spec, 2))


def test_cohort_report_in_headless_chromium(tmp_path: Path) -> None:
    report = tmp_path / "cohort.html"
    result = CliRunner().invoke(app, ["cohort", "run", *RUN, "--report", str(report)])
    assert result.exit_code == 0, result.output
    with report_page(report, 1100) as page:
        _check_page(page, _expected())
        screenshot_ok(page, tmp_path / "cohort.png", 1500)


def _check_page(page: Page, run: CohortRun) -> None:
    assert page.title() == "Smith 2002 pump arm (refractory cancer pain) — pumpsim cohort"
    sizes = page.locator("img.plot").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert len(sizes) == 4 and all(w > 600 for w in sizes)
    assert page.locator("#plot-costs").count() == 1
    rows = page.locator("#outcomes tbody tr")
    assert rows.count() == len(run.outcome_rows())
    assert rows.first.locator("td").all_inner_texts() == list(run.outcome_rows()[0])
    shown = page.locator("#economics tbody tr").evaluate_all(
        "rs => rs.map(r => Array.from(r.cells).map(c => c.innerText))"
    )
    assert [tuple(r) for r in shown] == run.economics_rows()
    assert run.economics is not None
    crossover = dict(run.economics_rows())["crossover month"]
    assert crossover.startswith(str(run.economics.crossover_month or "none"))
    events = page.locator("#events tbody tr").all_inner_texts()
    assert len(events) == len(run.event_rows())
    burden = page.locator("#burden tbody tr td:nth-child(2)").all_inner_texts()
    assert sum(int(n) for n in burden) == run.tally.patients == 101


def test_hostile_cohort_name_is_escaped() -> None:
    from pumpsim.report.cohort_report import render_cohort_report

    run = _expected()
    spec = run.spec.model_copy(update={"name": "<script>alert(1)</script>"})
    hostile = CohortRun(
        CohortRequest(spec, run.seed, run.request.preset, "kumar-2002", 100),
        run.tally,
        run.summary,
        run.economics,
    )
    page = render_cohort_report(hostile)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
