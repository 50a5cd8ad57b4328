"""Strict parsing of clinical quantities written as strings (``"25 mg/mL"``, ``"20 uL/h"``).

Profiles speak clinical units; inside pumpsim every quantity is a float in a fixed unit named in
the field (``rate_ml_per_day``). This module is the only place where units are converted, and it
never guesses: a bare number, a mass where a volume is due, or an unknown unit is an error.

The text must first match the grammar a clinician writes: a decimal number (optionally with an
exponent, ``1e-3``), then a unit made of letters joined by ``/`` (``mL/day``, ``mcg/mL``,
``%``), at most ``MAX_QUANTITY_CHARS`` characters in all. Only the unit is handed to pint (a
maintained units library, with ``mcg`` added as the clinical spelling of microgram); the number
is read by Python's ``float`` and must be finite. pint never evaluates arithmetic from a file, so
``"9**9**9 mL"`` or ``"(-1)**0.5 mL"`` are plain errors, not a hang or a complex number.

pint is imported only when a unit outside ``KNOWN_UNITS`` is read: importing it and building its
registry costs more than the rest of ``pumpsim check`` together. ``KNOWN_UNITS`` holds the
spellings profiles use (``mL``, ``mcg/mL``, ``uL/h``, ``%``, ...) with pint's own conversion
factor for each; pint converts by multiplying the magnitude by that factor, so the value is the
same float pint gives, and ``tests/core/test_units.py`` checks every entry against pint (value
and error message, for every kind).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pumpsim.core.errors import clip

__all__ = [
    "UnitParseError",
    "Kind",
    "VOLUME",
    "MASS",
    "DURATION",
    "VOLUME_RATE",
    "MASS_RATE",
    "CONCENTRATION",
    "LENGTH",
    "VOLUME_PER_LENGTH",
    "FRACTION",
    "MAX_QUANTITY_CHARS",
    "KNOWN_UNITS",
    "parse_quantity",
    "parse_rate",
    "MassUnit",
    "format_concentration",
    "format_mass_mg",
    "mass_in_unit",
]


class UnitParseError(ValueError):
    """A quantity string could not be read as the kind of quantity the field needs."""


@dataclass(frozen=True)
class Kind:
    """A kind of quantity: the pint dimensionality, the internal unit and an example."""

    name: str
    dimensionality: str
    internal_unit: str
    example: str


VOLUME = Kind("volume", "[length] ** 3", "milliliter", "20 mL")
MASS = Kind("mass", "[mass]", "milligram", "2 mg")
DURATION = Kind("duration", "[time]", "day", "30 min")
VOLUME_RATE = Kind("volume rate", "[length] ** 3 / [time]", "milliliter / day", "0.5 mL/day")
MASS_RATE = Kind("dose rate", "[mass] / [time]", "milligram / day", "500 mcg/day")
CONCENTRATION = Kind(
    "concentration", "[mass] / [length] ** 3", "milligram / milliliter", "25 mg/mL"
)
LENGTH = Kind("length", "[length]", "centimeter", "90 cm")
VOLUME_PER_LENGTH = Kind(
    "volume per length", "[length] ** 2", "milliliter / centimeter", "0.0026 mL/cm"
)
FRACTION = Kind("fraction", "dimensionless", "dimensionless", "14.5 %")

_UNIT_TOKEN = re.compile(r"[A-Za-zµμ]")

MAX_QUANTITY_CHARS = 40
"""The longest quantity text read (``"0.0026 mL/cm"`` is 12); longer text is an error."""

_NUMBER = r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?"
_WORD = r"[A-Za-zµμ]{1,12}"
_QUANTITY = re.compile(
    rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>%|{_WORD}(?:\s*/\s*{_WORD}){{0,2}})\s*$"
)
"""A number, an optional exponent and a unit (letters, up to two ``/``): nothing else."""


KNOWN_UNITS: dict[str, tuple[Kind, float]] = {
    # unit as written (µ read as u, spaces dropped): (its kind, pint's factor to the kind's
    # internal unit). Generated with pint and checked against it by tests/core/test_units.py.
    "mL": (VOLUME, 1.0),
    "ml": (VOLUME, 1.0),
    "uL": (VOLUME, 0.001),
    "ul": (VOLUME, 0.001),
    "L": (VOLUME, 1000.0),
    "l": (VOLUME, 1000.0),
    "mg": (MASS, 1.0),
    "mcg": (MASS, 0.001),
    "ug": (MASS, 0.001),
    "g": (MASS, 1000.0),
    "day": (DURATION, 1.0),
    "days": (DURATION, 1.0),
    "d": (DURATION, 1.0),
    "h": (DURATION, 0.041666666666666664),
    "hour": (DURATION, 0.041666666666666664),
    "hours": (DURATION, 0.041666666666666664),
    "min": (DURATION, 0.0006944444444444444),
    "s": (DURATION, 1.1574074074074073e-05),
    "week": (DURATION, 7.0),
    "weeks": (DURATION, 7.0),
    "month": (DURATION, 30.4375),
    "months": (DURATION, 30.4375),
    "year": (DURATION, 365.25),
    "years": (DURATION, 365.25),
    "mL/day": (VOLUME_RATE, 1.0),
    "ml/day": (VOLUME_RATE, 1.0),
    "mL/d": (VOLUME_RATE, 1.0),
    "mL/h": (VOLUME_RATE, 24.0),
    "ml/h": (VOLUME_RATE, 24.0),
    "mL/hour": (VOLUME_RATE, 24.0),
    "mL/min": (VOLUME_RATE, 1440.0),
    "uL/h": (VOLUME_RATE, 0.024),
    "ul/h": (VOLUME_RATE, 0.024),
    "uL/day": (VOLUME_RATE, 0.001),
    "uL/min": (VOLUME_RATE, 1.4400000000000002),
    "mg/day": (MASS_RATE, 1.0),
    "mcg/day": (MASS_RATE, 0.001),
    "ug/day": (MASS_RATE, 0.001),
    "mg/d": (MASS_RATE, 1.0),
    "mcg/d": (MASS_RATE, 0.001),
    "mg/h": (MASS_RATE, 24.0),
    "mcg/h": (MASS_RATE, 0.024),
    "ug/h": (MASS_RATE, 0.024),
    "mg/mL": (CONCENTRATION, 1.0),
    "mg/ml": (CONCENTRATION, 1.0),
    "mcg/mL": (CONCENTRATION, 0.001),
    "mcg/ml": (CONCENTRATION, 0.001),
    "ug/mL": (CONCENTRATION, 0.001),
    "g/mL": (CONCENTRATION, 1000.0),
    "cm": (LENGTH, 1.0),
    "mm": (LENGTH, 0.1),
    "m": (LENGTH, 100.0),
    "mL/cm": (VOLUME_PER_LENGTH, 1.0),
    "ml/cm": (VOLUME_PER_LENGTH, 1.0),
    "uL/cm": (VOLUME_PER_LENGTH, 0.001),
    "%": (FRACTION, 0.01),
}
"""The common spellings, read without pint (see the module docstring)."""


@lru_cache(maxsize=1)
def _registry() -> Any:
    import pint  # imported here: only a unit outside KNOWN_UNITS needs it

    # pint's registry is generic over its Quantity class; typed loosely here on purpose
    ureg: Any = pint.UnitRegistry()
    ureg.define("mcg = microgram")
    return ureg


def _normalise(text: str) -> str:
    # clinical writing: "mL/day", "mcg/day", "µL/h"; pint wants "u" for micro
    return text.strip().replace("µ", "u").replace("μ", "u")


def parse_quantity(text: Any, kind: Kind) -> float:
    """Parse ``text`` as a quantity of ``kind`` and return it in ``kind.internal_unit``.

    Raises ``UnitParseError`` with a message saying what was expected when the text is not a
    string, has no unit, cannot be parsed, or has another dimension.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise UnitParseError(f"expected a {kind.name} written with its unit, e.g. {kind.example!r}")
    return _parse_text(text, kind)


