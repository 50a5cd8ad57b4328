"""Questions about a run, written as small expressions and evaluated safely over its ``Trace``.

A teaching scenario asks, e.g., ``first_alarm_day('low_reservoir')`` or
``dose_on_day('2026-03-12', 'morphine') - dose_on_day(1, 'morphine')``. The text is parsed with
``ast`` and only this grammar is accepted (never ``eval``):

* numbers and quoted strings; ``+ - * / // %`` and ``**`` (exponent at most 10), unary ``-``;
* ``min``, ``max``, ``abs``, ``round`` and the queries in ``QUERIES`` called with positional
  arguments; the name ``days`` (the simulated length in days).

Units: days are float days since the start of the run (``state.time``); volumes mL; doses mg (a
drug dosed in mcg is still reported in mg — multiply by 1000 in the expression); hours and
minutes where the name says so. A query about something that did not happen (no such alarm, no
refill number 3) returns ``None``, and arithmetic with ``None`` gives ``None`` ("did not happen").
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pumpsim.core.clock import to_datetime, to_days
from pumpsim.core.errors import SimulationError
from pumpsim.engine import DaySummary, Trace
from pumpsim.forecast.programming import WorkedChange
from pumpsim.models import Therapy
from pumpsim.schedule.ptm import ptm_max_ml_per_day
from pumpsim.schedule.segments import mean_daily_volume_ml
from pumpsim.teaching.costs import CostCurves

Value = float | int | str | dt.datetime | None

__all__ = ["QUERIES", "ExpressionError", "TraceQueries", "check_expression", "evaluate"]

MAX_EXPRESSION_CHARS = 400
_MAX_NODES = 80


class ExpressionError(ValueError):
    """An answer expression is not allowed or cannot be evaluated (message says why)."""


@dataclass(frozen=True)
class _Query:
    name: str
    func: Callable[..., Value]
    min_args: int
    max_args: int
    doc: str


QUERIES: dict[str, _Query] = {}
"""Every function an answer expression may call: name → (arity, promise)."""


def _query(min_args: int, max_args: int | None = None) -> Callable[[Callable[..., Value]], Any]:
    def deco(func: Callable[..., Value]) -> Callable[..., Value]:
        name = func.__name__
        QUERIES[name] = _Query(
            name, func, min_args, min_args if max_args is None else max_args, func.__doc__ or ""
        )
        return func

    return deco


class TraceQueries:
    """The queries of one run: ``trace`` plus the ``therapy`` it started from and the optional
    cost curves."""

    def __init__(
        self,
        trace: Trace,
        therapy: Therapy,
        costs: CostCurves | None = None,
        session: WorkedChange | None = None,
    ) -> None:
        self.trace = trace
        self.therapy = therapy
        self.costs = costs
        self.session = session

    # ------------------------------------------------------------ helpers
    def _complete_days(self) -> list[DaySummary]:
        """Pump-clock calendar days entirely inside the run (``Trace.complete_days``)."""
        return self.trace.complete_days()

    def _date(self, day: Any) -> dt.date:
        if isinstance(day, str):
            try:
                return dt.date.fromisoformat(day)
            except ValueError:
                raise ExpressionError(f"{day!r} is not a date like '2026-03-12'") from None
        if isinstance(day, int | float) and float(day).is_integer():
            return self.trace.origin.date() + dt.timedelta(days=int(day))
        raise ExpressionError(f"a day is a whole number (0 = start day) or 'YYYY-MM-DD', got {day}")

    def _refill(self, index: Any) -> Any:
        if not isinstance(index, int):
            raise ExpressionError(f"a refill number is a whole number, got {index!r}")
        return (
            self.trace.refills[index]
            if -len(self.trace.refills) <= index < len(self.trace.refills)
            else None
        )

    def _curves(self) -> CostCurves:
        if self.costs is None:
            raise ExpressionError("this scenario has no costs: section")
        return self.costs

    # ------------------------------------------------------------ alarms and events
    @_query(1)
    def first_alarm_day(self, name: str) -> Value:
        """Day (since start) the alarm ``name`` first sounds."""
        a = self.trace.first_alarm(name)
        return None if a is None else a.on_day

    @_query(1)
    def first_alarm_time(self, name: str) -> Value:
        """Pump-clock date and time the alarm ``name`` first sounds."""
        a = self.trace.first_alarm(name)
        return None if a is None else a.on_time

    @_query(1)
    def alarm_hours(self, name: str) -> Value:
        """Total hours the alarm ``name`` was on (until cleared or the end of the run)."""
        records = [a for a in self.trace.alarms if a.name == name]
        if not records:
            return None
        return 24 * sum(
            (a.off_day if a.off_day is not None else self.trace.end_day) - a.on_day for a in records
        )

    @_query(1)
    def alarm_count(self, name: str) -> Value:
        """How many times the alarm condition ``name`` started."""
        return sum(1 for a in self.trace.alarms if a.name == name)

    @_query(1)
    def day_of(self, kind: str) -> Value:
        """Day (since start) of the first event of ``kind`` (e.g. 'actual_dry')."""
        e = self.trace.first_event(kind)
        return None if e is None else e.day

    @_query(1)
    def time_of(self, kind: str) -> Value:
        """Pump-clock date and time of the first event of ``kind``."""
        e = self.trace.first_event(kind)
        return None if e is None else e.time

    @_query(1)
    def event_count(self, kind: str) -> Value:
        """Number of events of ``kind``."""
        return len(self.trace.events_of(kind))

    @_query(1)
    def time_at(self, day: float) -> Value:
        """Pump-clock date and time of ``day`` days after the start."""
        if not isinstance(day, int | float):
            raise ExpressionError(f"time_at needs a number of days, got {day!r}")
        return to_datetime(self.trace.origin, float(day))

    # ------------------------------------------------------------ volumes
    def _interp(self, day: Any, column: npt.ArrayLike) -> Value:
        if not isinstance(day, int | float):
            raise ExpressionError(f"a day (number) is needed, got {day!r}")
        days = np.asarray(self.trace.samples.day)
        if days.size == 0 or not days[0] <= day <= days[-1] + 1e-9:
            return None
        return float(np.interp(float(day), days, np.asarray(column)))

    @_query(1)
    def calculated_at(self, day: float) -> Value:
        """Calculated reservoir volume (mL) at ``day`` (interpolated between samples)."""
        return self._interp(day, self.trace.samples.calculated_ml)

    @_query(1)
    def actual_at(self, day: float) -> Value:
        """Actual reservoir volume (mL) at ``day`` (interpolated between samples)."""
        return self._interp(day, self.trace.samples.actual_ml)

    @_query(0)
    def dead_volume_ml(self) -> Value:
        """Pump tubing plus catheter volume (mL)."""
        return self.therapy.dead_volume_ml

    @_query(0)
    def start_rate_ml_per_day(self) -> Value:
        """Mean daily volume of the program at the start (mL/day)."""
        return mean_daily_volume_ml(self.therapy.program)

    @_query(0)
    def session_rate_ml_per_day(self) -> Value:
        """The new program's mean daily volume from the scenario's programming session
        (mL/day; ``None`` without a session)."""
        return None if self.session is None else mean_daily_volume_ml(self.session.program)

    @_query(0)
    def session_bridge_ml(self) -> Value:
        """The bridge (or priming) bolus the session worked out (mL; 0 without one)."""
        if self.session is None:
            return None
        return 0.0 if self.session.bolus is None else self.session.bolus.volume_ml

    @_query(0)
    def session_bridge_hours(self) -> Value:
        """How long that bolus runs (hours; 0 without one)."""
        if self.session is None:
            return None
        return 0.0 if self.session.bolus is None else self.session.bolus.duration_days * 24

    @_query(0)
    def ptm_max_ml_per_day(self) -> Value:
        """The most patient-bolus volume a day allows at the start (mL/day): bolus × the daily
        maximum, or fewer boluses when the lockout leaves less room (0 without a PTM)."""
        return ptm_max_ml_per_day(self.therapy.ptm)

    @_query(1, 2)
    def balance_ml(self, part: str, drug: str | None = None) -> Value:
        """Where the fluid went (mL), or with ``drug`` the drug mass (mg): part is one of
        put_in, delivered, reservoir, dead_volume, withdrawn, leaked, pocket, flushed."""
        b = self.trace.balance
        if b is None:
            return None
        if drug is None:
            value = getattr(b, f"{part}_ml", None)
        else:
            masses = getattr(b, f"{part}_mg", None)
            value = None if masses is None else masses.get(drug, 0.0)
        if value is None:
            raise ExpressionError(f"balance part {part!r} is not one of put_in, delivered, ...")
        return float(value)

    # ------------------------------------------------------------ refills
    @_query(1)
    def refill_day(self, index: int) -> Value:
        """Day of refill number ``index`` (0 = first refill on the timeline)."""
        r = self._refill(index)
        return None if r is None else r.day

    @_query(1)
    def refill_discrepancy(self, index: int) -> Value:
        """Withdrawn minus expected withdrawable volume (mL) at refill ``index``."""
        r = self._refill(index)
        return None if r is None else r.discrepancy_ml

    @_query(1)
    def refill_withdrawn(self, index: int) -> Value:
        """Volume withdrawn (mL) at refill ``index``."""
        r = self._refill(index)
        return None if r is None else r.withdrawn_ml

    @_query(1)
    def refill_calculated(self, index: int) -> Value:
        """Calculated reservoir volume (mL) just before refill ``index``: what the pump believed."""
        r = self._refill(index)
        return None if r is None else r.calculated_ml

    @_query(1)
    def refill_verdict(self, index: int) -> Value:
        """The verdict on refill ``index``'s discrepancy: 'ok', 'review' or 'investigate'
        (thresholds: ``pumpsim.models.refill``)."""
        r = self._refill(index)
        return None if r is None else r.verdict.level

    @_query(1)
    def refill_cause(self, index: int) -> Value:
        """The likely cause of refill ``index``'s discrepancy: 'over-infusion', 'under-infusion
        or occlusion', 'suspected pocket fill', or 'none' when the verdict is ok."""
        r = self._refill(index)
        if r is None:
            return None
        return r.verdict.cause or "none"

    @_query(1)
    def refill_expected(self, index: int) -> Value:
        """Volume expected to come out (calculated minus residual, mL) at refill ``index``."""
        r = self._refill(index)
        return None if r is None else r.expected_withdrawable_ml

    # ------------------------------------------------------------ doses
    @_query(2)
    def dose_on_day(self, day: Any, drug: str) -> Value:
        """Drug mass (mg) at the catheter tip on a pump-clock calendar day: a whole number
        (0 = the start day) or 'YYYY-MM-DD'."""
        date = self._date(day)
        summary = self.trace.day_summary(date)
        if summary is None:
            raise ExpressionError(f"day {date.isoformat()} is outside the simulated run")
        return summary.dose_mg.get(drug, 0.0)

    @_query(1)
    def dose_total(self, drug: str) -> Value:
        """Drug mass (mg) delivered at the catheter tip over the whole run."""
        return sum(d.dose_mg.get(drug, 0.0) for d in self.trace.daily)

    @_query(2, 3)
    def days_below(self, drug: str, mg_per_day: float, fraction: float = 0.9) -> Value:
        """Complete days whose dose is below ``fraction`` × ``mg_per_day`` (under-dose days)."""
        return sum(
            1 for d in self._complete_days() if d.dose_mg.get(drug, 0.0) < fraction * mg_per_day
        )

    @_query(2, 3)
    def days_above(self, drug: str, mg_per_day: float, fraction: float = 1.1) -> Value:
        """Complete days whose dose is above ``fraction`` × ``mg_per_day`` (over-dose days)."""
        return sum(
            1 for d in self._complete_days() if d.dose_mg.get(drug, 0.0) > fraction * mg_per_day
        )

    @_query(2)
    def dose_deficit_mg(self, drug: str, mg_per_day: float) -> Value:
        """Sum over complete days of the dose missing below ``mg_per_day`` (mg)."""
        return sum(max(0.0, mg_per_day - d.dose_mg.get(drug, 0.0)) for d in self._complete_days())

    @_query(0)
    def no_therapy_hours(self) -> Value:
        """Hours the program asked for drug but none reached the catheter tip."""
        return 24 * self.trace.no_therapy_days()

    # ------------------------------------------------------------ PTM
    @_query(0)
    def ptm_granted_total(self) -> Value:
        """Patient boluses granted over the run."""
        return sum(d.ptm_granted for d in self.trace.daily)

    @_query(0)
    def ptm_denied_total(self) -> Value:
        """Patient-bolus presses denied over the run."""
        return sum(d.ptm_denied for d in self.trace.daily)

    @_query(1)
    def ptm_denied_count(self, reason: str) -> Value:
        """Denied presses for ``reason`` (lockout, daily_cap, bolus_running, reservoir_empty,
        pump_stopped, disabled)."""
        return sum(1 for p in self.trace.ptm_presses if p.decision == reason)

    @_query(0)
    def ptm_days_with_denials(self) -> Value:
        """Calendar days with at least one denied press."""
        return sum(1 for d in self.trace.daily if d.ptm_denied > 0)

    # ------------------------------------------------------------ costs
    @_query(0)
    def cost_crossover_month(self) -> Value:
        """First month whose cumulative intrathecal cost is at or below medical management."""
        return self._curves().crossover_month

    @_query(2)
    def cumulative_cost(self, arm: str, month: int) -> Value:
        """Cumulative cost of 'intrathecal' or 'cmm' at the end of ``month`` (1-based)."""
        if not isinstance(month, int):
            raise ExpressionError(f"a month is a whole number, got {month!r}")
        try:
            return self._curves().cumulative(arm, month)
        except SimulationError as exc:
            raise ExpressionError(str(exc)) from None


