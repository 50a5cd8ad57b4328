"""The one output of a run: typed records that plots, summaries and exports all read.

Nothing reads back into the engine; a ``Trace`` is plain data plus derived views.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from pumpsim.core.atomic import write_text_atomic
from pumpsim.core.clock import to_datetime
from pumpsim.core.csvsafe import safe_row
from pumpsim.core.jsonout import dumps
from pumpsim.core.units import mass_in_unit
from pumpsim.models.refill import RefillVerdict

FloatArray = npt.NDArray[np.float64]

Severity = Literal["critical", "non-critical"]

ALARM_SEVERITY: dict[str, Severity] = {
    "low_reservoir": "non-critical",
    "elective_replacement": "non-critical",
    "empty_reservoir": "critical",
    "end_of_service": "critical",
    "motor_stall": "critical",
}


class Event(NamedTuple):
    """Something that happened at ``day`` (days since the trace ``origin``).

    Immutable records; a named tuple because a run makes thousands of them, and ``time`` is
    worked out when it is read."""

    day: float
    kind: str
    detail: dict[str, Any]
    origin: dt.datetime

    @property
    def time(self) -> dt.datetime:
        return to_datetime(self.origin, self.day)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "time": self.time, "kind": self.kind, "detail": self.detail}


@dataclass(slots=True)
class AlarmRecord:
    """An alarm condition from ``on_day`` until ``off_day`` (``None``: still on at the end)."""

    name: str
    severity: Severity
    on_day: float
    on_time: dt.datetime
    repeat_days: float | None
    off_day: float | None = None
    off_time: dt.datetime | None = None

    def soundings(self, end_day: float) -> int:
        """How many times the alarm tone sounds until it is cleared (or ``end_day``)."""
        if self.repeat_days is None:
            return 1
        until = self.off_day if self.off_day is not None else end_day
        return 1 + math.floor(max(0.0, until - self.on_day) / self.repeat_days + 1e-9)


class PtmPress(NamedTuple):
    """A press on the patient therapy manager at ``day`` and the pump's decision."""

    day: float
    decision: str
    origin: dt.datetime

    @property
    def time(self) -> dt.datetime:
        return to_datetime(self.origin, self.day)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "time": self.time, "decision": self.decision}


@dataclass(eq=False)
class PressLog:
    """The PTM log as the engine writes it, like the therapy manager's own: the time of each
    press (days since the origin) and the pump's decision, in time order. ``records()``
    builds the ``PtmPress`` records when first read (a run makes no object per press)."""

    origin: dt.datetime
    days: list[float] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    _records: list[PtmPress] | None = field(default=None, repr=False)

    def records(self) -> list[PtmPress]:
        """Every press, in time order."""
        if self._records is None or len(self._records) != len(self.days):
            origin = self.origin
            self._records = [
                PtmPress(day, decision, origin)
                for day, decision in zip(self.days, self.decisions, strict=True)
            ]
        return self._records


@dataclass(frozen=True, slots=True)
class RefillRecord:
    """A refill: what the pump calculated, what the programmer expected to come out, what came
    out, what went in (mL), and the verdict on the discrepancy (``pumpsim.models.refill``)."""

    day: float
    time: dt.datetime
    calculated_ml: float
    """Calculated reservoir volume just before the refill (what the pump believes it holds)."""
    expected_withdrawable_ml: float
    """What should come out (mL): the calculated volume plus the residual left uncounted at the
    previous refill, minus the non-retrievable residual."""
    withdrawn_ml: float
    discrepancy_ml: float
    """``withdrawn - expected_withdrawable``: negative means less came out than expected."""
    fill_ml: float
    entered_ml: float
    pocket_fill: bool
    programmed_since_last_ml: float
    """Volume the pump believes it delivered since the previous fill (for calibration)."""
    verdict: RefillVerdict
    """Level (ok / review / investigate), likely cause and explanation of the discrepancy."""
    previous_fill_ml: float | None = None
    """Volume entered at the previous fill (the initial state's calculated volume for the first
    refill of a run)."""


