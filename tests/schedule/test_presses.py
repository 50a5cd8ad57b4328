"""Drawn presses (schedule.presses): the forecast's scratch memory for a chunk's uniforms."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pumpsim.models import PtmDemand
from pumpsim.schedule.presses import Scratch, draw_presses

ORIGIN = dt.datetime(2026, 3, 2, 9, 0)


def test_a_scratch_draws_the_same_numbers_as_fresh_arrays_and_grows() -> None:
    """Chunk after chunk, small then larger then smaller, drawing into one ``Scratch`` gives
    the counts and uniforms of drawing each fresh, from the same streams; each draw's uniforms
    are a view of the one buffer, valid until the next."""
    scratch = Scratch()
    for i, (rate, n) in enumerate([(3.0, 40), (12.0, 200), (1.0, 10)]):
        demand = PtmDemand(presses_per_day=rate, daily_cv=0.3)
        fresh = draw_presses(demand, ORIGIN, 20.0, np.random.default_rng(i), n)
        into = draw_presses(demand, ORIGIN, 20.0, np.random.default_rng(i), n, scratch=scratch)
        assert np.array_equal(into.counts, fresh.counts)
        assert into.uniforms.size == fresh.uniforms.size == int(fresh.counts.sum())
        assert np.array_equal(into.uniforms, fresh.uniforms)
        assert into.uniforms.base is scratch._buffer
