"""Kernels of the vectorized engine: the PTM gate over many trajectories at once, and exact
crossing times on the delivered-volume curve (program plus bolus ramps).

Thin typed doors to the compiled loops of ``pumpsim.schedule._kernels`` (numba, loaded on the
first call): one row per trajectory, its presses in time order, decided by the rules of
``schedule.ptm.PtmGate`` (tested press for press against it). ``pumpsim.ensemble.montecarlo``
drives them chunk by chunk.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pumpsim.models import PtmSettings
from pumpsim.schedule.presses import DrawnPresses
from pumpsim.schedule.segments import CumulativeSchedule

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DECISIONS: tuple[str, ...] = (
    "granted",
    "lockout",
    "daily_cap",
    "bolus_running",
    "reservoir_empty",
    "disabled",
    "pump_stopped",
)
"""Decision codes of ``gate_presses``: index into this tuple; ``NO_PRESS`` marks padding. The
forecast never stops the motor, so ``pump_stopped`` is never produced here."""
NO_PRESS = -1
_DISABLED = DECISIONS.index("disabled")


def _curve(schedule: CumulativeSchedule) -> tuple[FloatArray, FloatArray]:
    """The schedule's ``(times, volumes)`` as read-only arrays, whoever built it: numba compiles
    (and caches) one machine code per argument type, and a writable array is another type
    than the read-only ones of ``CumulativeSchedule.for_therapy``'s cache."""
    return _read_only(schedule.times), _read_only(schedule.volumes)


def _read_only(a: FloatArray) -> FloatArray:
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


