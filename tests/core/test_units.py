"""Strict unit parsing: clinical strings in, internal floats out, and unit mistakes caught."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import base_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.core import units
from pumpsim.core.errors import ProfileError
from pumpsim.core.units import (
    CONCENTRATION,
    DURATION,
    FRACTION,
    LENGTH,
    MASS,
    MASS_RATE,
    VOLUME,
    VOLUME_PER_LENGTH,
    VOLUME_RATE,
    Kind,
    UnitParseError,
    format_mass_mg,
    parse_quantity,
    parse_rate,
)
from pumpsim.io.profiles import therapy_from_dict
from pumpsim.schedule.segments import dose_to_volume_ml, volume_to_dose_mg

FAST = settings(max_examples=60, deadline=None, derandomize=True)


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("25 mg/mL", CONCENTRATION, 25.0),
        ("2000 mcg/mL", CONCENTRATION, 2.0),
        ("500 mcg/day", MASS_RATE, 0.5),
        ("2.4 mcg/day", MASS_RATE, 0.0024),
        ("0.5 mL/day", VOLUME_RATE, 0.5),
        ("20 uL/h", VOLUME_RATE, 0.48),
        ("20 µL/h", VOLUME_RATE, 0.48),
        ("20 μL/h", VOLUME_RATE, 0.48),
        ("1 mL/h", VOLUME_RATE, 24.0),
        ("4 h", DURATION, 1 / 6),
        ("30 min", DURATION, 1 / 48),
        ("90 day", DURATION, 90.0),
        ("20 mL", VOLUME, 20.0),
        ("10 uL", VOLUME, 0.01),
        ("0.5 mg", MASS, 0.5),
        ("25 mcg", MASS, 0.025),
        ("90 cm", LENGTH, 90.0),
        ("0.0026 mL/cm", VOLUME_PER_LENGTH, 0.0026),
        ("14.5 %", FRACTION, 0.145),
    ],
)
def test_clinical_strings_parse_to_internal_units(text: str, kind: object, expected: float) -> None:
    """Each clinical spelling converts to the field's internal unit (mL, mg, days, mL/day...)."""
    assert parse_quantity(text, kind) == pytest.approx(expected, rel=1e-12)  # type: ignore[arg-type]


def test_worked_number_10_ul_of_25_mg_per_ml_is_0_25_mg() -> None:
    """domain.md: 10 µL of 25 mg/mL morphine = 0.25 mg."""
    volume = parse_quantity("10 uL", VOLUME)
    concentration = parse_quantity("25 mg/mL", CONCENTRATION)
    assert volume_to_dose_mg(volume, concentration) == pytest.approx(0.25, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("5 mg", VOLUME_RATE, "is a mass, not a volume rate"),
        ("25 mg/day", CONCENTRATION, "is a dose rate, not a concentration"),
        ("0.5 mL/day", MASS_RATE, "is a volume rate, not a dose rate"),
        ("20 mL", DURATION, "is a volume, not a duration"),
        ("4 h", VOLUME, "is a duration, not a volume"),
        ("25", CONCENTRATION, "a bare number has no unit"),
        ("0.5 mL/dia", VOLUME_RATE, "cannot read '0.5 mL/dia'"),
        ("", VOLUME, "bare number"),
    ],
)
def test_unit_mistakes_are_errors(text: str, kind: object, message: str) -> None:
    """A wrong dimension, a bare number or an unknown unit is never converted silently."""
    with pytest.raises(UnitParseError, match=message.replace("(", r"\(")):
        parse_quantity(text, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [25, 2.5, True, None, ["25 mg/mL"]])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(UnitParseError, match="written with its unit"):
        parse_quantity(value, CONCENTRATION)


def test_parse_rate_tells_volume_from_dose() -> None:
    assert parse_rate("0.5 mL/day") == ("volume", 0.5)
    kind, value = parse_rate("500 mcg/day")
    assert kind == "dose" and value == pytest.approx(0.5, rel=1e-12)
    with pytest.raises(UnitParseError, match="expected a volume rate"):
        parse_rate("5 mg")


