"""A fast, seeded slice of the fuzz campaign (the full one is ``make fuzz``): mutated profiles,
rosters, press logs and refill sheets through the library and the CLI give an accepted file or a
clean error, never a traceback or an absurd acceptance (definitions in ``fuzz_harness``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fuzz_harness import READERS, make_case, run_case
from fuzz_mutate import DrawChooser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SLICE = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("name", list(READERS))
def test_mutated_files_give_a_clean_error_or_a_plausible_result(name: str) -> None:
    reader = READERS[name]

    @SLICE
    @given(st.data())
    def check(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = make_case(reader, DrawChooser(data), Path(tmp))
            case = run_case(reader, path)
        assert case.outcome in ("accepted", "clean error"), case

    check()
