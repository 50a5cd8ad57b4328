"""Atomic file writes: write to a temporary file beside the target, flush it to disk, then rename
it into place, so a reader never sees half a file and a failure leaves the old file (or none)
behind. ``write_set_atomic`` does this for several files that belong together (a plan's JSON,
CSV, calendar and worklist): every temporary file is written and synced first, then a journal
naming the renames is put in place (atomically), then the files are renamed and the journal
removed. A run killed while writing leaves the old set; a run killed during the renames leaves
the journal, and ``recover_sets`` — which every set write calls first for its folders — finishes
the renames, so the folder holds the new set, whole. Only a reader looking in the microseconds
between two renames of a live run could see old and new side by side."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from pumpsim.core.errors import PumpsimError

__all__ = [
    "OutputError",
    "recover_sets",
    "write_bytes_atomic",
    "write_set_atomic",
    "write_text_atomic",
    "write_with_atomic",
]


class OutputError(PumpsimError):
    """An output file could not be written."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    write_set_atomic([(Path(path), data)])


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_with_atomic(path: Path, writer: Callable[[Path], object]) -> None:
    """Call ``writer(tmp_path)`` to produce the file, then rename it to ``path``."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        writer(tmp)
        _sync(tmp)
        os.replace(tmp, path)
        _sync_folder(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        _discard(tmp)


def write_set_atomic(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write each ``(path, data)`` as one set (see the module docstring): all to synced temporary
    files first, then a journal, then all renamed. A failure (a read-only folder, a full disk)
    before the renames leaves every old file as it was."""
    folders = {Path(p).parent if str(Path(p).parent) else Path(".") for p, _ in files}
    for folder in folders:
        recover_sets(folder)
    temporaries: list[tuple[Path, Path]] = []
    current = Path(".")
    journal: Path | None = None
    try:
        for path, data in files:
            current = Path(path)
            tmp = _temporary(current)
            temporaries.append((tmp, current))
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if len(temporaries) > 1:
            journal = _journal(temporaries)
        for tmp, path in temporaries:
            current = path
            os.replace(tmp, path)
        for folder in folders:
            _sync_folder(folder / "x")
        if journal is not None:
            journal.unlink()
            journal = None
    except OSError as exc:
        raise OutputError(f"{current}: cannot write ({exc.strerror or exc})") from None
    finally:
        if journal is None:  # a journal left behind still needs its temporaries
            for tmp, _ in temporaries:
                _discard(tmp)


_JOURNAL_GLOB = ".pumpsim-set.*.journal"


def _journal(temporaries: Sequence[tuple[Path, Path]]) -> Path:
    """Put the journal of ``temporaries``' renames in place atomically, beside the first file."""
    first = temporaries[0][1]
    folder = first.parent if str(first.parent) else Path(".")
    journal = folder / f".pumpsim-set.{uuid.uuid4().hex}.journal"
    pairs = [[str(tmp.resolve()), str(path.resolve())] for tmp, path in temporaries]
    tmp = _temporary(journal)
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(pairs, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, journal)
    _sync_folder(journal)
    return journal


def recover_sets(folder: Path) -> int:
    """Finish the renames of every set write in ``folder`` that was killed part way (its journal
    is still there); returns how many sets were completed."""
    for stray in Path(folder).glob("." + _JOURNAL_GLOB + "*"):
        _discard(stray)  # a journal killed while being written: its renames never began
    done = 0
    for journal in sorted(Path(folder).glob(_JOURNAL_GLOB)):
        try:
            pairs = json.loads(journal.read_text(encoding="utf-8"))
            for tmp, path in pairs:
                if Path(tmp).exists():
                    os.replace(tmp, path)
            _sync_folder(journal)
            journal.unlink()
            done += 1
        except (OSError, ValueError, TypeError) as exc:
            raise OutputError(f"{journal}: cannot finish an interrupted write ({exc})") from None
    return done


def _temporary(path: Path) -> Path:
    """A new empty file with normal permissions beside ``path`` (``OutputError`` if the folder
    is missing or not writable)."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{path}: the folder {directory} does not exist")
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=directory
        )
        os.close(fd)
        os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return Path(name)


def _sync(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def _sync_folder(path: Path) -> None:
    """Make a rename in ``path``'s folder durable (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        if tmp.exists():
            tmp.unlink()
