"""Mutations of pumpsim's input files, as a hostile or careless user makes them.

Every mutator takes a ``Chooser``: ``RandomChooser`` (a seeded ``random.Random``) for the campaign
(``make fuzz``), ``DrawChooser`` (hypothesis's ``data.draw``) for the seeded slice in ``make
test``, so hypothesis can shrink a failing case. Structural mutations edit the parsed data (a key
removed, renamed, retyped, nested, a value replaced by a hostile one); textual mutations edit the
bytes (a line dropped or doubled, a byte flipped, invalid UTF-8, YAML tricks).
"""

from __future__ import annotations

import copy
import csv
import io
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import yaml

T = TypeVar("T")

CANARY = "CANARY-7f3a-file-contents-must-never-be-echoed"
"""The content of a decoy file that a mutated roster may name as a profile: no message may
print it."""

HOSTILE_TEXT: tuple[str, ...] = (
    "9**9**9 mL",
    "2**1024 mL",
    "(-1)**0.5 mL",
    "x" * 30_000 + " mL",
    "1 " + "m" * 5000,
    "inf day",
    "nan mL",
    "-inf mL/day",
    "1e-300 mcg/mL",
    "1e308 mL",
    "1e999 mg",
    "-5 mL",
    "0 mL",
    "0 mL/day",
    "1e-9 mL/day",
    "24000 mL/day",
    "1 mL/s",
    "25 g/mL",
    "3 km",
    "100 year",
    "1e6 day",
    "0.5 mL/day/day",
    "0x10 mL",
    "1_000 mL",
    "9999-12-31T23:59",
    "0001-01-01",
    "1969-12-31T23:59",
    "2100-01-01",
    "1900-01-01T00:00",
    "2026-02-30",
    "2026-03-02T09:00+01:00",
    ":x: :thumbs_up: :smile:",
    "[bold red]boom[/]",
    "[link=http://evil]x[/link]",
    '=HYPERLINK("http://evil","click")',
    "=1+1",
    "+41 79 000 00 00",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=cmd",
    "\r=cmd",
    "\x00",
    "\u202egnp.exe",
    "../../../../etc/passwd",
    "/dev/zero",
    "",
    " ",
    "🙂",
    "morphine 25 mg/mL + morphine 25 mg/mL",
    "ziconotide 1e-300 mcg/mL",
    "a" * 200_000,
)

HOSTILE_VALUES: tuple[Any, ...] = (
    *HOSTILE_TEXT,
    0,
    -1,
    10**100,
    1e308,
    float("inf"),
    float("nan"),
    True,
    None,
    [],
    {},
    [[[]]],
    {"a": {"b": {"c": None}}},
)

YAML_TRICKS: tuple[str, ...] = (
    "? [a]\n: 1\n",
    "[" * 2000 + "\n",
    "{" * 2000 + "\n",
    "1: 2\n",
    "true: x\n",
    "~: x\n",
    "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
    "x: !!python/object/apply:os.system ['echo pwned']\n",
    "x: !!binary aGVsbG8=\n",
    "x: 2026-02-30\n",
    "x: 0000-01-01\n",
    "x: 10:30:00\n",
    "patient_id: dup\npatient_id: dup\n",
    "\t- tab\n",
    "%YAML 9.9\n---\n",
    "--- a\n--- b\n",
    "x: 1e99999\n",
    "x: .inf\n",
)


class Chooser(Protocol):
    """Where a mutator's choices come from."""

    def choice(self, options: Sequence[T]) -> T: ...

    def integer(self, low: int, high: int) -> int: ...


class RandomChooser:
    """Choices from a seeded ``random.Random`` (the campaign)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


class DrawChooser:
    """Choices drawn through hypothesis (the ``make test`` slice; shrinks on failure)."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def choice(self, options: Sequence[T]) -> T:
        return options[self.data.draw(self.st.integers(0, len(options) - 1))]

    def integer(self, low: int, high: int) -> int:
        return int(self.data.draw(self.st.integers(low, high)))


# ---------------------------------------------------------------- structural (parsed data)
def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return root


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        root = root[part]
    return root


