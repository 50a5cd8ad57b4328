"""The teaching report in a real headless Chromium: it loads with no console errors and no
outside requests, every plot is present and not blank, and clicking reveals an answer.

Chromium comes from the system packages (``make test`` installs it); without it this test FAILS —
it is never skipped.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
from playwright.sync_api import ConsoleMessage, sync_playwright

from pumpsim.report import write_html
from pumpsim.teaching.scenarios import run_scenario

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _pixel_std(png: bytes) -> float:
    img = matplotlib.image.imread(io.BytesIO(png), format="png")
    return float(np.std(img[..., :3]))


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists() or shutil.which("chromium"), (
        "Chromium is required for this test: apt-get install chromium (make test does this)"
    )
    report = tmp_path / "ptm-overuse.html"
    write_html(run_scenario("ptm-overuse"), report)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})

            def on_console(msg: ConsoleMessage) -> None:
                if msg.type == "error":
                    errors.append(msg.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(report.as_uri(), wait_until="load")

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
                assert _pixel_std(img.screenshot()) > 0.05, f"plot {key} looks blank"

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
        finally:
            browser.close()
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
