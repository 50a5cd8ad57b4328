"""The compiled kernels (numba) of both engines' schedule rules, all in this one module.

Private: their public homes import it on first use (``schedule.presses.DrawnPresses.times``,
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

**One compiled version of each helper.** numba compiles a kernel called from another once per
distinct tuple of argument types, and a literal is a type of its own: a counter that starts as
``0`` and is passed on inside a loop compiles its callee once for ``Literal[int](0)`` and again
for ``int64`` (each version of ``place_row`` costs ~4 s from an empty cache). Counters passed
to a compiled helper therefore start as ``ZERO`` (an ``int64``), and every caller passes a
helper arrays of one layout (``delivered_crossing`` hands C-contiguous grants) and no literal
flags.
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
ZERO = cast(int, np.int64(0))
"""0 as numba's ``int64``, not ``Literal[int](0)``: where a counter passed to a helper starts."""


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


@inline
def sort16(v: FloatArray) -> None:
    """Sort ``v[:16]`` in place: Batcher's odd-even merge sort for 16 inputs, 63
    compare-exchanges on locals (registers), no branches (``batcher_pairs(16)``, checked on every
    0-1 input by a test)."""
    a0, a1, a2, a3 = v[0], v[1], v[2], v[3]
    a4, a5, a6, a7 = v[4], v[5], v[6], v[7]
    a8, a9, a10, a11 = v[8], v[9], v[10], v[11]
    a12, a13, a14, a15 = v[12], v[13], v[14], v[15]
    a0, a1 = min(a0, a1), max(a0, a1)
    a2, a3 = min(a2, a3), max(a2, a3)
    a4, a5 = min(a4, a5), max(a4, a5)
    a6, a7 = min(a6, a7), max(a6, a7)
    a8, a9 = min(a8, a9), max(a8, a9)
    a10, a11 = min(a10, a11), max(a10, a11)
    a12, a13 = min(a12, a13), max(a12, a13)
    a14, a15 = min(a14, a15), max(a14, a15)
    a0, a2 = min(a0, a2), max(a0, a2)
    a1, a3 = min(a1, a3), max(a1, a3)
    a4, a6 = min(a4, a6), max(a4, a6)
    a5, a7 = min(a5, a7), max(a5, a7)
    a8, a10 = min(a8, a10), max(a8, a10)
    a9, a11 = min(a9, a11), max(a9, a11)
    a12, a14 = min(a12, a14), max(a12, a14)
    a13, a15 = min(a13, a15), max(a13, a15)
    a1, a2 = min(a1, a2), max(a1, a2)
    a5, a6 = min(a5, a6), max(a5, a6)
    a9, a10 = min(a9, a10), max(a9, a10)
    a13, a14 = min(a13, a14), max(a13, a14)
    a0, a4 = min(a0, a4), max(a0, a4)
    a1, a5 = min(a1, a5), max(a1, a5)
    a2, a6 = min(a2, a6), max(a2, a6)
    a3, a7 = min(a3, a7), max(a3, a7)
    a8, a12 = min(a8, a12), max(a8, a12)
    a9, a13 = min(a9, a13), max(a9, a13)
    a10, a14 = min(a10, a14), max(a10, a14)
    a11, a15 = min(a11, a15), max(a11, a15)
    a2, a4 = min(a2, a4), max(a2, a4)
    a3, a5 = min(a3, a5), max(a3, a5)
    a10, a12 = min(a10, a12), max(a10, a12)
    a11, a13 = min(a11, a13), max(a11, a13)
    a1, a2 = min(a1, a2), max(a1, a2)
    a3, a4 = min(a3, a4), max(a3, a4)
    a5, a6 = min(a5, a6), max(a5, a6)
    a9, a10 = min(a9, a10), max(a9, a10)
    a11, a12 = min(a11, a12), max(a11, a12)
    a13, a14 = min(a13, a14), max(a13, a14)
    a0, a8 = min(a0, a8), max(a0, a8)
    a1, a9 = min(a1, a9), max(a1, a9)
    a2, a10 = min(a2, a10), max(a2, a10)
    a3, a11 = min(a3, a11), max(a3, a11)
    a4, a12 = min(a4, a12), max(a4, a12)
    a5, a13 = min(a5, a13), max(a5, a13)
    a6, a14 = min(a6, a14), max(a6, a14)
    a7, a15 = min(a7, a15), max(a7, a15)
    a4, a8 = min(a4, a8), max(a4, a8)
    a5, a9 = min(a5, a9), max(a5, a9)
    a6, a10 = min(a6, a10), max(a6, a10)
    a7, a11 = min(a7, a11), max(a7, a11)
    a2, a4 = min(a2, a4), max(a2, a4)
    a3, a5 = min(a3, a5), max(a3, a5)
    a6, a8 = min(a6, a8), max(a6, a8)
    a7, a9 = min(a7, a9), max(a7, a9)
    a10, a12 = min(a10, a12), max(a10, a12)
    a11, a13 = min(a11, a13), max(a11, a13)
    a1, a2 = min(a1, a2), max(a1, a2)
    a3, a4 = min(a3, a4), max(a3, a4)
    a5, a6 = min(a5, a6), max(a5, a6)
    a7, a8 = min(a7, a8), max(a7, a8)
    a9, a10 = min(a9, a10), max(a9, a10)
    a11, a12 = min(a11, a12), max(a11, a12)
    a13, a14 = min(a13, a14), max(a13, a14)
    v[0], v[1], v[2], v[3] = a0, a1, a2, a3
    v[4], v[5], v[6], v[7] = a4, a5, a6, a7
    v[8], v[9], v[10], v[11] = a8, a9, a10, a11
    v[12], v[13], v[14], v[15] = a12, a13, a14, a15


