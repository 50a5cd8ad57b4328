"""Cohort mappings for tests: a deterministic one (no randomness at all) to compute by hand."""

from __future__ import annotations

import copy
from typing import Any

NO_EVENTS: dict[str, Any] = {
    "pocket_fill": {"per_refill": "0 %", "source": "test: none"},
    "motor_stall": {
        "per_pump_year": "0 %",
        "off_label_per_pump_year": "0 %",
        "source": "test: none",
    },
    "over_infusion": {"per_pump_year": "0 %", "delivery_factor": 1.25, "source": "test: none"},
    "catheter_surgery": {"per_pump_year": "0 %", "source": "test: none"},
    "pump_surgery": {"per_pump_year": "0 %", "source": "test: none"},
    "infection": {"per_pump_year": "0 %", "explant_share": "0 %", "source": "test: none"},
}

DETERMINISTIC: dict[str, Any] = {
    "name": "hand-computed",
    "indication": "non-malignant-pain",
    "patients": 3,
    "years": 1,
    "pumps": [{"pump": "synchromed-ii-20", "weight": 1}],
    "therapies": [
        {
            "weight": 1,
            "drugs": [{"drug": "morphine", "concentration": "10 mg/mL"}],
            "on_label": True,
            "daily_dose": "14.4 mg/day",
        }
    ],
    "low_reservoir_alarm": "2 mL",
    "delivery_factor": {"mean": 1.0, "sd": 0.0, "source": "test: exact"},
    "refill": {
        "days_before_alarm": "0.5 day",
        "lateness": "1.5 day",
        "no_show": "0 %",
        "rebook_after": "7 day",
        "emergency_after_empty": "0.5 day",
        "source": "test: fixed",
    },
    "events": NO_EVENTS,
    "battery": {"replace_after_eri": "30 day", "source": "test"},
}
"""SynchroMed II 20 mL, morphine 10 mg/mL at 14.4 mg/day = 1.44 mL/day = exactly 1 uL/min; alarm
at 2 mL: (20 - 2) / 1.44 = 12.5 days after each fill; dry at 20 / 1.44 days = 20,000 min."""


def deterministic(**changes: Any) -> dict[str, Any]:
    """A deep copy of ``DETERMINISTIC`` with top-level ``changes`` (``refill`` merged)."""
    data = copy.deepcopy(DETERMINISTIC)
    for key, value in changes.items():
        if key == "refill":
            data["refill"].update(value)
        else:
            data[key] = value
    return data
