"""The nurses' plan page in a real headless Chromium: no console errors, no outside requests,
the calendar shows the right number of bookings per clinic day for clinic-12 (schedule windows
from Monday 9 March 2026, two refills a day, Bavarian holidays), the windows and the patients at
risk are listed, and a screenshot of the whole page is taken (written next to the report).

Chromium comes from the system packages (``make test`` installs it); without it this test FAILS.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from playwright.sync_api import Page
from report_browser import report_page, screenshot_ok
from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.clinic.calendar import ClinicCalendar, calendar_from_dict
from pumpsim.clinic.planner import plan_clinic
from pumpsim.clinic.results import Plan
from pumpsim.clinic.windows import ScheduleWindowSource
from pumpsim.io.roster import load_roster

ROSTER = Path(__file__).resolve().parents[2] / "profiles" / "rosters" / "clinic-12.csv"
START = dt.date(2026, 3, 9)


def _calendar() -> ClinicCalendar:
    return calendar_from_dict(
        {
            "start": START,
            "end": START + dt.timedelta(weeks=13, days=-1),
            "capacity_per_day": 2,
            "country": "DE",
            "subdivision": "BY",
            "timezone": "Europe/Berlin",
        }
    )


def _write_with_cli(path: Path) -> None:
    args = ["plan", str(ROSTER), "--start", f"{START}", "--weeks", "13", "--capacity", "2"]
    args += ["--country", "DE", "--subdiv", "BY", "--timezone", "Europe/Berlin"]
    result = CliRunner().invoke(app, [*args, "--windows", "schedule", "--report", str(path)])
    assert result.exit_code == 0, result.output


def test_plan_report_in_headless_chromium(tmp_path: Path) -> None:
    plan = plan_clinic(load_roster(ROSTER), _calendar(), ScheduleWindowSource())
    expected = {str(day): len(a) for day, a in plan.per_day().items()}
    report = tmp_path / "plan.html"
    _write_with_cli(report)
    with report_page(report, 1200) as page:
        _check_page(page, plan, expected)
        screenshot_ok(page, tmp_path / "plan.png", 900)


def _check_page(page: Page, plan: Plan, expected: dict[str, int]) -> None:
    assert page.title().startswith("Refill plan 2026-03-09 to 2026-06-07")
    cells = page.locator("#calendar td.day[data-date]")
    shown = cells.evaluate_all(
        "cs => cs.map(c => [c.dataset.date, Number(c.dataset.bookings),"
        " c.querySelectorAll('ul.bookings li').length])"
    )
    assert len(shown) == 91  # every day of 13 weeks
    assert {d: n for d, n, _ in shown if n} == expected
    assert all(n == li for _, n, li in shown)
    assert sum(expected.values()) == len(plan.appointments) == 26
    # capacity used / capacity on each open day, e.g. Tue 17 March: 2 of 2
    assert page.locator('#calendar td[data-date="2026-03-17"] .count').inner_text() == "2/2"
    assert page.locator('#calendar td[data-date="2026-03-10"] .count').inner_text() == "0/2"
    good_friday = page.locator('#calendar td[data-date="2026-04-03"]')
    assert "Karfreitag" in good_friday.inner_text() or "Good Friday" in good_friday.inner_text()
    # every window: one table row and one timeline lane each
    rows = len(plan.appointments) + len(plan.unplaceable) + len(plan.next_due)
    assert page.locator("#windows tbody tr").count() == rows
    assert page.locator("#timeline g.lane").count() == rows
    first = page.locator("#windows tbody tr").first.locator("td").all_inner_texts()
    a = plan.appointments[[x.patient_id for x in plan.appointments].index("ITP-001")]
    assert first[:5] == [
        "ITP-001",
        "1",
        str(a.window_earliest),
        str(a.window_latest),
        a.limiting_factor.replace("_", " "),
    ]
    tight = [a for a in plan.appointments if a.slack_days <= 0 and not a.urgent]
    assert page.locator("#at-risk li.tight").count() == len(tight)


def test_urgent_and_hostile_values_in_the_plan_report(tmp_path: Path) -> None:
    from pumpsim.report.plan_report import render_plan_report

    calendar = _calendar().model_copy(update={"start": dt.date(2026, 12, 1)})
    calendar = calendar.model_copy(update={"end": dt.date(2026, 12, 31)})
    plan = plan_clinic(load_roster(ROSTER), calendar, ScheduleWindowSource())
    assert all(a.urgent for a in plan.appointments if a.cycle == 1)
    first = plan.appointments[0]
    bad = first.model_copy(update={"patient_id": "<script>x</script>"})
    page = render_plan_report(plan.model_copy(update={"appointments": (bad,)}), calendar)
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    page = render_plan_report(plan, calendar)
    assert page.count('<li class="urgent" data-patient=') == sum(
        a.urgent for a in plan.appointments
    )
