"""The one way the report tests open a page in Debian's headless Chromium.

``report_page(path, width)`` yields a Playwright page on the file and, when the block ends
without an error, asserts that the page logged no console or page error and asked for nothing
beyond ``file:`` and ``data:`` URLs (the reports are self-contained). ``screenshot_ok`` takes a
full-page screenshot and checks it is tall enough and not blank.

Chromium comes from the system packages (``make test`` installs it); without it these tests
FAIL, they are never skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import png_rgb
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def report_page(report: Path, width: int, height: int = 900) -> Iterator[Page]:
    assert Path(CHROMIUM).exists() or shutil.which("chromium"), (
        "Chromium is required for this test: apt-get install chromium (make test does this)"
    )
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})

            def on_console(msg: ConsoleMessage) -> None:
                if msg.type == "error":
                    errors.append(msg.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(report.as_uri(), wait_until="load")
            yield page
        finally:
            browser.close()
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def screenshot_ok(page: Page, path: Path, min_height: int) -> None:
    """A full-page screenshot at ``path``, taller than ``min_height`` pixels and not blank."""
    img = png_rgb(page.screenshot(full_page=True, path=str(path)))
    assert img.shape[0] > min_height and float(img.std()) > 0.05
