"""What a plan says: appointments, patients that could not be placed, and windows after the horizon.

Every date and time is local wall-clock time in the plan's ``timezone``; volumes are mL and drug
amounts mg in Python, in the drug's unit in JSON (``DrugFill``). A ``Plan`` round-trips through
JSON (``Plan.model_validate_json``), which is how a re-plan learns what was booked before.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pumpsim.core.jsonout import SCHEMA_VERSION
from pumpsim.models import FrozenModel
from pumpsim.schedule.limits import InDrugUnit

__all__ = ["Appointment", "DrugFill", "NextDue", "Plan", "Unplaceable"]


class DrugFill(InDrugUnit):
    """One drug to draw up for a refill: concentration (mg/mL) and amount in the fill (mg).

    In JSON both are in the drug's unit, named for it (``concentration_mcg_per_ml``,
    ``amount_mcg`` for a drug dosed in mcg); reading JSON back accepts either spelling.
    """

    name: str
    mass_unit: Literal["mg", "mcg"]
    concentration_mg_per_ml: float
    amount_mg: float


class Appointment(FrozenModel):
    """One planned refill.

    ``uid`` is stable across re-plans: it names the patient, the fill the roster knows and the
    cycle (1 = the first refill after that fill), not the date. ``slack_days`` is how many days
    the refill could still move later inside its window.
    """

    uid: str
    patient_id: str
    name: str | None = None
    cycle: int
    pool: str
    location: str | None = None
    nurse: str | None = None
    date: dt.date
    start: dt.datetime
    end: dt.datetime
    window_earliest: dt.date
    window_latest: dt.date
    limiting_factor: str
    slack_days: int
    kept: bool = False
    """True when this is a booking from the previous plan kept unchanged."""
    early: bool = False
    """True when the refill comes before ``window_earliest`` because the window had no room."""
    urgent: bool = False
    """True when the refill was overdue at the plan's start (``window_latest`` before the first
    open day) and is booked on the first open day with room."""
    urgent_reason: str | None = None
    """``overdue since <refill-by date>`` for an urgent refill."""
    previous_start: dt.datetime | None = None
    """When a booking from the previous plan was moved: its old start."""
    change_reason: str | None = None
    pump_key: str
    pump_name: str
    drugs_label: str
    fill_ml: float
    drugs: tuple[DrugFill, ...]
    expected_remaining_ml: float
    """Calculated reservoir volume at the appointment by the program alone (PTM boluses not
    included): what the pump's programmer should show before the refill."""
    bridge_bolus: bool
    """The refill changes a concentration: program a bridge bolus for the old fluid in the
    pump tubing and catheter."""
    previous_drugs_label: str | None = None


class Unplaceable(FrozenModel):
    """A refill no plan could fit, with why and the best way out."""

    uid: str
    patient_id: str
    cycle: int
    pool: str
    window_earliest: dt.date
    window_latest: dt.date
    limiting_factor: str
    reason: str
    best_option: str
    best_date: dt.date | None


class NextDue(FrozenModel):
    """The window of a patient's next refill once it lies (partly) after the horizon."""

    patient_id: str
    cycle: int
    earliest: dt.date
    latest: dt.date
    limiting_factor: str


class Plan(FrozenModel):
    """The refill plan of a clinic over ``start`` … ``end`` (inclusive dates)."""

    start: dt.date
    end: dt.date
    timezone: str | None
    """The clinic's IANA time zone; ``None`` when none was given or found from the country."""
    window_source: str
    appointments: tuple[Appointment, ...]
    unplaceable: tuple[Unplaceable, ...]
    next_due: tuple[NextDue, ...]
    closed_days: dict[dt.date, str]
    """Holidays and closures inside the horizon (regular closed weekdays are not listed)."""
    schema_version: Literal[1] = SCHEMA_VERSION
    """The version of the plan JSON (``core.jsonout``); a plan of another version is refused."""

    def per_day(self) -> dict[dt.date, list[Appointment]]:
        """Appointments grouped by date, in time order."""
        out: dict[dt.date, list[Appointment]] = {}
        for appointment in self.appointments:
            out.setdefault(appointment.date, []).append(appointment)
        return out

    def tightest(self, n: int = 5) -> list[Appointment]:
        """The ``n`` appointments with the least slack (first refill cycles first on ties)."""
        return sorted(self.appointments, key=lambda a: (a.slack_days, a.date, a.patient_id))[:n]
