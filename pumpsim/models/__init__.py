"""pumpsim's data models (pydantic v2, frozen). Internal units are in the field names."""

from pumpsim.core.units import MassUnit
from pumpsim.models.base import FrozenModel
from pumpsim.models.catheter import Catheter
from pumpsim.models.demand import DemandWindow, PtmDemand
from pumpsim.models.distributions import FactorDistribution
from pumpsim.models.drug import Drug, DrugEntry, Infusate
from pumpsim.models.program import WEEKDAYS, FlexStep, PeriodicBolus, Program, PtmSettings
from pumpsim.models.pump import AlarmRange, BatterySpec, MriBehaviour, PumpSpec
from pumpsim.models.state import AlarmSettings, PumpState
from pumpsim.models.therapy import CrossCheckError, Therapy

__all__ = [
    "WEEKDAYS",
    "AlarmRange",
    "AlarmSettings",
    "BatterySpec",
    "Catheter",
    "CrossCheckError",
    "DemandWindow",
    "Drug",
    "DrugEntry",
    "FactorDistribution",
    "FlexStep",
    "FrozenModel",
    "Infusate",
    "MassUnit",
    "MriBehaviour",
    "PeriodicBolus",
    "Program",
    "PtmDemand",
    "PtmSettings",
    "PumpSpec",
    "PumpState",
    "Therapy",
]