# ---------------------------------------------------------------- the PTM gate, compiled
def gate_presses(
    presses: FloatArray,
    settings: PtmSettings,
    *,
    base_minute: float,
    schedule: CumulativeSchedule,
    volume_ml: float,
    empty_threshold_ml: float,
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Decide every press of every trajectory by ``PtmGate``'s rules.

    ``presses`` is ``(n, J)``: each row a trajectory's press times (days since the origin) in
    increasing order, padded with ``inf``. ``base_minute`` is the origin's minute of the day
    (``core.clock.origin_minute``). A press is ``reservoir_empty`` when the calculated volume
    (``volume_ml`` minus programmed delivery minus granted boluses delivered so far) is at or below
    ``empty_threshold_ml``. Returns the decision codes (index into ``DECISIONS``, ``NO_PRESS`` for
    padding) and the granted start times, compacted to the left and padded with ``inf``.
    """
    decisions, grants, _, _ = _gate(
        presses, settings, base_minute, schedule, volume_ml - empty_threshold_ml, True
    )
    return decisions, grants


def grant_presses(
    presses: FloatArray,
    settings: PtmSettings,
    *,
    base_minute: float,
    schedule: CumulativeSchedule,
    volume_ml: float,
    empty_threshold_ml: float,
) -> tuple[FloatArray, IntArray, IntArray]:
    """The grants of ``gate_presses`` (same arguments, the same kernel) without the decision of
    every press: the granted start times (compacted, ``inf``-padded), presses per row and grants
    per row."""
    _, grants, n_presses, n_granted = _gate(
        presses, settings, base_minute, schedule, volume_ml - empty_threshold_ml, False
    )
    return grants, n_presses, n_granted


def _rules(
    settings: PtmSettings, base_minute: float
) -> tuple[int, float, float, float, bool, float]:
    """The compiled gate's ``rules`` tuple of these settings."""
    return (
        settings.max_per_day,
        settings.bolus_volume_ml,
        settings.duration_days,
        settings.lockout_days,
        settings.day_definition == "rolling",
        float(base_minute),
    )


def _gate(
    presses: FloatArray,
    settings: PtmSettings,
    base_minute: float,
    schedule: CumulativeSchedule,
    limit_ml: float,
    keep_decisions: bool,
) -> tuple[npt.NDArray[np.int8], FloatArray, IntArray, IntArray]:
    """``schedule._kernels.gate_rows`` on these settings; every press ``disabled`` when the PTM
    allows no bolus."""
    n, n_cols = presses.shape
    if settings.max_per_day == 0 or n_cols == 0:
        present = np.isfinite(presses)
        decisions = np.full((n, n_cols) if keep_decisions else (0, 0), NO_PRESS, dtype=np.int8)
        if keep_decisions:
            decisions[present] = _DISABLED
        n_presses = present.sum(axis=1).astype(np.int64)
        return decisions, np.full((n, 0), np.inf), n_presses, np.zeros(n, dtype=np.int64)
    from pumpsim.schedule._kernels import gate_rows  # loads numba on first use

    grants = np.empty((n, n_cols))  # NumPy's allocation: huge pages
    decisions, n_presses, n_granted, width = gate_rows(
        np.ascontiguousarray(presses, dtype=np.float64),
        _rules(settings, base_minute),
        (*_curve(schedule), limit_ml),
        keep_decisions,
        grants,
    )
    return decisions, grants[:, :width], n_presses, n_granted


# ---------------------------------------------------------------- exact crossings
def delivered_crossing(
    target_ml: FloatArray,
    grants: FloatArray,
    schedule: CumulativeSchedule,
    bolus_ml: float,
    duration_days: float,
    n_granted: IntArray | None = None,
) -> FloatArray:
    """First time the delivered volume ``P(t) + granted boluses`` reaches ``target_ml``: one
    target per row ``(n,)``, or several ``(n, L)`` (then one answer per column).

    ``P`` is the programmed curve ``schedule``; ``grants`` ``(n, J)`` are bolus start times
    (sorted, ``inf``-padded; ``n_granted`` per row, counted when not given), each bolus adding
    ``bolus_ml`` linearly over ``duration_days`` on top of the program. Exact on the
    piecewise-linear curve; ``inf`` when not reached inside the schedule
    (``schedule._kernels.delivered_crossings``).
    """
    from pumpsim.schedule._kernels import delivered_crossings  # loads numba on first use

    x = np.asarray(target_ml, dtype=float)
    table = x if x.ndim == 2 else np.broadcast_to(x, grants.shape[:1])[:, None]
    columns = np.array(table, dtype=np.float64, order="C")  # writable: one compiled type
    if n_granted is None:
        n_granted = np.isfinite(grants).sum(axis=1).astype(np.int64)
    out = delivered_crossings(
        columns,
        np.ascontiguousarray(grants, dtype=np.float64),  # one compiled layout (C)
        np.ascontiguousarray(n_granted, dtype=np.int64),
        *_curve(schedule),
        float(bolus_ml),
        float(duration_days),
    )
    return out if x.ndim == 2 else out[:, 0]


def drawn_crossings(
    target_ml: FloatArray,
    drawn: DrawnPresses,
    settings: PtmSettings,
    *,
    base_minute: float,
    schedule: CumulativeSchedule,
    volume_ml: float,
    empty_threshold_ml: float,
) -> tuple[FloatArray, IntArray, IntArray]:
    """``delivered_crossing(target_ml, grants, ...)`` of the grants ``grant_presses`` makes of
    ``drawn.times()`` (same arguments), bit for bit, in one compiled pass
    (``schedule._kernels.place_gate_cross``): each row's presses are placed, gated and its
    crossings solved while they are in the cache, no ``(n, J)`` array of times or grants is
    made, and the days after a row's first empty press are not placed. ``target_ml`` is
    ``(n, L)``; returns the crossings ``(n, L)`` and the presses and grants per row."""
    targets = np.array(target_ml, dtype=np.float64, order="C")  # writable: one compiled type
    per_row = drawn.per_row
    if settings.max_per_day == 0 or not per_row.any():
        none = np.full((drawn.n, 0), np.inf)
        zero = np.zeros(drawn.n, dtype=np.int64)
        bolus = (settings.bolus_volume_ml, settings.duration_days)
        return delivered_crossing(targets, none, schedule, *bolus, zero), per_row, zero
    from pumpsim.schedule._kernels import place_gate_cross  # loads numba on first use

    days, n_granted = place_gate_cross(
        drawn.counts,
        drawn.uniforms,
        drawn.placement(),
        (drawn.inv_c, drawn.inv_f),
        _rules(settings, base_minute),
        (*_curve(schedule), volume_ml - empty_threshold_ml),
        targets,
        int(per_row.max()),
    )
    return days, per_row, n_granted
