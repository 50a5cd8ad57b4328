"""Clinic planning: a roster of pump patients turned into refill appointments.

::

    roster = load_roster("profiles/rosters/clinic-12.csv")
    calendar = ClinicCalendar(start=date(2026, 3, 9), end=date(2026, 6, 7), capacity_per_day=4,
                              country="DE", subdivision="BY", timezone="Europe/Berlin")
    with ForecastWindowSource(risk=0.01, runs=10_000, seed=0) as source:
        plan = plan_clinic(roster, calendar, source)
    write_ics(plan, Path("refills.ics"))

The rules are in ``pumpsim.clinic.planner`` and ``docs/planning.md``.
"""

from pumpsim.clinic.calendar import ClinicCalendar, calendar_from_dict
from pumpsim.clinic.export import (
    event_calendars,
    plan_csv,
    plan_ics,
    plan_json,
    worklist_text,
    write_csv,
    write_ics,
    write_json,
    write_worklist,
)
from pumpsim.clinic.planner import plan_clinic
from pumpsim.clinic.results import Appointment, DrugFill, NextDue, Plan, Unplaceable
from pumpsim.clinic.windows import (
    ForecastWindowSource,
    ScheduleWindowSource,
    Window,
    WindowRequest,
    WindowSource,
)
from pumpsim.core.clock import parse_weekdays
from pumpsim.io.roster import Roster, RosterEntry, load_roster

__all__ = [
    "Appointment",
    "ClinicCalendar",
    "DrugFill",
    "ForecastWindowSource",
    "NextDue",
    "Plan",
    "Roster",
    "RosterEntry",
    "ScheduleWindowSource",
    "Unplaceable",
    "Window",
    "WindowRequest",
    "WindowSource",
    "calendar_from_dict",
    "event_calendars",
    "load_roster",
    "parse_weekdays",
    "plan_clinic",
    "plan_csv",
    "plan_ics",
    "plan_json",
    "worklist_text",
    "write_csv",
    "write_ics",
    "write_json",
    "write_worklist",
]
