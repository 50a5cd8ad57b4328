"""pumpsim as a real package: the sdist and the wheel carry the shipped data (catalog, example
patients, rosters, refill sheets, scenarios), and an installed wheel finds it with
``importlib.resources`` from any working directory, without the source tree.

The module builds the sdist and, from it, the wheel (``uv build``: what ``python -m build``
does), installs the wheel into a fresh virtual environment (``python -m venv --without-pip``;
``uv pip install --python`` installs into it, resolving the dependencies from the package index,
byte-compiling nothing) and runs the ``pumpsim`` command of that environment from ``tmp_path``.
Built and installed once per module; ``-m "not packaging"`` leaves it out.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")
"""The test environment's uv (a test dependency): it builds like ``python -m build`` (the sdist,
then the wheel from the sdist, with the same hatchling backend) and installs like pip, faster."""
SHIPPED = ("pumps", "drugs", "patients", "rosters", "refills", "scenarios", "cohorts", "costs")


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment with the built wheel installed."""

    venv: Path
    wheel: Path
    sdist: Path
    shipped: dict[str, list[Path]]
    """``pumpsim.io.profiles.shipped(kind)`` for every kind, as the installed package says."""

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _env(*, jit: bool = False) -> dict[str, str]:
    """The environment of the installed program: no source tree, no user catalog, wide tables.

    Without ``jit`` the compiled kernels run as the plain Python they are written in
    (``NUMBA_DISABLE_JIT``): the same functions and results, without compiling them from an
    empty cache in the new environment, which alone took about 40 s of the suite;
    ``test_the_kernels_compile_and_cache_inside_the_installed_package`` compiles one there."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PUMPSIM_CATALOG")}
    env["COLUMNS"] = "200"
    if not jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    env.pop("NUMBA_CACHE_DIR", None)
    return env


def _run(
    args: list[str | Path], cwd: Path, *, jit: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_env(jit=jit),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _ok(args: list[str | Path], cwd: Path, *, jit: bool = False) -> str:
    result = _run(args, cwd, jit=jit)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    _ok([UV, "build", "--quiet", "--out-dir", dist, REPO], cwd=work)
    (wheel,) = dist.glob("pumpsim-*.whl")
    (sdist,) = dist.glob("pumpsim-*.tar.gz")
    venv = work / "venv"
    _ok([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    _ok([UV, "pip", "install", "--quiet", "--python", venv / "bin" / "python", wheel], cwd=work)
    code = (
        "import json; from pumpsim.io.profiles import SHIPPED_KINDS, shipped; "
        "print(json.dumps({k: [str(p) for p in shipped(k)] for k in SHIPPED_KINDS}))"
    )
    listed = json.loads(_ok([venv / "bin" / "python", "-c", code], cwd=work))
    shipped = {kind: [Path(p) for p in paths] for kind, paths in listed.items()}
    return Installed(venv=venv, wheel=wheel, sdist=sdist, shipped=shipped)


def _example(installed: Installed, kind: str, name: str) -> Path:
    (path,) = (p for p in installed.shipped[kind] if p.name == name)
    return path


def test_the_wheel_and_the_sdist_carry_the_shipped_data(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
    for kind in SHIPPED:
        source = sorted(p.name for p in (REPO / "profiles" / kind).iterdir() if p.is_file())
        in_wheel = sorted(
            n.rsplit("/", 1)[1] for n in names if n.startswith(f"pumpsim/_catalog/{kind}/")
        )
        assert in_wheel == source, kind
    assert "pumpsim/py.typed" in names
    with tarfile.open(installed.sdist) as tar:
        members = tar.getnames()
    root = installed.sdist.name.removesuffix(".tar.gz")
    for kind in SHIPPED:
        for path in (REPO / "profiles" / kind).iterdir():
            assert f"{root}/profiles/{kind}/{path.name}" in members


def test_the_installed_package_is_the_wheel_not_the_source_tree(
    installed: Installed, tmp_path: Path
) -> None:
    code = (
        "import pumpsim, pumpsim.io.profiles as p; "
        "print(pumpsim.__file__); print(p.shipped_data_dir()); print(p.default_catalog_dir())"
    )
    module, data, catalog = _ok([installed.bin / "python", "-c", code], tmp_path).splitlines()
    site = installed.venv.resolve()
    assert Path(module).resolve().is_relative_to(site)
    assert Path(data).resolve() == Path(module).resolve().parent / "_catalog"
    assert catalog == data
    assert sorted(installed.shipped) == sorted(SHIPPED)
    for kind, paths in installed.shipped.items():
        assert [p.name for p in paths] == sorted(
            p.name for p in (REPO / "profiles" / kind).iterdir() if p.is_file()
        ), kind
        assert all(p.is_file() and p.resolve().is_relative_to(site) for p in paths), kind


def test_the_kernels_compile_and_cache_inside_the_installed_package(
    installed: Installed, tmp_path: Path
) -> None:
    """numba compiles a kernel of the installed ``pumpsim.schedule._kernels`` and writes its
    cache beside it in the environment (a second process loads it from there, compiling
    nothing); the answer is ``np.interp``'s slopes."""
    code = (
        "import numpy as np; from pumpsim.schedule import _kernels as k; "
        "x, y = np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 3.0]); "
        "print(k.__file__); print(k.knot_slopes(x, y).tolist()); s = k.knot_slopes.stats; "
        "print(s.cache_path); print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))"
    )
    first = _ok([installed.bin / "python", "-c", code], tmp_path, jit=True).splitlines()
    module = Path(first[0]).resolve()
    assert module.is_relative_to(installed.venv.resolve())
    assert first[1] == "[2.0, 0.5]"
    assert Path(first[2]).resolve() == module.parent / "__pycache__"
    assert first[3] == "0 1"  # compiled (a miss), then written to that folder
    assert list((module.parent / "__pycache__").glob("_kernels.knot_slopes-*.nbi"))
    second = _ok([installed.bin / "python", "-c", code], tmp_path, jit=True).splitlines()
    assert second[1:3] == first[1:3]
    assert second[3] == "1 0"  # loaded from the cache, not compiled again


