"""Atomic file writes: write to a temporary file beside the target, flush it to disk, then rename
it into place, so a reader never sees half a file and a failure leaves the old file (or none)
behind. ``write_set_atomic`` does this for several files that belong together (a plan's JSON,
CSV, calendar and worklist): every temporary file is written and synced first, and only then are
they all renamed, so a run killed while writing leaves the old set, not a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from pumpsim.core.errors import PumpsimError

__all__ = [
    "OutputError",
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
    """Write each ``(path, data)``: all to synced temporary files first, then all renamed.

    A failure (a read-only folder, a full disk) before the renames leaves every old file as it
    was; the renames themselves take microseconds."""
    temporaries: list[tuple[Path, Path]] = []
    current = Path(".")
    try:
        for path, data in files:
            current = Path(path)
            tmp = _temporary(current)
            temporaries.append((tmp, current))
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in temporaries:
            current = path
            os.replace(tmp, path)
        for path in {p.parent for _, p in temporaries}:
            _sync_folder(path / "x")
    except OSError as exc:
        raise OutputError(f"{current}: cannot write ({exc.strerror or exc})") from None
    finally:
        for tmp, _ in temporaries:
            _discard(tmp)


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