@lru_cache(maxsize=4096)
def _parse_text(text: str, kind: Kind) -> float:
    """``parse_quantity`` for a string; cached because rosters repeat the same few quantities
    and pint's parser is slow (about 1 ms a call)."""
    if len(text) > MAX_QUANTITY_CHARS:
        raise UnitParseError(
            f"too long for a quantity ({len(text)} characters, at most {MAX_QUANTITY_CHARS}); "
            f"write a number and a unit, e.g. {kind.example!r}"
        )
    cleaned = _normalise(text)
    if not _UNIT_TOKEN.search(cleaned) and not (kind is FRACTION and "%" in cleaned):
        raise UnitParseError(
            f"a bare number has no unit; write a {kind.name} with its unit, e.g. {kind.example!r}"
        )
    magnitude, unit_text = _number_and_unit(text, cleaned, kind)
    known = KNOWN_UNITS.get(unit_text)
    if known is None or (known[0] != kind and known[0].dimensionality not in _DIMENSION_NAMES):
        value = _pint_value(text, magnitude, unit_text, kind)
    elif known[0] != kind:
        raise UnitParseError(_wrong_kind(text, _DIMENSION_NAMES[known[0].dimensionality], kind))
    else:
        value = float(magnitude * known[1])  # what pint computes: magnitude times its factor
    if not math.isfinite(value):
        raise UnitParseError(f"{clip(repr(text))} is out of range for a {kind.name}")
    return value


