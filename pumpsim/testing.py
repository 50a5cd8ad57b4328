"""A reference pump with round numbers, for tests, benchmarks and worked examples.

Hand-computed cases need a pump whose every number is known and stays put when the shipped
catalog is revised, so they do not load ``profiles/pumps``. This one has round numbers close to
the SynchroMed II entries of docs/catalog.md and is fictional: do not plan with it.
"""

from __future__ import annotations

from typing import Any

from pumpsim.models import AlarmRange, BatterySpec, PumpSpec

REFERENCE_BATTERY = BatterySpec(
    life_at_min_rate_days=2555,
    life_at_reference_days=1825,
    reference_rate_ml_per_day=1,
    eri_to_eos_days=90,
)
"""7 years at the minimum rate, 5 years at 1 mL/day, 90 days from ERI to end of service."""


def reference_pump(**changes: Any) -> PumpSpec:
    """A 40 mL programmable pump: 0.048-24 mL/day (bolus up to 24 mL/day), rated accuracy
    ±14.5 %, 0.2 mL internal dead volume, 1.4 mL non-retrievable residual, low-reservoir alarm
    2 mL (1-10 mL), empty at 0 mL calculated then 0.048 mL/day, up to 10 flex steps, no battery
    model. ``changes`` replace any field (e.g. ``reservoir_ml=20``,
    ``battery=REFERENCE_BATTERY``)."""
    fields: dict[str, Any] = {
        "key": "reference",
        "name": "Reference pump (SynchroMed II-like, fictional)",
        "kind": "programmable",
        "reservoir_ml": 40,
        "min_rate_ml_per_day": 0.048,
        "max_rate_ml_per_day": 24,
        "rated_accuracy": 0.145,
        "internal_dead_volume_ml": 0.2,
        "nonretrievable_residual_ml": 1.4,
        "low_reservoir_alarm": AlarmRange(default_ml=2, min_ml=1, max_ml=10),
        "empty_reservoir_threshold_ml": 0,
        "rate_after_empty_ml_per_day": 0.048,
        "max_flex_steps": 10,
        "max_bolus_rate_ml_per_day": 24,
    }
    fields.update(changes)
    return PumpSpec(**fields)
