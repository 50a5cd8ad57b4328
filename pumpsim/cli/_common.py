"""Shared CLI plumbing: error rendering, exit codes, the console."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from rich.console import Console
from rich.markup import escape

from pumpsim.core.errors import PumpsimError

EXIT_INPUT_ERROR = 2


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
    a ``PumpsimError`` that escaped a command still becomes one message and exit code 2."""
    try:
        app()
    except PumpsimError as exc:
        if state.debug:
            traceback.print_exc()
        print_error(exc)
        return EXIT_INPUT_ERROR
    return 0


@contextmanager
def user_errors() -> Iterator[None]:
    """Inside a command: report a ``PumpsimError`` as one message and exit with code 2."""
    try:
        yield
    except PumpsimError as exc:
        if state.debug:
            traceback.print_exc()
        print_error(exc)
        raise typer.Exit(EXIT_INPUT_ERROR) from None
