"""pumpsim: a simulator of implantable intrathecal drug-delivery pumps.

For refill planning and teaching. **Not a medical device**: never use it to program a pump or to
make a clinical decision without the pump's own programmer and the clinician's judgement.
"""

from pumpsim.core.errors import Problem, ProfileError, PumpsimError, SimulationError
from pumpsim.io.profiles import Catalog, load_catalog, load_therapy
from pumpsim.models import (
    Catheter,
    Drug,
    Infusate,
    Program,
    PtmDemand,
    PtmSettings,
    PumpSpec,
    PumpState,
    Therapy,
)

__version__ = "0.1.0"

DISCLAIMER = (
    "pumpsim is a simulator for refill planning and teaching. It is NOT a medical device: "
    "do not use it to program a pump or to make clinical decisions."
)

__all__ = [
    "DISCLAIMER",
    "Catalog",
    "Catheter",
    "Drug",
    "Infusate",
    "Problem",
    "ProfileError",
    "Program",
    "PtmDemand",
    "PtmSettings",
    "PumpSpec",
    "PumpState",
    "PumpsimError",
    "SimulationError",
    "Therapy",
    "__version__",
    "load_catalog",
    "load_therapy",
]
