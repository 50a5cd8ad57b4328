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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import pint

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


@lru_cache(maxsize=1)
def _registry() -> Any:
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
    quantity = _quantity(text, cleaned, kind)
    ureg = _registry()
    expected = ureg.Quantity(1.0, kind.internal_unit).dimensionality
    if not isinstance(quantity, pint.Quantity) or quantity.dimensionality != expected:
        dim = getattr(quantity, "dimensionality", "a plain number")
        raise UnitParseError(
            f"{clip(repr(text))} is {_describe(dim)}, not a {kind.name}; e.g. {kind.example!r}"
        )
    value = float(quantity.to(kind.internal_unit).magnitude)
    if not math.isfinite(value):
        raise UnitParseError(f"{clip(repr(text))} is out of range for a {kind.name}")
    return value


def _quantity(text: str, cleaned: str, kind: Kind) -> Any:
    """The pint quantity of a text that matches the clinical grammar (number, then unit)."""
    match = _QUANTITY.match(cleaned)
    cannot = f"cannot read {clip(repr(text))} as a {kind.name}"
    if match is None:
        raise UnitParseError(f"{cannot}: write a number and a unit, e.g. {kind.example!r}")
    magnitude = float(match["number"])
    if not math.isfinite(magnitude):
        raise UnitParseError(f"{cannot}: the number is out of range; e.g. {kind.example!r}")
    unit_text = match["unit"].replace(" ", "")
    ureg = _registry()
    try:
        if unit_text == "%":
            return ureg.Quantity(magnitude, "percent")
        return ureg.Quantity(magnitude, unit_text)
    except Exception as exc:  # pint raises several unrelated exception types
        raise UnitParseError(
            f"{cannot} ({exc.__class__.__name__}); e.g. {kind.example!r}"
        ) from None


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
