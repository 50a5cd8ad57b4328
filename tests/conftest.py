"""Shared fixtures: a valid base profile to mutate, and ways to run the CLI (in-process and as a
real subprocess)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PATIENTS = REPO / "profiles" / "patients"

BASE_PROFILE: dict[str, Any] = {
    "patient_id": "test-01",
    "indication": "test case",
    "pump": "synchromed-ii-20",
    "drugs": [{"drug": "morphine", "concentration": "25 mg/mL"}],
    "catheter": {"volume": "0.25 mL"},
    "program": {"mode": "simple", "rate": "0.5 mL/day"},
    "ptm": {"bolus": "0.5 mg", "duration": "10 min", "lockout": "3 h", "max_per_day": 4},
    "demand": {"presses_per_day": 3},
    "alarms": {"low_reservoir": "2 mL"},
    "state": {"time": "2026-03-02T09:00", "calculated_volume": "20 mL"},
}
"""A valid profile: SynchroMed II 20 mL, morphine 25 mg/mL at 0.5 mL/day (12.5 mg/day)."""


def base_profile() -> dict[str, Any]:
    """A fresh deep copy of ``BASE_PROFILE`` to mutate."""
    return copy.deepcopy(BASE_PROFILE)


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., Path]:
    """Write a profile mapping (dumped as YAML) or raw YAML text to a file; return its path."""

    def _write(data: dict[str, Any] | str, name: str = "profile.yaml") -> Path:
        path = tmp_path / name
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def run_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pumpsim ARGS`` in a fresh interpreter, wide terminal, no colour."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "pumpsim", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``pumpsim ARGS`` in this process (typer's ``CliRunner``), with the exit code, stdout and
    stderr apart as ``run_subprocess`` gives them: for the tests of what a command answers, not
    of the process around it (a new interpreter, imports and numba's cache load cost each
    subprocess about a second)."""
    from typer.testing import CliRunner

    from pumpsim.cli import app

    result = CliRunner().invoke(app, list(args))
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def png_rgb(png: bytes) -> Any:
    """A PNG's RGB values (floats 0-1, rows x columns x 3). matplotlib is imported here, not
    at collection: every xdist worker collects every module."""
    import io

    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]


def pixel_std(png: bytes) -> float:
    """Spread of a PNG's RGB values: near 0 for a blank image."""
    return float(png_rgb(png).std())


def flat(text: str) -> str:
    """Collapse whitespace (rich wraps long lines at the terminal width)."""
    return " ".join(text.split())


SLOWEST_FIRST = (
    "tests/packaging/test_wheel.py",
    "tests/ensemble/test_engines_agree.py",
    "tests/teaching/test_scenarios.py",
    "tests/engine/test_engine_invariants.py",
)
"""The modules that take the longest (``--durations``: building and installing the wheel and
compiling the kernels in a fresh environment; 10,000 SimPy runs per engine check; every teaching
scenario; the drawn engine scenarios). ``make test`` hands whole files to its two workers
(``--dist loadfile``) in collection order, so these go first and the short files fill in
around them instead of one worker finishing a long file alone at the end."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run ``SLOWEST_FIRST`` before the rest, each module's tests in their own order."""
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}

    def key(item: pytest.Item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: every other module keeps its place


def pytest_configure(config: pytest.Config) -> None:
    """Before pytest-xdist starts its workers: compile the kernels once, in two processes at a
    time (``tests/warm_kernels.py``), instead of once in every worker."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    # a failure shows up again, with its test, in the run itself
    subprocess.run([sys.executable, str(Path(__file__).with_name("warm_kernels.py"))], cwd=REPO)
