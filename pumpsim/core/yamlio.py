"""Safe, strict YAML reading: no object construction, no duplicate keys, times of day as text.

PyYAML's safe loader follows YAML 1.1, where ``07:30`` is the base-60 integer 450 and a repeated
key silently overwrites the first. Clinical files must not be read that way, so this loader keeps
``HH:MM`` as a string and rejects duplicate keys.

Hostile or careless files are bounded before anything else reads them: a file is at most
``MAX_YAML_BYTES``, nesting at most ``MAX_DEPTH`` levels, at most ``MAX_ALIASES`` aliases (so an
alias bomb cannot expand), and every mapping key is text. Any failure of the parser (a bad date
``2026-02-30``, an unhashable key ``? [a]``) is a ``ProfileError``, never a traceback, and its
message never quotes the file's lines.

Speed: when PyYAML has libyaml, a file is first read with libyaml's scanner and parser under the
same composer (bounds), resolver and constructors; the pure-Python reading, several times
slower, is what ``pumpsim check`` spent most of its run on. Anything that fails that way is read
again the pure-Python way, so every error (and its message) is exactly the one it always was.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pumpsim.core.errors import Problem, ProfileError, clip

MAX_YAML_BYTES = 1_000_000
"""The largest YAML file read (the shipped profiles are about 3 kB)."""
MAX_DEPTH = 32
"""The deepest nesting of lists and mappings accepted (profiles use 5 levels)."""
MAX_ALIASES = 100
"""The most ``*alias`` references a file may use."""


class _Bounded(yaml.composer.Composer):
    """The composer with the bounds above (nesting depth, aliases)."""

    _depth = 0
    _aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _limit(self, f"more than {MAX_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _limit(self, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _StrictLoader(_Bounded, yaml.SafeLoader):
    """PyYAML's safe loader with the bounds above (nesting depth, aliases)."""


def _limit(loader: _Bounded, problem: str) -> yaml.composer.ComposerError:
    event: Any = loader.peek_event()  # type: ignore[attr-defined]
    return yaml.composer.ComposerError(None, None, problem, event.start_mark)


_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if not (
            tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in regexp.pattern
        )
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# integers and floats without base-60 forms (copied from PyYAML's resolver, minus the ':' branch)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {clip(repr(key), 30)} is not text",
                key_node.start_mark,
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {clip(repr(key))}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)

_CParser: Any = getattr(getattr(yaml, "_yaml", None), "CParser", None)
_FastLoader: Any = None
if _CParser is not None:  # libyaml's events, then the same composer, resolver and constructors

    class _FastLoader(  # type: ignore[no-redef]
        _Bounded,
        _CParser,  # type: ignore[misc]
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        yaml_implicit_resolvers = _StrictLoader.yaml_implicit_resolvers
        yaml_constructors = _StrictLoader.yaml_constructors

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text safely; a syntax error becomes a ``ProfileError`` naming ``source``."""
    if _FastLoader is not None:
        try:
            return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a safe constructor
        except Exception:  # noqa: BLE001, S110 - read again below, for its exact error
            pass
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        # the problem alone: str(exc) would quote the offending line of the file
        problem = getattr(exc, "problem", None) or _reader_problem(exc)
        raise ProfileError(source, [Problem(where, _Text(problem), _YAML_ALLOWED)]) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # PyYAML's constructors raise these for e.g. the date 2026-02-30 or the year 0000
        raise ProfileError(
            source, [Problem("file", _Text(_reason(exc)), "valid YAML with valid dates")]
        ) from None


_YAML_ALLOWED = "valid YAML; keys are names (quote a number used as a name), each written once"


def _reader_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return f"unacceptable character {exc.character!r} at character {exc.position + 1}"
    return exc.__class__.__name__


class _Text(str):
    """A message part shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return f"nested deeper than {MAX_DEPTH} levels"
    return clip(f"{exc.__class__.__name__}: {exc}")


def read_yaml(path: Path) -> Any:
    """Read a YAML file; a missing, unreadable, oversized or non-UTF-8 file is a
    ``ProfileError``."""
    return parse_yaml(read_text_file(path, MAX_YAML_BYTES, "YAML"), str(path))


def read_text_file(path: Path, max_bytes: int, what: str) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; anything else (a folder, a
    device such as ``/dev/zero``, a FIFO, bytes that are not UTF-8, a file too large) is a
    ``ProfileError`` naming the file, never a hang or a traceback."""
    source = str(path)
    allowed = f"a readable UTF-8 file ({what}, at most {max_bytes:,} bytes)"
    try:
        if not path.is_file():
            reason = "no such file" if not path.exists() else "not a regular file"
            raise ProfileError(source, [Problem("file", _Text(reason), allowed)])
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ProfileError(
            source, [Problem("file", _Text(exc.strerror or exc.__class__.__name__), allowed)]
        ) from None
    if len(data) > max_bytes:
        raise ProfileError(source, [Problem("file", _Text("too large"), allowed)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            source, [Problem("file", _Text(f"not UTF-8 (byte {exc.start + 1})"), allowed)]
        ) from None
