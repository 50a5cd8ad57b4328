"""Run a cohort in patient blocks: in this process, on all local cores, or on a Dask cluster.

The cohort's patients ``0 .. N-1`` are cut into fixed blocks of ``block_size`` patients
(``blocks``); the cut depends on ``N`` and ``block_size`` only, never on the number of workers.
Each block is simulated by ``block_fn(first, stop)`` (for a cohort: ``simulate_block(spec, seed,
first, stop)``, whose per-patient randomness is keyed by the patient index) and leaves a
:class:`~pumpsim.population.outcome.CohortTally` of integers. Integer tallies add exactly and in
any order, so the merged tally — hence the JSON — is the same for 1 worker, many local workers
and a Dask cluster of any size, whatever order the blocks finish in.

Three ways to run the blocks, one loop shape (``_stream``):

* ``workers=1``: in this process, block after block (the reference; no pickling).
* ``workers=N`` / ``None`` (all cores): a ``concurrent.futures.ProcessPoolExecutor`` started
  with the ``forkserver`` method. Chosen over dask's ``LocalCluster`` because it needs no
  scheduler, nanny or port and starts in a fraction of the time, and the same tally comes out
  either way; ``forkserver`` rather than ``fork`` because the caller may have threads running
  (the CLI's progress bar, a Dask client), which a forked child could inherit mid-lock.
* ``scheduler="tcp://host:port"``: an existing ``dask.distributed`` cluster. Blocks are submitted
  as futures and streamed back with ``distributed.as_completed``.

Memory stays flat in ``N``: at most ``IN_FLIGHT_PER_WORKER`` blocks per worker are submitted at
a time, each result is merged into the running total as soon as it arrives and then dropped, so
the runner holds one tally plus the blocks in flight, never all of them. ``progress(done,
total)`` (patients) is called after each block.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import multiprocessing
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pumpsim.core.errors import PumpsimError, SimulationError
from pumpsim.forecast.batch import MAX_WORKERS
from pumpsim.population.outcome import CohortTally
from pumpsim.population.simulate import DEFAULT_BLOCK_SIZE, simulate_block
from pumpsim.population.therapies import check_dose_limits

if TYPE_CHECKING:
    from pumpsim.models.cohort import CohortSpec

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "IN_FLIGHT_PER_WORKER",
    "MAX_BLOCK_SIZE",
    "BlockFn",
    "ClusterError",
    "ProgressCallback",
    "blocks",
    "check_scheduler_address",
    "check_target",
    "resolve_workers",
    "run_blocks",
    "run_cohort",
]

BlockFn = Callable[[int, int], CohortTally]
"""A picklable ``(first, stop) -> CohortTally`` for patients ``first .. stop-1``."""
ProgressCallback = Callable[[int, int], None]
"""``progress(patients_done, patients_total)``."""

MAX_BLOCK_SIZE = 100_000
IN_FLIGHT_PER_WORKER = 2
"""Blocks submitted ahead per worker: one running, one waiting, so no worker idles between
blocks while the runner merges."""
CONNECT_TIMEOUT_S = 10.0
"""How long ``--scheduler`` waits for the Dask scheduler to answer."""


class ClusterError(PumpsimError):
    """A Dask scheduler address is malformed or no scheduler answers there (a usage error: the
    CLI exits 64)."""


@dataclass(frozen=True)
class _Block:
    """One block's call, picklable for a process pool or a Dask worker."""

    fn: BlockFn
    first: int
    stop: int

    def __call__(self) -> CohortTally:
        return self.fn(self.first, self.stop)


def _call(block: _Block) -> CohortTally:
    return block()


def blocks(patients: int, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[tuple[int, int]]:
    """``(first, stop)`` of each block in order: ``[0, b), [b, 2b), …``, the last one shorter."""
    if not 1 <= block_size <= MAX_BLOCK_SIZE:
        raise SimulationError(f"block_size must be 1 to {MAX_BLOCK_SIZE}, got {block_size}")
    if patients < 0:
        raise SimulationError(f"patients must be 0 or more, got {patients}")
    for first in range(0, patients, block_size):
        yield first, min(first + block_size, patients)


def resolve_workers(workers: int | None) -> int:
    """The local process count: ``None`` means every core; 1 to ``MAX_WORKERS`` otherwise."""
    count = min(os.cpu_count() or 1, MAX_WORKERS) if workers is None else workers
    if not 1 <= count <= MAX_WORKERS:
        raise SimulationError(f"workers must be 1 to {MAX_WORKERS}, got {workers}")
    return count


def check_scheduler_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """``address`` if it is ``tcp://host:port`` and something listens there, else
    ``ClusterError`` naming the address and why (checked with a plain socket first, so a wrong
    port fails at once instead of after the Dask client's retries)."""
    shown = address if len(address) <= 80 else address[:80] + "…"
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise ClusterError(
            f"--scheduler {shown!r}: a Dask scheduler address is tcp://HOST:PORT "
            "(e.g. tcp://127.0.0.1:8786)"
        )
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"--scheduler {shown}: no Dask scheduler answers there ({reason})"
        ) from None
    return address


