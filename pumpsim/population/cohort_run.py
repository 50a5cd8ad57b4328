"""A cohort run as the CLI and the report see it: what was asked (``CohortRequest``: the cohort,
the seed, an optional cost preset and its PSA draws) and what came out (``CohortRun``: the
merged integer tally, its outcome summary with 95 % intervals, the economic result).

``CohortRun.to_json_dict`` is the ``pumpsim cohort run --json`` document (schema in
``pumpsim.cli.schemas``): the cohort, the outcomes, the economics and the raw tally. It holds
nothing about how the run was spread (workers, scheduler, block size), so the same cohort and
seed give byte-identical JSON on one process, many, or a Dask cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pumpsim.core.errors import Problem, ProfileError, clip
from pumpsim.core.jsonout import dumps
from pumpsim.population.outcome import (
    EVENT_KINDS,
    MONTHLY,
    PER_PATIENT,
    REFILL_BURDEN_EDGES,
    CohortTally,
)
from pumpsim.population.runner import DEFAULT_BLOCK_SIZE, ProgressCallback, run_cohort
from pumpsim.population.summary import CohortSummary, Estimate, summarize_tally

if TYPE_CHECKING:
    from pumpsim.models.cohort import CohortSpec
    from pumpsim.models.economics import CostPreset
    from pumpsim.population.economics import EconomicResult

__all__ = [
    "CohortRequest",
    "CohortRun",
    "cohort_path",
    "run_request",
    "shipped_cohorts",
    "tally_json",
]


def shipped_cohorts() -> dict[str, Path]:
    """The cohort presets shipped with pumpsim, by name (the file stem)."""
    from pumpsim.io.profiles import shipped

    return {p.stem: p for p in shipped("cohorts") if p.suffix in (".yaml", ".yml")}


def cohort_path(name_or_path: str | Path) -> Path:
    """A cohort file: ``name_or_path`` itself if it is a file, else the shipped preset of that
    name; a ``ProfileError`` names the shipped ones otherwise."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    presets = shipped_cohorts()
    if str(name_or_path) in presets:
        return presets[str(name_or_path)]
    raise ProfileError(
        clip(str(name_or_path), 200),
        [Problem("cohort", str(name_or_path), f"a file or one of {', '.join(sorted(presets))}")],
    )


@dataclass(frozen=True)
class CohortRequest:
    """A validated run: the cohort, the seed and (optionally) the cost preset with its PSA."""

    spec: CohortSpec
    seed: int
    preset: CostPreset | None = None
    costs_name: str | None = None
    psa_draws: int = 0

    @classmethod
    def load(
        cls, cohort: str | Path, *, seed: int, costs: str | None = None, psa_draws: int = 0
    ) -> CohortRequest:
        """Read and validate the cohort and the cost preset (both before any simulation, so a
        bad file fails at once)."""
        from pumpsim.io.cohort import load_cohort

        spec = load_cohort(cohort_path(cohort))
        preset = None
        if costs is not None:
            from pumpsim.io.economics import load_cost_preset

            preset = load_cost_preset(costs)
        name = None if costs is None else Path(costs).stem
        return cls(spec, seed, preset, name, psa_draws)


def run_request(
    request: CohortRequest,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: ProgressCallback | None = None,
) -> CohortRun:
    """Simulate the request's cohort (``run_cohort``) and evaluate it."""
    tally = run_cohort(
        request.spec,
        request.seed,
        workers=workers,
        scheduler=scheduler,
        block_size=block_size,
        progress=progress,
    )
    return evaluate_run(request, tally)


def evaluate_run(request: CohortRequest, tally: CohortTally) -> CohortRun:
    """The outcome summary and, with a preset, the economics of ``tally``."""
    economics = None
    if request.preset is not None:
        from pumpsim.population.economics import evaluate

        economics = evaluate(tally, request.preset, psa_draws=request.psa_draws, seed=request.seed)
    return CohortRun(request, tally, summarize_tally(tally), economics)


def tally_json(tally: CohortTally) -> dict[str, Any]:
    """The tally as plain JSON data (integers only)."""
    return {
        "months": tally.months,
        "patients": tally.patients,
        "monthly": {name: [int(v) for v in tally.monthly[name]] for name in MONTHLY},
        "events": {kind: [int(v) for v in tally.events[kind]] for kind in EVENT_KINDS},
        "patient_sum": {name: int(tally.patient_sum[name]) for name in PER_PATIENT},
        "patient_sumsq": {name: int(tally.patient_sumsq[name]) for name in PER_PATIENT},
        "patient_cross": {name: int(tally.patient_cross.get(name, 0)) for name in PER_PATIENT},
        "refill_burden_edges": list(REFILL_BURDEN_EDGES),
        "refill_burden": [int(v) for v in tally.refill_burden],
    }


