"""The engine's traces, byte for byte: the JSON of every shipped patient profile simulated for
180 days (hourly samples, seed 0), 3,650 days (hourly, seed 3) and 30 days (1-minute samples,
seed 1), and of every teaching scenario (seed 7), against the SHA-256 recorded in
``data/golden_traces.json``.

Speed work on the engine must not change a trace (docs/model.md §11); this catches any change.
When a change is *meant* to change traces, say so in its commit and rewrite the file with
``python tests/engine/test_golden_traces.py`` (it prints what changed).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from pumpsim.core.jsonout import dumps
from pumpsim.engine import simulate
from pumpsim.io.profiles import load_profile
from pumpsim.teaching.scenarios import run_scenario

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("data") / "golden_traces.json"
RUNS = ((180.0, 0, 60.0), (3650.0, 3, 60.0), (30.0, 1, 1.0))  # days, seed, sample minutes
PROFILES = sorted((REPO / "profiles" / "patients").glob("*.yaml"))
SCENARIOS = sorted((REPO / "profiles" / "scenarios").glob("*.yaml"))


def _profile_digest(path: Path, days: float, seed: int, minutes: float) -> str:
    loaded = load_profile(path)
    trace = simulate(
        loaded.therapy, loaded.timeline, days=days, seed=seed, sample_every_days=minutes / 1440
    )
    return hashlib.sha256(dumps(trace.to_dict()).encode()).hexdigest()


def _scenario_digest(path: Path) -> str:
    result = run_scenario(path.stem, seed=7)
    return hashlib.sha256(dumps(result.to_dict(), indent=1).encode()).hexdigest()


def digests() -> dict[str, str]:
    out = {
        f"{p.stem} {int(days)} d seed {seed} every {int(minutes)} min": _profile_digest(
            p, days, seed, minutes
        )
        for p in PROFILES
        for days, seed, minutes in RUNS
    }
    out.update({f"scenario {p.stem} seed 7": _scenario_digest(p) for p in SCENARIOS})
    return out


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_every_shipped_profile_traces_as_recorded(path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for days, seed, minutes in RUNS:
        key = f"{path.stem} {int(days)} d seed {seed} every {int(minutes)} min"
        assert _profile_digest(path, days, seed, minutes) == golden[key], key


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_runs_as_recorded(path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert _scenario_digest(path) == golden[f"scenario {path.stem} seed 7"]


def test_every_case_is_recorded() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    expected = {f"scenario {p.stem} seed 7" for p in SCENARIOS} | {
        f"{p.stem} {int(d)} d seed {s} every {int(m)} min" for p in PROFILES for d, s, m in RUNS
    }
    assert set(golden) == expected


if __name__ == "__main__":
    old = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else {}
    new = digests()
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            print(f"changed: {key}", file=sys.stderr)
    GOLDEN.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n", encoding="utf-8")
