"""The README's description of the command line agrees with the command line."""

from __future__ import annotations

import re

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