def check_target(workers: int | None, scheduler: str | None) -> None:
    """Where a run may go: ``workers`` (1 to ``MAX_WORKERS``) or a reachable ``scheduler``, not
    both (``ClusterError``; ``SimulationError`` for a worker count out of range)."""
    if scheduler is None:
        resolve_workers(workers)
        return
    if workers is not None:
        raise ClusterError("--workers and --scheduler exclude each other: the cluster has its own")
    check_scheduler_address(scheduler)


def run_blocks(
    block_fn: BlockFn,
    patients: int,
    months: int,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: ProgressCallback | None = None,
) -> CohortTally:
    """The merged tally of ``block_fn`` over every block of ``patients`` (see the module
    docstring). ``workers`` and ``scheduler`` exclude each other: a cluster's size is its own."""
    if scheduler is not None and workers is not None:
        check_target(workers, scheduler)
    todo = [_Block(block_fn, first, stop) for first, stop in blocks(patients, block_size)]
    tally = _Merge(CohortTally.empty(months), patients, progress)
    if scheduler is not None:
        _run_dask(todo, scheduler, tally)
    else:
        count = resolve_workers(workers)
        if count == 1 or len(todo) <= 1:
            for block in todo:
                tally.add(block())
        else:
            _run_local(todo, min(count, len(todo)), tally)
    return tally.total


def run_cohort(
    spec: CohortSpec,
    seed: int,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: ProgressCallback | None = None,
) -> CohortTally:
    """The tally of the whole cohort ``spec`` under ``seed``: identical to
    ``simulate_cohort(spec, seed)`` for any ``workers``, ``scheduler`` or ``block_size``. The
    hard dose limits are checked here first (``DoseLimitError``), not in a worker whose error
    would have to travel back."""
    check_dose_limits(spec)
    block_fn = functools.partial(simulate_block, spec, seed)
    return run_blocks(
        block_fn,
        spec.patients,
        spec.months,
        workers=workers,
        scheduler=scheduler,
        block_size=block_size,
        progress=progress,
    )


class _Merge:
    """The running total: each block's tally is added as it arrives, then forgotten."""

    def __init__(self, empty: CohortTally, patients: int, progress: ProgressCallback | None):
        self.total = empty
        self.patients = patients
        self.progress = progress

    def add(self, block: CohortTally) -> None:
        self.total = self.total.merge(block)
        if self.progress is not None:
            self.progress(self.total.patients, self.patients)


def _run_local(todo: list[_Block], workers: int, tally: _Merge) -> None:
    """Blocks on a process pool, at most ``IN_FLIGHT_PER_WORKER`` per process submitted."""
    context = multiprocessing.get_context("forkserver")
    # the server imports the simulation once; each worker forked from it starts warm
    context.set_forkserver_preload(["pumpsim.population.simulate"])
    limit = workers * IN_FLIGHT_PER_WORKER
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        queue = iter(todo)
        pending: set[Future[CohortTally]] = set()
        for block in queue:
            pending.add(pool.submit(_call, block))
            if len(pending) < limit:
                continue
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                tally.add(future.result())
        for future in _drain(pending):
            tally.add(future.result())


def _drain(pending: set[Future[CohortTally]]) -> Iterator[Future[CohortTally]]:
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        yield from done


def _run_dask(todo: list[_Block], scheduler: str, tally: _Merge) -> None:
    """Blocks as futures on the Dask cluster at ``scheduler``, streamed with ``as_completed``
    (a finished future is released before the next is submitted)."""
    check_scheduler_address(scheduler)
    # distributed's functions are untyped: use the module as ``Any`` (imported only here)
    dist: Any = importlib.import_module("distributed")
    try:
        client = dist.Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    with client:
        if not client.nthreads():
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except TimeoutError:
                raise ClusterError(f"--scheduler {scheduler}: the cluster has no workers") from None
        slots = max(1, sum(client.nthreads().values())) * IN_FLIGHT_PER_WORKER
        run = uuid.uuid4().hex[:12]  # keys unique to this run on a shared cluster
        queue = iter(todo)
        first = [_submit(client, block, run) for block in itertools.islice(queue, slots)]
        stream: Any = dist.as_completed(first, loop=client.loop)
        del first
        for future in stream:
            result: CohortTally = future.result()
            future.release()
            tally.add(result)
            block = next(queue, None)
            if block is not None:
                stream.add(_submit(client, block, run))


def _submit(client: Any, block: _Block, run: str) -> Any:
    key = f"pumpsim-cohort-{run}-{block.first}-{block.stop}"
    return client.submit(_call, block, key=key, pure=False)
