"""The patient therapy manager's rules: which press is granted, and the most a day allows.

``PtmGate`` decides presses one by one (the SimPy engine); ``pumpsim.ensemble.kernels`` is its
vectorized twin, decision for decision. ``max_boluses_per_day`` is the one answer to "how many
patient boluses can one day hold", used by ``check``, the forecast, clinic windows and teaching.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from pumpsim.core.clock import EPS_DAYS, midnight_before
from pumpsim.models.demand import PtmDemand
from pumpsim.models.program import PtmSettings

Decision = Literal[
    "granted",
    "lockout",
    "daily_cap",
    "bolus_running",
    "reservoir_empty",
    "pump_stopped",
    "disabled",
]


@dataclass
class PtmGate:
    """The pump's rules for a patient bolus request, applied press by press.

    A press at ``t`` is denied when the motor is stopped (MRI stall, end of service), when the
    reservoir is at its empty limit, when another bolus is
    still running, when the lockout since the last *granted* bolus has not passed, or when the
    day's maximum is used: either the grants in the last 24 h (``rolling``) or since the pump
    clock's midnight (``clock``). Otherwise it is granted and delivered over its duration.
    """

    settings: PtmSettings
    origin: dt.datetime
    _grants: deque[float] = field(default_factory=deque)
    # the settings read at every press, kept as plain attributes (the settings are frozen)
    _max_per_day: int = field(init=False, repr=False)
    _lockout_days: float = field(init=False, repr=False)
    _rolling: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        s = self.settings
        self._max_per_day, self._lockout_days = s.max_per_day, s.lockout_days
        self._rolling = s.day_definition == "rolling"

    def decide(
        self,
        t: float,
        bolus_running_until: float = -math.inf,
        reservoir_empty: bool = False,
        pump_stopped: bool = False,
    ) -> Decision:
        """Decide a press at ``t`` (days since origin) and record it when granted."""
        max_per_day = self._max_per_day
        if max_per_day == 0:
            return "disabled"
        if pump_stopped:
            return "pump_stopped"
        if reservoir_empty:
            return "reservoir_empty"
        if t < bolus_running_until - EPS_DAYS:
            return "bolus_running"
        grants = self._grants
        if grants and t < grants[-1] + self._lockout_days - EPS_DAYS:
            return "lockout"
        if self.count_in_day(t) >= max_per_day:
            return "daily_cap"
        grants.append(t)
        return "granted"

    def count_in_day(self, t: float) -> int:
        """Grants that count against the daily maximum for a press at ``t``: those in the 24 h
        before ``t`` (rolling) or since the pump clock's last midnight (clock)."""
        grants = self._grants
        too_old = t - 1.0 - EPS_DAYS
        while grants and grants[0] <= too_old:
            grants.popleft()  # too old for any later press to count
        if self._rolling:
            since = t - 1.0 + EPS_DAYS  # counted: g > since
        else:
            since = math.nextafter(self.midnight_before(t) - EPS_DAYS, -math.inf)
        if not grants or grants[0] > since:  # the usual case: every grant kept counts
            return len(grants)
        return len(grants) - bisect_right(grants, since)  # grants are in time order

    def midnight_before(self, t: float) -> float:
        """The pump clock's last midnight at or before ``t`` (days since origin)."""
        return midnight_before(self.origin, t)


# ---------------------------------------------------------------- the most a day allows
def max_boluses_per_day(ptm: PtmSettings | None) -> int:
    """The most patient boluses one day can hold (0 without a PTM): the daily maximum, or fewer
    when the lockout or the bolus duration leave less room.

    A bolus may start ``spacing = max(lockout, duration)`` after the last granted one, so a day
    (the 24 h before a press, or a pump-clock calendar day) holds at most ``ceil(1 / spacing)``
    of them, e.g. 8 with a 3 h lockout, whichever way the pump counts its day: the grants at
    00:00, 03:00, …, 21:00 fill a calendar day, and any 24 h window holds no more."""
    if ptm is None or ptm.max_per_day == 0:
        return 0
    spacing = max(ptm.lockout_days, ptm.duration_days)
    fits = math.ceil(1.0 / spacing - EPS_DAYS)
    return min(ptm.max_per_day, fits)


def ptm_max_ml_per_day(ptm: PtmSettings | None) -> float:
    """Patient-bolus volume per day if every allowed bolus is taken (mL/day): the bolus volume
    times ``max_boluses_per_day``. Used by ``check``, the forecast, clinic windows and teaching."""
    return 0.0 if ptm is None else ptm.bolus_volume_ml * max_boluses_per_day(ptm)


def expected_boluses_per_day(ptm: PtmSettings | None, demand: PtmDemand | None) -> float:
    """The patient boluses a day brings on average when the patient presses at the demand's
    rate and every press up to the day's maximum is granted: ``min(presses_per_day,
    max_boluses_per_day)`` (0 without a PTM, or for a press log, which is used as logged)."""
    if ptm is None or demand is None or demand.presses_per_day is None:
        return 0.0
    return min(demand.presses_per_day, float(max_boluses_per_day(ptm)))
