"""The teaching report in a real headless Chromium: it loads with no console errors and no
outside requests, every plot is present and not blank, and clicking reveals an answer.

Chromium comes from the system packages (``make test`` installs it); without it this test FAILS —
it is never skipped.
"""

from __future__ import annotations

from pathlib import Path

from conftest import pixel_std
from report_browser import report_page

from pumpsim.report import write_html
from pumpsim.teaching.scenarios import run_scenario


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    report = tmp_path / "ptm-overuse.html"
    write_html(run_scenario("ptm-overuse"), report)
    with report_page(report, 1100) as page:
        assert page.title().startswith("PTM overuse")
        plots = page.locator("img.plot")
        assert plots.count() == 3
        for key in ("volume", "dose", "ptm"):
            img = page.locator(f"#plot-{key}")
            img.scroll_into_view_if_needed()
            size = img.evaluate("e => [e.complete, e.naturalWidth, e.naturalHeight]")
            assert size[0] is True and size[1] > 300 and size[2] > 150, (key, size)
            box = img.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            assert pixel_std(img.screenshot()) > 0.05, f"plot {key} looks blank"

        # answers hidden until clicked
        first = page.locator("#q0 details.answer")
        value = first.locator(".value")
        assert not value.is_visible()
        first.locator("summary").click()
        assert value.is_visible()
        assert first.evaluate("d => d.open") is True
        assert value.inner_text().strip().isdigit()

        # the show-all button opens every answer
        page.locator("#toggle-answers").click()
        opened = page.locator("details.answer").evaluate_all("ds => ds.map(d => d.open)")
        assert opened and all(opened)
        assert page.locator("#toggle-answers").inner_text() == "Hide all answers"

        assert "patient-bolus presses" in page.locator("#events").inner_text()
        assert page.locator("#narrative li").count() >= 2
