"""Importing pumpsim is cheap: the façade loads no layer until a name is used, and the library
layers a nursing tool imports for forecasting do not pull in plotting, calendars or holidays.

The command line loads only what the command it runs needs (the lazy-import rule in the
``pumpsim.cli`` docstring): ``pumpsim --help`` lists every command without importing a library
layer, NumPy, pydantic or pint; ``pumpsim check ONE.yaml`` reads and summarizes a profile
(NumPy, pydantic, YAML, the models, io, schedule and the forecast package it sits in) but loads
no units library for a profile written in the common units (``core.units.KNOWN_UNITS``), and
no calendar, holidays, plotting, SciPy, SimPy, Jinja2, FHIR or Dask library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("matplotlib", "icalendar", "holidays")
ROOT = Path(__file__).resolve().parents[1]
PROFILE = "profiles/patients/morphine-cancer-pain.yaml"

# what no command in the list below may import, and the pumpsim layers above cli's own
THIRD_PARTY = (
    "pint",
    "holidays",
    "icalendar",
    "matplotlib",
    "scipy",
    "fhir.resources",
    "jinja2",
    "simpy",
    "dask",
)
LAYERS = (
    "pumpsim.models",
    "pumpsim.io",
    "pumpsim.schedule",
    "pumpsim.engine",
    "pumpsim.ensemble",
    "pumpsim.forecast",
    "pumpsim.clinic",
    "pumpsim.population",
    "pumpsim.teaching",
    "pumpsim.report",
)


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


def _loaded_by_command(argv: list[str], watched: tuple[str, ...]) -> tuple[int, list[str]]:
    """Run ``pumpsim ARGV`` in a fresh interpreter; its exit code and which of ``watched``
    were imported by the time it ended."""
    code = (
        "import sys\n"
        f"sys.argv = ['pumpsim', *{argv!r}]\n"
        "from pumpsim.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"sys.stderr.write('LOADED ' + ','.join(m for m in {watched!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    marker = done.stderr.rsplit("LOADED ", 1)
    assert len(marker) == 2, done.stderr
    return done.returncode, [m for m in marker[1].strip().split(",") if m]


@pytest.mark.parametrize(
    ("argv", "absent"),
    [
        (["--help"], (*THIRD_PARTY, "numpy", "pydantic", "yaml", *LAYERS)),
        # typer coerces a command's parameters with pydantic: a command's own help loads it
        (["check", "--help"], (*THIRD_PARTY, "numpy", "yaml", *LAYERS)),
        (["forecast", "--help"], (*THIRD_PARTY, "pumpsim.clinic", "pumpsim.report")),
        (
            ["check", PROFILE, "--as-of", "2026-03-01"],
            (
                *THIRD_PARTY,
                "pumpsim.engine",
                "pumpsim.clinic",
                "pumpsim.teaching",
                "pumpsim.report",
            ),
        ),
        (
            ["check", "--json", PROFILE, "--as-of", "2026-03-01"],
            (
                *THIRD_PARTY,
                "pumpsim.engine",
                "pumpsim.clinic",
                "pumpsim.teaching",
                "pumpsim.report",
            ),
        ),
    ],
)
def test_a_command_loads_only_what_it_needs(argv: list[str], absent: tuple[str, ...]) -> None:
    code, loaded = _loaded_by_command(argv, absent)
    assert code == 0
    assert loaded == [], f"pumpsim {' '.join(argv)} loaded {loaded}"


def test_check_does_load_the_library_it_runs() -> None:
    """The watch list is not vacuous: check imports the layers it calls."""
    watched = ("numpy", "pydantic", "yaml", "pumpsim.models", "pumpsim.forecast.summary")
    code, loaded = _loaded_by_command(["check", PROFILE, "--as-of", "2026-03-01"], watched)
    assert code == 0
    assert loaded == list(watched)
