"""Reading a ``timeline:`` list from a profile or scenario file into a ``Timeline``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pumpsim.core.errors import Problem, ProfileError
from pumpsim.models import Therapy
from pumpsim.models.base import FROM_FILE
from pumpsim.models.timeline import Intervention, Timeline

__all__ = ["timeline_from_list"]

_ENTRY = TypeAdapter(Intervention)


def timeline_from_list(
    raw: Any, therapy: Therapy, source: str, *, resolve_drugs: Any = None, field: str = "timeline"
) -> Timeline:
    """Validate a ``timeline:`` list from a file against ``therapy``.

    Refill ``drugs:`` are resolved through ``resolve_drugs(list, where, problems)`` (the profile
    loader's catalog look-up); programs and PTM doses are converted through the concentration in
    the reservoir at that point of the timeline. Every problem is reported at once.
    """
    if raw is None:
        return Timeline()
    if not isinstance(raw, list):
        raise ProfileError(source, [Problem(field, raw, "a list of {at:, action:, ...}")])
    problems: list[Problem] = []
    entries: list[Any] = []
    concentration = therapy.infusate.primary.concentration_mg_per_ml
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        data, concentration = _entry_data(item, where, concentration, resolve_drugs, problems)
        if data is None:
            continue
        entry = _validate_entry(data, where, concentration, problems)
        if entry is None:
            continue
        _check_not_before_state(entry, where, therapy, problems)
        entries.append(entry)
    times = [e.at for e in entries]
    if times != sorted(times):
        problems.append(Problem(field, "out of order", "entries in time order"))
    if problems:
        raise ProfileError(source, problems)
    return Timeline(entries=tuple(entries))


def _entry_data(
    item: Any, where: str, concentration: float, resolve_drugs: Any, problems: list[Problem]
) -> tuple[dict[str, Any] | None, float]:
    """The entry's mapping with refill ``drugs`` resolved to an ``infusate`` (``None`` if bad),
    and the concentration in the reservoir from this entry on (mg/mL)."""
    if not isinstance(item, Mapping):
        problems.append(Problem(where, item, "a mapping with at: and action:"))
        return None, concentration
    data = dict(item)
    if data.get("action") == "refill" and "drugs" in data:
        if resolve_drugs is None:
            problems.append(Problem(f"{where}.drugs", "given", "drugs need a catalog"))
            return None, concentration
        infusate = resolve_drugs(data.pop("drugs"), f"{where}.drugs", problems)
        if infusate is None:
            return None, concentration
        data["infusate"] = infusate
        concentration = infusate.primary.concentration_mg_per_ml
    return data, concentration


def _validate_entry(
    data: dict[str, Any], where: str, concentration: float, problems: list[Problem]
) -> Any:
    """The validated intervention, or ``None`` with its problems (paths under ``where``)."""
    try:
        return _ENTRY.validate_python(
            data, context={**FROM_FILE, "concentration_mg_per_ml": concentration}
        )
    except ValidationError as exc:
        problems.extend(_entry_problems(exc, where, data.get("action")))
        return None


def _entry_problems(exc: ValidationError, where: str, action: Any) -> list[Problem]:
    """One problem per validation error of an entry, its path as written in the file."""
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "float"))]
        # the first loc element is the discriminator tag; drop it
        if loc and loc[0] == action:
            loc = loc[1:]
        path = ".".join([where, *loc])
        problems.append(Problem(path, err.get("input"), err["msg"].removeprefix("Value error, ")))
    return problems


def _check_not_before_state(
    entry: Any, where: str, therapy: Therapy, problems: list[Problem]
) -> None:
    """Report an entry dated before the therapy's state time."""
    if entry.at < therapy.state.time:
        problems.append(
            Problem(
                f"{where}.at",
                entry.at.isoformat(),
                f"not before state.time {therapy.state.time.isoformat()}",
            )
        )
