"""Cost presets: every shipped one loads; a bad file is refused naming file, field and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pumpsim.core.errors import ProfileError
from pumpsim.io.economics import cost_preset_path, load_cost_preset, shipped_cost_presets
from pumpsim.models.economics import MONEY_FIELDS, CostPreset

PRESETS = ("bolash-2015", "brogan-2013", "de-lissovoy-1997", "kumar-2002", "stearns-2019")


def test_every_shipped_preset_loads_with_currency_year_and_sources() -> None:
    assert tuple(sorted(shipped_cost_presets())) == PRESETS
    for name in PRESETS:
        p = load_cost_preset(name)
        assert len(p.currency) == 3 and 1990 <= p.price_year <= 2020
        assert p.source and p.implant > 0 and p.cmm_per_month > 0
        set_fields = {f for f in MONEY_FIELDS if f in p.model_fields_set}
        assert set_fields <= set(p.sources), name  # every field the file sets says its source
        assert p.uncertainty, name  # PSA has something to draw
    kumar = load_cost_preset("kumar-2002")
    assert kumar.currency == "CAD" and kumar.implant == pytest.approx(7268.46)
    assert kumar.utilities is not None and kumar.willingness_to_pay == 20000.0
    assert load_cost_preset("de-lissovoy-1997").discount_rate == 0.05


def _write(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load(cost_preset_path("kumar-2002").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"cmm_per_month": -5.0}, "cmm_per_month", "-5.0"),
        ({"refill_visit": 2e7, "sources": None}, "refill_visit", "20000000.0"),
        ({"currency": "dollars"}, "currency", "'dollars'"),
        ({"price_year": 1800}, "price_year", "1800"),
        ({"follow_up_per_month": True}, "follow_up_per_month", "True"),
        ({"discount_rate": 0.5}, "discount_rate", "0.5"),
        ({"cmm_growth_per_month": 0.9}, "cmm_growth_per_month", "0.9"),
        ({"utilities": {"pump": 1.2, "cmm": 0.4}}, "utilities.pump", "1.2"),
        ({"refill_cost": 10.0}, "refill_cost", "10.0"),
        (
            {"uncertainty": {"cmm_per_month": {"kind": "beta", "se": 5.0}}},
            "uncertainty.cmm_per_month.kind",
            "'beta'",
        ),
        ({"uncertainty": {"cmm_per_month": {"kind": "gamma"}}}, "uncertainty.cmm_per_month", ""),
        ({"uncertainty": {"title": {"kind": "gamma", "se": 1.0}}}, "uncertainty.title", "'title'"),
        (
            {"uncertainty": {"utility_cmm": {"kind": "beta", "se": 0.6}}},
            "uncertainty.utility_cmm",
            "SE 0.6",
        ),
    ],
)
def test_bad_values_name_file_field_and_value(
    tmp_path: Path, changes: dict[str, Any], field: str, value: str
) -> None:
    path = _write(tmp_path, **changes)
    with pytest.raises(ProfileError) as info:
        load_cost_preset(path)
    message = str(info.value)
    assert str(path) in message and field in message and value in message, message


def test_a_field_set_without_its_source_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, refill_visit=55.0)
    with pytest.raises(ProfileError, match=r"sources\.refill_visit: got '\(missing\)'"):
        load_cost_preset(path)


def test_willingness_to_pay_needs_utilities(tmp_path: Path) -> None:
    data = yaml.safe_load(cost_preset_path("kumar-2002").read_text(encoding="utf-8"))
    del data["utilities"], data["uncertainty"]["utility_pump"], data["uncertainty"]["utility_cmm"]
    del data["sources"]["utilities"]
    path = tmp_path / "no-utilities.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError, match="willingness_to_pay: got 20000.0; allowed: only with"):
        load_cost_preset(path)


def test_unknown_preset_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="one of bolash-2015, brogan-2013"):
        load_cost_preset("no-such-preset")


def test_spread_conversions() -> None:
    p = load_cost_preset("brogan-2013")
    assert p.uncertainty["drug_per_day"].standard_error == pytest.approx((23.23 - 9.52) / 1.349)
    s = load_cost_preset("stearns-2019")
    assert s.uncertainty["cmm_per_month"].standard_error == 2503.36
    ci = CostPreset.model_validate(
        {
            "title": "t",
            "source": "s",
            "currency": "EUR",
            "price_year": 2020,
            "cmm_per_month": 100.0,
            "uncertainty": {"cmm_per_month": {"kind": "gamma", "ci95": [60.8, 139.2]}},
            "sources": {
                "currency": "x",
                "price_year": "x",
                "discount_rate": "x",
                "cmm_per_month": "x",
                "uncertainty": "x",
            },
        }
    )
    assert ci.uncertainty["cmm_per_month"].standard_error == pytest.approx(
        78.4 / 3.919928, abs=1e-12
    )