@inline
def sort4(v: FloatArray) -> None:
    """Sort ``v[:4]`` in place: ``batcher_pairs(4)``, 5 compare-exchanges (as ``sort16``)."""
    a0, a1, a2, a3 = v[0], v[1], v[2], v[3]
    a0, a1 = min(a0, a1), max(a0, a1)
    a2, a3 = min(a2, a3), max(a2, a3)
    a0, a2 = min(a0, a2), max(a0, a2)
    a1, a3 = min(a1, a3), max(a1, a3)
    a1, a2 = min(a1, a2), max(a1, a2)
    v[0], v[1], v[2], v[3] = a0, a1, a2, a3


@inline
def sort8(v: FloatArray) -> None:
    """Sort ``v[:8]`` in place: ``batcher_pairs(8)``, 19 compare-exchanges (as ``sort16``)."""
    a0, a1, a2, a3 = v[0], v[1], v[2], v[3]
    a4, a5, a6, a7 = v[4], v[5], v[6], v[7]
    a0, a1 = min(a0, a1), max(a0, a1)
    a2, a3 = min(a2, a3), max(a2, a3)
    a4, a5 = min(a4, a5), max(a4, a5)
    a6, a7 = min(a6, a7), max(a6, a7)
    a0, a2 = min(a0, a2), max(a0, a2)
    a1, a3 = min(a1, a3), max(a1, a3)
    a4, a6 = min(a4, a6), max(a4, a6)
    a5, a7 = min(a5, a7), max(a5, a7)
    a1, a2 = min(a1, a2), max(a1, a2)
    a5, a6 = min(a5, a6), max(a5, a6)
    a0, a4 = min(a0, a4), max(a0, a4)
    a1, a5 = min(a1, a5), max(a1, a5)
    a2, a6 = min(a2, a6), max(a2, a6)
    a3, a7 = min(a3, a7), max(a3, a7)
    a2, a4 = min(a2, a4), max(a2, a4)
    a3, a5 = min(a3, a5), max(a3, a5)
    a1, a2 = min(a1, a2), max(a1, a2)
    a3, a4 = min(a3, a4), max(a3, a4)
    a5, a6 = min(a5, a6), max(a5, a6)
    v[0], v[1], v[2], v[3] = a0, a1, a2, a3
    v[4], v[5], v[6], v[7] = a4, a5, a6, a7


