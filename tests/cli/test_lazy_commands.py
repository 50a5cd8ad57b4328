"""The root builds a command only when it is used; its help lists the commands from their
registration, and that listing says what the built commands say."""

from __future__ import annotations

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from pumpsim.cli import app

EXPECTED = ["check", "simulate", "forecast", "program", "plan", "catalog", "scenario", "cohort"]


def _root() -> typer.core.TyperGroup:
    group = get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return group


def test_commands_are_listed_in_registration_order_and_built_on_lookup() -> None:
    group = _root()
    ctx = typer.Context(group)
    assert group.list_commands(ctx) == EXPECTED
    assert group.commands._built == {}  # type: ignore[attr-defined]
    check = group.get_command(ctx, "check")
    assert check is not None and check.params[0].name == "profiles"
    assert list(group.commands._built) == ["check"]  # type: ignore[attr-defined]
    assert group.get_command(ctx, "no-such-command") is None


def test_the_listing_stand_ins_match_the_built_commands() -> None:
    """Name, help, short help, hidden and deprecated of each stand-in equal the real one's."""
    group = _root()
    ctx = typer.Context(group)
    table = group.commands
    for name in EXPECTED:
        stand_in = table.summary(name)  # type: ignore[attr-defined]
        built = group.get_command(ctx, name)
        assert stand_in is not None and built is not None
        for attribute in ("name", "help", "short_help", "hidden", "deprecated"):
            assert getattr(stand_in, attribute) == getattr(built, attribute), (name, attribute)
        assert stand_in.get_short_help_str() == built.get_short_help_str()


def test_root_help_is_the_same_before_and_after_the_commands_are_built(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """typer's rich help prints itself; captured before and after every command is built."""
    group = _root()
    ctx = typer.Context(group, info_name="pumpsim")
    group.get_help(ctx)
    before = capsys.readouterr().out
    assert group.commands._built == {}  # type: ignore[attr-defined]
    for name in EXPECTED:
        group.get_command(ctx, name)
    group.get_help(ctx)
    after = capsys.readouterr().out
    assert "Forecast when each patient must be refilled." in before
    assert before == after


def test_a_mistyped_command_is_a_usage_error_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["chek", "x.yaml"])
    assert result.exit_code == 64
    assert "Did you mean 'check'?" in result.output
