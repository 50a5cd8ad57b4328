"""Start-up benchmark: ``pumpsim --help`` and ``pumpsim check ONE.yaml`` against importing NumPy.

    python benchmarks/bench_startup.py [--rounds N]

Each command runs as a subprocess, the three interleaved (``_harness.interleave``: the order
alternates every round), ``--rounds`` rounds after one untimed warm-up. The figure is the CPU
time (user + system) of the child process; printed are the CPU medians with min-max, the
wall-clock medians, and the median of the per-round ratios against ``python -c "import numpy"``
(goals: ``--help`` at most 3x, ``check`` at most 4x).

The commands run as a user's shell runs them: the console script next to this interpreter
(``.venv/bin/pumpsim``; ``python -m pumpsim`` if there is none), in the project root, with
Python's bytecode cache on (``PYTHONDONTWRITEBYTECODE`` removed from the environment, so the
warm-up round leaves pumpsim's ``__pycache__`` as an installed package has it; NumPy's is there
already).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from _harness import interleave, machine_load, ratio_line, ratio_of

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "profiles/patients/morphine-cancer-pain.yaml"


def pumpsim_command() -> tuple[list[str], str]:
    """The user's way to start pumpsim, and how it is described."""
    script = Path(sys.executable).parent / "pumpsim"
    if script.exists():
        return [str(script)], str(
            script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
        )
    return [sys.executable, "-m", "pumpsim"], f"{sys.executable} -m pumpsim"


def runner(argv: list[str], env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["COLUMNS"] = "100"
    pumpsim, described = pumpsim_command()
    sides = {
        "numpy": [sys.executable, "-c", "import numpy"],
        "help": [*pumpsim, "--help"],
        "check": [*pumpsim, "check", PROFILE, "--as-of", "2026-03-01"],
    }
    print(machine_load())
    print(f"pumpsim started as: {described}; {args.rounds} interleaved rounds, CPU of the child")
    samples = interleave({name: runner(argv, env) for name, argv in sides.items()}, args.rounds)
    for name, argv in sides.items():
        shown = " ".join(Path(a).name if a == sys.executable else a for a in argv)
        print(
            f"  {name:<6} {samples[name].cpu_stats.text('ms', 1e3, 0)} CPU, "
            f"wall median {samples[name].wall_stats.median * 1e3:.0f} ms   [{shown}]"
        )
    bottom = samples["numpy"].cpu
    help_ratio = ratio_of(samples["help"].cpu, bottom)
    check_ratio = ratio_of(samples["check"].cpu, bottom)
    print(f"  --help / import numpy: {help_ratio.text('x', digits=2)}")
    print(f"  check  / import numpy: {check_ratio.text('x', digits=2)}")
    ratio_line("startup_help_vs_numpy", help_ratio.median, "<=", 3)
    ratio_line("startup_check_vs_numpy", check_ratio.median, "<=", 4)


if __name__ == "__main__":
    main()
