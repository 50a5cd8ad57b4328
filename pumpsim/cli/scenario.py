"""``pumpsim scenario list|show|run``: the teaching scenarios (profiles/scenarios/*.yaml).

Rendering only: every number comes from ``pumpsim.teaching.scenarios`` (the run and its answers).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import console, user_errors
from pumpsim.core.about import DISCLAIMER
from pumpsim.core.jsonout import dumps

scenario_app = typer.Typer(
    help="Teaching scenarios: clinical cases that run, plot and explain themselves."
    f"\n\n{DISCLAIMER}",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``scenario`` command group to the root app."""
    app.add_typer(scenario_app, name="scenario")


@scenario_app.command("list")
def scenario_list() -> None:
    """List the shipped scenarios: name, title, pump, simulated days."""
    from pumpsim.teaching.scenarios import list_scenarios, scenario_dir

    with user_errors():
        scenarios = list_scenarios()
    table = Table(title=f"Teaching scenarios ({scenario_dir()})", box=box.SIMPLE_HEAD)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("title", min_width=34)
    table.add_column("pump")
    table.add_column("days", justify="right")
    for s in scenarios:
        table.add_row(
            escape(s.name), escape(s.title), escape(s.profile.therapy.pump.key), f"{s.days:g}"
        )
    console.print(table)
    console.print("Run one: pumpsim scenario run NAME --report case.html")


@scenario_app.command("show")
def scenario_show(name: str = typer.Argument(..., help="Scenario name or path.")) -> None:
    """Show a scenario's case, objectives, what to watch, source and questions (no answers)."""
    from pumpsim.teaching.scenarios import load_scenario

    with user_errors():
        s = load_scenario(name)
    console.print(f"[bold]{escape(s.title)}[/]  ({escape(s.name)}, {s.days:g} days)")
    console.print(escape(s.summary))
    console.print("\n[bold]Objectives[/]")
    for o in s.objectives:
        console.print(f"  • {escape(o)}")
    if s.watch:
        console.print("[bold]Watch[/]")
        for w in s.watch:
            console.print(f"  • {escape(w)}")
    console.print(f"[bold]Source[/] {escape(s.source)}")
    console.print("[bold]Questions[/]")
    for i, q in enumerate(s.questions, 1):
        console.print(f"  {i}. {escape(q.ask)}")
    console.print(f"\n[dim]{escape(str(s.path))}[/]")


@scenario_app.command("run")
def scenario_run(
    name: str = typer.Argument(..., help="Scenario name or path."),
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report here."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the plots (.png or .svg)."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Override the scenario's seed."),
    as_json: bool = typer.Option(False, "--json", help="Print answers and summary as JSON."),
) -> None:
    """Simulate a scenario, answer its questions, optionally write a report and plots."""
    from pumpsim.teaching.scenarios import run_scenario

    with user_errors():
        from pumpsim.report import combined_figure, plot_format, save_figure, write_html

        if plot is not None:
            plot_format(plot)
        result = run_scenario(name, seed=seed)
        if report is not None or plot is not None:
            if report is not None:
                write_html(result, report)
            if plot is not None:
                save_figure(combined_figure(result), plot)
    if as_json:
        typer.echo(dumps(result.to_dict(), indent=1))
        return
    console.print(f"[bold]{escape(result.scenario.title)}[/]  (seed {result.seed})")
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("question")
    table.add_column("answer (from the run)", style="bold")
    for i, a in enumerate(result.answers, 1):
        table.add_row(str(i), escape(a.ask), escape(a.text))
    console.print(table)
    for label, path in (("report", report), ("plot", plot)):
        if path is not None:
            console.print(f"{label}: {escape(str(path))}")