def _number_and_unit(text: str, cleaned: str, kind: Kind) -> tuple[float, str]:
    """The number and the unit (spaces dropped) of a text in the clinical grammar."""
    match = _QUANTITY.match(cleaned)
    if match is None:
        raise UnitParseError(
            f"cannot read {clip(repr(text))} as a {kind.name}: write a number and a unit, "
            f"e.g. {kind.example!r}"
        )
    magnitude = float(match["number"])
    if not math.isfinite(magnitude):
        raise UnitParseError(
            f"cannot read {clip(repr(text))} as a {kind.name}: the number is out of range; "
            f"e.g. {kind.example!r}"
        )
    return magnitude, match["unit"].replace(" ", "")


def _wrong_kind(text: str, described: str, kind: Kind) -> str:
    return f"{clip(repr(text))} is {described}, not a {kind.name}; e.g. {kind.example!r}"


def _pint_value(text: str, magnitude: float, unit_text: str, kind: Kind) -> float:
    """``magnitude unit_text`` in ``kind.internal_unit``, converted by pint."""
    import pint

    ureg = _registry()
    try:
        if unit_text == "%":
            quantity = ureg.Quantity(magnitude, "percent")
        else:
            quantity = ureg.Quantity(magnitude, unit_text)
    except Exception as exc:  # pint raises several unrelated exception types
        raise UnitParseError(
            f"cannot read {clip(repr(text))} as a {kind.name} ({exc.__class__.__name__}); "
            f"e.g. {kind.example!r}"
        ) from None
    expected = ureg.Quantity(1.0, kind.internal_unit).dimensionality
    if not isinstance(quantity, pint.Quantity) or quantity.dimensionality != expected:
        dim = getattr(quantity, "dimensionality", "a plain number")
        raise UnitParseError(_wrong_kind(text, _describe(dim), kind))
    return float(quantity.to(kind.internal_unit).magnitude)


def parse_rate(text: Any) -> tuple[str, float]:
    """Parse a rate that may be a volume rate or a dose rate.

    Returns ``("volume", mL/day)`` or ``("dose", mg/day)``; anything else is a ``UnitParseError``.
    """
    try:
        return "volume", parse_quantity(text, VOLUME_RATE)
    except UnitParseError:
        pass
    try:
        return "dose", parse_quantity(text, MASS_RATE)
    except UnitParseError:
        raise UnitParseError(
            f"expected a volume rate (e.g. '0.5 mL/day', '20 uL/h') or a dose rate "
            f"(e.g. '500 mcg/day'), got {clip(repr(text))}"
        ) from None


_DIMENSION_NAMES = {
    "[length] ** 3": "a volume",
    "[mass]": "a mass",
    "[time]": "a duration",
    "[length] ** 3 / [time]": "a volume rate",
    "[mass] / [time]": "a dose rate",
    "[mass] / [length] ** 3": "a concentration",
}


def _describe(dimensionality: object) -> str:
    ureg = _registry()
    if not dimensionality:
        return "a plain number"
    for dims, name in _DIMENSION_NAMES.items():
        if dimensionality == ureg.get_dimensionality(dims):
            return name
    return f"of dimension {dimensionality}"


MassUnit = Literal["mg", "mcg"]
"""How clinicians write a drug's doses: morphine in mg, ziconotide in mcg. Values stay in mg."""

_MG_PER_UNIT: dict[str, float] = {"mg": 1.0, "mcg": 1e-3}


def mass_in_unit(mass_mg: float, unit: str) -> float:
    """A mass (or mass rate, or concentration) given in mg expressed in ``unit`` (``mg``/``mcg``):
    the one mg → mcg display rule."""
    return mass_mg / _MG_PER_UNIT[unit]


def format_mass_mg(mass_mg: float, unit: str, spec: str = ".6g") -> str:
    """Render a mass given in mg in the drug's display unit (``mg`` or ``mcg``), to 6 significant
    digits without exponent notation for everyday magnitudes (``10000 mcg``, not ``1e+04``)."""
    return f"{mass_in_unit(mass_mg, unit):{spec}} {unit}"


def format_concentration(mg_per_ml: float, unit: str) -> str:
    """``25 mg/mL`` or ``500 mcg/mL``: a concentration in mg/mL in the drug's unit."""
    return f"{format_mass_mg(mg_per_ml, unit, 'g')}/mL"