def mutate_data(data: Any, c: Chooser) -> Any:
    """One structural mutation of parsed YAML data (a deep copy is changed)."""
    data = copy.deepcopy(data)
    paths = _paths(data)
    path = c.choice(paths[1:] or paths)
    op = c.integer(0, 6)
    if op == 0:
        return _set(data, path, c.choice(HOSTILE_VALUES))
    if op == 1 and path:
        parent = _get(data, path[:-1])
        del parent[path[-1]]
        return data
    if op == 2:
        return _set(data, path, [_get(data, path)])
    if op == 3:
        return _set(data, path, {"nested": _get(data, path)})
    if op == 4 and path and isinstance(_get(data, path[:-1]), dict):
        parent = _get(data, path[:-1])
        parent[str(path[-1]) + c.choice(("_", "s", "X", " "))] = parent.pop(path[-1])
        return data
    if op == 5 and isinstance(data, dict):
        data[c.choice(("unknown_key", "Patient_ID", "timeline", "state "))] = c.choice(
            HOSTILE_VALUES
        )
        return data
    value = _get(data, path)
    if isinstance(value, str) and value:
        cut = c.integer(0, len(value))
        return _set(data, path, value[:cut] + c.choice(HOSTILE_TEXT)[:50] + value[cut:])
    return _set(data, path, c.choice(HOSTILE_VALUES))


# ---------------------------------------------------------------- textual (bytes)
def mutate_bytes(raw: bytes, c: Chooser, tricks: Sequence[str] = ()) -> bytes:
    """One textual mutation of a file's bytes."""
    lines = raw.splitlines(keepends=True) or [b""]
    i = c.integer(0, len(lines) - 1)
    op = c.integer(0, 7)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[i])
    elif op == 2 and raw:
        pos = c.integer(0, len(raw) - 1)
        return raw[:pos] + bytes([c.integer(0, 255)]) + raw[pos + 1 :]
    elif op == 3:
        lines.insert(i, c.choice((b"\xff\xfe", b"\xc3\x28", b"\x00", b"\xed\xa0\x80")))
    elif op == 4:
        return raw[: c.integer(0, len(raw))]
    elif op == 5 and tricks:
        lines.insert(i, c.choice(tricks).encode())
    elif op == 6:
        lines[i] = lines[i].rstrip(b"\r\n") + c.choice(HOSTILE_TEXT).encode() + b"\n"
    else:
        lines.insert(0, b"\xef\xbb\xbf" if c.integer(0, 1) else b"\r\n")
    return b"".join(lines)


def mutate_yaml(raw: bytes, c: Chooser) -> bytes:
    """A profile mutated structurally (1-3 times, then dumped) or textually."""
    if c.integer(0, 2):
        try:
            data = yaml.safe_load(raw)
        except Exception:  # already broken by an earlier mutation: keep breaking the bytes
            return mutate_bytes(raw, c, YAML_TRICKS)
        for _ in range(c.integer(1, 3)):
            data = mutate_data(data, c)
        try:
            return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
        except (yaml.YAMLError, UnicodeEncodeError):
            return raw
    return mutate_bytes(raw, c, YAML_TRICKS)


# ---------------------------------------------------------------- CSV tables
def _table(raw: bytes) -> list[list[str]]:
    text = raw.decode("utf-8", "surrogateescape").replace("\x00", "\\0")
    return list(csv.reader(io.StringIO(text, newline=""))) or [[]]


def _dump(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    try:
        csv.writer(out, lineterminator="\n").writerows(rows)
    except csv.Error:
        return b"\n".join(",".join(row).encode("utf-8", "surrogateescape") for row in rows)
    return out.getvalue().encode("utf-8", "surrogateescape")


def mutate_table(raw: bytes, c: Chooser, extra_cells: Sequence[str] = ()) -> bytes:
    """A CSV mutated as a table (a cell, a column, the header) or as bytes."""
    if not c.integer(0, 3):
        return mutate_bytes(raw, c)
    try:
        rows = _table(raw)
    except csv.Error:  # an earlier mutation made a cell over csv's limit: mutate the bytes
        return mutate_bytes(raw, c)
    if not rows[0] or not all(rows):
        return mutate_bytes(raw, c)
    r = c.integer(0, len(rows) - 1)
    col = c.integer(0, max(len(rows[r]) - 1, 0))
    ops: list[Callable[[], None]] = [
        lambda: _replace(rows, r, col, c.choice((*HOSTILE_TEXT, *extra_cells))),
        lambda: _replace(rows, r, col, c.choice(extra_cells or HOSTILE_TEXT)),
        lambda: [row.pop(col) for row in rows if col < len(row)] and None,
        lambda: rows[0].append(rows[0][min(col, len(rows[0]) - 1)]),  # col is of row r
        lambda: rows[0].append(c.choice(("Unknown", "", " PATIENT_ID ", "time"))),
        lambda: rows[r].extend(["extra"] * c.integer(1, 3)),
        lambda: rows.insert(r, list(rows[r])),
        lambda: rows.append([""] * len(rows[0])),
    ]
    c.choice(ops)()
    return _dump(rows)


def _replace(rows: list[list[str]], r: int, col: int, value: str) -> None:
    if col < len(rows[r]):
        rows[r][col] = value
    else:
        rows[r].append(value)
