"""Reading a cohort specification (``profiles/cohorts/*.yaml``) into a ``CohortSpec``.

Pump models and drugs are catalog names, resolved like a patient profile's (``pumps[i].pump``
is a key of ``load_catalog().pumps``; ``therapies[i].drugs`` is a profile's ``drugs`` list);
PTM bolus doses are converted through that therapy's primary concentration. Every problem of a
file is reported at once in a ``ProfileError`` naming the file, the field path as written, the
value and what is allowed. The format: docs/cohort.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pumpsim.core.errors import Problem, ProfileError
from pumpsim.core.yamlio import read_yaml
from pumpsim.io.profiles import (
    Catalog,
    _problems,
    _short,
    describe,
    infusate_from_list,
    load_catalog,
)
from pumpsim.models import Infusate, PtmSettings
from pumpsim.models.base import FROM_FILE
from pumpsim.models.cohort import CohortSpec

__all__ = ["cohort_from_dict", "load_cohort"]

_MARKERS = ("patients", "pumps", "therapies")
"""A mapping with none of these keys is not a cohort specification."""


def load_cohort(path: Path | str, catalog: Catalog | None = None) -> CohortSpec:
    """The validated cohort of a YAML file; ``ProfileError`` naming every bad field."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ProfileError(
            str(path), [Problem("(top level)", describe(data), "a mapping of keys to values")]
        )
    return cohort_from_dict(data, str(path), catalog)


def cohort_from_dict(
    data: dict[str, Any], source: str, catalog: Catalog | None = None
) -> CohortSpec:
    """A ``CohortSpec`` from a mapping as a file writes it; ``source`` names it in messages."""
    catalog = catalog or load_catalog()
    if not any(key in data for key in _MARKERS):
        raise ProfileError(
            source,
            [Problem("(top level)", describe(data), "a cohort: patients, pumps, therapies, ...")],
        )
    problems: list[Problem] = []
    body = dict(data)
    body["pumps"] = _pumps(data.get("pumps"), catalog, problems)
    body["therapies"] = _therapies(data.get("therapies"), catalog, source, problems)
    failed = tuple(p.field.split(".")[0] for p in problems)  # e.g. "therapies[1]"
    try:
        spec = CohortSpec.model_validate(body, context=FROM_FILE)
    except ValidationError as exc:
        # an entry whose names did not resolve is reported once, by its own problem
        problems.extend(p for p in _problems(exc) if not _under(p.field, failed))
        spec = None
    if problems or spec is None:
        raise ProfileError(source, _explained(_unique(problems)))
    return spec


def _pumps(raw: Any, catalog: Catalog, problems: list[Problem]) -> Any:
    """``pumps`` with each catalog name replaced by its ``PumpSpec`` (bad names reported)."""
    if not isinstance(raw, list) or not raw:
        return raw  # the model reports it
    out: list[Any] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("pump"), str):
            problems.append(
                Problem(f"pumps[{i}]", _short(item), "{pump: CATALOG_NAME, weight: NUMBER}")
            )
            out.append(item)
            continue
        key = item["pump"]
        if key not in catalog.pumps:
            problems.append(Problem(f"pumps[{i}].pump", key, f"one of {', '.join(catalog.pumps)}"))
            out.append(item)
            continue
        out.append({**item, "pump": catalog.pumps[key]})
    return out


def _therapies(raw: Any, catalog: Catalog, source: str, problems: list[Problem]) -> Any:
    """``therapies`` with each ``drugs`` list resolved to an ``Infusate`` and each ``ptm``
    validated through that infusate's primary concentration."""
    if not isinstance(raw, list) or not raw:
        return raw
    out: list[Any] = []
    for i, item in enumerate(raw):
        where = f"therapies[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(where, _short(item), "a mapping: weight, drugs, daily_dose"))
            out.append(item)
            continue
        entry = {k: v for k, v in item.items() if k != "drugs"}
        infusate = _infusate(item.get("drugs"), catalog, source, f"{where}.drugs", problems)
        if infusate is not None:
            entry["infusate"] = infusate
            if item.get("ptm") is not None:
                entry["ptm"] = _ptm(item["ptm"], infusate, f"{where}.ptm", problems)
        out.append(entry)
    return out


def _infusate(
    raw: Any, catalog: Catalog, source: str, where: str, problems: list[Problem]
) -> Infusate | None:
    try:
        return infusate_from_list(raw, source, catalog, field=where)
    except ProfileError as exc:
        problems.extend(exc.problems)
        return None


def _ptm(raw: Any, infusate: Infusate, where: str, problems: list[Problem]) -> PtmSettings | None:
    context = {**FROM_FILE, "concentration_mg_per_ml": infusate.primary.concentration_mg_per_ml}
    try:
        return PtmSettings.model_validate(raw, context=context)
    except ValidationError as exc:
        problems.extend(_problems(exc, where))
        return None


def _explained(problems: list[Problem]) -> list[Problem]:
    """Without a list's own complaint when one of its items is reported (pydantic adds "at
    least 1 item" to a list whose only item failed)."""
    fields = [p.field for p in problems]
    return [p for p in problems if not any(f.startswith(p.field + "[") for f in fields)]


def _under(field: str, prefixes: tuple[str, ...]) -> bool:
    return any(field == p or field.startswith((p + ".", p + "[")) for p in prefixes)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for p in problems:
        key = (p.field, str(p.value), p.allowed)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
