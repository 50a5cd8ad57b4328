"""The full fuzz campaign (``make fuzz``): mutated profiles, rosters, press logs and refill sheets
through the library and the CLI, each case in a child process killed after ``--timeout`` seconds.

Prints, per reader, the number of cases and of each outcome (see ``fuzz_harness``), then the
first few failures with the seed that reproduces each (``--only READER --seed N --cases 1``).
Exits 1 if any case was a traceback, a hang or an absurd acceptance.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection, wait
from pathlib import Path

from fuzz_harness import OUTCOMES, READERS, Case, make_case, run_case
from fuzz_mutate import RandomChooser


def _worker(conn: Connection) -> None:
    with tempfile.TemporaryDirectory(prefix="pumpsim-fuzz-") as tmp:
        workdir = Path(tmp)
        while True:
            job = conn.recv()
            if job is None:
                return
            name, seed = job
            reader = READERS[name]
            try:
                path = make_case(reader, RandomChooser(seed), workdir)
            except Exception as exc:  # a bug of the harness, reported as such
                conn.send(Case(name, "harness error", f"{type(exc).__name__}: {exc}"[:200]))
                continue
            conn.send(run_case(reader, path))


class _Slot:
    """One child process and the case it is running."""

    def __init__(self, ctx: mp.context.BaseContext) -> None:
        self.ctx = ctx
        self.start()

    def start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)  # type: ignore[attr-defined]
        self.proc.start()
        self.job: tuple[str, int] | None = None
        self.since = 0.0

    def give(self, job: tuple[str, int]) -> None:
        self.job, self.since = job, time.monotonic()
        self.conn.send(job)

    def restart(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.start()


def run(jobs: list[tuple[str, int]], workers: int, timeout: float) -> list[tuple[int, Case]]:
    """Run every ``(reader, seed)`` job; a job over ``timeout`` seconds is a hang."""
    ctx = mp.get_context("fork")
    slots = [_Slot(ctx) for _ in range(workers)]
    pending, results = list(reversed(jobs)), []
    while pending or any(s.job for s in slots):
        for slot in slots:
            if slot.job is None and pending:
                slot.give(pending.pop())
        ready = wait([s.conn for s in slots if s.job], timeout=0.5)
        for slot in slots:
            if slot.job is None:
                continue
            name, seed = slot.job
            if slot.conn in ready:
                try:
                    results.append((seed, slot.conn.recv()))
                    slot.job = None
                    continue
                except EOFError:  # the child died (e.g. out of memory)
                    results.append((seed, Case(name, "traceback", "worker process died")))
            elif time.monotonic() - slot.since <= timeout:
                continue
            else:
                results.append((seed, Case(name, "hang", f"over {timeout:g} s")))
            slot.restart()
    for slot in slots:
        slot.conn.send(None)
    return results


def report(results: list[tuple[int, Case]], elapsed: float) -> bool:
    """Print the counts and the first failures; ``True`` when there is no failure."""
    print(f"{'reader':<12} {'cases':>6} " + " ".join(f"{o:>12}" for o in OUTCOMES))
    ok = True
    for name in READERS:
        counts = Counter(case.outcome for _, case in results if case.reader == name)
        total = sum(counts.values())
        if total:
            print(f"{name:<12} {total:>6} " + " ".join(f"{counts[o]:>12}" for o in OUTCOMES))
    failures = [(s, c) for s, c in results if c.outcome not in ("accepted", "clean error")]
    for seed, case in failures[:15]:
        print(f"  {case.outcome} {case.reader} seed {seed}: {case.detail}")
    ok = not failures
    print(f"{len(results)} cases in {elapsed:.0f} s; failures: {len(failures)}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--rosters", type=int, default=1_000)
    parser.add_argument("--press-logs", type=int, default=500)
    parser.add_argument("--refill-sheets", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0, help="first seed of each reader")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a hang")
    parser.add_argument("--only", choices=list(READERS), help="fuzz one reader")
    args = parser.parse_args()
    counts = {
        "profile": args.profiles,
        "roster": args.rosters,
        "press_log": args.press_logs,
        "refill_sheet": args.refill_sheets,
    }
    jobs = [
        (name, args.seed + i)
        for name in READERS
        if args.only in (None, name)
        for i in range(counts.get(name, args.rosters))
    ]
    started = time.monotonic()
    results = run(jobs, args.workers, args.timeout)
    return 0 if report(results, time.monotonic() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
