"""The compiled kernels (numba) of both engines' schedule rules, all in this one module.

Private: their public homes import it on first use (``schedule.presses.random_press_times``,
``ensemble.kernels``), so importing pumpsim, the engine or the forecast does not load numba
(~0.3 s) and a command that draws no presses never pays it. The rules are stated in those homes;
``PtmGate`` (``schedule.ptm``) is the press-by-press reference the gate kernel is tested against.

**The compilation cache.** ``njit`` compiles with ``cache=True``: the first run writes each
kernel's machine code to disk, later processes load it (a process still pays numba's import and
LLVM start-up once, on its first kernel call). numba puts the cache in ``__pycache__`` beside this
file when that folder is writable (a source tree, a virtual environment), else in the user's cache
folder (``~/.cache/numba`` or the platform's equivalent, e.g. for a wheel installed system-wide),
or in ``NUMBA_CACHE_DIR`` when set. numba keys a cached kernel by the time stamp of the file that
defines it, not of the files its callees live in: that is why every compiled function, helpers
included, lives in this one file (an edit anywhere here recompiles them all).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
F = TypeVar("F", bound=Callable[..., object])


def njit(fn: F) -> F:
    """``fn`` compiled to machine code (nopython, NumPy's float error model, cached on disk)."""
    return cast(F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))


def inline(fn: F) -> F:
    """A small helper of the kernels, compiled into each caller (no call, no reference counting
    of its array arguments per call)."""
    return cast(F, numba.njit(cache=True, error_model="numpy", inline="always")(fn))


# ---------------------------------------------------------------- np.interp inside a kernel
@njit
def knot_slopes(xp: FloatArray, fp: FloatArray) -> FloatArray:
    """The slope of each piece of a piecewise-linear table, as ``np.interp`` computes it."""
    out = np.empty(max(xp.size - 1, 0))
    for j in range(out.size):
        out[j] = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    return out


@inline
def interp_at(x: float, xp: FloatArray, fp: FloatArray, slopes: FloatArray, j: int) -> float:
    """``np.interp(x, xp, fp)`` with the same float operations (so the same bits), given the
    table's ``knot_slopes`` and ``j``, the last index with ``xp[j] <= x`` (``-1`` when
    ``x < xp[0]``)."""
    n = xp.size
    if x != x:  # NaN
        return x
    if j < 0:
        return float(fp[0])
    if j >= n - 1:
        return float(fp[n - 1])
    if xp[j] == x:
        return float(fp[j])
    slope = slopes[j]
    out = slope * (x - xp[j]) + fp[j]
    if out != out:
        out = slope * (x - xp[j + 1]) + fp[j + 1]
        if out != out and fp[j] == fp[j + 1]:
            out = fp[j]
    return float(out)


KNOT_BINS = 1024
"""Bins of ``knot_bins`` over ``[0, 1)`` (a power of two: ``x * KNOT_BINS`` is exact)."""


@njit
def knot_bins(xp: FloatArray) -> IntArray:
    """For each bin ``b`` of ``[0, 1)``, the index ``j`` of the table's piece that holds every
    ``x`` of the bin (``xp[j] <= x < xp[j + 1]``), or ``-1`` when a knot lies inside the bin or
    the bin is outside the table (then ``np.interp``'s other cases apply)."""
    out = np.empty(KNOT_BINS, dtype=np.int64)
    for b in range(KNOT_BINS):
        lo, hi = b / KNOT_BINS, (b + 1) / KNOT_BINS
        j = knot_index(lo, xp)
        inside = 0 <= j < xp.size - 1 and xp[j + 1] >= hi
        out[b] = j if inside else -1
    return out


