"""The fuzz harness: which readers are fuzzed, how one case runs, and what counts as a failure.

A case is one mutated file given to a reader twice: through the library (the reader's loader,
then the work the program does next with what it loaded) and through the CLI (in-process, with
typer's runner). Its outcome is one of

``accepted``     the file loaded, and everything done with it is plausible;
``clean error``  the library raised a ``PumpsimError`` and the CLI exited 2 with one message;
``traceback``    any other exception escaped the library, or the CLI exited with a code other
                 than 0 and 2, or printed a traceback;
``absurd``       the file loaded, but what the program made of it is implausible (below);
``hang``         the case ran longer than the time limit (the campaign runs cases in child
                 processes and kills a case after 10 s).

**Absurd acceptance**, precisely: a file that loads without error, but where (a) the work done
with it next raises (e.g. ``summarize``, ``deterministic``, a 3-day ``simulate``, a 2-week
schedule plan, a demand estimate), or (b) any number in those results is NaN or infinite, or
(c) any date in them is before 1900 or after 2200, or (d) any volume in them (a field whose
name ends in ``_ml``, except the signed differences in ``SIGNED_ML``) is negative, or (e) a CSV
export has a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return that is
not a plain number. Any message (library or CLI) that contains the decoy file's contents
(``CANARY``) or an emoji rich made from ``:x:`` is also counted as absurd.

Adding a reader is one line in ``READERS``: its name, the seed files, a mutator, the library
call and the CLI arguments (``refill_sheet`` was added that way).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz_mutate import CANARY, Chooser, mutate_table, mutate_yaml
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
PATIENTS = sorted((REPO / "profiles" / "patients").glob("*.yaml"))
ROSTER = REPO / "profiles" / "rosters" / "clinic-12.csv"
REFILL_SHEETS = sorted((REPO / "profiles" / "refills").glob("*.csv"))
REFILL_PROFILE = REPO / "profiles" / "patients" / "morphine-refill-history.yaml"
EMOJI = ("❌", "👍", "😄")
OUTCOMES = ("accepted", "clean error", "traceback", "absurd", "hang")


@dataclass(frozen=True)
class Case:
    """One mutated file and the result of feeding it to a reader."""

    reader: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Reader:
    """A reader to fuzz: how to make a case file from seeds, the library call, the CLI call."""

    name: str
    suffix: str
    seeds: Callable[[Path], list[bytes]]
    mutate: Callable[[bytes, Chooser], bytes]
    library: Callable[[Path], Any]
    """Load the file and do the next thing the program does with it; return what to judge."""
    cli: Callable[[Path], list[str]]


# ---------------------------------------------------------------- seeds and library calls
def _profile_seeds(_: Path) -> list[bytes]:
    return [p.read_bytes() for p in PATIENTS]


def _roster_seeds(workdir: Path) -> list[bytes]:
    lines = ROSTER.read_bytes().splitlines(keepends=True)
    small = b"".join(lines[:6])
    with_profile = (
        b"patient_id,profile,last_refill,fill_volume,location,nurse\n"
        + f"P1,{PATIENTS[0]},2026-02-20T09:00,20 mL,Room 1,Kim\n".encode()
        + f"P2,{workdir / 'decoy.yaml'},,,,\n".encode()
    )
    return [small, b"".join(lines), with_profile]


def _press_seeds(_: Path) -> list[bytes]:
    start = dt.datetime(2026, 2, 20, 7, 0)
    times = [start + dt.timedelta(hours=7 * i + (i % 3)) for i in range(30)]
    body = "".join(f"{t.isoformat(timespec='minutes')},granted\n" for t in times)
    return [("time,decision\n" + body).encode()]


def _use_profile(path: Path) -> list[Any]:
    from pumpsim.engine.simulate import simulate
    from pumpsim.engine.summary import summarize_trace
    from pumpsim.forecast.deterministic import deterministic
    from pumpsim.forecast.summary import summarize
    from pumpsim.io.profiles import load_profile

    profile = load_profile(path)
    therapy = profile.therapy
    trace = simulate(therapy, profile.timeline, days=3, seed=0)
    return [summarize(therapy), deterministic(therapy), summarize_trace(trace)]


def _use_roster(path: Path) -> list[Any]:
    from pumpsim.clinic.calendar import calendar_from_dict
    from pumpsim.clinic.export import plan_csv, worklist_text
    from pumpsim.clinic.planner import plan_clinic
    from pumpsim.clinic.windows import ScheduleWindowSource
    from pumpsim.io.roster import load_roster

    roster = load_roster(path)
    calendar = calendar_from_dict(
        {"start": dt.date(2026, 3, 2), "end": dt.date(2026, 3, 15)}, source="fuzz"
    )
    plan = plan_clinic(roster, calendar, ScheduleWindowSource())
    return [plan, _CsvText(plan_csv(plan, include_names=True)), worklist_text(plan)]


def _use_press_log(path: Path) -> list[Any]:
    from pumpsim.forecast.press_window import demand_from_press_log
    from pumpsim.io.press_log import read_press_log
    from pumpsim.io.profiles import load_therapy

    times = read_press_log(path)
    therapy = load_therapy(PATIENTS[4])  # morphine-cancer-pain: has PTM settings
    return [demand_from_press_log(therapy, times, source=str(path))]


def _refill_seeds(_: Path) -> list[bytes]:
    """Each example sheet whole and without its leading comment lines (so that the mutator's
    header operations, which act on the first row, reach the header)."""
    seeds = []
    for sheet in REFILL_SHEETS:
        lines = sheet.read_bytes().splitlines(keepends=True)
        body = [line for line in lines if not line.startswith(b"#")]
        seeds += [b"".join(lines), b"".join(body)]
    return seeds


def _use_refill_sheet(path: Path) -> list[Any]:
    from pumpsim.forecast.visit import read_sheet_calibration
    from pumpsim.io.profiles import load_profile

    therapy = load_profile(REFILL_PROFILE).therapy
    return [read_sheet_calibration(therapy, path)]


def _check_args(p: Path) -> list[str]:
    return ["check", str(p)]


def _plan_args(p: Path) -> list[str]:
    return [
        *("plan", str(p), "--start", "2026-03-02", "--weeks", "2"),
        *("--windows", "schedule", "--json"),
    ]


def _forecast_args(p: Path) -> list[str]:
    return [
        *("forecast", str(PATIENTS[4]), "--ptm-log", str(p)),
        *("--runs", "20", "--workers", "1", "--json"),
    ]


def _refills_args(p: Path) -> list[str]:
    return [
        *("forecast", str(REFILL_PROFILE), "--refills", str(p)),
        *("--runs", "20", "--workers", "1", "--json", "--as-of", "state"),
    ]


def _mutate_roster(raw: bytes, c: Chooser) -> bytes:
    return mutate_table(raw, c, _ROSTER_CELLS)


READERS: dict[str, Reader] = {
    r.name: r
    for r in (
        Reader("profile", ".yaml", _profile_seeds, mutate_yaml, _use_profile, _check_args),
        Reader("roster", ".csv", _roster_seeds, _mutate_roster, _use_roster, _plan_args),
        Reader("press_log", ".csv", _press_seeds, mutate_table, _use_press_log, _forecast_args),
        Reader(
            "refill_sheet", ".csv", _refill_seeds, mutate_table, _use_refill_sheet, _refills_args
        ),
    )
}
"""The fuzzed readers; a new reader is one more line here."""

_ROSTER_CELLS = (
    "decoy.yaml",
    "/etc/hostname",
    "/dev/zero",
    ".",
    "profiles/patients/morphine-cancer-pain.yaml",
    str(PATIENTS[0]),
    "synchromed-ii-20",
    "morphine 25 mg/mL",
    "2026-02-20T09:00",
    "20 mL",
)


class _CsvText(str):
    """A CSV export, judged cell by cell."""


# ---------------------------------------------------------------- judging
def absurdities(results: list[Any]) -> list[str]:
    """What is implausible in the results of an accepted file (see the module docstring)."""
    found: list[str] = []
    for result in results:
        if isinstance(result, _CsvText):
            found.extend(formula_cells(result))
            continue
        for where, value in _walk(result, type(result).__name__):
            found.extend(_implausible(where, value))
    return found[:5]


def formula_cells(text: str) -> list[str]:
    """Cells of a CSV text that a spreadsheet would run as a formula."""
    bad = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _plain_number(cell):
                bad.append(f"formula-leading CSV cell {cell[:20]!r}")
    return bad


def _plain_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _implausible(where: str, value: Any) -> list[str]:
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where} = {value}"]
    if isinstance(value, dt.datetime | dt.date) and not 1900 <= value.year <= 2200:
        return [f"{where} = {value.isoformat()}"]
    if isinstance(value, int | float) and _is_volume(where) and value < -1e-9:
        return [f"{where} = {value} mL"]
    return []


SIGNED_ML = ("discrepancy_ml",)
"""Fields ending in ``_ml`` that are signed differences, not volumes: a refill's discrepancy is
withdrawn minus expected, negative when less came out (over-infusion)."""


def _is_volume(where: str) -> bool:
    name = where.rsplit(".", 1)[-1]
    return name.endswith("_ml") and name not in SIGNED_ML


def _walk(node: Any, where: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    if depth > 12:
        return
    if isinstance(node, BaseModel):
        items: Any = ((k, getattr(node, k)) for k in type(node).model_fields)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        items = ((f.name, getattr(node, f.name)) for f in dataclasses.fields(node))
    elif isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list | tuple):
        items = ((str(i), v) for i, v in enumerate(node[:200]))
    else:
        if hasattr(node, "dtype") and hasattr(node, "tolist"):
            node = node.tolist()
            yield from _walk(node, where, depth + 1)
            return
        yield where, node
        return
    for key, value in items:
        yield from _walk(value, f"{where}.{key}", depth + 1)


# ---------------------------------------------------------------- running one case
def make_case(reader: Reader, c: Chooser, workdir: Path) -> Path:
    """Write one mutated file for ``reader`` into ``workdir`` (and the decoy file beside it)."""
    (workdir / "decoy.yaml").write_text(f"{CANARY}\n{CANARY}: {CANARY}\n", encoding="utf-8")
    seeds = reader.seeds(workdir)
    raw = c.choice(seeds)
    for _ in range(c.integer(1, 3)):
        raw = reader.mutate(raw, c)
    path = workdir / f"case{reader.suffix}"
    path.write_bytes(raw)
    return path


def run_case(reader: Reader, path: Path) -> Case:
    """Feed ``path`` to the library and to the CLI; classify the outcome."""
    from pumpsim.core.errors import PumpsimError

    lib_error: str | None = None
    try:
        results = reader.library(path)
    except PumpsimError as exc:
        lib_error = str(exc)
    except Exception as exc:  # the point of the harness: anything else is a traceback
        return Case(reader.name, "traceback", f"library: {type(exc).__name__}: {exc}"[:300])
    cli = _run_cli(reader.cli(path))
    if cli is not None and cli.outcome != "ok":
        return Case(reader.name, cli.outcome, cli.detail)
    messages = (lib_error or "") + (cli.detail if cli else "")
    leaks = [m for m in (CANARY, *EMOJI) if m in messages]
    if leaks:
        return Case(reader.name, "absurd", f"message shows {leaks[0][:20]!r}")
    if lib_error is not None:
        return Case(reader.name, "clean error", lib_error.splitlines()[-1][:200])
    bad = absurdities(results)
    if bad:
        return Case(reader.name, "absurd", "; ".join(bad)[:300])
    return Case(reader.name, "accepted")


def _run_cli(args: list[str]) -> Case | None:
    from typer.testing import CliRunner

    from pumpsim.cli import app

    result = CliRunner().invoke(app, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        return Case("cli", "traceback", f"cli {args[0]}: {type(exc).__name__}: {exc}"[:300])
    if result.exit_code not in (0, 2) or "Traceback" in output:
        return Case("cli", "traceback", f"cli {args[0]} exit {result.exit_code}: {output[-300:]}")
    return Case("cli", "ok", output)
