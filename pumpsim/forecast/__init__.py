"""Refill forecasting: deterministic limits, the probabilistic forecast, calibration from the
pump's history, the one batch runner for rosters, and the ``check`` summary."""

from pumpsim.forecast.batch import ForecastJob, ForecastRunner, forecast_many, patient_stream
from pumpsim.forecast.deterministic import (
    PROMETRA_REFILL_ML,
    DeterministicForecast,
    battery_used_at,
    deterministic,
    elective_replacement_day,
    stability_limit,
)
from pumpsim.forecast.probabilistic import (
    Event,
    EventForecast,
    FanChart,
    Forecast,
    LimitingFactor,
    forecast,
)
from pumpsim.forecast.summary import DoseWarning, DrugDose, TherapySummary, summarize

__all__ = [
    "PROMETRA_REFILL_ML",
    "DeterministicForecast",
    "DoseWarning",
    "DrugDose",
    "Event",
    "EventForecast",
    "FanChart",
    "Forecast",
    "ForecastJob",
    "ForecastRunner",
    "LimitingFactor",
    "TherapySummary",
    "battery_used_at",
    "deterministic",
    "elective_replacement_day",
    "forecast",
    "forecast_many",
    "patient_stream",
    "stability_limit",
    "summarize",
]
