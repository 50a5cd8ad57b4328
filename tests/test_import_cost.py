"""Importing pumpsim is cheap: the façade loads no layer until a name is used, and the library
layers a nursing tool imports for forecasting do not pull in plotting, calendars or holidays."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("matplotlib", "icalendar", "holidays")


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("pumpsim", (*HEAVY, "pint", "simpy", "numpy")),
        ("pumpsim.forecast", HEAVY),
        ("pumpsim.engine", HEAVY),
    ],
)
def test_importing_does_not_load_what_it_does_not_need(
    module: str, absent: tuple[str, ...]
) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {absent!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "", f"import {module} loaded {done.stdout.strip()}"
