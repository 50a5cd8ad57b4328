"""Shared pieces for pumpsim's pydantic models: unit-carrying fields and the frozen base.

A field such as ``reservoir_ml: Annotated[float, unit(VOLUME)]`` accepts:

* a string with a unit (``"20 mL"``), parsed strictly and converted to the field's unit;
* a plain number, **only** from Python code (no validation context): it is taken to be already in
  the field's unit, which the field name states. Profile files are validated with the context
  ``{"source": "file"}``, where a bare number is an error, so a unit can never slip in silently.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from pumpsim.core.clock import NO_ZONE_MESSAGE, PumpTimeError, parse_pump_time
from pumpsim.core.units import Kind, UnitParseError, parse_quantity, parse_rate

FROM_FILE = {"source": "file"}


class FrozenModel(BaseModel):
    """Immutable, strict-keyed base: unknown keys are errors, fields are set by name or alias."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=False,
    )


class InternalValue(float):
    """A number already in the field's internal unit, e.g. a catalog value being overridden.

    Profile files cannot produce this type, so it is how a loader passes catalog values through
    validation in file context without opening the door to bare numbers in files.
    """


def mark_internal(data: Any) -> Any:
    """Wrap every float and non-bool int in ``data`` (dicts, lists, tuples) as ``InternalValue``."""
    if isinstance(data, bool):
        return data
    if isinstance(data, float | int):
        return InternalValue(data)
    if isinstance(data, dict):
        return {k: mark_internal(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(mark_internal(v) for v in data)
    return data


def _from_file(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and info.context.get("source") == "file"


def _bare_number_from_file(value: Any, info: ValidationInfo) -> bool:
    return _from_file(info) and not isinstance(value, InternalValue)


def unit(kind: Kind) -> BeforeValidator:
    """A validator turning ``"<number> <unit>"`` into a float in ``kind.internal_unit``."""

    def _convert(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            try:
                return parse_quantity(value, kind)
            except UnitParseError as exc:
                raise ValueError(str(exc)) from None
        if _bare_number_from_file(value, info):
            raise ValueError(
                f"a bare number has no unit; write a {kind.name} with its unit, "
                f"e.g. {kind.example!r}"
            )
        return value

    return BeforeValidator(_convert)


def _rate_to_ml_per_day(value: Any, info: ValidationInfo) -> Any:
    """Volume rate, or dose rate converted through the concentration in the validation context."""
    if isinstance(value, str):
        try:
            kind, magnitude = parse_rate(value)
        except UnitParseError as exc:
            raise ValueError(str(exc)) from None
        if kind == "volume":
            return magnitude
        concentration = (info.context or {}).get("concentration_mg_per_ml")
        if not concentration:
            raise ValueError(
                f"{value!r} is a dose rate, but no drug concentration is known to convert it"
            )
        return magnitude / float(concentration)
    if _bare_number_from_file(value, info):
        raise ValueError(
            "a bare number has no unit; write a volume rate ('0.5 mL/day') or a dose rate "
            "('500 mcg/day')"
        )
    return value


def _volume_or_dose(value: Any, info: ValidationInfo) -> Any:
    """A volume (``"0.05 mL"``) or a dose (``"0.1 mg"``) converted through the concentration."""
    if isinstance(value, str):
        from pumpsim.core.units import MASS, VOLUME

        try:
            return parse_quantity(value, VOLUME)
        except UnitParseError:
            pass
        try:
            mass_mg = parse_quantity(value, MASS)
        except UnitParseError:
            raise ValueError(
                f"expected a volume (e.g. '0.05 mL') or a dose (e.g. '25 mcg'), got {value!r}"
            ) from None
        concentration = (info.context or {}).get("concentration_mg_per_ml")
        if not concentration:
            raise ValueError(f"{value!r} is a dose, but no drug concentration is known")
        return mass_mg / float(concentration)
    if _bare_number_from_file(value, info):
        raise ValueError(
            "a bare number has no unit; write a volume ('0.05 mL') or a dose ('25 mcg')"
        )
    return value


RateMlPerDay = Annotated[float, BeforeValidator(_rate_to_ml_per_day)]
"""A volume rate in mL/day; files may write a volume rate or a dose rate."""

VolumeOrDoseMl = Annotated[float, BeforeValidator(_volume_or_dose)]
"""A volume in mL; files may write a volume or a dose."""

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _minute_of_day(value: Any) -> Any:
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute
    if isinstance(value, str):
        match = _HHMM.match(value.strip())
        if not match:
            raise ValueError(f"expected a time of day 'HH:MM' from 00:00 to 23:59, got {value!r}")
        return int(match.group(1)) * 60 + int(match.group(2))
    return value


MinuteOfDay = Annotated[int, BeforeValidator(_minute_of_day)]
"""Minutes after midnight on the pump clock (0..1439); files write ``"HH:MM"``."""


def _pump_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_pump_time(value)
        except PumpTimeError as exc:
            raise ValueError(str(exc)) from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value


EARLIEST_PUMP_TIME = dt.datetime(1970, 1, 1)
LATEST_PUMP_TIME = dt.datetime(2100, 1, 1)
"""Pump times are plausible from 1970-01-01 (before any implantable pump) up to, not including,
2100-01-01: the one date plausibility rule (year 0001 or 9999 are typing errors, not dates)."""


PLAUSIBLE_PUMP_TIMES = (
    f"a pump time from {EARLIEST_PUMP_TIME:%Y-%m-%d} to before {LATEST_PUMP_TIME:%Y-%m-%d}"
)


def plausible_pump_time(value: dt.datetime) -> dt.datetime:
    """``value`` if it is a plausible pump time (see ``EARLIEST_PUMP_TIME``), else ``ValueError``
    saying what is allowed: the one date plausibility rule, for profiles, rosters, press logs."""
    if not EARLIEST_PUMP_TIME <= value.replace(tzinfo=None) < LATEST_PUMP_TIME:
        raise ValueError(PLAUSIBLE_PUMP_TIMES)
    return value


def _naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        raise ValueError(NO_ZONE_MESSAGE)
    plausible_pump_time(value)
    return value.replace(second=0, microsecond=0) if value.second or value.microsecond else value


PumpTime = Annotated[dt.datetime, BeforeValidator(_pump_time), AfterValidator(_naive)]
"""A naive local datetime on the pump's clock; a bare date means its midnight."""