@dataclass(frozen=True, slots=True)
class FillRecord:
    """A fill and the stability clock it starts: its fluid may stay in the pump until
    ``stability_limit`` (the shortest stability of its drugs, first-fill limit for a new pump).

    The first record is the fill the run starts with (``state.fill_time``). A pocket fill never
    reaches the reservoir (``in_reservoir`` false): the fluid there keeps the earlier clock."""

    time: dt.datetime
    fluid: str
    first_fill: bool
    stability_days: float
    stability_limit: dt.datetime
    in_reservoir: bool = True


@dataclass(slots=True)
class DaySummary:
    """One pump-clock calendar day: volume and drug mass at the catheter tip, PTM use, gaps."""

    date: dt.date
    delivered_ml: float = 0.0
    basal_ml: float = 0.0
    bolus_ml: float = 0.0
    dose_mg: dict[str, float] = field(default_factory=dict)
    bolus_dose_mg: dict[str, float] = field(default_factory=dict)
    ptm_granted: int = 0
    ptm_denied: int = 0
    no_therapy_days: float = 0.0


DoseColumns = list[tuple[str, list[float], list[float], list[bool]]]
"""Per drug of a batch of days: (name, dose per day, bolus dose per day, present on the day)."""


@dataclass(eq=False)
class DayTable:
    """The daily records, kept as the engine books them and built when first read.

    Each batch of stretches adds its days' totals in day order (``add``; its first day may be
    the one the batch before ended in), the PTM log adds each day's presses (``add_presses``),
    and ``records()`` replays them into ``DaySummary`` records, the same sums in the same
    order. Like ``SampleTable`` joining its chunks, a run nobody reads day by day does not pay
    for a Python object per day."""

    first: dt.date
    _batches: list[tuple[list[int], list[float], list[float], list[float], DoseColumns]] = field(
        default_factory=list, repr=False
    )
    _presses: tuple[list[int], list[int], list[int]] | None = field(default=None, repr=False)
    _records: list[DaySummary] | None = field(default=None, repr=False)

    def add(
        self,
        indices: list[int],
        delivered_ml: list[float],
        bolus_ml: list[float],
        no_therapy_days: list[float],
        dose: DoseColumns,
    ) -> None:
        """Book a batch: for each day index (days since the first), the volume at the tip, its
        bolus part and the time without therapy; and each drug's dose (``DoseColumns``)."""
        self._batches.append((indices, delivered_ml, bolus_ml, no_therapy_days, dose))
        self._records = None

    def add_presses(self, indices: list[int], pressed: list[int], granted: list[int]) -> None:
        """Book the PTM presses and grants of each day index that had any."""
        self._presses = (indices, pressed, granted)
        self._records = None

    def records(self) -> list[DaySummary]:
        """One ``DaySummary`` per pump-clock calendar day, in date order."""
        if self._records is None:
            self._records = self._build()
        return self._records

    def _build(self) -> list[DaySummary]:
        days: list[DaySummary] = []
        first, fromordinal = self.first.toordinal(), dt.date.fromordinal
        for indices, delivered, bolus, gaps, dose in self._batches:
            dose_days, bolus_days = _day_doses(dose, len(indices))
            for index, deliv, bol, gap, dose_mg, bolus_dose_mg in zip(
                indices, delivered, bolus, gaps, dose_days, bolus_days, strict=True
            ):
                if index == len(days):  # a new day: the usual case
                    days.append(
                        DaySummary(
                            fromordinal(first + index),
                            deliv,
                            deliv - bol,
                            bol,
                            dose_mg,
                            bolus_dose_mg,
                            no_therapy_days=gap,
                        )
                    )
                    continue
                record = self._day(days, index)  # a day that began in the batch before
                record.delivered_ml += deliv
                record.bolus_ml += bol
                record.basal_ml += deliv - bol
                record.no_therapy_days += gap
                for name, mg in dose_mg.items():
                    record.dose_mg[name] = record.dose_mg.get(name, 0.0) + mg
                for name, mg in bolus_dose_mg.items():
                    record.bolus_dose_mg[name] = record.bolus_dose_mg.get(name, 0.0) + mg
        if self._presses is not None:
            for index, n_pressed, n_granted in zip(*self._presses, strict=True):
                record = self._day(days, index)
                record.ptm_granted += n_granted
                record.ptm_denied += n_pressed - n_granted
        return days

    def _day(self, days: list[DaySummary], index: int) -> DaySummary:
        """The record of day ``index``, creating it and any day before it still missing."""
        first = self.first.toordinal()
        while len(days) <= index:
            days.append(DaySummary(date=dt.date.fromordinal(first + len(days))))
        return days[index]


