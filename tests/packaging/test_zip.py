"""The shipped data is found with ``importlib.resources`` even when pumpsim is imported from a
zip archive (no file-system path to the package): it is extracted once to a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]

CODE = """
import pumpsim, pumpsim.io.profiles as p
from pumpsim.teaching.scenarios import list_scenarios
print(pumpsim.__file__)
print(p.shipped_data_dir())
print(sorted(p.load_catalog().pumps))
print(len(p.shipped("patients")), len(list_scenarios()))
"""


def test_shipped_data_from_a_zip_import(tmp_path: Path) -> None:
    archive = tmp_path / "pumpsim.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((REPO / "pumpsim").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(REPO).as_posix())
        for path in sorted((REPO / "profiles").rglob("*")):
            if path.is_file():
                rel = path.relative_to(REPO / "profiles").as_posix()
                zf.write(path, f"pumpsim/_catalog/{rel}")
    env = {k: v for k, v in os.environ.items() if k != "PUMPSIM_CATALOG"}
    env["PYTHONPATH"] = str(archive)
    result = subprocess.run(
        [sys.executable, "-c", CODE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    module, data, pumps, counts = result.stdout.splitlines()
    assert module.startswith(str(archive))
    assert not Path(data).resolve().is_relative_to(REPO)
    assert Path(data).name.startswith("pumpsim-catalog-")
    assert "synchromed-ii-20" in pumps and "prometra-ii-20" in pumps
    patients, scenarios = map(int, counts.split())
    assert patients == len(list((REPO / "profiles" / "patients").glob("*.yaml")))
    assert scenarios == len(list((REPO / "profiles" / "scenarios").glob("*.yaml")))
    assert not Path(data).exists()  # removed when the interpreter exited
