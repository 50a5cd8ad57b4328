"""``pumpsim cohort list|run``: the shipped presets listed; the text summary; ``--json`` byte-
identical for 1 process, 2 local processes and a real Dask cluster (a scheduler and two worker
processes started here); the document validates against its published schema; bad input exits
2 naming file, field and value; usage errors (``--workers 0``, an unreachable ``--scheduler``)
exit 64 with one clean message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import REPO, flat, run_subprocess
from dask_cluster import free_port, local_dask_cluster
from typer.testing import CliRunner

from pumpsim.cli import app
from pumpsim.io.cohort import load_cohort
from pumpsim.population.cohort_run import CohortRequest, evaluate_run
from pumpsim.population.simulate import simulate_cohort

runner = CliRunner()
SMITH = "smith-2002-pump-arm"
COHORTS = REPO / "profiles" / "cohorts"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with local_dask_cluster(workers=2) as address:
        yield address


def _run(*args: str) -> str:
    result = runner.invoke(app, ["cohort", "run", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_list_names_every_shipped_cohort_and_cost_preset() -> None:
    result = runner.invoke(app, ["cohort", "list"])
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    for path in sorted(COHORTS.glob("*.yaml")):
        spec = load_cohort(path)
        assert f"{path.stem} {spec.patients:,} {spec.years:g} {spec.indication}" in text
    assert "kumar-2002" in text


def test_json_is_byte_identical_for_one_two_workers_and_a_dask_cluster(
    cluster: str, tmp_path: Path
) -> None:
    args = [SMITH, "--seed", "5", "--costs", "kumar-2002", "--psa", "50", "--block-size", "16"]
    one = _run(*args, "--workers", "1", "--json", "-")
    two = _run(*args, "--workers", "2", "--json", "-")
    dask = _run(*args, "--scheduler", cluster, "--json", "-")
    assert one == two == dask
    _run(*args, "--json", str(tmp_path / "run.json"))
    assert (tmp_path / "run.json").read_text(encoding="utf-8") == one
    doc = json.loads(one)
    schema = json.loads((REPO / "docs/schemas/cohort.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    # the document is the library's run of the same cohort and seed, whatever the blocks
    request = CohortRequest.load(SMITH, seed=5, costs="kumar-2002", psa_draws=50)
    tally = simulate_cohort(request.spec, 5)
    expected = evaluate_run(request, tally).json_text()
    assert one == expected
    assert doc["tally"]["patients"] == 101 == sum(doc["tally"]["refill_burden"])
    assert doc["economics"]["psa"]["draws"] == 50


def test_text_summary_shows_outcomes_and_economics() -> None:
    text = flat(_run(SMITH, "--seed", "5", "--workers", "1", "--costs", "kumar-2002"))
    assert "Smith 2002 pump arm (refractory cancer pain): 101 patients x 2 years, seed 5" in text
    assert "crossover month" in text and "95 % interval" in text
    without = flat(_run(SMITH, "--workers", "1"))
    assert "Costs: add --costs PRESET" in without


def test_a_bad_cohort_exits_2_naming_file_field_and_value(tmp_path: Path) -> None:
    data = yaml.safe_load((COHORTS / f"{SMITH}.yaml").read_text(encoding="utf-8"))
    data["patients"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["cohort", "run", str(path)])
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert str(path) in message and "patients" in message and "got 0" in message
    result = runner.invoke(app, ["cohort", "run", "no-such-cohort"])
    assert result.exit_code == 2 and SMITH in flat(result.stderr)
    result = runner.invoke(app, ["cohort", "run", SMITH, "--costs", "no-such-preset"])
    assert result.exit_code == 2 and "kumar-2002" in flat(result.stderr)


def test_a_dose_above_the_hard_limit_exits_3_before_any_worker_starts(tmp_path: Path) -> None:
    data = yaml.safe_load((COHORTS / f"{SMITH}.yaml").read_text(encoding="utf-8"))
    data["therapies"][0]["daily_dose"]["lognormal"]["max"] = "40 mg/day"  # morphine: 20 hard
    path = tmp_path / "overdose.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["cohort", "run", str(path), "--workers", "2"])
    assert result.exit_code == 3, result.output
    assert "40 mg/day is above the HARD limit of 20 mg/day" in flat(result.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers"),
        (["--workers", "65"], "--workers"),
        (["--block-size", "100001"], "--block-size"),
        (["--scheduler", "127.0.0.1:8786"], "tcp://HOST:PORT"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "exclude each other"),
    ],
)
def test_usage_errors_exit_64(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cohort", "run", SMITH, *args])
    assert result.exit_code == 64, result.output
    assert message in flat(result.output)


def test_an_unreachable_scheduler_is_one_clean_message() -> None:
    port = free_port()
    done = run_subprocess("cohort", "run", SMITH, "--scheduler", f"tcp://127.0.0.1:{port}")
    assert done.returncode == 64
    assert "Traceback" not in done.stderr
    assert flat(done.stderr).startswith(
        f"error: --scheduler tcp://127.0.0.1:{port}: no Dask scheduler answers there"
    )
