"""Which presses of a PTM log a demand is estimated from: the window ``[start, pump state)``.

A press log (every press, granted or denied) may run past the pump state; presses at or after
the state are not used (and counted, so a caller can say so). Without an explicit start the
window opens at the midnight before the first press used. The estimate itself is
:func:`pumpsim.forecast.calibration.estimate_demand`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pumpsim.core.errors import SimulationError
from pumpsim.forecast.calibration import DemandEstimate, estimate_demand
from pumpsim.io.press_log import read_press_log
from pumpsim.models import Therapy

__all__ = [
    "PressWindow",
    "demand_from_press_log",
    "press_window",
    "read_press_window",
    "require_ptm",
]


@dataclass(frozen=True)
class PressWindow:
    """The presses a demand is estimated from and the span ``[start, end)`` they cover."""

    start: dt.datetime
    end: dt.datetime
    """The pump state's time."""
    presses: tuple[dt.datetime, ...]
    """The presses before ``end``."""
    ignored: int
    """How many presses of the log were at or after ``end`` (not used)."""

    def estimate(self) -> DemandEstimate:
        """The patient's demand estimated from the presses over the window."""
        return estimate_demand(self.presses, start=self.start, end=self.end)


def require_ptm(therapy: Therapy) -> None:
    """``SimulationError`` unless ``therapy`` has PTM settings (a press log needs a PTM)."""
    if therapy.ptm is None:
        raise SimulationError(f"{therapy.patient_id}: a PTM log needs ptm settings in the profile")


def press_window(
    therapy: Therapy,
    presses: Sequence[dt.datetime],
    start: dt.datetime | None = None,
    *,
    source: str = "the press log",
    start_name: str = "start",
) -> PressWindow:
    """The window ``[start, therapy.state.time)`` of ``presses`` to estimate a demand from.

    ``start`` defaults to the midnight before the first press before the pump state.
    ``SimulationError`` if the therapy has no PTM, if there is no press to default the start
    from, or if the start is not before the pump state. ``source`` (the log's name) and
    ``start_name`` (how the caller calls the start, e.g. a command-line option) appear in the
    messages.
    """
    require_ptm(therapy)
    end = therapy.state.time
    used = tuple(p for p in presses if p < end)
    if start is None:
        start = _default_start(used, end, source, start_name)
    if start >= end:
        raise SimulationError(
            f"{start_name}: got {start.isoformat()}; allowed: before the pump state "
            f"{end.isoformat()}"
        )
    return PressWindow(start=start, end=end, presses=used, ignored=len(presses) - len(used))


def _default_start(
    used: Sequence[dt.datetime], end: dt.datetime, source: str, start_name: str
) -> dt.datetime:
    """Midnight before the first press used; ``SimulationError`` if there is none."""
    if not used:
        raise SimulationError(
            f"{source}: no presses before the pump state {end.isoformat()}; "
            f"give {start_name} for a log without presses"
        )
    return min(used).replace(hour=0, minute=0, second=0, microsecond=0)


def read_press_window(
    therapy: Therapy,
    path: Path,
    start: dt.datetime | None = None,
    *,
    start_name: str = "start",
) -> PressWindow:
    """:func:`press_window` of the press log CSV at ``path`` (checked for a PTM before the file
    is read; a missing or invalid file is a ``ProfileError``)."""
    require_ptm(therapy)
    return press_window(
        therapy, read_press_log(path), start, source=str(path), start_name=start_name
    )


def demand_from_press_log(
    therapy: Therapy,
    presses: Sequence[dt.datetime],
    start: dt.datetime | None = None,
    *,
    source: str = "the press log",
    start_name: str = "start",
) -> DemandEstimate:
    """The patient's demand estimated from ``presses`` over ``[start, pump state)``; see
    :func:`press_window` for the window and its errors."""
    window = press_window(therapy, presses, start, source=source, start_name=start_name)
    return window.estimate()
