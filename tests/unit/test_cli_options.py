"""The options each command offers: the same spelling everywhere, none that does nothing."""

from __future__ import annotations

import click

from qplan.cli.app import cli


def _options(command: click.Command) -> dict[str, click.Option]:
    return {
        name: param
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


def test_every_yes_has_a_y() -> None:
    with_yes = {name for name, command in cli.commands.items() if "--yes" in _options(command)}
    assert with_yes >= {"apply", "destroy", "force-unlock"}
    for name in with_yes:
        assert "-y" in _options(cli.commands[name])["--yes"].opts, name
