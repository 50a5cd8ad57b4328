"""ForecastRunner.submit: one forecast as a future, the same answer as a batch, in a pool or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpsim.clinic.windows import forecast_window
from pumpsim.core.errors import SimulationError
from pumpsim.forecast.batch import ForecastJob, ForecastRunner
from pumpsim.io.roster import load_roster

ROSTER = Path(__file__).resolve().parents[2] / "profiles" / "rosters" / "clinic-12.csv"


def _jobs() -> list[ForecastJob]:
    entries = load_roster(ROSTER).entries[:3]
    return [ForecastJob(e.therapy, e.therapy.patient_id, {"runs": 300}) for e in entries]


@pytest.mark.parametrize("workers", [1, 2])
def test_submitted_forecasts_equal_the_batch(workers: int) -> None:
    jobs = _jobs()
    with ForecastRunner(seed=4, workers=1) as alone:
        expected = alone.run(jobs, reduce=forecast_window)
    with ForecastRunner(seed=4, workers=workers) as runner:
        assert runner.parallel == (workers > 1)
        futures = [runner.submit(job, reduce=forecast_window) for job in reversed(jobs)]
        assert [f.result() for f in reversed(futures)] == expected
    assert len(set(expected)) == 3  # three patients, three windows


def test_a_failing_forecast_raises_from_its_future() -> None:
    (job, *_) = _jobs()
    bad = ForecastJob(job.therapy, job.key, {"runs": 0})
    with ForecastRunner(workers=1) as runner:
        future = runner.submit(bad)
        assert future.done()
        with pytest.raises(SimulationError, match="runs must be 1 to"):
            future.result()
