"""The block runner: a fixed partition of the patients, whatever the worker count; the same
integer tally in this process, on 2 local processes and on a real Dask cluster (a scheduler and
two worker processes started here) — for the cohort simulation itself (the shipped Smith 2002
pump arm, equal to ``simulate_cohort``) and for a small toy block function; progress; clean
errors."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from dask_cluster import free_port, local_dask_cluster, toy_block

from pumpsim.core.errors import SimulationError
from pumpsim.io.cohort import load_cohort
from pumpsim.population.cohort_run import cohort_path
from pumpsim.population.outcome import CohortTally
from pumpsim.population.runner import (
    ClusterError,
    blocks,
    check_scheduler_address,
    run_blocks,
    run_cohort,
)
from pumpsim.population.simulate import simulate_cohort

MONTHS = 24


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with local_dask_cluster(workers=2) as address:
        yield address


def test_blocks_are_fixed_by_size_not_by_workers() -> None:
    assert list(blocks(7, 3)) == [(0, 3), (3, 6), (6, 7)]
    assert list(blocks(6, 3)) == [(0, 3), (3, 6)]
    assert list(blocks(0, 3)) == []
    with pytest.raises(SimulationError, match="block_size must be 1 to 100000, got 0"):
        list(blocks(5, 0))


def test_any_block_size_gives_the_tally_of_one_block() -> None:
    fn = functools.partial(toy_block, 11, MONTHS)
    whole = fn(0, 37)
    assert whole.patients == 37
    for size in (1, 5, 36, 37, 1000):
        assert run_blocks(fn, 37, MONTHS, workers=1, block_size=size) == whole
    assert run_blocks(fn, 37, MONTHS, workers=1, block_size=5) != run_blocks(
        functools.partial(toy_block, 12, MONTHS), 37, MONTHS, workers=1, block_size=5
    )


def test_progress_counts_patients_block_by_block() -> None:
    seen: list[tuple[int, int]] = []
    fn = functools.partial(toy_block, 1, MONTHS)
    run_blocks(fn, 23, MONTHS, workers=1, block_size=10, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(10, 23), (20, 23), (23, 23)]


def test_the_cohort_is_the_same_in_process_on_two_processes_and_on_the_cluster(
    cluster: str,
) -> None:
    spec = load_cohort(cohort_path("smith-2002-pump-arm"))
    reference = simulate_cohort(spec, 3)
    assert reference.patients == 101 and reference.monthly["refill_visits"].sum() > 100
    seen: list[tuple[int, int]] = []
    one = run_cohort(spec, 3, workers=1, block_size=10, progress=lambda d, t: seen.append((d, t)))
    assert one == reference
    assert seen[0] == (10, 101) and seen[-1] == (101, 101) and len(seen) == 11
    assert run_cohort(spec, 3, workers=2, block_size=30) == reference
    assert run_cohort(spec, 3, scheduler=cluster, block_size=13) == reference  # 8 blocks
    assert run_cohort(spec, 4, workers=1) != reference


def test_toy_blocks_agree_in_process_local_pool_and_dask_cluster(cluster: str) -> None:
    fn = functools.partial(toy_block, 7, MONTHS)
    one = run_blocks(fn, 150, MONTHS, workers=1, block_size=10)
    two = run_blocks(fn, 150, MONTHS, workers=2, block_size=10)
    seen: list[int] = []
    dask = run_blocks(
        fn, 150, MONTHS, scheduler=cluster, block_size=10, progress=lambda d, t: seen.append(d)
    )
    assert one.patients == two.patients == dask.patients == 150
    assert one == two == dask
    assert one.monthly["deaths"].sum() == fn(0, 150).monthly["deaths"].sum() > 0
    assert seen[-1] == 150 and len(seen) == 15 and seen == sorted(seen)


def test_an_empty_cohort_is_an_empty_tally() -> None:
    fn = functools.partial(toy_block, 7, MONTHS)
    assert run_blocks(fn, 0, MONTHS, workers=2) == CohortTally.empty(MONTHS)


def test_workers_and_scheduler_are_checked() -> None:
    fn = functools.partial(toy_block, 7, MONTHS)
    with pytest.raises(SimulationError, match="workers must be 1 to 64, got 0"):
        run_blocks(fn, 10, MONTHS, workers=0)
    with pytest.raises(ClusterError, match="exclude each other"):
        run_blocks(fn, 10, MONTHS, workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ClusterError, match=r"tcp://HOST:PORT"):
        check_scheduler_address("127.0.0.1:8786")
    with pytest.raises(ClusterError, match=r"tcp://HOST:PORT"):
        check_scheduler_address("tcp://127.0.0.1:notaport")
    port = free_port()  # nothing listens there
    with pytest.raises(ClusterError, match=f"tcp://127.0.0.1:{port}: no Dask scheduler answers"):
        run_blocks(fn, 10, MONTHS, scheduler=f"tcp://127.0.0.1:{port}")