@inline
def sort12(v: FloatArray) -> None:
    """Sort ``v[:12]`` in place: ``sort16``'s network without the compare-exchanges that
    reach past index 11 (``batcher_pairs(16)`` pruned to 12 inputs, 42 of its 63): on inputs
    padded with ``inf`` those exchange nothing."""
    a0, a1, a2, a3 = v[0], v[1], v[2], v[3]
    a4, a5, a6, a7 = v[4], v[5], v[6], v[7]
    a8, a9, a10, a11 = v[8], v[9], v[10], v[11]
    a0, a1 = min(a0, a1), max(a0, a1)
    a2, a3 = min(a2, a3), max(a2, a3)
    a4, a5 = min(a4, a5), max(a4, a5)
    a6, a7 = min(a6, a7), max(a6, a7)
    a8, a9 = min(a8, a9), max(a8, a9)
    a10, a11 = min(a10, a11), max(a10, a11)
    a0, a2 = min(a0, a2), max(a0, a2)
    a1, a3 = min(a1, a3), max(a1, a3)
    a4, a6 = min(a4, a6), max(a4, a6)
    a5, a7 = min(a5, a7), max(a5, a7)
    a8, a10 = min(a8, a10), max(a8, a10)
    a9, a11 = min(a9, a11), max(a9, a11)
    a1, a2 = min(a1, a2), max(a1, a2)
    a5, a6 = min(a5, a6), max(a5, a6)
    a9, a10 = min(a9, a10), max(a9, a10)
    a0, a4 = min(a0, a4), max(a0, a4)
    a1, a5 = min(a1, a5), max(a1, a5)
    a2, a6 = min(a2, a6), max(a2, a6)
    a3, a7 = min(a3, a7), max(a3, a7)
    a2, a4 = min(a2, a4), max(a2, a4)
    a3, a5 = min(a3, a5), max(a3, a5)
    a1, a2 = min(a1, a2), max(a1, a2)
    a3, a4 = min(a3, a4), max(a3, a4)
    a5, a6 = min(a5, a6), max(a5, a6)
    a9, a10 = min(a9, a10), max(a9, a10)
    a0, a8 = min(a0, a8), max(a0, a8)
    a1, a9 = min(a1, a9), max(a1, a9)
    a2, a10 = min(a2, a10), max(a2, a10)
    a3, a11 = min(a3, a11), max(a3, a11)
    a4, a8 = min(a4, a8), max(a4, a8)
    a5, a9 = min(a5, a9), max(a5, a9)
    a6, a10 = min(a6, a10), max(a6, a10)
    a7, a11 = min(a7, a11), max(a7, a11)
    a2, a4 = min(a2, a4), max(a2, a4)
    a3, a5 = min(a3, a5), max(a3, a5)
    a6, a8 = min(a6, a8), max(a6, a8)
    a7, a9 = min(a7, a9), max(a7, a9)
    a1, a2 = min(a1, a2), max(a1, a2)
    a3, a4 = min(a3, a4), max(a3, a4)
    a5, a6 = min(a5, a6), max(a5, a6)
    a7, a8 = min(a7, a8), max(a7, a8)
    a9, a10 = min(a9, a10), max(a9, a10)
    v[0], v[1], v[2], v[3] = a0, a1, a2, a3
    v[4], v[5], v[6], v[7] = a4, a5, a6, a7
    v[8], v[9], v[10], v[11] = a8, a9, a10, a11


