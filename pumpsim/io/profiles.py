"""Loading the catalog (pump specs, drug library) and patient profiles from YAML.

A patient profile refers to catalog entries by name and may override any of their fields::

    pump: synchromed-ii-20     # or {model: synchromed-ii-20, nonretrievable_residual: "1 mL"}
    drugs:
      - {drug: morphine, concentration: "25 mg/mL"}

Every problem found is reported at once in a ``ProfileError`` naming the file, the field path
(as written in the file), the value and what is allowed.
"""

from __future__ import annotations

import atexit
import importlib.resources
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pumpsim.core.errors import Problem, ProfileError, clip
from pumpsim.core.units import format_concentration
from pumpsim.core.yamlio import read_yaml
from pumpsim.io.timeline import timeline_from_list
from pumpsim.models import Drug, DrugEntry, Infusate, Program, PumpSpec, Therapy
from pumpsim.models.base import FROM_FILE, mark_internal
from pumpsim.models.therapy import CrossCheckError
from pumpsim.models.timeline import Timeline

__all__ = [
    "Profile",
    "load_profile",
    "profile_from_dict",
    "Catalog",
    "default_catalog_dir",
    "shipped",
    "shipped_data_dir",
    "SHIPPED_KINDS",
    "load_catalog",
    "load_therapy",
    "therapy_from_dict",
]

PROFILE_EXTRA_KEYS = frozenset({"timeline"})
"""Top-level keys of a patient profile that are not part of the therapy itself."""

_THERAPY_KEYS = {
    "patient_id",
    "indication",
    "pump",
    "drugs",
    "catheter",
    "program",
    "ptm",
    "demand",
    "alarms",
    "state",
    "delivery_factor",
    "dose_limits",
    "refill_discrepancy",
}
"""Top-level profile keys this module reads; other modules may claim more (``extra_keys``)."""


_PROFILE_MARKERS = ("pump", "drugs", "program", "state")
"""A mapping with none of these keys is not a patient profile."""


@dataclass(frozen=True)
class Catalog:
    """Pump models and drug entries by key (the YAML file stem)."""

    pumps: Mapping[str, PumpSpec]
    drugs: Mapping[str, DrugEntry]
    directory: Path


SHIPPED_KINDS = (
    "pumps",
    "drugs",
    "patients",
    "rosters",
    "refills",
    "scenarios",
    "cohorts",
    "costs",
)
"""The folders of the data shipped with pumpsim (``shipped_data_dir``)."""


@lru_cache(maxsize=1)
def shipped_data_dir() -> Path:
    """The data shipped with pumpsim: the catalog (``pumps/``, ``drugs/``), example
    ``patients/``, ``rosters/``, ``refills/``, ``scenarios/``, ``cohorts/`` and the cost
    presets ``costs/``.

    An installed wheel carries it as the package data ``pumpsim/_catalog`` (found with
    ``importlib.resources``; a package imported from a zip archive is extracted once to a
    temporary folder); a source tree (an editable install) has it in ``profiles/`` next to
    ``pumpsim/``. This is the one place that knows where shipped data lives.
    """
    package = importlib.resources.files("pumpsim")
    packaged = package / "_catalog"
    if packaged.is_dir():
        if isinstance(packaged, Path):
            return packaged
        return _extracted(packaged)
    if isinstance(package, Path):
        return package.parent / "profiles"
    raise FileNotFoundError("pumpsim's shipped data (pumpsim/_catalog) is missing")


