"""Shared CLI plumbing: error rendering, exit codes, the console.

Exit codes: 0 ok; 2 bad input (a ``PumpsimError``, or a usage error); 3 valid but unsafe (a
``DoseLimitError``: a dose above a drug's hard daily limit without an override).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from rich.console import Console
from rich.markup import escape

from pumpsim.core.errors import PumpsimError
from pumpsim.schedule.limits import DoseLimitError

EXIT_OK = 0
EXIT_INPUT_ERROR = 2
EXIT_UNSAFE = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 2 bad input (an invalid file, option or value); 3 valid but unsafe (a "
    "dose above a drug's hard daily limit; override for teaching with dose_limits: {override: "
    "REASON} in the profile)."
)


def exit_code(exc: PumpsimError) -> int:
    """The exit code for a library error: 3 for a hard dose limit, else 2."""
    return EXIT_UNSAFE if isinstance(exc, DoseLimitError) else EXIT_INPUT_ERROR


@dataclass
class _State:
    debug: bool = False


state = _State()
# emoji off: rich would turn ':x:' in a patient's name or a file's value into an emoji
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


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
