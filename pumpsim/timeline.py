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
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from pumpsim.errors import Problem, ProfileError
from pumpsim.models import Infusate, Program, PtmDemand, PtmSettings, Therapy
from pumpsim.models._base import FROM_FILE, FrozenModel, PumpTime, unit
from pumpsim.units import DURATION, VOLUME

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
    "timeline_from_list",
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
    duration_days: Annotated[Days | None, Field(alias="duration", gt=0)] = None


class CatheterDisconnection(_Entry):
    """The catheter is disconnected: drug leaves the reservoir but not into the spinal fluid."""

    action: Literal["disconnection"] = "disconnection"
    duration_days: Annotated[Days | None, Field(alias="duration", gt=0)] = None


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


_ENTRY = TypeAdapter(Intervention)


def timeline_from_list(
    raw: Any, therapy: Therapy, source: str, *, resolve_drugs: Any = None, field: str = "timeline"
) -> Timeline:
    """Validate a ``timeline:`` list from a file against ``therapy``.

    Refill ``drugs:`` are resolved through ``resolve_drugs(list, where, problems)`` (the profile
    loader's catalog look-up); programs and PTM doses are converted through the concentration in
    the reservoir at that point of the timeline. Every problem is reported at once.
    """
    if raw is None:
        return Timeline()
    if not isinstance(raw, list):
        raise ProfileError(source, [Problem(field, raw, "a list of {at:, action:, ...}")])
    problems: list[Problem] = []
    entries: list[Any] = []
    concentration = therapy.infusate.primary.concentration_mg_per_ml
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(where, item, "a mapping with at: and action:"))
            continue
        data = dict(item)
        if data.get("action") == "refill" and "drugs" in data:
            if resolve_drugs is None:
                problems.append(Problem(f"{where}.drugs", "given", "drugs need a catalog"))
                continue
            infusate = resolve_drugs(data.pop("drugs"), f"{where}.drugs", problems)
            if infusate is None:
                continue
            data["infusate"] = infusate
            concentration = infusate.primary.concentration_mg_per_ml
        try:
            entry = _ENTRY.validate_python(
                data, context={**FROM_FILE, "concentration_mg_per_ml": concentration}
            )
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "float"))]
                # the first loc element is the discriminator tag; drop it
                if loc and loc[0] == data.get("action"):
                    loc = loc[1:]
                path = ".".join([where, *loc])
                problems.append(
                    Problem(path, err.get("input"), err["msg"].removeprefix("Value error, "))
                )
            continue
        if entry.at < therapy.state.time:
            problems.append(
                Problem(
                    f"{where}.at",
                    entry.at.isoformat(),
                    f"not before state.time {therapy.state.time.isoformat()}",
                )
            )
        entries.append(entry)
    times = [e.at for e in entries]
    if times != sorted(times):
        problems.append(Problem(field, "out of order", "entries in time order"))
    if problems:
        raise ProfileError(source, problems)
    return Timeline(entries=tuple(entries))


def ordered(entries: Sequence[Any]) -> Timeline:
    """A ``Timeline`` from Python-built entries, sorted by time (stable)."""
    return Timeline(entries=tuple(sorted(entries, key=lambda e: e.at)))
