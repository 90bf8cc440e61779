"""The Markdown plan, rendered to HTML by a Markdown renderer (markdown-it, CommonMark
with tables) as a code host renders a pull request's comment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from qplan import operations
from qplan.cli.views.plan_markdown import MAX_LISTED, SHOWN_PER_JOB, render_markdown
from qplan.planner import to_document
from tests.conftest import copy_example


def html_of(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


@pytest.fixture
def braket_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("QPLAN_S3_BUCKET", "results")
    monkeypatch.delenv("QPLAN_STATE", raising=False)
    return str(copy_example("braket-sweep", tmp_path / "example") / "qplan.yaml")


def markdown_of(manifest: str) -> str:
    """The Markdown plan; the same from a detailed document as from one holding only the
    instances it lists (what `qplan plan --format markdown` makes)."""
    plan = operations.plan(manifest, operations.LoadOptions())
    markdown = "\n".join(render_markdown(to_document(plan)))
    listed = "\n".join(render_markdown(to_document(plan, changes_only=MAX_LISTED)))
    assert listed == markdown
    return markdown


def test_the_braket_sweep_plan_renders_as_a_table_a_cost_and_folded_instances(
    braket_sweep: str,
) -> None:
    markdown = markdown_of(braket_sweep)
    html = html_of(markdown)
    assert "<h3>qplan plan: stack <code>rabi-study</code></h3>" in html
    assert "<strong>33 to create</strong>" in html
    # the table: one row per job, with its counts and its cost
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows]
    assert cells[0] == ["", "resource", "target", "create", "estimated cost"]
    assert [c[1:4] for c in cells[1:]] == [
        ["calibrate", "aws/sv1", "1"],
        ["rabi", "aws/sv1", "32"],
    ]
    assert all(c[4].endswith(" USD") for c in cells[1:])
    assert re.search(r"Estimated cost: <strong>[0-9.]+ USD</strong>", html)
    # the changed instances: the first few shown, the rest folded
    assert html.count("<li><code>+</code>") == 33
    assert "<details><summary>27 more</summary>" in html
    assert "<code>rabi[phi=0.0,theta=0.0]</code>" in html
    assert "Planned at state serial 0" in html
    assert len(markdown) < 10_000


def test_a_huge_plan_stays_a_comment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QPLAN_STATE", raising=False)
    manifest = tmp_path / "qplan.yaml"
    manifest.write_text(
        "version: 1\nstack: big\n"
        "programs:\n  p: {format: openqasm3, source: 'OPENQASM 3.0; input float x; qubit q;'}\n"
        "jobs:\n"
        + "".join(
            f"  j{i}: {{target: local/braket_sv, program: p, shots: 1,"
            f" sweep: {{grid: {{x: {{linspace: [0, 1, 5000]}}}}}}}}\n"
            for i in range(3)
        )
    )
    markdown = markdown_of(str(manifest))
    html = html_of(markdown)
    assert html.count("<li><code>+</code>") == MAX_LISTED
    assert f"{3 * 5000 - MAX_LISTED} more changing instances, not listed" in html
    assert html.count("<details>") == 1  # only the first job's instances are listed
    assert f"<details><summary>{MAX_LISTED - SHOWN_PER_JOB} more</summary>" in html
    assert len(markdown) < 65_536  # GitHub's limit for a comment
