"""The exceptions pumpsim raises, in one place.

::

    PumpsimError                 base of everything pumpsim raises on purpose
    ├── ProfileError             a profile, catalog entry, roster or scenario is invalid
    │                            (names the file, the field path, the value and what is allowed)
    └── SimulationError          a run was asked for something the model cannot do

The CLI turns every ``PumpsimError`` into one message on stderr and exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_VALUE_CHARS = 60
"""The most characters of a user's value an error message shows (the rest is elided)."""

MAX_PROBLEMS_SHOWN = 50
"""The most problems one ``ProfileError`` message lists (``problems`` keeps them all)."""


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis and the full length: the one rule
    for how much of a user's value a message may echo (values are quoted, never dumped)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def shown(value: object) -> str:
    """A value as a message shows it: ``repr`` for text (so blanks and quotes are visible),
    clipped to ``MAX_VALUE_CHARS``."""
    return clip(repr(value))


class PumpsimError(Exception):
    """Base class for every error pumpsim raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is, what it was and what would have been allowed."""

    field: str
    value: object
    allowed: str

    def __str__(self) -> str:
        return (
            f"{clip(self.field, 120)}: got {shown(self.value)}; allowed: {clip(self.allowed, 600)}"
        )


class ProfileError(PumpsimError):
    """An input file is invalid. ``problems`` lists every invalid field found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"  - {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"  … and {len(problems) - MAX_PROBLEMS_SHOWN} more problems")
        text = "\n".join(lines)
        super().__init__(f"{clip(source, 200)}: invalid input\n{text}")


class SimulationError(PumpsimError):
    """A simulation or forecast was asked for something the model cannot do."""