@FAST
@given(st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_mg_is_exactly_1000_mcg(x: float) -> None:
    """The mcg/mg mistake is a factor 1000, for masses, dose rates and concentrations."""
    for kind, suffix in ((MASS, ""), (MASS_RATE, "/day"), (CONCENTRATION, "/mL")):
        mg = parse_quantity(f"{x!r} mg{suffix}", kind)
        mcg = parse_quantity(f"{x!r} mcg{suffix}", kind)
        assert mg / mcg == pytest.approx(1000.0, rel=1e-12)


@FAST
@given(st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False))
def test_ml_per_hour_is_24_ml_per_day(x: float) -> None:
    """The mL/h-for-mL/day mistake is a factor 24."""
    per_hour = parse_quantity(f"{x!r} mL/h", VOLUME_RATE)
    per_day = parse_quantity(f"{x!r} mL/day", VOLUME_RATE)
    assert per_hour / per_day == pytest.approx(24.0, rel=1e-12)
    assert per_day == pytest.approx(x, rel=1e-12)


@FAST
@given(
    st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-4, max_value=1e3, allow_nan=False, allow_infinity=False),
)
def test_dose_volume_round_trip(dose_mg: float, concentration: float) -> None:
    """dose → volume → dose returns the dose within 1e-12 relative, and volume → dose → volume."""
    volume = dose_to_volume_ml(dose_mg, concentration)
    assert volume_to_dose_mg(volume, concentration) == pytest.approx(dose_mg, rel=1e-12)
    back = dose_to_volume_ml(volume_to_dose_mg(volume, concentration), concentration)
    assert back == pytest.approx(volume, rel=1e-12)


@FAST
@given(
    st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-3, max_value=100, allow_nan=False, allow_infinity=False),
)
def test_dose_rate_in_mcg_converts_through_concentration_in_mcg(
    rate_mcg: float, conc_mcg: float
) -> None:
    """X mcg/day at Y mcg/mL is X/Y mL/day, whatever units the two are written in."""
    rate_mg = parse_quantity(f"{rate_mcg!r} mcg/day", MASS_RATE)
    conc_mg = parse_quantity(f"{conc_mcg!r} mcg/mL", CONCENTRATION)
    assert dose_to_volume_ml(rate_mg, conc_mg) == pytest.approx(rate_mcg / conc_mcg, rel=1e-12)


def test_dose_to_volume_needs_positive_concentration() -> None:
    with pytest.raises(ValueError, match="positive"):
        dose_to_volume_ml(1.0, 0.0)


def test_format_mass_mg_uses_the_drug_unit_without_exponents() -> None:
    assert format_mass_mg(0.0024, "mcg") == "2.4 mcg"
    assert format_mass_mg(10.0, "mcg") == "10000 mcg"
    assert format_mass_mg(5.25, "mg") == "5.25 mg"


def _problem(mutate: dict[str, object]) -> tuple[str, object, str]:
    data = base_profile()
    for key, value in mutate.items():
        section, _, field = key.partition(".")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    with pytest.raises(ProfileError) as info:
        therapy_from_dict(data, "unit-mistake.yaml")
    assert len(info.value.problems) == 1, info.value.problems
    p = info.value.problems[0]
    return p.field, p.value, p.allowed


def test_mass_where_a_rate_is_due_names_the_field() -> None:
    field, value, allowed = _problem({"program.rate": "5 mg"})
    assert (field, value) == ("program.rate", "5 mg")
    assert "volume rate" in allowed and "dose rate" in allowed


def test_mcg_written_as_mg_is_caught_by_the_pump_range() -> None:
    """2.4 mg/day of morphine 25 mg/mL would be fine, but 2.4 mg/day of ziconotide 25 mcg/mL is
    96 mL/day: the error shows the value as written and what it became."""
    field, value, allowed = _problem(
        {
            "drugs": [{"drug": "ziconotide", "concentration": "25 mcg/mL"}],
            "program.rate": "2.4 mg/day",
            "ptm": None,
            "demand": None,
        }
    )
    assert field == "program.rate"
    assert value == "2.4 mg/day (= 96 mL/day)"
    assert "0.048 to 24 mL/day" in allowed


