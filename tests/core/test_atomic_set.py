"""A set of files written with ``write_set_atomic`` survives SIGKILL as a consistent set, and CSV
cells never lead with a formula character (``core.csvsafe``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pumpsim.core.atomic import OutputError, recover_sets, write_set_atomic
from pumpsim.core.csvsafe import safe_cell

_WRITER = """
import sys, time
from pathlib import Path
from pumpsim.core import atomic
folder, tag = Path(sys.argv[1]), sys.argv[2]
real = atomic._temporary
def slow(path):
    time.sleep(0.05)
    return real(path)
atomic._temporary = slow
while True:
    atomic.write_set_atomic([(folder / f"f{i}.txt", (tag * 50_000).encode()) for i in range(4)])
    tag = "b" if tag == "a" else "a"
"""


def test_a_killed_writer_leaves_a_consistent_set(tmp_path: Path) -> None:
    """Kill a process that rewrites four files over and over at ten moments: once the folder is
    recovered (every set write does this first), the four files hold the same generation (all a,
    or all b), whole, and no journal is left."""
    write_set_atomic([(tmp_path / f"f{i}.txt", ("a" * 50_000).encode()) for i in range(4)])
    for attempt in range(10):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), "b"])
        time.sleep(0.3 + 0.037 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        recover_sets(tmp_path)
        assert not list(tmp_path.glob("*.journal"))
        contents = {(tmp_path / f"f{i}.txt").read_text() for i in range(4)}
        assert len(contents) == 1, f"mixed set after kill {attempt}"
        assert contents.pop() in ("a" * 50_000, "b" * 50_000)


def test_a_read_only_folder_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mkstemp fails as in a read-only folder (chmod does not stop root): an OutputError."""

    def denied(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match=r"x.csv: cannot write \(Permission denied\)"):
        write_set_atomic([(tmp_path / "x.csv", b"x")])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+41 79", "'+41 79"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-3", "-3"),
        ("-0.25", "-0.25"),
        ("Room 2", "Room 2"),
        (None, ""),
    ],
)
def test_formula_leading_cells_are_neutralised(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_an_interrupted_set_is_finished_by_the_next_write(tmp_path: Path) -> None:
    """A journal left by a kill between two renames: the next set write in the folder first
    finishes it, so the interrupted set is whole before the new one is written."""
    import json as _json

    old = [tmp_path / f"g{i}.txt" for i in range(3)]
    for path in old:
        path.write_text("old")
    pending = [tmp_path / f".g{i}.txt.new" for i in range(3)]
    for tmp in pending[1:]:
        tmp.write_text("new")  # the first rename happened before the kill
    old[0].write_text("new")
    journal = tmp_path / ".pumpsim-set.test.journal"
    journal.write_text(_json.dumps([[str(t), str(p)] for t, p in zip(pending, old, strict=True)]))
    write_set_atomic([(tmp_path / "other.txt", b"x"), (tmp_path / "other2.txt", b"y")])
    assert [p.read_text() for p in old] == ["new", "new", "new"]
    assert not journal.exists()
