"""The README's description of the command line agrees with the command line."""

from __future__ import annotations

import re

import click
import pytest

from qplan.cli.app import cli
from qplan.cli.main import EXIT_INTERNAL, EXIT_INTERRUPTED
from qplan.cli.plan import EXIT_CHANGES
from qplan.errors import EXIT_USAGE
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"\n{title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_the_exit_code_table_lists_every_code_qplan_uses() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", _section("## Commands"), re.MULTILINE)
    codes = {int(code): meaning for code, meaning in rows}
    assert sorted(codes) == sorted(
        {0, 1, EXIT_CHANGES, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED}
    )
    assert "--detailed-exitcode" in codes[EXIT_CHANGES]
    assert "on_failure" in codes[1]  # a failed apply exits 1 even under on_failure: continue
    for mistake in ("unknown", "missing", "--var", "--var-file"):
        assert mistake in codes[EXIT_USAGE]
    assert "--debug" in codes[EXIT_INTERNAL]


def _signatures(name: str) -> list[str]:
    """The README's signatures of ``qplan NAME``: code spans that open a line."""
    spans = re.findall(r"^`(qplan [^`]*)`", README, re.MULTILINE)
    return [" ".join(span.split()) for span in spans if span.split()[1] == name]


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_the_readme_signature_of_each_command_names_exactly_its_options(name: str) -> None:
    command = cli.commands[name]
    signatures = _signatures(name)
    assert len(signatures) == 1, f"README: want one line opening with `qplan {name} ...`"
    (signature,) = signatures
    context = click.Context(command, info_name=name)
    arguments = [p.make_metavar(context) for p in command.params if isinstance(p, click.Argument)]
    assert signature.split()[2 : 2 + len(arguments)] == arguments
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
    written = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", signature))
    for option in options:
        assert written & {*option.opts, *option.secondary_opts}, f"{option.opts} not in README"
    offered = {flag for option in options for flag in (*option.opts, *option.secondary_opts)}
    assert written <= offered, f"the README names options {name} does not offer"
