"""The benchmarks' shared harness: RATIO lines, interleaving, statistics."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _harness as h  # noqa: E402


def test_ratio_line_prints_a_parsable_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = h.ratio_line("forecast_vs_draws", 2.71828, "<=", 3)
    assert line == "RATIO forecast_vs_draws 2.718 goal <= 3"
    printed = capsys.readouterr().out
    assert h.parse_ratio_lines(printed + "noise\nRATIO x 0.5 goal >= 1.7\n") == [
        ("forecast_vs_draws", 2.718, "<=", 3.0, True),
        ("x", 0.5, ">=", 1.7, False),
    ]


def test_ratio_line_rejects_an_unknown_operator() -> None:
    with pytest.raises(ValueError, match="op must be"):
        h.ratio_line("x", 1.0, "<", 2)


def test_interleave_alternates_the_order_and_counts_every_round() -> None:
    calls: list[str] = []
    samples = h.interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # one warm-up round, then a/b/a
    assert len(samples["a"].cpu) == len(samples["b"].wall) == 3


def test_stats_are_a_median_with_min_and_max() -> None:
    s = h.Stats.of([3.0, 1.0, 2.0, 10.0])
    assert (s.median, s.low, s.high, s.n) == (2.5, 1.0, 10.0, 4)
    assert h.ratio_of([2.0, 6.0], [1.0, 2.0]) == h.Stats(2.5, 2.0, 3.0, 2)
