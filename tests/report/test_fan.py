"""The forecast fan chart: PNG and SVG written atomically, other suffixes refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pumpsim.core.atomic import OutputError
from pumpsim.forecast import Forecast, forecast
from pumpsim.io.profiles import load_catalog
from pumpsim.models import Catheter, Drug, Infusate, Program, PumpState, Therapy
from pumpsim.report.fan import fan_figure, write_fan_chart


def _forecast() -> Forecast:
    catalog = load_catalog()
    t = Therapy(
        patient_id="fan-test",
        pump=catalog.pumps["synchromed-ii-20"],
        infusate=Infusate(drugs=(Drug.from_entry(catalog.drugs["baclofen"], 2.0),)),
        catheter=Catheter(volume_ml_given=0.2),
        program=Program.simple(0.5),
        state=PumpState(time=dt.datetime(2026, 1, 5, 9), calculated_volume_ml=20.0),
    )
    return forecast(t, runs=200, seed=1, fan=True)


def test_png_and_svg_are_written_atomically(tmp_path: Path) -> None:
    results = [_forecast()]
    png, svg = tmp_path / "fan.png", tmp_path / "fan.svg"
    write_fan_chart(results, png)
    write_fan_chart(results, svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text(encoding="utf-8")[:2000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fan.png", "fan.svg"]  # no temp files
    assert len(fan_figure(results * 2).axes) == 2


def test_an_unknown_suffix_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"\.png or \.svg"):
        write_fan_chart([_forecast()], tmp_path / "fan.gif")
    assert not list(tmp_path.iterdir())


def test_one_panel_per_patient_with_every_line_labelled(tmp_path: Path) -> None:
    f = _forecast()
    assert f.fan is not None and f.fan.actual_start_ml is not None
    actual = f.fan.band("p05", "p95", actual=True)
    assert len(actual) > 10 and actual[0][0] == f.fan.actual_start_ml
    fig = fan_figure([f, f.model_copy(update={"patient_id": "second"})])
    assert len(fig.axes) == 2
    for ax, pid in zip(fig.axes, ("fan-test", "second"), strict=True):
        assert ax.get_title().startswith(pid)
        labels = set(ax.get_legend_handles_labels()[1])
        assert {
            "5-95 %",
            "25-75 %",
            "median",
            "actual volume 5-95 %",
            "low-reservoir alarm",
            "earliest refill",
            "refill by",
        } <= labels, labels
    svg = tmp_path / "fan.svg"
    write_fan_chart([f], svg)
    assert "refill by" in svg.read_text(encoding="utf-8")
