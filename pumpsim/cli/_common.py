"""Shared CLI plumbing: error rendering, exit codes, the console.

Exit codes: 0 ok; 2 bad input (a ``PumpsimError``: a file or value pumpsim read); 3 valid but
unsafe (a ``DoseLimitError``: a dose above a drug's hard daily limit without an override); 64 a
usage error (click's own: an unknown option, a missing argument, an option value click refuses;
64 is ``EX_USAGE`` of sysexits.h). ``PumpsimGroup`` gives click's usage errors that code.

Cheap to import (``pumpsim --help`` loads it): typer, rich's console and ``core.errors`` only; the
progress bar's rich modules and ``schedule.limits`` are imported where they are used.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer import _click as click
from typer.core import TyperGroup

from pumpsim.cli._lazy import LazyCommands
from pumpsim.core.errors import PumpsimError

if TYPE_CHECKING:
    from rich.progress import Progress

# typer (0.2x) ships its own click; its UsageError is BadParameter's base class
UsageError: type[Exception] = typer.BadParameter.__mro__[1]

EXIT_OK = 0
EXIT_INPUT_ERROR = 2
EXIT_UNSAFE = 3
EXIT_USAGE = 64

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 2 bad input (an invalid file, option or value); 3 valid but unsafe (a "
    "dose above a drug's hard daily limit; override for teaching with dose_limits: {override: "
    "REASON} in the profile); 64 usage error (an unknown option, a missing argument, an option "
    "value out of its range)."
)


class PumpsimGroup(TyperGroup):
    """The root command group: click's usage errors exit with ``EXIT_USAGE``, not click's 2, so
    a script can tell a mistyped command from bad input. With ``LazyCommands`` as its table
    (``pumpsim.cli``), a command is built when it is run or asked for its help; the root's own
    help lists the others from their registration (``LazyCommands.summary``)."""

    _listing = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self._listing and isinstance(self.commands, LazyCommands):
            return self.commands.summary(cmd_name)
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # the names, in registration order, without building any

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as exc:
            exc.exit_code = EXIT_USAGE  # type: ignore[attr-defined]
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.exit_code = EXIT_USAGE  # type: ignore[attr-defined]
            raise


def exit_code(exc: PumpsimError) -> int:
    """The exit code for a library error: 3 for a hard dose limit, else 2."""
    from pumpsim.schedule.limits import DoseLimitError

    return EXIT_UNSAFE if isinstance(exc, DoseLimitError) else EXIT_INPUT_ERROR


@dataclass
class _State:
    debug: bool = False


state = _State()
# Wider than any line pumpsim prints: off a terminal, rich would otherwise assume 80 columns,
# hard-wrap an error line and squeeze or drop table columns.
PIPE_WIDTH = 1000


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout or stderr: on a terminal rich fits the window; piped to a file or a
    program nothing is hard-wrapped (``soft_wrap``) and tables get their natural width. Emoji
    are off: rich would turn ':x:' in a patient's name or a file's value into an emoji."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, emoji=False)
    return Console(stderr=stderr, emoji=False, soft_wrap=True, width=PIPE_WIDTH)


console = make_console()
err_console = make_console(stderr=True)


def print_error(exc: BaseException) -> None:
    """One error message on stderr; the text is escaped so ``[list of 3]`` or ``steps[0]`` in a
    message is shown as written, not read as rich markup."""
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)


def run_app(app: typer.Typer) -> int:
    """Run the typer app in standalone mode (usage errors exit 2, ``typer.Exit`` keeps its code);
    a ``PumpsimError`` that escaped a command still becomes one message and ``exit_code``."""
    try:
        app()
    except PumpsimError as exc:
        if state.debug:
            traceback.print_exc()
        print_error(exc)
        return exit_code(exc)
    return EXIT_OK


@contextmanager
def user_errors() -> Iterator[None]:
    """Inside a command: report a ``PumpsimError`` as one message and exit with ``exit_code``
    (2 bad input, 3 a hard dose limit)."""
    try:
        yield
    except PumpsimError as exc:
        if state.debug:
            traceback.print_exc()
        print_error(exc)
        raise typer.Exit(exit_code(exc)) from None


def progress_display(*, show: bool) -> Progress:
    """The one look of pumpsim's progress bars: on stderr, cleared when done, drawn only when
    ``show`` and stderr is a terminal (never into a pipe or a file)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not (show and err_console.is_terminal),
    )


@contextmanager
def progress_bar(
    description: str, total: int, *, show: bool
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for a long run (``show``), only on a terminal; yields the
    ``progress(done, total)`` callback the library takes."""
    with progress_display(show=show) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
