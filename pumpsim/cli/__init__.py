"""The ``pumpsim`` command line: a thin typer shell over the library.

Each command group lives in its own module here and registers itself in ``_register()``. Commands
parse arguments, call the library and render; they hold no domain arithmetic. Every
``PumpsimError`` becomes one message on stderr and exit code 2, a dose above a hard limit
(``DoseLimitError``) exit code 3 (``--debug`` shows the traceback), a usage error exit code 64.
Shell completion: ``pumpsim --install-completion`` / ``--show-completion``.
"""

from __future__ import annotations

import sys

import typer

from pumpsim.cli._common import EXIT_CODES_HELP, PumpsimGroup, state
from pumpsim.core.about import DISCLAIMER, VERSION

app = typer.Typer(
    name="pumpsim",
    help=f"Simulate implantable intrathecal drug pumps.\n\n{EXIT_CODES_HELP}\n\n{DISCLAIMER}",
    no_args_is_help=True,
    add_completion=True,
    cls=PumpsimGroup,
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

    basics.register(app)
    for name in ("simulate", "forecast", "program", "plan", "scenario", "cohort"):
        try:
            module = __import__(f"pumpsim.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"pumpsim.cli.{name}":
                raise
            continue
        module.register(app)


_register()


def main() -> None:
    """Console entry point."""
    from pumpsim.cli._common import run_app

    sys.exit(run_app(app))
