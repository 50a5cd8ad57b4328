"""pumpsim: a simulator of implantable intrathecal drug-delivery pumps.

For refill planning and teaching. **Not a medical device**: never use it to program a pump or to
make a clinical decision without the pump's own programmer and the clinician's judgement.

This module is the façade: the public API, re-exported from the layer packages (``core``,
``models``, ``io``, ``schedule``, ``engine``, ``ensemble``, ``forecast``, ``clinic``,
``teaching``, ``report``, ``cli``). Nothing inside the package imports it. Names are loaded on
first use, so ``import pumpsim`` stays cheap::

    import pumpsim

    therapy = pumpsim.load_therapy("profiles/patients/morphine-cancer-pain.yaml")
    print(pumpsim.summarize(therapy).days_to_low_reservoir)
    print(pumpsim.forecast(therapy, runs=10_000, seed=7).recommendation())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pumpsim.core.about import DISCLAIMER, VERSION
from pumpsim.core.errors import Problem, ProfileError, PumpsimError, SimulationError

if TYPE_CHECKING:
    from pumpsim.clinic import (
        ClinicCalendar,
        ForecastWindowSource,
        Plan,
        ScheduleWindowSource,
        plan_clinic,
    )
    from pumpsim.engine import Trace, simulate
    from pumpsim.forecast import (
        DeterministicForecast,
        Forecast,
        ForecastRunner,
        TherapySummary,
        deterministic,
        forecast,
        forecast_many,
        summarize,
    )
    from pumpsim.forecast.programming import ProgramChange, programming_session
    from pumpsim.io.profiles import Catalog, Profile, load_catalog, load_profile, load_therapy
    from pumpsim.io.roster import Roster, RosterEntry, load_roster
    from pumpsim.models import (
        Catheter,
        Drug,
        FrozenModel,
        Infusate,
        Program,
        PtmDemand,
        PtmSettings,
        PumpSpec,
        PumpState,
        Therapy,
    )
    from pumpsim.models.timeline import Timeline
    from pumpsim.schedule.limits import DoseLimitError
    from pumpsim.teaching.scenarios import (
        Scenario,
        ScenarioResult,
        list_scenarios,
        load_scenario,
        run_scenario,
    )

__version__ = VERSION

_LAZY: dict[str, str] = {
    # models
    **dict.fromkeys(
        (
            "Catheter",
            "Drug",
            "FrozenModel",
            "Infusate",
            "Program",
            "PtmDemand",
            "PtmSettings",
            "PumpSpec",
            "PumpState",
            "Therapy",
        ),
        "pumpsim.models",
    ),
    "Timeline": "pumpsim.models.timeline",
    "DoseLimitError": "pumpsim.schedule.limits",
    **dict.fromkeys(("ProgramChange", "programming_session"), "pumpsim.forecast.programming"),
    # reading files
    **dict.fromkeys(
        ("Catalog", "Profile", "load_catalog", "load_profile", "load_therapy"),
        "pumpsim.io.profiles",
    ),
    **dict.fromkeys(("Roster", "RosterEntry", "load_roster"), "pumpsim.io.roster"),
    # one run, many runs, forecasts
    **dict.fromkeys(("Trace", "simulate"), "pumpsim.engine"),
    **dict.fromkeys(
        (
            "DeterministicForecast",
            "Forecast",
            "ForecastRunner",
            "TherapySummary",
            "deterministic",
            "forecast",
            "forecast_many",
            "summarize",
        ),
        "pumpsim.forecast",
    ),
    # clinic planning
    **dict.fromkeys(
        ("ClinicCalendar", "ForecastWindowSource", "Plan", "ScheduleWindowSource", "plan_clinic"),
        "pumpsim.clinic",
    ),
    # teaching
    **dict.fromkeys(
        ("Scenario", "ScenarioResult", "list_scenarios", "load_scenario", "run_scenario"),
        "pumpsim.teaching.scenarios",
    ),
}

__all__ = [
    "DISCLAIMER",
    "Catalog",
    "Catheter",
    "ClinicCalendar",
    "DeterministicForecast",
    "DoseLimitError",
    "Drug",
    "Forecast",
    "ForecastRunner",
    "ForecastWindowSource",
    "FrozenModel",
    "Infusate",
    "Plan",
    "Problem",
    "Profile",
    "ProfileError",
    "Program",
    "ProgramChange",
    "PtmDemand",
    "PtmSettings",
    "PumpSpec",
    "PumpState",
    "PumpsimError",
    "Roster",
    "RosterEntry",
    "Scenario",
    "ScenarioResult",
    "ScheduleWindowSource",
    "SimulationError",
    "Therapy",
    "TherapySummary",
    "Timeline",
    "Trace",
    "__version__",
    "deterministic",
    "forecast",
    "forecast_many",
    "list_scenarios",
    "load_catalog",
    "load_profile",
    "load_roster",
    "load_scenario",
    "load_therapy",
    "plan_clinic",
    "programming_session",
    "run_scenario",
    "simulate",
    "summarize",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its layer on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pumpsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
