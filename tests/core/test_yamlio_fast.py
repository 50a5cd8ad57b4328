"""libyaml's parser reads a file exactly as the pure-Python strict loader does (values, times of
day as text, duplicate keys and bounds refused), and a file it cannot read is read again the
pure-Python way, so every error message is the pure-Python one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.core import yamlio
from pumpsim.core.errors import ProfileError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "profiles").rglob("*.yaml"))

pytestmark = pytest.mark.skipif(yamlio._FastLoader is None, reason="PyYAML without libyaml")


def _pure(text: str) -> Any:
    return yaml.load(text, Loader=yamlio._StrictLoader)  # noqa: S506 - safe constructor


def _fast(text: str) -> Any:
    return yaml.load(text, Loader=yamlio._FastLoader)  # noqa: S506 - safe constructor


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_file_reads_the_same_both_ways(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _fast(text) == _pure(text)


def test_the_shipped_files_are_many() -> None:
    assert len(SHIPPED) >= 30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("opens: 07:30\n", {"opens": "07:30"}),
        ("n: 1_000\nx: 0o17\ny: 017\nz: 1.5e+3\n", {"n": 1000, "x": "0o17", "y": 15, "z": 1500.0}),
        (
            "enabled: yes\nwhen: 2026-03-02\n",
            {"enabled": True, "when": dt.date(2026, 3, 2)},
        ),
        ("a: &x [1, 2]\nb: *x\n", {"a": [1, 2], "b": [1, 2]}),
    ],
)
def test_resolution_is_the_strict_loaders(text: str, expected: Any) -> None:
    assert _fast(text) == _pure(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",  # duplicate key
        "? [a]\n: 1\n",  # a key that is not text
        "when: 2026-02-30\n",  # a bad date
        "a: [1, 2\n",  # a syntax error
        "a:\n\tb: 1\n",  # a tab
        "x: " + "[" * 40 + "]" * 40 + "\n",  # nested too deep
        "a: &a [1]\n" + "".join(f"b{i}: *a\n" for i in range(120)),  # too many aliases
    ],
)
def test_an_unreadable_file_gives_the_pure_python_error(text: str) -> None:
    with pytest.raises(Exception) as fast:
        _fast(text)
    with pytest.raises(ProfileError) as reported:
        yamlio.parse_yaml(text, "f.yaml")
    with pytest.raises(Exception) as pure:
        _pure(text)
    assert fast.type is not None
    assert str(reported.value).startswith("f.yaml")
    problem = reported.value.problems[0]
    assert problem.value is not None and problem.allowed
    # parse_yaml reports what the pure loader says, whatever libyaml said
    if isinstance(pure.value, yaml.MarkedYAMLError) and pure.value.problem:
        assert str(problem.value) == pure.value.problem


_scalars = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    st.booleans(),
    st.none(),
)
_data = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(_data, st.booleans())
def test_any_dumped_document_reads_the_same_both_ways(data: Any, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    try:
        pure = _pure(text)
    except yaml.YAMLError:
        return  # e.g. a key that is not text: parse_yaml reads it the pure way anyway
    assert _fast(text) == pure
