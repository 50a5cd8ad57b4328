"""The ``pumpsim`` command line: a thin typer shell over the library.

Each command group lives in its own module here and registers itself in ``_register()``: its
``register(app)`` adds its commands to ``app`` (``app.command(...)`` / ``app.add_typer(...)``);
the root builds a command only when it is run or asked for help (``_lazy.LazyCommands``). Commands
parse arguments, call the library and render; they hold no domain arithmetic.

The lazy-import rule (``tests/test_import_cost.py`` holds every command to it): ``pumpsim --help``
imports every subcommand module, so a module imports at its top only the standard library,
typer, rich, ``pumpsim.cli._common`` and the cheap ``pumpsim.core`` modules (``about``,
``errors``, ``jsonout``, ``atomic``, ``units``, ``csvsafe``; never pint, numpy, pydantic, models
or another layer). Library layers are imported inside the command functions; types named only
in annotations go under ``if TYPE_CHECKING:``. An option that names a library constant (``--runs``
up to ``forecast.probabilistic.MAX_RUNS``) reads it through ``_lazy.library("module")``, which
imports the module when the option is built, i.e. when that command runs or shows its help.
A command imports only what it needs: ``check`` loads no calendar, holidays, plotting, SimPy,
SciPy, Jinja2 or FHIR library.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from pumpsim.cli._common import EXIT_CODES_HELP, PumpsimGroup, state
from pumpsim.cli._lazy import LazyCommands
from pumpsim.core.about import DISCLAIMER, VERSION

_commands = typer.Typer()
"""Where the subcommand modules register; the root builds each command from it on first use."""


class _Root(PumpsimGroup):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = LazyCommands(_commands, app)


app = typer.Typer(
    name="pumpsim",
    help=f"Simulate implantable intrathecal drug pumps.\n\n{EXIT_CODES_HELP}\n\n{DISCLAIMER}",
    no_args_is_help=True,
    add_completion=True,
    cls=_Root,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pumpsim {VERSION}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """pumpsim: refill planning and teaching simulator (not a medical device)."""
    state.debug = debug


def _register() -> None:
    from pumpsim.cli import basics as basics

    basics.register(_commands)
    for name in ("simulate", "forecast", "program", "plan", "scenario", "cohort"):
        try:
            module = __import__(f"pumpsim.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"pumpsim.cli.{name}":
                raise
            continue
        module.register(_commands)


_register()


def main() -> None:
    """Console entry point."""
    from pumpsim.cli._common import run_app

    sys.exit(run_app(app))
