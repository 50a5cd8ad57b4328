"""Reading cost presets (``profiles/costs/*.yaml``, or a file of your own).

A preset is a YAML mapping of ``pumpsim.models.economics.CostPreset`` fields::

    title: Kumar 2002, failed back surgery syndrome, Canada
    source: Kumar K et al. J Neurosurg 2002;97:803-810
    currency: CAD
    price_year: 2000
    cmm_per_month: 633.33
    uncertainty:
      cmm_per_month: {kind: gamma, se: 95.0}
    sources:
      cmm_per_month: "Abstract: 5-year cumulative CPT cost 38,000 / 60 months"
      ...

Every problem found is reported at once in a ``ProfileError`` naming the file, the field path,
the value and what is allowed (the rules of ``pumpsim.io.profiles``).
"""

from __future__ import annotations

from pathlib import Path

from pumpsim.core.errors import Problem, ProfileError, clip
from pumpsim.core.yamlio import read_yaml
from pumpsim.io.profiles import _mapping, _validate, shipped
from pumpsim.models.economics import CostPreset

__all__ = ["cost_preset_path", "load_cost_preset", "shipped_cost_presets"]


def shipped_cost_presets() -> dict[str, Path]:
    """The cost presets shipped with pumpsim, by name (the file stem)."""
    return {path.stem: path for path in shipped("costs") if path.suffix == ".yaml"}


def cost_preset_path(name_or_path: str | Path) -> Path:
    """A preset file: ``name_or_path`` itself if it is a file, else the shipped preset of that
    name (``kumar-2002``); a ``ProfileError`` names the shipped ones otherwise."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    presets = shipped_cost_presets()
    if str(name_or_path) in presets:
        return presets[str(name_or_path)]
    raise ProfileError(
        clip(str(name_or_path), 200),
        [Problem("costs", str(name_or_path), f"a file or one of {', '.join(sorted(presets))}")],
    )


def load_cost_preset(name_or_path: str | Path) -> CostPreset:
    """Load and validate a cost preset (a path, or a shipped preset's name)."""
    path = cost_preset_path(name_or_path)
    data = _mapping(read_yaml(path), str(path))
    return _validate(CostPreset, data, str(path))
