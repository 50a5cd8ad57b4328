"""The import contract: layers import downward only, nothing inside imports the façade.

Every module of ``pumpsim`` is parsed (``ast``, nothing is imported) and each of its imports of
another pumpsim module, at the top or inside a function, is checked against the layer order
below. The test fails the day someone adds a back-edge, naming the module, the line and the
import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pumpsim

PACKAGE = Path(pumpsim.__file__).resolve().parent

LAYERS = (
    "core",
    "models",
    "io",
    "schedule",
    "engine",
    "ensemble",
    "forecast",
    "clinic",
    "population",
    "teaching",
    "report",
    "cli",
)
"""Lowest first: a module may import its own layer and the layers before it."""

ROOT_MODULES = {"__init__.py", "__main__.py", "testing.py"}
"""The façade, the entry point and the test fixtures module (imports models only)."""


def _layer_of(module: str) -> str:
    """``pumpsim.forecast.batch`` → ``forecast``; the root façade → ``pumpsim``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "pumpsim"
    if parts[1] == "testing":
        return "models"  # pumpsim.testing builds reference models for tests and benchmarks
    return parts[1]


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, imported pumpsim module)`` for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("pumpsim")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "pumpsim" or target.startswith("pumpsim."):
                found.append((node.lineno, target))
    return found


def test_every_layer_is_a_package_and_the_root_holds_at_most_two_modules() -> None:
    root = {p.name for p in PACKAGE.glob("*.py")}
    assert root <= ROOT_MODULES, f"modules at the package root: {sorted(root - ROOT_MODULES)}"
    assert len(root - {"__init__.py", "__main__.py"}) <= 2
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").is_file(), f"pumpsim/{layer}/ is not a package"
    assert (PACKAGE / "py.typed").is_file()


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_point_down_the_layers(module: str, path: Path) -> None:
    if module in ("pumpsim", "pumpsim.__main__"):
        return  # the façade and the entry point sit above every layer
    mine = _layer_of(module)
    assert mine in LAYERS, f"{module} is in no layer"
    rank = LAYERS.index(mine)
    bad = []
    for line, target in _imports(path, module):
        theirs = _layer_of(target)
        if theirs == "pumpsim":
            bad.append(f"line {line}: imports the façade 'pumpsim' (import from its layer)")
        elif theirs not in LAYERS:
            bad.append(f"line {line}: imports {target}, which is in no layer")
        elif LAYERS.index(theirs) > rank:
            bad.append(f"line {line}: {mine} imports {target} from the higher layer {theirs}")
    assert not bad, f"{module}:\n  " + "\n  ".join(bad)


def test_the_contract_catches_a_back_edge(tmp_path: Path) -> None:
    """The checker itself: an upward import and a façade import are both found."""
    fake = tmp_path / "pumpsim" / "schedule" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(
        "from pumpsim.forecast import forecast\nimport pumpsim\nfrom pumpsim import DISCLAIMER\n"
        "def f():\n    from ..cli import app\n",
        encoding="utf-8",
    )
    targets = [t for _, t in _imports(fake, "pumpsim.schedule.bad")]
    assert targets == ["pumpsim.forecast", "pumpsim", "pumpsim", "pumpsim.cli"]
    assert [_layer_of(t) for t in targets] == ["forecast", "pumpsim", "pumpsim", "cli"]


def test_the_facade_exports_the_public_api() -> None:
    expected = {
        "load_profile",
        "load_therapy",
        "summarize",
        "simulate",
        "forecast",
        "forecast_many",
        "plan_clinic",
        "ClinicCalendar",
        "ForecastWindowSource",
        "ScheduleWindowSource",
        "load_roster",
        "list_scenarios",
        "load_scenario",
        "run_scenario",
        "PumpsimError",
        "ProfileError",
        "SimulationError",
        "Therapy",
        "Program",
        "PumpSpec",
        "FrozenModel",
    }
    assert expected <= set(pumpsim.__all__)
    for name in pumpsim.__all__:
        assert getattr(pumpsim, name) is not None, name
    assert sorted(pumpsim.__all__) == sorted(set(pumpsim.__all__))