@dataclass(frozen=True)
class CohortRun:
    """What a cohort run gives: the request, the merged tally, its outcome summary
    (``population.summary``) and the economics (with a preset)."""

    request: CohortRequest
    tally: CohortTally
    summary: CohortSummary
    economics: EconomicResult | None

    @property
    def spec(self) -> CohortSpec:
        return self.request.spec

    @property
    def seed(self) -> int:
        return self.request.seed

    @property
    def costs_name(self) -> str | None:
        return self.request.costs_name

    def to_json_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "cohort": spec.name,
            "indication": spec.indication,
            "seed": self.seed,
            "patients": spec.patients,
            "years": spec.years,
            "months": spec.months,
            "outcomes": self.summary.to_json_dict(),
            "costs": self.costs_name,
            "economics": None if self.economics is None else self.economics.to_json_dict(),
            "tally": tally_json(self.tally),
        }

    def json_text(self) -> str:
        """The versioned JSON document (``core.jsonout``), one line per top-level field."""
        return dumps(self.to_json_dict(), indent=1) + "\n"

    def outcome_rows(self) -> list[tuple[str, str, str]]:
        """Label, value and 95 % interval of each headline outcome of the summary."""
        s = self.summary
        rate = s.per_patient_year
        rows = [
            ("refill visits per patient-year alive", rate["refill_visits"], 2),
            ("  of them emergencies (pump ran dry)", rate["emergency_visits"], 2),
            ("low-reservoir alarms per patient-year alive", rate["alarms"], 2),
            ("days without therapy per patient-year alive", rate["gap_days"], 2),
            ("months alive, mean per patient", s.mean_months_alive, 1),
            ("months with therapy, mean per patient", s.mean_months_on_pump, 1),
            ("deaths per 100 patient-years", s.deaths_per_100_patient_years, 1),
            ("missed refill bookings per 100 pump-years", s.no_shows_per_100_pump_years, 1),
        ]
        out = [(label, f"{e.value:.{d}f}", _interval(e, d)) for label, e, d in rows]
        for label, months in (
            ("median months alive", s.median_months_alive),
            ("median months with therapy", s.median_months_on_pump),
        ):
            shown = f"beyond {s.months}" if months is None else f"{months:.1f}"
            out.append((label, shown, "-"))
        return out

    def event_rows(self) -> list[tuple[str, str]]:
        """Each device or clinical event of the summary per 100 pump-years, with its 95 %
        interval."""
        return [
            (kind.replace("_", " "), f"{e.value:.2f} ({_interval(e, 2)})")
            for kind, e in self.summary.events_per_100_pump_years.items()
        ]

    def economics_rows(self) -> list[tuple[str, str]]:
        """Label and value of each headline economic figure (empty without a preset)."""
        e = self.economics
        if e is None:
            return []
        c = e.currency
        rows = [
            ("preset", e.title),
            ("prices", f"{c} {e.price_year}, discounted {e.discount_rate:.1%} a year"),
            ("pump therapy, total per patient", f"{c} {e.pump_total:,.0f}"),
            ("medical management, total per patient", f"{c} {e.cmm_total:,.0f}"),
            ("difference (pump - medical)", f"{c} {e.incremental_cost:+,.0f}"),
            ("crossover month", _crossover(e)),
        ]
        if e.incremental_cost_interval is not None:
            low, high = e.incremental_cost_interval
            rows.append(("difference, 95 % interval", f"{c} {low:+,.0f} to {high:+,.0f}"))
        if e.pump_qalys is not None and e.cmm_qalys is not None:
            rows.append(("QALYs pump / medical", f"{e.pump_qalys:.3f} / {e.cmm_qalys:.3f}"))
            icer = "-" if e.icer is None else f"{c} {e.icer:,.0f} per QALY"
            rows.append(("ICER", icer))
        return rows


def _interval(e: Estimate, digits: int) -> str:
    return f"{e.low:.{digits}f} to {e.high:.{digits}f}"


def _crossover(e: EconomicResult) -> str:
    text = "none within the horizon" if e.crossover_month is None else f"{e.crossover_month}"
    if e.crossover_interval is not None:
        low, high = e.crossover_interval
        lo = f"beyond month {e.months}" if low is None else f"{low}"
        hi = f"beyond month {e.months}" if high is None else f"{high}"
        text += f" (95 % interval {lo} to {hi}, {e.psa_draws} PSA draws)"
    return text