def _extracted(tree: Traversable) -> Path:
    """Copy a package-data tree that is not on the file system (a zip) to a temporary folder."""
    target = Path(tempfile.mkdtemp(prefix="pumpsim-catalog-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)

    def copy(node: Traversable, into: Path) -> None:
        for child in node.iterdir():
            if child.is_dir():
                (into / child.name).mkdir()
                copy(child, into / child.name)
            else:
                (into / child.name).write_bytes(child.read_bytes())

    copy(tree, target)
    return target


def default_catalog_dir() -> Path:
    """``$PUMPSIM_CATALOG`` if set (a folder of your own with ``pumps/`` and ``drugs/``), else
    the data shipped with pumpsim (``shipped_data_dir``)."""
    env = os.environ.get("PUMPSIM_CATALOG")
    if env:
        return Path(env)
    return shipped_data_dir()


def shipped(kind: str) -> list[Path]:
    """The files of one kind of shipped data, sorted by name: ``shipped("patients")`` lists the
    example patients, ``shipped("rosters")`` the example rosters (``SHIPPED_KINDS``). Always the
    data shipped with pumpsim, whatever ``$PUMPSIM_CATALOG`` says."""
    if kind not in SHIPPED_KINDS:
        raise ValueError(f"no shipped data of kind {kind!r}; one of {', '.join(SHIPPED_KINDS)}")
    folder = shipped_data_dir() / kind
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _problems(
    exc: ValidationError, prefix: str = "", rename: Mapping[str, str] | None = None
) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        ctx_error = (err.get("ctx") or {}).get("error")
        base = _path(err["loc"], rename)
        if isinstance(ctx_error, CrossCheckError):
            problems.extend(
                Problem(_join(prefix, _join(base, p.field)), p.value, p.allowed)
                for p in ctx_error.problems
            )
            continue
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        if err["type"] == "missing":
            value, message = "(missing)", "a value is required here"
        elif err["type"] == "extra_forbidden":
            message = "no such field here (check the spelling; see docs/profiles.md)"
        problems.append(Problem(_join(prefix, base) or "(top level)", _short(value), message))
    return problems


def _path(loc: tuple[int | str, ...], rename: Mapping[str, str] | None) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("str", "float", "int", "[key]", "function-before[_convert(), float]"):
            continue
        else:
            text = _join(text, str(part))
    for old, new in (rename or {}).items():
        if text.startswith(old):
            text = new + text[len(old) :]
    return text


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a and b else a or b


def _short(value: Any) -> Any:
    """A value for a message: a mapping by its first keys, a list by its length, text clipped."""
    if isinstance(value, dict):
        return clip("{" + ", ".join(str(k) for k in list(value)[:10]) + "}")
    if isinstance(value, list | tuple):
        return f"[list of {len(value)}]"
    if isinstance(value, str):
        return clip(value)
    return value


def describe_keys(data: Mapping[Any, Any]) -> str:
    """A mapping that is not a profile, by its size only."""
    return f"(a mapping of {len(data)} keys, none of them a profile's)"


def describe(value: Any) -> str:
    """What a whole file's content is, without quoting it (a file may hold anything)."""
    if isinstance(value, str):
        return f"(a text of {len(value)} characters)"
    if isinstance(value, list):
        return f"[list of {len(value)}]"
    return f"(a {type(value).__name__})" if value is not None else "(an empty file)"


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: Any, source: str, prefix: str = "", **context: Any) -> _M:
    try:
        return model.model_validate(data, context={**FROM_FILE, **context})
    except ValidationError as exc:
        raise ProfileError(source, _problems(exc, prefix)) from None


@lru_cache(maxsize=8)
def load_catalog(directory: Path | None = None) -> Catalog:
    """Read every ``pumps/*.yaml`` and ``drugs/*.yaml`` under ``directory``."""
    directory = directory or default_catalog_dir()
    if not (directory / "pumps").is_dir() or not (directory / "drugs").is_dir():
        raise ProfileError(
            str(directory), [Problem("catalog", str(directory), "a folder with pumps/ and drugs/")]
        )
    pumps = {}
    for path in sorted((directory / "pumps").glob("*.yaml")):
        data = _mapping(read_yaml(path), str(path))
        pumps[path.stem] = _validate(PumpSpec, {**data, "key": path.stem}, str(path))
    drugs = {}
    for path in sorted((directory / "drugs").glob("*.yaml")):
        data = _mapping(read_yaml(path), str(path))
        drugs[path.stem] = _validate(DrugEntry, {**data, "key": path.stem}, str(path))
    return Catalog(pumps=pumps, drugs=drugs, directory=directory)


def _mapping(data: Any, source: str, field: str = "(top level)") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProfileError(source, [Problem(field, describe(data), "a mapping of keys to values")])
    return data


def load_therapy(
    path: Path | str, catalog: Catalog | None = None, *, extra_keys: frozenset[str] = frozenset()
) -> Therapy:
    """Load a patient profile file into a validated ``Therapy``.

    ``extra_keys`` are top-level keys another reader owns (e.g. ``timeline``); they are ignored
    here instead of being rejected as unknown.
    """
    path = Path(path)
    data = _mapping(read_yaml(path), str(path))
    return therapy_from_dict(data, str(path), catalog, extra_keys=extra_keys)


def therapy_from_dict(
    data: Mapping[str, Any],
    source: str,
    catalog: Catalog | None = None,
    *,
    extra_keys: frozenset[str] = frozenset(),
) -> Therapy:
    """Build a ``Therapy`` from a profile mapping; ``source`` names it in error messages."""
    catalog = catalog or load_catalog()
    if not any(key in data for key in _PROFILE_MARKERS):
        # not a profile at all (a config file, a list of secrets...): say so, quote nothing
        raise ProfileError(
            source,
            [Problem("(top level)", describe_keys(data), "a patient profile: pump, drugs, state")],
        )
    problems: list[Problem] = []
    unknown = sorted(set(data) - _THERAPY_KEYS - extra_keys, key=str)
    for key in unknown:
        problems.append(
            Problem(
                str(key),
                _short(data[key]),
                f"one of {', '.join(sorted(_THERAPY_KEYS | extra_keys))}",
            )
        )
    pump = _resolve_pump(data.get("pump"), catalog, source, problems)
    infusate = _resolve_drugs(data.get("drugs"), catalog, source, problems)
    if problems or pump is None or infusate is None:
        raise ProfileError(source, problems)
    body = {k: v for k, v in data.items() if k in _THERAPY_KEYS and k not in ("pump", "drugs")}
    body["pump"] = pump
    body["infusate"] = infusate
    try:
        return Therapy.model_validate(
            body,
            context={
                **FROM_FILE,
                "concentration_mg_per_ml": infusate.primary.concentration_mg_per_ml,
            },
        )
    except ValidationError as exc:
        problems = _problems(exc, rename={"infusate.drugs": "drugs"})
        raise ProfileError(source, [_as_written(p, data) for p in problems]) from None


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _as_written(problem: Problem, data: Mapping[str, Any]) -> Problem:
    """Show the value as the file wrote it when a rule reports it converted, e.g.
    ``'2.4 mg/day' (= 96 mL/day)`` instead of ``96 mL/day``."""
    node: Any = data
    for name, index in _PATH_TOKEN.findall(problem.field):
        if index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        elif name and isinstance(node, dict) and name in node:
            node = node[name]
        else:
            return problem
    if isinstance(node, str) and node != str(problem.value):
        return Problem(problem.field, f"{node} (= {problem.value})", problem.allowed)
    return problem


def _resolve_pump(
    raw: Any, catalog: Catalog, source: str, problems: list[Problem]
) -> PumpSpec | None:
    if isinstance(raw, str):
        raw = {"model": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), str):
        problems.append(
            Problem("pump", _short(raw), f"a catalog pump name, one of {', '.join(catalog.pumps)}")
        )
        return None
    key = raw["model"]
    if key not in catalog.pumps:
        problems.append(Problem("pump.model", key, f"one of {', '.join(catalog.pumps)}"))
        return None
    overrides = {k: v for k, v in raw.items() if k != "model"}
    if not overrides:
        return catalog.pumps[key]
    base = mark_internal(catalog.pumps[key].model_dump(by_alias=False, exclude_unset=False))
    merged = _merge_by_alias(PumpSpec, base, overrides)
    try:
        return PumpSpec.model_validate(merged, context=FROM_FILE)
    except ValidationError as exc:
        problems.extend(_problems(exc, "pump"))
        return None


