"""``pumpsim cohort run|list``: a virtual cohort over years, its outcomes and what it costs.

Rendering only: the cohort is loaded by ``pumpsim.io.cohort``, run by
``pumpsim.population.runner`` (this process, local cores or a Dask cluster), summarised by
``pumpsim.population.outcome`` and costed by ``pumpsim.population.economics``; the JSON document
and the HTML page are built in the library. The population, Dask and report modules are
imported inside the commands, so ``pumpsim --help`` does not load them.

Exit codes: 0; 2 a bad cohort or cost preset (the message names the file, field and value);
64 a usage error (``--workers 0``, ``--workers`` with ``--scheduler``, a malformed or
unreachable ``--scheduler``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import (
    EXIT_USAGE,
    console,
    err_console,
    print_error,
    progress_bar,
    user_errors,
)
from pumpsim.cli._lazy import library
from pumpsim.core.about import DISCLAIMER

if TYPE_CHECKING:
    from pumpsim.forecast import batch
    from pumpsim.population import runner
    from pumpsim.population.cohort_run import CohortRun
else:
    batch = library("pumpsim.forecast.batch")  # --workers up to batch.MAX_WORKERS
    runner = library("pumpsim.population.runner")  # --block-size up to runner.MAX_BLOCK_SIZE

MAX_PSA_DRAWS = 100_000

cohort_app = typer.Typer(
    help="Virtual cohorts over years: refills, alarms, gaps, events and the cost against medical "
    f"management (docs/cohort.md).\n\n{DISCLAIMER}",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``cohort`` command group to the root app."""
    app.add_typer(cohort_app, name="cohort")


@cohort_app.command("list")
def cohort_list() -> None:
    """List the shipped cohort presets and cost presets."""
    with user_errors():
        from pumpsim.io.cohort import load_cohort
        from pumpsim.io.economics import load_cost_preset, shipped_cost_presets
        from pumpsim.population.cohort_run import shipped_cohorts

        cohorts = {name: load_cohort(path) for name, path in shipped_cohorts().items()}
        costs = {
            name: load_cost_preset(path).title for name, path in shipped_cost_presets().items()
        }
    table = Table(title="Cohort presets (profiles/cohorts)", box=box.SIMPLE_HEAD)
    for column in ("name", "patients", "years", "indication", "description"):
        table.add_column(column, justify="right" if column in ("patients", "years") else "left")
    for name, spec in cohorts.items():
        table.add_row(
            escape(name),
            f"{spec.patients:,}",
            f"{spec.years:g}",
            escape(spec.indication),
            escape(spec.description.split("\n")[0]),
        )
    console.print(table)
    table = Table(title="Cost presets (--costs)", box=box.SIMPLE_HEAD)
    table.add_column("name")
    table.add_column("title")
    for name, title in costs.items():
        table.add_row(escape(name), escape(title))
    console.print(table)
    console.print("Run one: pumpsim cohort run NAME --costs PRESET --report cohort.html")


@cohort_app.command("run")
def cohort_run(
    spec: Annotated[str, typer.Argument(help="Cohort preset name or YAML file.")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=batch.MAX_WORKERS, help="Local processes (default: all cores)."
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Run on this Dask cluster (tcp://HOST:PORT)."),
    ] = None,
    costs: Annotated[
        str | None, typer.Option("--costs", help="Cost preset name or YAML file.")
    ] = None,
    psa: Annotated[
        int,
        typer.Option(
            "--psa", min=0, max=MAX_PSA_DRAWS, help="Probabilistic sensitivity draws (--costs)."
        ),
    ] = 1000,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON document to FILE, or - for stdout.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write one self-contained HTML page.")
    ] = None,
    block_size: Annotated[
        int | None,
        typer.Option(
            "--block-size",
            min=1,
            max=runner.MAX_BLOCK_SIZE,
            help="Patients per block (default: the simulation's).",
        ),
    ] = None,
) -> None:
    """Simulate the cohort SPEC over its years; print its outcomes (and costs with --costs)."""
    with user_errors():
        from pumpsim.population.cohort_run import CohortRequest, run_request
        from pumpsim.population.runner import ClusterError, check_target

        try:
            check_target(workers, scheduler)  # usage first: before any file is read
            request = CohortRequest.load(spec, seed=seed, costs=costs, psa_draws=psa)
            kwargs = {} if block_size is None else {"block_size": block_size}
            with progress_bar(
                "simulating patients", request.spec.patients, show=json_out != "-"
            ) as progress:
                result = run_request(
                    request, workers=workers, scheduler=scheduler, progress=progress, **kwargs
                )
        except ClusterError as exc:
            print_error(exc)
            raise typer.Exit(EXIT_USAGE) from None
        _write_outputs(result, json_out, report)
    if json_out != "-":
        _summary(result)


def _write_outputs(result: CohortRun, json_out: str | None, report: Path | None) -> None:
    from pumpsim.core.atomic import write_text_atomic

    if json_out == "-":
        typer.echo(result.json_text(), nl=False)
    elif json_out is not None:
        write_text_atomic(Path(json_out), result.json_text())
    if report is not None:
        from pumpsim.report.cohort_report import write_cohort_report

        write_cohort_report(result, report)
    for label, path in (("json", json_out), ("report", report)):
        if path is not None and path != "-":
            err_console.print(f"{label}: {escape(str(path))}", highlight=False)


def _summary(result: CohortRun) -> None:
    """The outcomes and, with costs, the economics, as text."""
    spec = result.spec
    console.print(
        f"[bold]{escape(spec.name)}[/]: {spec.patients:,} patients x {spec.years:g} years, "
        f"seed {result.seed}",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, title="Outcomes")
    table.add_column("outcome")
    table.add_column("value", justify="right")
    table.add_column("95 % interval", justify="right")
    for row in result.outcome_rows():
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    if result.economics is None:
        console.print("Costs: add --costs PRESET (pumpsim cohort list shows them).")
        return
    table = Table(box=box.SIMPLE_HEAD, title=f"Costs: {escape(result.economics.title)}")
    table.add_column("")
    table.add_column("value", justify="right")
    for label, value in result.economics_rows()[1:]:  # the first names the preset: the title
        table.add_row(escape(label), escape(value))
    console.print(table)