def batcher_pairs(n: int) -> list[tuple[int, int]]:
    """The compare-exchanges ``(i, j)``, ``i < j``, of Batcher's odd-even merge sort of ``n``
    inputs (a power of two), in order: the network ``sort16`` unrolls."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@inline
def merge_runs(a: FloatArray, b: FloatArray, n: int, out: FloatArray) -> None:
    """``out[:n]``: the first ``n`` of the merge of the sorted runs ``a`` and ``b`` (each ended by
    ``inf`` beyond its values), without branches."""
    i = 0
    j = 0
    for k in range(n):
        x = a[i]
        y = b[j]
        take = x <= y
        out[k] = x if take else y
        i += take
        j += 1 - take


@inline
def sort_day(v: FloatArray, c: int, scratch: FloatArray) -> None:
    """Sort one day's ``c`` press times ``v[:c]`` in place (``v`` has room for 16, ``scratch``
    for 34). Up to 16: the smallest network that holds them (4, 8, 12 or 16; ``inf`` written
    after the day up to the network's width); up to 32: two 16-networks and a merge; more (a
    day far above any rate in use): insertion sort. Compiled into ``place_row``: a call per day
    cost more than the network of a day of a few presses."""
    if c <= 1:
        return
    if c > 32:
        for i in range(1, c):
            x = v[i]
            k = i
            while k > 0 and v[k - 1] > x:
                v[k] = v[k - 1]
                k -= 1
            v[k] = x
        return
    if c <= 16:  # the network's padding
        v[c : 4 if c <= 4 else 8 if c <= 8 else 12 if c <= 12 else 16] = np.inf
    if c <= 12:  # the smallest network that holds the day (most days hold a few presses)
        if c <= 4:
            sort4(v)
        elif c <= 8:
            sort8(v)
        else:
            sort12(v)
        return
    two = c > 16
    if two:  # two runs of 16, each ended by inf, in the scratch
        for i in range(16):
            scratch[i] = v[i]
            scratch[17 + i] = v[16 + i] if 16 + i < c else np.inf
        scratch[16] = np.inf
        scratch[33] = np.inf
    for h in range(2 if two else 1):  # one call site: numba inlines the network once
        sort16(scratch[17 * h : 17 * h + 17] if two else v)
    if two:
        merge_runs(scratch[0:17], scratch[17:34], c, v)


Placement = tuple[float, npt.NDArray[np.bool_], FloatArray, FloatArray, bool]
"""``(first_day, partial, c_lo, mass, shaped)``: where a chunk's calendar days lie
(``schedule.presses.DrawnPresses.placement``)."""


@njit
def place_row(
    counts: IntArray,
    r: int,
    u: FloatArray,
    p: int,
    placement: Placement,
    profile: tuple[FloatArray, FloatArray, FloatArray, IntArray],
    out: FloatArray,
    scratch: FloatArray,
    days: tuple[int, int, int],
) -> tuple[int, int]:
    """Row ``r``'s press times on its calendar days ``d0 <= d < d1``, each day sorted, into
    ``out[col:k]`` (``out`` has 16 slots to spare after them), from its presses per day
    ``counts[r]`` and their uniforms ``u[p:]``; ``days`` is ``(d0, d1, col)``. Returns ``k`` and
    the next ``p`` (the days in order: a row's presses sorted).

    Press ``i`` of day ``d`` has key ``g + u`` (``g = r * D + d``); its position in the day is
    ``key - g``, mapped through the inverse day profile (``inv_c`` -> ``inv_f``) when ``shaped``,
    or, on a ``partial`` day (the first or last, cut by the window), first onto the window's
    share ``c_lo[d] + u * mass[d]`` of the profile. The time is ``first_day + d + position`` (the
    float operations of the former global sort of every key, exactly).
    """
    first_day, partial, c_lo, mass, shaped = placement
    inv_c, inv_f, slopes, bins = profile
    n_days = counts.shape[1]
    shift = float(r * n_days)
    d0, d1, col = days
    for d in range(d0, d1):
        c = counts[r, d]
        g = float(r * n_days + d)
        day = float(d)
        v = out[col:]
        if partial[d] or shaped:
            cut, lo, share = partial[d], c_lo[d], mass[d]
            for i in range(c):
                key = g + u[p + i]
                x = lo + min(max(key - g, 0.0), 1.0) * share if cut else (key - shift) - day
                # np.interp(x, inv_c, inv_f): one look-up inside a bin without a knot
                j = bins[int(x * KNOT_BINS)] if 0.0 <= x < 1.0 else -1
                if j >= 0 and inv_c[j] != x:
                    rel = day + (slopes[j] * (x - inv_c[j]) + inv_f[j])
                else:
                    rel = day + interp_at(x, inv_c, inv_f, slopes, knot_index(x, inv_c))
                v[i] = first_day + rel
        else:
            for i in range(c):
                v[i] = first_day + ((g + u[p + i]) - shift)
        sort_day(v, c, scratch)
        p += c
        col += c
    return col, p


@njit
def place_presses(
    counts: IntArray,
    u: FloatArray,
    placement: Placement,
    profile: tuple[FloatArray, FloatArray],
    out: FloatArray,
) -> FloatArray:
    """``out`` ``(n, width)``, ``inf``-filled by the caller: each row's press times, sorted
    (``place_row``), from ``counts`` ``(n, D)`` presses per trajectory and calendar day and
    ``u``, one uniform per press in row-major order of ``counts``."""
    inv_c, inv_f = profile
    tables = (inv_c, inv_f, knot_slopes(inv_c, inv_f), knot_bins(inv_c))
    row = np.empty(out.shape[1] + 16)
    scratch = np.empty(34)
    n_days, p = counts.shape[1], ZERO
    for r in range(counts.shape[0]):
        k, p = place_row(counts, r, u, p, placement, tables, row, scratch, (ZERO, n_days, ZERO))
        out[r, :k] = row[:k]
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


@njit  # rarely reached: a call, not compiled into each caller
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


GateRules = tuple[int, float, float, float, bool, float]
"""``(cap, bolus_ml, duration_days, lockout_days, rolling, base_minute)``: a PTM's settings."""
GateReservoir = tuple[FloatArray, FloatArray, float]
"""``(times, volumes, limit_ml)``: the programmed curve and the volume that empties the pump."""


@inline
def empty_guard(limit_ml: float) -> float:
    """Below this volume no press can find the reservoir empty: ``limit_ml`` less a margin far
    above rounding (``gate_span`` checks exactly only from there; ``first_unsafe_day``)."""
    return limit_ml - 1e-9 * (1.0 + abs(limit_ml))


GateState = tuple[int, float, float]
"""``(count, last, oldest)``: what the gate carries from one press to the next (grants so far,
the last grant, the ``cap``-th most recent grant: ``grants[count - cap]``, ``-inf`` before
``cap`` grants)."""
GATE_START: GateState = (ZERO, -np.inf, -np.inf)
"""The gate's state before a trajectory's first press."""


@njit
def gate_span(
    t_row: FloatArray,
    span: tuple[int, int],
    rules: GateRules,
    reservoir: tuple[FloatArray, FloatArray, FloatArray, FloatArray, float],
    grants: FloatArray,
    decisions: npt.NDArray[np.int8],
    state: GateState,
) -> tuple[GateState, bool]:
    """Decide the presses ``t_row[j0:j1]`` (``span``; increasing, after every press the gate has
    decided from ``state``) by ``PtmGate``'s rules, in order; grant ``k`` goes to ``grants[k]``,
    the codes to ``decisions[j0:j1]`` unless ``decisions`` is empty (the forecast keeps no codes:
    then only a press that would be granted needs the reservoir's check). Returns the new state
    and whether a press found the reservoir empty (the gate then decides no later press: all
    are ``RESERVOIR_EMPTY``). ``cap`` is at least 1.

    A press is ``RESERVOIR_EMPTY`` when the programmed volume ``np.interp(t, times, volumes)``
    plus the granted boluses delivered by ``t`` (all but the last whole, the last by its running
    share) reaches ``limit_ml``; else ``BOLUS_RUNNING`` before ``last grant + duration - EPS``;
    else ``LOCKOUT`` before ``last grant + lockout - EPS``; else ``DAILY_CAP`` when the
    ``cap``-th most recent grant is inside the day (after ``t - 1 + EPS`` rolling, at or after
    the pump clock's midnight ``- EPS`` clock); else ``GRANTED``. ``reservoir`` is ``(times,
    volumes, knot_slopes, day_ceilings, limit_ml)``.
    """
    cap, bolus_ml, duration_days, lockout_days, rolling, base_minute = rules
    times, volumes, slopes, ceilings, limit_ml = reservoir
    # no press can find the reservoir empty while even its day's ceiling plus every bolus whole
    # stays below the limit (by a margin far above rounding): the exact sum is skipped
    guard_ml = empty_guard(limit_ml)
    spacing = max(duration_days, lockout_days)  # t < last + spacing - EPS: running or lockout
    last_day = ceilings.size - 1
    j0, j1 = span
    keep_decisions = decisions.size > 0
    count, last, oldest = state
    locked_until = last + spacing - _EPS_DAYS  # before it: a bolus running or the lockout
    running_until = last + duration_days - _EPS_DAYS
    for j in range(j0, j1):
        t = t_row[j]
        locked = t < locked_until
        # an empty reservoir denies this press and every later one (the volume delivered only
        # grows): without the decisions, only a press that would be granted needs the check
        if (keep_decisions or not locked) and (
            ceilings[min(max(int(t), 0), last_day)] + bolus_ml * count >= guard_ml
        ):
            schedule = (times, volumes, slopes)
            if empty_at(t, count, last, bolus_ml, duration_days, schedule, limit_ml):
                if keep_decisions:
                    decisions[j:j1] = RESERVOIR_EMPTY
                return (count, last, oldest), True
        if locked:
            if keep_decisions:
                decisions[j] = BOLUS_RUNNING if t < running_until else LOCKOUT
            continue
        if rolling:
            capped = oldest > t - 1.0 + _EPS_DAYS
        else:
            capped = oldest >= midnight_at_or_before(base_minute, t) - _EPS_DAYS
        if keep_decisions:
            decisions[j] = DAILY_CAP if capped else GRANTED
        if capped:
            continue
        grants[count] = t
        count += 1
        oldest = grants[count - cap] if count >= cap else -np.inf
        last = t
        locked_until = last + spacing - _EPS_DAYS
        running_until = last + duration_days - _EPS_DAYS
    return (count, last, oldest), False


@njit
def gate_row(
    t_row: FloatArray,
    n_t: int,
    rules: GateRules,
    reservoir: tuple[FloatArray, FloatArray, FloatArray, FloatArray, float],
    grants: FloatArray,
    decisions: npt.NDArray[np.int8],
) -> int:
    """``gate_span`` over one trajectory's presses ``t_row[:n_t]`` from ``GATE_START``; the
    grant times go to ``grants[:count]`` (room for ``n_t``), the codes to ``decisions[:n_t]``
    unless it is empty (``RESERVOIR_EMPTY`` from the first empty press on). Returns the number
    granted."""
    span = (ZERO, n_t)
    state, _ = gate_span(t_row, span, rules, reservoir, grants, decisions, GATE_START)
    return state[0]


@njit
def reservoir_tables(
    times: FloatArray, volumes: FloatArray, limit_ml: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, float]:
    """``gate_row``'s ``reservoir``: the curve, its knot slopes, its ``day_ceilings``, the
    limit."""
    slopes = knot_slopes(times, volumes)
    return times, volumes, slopes, day_ceilings(times, volumes, slopes), limit_ml


@njit
def pad_grants(grants: FloatArray, n_granted: IntArray) -> int:
    """``inf`` after each row's grants up to the widest row's; returns that width."""
    width = n_granted.max() if n_granted.size else 0
    for r in range(grants.shape[0]):
        grants[r, n_granted[r] : width] = np.inf
    return int(width)


@njit
def gate_rows(
    presses: FloatArray,
    rules: GateRules,
    curve: GateReservoir,
    keep_decisions: bool,
    grants: FloatArray,
) -> tuple[npt.NDArray[np.int8], IntArray, IntArray, int]:
    """``gate_row`` on every row of ``presses`` ``(n, J)`` (each row's press times, increasing,
    ``inf``-padded). ``grants`` ``(n, J)`` (the caller's) receives each row's grant times,
    ``inf``-padded up to the returned width. Returns the decision codes (``-1`` for padding;
    ``(0, 0)`` unless ``keep_decisions``), presses and grants per row, and that width."""
    n, n_cols = presses.shape
    decisions = np.full((n, n_cols) if keep_decisions else (0, 0), -1, dtype=np.int8)
    none = np.empty(0, dtype=np.int8)
    reservoir = reservoir_tables(*curve)
    n_presses = np.zeros(n, dtype=np.int64)
    n_granted = np.zeros(n, dtype=np.int64)
    for r in range(n):
        n_t = 0
        while n_t < n_cols and np.isfinite(presses[r, n_t]):
            n_t += 1
        codes = decisions[r] if keep_decisions else none
        n_presses[r] = n_t
        n_granted[r] = gate_row(presses[r], n_t, rules, reservoir, grants[r], codes)
    return decisions, n_presses, n_granted, pad_grants(grants, n_granted)


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


@njit  # rarely reached: a call, not compiled into each caller
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


CrossingCurve = tuple[FloatArray, FloatArray, FloatArray, IntArray]
"""``(times, volumes, knot_slopes, day_knots)``: the programmed curve as the crossings read it."""


@njit
def row_crossings(
    targets: FloatArray,
    r: int,
    grants: FloatArray,
    n_granted: int,
    curve: CrossingCurve,
    bolus: tuple[float, float],
    out: FloatArray,
) -> None:
    """``out[r, c]`` for every column ``c`` of ``targets`` ``(n, L)``: the first time the
    delivered volume ``P(t)`` plus row ``r``'s granted boluses ``grants[:n_granted]`` (each
    ``bolus = (bolus_ml, duration_days)``, delivered linearly from its start) reaches
    ``targets[r, c]``; ``inf`` when not inside the schedule.

    Bolus ``k`` ends at delivered volume ``E_k = P(g_k + duration) + (k + 1) * bolus``
    (increasing in ``k``); with ``m`` the number of ``E_k`` below the target, the crossing lies
    in bolus ``m`` when that bolus starts below the target, else on the programmed curve at
    ``target - m * bolus``. Binary search over ``k``: O(log grants) per target.
    """
    times, volumes, slopes, table = curve
    bolus_ml, duration_days = bolus
    rate = bolus_ml / duration_days
    for c in range(targets.shape[1]):
        x = targets[r, c]
        lo, hi = 0, n_granted  # m = the first k with E_k >= x
        while lo < hi:
            k = (lo + hi) // 2
            end_ml = volume_at(grants[k] + duration_days, times, volumes, slopes, table)
            if end_ml + (float(k) + 1.0) * bolus_ml < x:
                lo = k + 1
            else:
                hi = k
        m = lo
        y = x - m * bolus_ml
        out[r, c] = time_of_volume(y, times, volumes)
        if m < n_granted:
            start = grants[m]
            if volume_at(start, times, volumes, slopes, table) + m * bolus_ml < x:
                out[r, c] = solve_in_bolus(
                    y, start, times, volumes, slopes, table, rate, duration_days
                )


@njit
def crossing_curve(times: FloatArray, volumes: FloatArray, slopes: FloatArray) -> CrossingCurve:
    """``row_crossings``' ``curve`` of the programmed curve ``(times, volumes)`` and its
    ``knot_slopes``."""
    return times, volumes, slopes, day_knots(times)


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
    """``row_crossings`` of every row: per row ``r`` and column ``c`` of ``targets`` ``(n, L)``,
    the first time the delivered volume reaches ``targets[r, c]``, from the row's grants
    ``grants[r, :n_granted[r]]`` (bolus start times, sorted); a row's targets one after the
    other (its grants stay in the cache)."""
    out = np.empty(targets.shape)
    curve = crossing_curve(times, volumes, knot_slopes(times, volumes))
    bolus = (bolus_ml, duration_days)
    for r in range(targets.shape[0]):
        row_crossings(targets, r, grants[r], n_granted[r], curve, bolus, out)
    return out


# ---------------------------------------------------------------- placing, gating and crossing
BLOCK_PRESSES = 16
"""Presses placed between two looks of the gate once the reservoir may run empty: the most
placed for nothing past a trajectory's empty press, against a call of each kernel per block."""


@njit
def first_unsafe_day(n_days: int, rules: GateRules, ceilings: FloatArray, limit_ml: float) -> int:
    """The first calendar day on which a press might find the reservoir empty: before it the
    day's ceiling (``day_ceilings`` of the day after) plus ``cap`` boluses for each day so far
    and one more (the grants a rolling or clock day allows up to the day's end, with the
    margin ``EPS`` leaves) stays below ``gate_span``'s guard. Days start at ``first_day <= 0``,
    so a press of day ``d`` lies before ``d + 1``."""
    cap, bolus_ml = rules[0], rules[1]
    guard_ml = empty_guard(limit_ml)
    last_day = ceilings.size - 1
    d = 0
    while d < n_days and ceilings[min(d + 1, last_day)] + bolus_ml * cap * (d + 2) < guard_ml:
        d += 1
    return d


@inline
def next_block(counts: IntArray, r: int, d: int) -> int:
    """The end of the block of days from ``d`` holding ``BLOCK_PRESSES`` of row ``r``'s
    presses (or its last day)."""
    n_days, k = counts.shape[1], 0
    while d < n_days and k < BLOCK_PRESSES:
        k += counts[r, d]
        d += 1
    return d


@njit
def place_gate_cross(
    counts: IntArray,
    u: FloatArray,
    placement: Placement,
    profile: tuple[FloatArray, FloatArray],
    rules: GateRules,
    curve: GateReservoir,
    targets: FloatArray,
    widest: int,
) -> tuple[FloatArray, IntArray]:
    """``place_presses``, ``gate_rows`` and ``delivered_crossings`` without an ``(n, J)`` array
    between them: each row's presses are placed into a buffer that stays in the cache, gated
    from there into a grant buffer, and the row's crossings of ``targets`` ``(n, L)`` solved
    from that. Days are placed in blocks: all days before ``first_unsafe_day`` at once, then
    ``BLOCK_PRESSES`` at a time; once a press finds the reservoir empty the row's later days
    are not placed (the gate would deny them all). ``widest`` is the most presses of a row.
    Returns the crossings ``(n, L)`` and the grants per row, bit for bit those of the three
    passes."""
    n, n_days = counts.shape
    inv_c, inv_f = profile
    tables = (inv_c, inv_f, knot_slopes(inv_c, inv_f), knot_bins(inv_c))
    row, grants, scratch = np.empty(widest + 16), np.empty(widest + 1), np.empty(34)
    none = np.empty(0, dtype=np.int8)
    reservoir = reservoir_tables(*curve)
    cross = crossing_curve(curve[0], curve[1], reservoir[2])  # the gate's knot slopes
    safe = first_unsafe_day(n_days, rules, reservoir[3], curve[2])
    out = np.empty(targets.shape)
    n_granted = np.zeros(n, dtype=np.int64)
    p = ZERO
    for r in range(n):
        state, col, d, empty = GATE_START, ZERO, ZERO, False
        while d < n_days and not empty:
            d1 = safe if d < safe else next_block(counts, r, d)
            j0 = col
            col, p = place_row(counts, r, u, p, placement, tables, row, scratch, (d, d1, col))
            d = d1
            state, empty = gate_span(row, (j0, col), rules, reservoir, grants, none, state)
        p += int(counts[r, d:].sum())  # the days after an empty press: not placed
        n_granted[r] = state[0]
        row_crossings(targets, r, grants, state[0], cross, (rules[1], rules[2]), out)
    return out, n_granted
