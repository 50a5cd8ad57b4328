"""Array kernels of the vectorized engine: the PTM gate over many trajectories at once, and
exact crossing times on the delivered-volume curve (program plus bolus ramps).

Same rules and float operations as ``schedule.ptm.PtmGate``; ``pumpsim.ensemble.montecarlo`` drives
these kernels chunk by chunk.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pumpsim.core.clock import EPS_DAYS, midnights_before
from pumpsim.models import PtmSettings
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
_GRANTED, _LOCKOUT, _CAP, _RUNNING, _EMPTY, _DISABLED = range(6)


# ---------------------------------------------------------------- the PTM gate, vectorized
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
    n, n_cols = presses.shape
    decisions = np.full((n, n_cols), NO_PRESS, dtype=np.int8)
    present = np.isfinite(presses)
    if settings.max_per_day == 0:
        decisions[present] = _DISABLED
        return decisions, np.full((n, 0), np.inf)
    cap, vol = settings.max_per_day, settings.bolus_volume_ml
    dur, lockout = settings.duration_days, settings.lockout_days
    rolling = settings.day_definition == "rolling"
    ring = np.full((n, cap), -np.inf)  # the last `cap` grant times, slot n_grants % cap is oldest
    n_grants = np.zeros(n, dtype=np.int64)
    last = np.full(n, -np.inf)
    rows = np.arange(n)
    limit = volume_ml - empty_threshold_ml
    for j in range(n_cols):
        t = presses[:, j]
        if not np.isfinite(t).any():
            break
        t_safe = np.where(np.isfinite(t), t, 0.0)
        running = np.where(n_grants > 0, np.clip((t_safe - last) / dur, 0.0, 1.0), 0.0)
        delivered = schedule.volume_at(t_safe) + vol * (np.maximum(n_grants - 1, 0) + running)
        empty = delivered >= limit
        busy = t < last + dur - EPS_DAYS
        locked = t < last + lockout - EPS_DAYS
        oldest = ring[rows, n_grants % cap]
        if rolling:
            capped = oldest > t - 1.0 + EPS_DAYS
        else:
            capped = oldest >= midnights_before(base_minute, t_safe) - EPS_DAYS
        code = np.select(
            [empty, busy, locked, capped], [_EMPTY, _RUNNING, _LOCKOUT, _CAP], default=_GRANTED
        ).astype(np.int8)
        code[~present[:, j]] = NO_PRESS
        decisions[:, j] = code
        ok = code == _GRANTED
        if ok.any():
            idx = rows[ok]
            ring[idx, n_grants[idx] % cap] = t[idx]
            n_grants[idx] += 1
            last[idx] = t[idx]
    granted = np.where(decisions == _GRANTED, presses, np.inf)
    granted.sort(axis=1)
    width = int(n_grants.max()) if n else 0
    return decisions, np.ascontiguousarray(granted[:, :width])


def grant_presses(
    presses: FloatArray,
    settings: PtmSettings,
    *,
    base_minute: float,
    schedule: CumulativeSchedule,
    volume_ml: float,
    empty_threshold_ml: float,
) -> tuple[FloatArray, IntArray, IntArray]:
    """The grants of ``gate_presses`` (same arguments, same rules, same float operations), fast:
    only whether each press is granted, not why a press is denied.

    A press is granted when it is not before ``last grant + max(duration, lockout) - EPS``
    (monotone rounding makes that one comparison equal to the bolus-running and lockout tests),
    the cap-th most recent grant is outside the day, and the reservoir is not empty (checked only
    in columns where it could be). Returns the granted start times (compacted, ``inf``-padded),
    presses per row and grants per row.
    """
    n, n_cols = presses.shape
    present = np.isfinite(presses)
    n_presses = present.sum(axis=1).astype(np.int64)
    if settings.max_per_day == 0 or n_cols == 0:
        return np.full((n, 0), np.inf), n_presses, np.zeros(n, dtype=np.int64)
    cap, vol, dur = settings.max_per_day, settings.bolus_volume_ml, settings.duration_days
    spacing = max(dur, settings.lockout_days)
    rolling = settings.day_definition == "rolling"
    # column-major copies: each press rank is one contiguous row of n trajectories
    work = np.where(present, presses, np.nan).T.copy()  # NaN fails every comparison
    if rolling:
        day_start = work - 1.0 + EPS_DAYS
    else:
        day_start = midnights_before(base_minute, np.where(present, presses, 0.0)).T - EPS_DAYS
        day_start[~present.T] = np.nan
        day_start = np.ascontiguousarray(day_start)
    col_max = np.max(np.where(present, presses, -np.inf), axis=0)
    reach = schedule.volume_at(np.where(np.isfinite(col_max), col_max, 0.0)) + vol * np.arange(
        n_cols
    )
    limit = volume_ml - empty_threshold_ml
    # ring[0] is the oldest of each row's last `cap` grants, ring[cap - 1] the newest
    ring = np.full((cap, n), -np.inf)
    oldest = ring[0]
    n_grants = np.zeros(n, dtype=np.int64)
    free_after = work + spacing - EPS_DAYS  # a grant at t blocks presses before this
    free_from = np.full(n, -np.inf)
    last = np.full(n, -np.inf)
    granted_t = np.zeros((n_cols, n), dtype=bool)
    out_t = np.full((n_cols, n), np.inf)  # grants compacted by grant number, rank-major
    out_flat = out_t.reshape(-1)
    check_empty = reach >= limit - 1e-9  # columns where some row's reservoir may be empty
    track_last = bool(check_empty.any())
    # not capped: oldest <= t - 1 + EPS (rolling) or oldest < midnight - EPS (clock); NaN fails
    not_capped = np.less_equal if rolling else np.less
    for j in range(n_cols):
        t = work[j]
        ok = granted_t[j]
        not_capped(oldest, day_start[j], out=ok)
        ok &= t >= free_from  # neither bolus running nor lockout
        if check_empty[j]:
            t_safe = np.where(np.isnan(t), 0.0, t)
            running = np.where(n_grants > 0, np.clip((t_safe - last) / dur, 0.0, 1.0), 0.0)
            ok &= schedule.volume_at(t_safe) + vol * (np.maximum(n_grants - 1, 0) + running) < limit
        np.copyto(free_from, free_after[j], where=ok)
        if track_last:
            np.copyto(last, t, where=ok)
        sel = np.flatnonzero(ok)
        out_flat[n_grants[sel] * n + sel] = t[sel]  # grant number k of row r goes to (k, r)
        n_grants += ok
        for k in range(cap - 1):
            np.copyto(ring[k], ring[k + 1], where=ok)
        np.copyto(ring[cap - 1], t, where=ok)
    width = int(n_grants.max()) if n else 0
    return np.ascontiguousarray(out_t[:width].T), n_presses, n_grants


# ---------------------------------------------------------------- exact crossings
def bolus_end_volumes(
    grants: FloatArray, schedule: CumulativeSchedule, bolus_ml: float, duration_days: float
) -> FloatArray:
    """Delivered volume at the end of each granted bolus ``k``: ``P(end) + (k + 1) * bolus``
    (``inf`` for padding). Increasing along each row."""
    finite = np.isfinite(grants)
    k = np.arange(grants.shape[1], dtype=float)
    ends = np.where(finite, grants + duration_days, 0.0)
    return np.where(finite, schedule.volume_at(ends) + (k + 1) * bolus_ml, np.inf)


def delivered_crossing(
    target_ml: FloatArray,
    grants: FloatArray,
    schedule: CumulativeSchedule,
    bolus_ml: float,
    duration_days: float,
    end_volumes: FloatArray | None = None,
) -> FloatArray:
    """First time the delivered volume ``P(t) + granted boluses`` reaches ``target_ml``.

    ``P`` is the programmed curve ``schedule``; ``grants`` ``(n, J)`` are bolus start times
    (sorted, ``inf``-padded), each bolus adding ``bolus_ml`` linearly over ``duration_days``
    (``end_volumes`` from ``bolus_end_volumes`` may be passed to reuse it across targets).
    Exact on the piecewise-linear curve; ``inf`` when not reached inside the schedule.
    """
    x = np.asarray(target_ml, dtype=float)
    n, n_cols = grants.shape
    if n_cols == 0:
        return schedule.time_of_volume(x)
    if end_volumes is None:
        end_volumes = bolus_end_volumes(grants, schedule, bolus_ml, duration_days)
    m = (end_volumes < x[:, None]).sum(axis=1)
    rows = np.arange(n)
    s_m = np.where(m < n_cols, grants[rows, np.minimum(m, n_cols - 1)], np.inf)
    in_bolus = np.isfinite(s_m)
    in_bolus[in_bolus] = schedule.volume_at(s_m[in_bolus]) + m[in_bolus] * bolus_ml < x[in_bolus]
    out = schedule.time_of_volume(x - m * bolus_ml)
    if in_bolus.any():
        idx = rows[in_bolus]
        out[idx] = _solve_in_bolus(
            x[idx] - m[idx] * bolus_ml, s_m[idx], schedule, bolus_ml / duration_days, duration_days
        )
    return out


def _solve_in_bolus(
    y: FloatArray,
    start: FloatArray,
    schedule: CumulativeSchedule,
    bolus_rate: float,
    duration_days: float,
) -> FloatArray:
    """Solve ``P(t) + bolus_rate * (t - start) = y`` for ``t`` in ``(start, start + duration]``,
    walking over the schedule's breakpoints inside the bolus (usually none or one)."""
    times, vols = schedule.times, schedule.volumes
    out = np.empty_like(y)
    lo = start.copy()
    g_lo = schedule.volume_at(lo)
    end = start + duration_days
    todo = np.arange(y.size)
    while todo.size:
        i = np.searchsorted(times, lo[todo], side="right")
        nxt = np.where(i < times.size, times[np.minimum(i, times.size - 1)], np.inf)
        hi = np.minimum(nxt, end[todo])
        g_hi = np.interp(hi, times, vols) + bolus_rate * (hi - start[todo])
        hit = g_hi >= y[todo]
        a, ga = lo[todo], g_lo[todo]
        slope = np.where(hi > a, (g_hi - ga) / np.where(hi > a, hi - a, 1.0), np.inf)
        solved = a + np.where(np.isfinite(slope) & (slope > 0), (y[todo] - ga) / slope, 0.0)
        out[todo[hit]] = np.minimum(solved[hit], hi[hit])
        miss = todo[~hit]
        lo[miss], g_lo[miss] = hi[~hit], g_hi[~hit]
        todo = miss
    return out
