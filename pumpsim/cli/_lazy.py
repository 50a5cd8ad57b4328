"""Subcommands built only when they are used, so ``pumpsim check`` does not pay for ``forecast``.

typer turns every registered command into a click command (reading its signature, evaluating
its option declarations) each time the program starts. ``LazyCommands`` is the root group's
command table instead: it holds what the subcommand modules registered (on a holder ``Typer``)
and builds a command with typer's own builders the first time it is looked up. The root
``--help`` lists the commands through ``summary``: name, help and panel, read from the
registration without building the command, so listing ``forecast`` does not import the forecast
layer its options name (``--runs`` up to ``MAX_RUNS``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer import _click as click
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info, get_group_from_info, solve_typer_info_defaults
from typer.models import CommandInfo, TyperInfo

__all__ = ["LazyCommands", "library"]


def _command_name(info: CommandInfo) -> str:
    if info.name:
        return info.name
    assert info.callback is not None, "a command needs a callback"
    return typer.main.get_command_name(info.callback.__name__)


def _group_name(info: TyperInfo) -> str:
    name = solve_typer_info_defaults(info).name
    if not isinstance(name, str) or not name:
        raise TypeError("a command group registered on the root needs a name (add_typer name=)")
    return name


class LazyCommands(MutableMapping[str, click.Command]):
    """The root's commands, by name in registration order (commands, then groups, as typer
    lists them), each built on first use with the root ``Typer``'s settings."""

    def __init__(self, holder: typer.Typer, root: typer.Typer) -> None:
        self._root = root
        self._infos: dict[str, CommandInfo | TyperInfo] = {}
        for command in holder.registered_commands:
            self._infos[_command_name(command)] = command
        for group in holder.registered_groups:
            self._infos[_group_name(group)] = group
        self._built: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._built:
            self._built[name] = self._build(self._infos[name])
        return self._built[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._built[name] = command
        self._infos.setdefault(name, CommandInfo(name=name))

    def __delitem__(self, name: str) -> None:
        del self._infos[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)

    def _build(self, info: CommandInfo | TyperInfo) -> click.Command:
        root = self._root
        if isinstance(info, TyperInfo):
            return get_group_from_info(
                info,
                pretty_exceptions_short=root.pretty_exceptions_short,
                rich_markup_mode=root.rich_markup_mode,
                suggest_commands=root.suggest_commands,
            )
        return get_command_from_info(
            info,
            pretty_exceptions_short=root.pretty_exceptions_short,
            rich_markup_mode=root.rich_markup_mode,
        )

    def summary(self, name: str) -> click.Command | None:
        """The command if it is built, else a stand-in with what a command list shows (name,
        help, short help, hidden, deprecated, help panel), taken as typer takes them."""
        if name in self._built:
            return self._built[name]
        info = self._infos.get(name)
        if info is None:
            return None
        if isinstance(info, TyperInfo):
            solved = solve_typer_info_defaults(info)
            return TyperGroup(
                name=name,
                help=solved.help,
                short_help=solved.short_help,
                hidden=bool(solved.hidden),
                deprecated=bool(solved.deprecated),
                rich_help_panel=solved.rich_help_panel,
            )
        text = info.help
        help_text = inspect.getdoc(info.callback) if text is None else inspect.cleandoc(text)
        return TyperCommand(
            name=name,
            help=help_text,
            short_help=info.short_help,
            hidden=info.hidden,
            deprecated=info.deprecated,
            rich_help_panel=info.rich_help_panel,
        )


class _Library:
    """A library module imported on its first attribute: ``library("pumpsim.forecast.batch")``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


def library(name: str) -> Any:
    """The module ``name``, imported when an attribute of it is first read (an option's bound
    such as ``MAX_RUNS``, evaluated when typer builds that command)."""
    return _Library(name)