def test_catalog_pumps(installed: Installed, tmp_path: Path) -> None:
    out = _ok([installed.bin / "pumpsim", "catalog", "pumps"], tmp_path)
    assert "_catalog" in out and "pumps" in out
    for key in ("synchromed-ii-20", "synchromed-ii-40", "prometra-ii-20", "constant-flow-generic"):
        assert key in out
    assert "SynchroMed II" in out
    drugs = _ok([installed.bin / "pumpsim", "catalog", "drugs"], tmp_path)
    assert "morphine" in drugs and "ziconotide" in drugs


def test_check_an_installed_example(installed: Installed, tmp_path: Path) -> None:
    patients = installed.shipped["patients"]
    out = _ok([installed.bin / "pumpsim", "check", *patients], tmp_path)
    assert f"{len(patients)} of {len(patients)} profile(s) valid." in out
    assert "demo-morphine-01" in out and "low-reservoir alarm" in out


def test_forecast_an_installed_example(installed: Installed, tmp_path: Path) -> None:
    example = _example(installed, "patients", "morphine-cancer-pain.yaml")
    out = _ok(
        [installed.bin / "pumpsim", "forecast", example, "--runs", "200", "--as-of", "state"],
        tmp_path,
    )
    assert "demo-morphine-01" in out and "(200 runs" in out
    assert re.search(r"Refill between 2026-\d\d-\d\d and 2026-\d\d-\d\d", out), out


def test_plan_an_installed_roster(installed: Installed, tmp_path: Path) -> None:
    roster = _example(installed, "rosters", "clinic-12.csv")
    out = _ok(
        [installed.bin / "pumpsim", "plan", roster, "--start", "2026-03-02", "--weeks", "4"]
        + ["--windows", "schedule"],
        tmp_path,
    )
    booked = re.search(r"(\d+) refills for (\d+) patients, 2026-03-02 to 2026-03-29", out)
    assert booked, out
    assert int(booked.group(1)) > 0
    per_day = re.findall(r"2026-03-\d\d\s+(\d+)/\d+", out)  # the appointments-per-day table
    assert per_day and sum(map(int, per_day)) == int(booked.group(1)), out
    assert "Every refill due in the horizon is placed." in out


def test_scenarios_from_the_installed_package(installed: Installed, tmp_path: Path) -> None:
    listed = _ok([installed.bin / "pumpsim", "scenario", "list"], tmp_path)
    scenarios = installed.shipped["scenarios"]
    assert scenarios
    for path in scenarios:
        assert path.stem in listed
    out = _ok([installed.bin / "pumpsim", "scenario", "run", "missed-refill"], tmp_path)
    assert "Missed refill" in out
    assert re.search(r"low-reservoir alarm sound\?\s+\d+\.\d\d days", out), out
    assert re.search(r"actually run dry \(pump clock\)\?\s+2026-\d\d-\d\d \d\d:\d\d", out), out


def test_a_user_catalog_still_wins(installed: Installed, tmp_path: Path) -> None:
    mine = tmp_path / "my-catalog"
    for kind in ("pumps", "drugs"):
        (mine / kind).mkdir(parents=True)
    source = REPO / "profiles"
    (mine / "pumps" / "my-pump.yaml").write_bytes(
        (source / "pumps" / "synchromed-ii-20.yaml").read_bytes()
    )
    (mine / "drugs" / "morphine.yaml").write_bytes(
        (source / "drugs" / "morphine.yaml").read_bytes()
    )
    result = subprocess.run(
        [str(installed.bin / "pumpsim"), "catalog", "pumps"],
        cwd=tmp_path,
        env={**_env(), "PUMPSIM_CATALOG": str(mine)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "my-pump" in result.stdout and "synchromed-ii-40" not in result.stdout


def test_a_cohort_from_the_installed_package(installed: Installed, tmp_path: Path) -> None:
    """A shipped cohort and cost preset, by name, from another folder: on one process and on
    two (the fork server imports the installed package) the JSON is the same bytes as the
    source tree's."""
    run = ["cohort", "run", "kumar-2002-failed-back", "--costs", "kumar-2002", "--psa", "50"]
    listed = _ok([installed.bin / "pumpsim", "cohort", "list"], tmp_path)
    assert "smith-2002-pump-arm" in listed and "kumar-2002" in listed
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"cohort-{workers}.json"
        _ok([installed.bin / "pumpsim", *run, "--workers", workers, "--json", out], tmp_path)
        outputs.append(out.read_bytes())
    source = tmp_path / "source.json"
    subprocess.run(
        [sys.executable, "-m", "pumpsim", *run, "--workers", "1", "--json", str(source)],
        check=True,
        capture_output=True,
    )
    assert outputs[0] == outputs[1] == source.read_bytes()
    doc = json.loads(outputs[0])
    assert (doc["patients"], doc["months"], doc["costs"]) == (23, 60, "kumar-2002")
    assert doc["economics"]["crossover_month"] == 28  # Kumar 2002: implant recovered by month 28