_BUILTINS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "min": (min, 1, 8),
    "max": (max, 1, 8),
    "abs": (abs, 1, 1),
    "round": (round, 1, 2),
}
_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_NAMES = frozenset({"days"})


def check_expression(text: str) -> ast.Expression:
    """Parse ``text`` and check it uses only the allowed grammar; raise ``ExpressionError``."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an answer is an expression such as first_alarm_day('low_reservoir')")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"at most {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression ({exc.msg})") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > _MAX_NODES:
        raise ExpressionError(f"too long: at most {_MAX_NODES} parts")
    for node in nodes:
        _check_node(node)
    return tree


def _check_node(node: ast.AST) -> None:
    if isinstance(node, ast.Expression | ast.Load | ast.USub | ast.UAdd):
        return
    if isinstance(node, ast.operator) and type(node) in _BINOPS:
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float | str):
            raise ExpressionError(f"constant {node.value!r} is not a number or a string")
        return
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        return
    if isinstance(node, ast.Name):
        if node.id in _NAMES or node.id in QUERIES or node.id in _BUILTINS:
            return
        raise ExpressionError(f"unknown name {node.id!r}; functions: {', '.join(sorted(QUERIES))}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError("only named functions may be called")
        if node.keywords:
            raise ExpressionError(f"{node.func.id}(): give arguments by position only")
        name = node.func.id
        if name in QUERIES:
            lo, hi = QUERIES[name].min_args, QUERIES[name].max_args
        elif name in _BUILTINS:
            _, lo, hi = _BUILTINS[name]
        else:
            raise ExpressionError(f"unknown function {name!r}; allowed: {', '.join(QUERIES)}")
        if not lo <= len(node.args) <= hi:
            raise ExpressionError(f"{name}() takes {lo}..{hi} arguments, got {len(node.args)}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"{name}(): no *arguments")
        return
    raise ExpressionError(f"{type(node).__name__} is not allowed in an answer expression")


def evaluate(text: str, queries: TraceQueries) -> Value:
    """Evaluate an answer expression over one run; ``None`` means 'did not happen'."""
    tree = check_expression(text)
    value: Value = _eval(tree.body, queries)
    return value


def _eval(node: ast.expr, q: TraceQueries) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return q.trace.end_day  # the only allowed bare name is `days`
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, q)
        if value is None:
            return None
        _need_number(value, "-")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, q), _eval(node.right, q)
        if left is None or right is None:
            return None
        op = type(node.op)
        if op is ast.Pow and (
            not isinstance(right, int | float) or abs(right) > 10 or abs(left) > 1e6
        ):
            raise ExpressionError("** is limited to exponents up to 10")
        if not (isinstance(left, dt.datetime) and isinstance(right, dt.datetime) and op is ast.Sub):
            _need_number(left, "arithmetic")
            _need_number(right, "arithmetic")
        try:
            result = _BINOPS[op](left, right)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        if isinstance(left, dt.datetime) and isinstance(right, dt.datetime):
            return to_days(right, left)  # a time difference is a number of days
        return result
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_eval(a, q) for a in node.args]
        name = node.func.id
        if name in _BUILTINS:
            if any(a is None for a in args):
                return None
            for a in args:
                _need_number(a, name)
            return _BUILTINS[name][0](*args)
        return QUERIES[name].func(q, *args)
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover


def _need_number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"{where} needs numbers, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(f"{where}: not a finite number")
