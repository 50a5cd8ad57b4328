"""Judging a refill, and the stability clock a fill starts: one home for each rule.

**The discrepancy verdict** (``judge_refill``). At a refill the nurse withdraws what is left and
compares it with the withdrawable volume the programmer expects; the pump has no level sensor, so
that comparison is the only check of its calculated volume. ``discrepancy = withdrawn -
expected``. The thresholds are named settings (``DiscrepancyThresholds``, settable per pump and
per profile, ``refill_discrepancy:``); their defaults come from the sources in domain.md
("Accuracy and refill discrepancy"):

* **review** beyond ``review_ml``: 1 mL on a pump of up to 20 mL, 2 mL on a larger one (the
  pocket-fill suspicion thresholds, Medtronic / ISMP 2004);
* **investigate** beyond ``investigate_ml`` (2 mL), or when the discrepancy is a larger share of
  the volume programmed since the last fill than ``investigate_fraction`` (default: the pump's
  rated accuracy, "outside the accuracy spec"). *Assumption:* the share rule applies only beyond
  the review threshold, so a small reading after a short interval is not an investigation.

The likely cause, in words: less withdrawn than expected is **over-infusion** (the low-reservoir
alarm cannot be trusted: it is calculated); nothing withdrawable after a fill is a **suspected
pocket fill**; more withdrawn than expected is **under-infusion or occlusion**.

**The stability clock** (``fill_stability_limit``): every fill may stay in the pump for the
shortest stability of the drugs in it (``Infusate.stability_days``; the first fill of a new pump
has its own, shorter limit for some drugs), counted from the fill time, to the second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from pumpsim.core.clock import to_datetime
from pumpsim.core.units import FRACTION, VOLUME
from pumpsim.models.base import FrozenModel, unit
from pumpsim.models.drug import Infusate

__all__ = [
    "DEFAULT_INVESTIGATE_ML",
    "EMPTY_WITHDRAWAL_ML",
    "LARGE_PUMP_REVIEW_ML",
    "SMALL_PUMP_MAX_ML",
    "SMALL_PUMP_REVIEW_ML",
    "DiscrepancySettings",
    "DiscrepancyThresholds",
    "RefillLevel",
    "RefillVerdict",
    "fill_stability_limit",
    "judge_refill",
    "resolve_thresholds",
]

Volume = Annotated[float, unit(VOLUME)]
Fraction = Annotated[float, unit(FRACTION)]
RefillLevel = Literal["ok", "review", "investigate"]

SMALL_PUMP_MAX_ML = 20.0
"""A reservoir up to this size is a "20 mL pump" for the pocket-fill threshold (domain.md)."""
SMALL_PUMP_REVIEW_ML = 1.0
"""Review beyond 1 mL on a 20 mL pump: pocket-fill suspicion threshold (domain.md, H/M)."""
LARGE_PUMP_REVIEW_ML = 2.0
"""Review beyond 2 mL on a 40 mL pump (domain.md, H/M)."""
DEFAULT_INVESTIGATE_ML = 2.0
"""Investigate a discrepancy beyond 2 mL (domain.md, "Accuracy and refill discrepancy", H/M)."""
EMPTY_WITHDRAWAL_ML = 0.05
"""A withdrawal up to this volume counts as "nothing withdrawable" (assumption: below what a
syringe reading tells from zero)."""

OVER_INFUSION = "over-infusion"
UNDER_INFUSION = "under-infusion or occlusion"
POCKET_FILL = "suspected pocket fill"


class DiscrepancySettings(FrozenModel):
    """Refill-discrepancy thresholds as written on a pump or in a profile; ``None`` takes the
    pump's setting, else the sourced default (see the module docstring)."""

    review_ml: Annotated[Volume | None, Field(alias="review", gt=0)] = None
    investigate_ml: Annotated[Volume | None, Field(alias="investigate", gt=0)] = None
    investigate_fraction: Annotated[Fraction | None, Field(gt=0, lt=1)] = None


class DiscrepancyThresholds(FrozenModel):
    """The thresholds in effect (mL, and a share of the programmed volume)."""

    review_ml: Annotated[float, Field(gt=0)]
    investigate_ml: Annotated[float, Field(gt=0)]
    investigate_fraction: Annotated[float, Field(gt=0, lt=1)]


