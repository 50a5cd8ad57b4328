"""The drug library's daily-dose limits: soft limits warn, hard limits stop.

This is the one home of the dose-limit rule (a dose-error-reduction system, as on infusion
pumps). ``dose_limit_check`` judges, for **every drug** of the infusate, the largest programmed
calendar day (``schedule.segments.max_calendar_day_volume_ml``) and that day plus every allowed
patient bolus (``schedule.ptm.ptm_max_ml_per_day``), for the therapy's state and for every later
program, infusate or PTM setting in a timeline (``Refill``, ``Reprogram``, ``PtmChange``).

``enforce_dose_limits`` is what the entry points call (``summarize``/``pumpsim check``,
``plan_clinic``/``pumpsim plan``): it raises ``DoseLimitError`` for a dose above a hard limit
unless the profile carries the explicit override ``dose_limits: {override: "<reason>"}``
(``Therapy.dose_limits``), and returns the warnings otherwise. A hard-limit message names the
likely slip when reading the number per hour instead of per day (÷ 24), or mcg instead of mg
(÷ 1000), would land within the limit: ``0.5 mL/h = 12 mL/day; did you mean 0.5 mL/day?``.

The module needs only ``models`` and ``schedule``; all doses are mg/day (the internal unit),
and ``mass_fields_json`` renders them in the drug's unit for JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from pumpsim.core.errors import PumpsimError
from pumpsim.core.units import MassUnit, format_mass_mg, mass_in_unit
from pumpsim.models import Drug, FrozenModel, PumpSpec, Therapy
from pumpsim.models.timeline import PtmChange, Refill, Reprogram, Timeline
from pumpsim.schedule.ptm import ptm_max_ml_per_day
from pumpsim.schedule.segments import max_calendar_day_volume_ml, volume_to_dose_mg

__all__ = [
    "DoseLimitError",
    "DoseWarning",
    "InDrugUnit",
    "dose_limit_check",
    "enforce_dose_limits",
    "mass_fields_from_json",
    "mass_fields_json",
    "read_mass_fields",
]

_OVER = 1 + 1e-9
"""A dose counts as above a limit beyond this relative tolerance (2 mL/day × 10 mg/mL is
20 mg/day, not above a 20 mg/day limit by rounding)."""
_HOURS_PER_DAY = 24.0
_MCG_PER_MG = 1000.0

Basis = Literal["programmed", "programmed + all PTM boluses"]


class DoseWarning(FrozenModel):
    """A daily dose above a drug's soft (caution) or hard (do-not-exceed) limit (mg/day)."""

    drug: str
    mass_unit: MassUnit
    level: Literal["soft", "hard"]
    basis: Basis
    dose_mg_per_day: float
    limit_mg_per_day: float
    where: str = ""
    """``""`` for the therapy's state, else the timeline entry (``timeline[0] reprogram at …``)."""
    hint: str | None = None
    """The likely slip for a hard-limit dose (``0.5 mL/h = 12 mL/day; did you mean …?``)."""

    @property
    def message(self) -> str:
        """One line for a human, doses in the drug's unit."""
        kind = "HARD limit" if self.level == "hard" else "soft limit"
        dose = format_mass_mg(self.dose_mg_per_day, self.mass_unit, ".4g")
        limit = format_mass_mg(self.limit_mg_per_day, self.mass_unit, ".4g")
        text = (
            f"{self.drug}: highest-day {self.basis} dose {dose}/day is above the {kind} of "
            f"{limit}/day"
        )
        if self.where:
            text = f"{self.where}: {text}"
        return f"{text} ({self.hint})" if self.hint else text

    @model_validator(mode="before")
    @classmethod
    def _from_drug_unit(cls, data: Any) -> Any:
        return read_mass_fields(data, drop=("message",))

    @model_serializer(mode="wrap")
    def _in_drug_unit(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """JSON names and values in the drug's unit (``dose_mcg_per_day``, …) plus the message."""
        data: dict[str, Any] = handler(self)
        if not info.mode_is_json():
            return data
        return {**mass_fields_json(data, self.mass_unit), "message": self.message}


class DoseLimitError(PumpsimError):
    """A therapy is valid but unsafe: a dose above a drug's hard daily limit, no override.

    ``warnings`` holds the hard-limit ``DoseWarning``s; the CLI exits with code 3 for it.
    """

    def __init__(self, source: str, warnings: tuple[DoseWarning, ...]) -> None:
        self.source = source
        self.warnings = warnings
        lines = "\n".join(f"  - {w.message}" for w in warnings)
        super().__init__(
            f"{source}: dose above a hard limit\n{lines}\n"
            "  (to teach an overdose scenario on purpose, add to the profile: dose_limits: "
            '{override: "teaching overdose scenario: <reason>"})'
        )


def dose_limit_check(therapy: Therapy, timeline: Timeline | None = None) -> tuple[DoseWarning, ...]:
    """Every soft and hard limit broken by ``therapy`` and by each later program, infusate or
    PTM setting of ``timeline`` (each judged from its own time, on its own 4 weeks)."""
    warnings = list(_check(therapy, ""))
    current = therapy
    for i, entry in enumerate(timeline.entries if timeline else ()):
        update: dict[str, Any] = {}
        if isinstance(entry, Refill | Reprogram) and entry.program is not None:
            update["program"] = entry.program
        if isinstance(entry, Refill) and entry.infusate is not None:
            update["infusate"] = entry.infusate
        if isinstance(entry, PtmChange):
            update["ptm"] = entry.ptm
        if not update:
            continue
        update["state"] = current.state.model_copy(update={"time": entry.at})
        current = current.model_copy(update=update)
        warnings.extend(_check(current, f"timeline[{i}] {entry.action} at {_time(entry.at)}"))
    return tuple(warnings)


def enforce_dose_limits(
    therapy: Therapy, timeline: Timeline | None = None, *, source: str = ""
) -> tuple[DoseWarning, ...]:
    """``dose_limit_check``, raising ``DoseLimitError`` (named ``source``, default the patient
    id) for a hard-limit dose unless ``therapy.dose_limits.override`` gives a reason."""
    warnings = dose_limit_check(therapy, timeline)
    hard = tuple(w for w in warnings if w.level == "hard")
    if hard and therapy.dose_limits.override is None:
        raise DoseLimitError(source or therapy.patient_id, hard)
    return warnings


def _check(therapy: Therapy, where: str) -> list[DoseWarning]:
    """The limits ``therapy`` breaks on its highest day, with and without every PTM bolus."""
    max_ml = max_calendar_day_volume_ml(therapy)
    ptm_ml = ptm_max_ml_per_day(therapy.ptm)
    warnings: list[DoseWarning] = []
    for drug in therapy.infusate.drugs:
        programmed = _broken(drug, max_ml, "programmed", where)
        if programmed is not None:
            hint = _slip_hint(drug, max_ml, therapy.pump) if programmed.level == "hard" else None
            warnings.append(programmed.model_copy(update={"hint": hint}))
        with_ptm = _broken(drug, max_ml + ptm_ml, "programmed + all PTM boluses", where)
        if ptm_ml > 0 and with_ptm is not None and _rank(with_ptm) > _rank(programmed):
            warnings.append(with_ptm)
    return warnings


def _broken(drug: Drug, volume_ml: float, basis: Basis, where: str) -> DoseWarning | None:
    """The highest limit ``volume_ml`` a day of ``drug`` breaks, if any."""
    dose = volume_to_dose_mg(volume_ml, drug.concentration_mg_per_ml)
    hard, soft = drug.hard_limit_mg_per_day, drug.soft_limit_mg_per_day
    if hard is not None and dose > hard * _OVER:
        level: Literal["soft", "hard"] = "hard"
        limit = hard
    elif soft is not None and dose > soft * _OVER:
        level, limit = "soft", soft
    else:
        return None
    return DoseWarning(
        drug=drug.name,
        mass_unit=drug.mass_unit,
        level=level,
        basis=basis,
        dose_mg_per_day=dose,
        limit_mg_per_day=limit,
        where=where,
    )


def _rank(warning: DoseWarning | None) -> int:
    return 0 if warning is None else (2 if warning.level == "hard" else 1)


def _slip_hint(drug: Drug, volume_ml: float, pump: PumpSpec) -> str | None:
    """The reading that lands within the hard limit: per hour for per day (×24; only a rate the
    pump can run, never on a constant-flow pump), or, for a drug dosed in mcg, mg for mcg
    (×1000). ``None`` if neither does."""
    hard = drug.hard_limit_mg_per_day
    dose_mg = volume_to_dose_mg(volume_ml, drug.concentration_mg_per_ml)
    if hard is None:
        return None
    per_hour = volume_ml / _HOURS_PER_DAY
    runnable = pump.kind != "constant-flow" and per_hour >= pump.min_rate_ml_per_day
    if runnable and dose_mg / _HOURS_PER_DAY <= hard:
        return f"{per_hour:.4g} mL/h = {volume_ml:.4g} mL/day; did you mean {per_hour:.4g} mL/day?"
    if drug.mass_unit == "mcg" and dose_mg / _MCG_PER_MG <= hard:
        mcg = mass_in_unit(dose_mg, "mcg")
        return f"{dose_mg:.4g} mg/day = {mcg:.4g} mcg/day; did you mean {dose_mg:.4g} mcg/day?"
    return None


def _time(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- JSON in the drug's unit
_MASS_FIELDS: dict[str, tuple[str, str]] = {
    "concentration_mg_per_ml": ("concentration", "_per_ml"),
    "mean_daily_dose_mg": ("mean_daily_dose", "_per_day"),
    "max_daily_dose_mg": ("max_daily_dose", "_per_day"),
    "ptm_max_dose_mg_per_day": ("ptm_max_dose", "_per_day"),
    "soft_limit_mg_per_day": ("soft_limit", "_per_day"),
    "hard_limit_mg_per_day": ("hard_limit", "_per_day"),
    "dose_mg_per_day": ("dose", "_per_day"),
    "limit_mg_per_day": ("limit", "_per_day"),
    "amount_mg": ("amount", ""),
}
"""Python field (mass in mg) → JSON stem and what the mass is per; the JSON name carries the
drug's unit: ``concentration_mcg_per_ml``, ``mean_daily_dose_mcg_per_day``, ``amount_mcg``."""


def mass_fields_json(data: Mapping[str, Any], mass_unit: str) -> dict[str, Any]:
    """``data`` (a model dump, masses in mg) with each mass field renamed for and converted to
    ``mass_unit`` (``core.units.mass_in_unit``); other fields unchanged, order kept."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _MASS_FIELDS:
            stem, per = _MASS_FIELDS[key]
            out[f"{stem}_{mass_unit}{per}"] = (
                None if value is None else mass_in_unit(float(value), mass_unit)
            )
        else:
            out[key] = value
    return out


def mass_fields_from_json(data: Mapping[str, Any], mass_unit: str) -> dict[str, Any]:
    """The inverse of ``mass_fields_json``: JSON names in ``mass_unit`` back to mg fields (a
    field already named in mg is kept)."""
    scale = mass_in_unit(1.0, mass_unit)
    names = {f"{stem}_{mass_unit}{per}": key for key, (stem, per) in _MASS_FIELDS.items()}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = names.get(key)
        if name is None or name in data:
            out[key] = value
        else:
            out[name] = None if value is None else float(value) / scale
    return out


def read_mass_fields(data: Any, drop: tuple[str, ...] = ()) -> Any:
    """For a model's ``mode="before"`` validator: a JSON mapping (with ``mass_unit``) back to mg
    fields, ``drop``ped keys (derived, e.g. ``message``) removed; anything else unchanged."""
    if not isinstance(data, Mapping) or data.get("mass_unit") not in ("mg", "mcg"):
        return data
    return {
        k: v for k, v in mass_fields_from_json(data, data["mass_unit"]).items() if k not in drop
    }


class InDrugUnit(FrozenModel):
    """A model whose mass fields (``*_mg``, ``*_mg_per_ml``, ``*_mg_per_day``, in mg: the internal
    unit) are written to JSON in its ``mass_unit`` (``*_mcg_per_ml`` …) and read back from either.
    The one home of that renaming for every model that carries drug amounts."""

    mass_unit: MassUnit

    @model_validator(mode="before")
    @classmethod
    def _from_drug_unit(cls, data: Any) -> Any:
        return read_mass_fields(data)

    @model_serializer(mode="wrap")
    def _in_drug_unit(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return mass_fields_json(data, self.mass_unit) if info.mode_is_json() else data
