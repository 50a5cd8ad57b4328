"""CSV cells that a spreadsheet cannot run: the one rule against CSV injection (OWASP).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets, so a patient name or location such as
``=HYPERLINK(...)`` would become a live link or command in the clinic's spreadsheet. Every CSV
pumpsim writes passes its cells through ``safe_cell``, which puts a ``'`` in front of such a
cell (spreadsheets show the text as written and hide the quote). Plain numbers (``-3``,
``-0.25``) are left alone, so negative values stay numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["FORMULA_LEADS", "safe_cell", "safe_row", "safe_record"]

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def safe_cell(value: object) -> str:
    """``value`` as CSV cell text that no spreadsheet reads as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def safe_row(cells: Iterable[object]) -> list[str]:
    """``safe_cell`` of every cell of a row."""
    return [safe_cell(c) for c in cells]


def safe_record(record: Mapping[str, object]) -> dict[str, str]:
    """``safe_cell`` of every value of a ``csv.DictWriter`` record."""
    return {k: safe_cell(v) for k, v in record.items()}
