"""Reading a CSV file a person wrote or a spreadsheet exported, with bounds: the file is UTF-8 and
of bounded size, no cell is longer than ``MAX_CELL_CHARS``, a header names each column once, and
every ``csv.Error`` becomes a ``Problem`` of its row. Rosters, press logs (and refill sheets) read
their CSV through here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from pumpsim.core.errors import Problem, ProfileError, clip
from pumpsim.core.yamlio import read_text_file

__all__ = ["MAX_CELL_CHARS", "csv_problem", "csv_records", "long_cell", "repeated_columns"]

MAX_CELL_CHARS = 1000
"""The longest cell read; a longer one is an error (csv's own limit, 131,072, is a crash)."""


def csv_records(path: Path, max_bytes: int, what: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` for each record of the CSV at ``path`` (the header included);
    an unreadable file or malformed CSV is a ``ProfileError`` naming the file and row."""
    text = read_text_file(path, max_bytes, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:  # a NUL byte, a cell over csv's own limit
        raise ProfileError(str(path), [csv_problem(exc, reader.line_num)]) from None


def csv_problem(exc: csv.Error, line: int) -> Problem:
    """A ``csv.Error`` as a problem of the row it happened on."""
    if "field larger than field limit" in str(exc):
        return Problem(
            f"row {line}", "a cell over 131,072 characters", f"cells of at most {MAX_CELL_CHARS}"
        )
    return Problem(f"row {line}", clip(str(exc)), "valid CSV")


def repeated_columns(header: list[str]) -> list[Problem]:
    """A problem for each column name the header gives more than once (the last would win)."""
    return [
        Problem(f"row 1, column {clip(h, 30)}", f"{header.count(h)} columns named {h}", "each once")
        for h in sorted({h for h in header if h and header.count(h) > 1})
    ]


def long_cell(cells: list[str]) -> Problem | None:
    """A problem for the first cell longer than ``MAX_CELL_CHARS`` (its length, not its text)."""
    for i, cell in enumerate(cells):
        if len(cell) > MAX_CELL_CHARS:
            return Problem(
                f"cell {i + 1}", f"{len(cell):,} characters", f"at most {MAX_CELL_CHARS}"
            )
    return None
