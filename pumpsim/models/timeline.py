"""Interventions and faults on a dated timeline, kept apart from the therapy (what happens when,
not how the pump responds).

A profile or scenario may carry ``timeline:``, a list of entries with an ``at`` time and an
``action``::

    timeline:
      - {at: "2026-12-01T10:00", action: refill, fill: "20 mL",
         drugs: [{drug: morphine, concentration: "50 mg/mL"}],
         program: {mode: simple, rate: "10 mg/day"}, bridge_bolus: true}
      - {at: "2026-12-10T14:00", action: mri, duration: "45 min"}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from pumpsim.core.units import DURATION, VOLUME
from pumpsim.models.base import FrozenModel, PumpTime, unit
from pumpsim.models.demand import PtmDemand
from pumpsim.models.drug import Infusate
from pumpsim.models.program import Program, PtmSettings

Volume = Annotated[float, unit(VOLUME)]
Days = Annotated[float, unit(DURATION)]

__all__ = [
    "CatheterDisconnection",
    "CatheterOcclusion",
    "Intervention",
    "MriExposure",
    "PrimingBolus",
    "PtmChange",
    "Refill",
    "Reprogram",
    "Timeline",
    "ordered",
]


class _Entry(FrozenModel):
    at: PumpTime


class Refill(_Entry):
    """Withdraw what can be withdrawn, fill ``fill_ml`` (maybe a new fluid and program).

    ``entered_ml`` is the volume keyed into the programmer (defaults to ``fill_ml``).
    ``bridge_bolus`` keeps the old program running until the old fluid in pump tubing and
    catheter has been pushed out, so the old prescription's dose continues meanwhile.
    ``pocket_fill`` is the refill error where the injection misses the reservoir.
    """

    action: Literal["refill"] = "refill"
    fill_ml: Annotated[Volume, Field(alias="fill", gt=0, le=100)]
    entered_ml: Annotated[Volume | None, Field(alias="entered", gt=0, le=100)] = None
    infusate: Infusate | None = None
    program: Program | None = None
    bridge_bolus: bool = False
    pocket_fill: bool = False


class Reprogram(_Entry):
    """Replace the running program (rates take effect at ``at``)."""

    action: Literal["reprogram"] = "reprogram"
    program: Program


class PtmChange(_Entry):
    """New patient-bolus settings (``ptm: null`` disables the PTM) and, optionally, how the
    patient presses from now on (``demand``; default: as before). A therapy that starts without
    a PTM gets its first demand here."""

    action: Literal["ptm_change"] = "ptm_change"
    ptm: PtmSettings | None
    demand: PtmDemand | None = None


class MriExposure(_Entry):
    """Time in an MRI scanner: the motor stalls (if the pump model does) until restart."""

    action: Literal["mri"] = "mri"
    duration_days: Annotated[Days, Field(alias="duration", gt=0, le=1)]


class CatheterOcclusion(_Entry):
    """The catheter is blocked: the pump runs (and counts) but nothing leaves the reservoir."""

    action: Literal["occlusion"] = "occlusion"
    duration_days: Annotated[Days | None, Field(alias="duration", gt=0, le=3660)] = None


class CatheterDisconnection(_Entry):
    """The catheter is disconnected: drug leaves the reservoir but not into the spinal fluid."""

    action: Literal["disconnection"] = "disconnection"
    duration_days: Annotated[Days | None, Field(alias="duration", gt=0, le=3660)] = None


class PrimingBolus(_Entry):
    """A new catheter (``new_catheter``) or pump is primed: its dead volume starts drug-free and a
    bolus of exactly the dead volume fills it at the pump's maximum bolus rate."""

    action: Literal["priming_bolus"] = "priming_bolus"
    new_catheter: bool = True


Intervention = Annotated[
    Refill
    | Reprogram
    | PtmChange
    | MriExposure
    | CatheterOcclusion
    | CatheterDisconnection
    | PrimingBolus,
    Field(discriminator="action"),
]


class Timeline(FrozenModel):
    """Interventions in time order."""

    entries: tuple[Intervention, ...] = ()

    def after(self, when: dt.datetime) -> tuple[Intervention, ...]:
        return tuple(e for e in self.entries if e.at >= when)


def ordered(entries: Sequence[Any]) -> Timeline:
    """A ``Timeline`` from Python-built entries, sorted by time (stable)."""
    return Timeline(entries=tuple(sorted(entries, key=lambda e: e.at)))