@inline
def knot_search(x: float, xp: FloatArray) -> int:
    """The last index with ``xp[j] <= x`` (``-1`` when none) of an increasing table, by
    bisection (``np.searchsorted(xp, x, side="right") - 1``)."""
    lo, hi = 0, xp.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if xp[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


@inline
def first_at_or_above(v: float, xp: FloatArray) -> int:
    """The first index with ``xp[i] >= v`` (``np.searchsorted(xp, v, side="left")``)."""
    lo, hi = 0, xp.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if xp[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@inline
def knot_index(x: float, xp: FloatArray) -> int:
    """The last index with ``xp[j] <= x`` (``-1`` when none) of an increasing short table, by
    counting without branches (a day profile's handful of knots)."""
    j = -1
    for k in range(xp.size):
        j += xp[k] <= x
    return j


@njit
def place_presses(
    counts: IntArray,
    u: FloatArray,
    first_day: float,
    partial: npt.NDArray[np.bool_],
    c_lo: FloatArray,
    mass: FloatArray,
    inv_c: FloatArray,
    inv_f: FloatArray,
    shaped: bool,
    width: int,
) -> FloatArray:
    """``(n, width)`` press times from ``counts`` ``(n, D)`` presses per trajectory and calendar
    day and ``u``, one uniform per press in row-major order of ``counts``.

    Press ``i`` of day ``d`` of row ``r`` has key ``g + u`` (``g = r * D + d``); its position in
    the day is ``key - g``, mapped through the inverse day profile (``inv_c`` -> ``inv_f``) when
    ``shaped``, or, on a ``partial`` day (the first or last, cut by the window), first onto the
    window's share ``c_lo[d] + u * mass[d]`` of the profile. The time is ``first_day + d +
    position`` (the float operations of the former global sort of every key, exactly); the map
    is monotone, so sorting a day's times sorts its keys. Each row is sorted, ``inf``-padded.
    """
    n, n_days = counts.shape
    out = np.full((n, width), np.inf)
    values = np.empty(max(counts.max(), 1) if counts.size else 1)
    slopes = knot_slopes(inv_c, inv_f)
    bins = knot_bins(inv_c)
    p = 0
    for r in range(n):
        col = 0
        shift = float(r * n_days)
        for d in range(n_days):
            c = counts[r, d]
            g = float(r * n_days + d)
            day = float(d)
            for i in range(c):  # each press's time from its key (a monotone map)
                key = g + u[p + i]
                if partial[d] or shaped:
                    if partial[d]:
                        x = c_lo[d] + min(max(key - g, 0.0), 1.0) * mass[d]
                    else:
                        x = (key - shift) - day
                    # np.interp(x, inv_c, inv_f): one look-up inside a bin without a knot
                    j = bins[int(x * KNOT_BINS)] if 0.0 <= x < 1.0 else -1
                    if j >= 0 and inv_c[j] != x:
                        rel = day + (slopes[j] * (x - inv_c[j]) + inv_f[j])
                    else:
                        rel = day + interp_at(x, inv_c, inv_f, slopes, knot_index(x, inv_c))
                else:
                    rel = key - shift
                values[i] = first_day + rel
            p += c
            for i in range(c):  # rank sort of the day's few times (no branches to mispredict)
                v = values[i]
                rank = 0
                for m in range(c):
                    rank += (values[m] < v) | ((values[m] == v) & (m < i))
                out[r, col + rank] = v
            col += c
    return out


# ---------------------------------------------------------------- the PTM gate
GRANTED, LOCKOUT, DAILY_CAP, BOLUS_RUNNING, RESERVOIR_EMPTY = 0, 1, 2, 3, 4
"""Decision codes of ``gate_rows`` (``ensemble.kernels.DECISIONS`` names them)."""
_EPS_DAYS = 1e-9  # core.clock.EPS_DAYS (a test checks they are equal)
_MINUTES_PER_DAY = 1440


@inline
def midnight_at_or_before(base_minute: float, t: float) -> float:
    """``core.clock.midnights_before`` of one time (the same float operations)."""
    index = np.int64(np.floor((base_minute + t * _MINUTES_PER_DAY) / _MINUTES_PER_DAY + _EPS_DAYS))
    return float((index * _MINUTES_PER_DAY - base_minute) / _MINUTES_PER_DAY)


@njit
def day_ceilings(times: FloatArray, volumes: FloatArray, slopes: FloatArray) -> FloatArray:
    """``np.interp(d + 1, times, volumes)`` for every whole day ``d`` of the schedule: the most
    the program has delivered by the end of day ``d`` (a cheap upper bound inside that day)."""
    n_days = max(int(np.ceil(times[-1])), 0) + 1
    out = np.empty(n_days)
    for d in range(n_days):
        x = float(d + 1)
        out[d] = interp_at(x, times, volumes, slopes, knot_search(x, times))
    return out


@inline
def empty_at(
    t: float,
    count: int,
    last: float,
    bolus_ml: float,
    duration_days: float,
    schedule: tuple[FloatArray, FloatArray, FloatArray],
    limit_ml: float,
) -> bool:
    """Whether the programmed volume at ``t`` plus ``count`` granted boluses (the last, granted at
    ``last``, by its running share) reaches ``limit_ml``; ``schedule`` is ``(times, volumes,
    knot_slopes)``."""
    times, volumes, slopes = schedule
    running = min(max((t - last) / duration_days, 0.0), 1.0) if count > 0 else 0.0
    programmed = interp_at(t, times, volumes, slopes, knot_search(t, times))
    return bool(programmed + bolus_ml * (max(count - 1, 0) + running) >= limit_ml)


@njit
def gate_rows(
    presses: FloatArray,
    cap: int,
    bolus_ml: float,
    duration_days: float,
    lockout_days: float,
    rolling: bool,
    base_minute: float,
    times: FloatArray,
    volumes: FloatArray,
    limit_ml: float,
    keep_decisions: bool,
) -> tuple[npt.NDArray[np.int8], FloatArray, IntArray, IntArray]:
    """Decide every press of every row by ``PtmGate``'s rules, in order, row by row.

    ``presses`` ``(n, J)``: each row's press times, increasing, ``inf``-padded. A press is
    ``RESERVOIR_EMPTY`` when an earlier press was (the reservoir stays empty), or when the
    programmed volume ``np.interp(t, times, volumes)`` plus the
    granted boluses delivered by ``t`` (all but the last whole, the last by its running share)
    reaches ``limit_ml``; else ``BOLUS_RUNNING`` before ``last grant + duration - EPS``; else
    ``LOCKOUT`` before ``last grant + lockout - EPS``; else ``DAILY_CAP`` when the ``cap``-th most
    recent grant is inside the day (after ``t - 1 + EPS`` rolling, at or after the pump clock's
    midnight ``- EPS`` clock); else ``GRANTED``. Returns the decision codes (``-1`` for padding;
    ``(0, 0)`` unless ``keep_decisions``), the grant times (compacted, ``inf``-padded), presses
    and grants per row.
    """
    n, n_cols = presses.shape
    decisions = np.full((n, n_cols) if keep_decisions else (0, 0), -1, dtype=np.int8)
    buffer = np.empty((n, n_cols))
    n_presses = np.zeros(n, dtype=np.int64)
    n_granted = np.zeros(n, dtype=np.int64)
    slopes = knot_slopes(times, volumes)
    schedule = (times, volumes, slopes)
    # no press can find the reservoir empty while even its day's ceiling plus every bolus whole
    # stays below the limit (by a margin far above rounding): the exact sum is skipped
    ceilings = day_ceilings(times, volumes, slopes)
    guard_ml = limit_ml - 1e-9 * (1.0 + abs(limit_ml))
    spacing = max(duration_days, lockout_days)  # t < last + spacing - EPS: running or lockout
    ring = np.empty(cap)  # the row's last `cap` grants; ring[slot] is the oldest
    for r in range(n):
        ring[:] = -np.inf
        count, slot, last, empty, pressed = 0, 0, -np.inf, False, 0
        for j in range(n_cols):
            t = presses[r, j]
            if not np.isfinite(t):
                break
            pressed += 1
            day = min(max(int(t), 0), ceilings.size - 1)
            if not empty and ceilings[day] + bolus_ml * count >= guard_ml:
                # near the limit: the exact sum (once empty, every later press is denied)
                empty = empty_at(t, count, last, bolus_ml, duration_days, schedule, limit_ml)
            if empty:
                code = RESERVOIR_EMPTY
            elif t < last + spacing - _EPS_DAYS:
                running = t < last + duration_days - _EPS_DAYS
                code = BOLUS_RUNNING if running else LOCKOUT
            elif rolling:
                code = DAILY_CAP if ring[slot] > t - 1.0 + _EPS_DAYS else GRANTED
            else:
                midnight = midnight_at_or_before(base_minute, t)
                code = DAILY_CAP if ring[slot] >= midnight - _EPS_DAYS else GRANTED
            if code == GRANTED:
                ring[slot] = t
                slot = slot + 1 if slot + 1 < cap else 0
                buffer[r, count] = t
                count += 1
                last = t
            if keep_decisions:
                decisions[r, j] = code
        n_presses[r] = pressed
        n_granted[r] = count
    width = n_granted.max() if n else 0
    grants = np.full((n, width), np.inf)
    for r in range(n):
        grants[r, : n_granted[r]] = buffer[r, : n_granted[r]]
    return decisions, grants, n_presses, n_granted


# ---------------------------------------------------------------- exact crossings
@njit
def day_knots(times: FloatArray) -> IntArray:
    """``knot_search(d, times)`` for every whole day ``d`` from 0 to past the schedule's end:
    where a search for a time of day ``d`` may start (a schedule has a few knots a day)."""
    out = np.empty(max(int(np.ceil(times[-1])), 0) + 2, dtype=np.int64)
    for d in range(out.size):
        out[d] = knot_search(float(d), times)
    return out


@inline
def knot_near(x: float, times: FloatArray, table: IntArray) -> int:
    """``knot_search(x, times)`` from the day's entry of ``table = day_knots(times)``."""
    if not 0.0 <= x < table.size - 1:
        return knot_search(x, times)
    j = table[int(x)]
    while j + 1 < times.size and times[j + 1] <= x:
        j += 1
    return int(j)


@inline
def volume_at(
    t: float, times: FloatArray, volumes: FloatArray, slopes: FloatArray, table: IntArray
) -> float:
    """``CumulativeSchedule.volume_at`` of one time (``np.interp``, the same bits)."""
    return interp_at(t, times, volumes, slopes, knot_near(t, times, table))


@inline
def time_of_volume(v: float, times: FloatArray, volumes: FloatArray) -> float:
    """``CumulativeSchedule.time_of_volume`` of one volume (the same float operations)."""
    size = volumes.size
    idx = first_at_or_above(v, volumes)
    if idx >= size:
        return np.inf
    if idx == 0:
        return float(times[0])
    v0, v1 = volumes[idx - 1], volumes[idx]
    span = v1 - v0 if v1 > v0 else 1.0
    frac = min(max((v - v0) / span, 0.0), 1.0)
    return float(times[idx - 1] + frac * (times[idx] - times[idx - 1]))


@inline
def solve_in_bolus(
    y: float,
    start: float,
    times: FloatArray,
    volumes: FloatArray,
    slopes: FloatArray,
    table: IntArray,
    rate: float,
    duration_days: float,
) -> float:
    """The ``t`` in ``(start, start + duration]`` where ``P(t) + rate * (t - start) = y``,
    walking over the schedule's breakpoints inside the bolus (usually none or one)."""
    lo = start
    g_lo = volume_at(lo, times, volumes, slopes, table)
    end = start + duration_days
    while True:
        i = knot_near(lo, times, table) + 1
        hi = min(times[i] if i < times.size else np.inf, end)
        g_hi = volume_at(hi, times, volumes, slopes, table) + rate * (hi - start)
        if g_hi >= y or hi <= lo:  # hit (or no span left: the end, within rounding)
            slope = (g_hi - g_lo) / (hi - lo) if hi > lo else np.inf
            step = (y - g_lo) / slope if np.isfinite(slope) and slope > 0 else 0.0
            return float(min(lo + step, hi))
        lo, g_lo = hi, g_hi


@njit
def delivered_crossings(
    targets: FloatArray,
    grants: FloatArray,
    n_granted: IntArray,
    times: FloatArray,
    volumes: FloatArray,
    bolus_ml: float,
    duration_days: float,
) -> FloatArray:
    """Per row ``r`` and column ``c`` of ``targets`` ``(n, L)``, the first time the delivered
    volume ``P(t)`` plus the row's granted boluses (each ``bolus_ml`` linearly over
    ``duration_days`` from its start ``grants[r, k]``) reaches ``targets[r, c]``; ``inf`` when
    not inside the schedule.

    Bolus ``k`` ends at delivered volume ``E_k = P(g_k + duration) + (k + 1) * bolus``
    (increasing in ``k``); with ``m`` the number of ``E_k`` below the target, the crossing lies
    in bolus ``m`` when that bolus starts below the target, else on the programmed curve at
    ``target - m * bolus``. Binary search over ``k``: O(log grants) per target, a row's targets
    one after the other (its grants stay in the cache).
    """
    n, n_targets = targets.shape
    out = np.empty((n, n_targets))
    slopes = knot_slopes(times, volumes)
    table = day_knots(times)
    rate = bolus_ml / duration_days
    for r in range(n):
        for c in range(n_targets):
            x = targets[r, c]
            lo, hi = 0, n_granted[r]  # m = the first k with E_k >= x
            while lo < hi:
                k = (lo + hi) // 2
                end_ml = volume_at(grants[r, k] + duration_days, times, volumes, slopes, table)
                if end_ml + (float(k) + 1.0) * bolus_ml < x:
                    lo = k + 1
                else:
                    hi = k
            m = lo
            y = x - m * bolus_ml
            out[r, c] = time_of_volume(y, times, volumes)
            if m < n_granted[r]:
                start = grants[r, m]
                if volume_at(start, times, volumes, slopes, table) + m * bolus_ml < x:
                    out[r, c] = solve_in_bolus(
                        y, start, times, volumes, slopes, table, rate, duration_days
                    )
    return out
