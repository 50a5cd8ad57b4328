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
        if not isinstance(item, Mapping):
            problems.append(Problem(where, item, "a mapping with at: and action:"))
            continue
        data = dict(item)
        if data.get("action") == "refill" and "drugs" in data:
            if resolve_drugs is None:
                problems.append(Problem(f"{where}.drugs", "given", "drugs need a catalog"))
                continue
            infusate = resolve_drugs(data.pop("drugs"), f"{where}.drugs", problems)
            if infusate is None:
                continue
            data["infusate"] = infusate
            concentration = infusate.primary.concentration_mg_per_ml
        try:
            entry = _ENTRY.validate_python(
                data, context={**FROM_FILE, "concentration_mg_per_ml": concentration}
            )
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "float"))]
                # the first loc element is the discriminator tag; drop it
                if loc and loc[0] == data.get("action"):
                    loc = loc[1:]
                path = ".".join([where, *loc])
                problems.append(
                    Problem(path, err.get("input"), err["msg"].removeprefix("Value error, "))
                )
            continue
        if entry.at < therapy.state.time:
            problems.append(
                Problem(
                    f"{where}.at",
                    entry.at.isoformat(),
                    f"not before state.time {therapy.state.time.isoformat()}",
                )
            )
        entries.append(entry)
    times = [e.at for e in entries]
    if times != sorted(times):
        problems.append(Problem(field, "out of order", "entries in time order"))
    if problems:
        raise ProfileError(source, problems)
    return Timeline(entries=tuple(entries))
