"""Generate a fictional clinic roster CSV (deterministic for a seed).

    python benchmarks/make_roster.py --patients 1000 --seed 1 --out profiles/rosters/clinic-1000.csv

Patients get a catalog pump, a drug at a labelled/typical concentration, a daily dose in the
usual range for that drug, sometimes a patient bolus (PTM), sometimes allowed weekdays, one of
four nurses at two locations, and a last refill spread over the refill interval before
``--reference`` so that refills fall due evenly over the following weeks.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pumpsim.core.atomic import write_text_atomic  # noqa: E402
from pumpsim.io.roster import COLUMNS  # noqa: E402

# (drug key, concentration text, mg/mL, dose range in mg/day, dose unit, stability days)
_DRUGS = [
    ("morphine", "25 mg/mL", 25.0, (1.0, 10.0), "mg", 90),
    ("morphine", "10 mg/mL", 10.0, (0.5, 4.0), "mg", 90),
    ("hydromorphone", "10 mg/mL", 10.0, (0.5, 4.0), "mg", 90),
    ("baclofen", "2000 mcg/mL", 2.0, (0.1, 0.8), "mcg", 180),
    ("baclofen", "500 mcg/mL", 0.5, (0.05, 0.25), "mcg", 180),
    ("ziconotide", "100 mcg/mL", 0.1, (0.0024, 0.0096), "mcg", 84),
    ("fentanyl", "1000 mcg/mL", 1.0, (0.1, 0.5), "mcg", 90),
]
_MIX = {"hydromorphone": "bupivacaine 15 mg/mL", "morphine": "clonidine 100 mcg/mL"}
_PUMPS = [
    ("synchromed-ii-20", 20.0, 2.0, 0.25),
    ("synchromed-ii-40", 40.0, 2.0, 0.25),
    ("prometra-ii-20", 20.0, 3.0, 0.23),
    ("prometra-ii-40", 40.0, 3.0, 0.23),
]
_NURSES = [("Nurse A", "North"), ("Nurse B", "North"), ("Nurse C", "South"), ("Nurse D", "South")]
_WEEKDAYS = ["mon,wed", "tue,thu", "fri", "mon-thu", "wed"]


def make_rows(patients: int, seed: int, reference: dt.date) -> list[dict[str, str]]:
    """``patients`` roster rows; the same seed always gives the same rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(patients):
        drug, conc_text, conc, (lo, hi), unit, stability = _DRUGS[rng.integers(len(_DRUGS))]
        pump, reservoir, alarm, catheter = _PUMPS[rng.integers(len(_PUMPS))]
        dose_mg = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        rate_ml = max(dose_mg / conc, 0.06)
        dose_mg = rate_ml * conc
        drugs = conc_text
        if drug in _MIX and rng.random() < 0.3:
            drugs = f"{conc_text} + {_MIX[drug]}"
        drugs = f"{drug} {drugs}"
        interval = min(stability, (reservoir - alarm) / rate_ml)
        since = float(rng.uniform(0.0, 0.85 * interval))
        last = dt.datetime.combine(reference, dt.time(9, 0)) - dt.timedelta(
            days=round(since), minutes=30 * int(rng.integers(0, 14))
        )
        dose = f"{dose_mg * 1000:.0f} mcg/day" if unit == "mcg" else f"{dose_mg:.2f} mg/day"
        nurse, location = _NURSES[rng.integers(len(_NURSES))]
        row = dict.fromkeys(COLUMNS, "")
        row.update(
            patient_id=f"P{i + 1:04d}",
            pump=pump,
            drugs=drugs,
            catheter_volume=f"{catheter} mL",
            last_refill=last.isoformat(timespec="minutes"),
            fill_volume=f"{reservoir:g} mL",
            daily_rate=dose,
            nurse=nurse,
            location=location,
        )
        if drug in ("morphine", "hydromorphone", "fentanyl") and rng.random() < 0.4:
            row.update(
                ptm_bolus=f"{0.05 * conc:.3g} mg",
                ptm_duration="10 min",
                ptm_lockout="4 h",
                ptm_max_per_day="4",
                ptm_presses_per_day=f"{rng.uniform(0.5, 3.0):.1f}",
            )
        if rng.random() < 0.15:
            row["allowed_weekdays"] = _WEEKDAYS[rng.integers(len(_WEEKDAYS))]
        rows.append(row)
    return rows


def roster_csv(rows: list[dict[str, str]]) -> str:
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference", type=dt.date.fromisoformat, default=dt.date(2026, 3, 9))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write_text_atomic(args.out, roster_csv(make_rows(args.patients, args.seed, args.reference)))


if __name__ == "__main__":
    main()