def test_ml_per_hour_written_for_ml_per_day_is_caught() -> None:
    field, value, _ = _problem({"program.rate": "2 mL/h"})
    assert (field, value) == ("program.rate", "2 mL/h (= 48 mL/day)")


def test_dose_rate_in_program_converts_exactly() -> None:
    data = base_profile()
    data["program"]["rate"] = "12.5 mg/day"
    therapy = therapy_from_dict(data, "ok.yaml")
    assert therapy.program.rate_ml_per_day == pytest.approx(0.5, rel=1e-12)
    assert math.isclose(therapy.ptm.bolus_volume_ml, 0.02, rel_tol=1e-12)  # type: ignore[union-attr]


ALL_KINDS = (
    VOLUME,
    MASS,
    DURATION,
    VOLUME_RATE,
    MASS_RATE,
    CONCENTRATION,
    LENGTH,
    VOLUME_PER_LENGTH,
    FRACTION,
)
MAGNITUDES = (0.0, 1.0, 0.3, 25.0, 2.4, 0.0026, 1e-3, 123.456, 7e-9, -2.5, 1e306)


def _through_pint(text: str, kind: Kind) -> float | str:
    """What pint alone makes of ``text`` (the pre-table path): the value or the message."""
    cleaned = units._normalise(text)
    try:
        magnitude, unit_text = units._number_and_unit(text, cleaned, kind)
        value = units._pint_value(text, magnitude, unit_text, kind)
    except UnitParseError as exc:
        return str(exc)
    if not math.isfinite(value):
        return f"{text!r} is out of range for a {kind.name}"
    return value


def _through_parse(text: str, kind: Kind) -> float | str:
    try:
        return parse_quantity(text, kind)
    except UnitParseError as exc:
        return str(exc)


@pytest.mark.parametrize("unit", sorted(units.KNOWN_UNITS))
def test_every_known_unit_gives_exactly_what_pint_gives(unit: str) -> None:
    """The spellings read without pint give pint's float to the last bit, and pint's error
    message for every other kind; also written with spaces around '/' and with µ."""
    written = {unit, unit.replace("/", " / "), unit.replace("u", "µ", 1)}
    for magnitude in MAGNITUDES:
        for spelling in written:
            text = f"{magnitude!r} {spelling}"
            for kind in ALL_KINDS:
                if "%" in text and kind is not FRACTION:
                    continue  # a bare number for every other kind, before any unit is read
                expected, got = _through_pint(text, kind), _through_parse(text, kind)
                assert got == expected, (text, kind.name)
                if isinstance(got, float):
                    assert math.copysign(1.0, got) == math.copysign(1.0, expected)  # type: ignore[arg-type]


def test_known_units_name_pints_own_factors() -> None:
    """Each entry's factor is pint's conversion factor from that unit to the kind's unit."""
    ureg = units._registry()
    for unit, (kind, factor) in units.KNOWN_UNITS.items():
        quantity = ureg.Quantity(1.0, "percent" if unit == "%" else unit)
        assert quantity.dimensionality == ureg.Quantity(1.0, kind.internal_unit).dimensionality
        assert quantity.to(kind.internal_unit).magnitude == factor, unit


def test_a_profile_of_known_units_is_read_without_pint() -> None:
    """Reading a shipped profile (every quantity a common spelling) does not import pint; an
    unusual unit still reads, through pint."""
    code = (
        "import sys; from pumpsim.io.profiles import load_profile; "
        "load_profile('profiles/patients/morphine-cancer-pain.yaml'); "
        "print('pint' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert done.stdout.strip() == "False"
    assert "cc" not in units.KNOWN_UNITS
    assert parse_quantity("2 cc", VOLUME) == pytest.approx(2.0, rel=1e-12)