def _merge_by_alias(
    model: type[BaseModel], base: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """Base values (by field name, internal units) with file overrides (by alias, with units)."""
    alias_to_name = {(f.alias or name): name for name, f in model.model_fields.items()}
    merged = dict(base)
    for key, value in overrides.items():
        name = alias_to_name.get(key, key)
        merged.pop(name, None)
        merged[key] = value
    return merged


def _resolve_drugs(
    raw: Any, catalog: Catalog, source: str, problems: list[Problem], field: str = "drugs"
) -> Infusate | None:
    """The infusate a profile's ``drugs`` list names; every bad entry is added to problems."""
    if not isinstance(raw, list) or not raw:
        problems.append(
            Problem(field, _short(raw), "a list of {drug: NAME, concentration: '25 mg/mL'}")
        )
        return None
    drugs: list[Drug] = []
    for i, item in enumerate(raw):
        drug = _resolve_drug(item, f"{field}[{i}]", catalog, problems)
        if drug is not None:
            drugs.append(drug)
    if problems or not drugs:
        return None
    try:
        return Infusate(drugs=tuple(drugs))
    except ValidationError as exc:
        problems.extend(_problems(exc, field))
        return None


def _resolve_drug(item: Any, where: str, catalog: Catalog, problems: list[Problem]) -> Drug | None:
    """One ``drugs`` entry (at ``where``) merged onto its catalog entry, or ``None`` if bad."""
    if not isinstance(item, dict) or not isinstance(item.get("drug"), str):
        problems.append(Problem(where, _short(item), "{drug: NAME, concentration: '25 mg/mL'}"))
        return None
    entry = catalog.drugs.get(item["drug"])
    if entry is None:
        problems.append(
            Problem(f"{where}.drug", item["drug"], f"one of {', '.join(catalog.drugs)}")
        )
        return None
    fields = {k: v for k, v in item.items() if k != "drug"}
    if "concentration" not in fields:
        problems.append(Problem(f"{where}.concentration", "(missing)", "e.g. '25 mg/mL'"))
        return None
    concentration = _entry_concentration(entry, fields["concentration"], where, problems)
    if concentration is None:
        return None
    base = mark_internal(Drug.from_entry(entry, concentration).model_dump())
    try:
        drug = Drug.model_validate(_merge_by_alias(Drug, base, fields), context=FROM_FILE)
    except ValidationError as exc:
        problems.extend(_problems(exc, where))
        return None
    _check_max_concentration(entry, concentration, fields["concentration"], where, problems)
    return drug


def _entry_concentration(
    entry: DrugEntry, raw: Any, where: str, problems: list[Problem]
) -> float | None:
    """The concentration as written for ``entry``, in mg/mL; ``None`` (and a problem) if bad."""
    try:
        return Drug.model_validate(
            {"name": entry.name, "concentration": raw, "stability": "1 day"},
            context=FROM_FILE,
        ).concentration_mg_per_ml
    except ValidationError as exc:
        problems.extend(_problems(exc, where))
        return None


def _check_max_concentration(
    entry: DrugEntry, concentration: float, raw: Any, where: str, problems: list[Problem]
) -> None:
    """Report a concentration above the drug library's maximum for ``entry``."""
    max_conc = entry.max_concentration_mg_per_ml
    if max_conc is not None and concentration > max_conc * (1 + 1e-9):
        problems.append(
            Problem(
                f"{where}.concentration",
                raw,
                f"up to {format_concentration(max_conc, entry.mass_unit)} for {entry.name}",
            )
        )


@dataclass(frozen=True)
class Profile:
    """A patient profile: the therapy and the dated timeline of interventions it carries."""

    therapy: Therapy
    timeline: Timeline
    source: str


def load_profile(path: Path | str, catalog: Catalog | None = None) -> Profile:
    """Load a patient profile with its optional ``timeline:`` of interventions."""
    path = Path(path)
    data = _mapping(read_yaml(path), str(path))
    return profile_from_dict(data, str(path), catalog)


def profile_from_dict(
    data: Mapping[str, Any], source: str, catalog: Catalog | None = None, *, field: str = "timeline"
) -> Profile:
    """Build a ``Profile`` from a mapping; ``field`` is where the timeline sits (for messages)."""
    catalog = catalog or load_catalog()
    therapy = therapy_from_dict(data, source, catalog, extra_keys=PROFILE_EXTRA_KEYS)

    def resolve(raw: Any, where: str, problems: list[Problem]) -> Infusate | None:
        return _resolve_drugs(raw, catalog, source, problems, field=where)

    timeline = timeline_from_list(
        data.get("timeline"), therapy, source, resolve_drugs=resolve, field=field
    )
    return Profile(therapy=therapy, timeline=timeline, source=source)


def infusate_from_list(
    raw: Any, source: str, catalog: Catalog | None = None, *, field: str = "drugs"
) -> Infusate:
    """The infusate a ``drugs`` list names (``[{drug: morphine, concentration: "20 mg/mL"}]``),
    resolved through the catalog like a profile's; ``ProfileError`` naming every bad entry."""
    problems: list[Problem] = []
    infusate = _resolve_drugs(raw, catalog or load_catalog(), source, problems, field=field)
    if infusate is None or problems:
        raise ProfileError(source, problems)
    return infusate


def load_program(path: Path | str, concentration_mg_per_ml: float) -> Program:
    """A program mapping from a YAML file, in profile syntax (``mode``, ``rate`` or ``steps``,
    ``weekly``, ``periodic_boluses``); dose rates are converted through
    ``concentration_mg_per_ml`` (the primary drug's). ``ProfileError`` naming each bad field."""
    path = Path(path)
    data = _mapping(read_yaml(path), str(path))
    return _validate(Program, data, str(path), concentration_mg_per_ml=concentration_mg_per_ml)