def resolve_thresholds(
    reservoir_ml: float,
    rated_accuracy: float,
    *layers: DiscrepancySettings | None,
) -> DiscrepancyThresholds:
    """The thresholds in effect: each field from the first layer that sets it (profile before
    pump), else the sourced default for a pump of ``reservoir_ml`` rated at ``rated_accuracy``."""
    review = SMALL_PUMP_REVIEW_ML if reservoir_ml <= SMALL_PUMP_MAX_ML else LARGE_PUMP_REVIEW_ML
    investigate = DEFAULT_INVESTIGATE_ML
    fraction = rated_accuracy if 0 < rated_accuracy < 1 else 0.15
    for layer in reversed([x for x in layers if x is not None]):
        review = layer.review_ml if layer.review_ml is not None else review
        investigate = layer.investigate_ml if layer.investigate_ml is not None else investigate
        if layer.investigate_fraction is not None:
            fraction = layer.investigate_fraction
    return DiscrepancyThresholds(
        review_ml=review, investigate_ml=investigate, investigate_fraction=fraction
    )


@dataclass(frozen=True, slots=True)
class RefillVerdict:
    """What a refill's discrepancy means: a level, the likely cause and why (mL, share)."""

    level: RefillLevel
    cause: str | None
    """``over-infusion``, ``under-infusion or occlusion``, ``suspected pocket fill`` or ``None``."""
    explanation: str
    """The verdict in words, naming the threshold that decided it."""
    discrepancy_ml: float
    """Withdrawn minus expected withdrawable volume (mL)."""
    share_of_programmed: float | None
    """``|discrepancy| / programmed volume since the last fill`` (``None`` without one)."""


def judge_refill(
    *,
    expected_withdrawable_ml: float,
    withdrawn_ml: float,
    programmed_ml: float,
    previous_fill_ml: float | None,
    thresholds: DiscrepancyThresholds,
) -> RefillVerdict:
    """The verdict on one refill: ``ok``, ``review`` or ``investigate`` with a likely cause.

    ``programmed_ml`` is the volume the pump counted as delivered since the previous fill;
    ``previous_fill_ml`` the volume entered at that fill (``None`` if unknown)."""
    discrepancy = withdrawn_ml - expected_withdrawable_ml
    size = abs(discrepancy)
    share = size / programmed_ml if programmed_ml > 0 else None
    if size <= thresholds.review_ml:
        return RefillVerdict(
            "ok",
            None,
            f"{discrepancy:+.2f} mL is within ±{thresholds.review_ml:g} mL: drift, nothing to do",
            discrepancy,
            share,
        )
    if size > thresholds.investigate_ml:
        level: RefillLevel = "investigate"
        rule = f"beyond {thresholds.investigate_ml:g} mL"
    elif share is not None and share > thresholds.investigate_fraction:
        level, rule = (
            "investigate",
            (
                f"{share:.0%} of the {programmed_ml:.2f} mL programmed, beyond "
                f"{thresholds.investigate_fraction:.1%}"
            ),
        )
    else:
        level, rule = "review", f"beyond {thresholds.review_ml:g} mL"
    cause, why = _cause(discrepancy, withdrawn_ml, previous_fill_ml)
    return RefillVerdict(level, cause, f"{discrepancy:+.2f} mL, {rule}: {why}", discrepancy, share)


def _cause(
    discrepancy_ml: float, withdrawn_ml: float, previous_fill_ml: float | None
) -> tuple[str, str]:
    """The likely cause of a discrepancy beyond the review threshold, and what it means."""
    if discrepancy_ml > 0:
        return UNDER_INFUSION, (
            "more came out than expected — the pump delivered less than it counted "
            "(catheter occlusion, pump under-infusion or a stalled motor)"
        )
    if withdrawn_ml <= EMPTY_WITHDRAWAL_ML:
        after = f" the {previous_fill_ml:g} mL fill" if previous_fill_ml else " the last fill"
        return POCKET_FILL, (
            f"nothing could be withdrawn after{after} — the fill may have gone into the pocket "
            "(or the pump over-infused until dry)"
        )
    return OVER_INFUSION, (
        "less came out than expected — the pump delivered more than it counted; the "
        "low-reservoir alarm cannot be trusted because the volume it watches is calculated"
    )


def fill_stability_limit(
    filled_at: dt.datetime, infusate: Infusate, *, first_fill: bool = False
) -> dt.datetime:
    """When a fill of ``infusate`` put in at ``filled_at`` passes its stability limit: the
    shortest stability of its drugs (the first-fill limit for a new pump), to the second."""
    return to_datetime(filled_at, infusate.stability_days(first_fill=first_fill))
