"""What a refill sheet says: the verdict on each visit's discrepancy and the pump's delivery
factor calibrated from them.

Each visit after the first is replayed as the pump's programmer sees it. Between visit ``k-1``
and visit ``k`` the pump counts ``programmed_ml`` (the program in effect: the sheet's last
``program`` cell, else the profile's program, over the interval). Its calculated volume at visit
``k`` is ``filled[k-1] - programmed_ml`` (at least 0), and it expects to withdraw that plus the
residual left uncounted at the previous fill minus the non-retrievable residual, as the engine
does (``docs/model.md`` §2). *Assumption:* at the sheet's first visit the reservoir held at least
the non-retrievable residual, so the residual left then is the whole residual.

The verdict is :func:`pumpsim.models.refill.judge_refill`, with the therapy's thresholds. The
calibration is :func:`pumpsim.forecast.calibration.estimate_delivery_factor` over the visits that
carry information: nothing withdrawn is censored (``observations_from_refills``), an interval in
which the pump's count reached 0 is left out, and so is a visit judged ``investigate`` (a
discrepancy to explain — occlusion, pocket fill, leak — is not a delivery factor). Visits after
the pump state are not used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pumpsim.core.clock import to_days
from pumpsim.core.errors import SimulationError
from pumpsim.forecast.calibration import (
    DeliveryFactorEstimate,
    estimate_delivery_factor,
    observations_from_refills,
)
from pumpsim.io.refill_sheet import RefillSheet, SheetVisit, read_refill_sheet
from pumpsim.io.roster import RosterEntry
from pumpsim.models import Therapy
from pumpsim.models.refill import RefillVerdict, judge_refill
from pumpsim.schedule.segments import dose_to_volume_ml, programmed_volume_ml

__all__ = [
    "SheetCalibration",
    "VisitRecord",
    "calibrate_from_sheet",
    "judge_visits",
    "read_sheet_calibration",
    "roster_calibration",
]

INTERVAL_LEVEL = 0.95
"""The credible interval reported with the calibrated factor."""


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """One visit of a refill sheet as the programmer sees it (mL) and the verdict on it."""

    row: int
    time: dt.datetime
    calculated_ml: float
    expected_withdrawable_ml: float
    withdrawn_ml: float
    discrepancy_ml: float
    filled_ml: float
    programmed_since_last_ml: float
    verdict: RefillVerdict
    ran_empty: bool
    """The pump's count reached 0 before the visit (the interval tells no factor)."""
    pocket_fill: bool = False
    """A sheet cannot know; the verdict says when one is suspected."""

    @property
    def calibrates(self) -> bool:
        """Whether this visit enters the delivery-factor estimate."""
        return not self.ran_empty and self.verdict.level != "investigate" and self.withdrawn_ml > 0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "time": self.time.isoformat(),
            "calculated_ml": round(self.calculated_ml, 6),
            "expected_withdrawable_ml": round(self.expected_withdrawable_ml, 6),
            "withdrawn_ml": round(self.withdrawn_ml, 6),
            "discrepancy_ml": round(self.discrepancy_ml, 6),
            "programmed_since_last_ml": round(self.programmed_since_last_ml, 6),
            "verdict": self.verdict.level,
            "cause": self.verdict.cause,
            "explanation": self.verdict.explanation,
            "used_for_calibration": self.calibrates,
        }


@dataclass(frozen=True, slots=True)
class SheetCalibration:
    """The judged visits of a refill sheet and the delivery factor calibrated from them."""

    source: str
    visits: tuple[VisitRecord, ...]
    estimate: DeliveryFactorEstimate
    ignored: int
    """Visits after the pump state (not used)."""

    @property
    def used(self) -> int:
        """Visits that entered the estimate."""
        return self.estimate.refills

    def interval(self) -> tuple[float, float]:
        return self.estimate.interval(INTERVAL_LEVEL)

    def to_json_dict(self) -> dict[str, Any]:
        """Fields a forecast's JSON object gains when it is calibrated from a refill sheet."""
        lo, hi = self.interval()
        return {
            "delivery_factor_interval": [round(lo, 6), round(hi, 6)],
            "delivery_factor_interval_level": INTERVAL_LEVEL,
            "delivery_factor_sd": round(self.estimate.sd, 6),
            "delivery_factor_visits": self.used,
            "refill_sheet": self.source,
            "refill_visits": [v.to_json_dict() for v in self.visits],
        }


