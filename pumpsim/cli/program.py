"""``pumpsim program PROFILE``: a programming session, old and new side by side.

Parsing and rendering only: the session is ``pumpsim.forecast.programming``; writing the profile
is ``pumpsim.io.writer``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pumpsim.cli._common import console, err_console, user_errors
from pumpsim.core.about import DISCLAIMER
from pumpsim.core.jsonout import dumps
from pumpsim.core.units import (
    format_concentration,
    format_mass_mg,
)

if TYPE_CHECKING:
    from pumpsim.forecast.programming import Session, Side

MAX_RUNS = 100_000
_PERCENT = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")


def register(app: typer.Typer) -> None:
    """Add the ``program`` command to ``app``."""
    app.command(
        "program",
        help="A programming session: a new dose, concentration or program, the bridge bolus, "
        f"the dose limits, and old vs new side by side.\n\n{DISCLAIMER}",
    )(program_command)


def program_command(
    profile: Annotated[Path, typer.Argument(help="Patient profile YAML file.")],
    dose: Annotated[
        str | None,
        typer.Option("--dose", help="New daily dose of the primary drug, e.g. '5.5 mg/day'."),
    ] = None,
    titrate: Annotated[
        str | None,
        typer.Option("--titrate", help="Change the daily dose by a percentage, e.g. '+10%'."),
    ] = None,
    drugs: Annotated[
        str | None,
        typer.Option(
            "--drugs",
            help="New fluid at this refill, e.g. 'morphine 20 mg/mL' (mixtures joined with '+').",
        ),
    ] = None,
    fill: Annotated[str | None, typer.Option("--fill", help="Refill volume, e.g. '20 mL'.")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="When, on the pump clock (default: the profile's state)."),
    ] = None,
    ptm_bolus: Annotated[
        str | None, typer.Option("--ptm-bolus", help="New PTM bolus, a dose or volume.")
    ] = None,
    ptm_lockout: Annotated[
        str | None, typer.Option("--ptm-lockout", help="New PTM lockout, e.g. '3 h'.")
    ] = None,
    ptm_max: Annotated[
        int | None, typer.Option("--ptm-max", min=0, max=48, help="New PTM boluses a day.")
    ] = None,
    no_ptm: Annotated[bool, typer.Option("--no-ptm", help="Switch the PTM off.")] = False,
    prime: Annotated[
        bool, typer.Option("--prime", help="A new system: priming bolus, first fill.")
    ] = False,
    program_file: Annotated[
        Path | None,
        typer.Option(
            "--program-file",
            help="YAML file with a new program shape (profile syntax), used as given or scaled "
            "to --dose/--titrate.",
        ),
    ] = None,
    runs: Annotated[
        int, typer.Option("--runs", min=1, max=MAX_RUNS, help="Forecast trajectories.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session as JSON.")] = False,
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Write the profile with the change as a timeline entry."),
    ] = None,
) -> None:
    """Work out the change, check it, show old and new; optionally write the new profile."""
    from pumpsim.forecast.programming import ChangeText, parse_change, programming_session
    from pumpsim.io.profiles import load_profile
    from pumpsim.io.writer import write_profile_with_entries

    text = ChangeText(
        at=at, dose=dose, titrate=titrate, drugs=drugs, fill=fill, ptm_bolus=ptm_bolus,
        ptm_lockout=ptm_lockout, ptm_max=ptm_max, no_ptm=no_ptm, prime=prime,
        program_file=None if program_file is None else str(program_file),
    )  # fmt: skip
    with user_errors():
        loaded = load_profile(profile)
        change = parse_change(text, loaded.therapy, "options", as_options=True)
        session = programming_session(
            loaded.therapy, change, timeline=loaded.timeline, runs=runs, seed=seed
        )
        written = None
        if write is not None:
            note = f"written by pumpsim program from {profile.name}: {_summary(session)}"
            write_profile_with_entries(profile, session.entries, write, note=note)
            written = write
    for w in session.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w.message)}", highlight=False)
    if as_json:
        typer.echo(dumps(session.to_json_dict()))
        return
    _render(session)
    if written is not None:
        console.print(f"profile with the change written to {escape(str(written))}", highlight=False)
    console.print(f"[dim]{DISCLAIMER}[/]", highlight=False)


# ---------------------------------------------------------------- rendering
def _summary(s: Session) -> str:
    old = ", ".join(f"{name} {_dose(s.old, name)}" for name in s.old.daily_dose_mg)
    new = ", ".join(f"{name} {_dose(s.new, name)}" for name in s.new.daily_dose_mg)
    return f"{old} -> {new} at {s.at.isoformat(timespec='minutes')}"


def _unit(side: Side, name: str) -> str:
    return next(d.mass_unit for d in side.infusate.drugs if d.name == name)


def _dose(side: Side, name: str) -> str:
    return f"{format_mass_mg(side.daily_dose_mg[name], _unit(side, name), '.4g')}/day"


def _program(side: Side) -> str:
    p = side.program
    if p.mode == "simple":
        text = f"{p.rate_ml_per_day:.6g} mL/day"
    else:
        text = ", ".join(
            f"{s.start_minute // 60:02d}:{s.start_minute % 60:02d} {s.rate_ml_per_day:.6g}"
            for s in p.steps
        )
        text = f"flex {text} mL/day" + (" (+ weekday steps)" if p.weekly else "")
    if p.periodic_boluses:
        text += f", {len(p.periodic_boluses)} periodic bolus(es)"
    return text


def _rows(s: Session) -> list[tuple[str, str, str]]:
    def both(f: Any) -> tuple[str, str]:
        return f(s.old), f(s.new)

    def when(v: Any) -> str:
        return "-" if v is None else v.strftime("%Y-%m-%d %H:%M")

    rows = [
        (
            "drugs",
            *both(
                lambda x: " + ".join(
                    f"{d.name} {format_concentration(d.concentration_mg_per_ml, d.mass_unit)}"
                    for d in x.infusate.drugs
                )
            ),
        ),
        ("program", *both(_program)),
        ("daily volume", *both(lambda x: f"{x.daily_volume_ml:.4g} mL/day")),
    ]
    for name in s.new.daily_dose_mg:
        rows.append(
            (
                f"daily dose {name}",
                _dose(s.old, name) if name in s.old.daily_dose_mg else "-",
                _dose(s.new, name),
            )
        )
    rows += [
        ("PTM maximum", *both(lambda x: f"{x.ptm_max_ml_per_day:.4g} mL/day")),
        ("low-reservoir alarm", *both(lambda x: when(x.low_reservoir_alarm))),
        ("refill by", *both(lambda x: f"{x.refill_by.isoformat()} ({x.limiting_factor})")),
        ("stability limit", *both(lambda x: when(x.stability_limit))),
        ("battery ERI", *both(lambda x: when(x.elective_replacement))),
    ]
    return rows


def _render(s: Session) -> None:
    table = Table(
        title=f"{escape(s.patient_id)}: programming session at {s.at:%Y-%m-%d %H:%M}",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("")
    table.add_column("old")
    table.add_column("new")
    for row in _rows(s):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table, highlight=False)
    if s.bolus is not None:
        b = s.bolus
        console.print(
            f"{b.kind} bolus: {b.volume_ml:.4g} mL over {b.duration_days:.4g} day(s) at "
            f"{b.rate_ml_per_day:.4g} mL/day ({escape(b.reason)})",
            highlight=False,
        )
    if s.fill_ml is not None:
        console.print(f"refill: {s.fill_ml:g} mL", highlight=False)
    for note in s.rounded:
        console.print(f"rounded: {escape(note)}", highlight=False)


__all__ = ["program_command", "register"]
