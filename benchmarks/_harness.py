"""The one way pumpsim's benchmarks time things and print their verdicts.

* ``interleave({"a": fa, "b": fb}, rounds)`` runs the callables in turns (a, b, a, b, ...; the
  order alternates every round so neither side always runs first) and returns, per name, the
  CPU-time and wall-time samples. CPU time is ``time.process_time()`` of this process plus the
  CPU of any child process that ended during the call (``resource.RUSAGE_CHILDREN``), so a
  subprocess or a process pool is counted too.
* ``Stats`` is a median with its min and max: the figures every benchmark prints.
* ``ratio_line(name, value, op, goal)`` prints ``RATIO <name> <value> goal <op> <goal>``: the
  final lines a script can parse (``parse_ratio_lines``). ``op`` is ``<=`` or ``>=``; ``met``
  says whether the value meets the goal. Benchmarks exit 0 whether or not a goal is met (the
  verdict is in the line); only a crash exits non-zero.
* ``machine_load()`` is the 1-minute load average and the core count, printed with each run so a
  reader knows how quiet the machine was.

Run from the project root: ``python benchmarks/bench_X.py``; this module sits beside them.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "Samples",
    "Stats",
    "interleave",
    "machine_load",
    "met",
    "parse_ratio_lines",
    "ratio_line",
    "timed",
]


@dataclass(frozen=True)
class Stats:
    """A median with its spread (seconds, or whatever unit the samples are in)."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        data = list(values)
        if not data:
            raise ValueError("no samples")
        return cls(statistics.median(data), min(data), max(data), len(data))

    def scaled(self, factor: float) -> Stats:
        return Stats(self.median * factor, self.low * factor, self.high * factor, self.n)

    def text(self, unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
        m, lo, hi = (v * scale for v in (self.median, self.low, self.high))
        return f"{m:.{digits}f} {unit} (min {lo:.{digits}f}, max {hi:.{digits}f}, n={self.n})"


@dataclass
class Samples:
    """CPU and wall seconds of each call of one side of a comparison."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    @property
    def cpu_stats(self) -> Stats:
        return Stats.of(self.cpu)

    @property
    def wall_stats(self) -> Stats:
        return Stats.of(self.wall)


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """``(cpu seconds, wall seconds)`` of one call of ``fn``."""
    cpu0, wall0 = _cpu_now(), time.perf_counter()
    fn()
    return _cpu_now() - cpu0, time.perf_counter() - wall0


def interleave(
    sides: dict[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, Samples]:
    """Call every side once per round, alternating the order each round; ``warmup`` untimed
    rounds first (imports, caches, compilation)."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    out = {name: Samples() for name in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            cpu, wall = timed(sides[name])
            out[name].cpu.append(cpu)
            out[name].wall.append(wall)
    return out


def ratio_of(top: list[float], bottom: list[float]) -> Stats:
    """Per-round ratios of paired samples (interleaved round i against round i)."""
    return Stats.of(a / b for a, b in zip(top, bottom, strict=True) if b > 0)


def met(value: float, op: str, goal: float) -> bool:
    if op == "<=":
        return value <= goal
    if op == ">=":
        return value >= goal
    raise ValueError(f"op must be <= or >=, not {op!r}")


def ratio_line(name: str, value: float, op: str, goal: float) -> str:
    """Print and return ``RATIO <name> <value> goal <op> <goal>`` (value to 3 significant
    decimals)."""
    met(value, op, goal)  # validates op
    line = f"RATIO {name} {value:.3f} goal {op} {goal:g}"
    print(line, flush=True)
    return line


def parse_ratio_lines(text: str) -> list[tuple[str, float, str, float, bool]]:
    """``(name, value, op, goal, met)`` of every RATIO line in a benchmark's output."""
    found = []
    for raw in text.splitlines():
        parts = raw.split()
        if len(parts) == 6 and parts[0] == "RATIO" and parts[3] == "goal":
            value, goal = float(parts[2]), float(parts[5])
            found.append((parts[1], value, parts[4], goal, met(value, parts[4], goal)))
    return found


def machine_load() -> str:
    """One line: cores and the load averages, to print beside every result."""
    one, five, fifteen = os.getloadavg()
    return f"machine: {os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"