def _day_doses(
    dose: DoseColumns, n_days: int
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Per day: the dose and the bolus dose of each drug present (mg), keyed in drug order."""
    if not dose:
        return [{} for _ in range(n_days)], [{} for _ in range(n_days)]
    name, total, bolus_total, present = dose[0]
    dose_days = [{name: mg} if here else {} for mg, here in zip(total, present, strict=True)]
    bolus_days = [
        {name: mg} if here and mg > 0 else {} for mg, here in zip(bolus_total, present, strict=True)
    ]
    for name, total, bolus_total, present in dose[1:]:
        for day_dose, day_bolus, mg, bolus_mg, here in zip(
            dose_days, bolus_days, total, bolus_total, present, strict=True
        ):
            if here:
                day_dose[name] = mg
                if bolus_mg > 0:
                    day_bolus[name] = bolus_mg
    return dose_days, bolus_days


@dataclass(eq=False)
class SampleTable:
    """Calculated and actual reservoir volume (mL) sampled every ``interval_days``.

    NumPy arrays, appended in chunks by the engine and joined when first read."""

    interval_days: float
    _chunks: list[tuple[FloatArray, FloatArray, FloatArray]] = field(
        default_factory=list, repr=False
    )
    _joined: tuple[FloatArray, FloatArray, FloatArray] | None = field(default=None, repr=False)

    def append(
        self, day: npt.ArrayLike, calculated_ml: npt.ArrayLike, actual_ml: npt.ArrayLike
    ) -> None:
        """Add samples at ``day`` (days since origin, after those held)."""
        self._chunks.append(
            (np.asarray(day, float), np.asarray(calculated_ml, float), np.asarray(actual_ml, float))
        )
        self._joined = None

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(day, calculated_ml, actual_ml)``."""
        if self._joined is None:
            if self._chunks:
                day, calc, actual = (np.concatenate(c) for c in zip(*self._chunks, strict=True))
            else:
                day = calc = actual = np.empty(0)
            self._joined = (day, calc, actual)
            self._chunks = [self._joined]
        return self._joined

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleTable):
            return NotImplemented
        return self.interval_days == other.interval_days and all(
            np.array_equal(a, b) for a, b in zip(self.arrays(), other.arrays(), strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def day(self) -> FloatArray:
        return self.arrays()[0]

    @property
    def calculated_ml(self) -> FloatArray:
        return self.arrays()[1]

    @property
    def actual_ml(self) -> FloatArray:
        return self.arrays()[2]


@dataclass(frozen=True)
class Balance:
    """Where every mL and mg put into the system went (for the conservation invariant)."""

    put_in_ml: float
    delivered_ml: float
    reservoir_ml: float
    dead_volume_ml: float
    withdrawn_ml: float
    leaked_ml: float
    pocket_ml: float
    flushed_ml: float
    put_in_mg: dict[str, float]
    delivered_mg: dict[str, float]
    reservoir_mg: dict[str, float]
    dead_volume_mg: dict[str, float]
    withdrawn_mg: dict[str, float]
    leaked_mg: dict[str, float]
    pocket_mg: dict[str, float]
    flushed_mg: dict[str, float]


@dataclass
class Trace:
    """Everything one simulated run produced."""

    patient_id: str
    origin: dt.datetime
    end_day: float
    seed: int | None
    delivery_factor: float
    events: list[Event] = field(default_factory=list)
    alarms: list[AlarmRecord] = field(default_factory=list)
    refills: list[RefillRecord] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    samples: SampleTable = field(default_factory=lambda: SampleTable(1 / 24))
    balance: Balance | None = None
    drug_units: dict[str, str] = field(default_factory=dict)
    days: DayTable = field(init=False, repr=False)
    """The daily records as booked (``daily`` reads them)."""
    presses: PressLog = field(init=False, repr=False)
    """The PTM log as written (``ptm_presses`` reads it)."""

    def __post_init__(self) -> None:
        self.days = DayTable(self.origin.date())
        self.presses = PressLog(self.origin)

    @property
    def ptm_presses(self) -> list[PtmPress]:
        """Every PTM press and the pump's decision, in time order."""
        return self.presses.records()

    @property
    def daily(self) -> list[DaySummary]:
        """One record per pump-clock calendar day of the run, in date order."""
        return self.days.records()

    # ------------------------------------------------------------ queries
    def first_alarm(self, name: str) -> AlarmRecord | None:
        """The first alarm called ``name``, or ``None``."""
        return next((a for a in self.alarms if a.name == name), None)

    def first_event(self, kind: str) -> Event | None:
        return next((e for e in self.events if e.kind == kind), None)

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def day_summary(self, date: dt.date) -> DaySummary | None:
        return next((d for d in self.daily if d.date == date), None)

    def complete_days(self) -> list[DaySummary]:
        """The pump-clock calendar days entirely inside the run: the days that daily means are
        taken over (a partial first or last day would bias them). A run that starts at midnight
        keeps its first day."""
        start = self.origin
        end = to_datetime(start, self.end_day)
        one_day = dt.timedelta(days=1)
        return [
            d
            for d in self.daily
            if start <= (midnight := dt.datetime.combine(d.date, dt.time()))
            and midnight + one_day <= end
        ]

    def current_fill(self, day: float | None = None) -> FillRecord | None:
        """The fill whose fluid is in the reservoir at ``day`` (default: the end of the run):
        the latest fill up to then that reached the reservoir. Its ``stability_limit`` is the
        stability clock a forecast or plan made from that moment must respect."""
        until = to_datetime(self.origin, self.end_day if day is None else day)
        held = [f for f in self.fills if f.in_reservoir and f.time <= until]
        return held[-1] if held else None

    def no_therapy_days(self) -> float:
        """Total time (days) the patient received no drug while the program asked for some."""
        return sum(d.no_therapy_days for d in self.daily)

    # ------------------------------------------------------------ export
    def unit_of(self, drug: str) -> str:
        """The unit ``drug``'s masses are written in (``mg`` or ``mcg``; ``mg`` if unknown)."""
        return self.drug_units.get(drug, "mg")

    def masses(self, mass_mg: dict[str, float]) -> dict[str, float]:
        """Drug masses held in mg, keyed ``DRUG_UNIT`` in each drug's own unit
        (``{"ziconotide_mcg": 2.4}``): how every export writes a mass."""
        return {
            f"{name}_{self.unit_of(name)}": mass_in_unit(mg, self.unit_of(name))
            for name, mg in mass_mg.items()
        }

    def exported_detail(self, detail: dict[str, Any]) -> dict[str, Any]:
        """An event's detail as exported: a ``dose_mg`` mapping becomes ``dose`` in each drug's
        unit; every other value keeps its (unit-named) key."""
        out = dict(detail)
        dose = out.pop("dose_mg", None)
        if isinstance(dose, dict):
            out["dose"] = self.masses(dose)
        elif dose is not None:
            out["dose_mg"] = dose
        return out

    def _day_export(self, day: DaySummary) -> dict[str, Any]:
        data = asdict(day)
        data.pop("dose_mg"), data.pop("bolus_dose_mg")
        data["dose"] = self.masses(day.dose_mg)
        data["bolus_dose"] = self.masses(day.bolus_dose_mg)
        return data

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (datetimes as ISO-8601 strings). Every field names its unit;
        drug masses are keyed ``DRUG_UNIT`` in the drug's own unit (mg, or mcg for ziconotide,
        clonidine, baclofen, fentanyl)."""
        events = [{**e.as_dict(), "detail": self.exported_detail(e.detail)} for e in self.events]
        data: dict[str, Any] = _jsonable(
            {
                "patient_id": self.patient_id,
                "origin": self.origin,
                "end_day": self.end_day,
                "seed": self.seed,
                "delivery_factor": self.delivery_factor,
                "drug_units": dict(self.drug_units),
                "alarms": [asdict(a) for a in self.alarms],
                "refills": [asdict(r) for r in self.refills],
                "fills": [asdict(f) for f in self.fills],
                "events": events,
                "ptm_presses": [p.as_dict() for p in self.ptm_presses],
                "daily": [self._day_export(d) for d in self.daily],
                "samples": {
                    "interval_days": self.samples.interval_days,
                    "day": self.samples.day.tolist(),
                    "calculated_ml": self.samples.calculated_ml.tolist(),
                    "actual_ml": self.samples.actual_ml.tolist(),
                },
            }
        )
        return data

    def to_json(self, path: Path | str) -> None:
        """Write the whole trace as JSON (atomically)."""
        write_text_atomic(Path(path), dumps(self.to_dict(), indent=1))

    def events_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["time", "day", "kind", "detail"])
        for e in self.events:
            writer.writerow(
                safe_row(
                    [
                        e.time.isoformat(),
                        f"{e.day:.6f}",
                        e.kind,
                        json.dumps(_jsonable(self.exported_detail(e.detail))),
                    ]
                )
            )
        return buf.getvalue()

    def ptm_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["time", "day", "decision"])
        for p in self.ptm_presses:
            writer.writerow(safe_row([p.time.isoformat(), f"{p.day:.6f}", p.decision]))
        return buf.getvalue()

    def timeline_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["time", "day", "calculated_ml", "actual_ml"])
        days, calc, actual = (column.tolist() for column in self.samples.arrays())
        for d, c, a in zip(days, calc, actual, strict=True):
            when = to_datetime(self.origin, d)
            writer.writerow([when.isoformat(), f"{d:.6f}", f"{c:.9f}", f"{a:.9f}"])
        return buf.getvalue()

    DAILY_COLUMNS = (
        "date",
        "drug",
        "unit",
        "dose",
        "bolus_dose",
        "delivered_ml",
        "basal_ml",
        "bolus_ml",
        "ptm_granted",
        "ptm_denied",
        "no_therapy_h",
    )
    """The daily CSV's fixed columns (a long format: one row per day and drug, the dose in the
    drug's ``unit`` per day; the day's volume, PTM and no-therapy columns repeat on each of its
    drug rows)."""

    def daily_csv(self) -> str:
        """The daily summary as CSV with ``DAILY_COLUMNS``, whatever the drugs."""
        drugs = sorted({n for d in self.daily for n in d.dose_mg})
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(self.DAILY_COLUMNS)
        for d in self.daily:
            totals = [
                f"{d.delivered_ml:.6f}",
                f"{d.basal_ml:.6f}",
                f"{d.bolus_ml:.6f}",
                d.ptm_granted,
                d.ptm_denied,
                f"{d.no_therapy_days * 24:.3f}",
            ]
            for n in drugs:
                unit = self.unit_of(n)
                dose = mass_in_unit(d.dose_mg.get(n, 0.0), unit)
                bolus = mass_in_unit(d.bolus_dose_mg.get(n, 0.0), unit)
                writer.writerow(
                    safe_row([d.date.isoformat(), n, unit, f"{dose:.6f}", f"{bolus:.6f}", *totals])
                )
        return buf.getvalue()

    def to_csv(
        self, path: Path | str, table: Literal["events", "ptm", "timeline", "daily"] = "events"
    ) -> None:
        """Write one table as CSV (atomically): the pump's event log, the PTM log (every press
        and the pump's decision), the sampled volumes or the daily summary."""
        text = {
            "events": self.events_csv,
            "ptm": self.ptm_csv,
            "timeline": self.timeline_csv,
            "daily": self.daily_csv,
        }[table]()
        write_text_atomic(Path(path), text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return value