def judge_visits(therapy: Therapy, visits: tuple[SheetVisit, ...]) -> list[VisitRecord]:
    """Each visit after the first (in time order) replayed and judged; see the module doc."""
    residual = therapy.pump.nonretrievable_residual_ml
    thresholds = therapy.discrepancy_thresholds
    records: list[VisitRecord] = []
    uncounted = residual
    for before, visit in zip(visits, visits[1:], strict=False):
        programmed = _programmed_ml(therapy, visits, before, visit)
        calculated = max(0.0, before.filled_ml - programmed)
        believed = calculated + uncounted
        expected = max(0.0, believed - residual)
        verdict = judge_refill(
            expected_withdrawable_ml=expected,
            withdrawn_ml=visit.withdrawn_ml,
            programmed_ml=programmed,
            previous_fill_ml=before.filled_ml,
            thresholds=thresholds,
        )
        records.append(
            VisitRecord(
                row=visit.row,
                time=visit.time,
                calculated_ml=calculated,
                expected_withdrawable_ml=expected,
                withdrawn_ml=visit.withdrawn_ml,
                discrepancy_ml=verdict.discrepancy_ml,
                filled_ml=visit.filled_ml,
                programmed_since_last_ml=programmed,
                verdict=verdict,
                ran_empty=before.filled_ml - programmed < 0,
            )
        )
        uncounted = min(believed, residual)
    return records


def _programmed_ml(
    therapy: Therapy, visits: tuple[SheetVisit, ...], before: SheetVisit, visit: SheetVisit
) -> float:
    """Volume the pump counted from ``before`` to ``visit``: the sheet's latest program up to
    ``before`` (a dose rate through the latest concentration), else the profile's program."""
    days = to_days(before.time, visit.time)
    earlier = [v for v in visits if v.time <= before.time]
    rate = next((v.program for v in reversed(earlier) if v.program is not None), None)
    if rate is None:
        shifted = therapy.state.model_copy(update={"time": before.time})
        return programmed_volume_ml(therapy.model_copy(update={"state": shifted}), days)
    kind, value = rate
    if kind == "volume":
        return value * days
    concentration = next(
        (v.concentration_mg_per_ml for v in reversed(earlier) if v.concentration_mg_per_ml),
        therapy.infusate.primary.concentration_mg_per_ml,
    )
    return dose_to_volume_ml(value, concentration) * days


def calibrate_from_sheet(therapy: Therapy, sheet: RefillSheet) -> SheetCalibration:
    """Judge the sheet's visits up to the pump state (a visit at the state is the refill the
    state starts from) and calibrate the delivery factor."""
    state_time = therapy.state.time
    before = tuple(v for v in sheet.visits if v.time <= state_time)
    records = judge_visits(therapy, before)
    observations = observations_from_refills(r for r in records if r.calibrates)
    return SheetCalibration(
        source=sheet.source,
        visits=tuple(records),
        estimate=estimate_delivery_factor(observations, therapy.pump),
        ignored=len(sheet.visits) - len(before),
    )


def read_sheet_calibration(therapy: Therapy, path: Path | str) -> SheetCalibration:
    """:func:`calibrate_from_sheet` of the refill sheet at ``path`` (a bad file is a
    ``ProfileError``; a sheet without two visits before the pump state a ``SimulationError``)."""
    sheet = read_refill_sheet(path)
    result = calibrate_from_sheet(therapy, sheet)
    if not result.visits:
        raise SimulationError(
            f"{sheet.source}: at least two visits up to the pump state "
            f"{therapy.state.time.isoformat()} are needed to judge a refill"
        )
    return result


def roster_calibration(entry: RosterEntry) -> SheetCalibration | None:
    """The calibration from a roster patient's refill sheet (``None`` without one): the hook
    for the clinic planner, whose forecast then takes ``delivery_factor=result.estimate``."""
    if entry.refill_sheet is None:
        return None
    return read_sheet_calibration(entry.therapy, entry.refill_sheet)
