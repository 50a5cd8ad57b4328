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


class PumpsimError(Exception):
    """Base class for every error pumpsim raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is, what it was and what would have been allowed."""

    field: str
    value: object
    allowed: str

    def __str__(self) -> str:
        return f"{self.field}: got {self.value!r}; allowed: {self.allowed}"


class ProfileError(PumpsimError):
    """An input file is invalid. ``problems`` lists every invalid field found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid input\n{lines}")


class SimulationError(PumpsimError):
    """A simulation or forecast was asked for something the model cannot do."""
