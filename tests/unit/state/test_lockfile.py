"""The lock file: what it records, that it diffs line by line, and what it refuses."""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path

import pytest

from qplan.jobstatus import JobStatus
from qplan.state import Row
from qplan.state.lockfile import (
    LockFileError,
    LockHeader,
    compare,
    lock_path,
    read_header,
    read_lock,
    render_lock,
    write_lock,
)

S = JobStatus


def row(address: str, status: JobStatus = S.SUCCEEDED, **fields: object) -> Row:
    base = Row(
        stack="s",
        address=address,
        kind="job",
        job=address.partition("[")[0],
        status=status,
        fingerprint="fp-" + address,
        attempt=1,
        idempotency_key="key-" + address,
        provider="aws",
        target="aws/sv1",
        provider_job_id="arn:task/" + address,
        result_hash="sha-" + address if status is S.SUCCEEDED else None,
        error=None,
        created_at=1_700_000_000.0,
        updated_at=1_700_000_060.0,
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


ROWS = [row("rabi[theta=1.0]"), row("rabi[theta=0.0]"), row("cal", S.RUNNING)]


def test_one_sorted_line_per_instance_sessions_left_out() -> None:
    text = render_lock("s", [*ROWS, row("session.main", kind="session")])
    data = json.loads(text)
    assert [e["address"] for e in data["instances"]] == [
        "cal",
        "rabi[theta=0.0]",
        "rabi[theta=1.0]",
    ]
    first = data["instances"][1]
    assert first == {
        "address": "rabi[theta=0.0]",
        "fingerprint": "fp-rabi[theta=0.0]",
        "provider": "aws",
        "target": "aws/sv1",
        "provider_job_id": "arn:task/rabi[theta=0.0]",
        "status": "succeeded",
        "attempt": 1,
        "result": "sha-rabi[theta=0.0]",
        "finished_at": "2023-11-14T22:14:20Z",
    }
    assert data["instances"][0]["finished_at"] is None  # still running
    lines = [line for line in text.splitlines() if '"address"' in line]
    assert len(lines) == 3
    assert "key-" not in text  # idempotency keys are the state's business


def test_a_changed_instance_changes_one_line_of_the_diff() -> None:
    before = render_lock("s", ROWS)
    after = render_lock("s", [ROWS[0], ROWS[1], row("cal", result_hash="sha-cal")])
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 2 and all('"address": "cal"' in line for line in changed)


def test_write_read_compare(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "qplan.yaml")
    assert path.name == "qplan.lock"
    assert read_lock(path) is None
    assert write_lock(path, "s", ROWS) is True
    assert write_lock(path, "s", list(reversed(ROWS))) is False  # same content: untouched
    found = read_lock(path)
    assert found is not None and found.stack == "s"
    assert compare(found, "s", ROWS) == []
    moved = [ROWS[0], row("rabi[theta=0.0]", S.CANCELLED), row("new")]
    differences = compare(found, "s", moved)
    assert differences == [
        "1 instance in the state but not in the lock file: new",
        "1 instance in the lock file but not in the state: cal",
        "1 instance recorded differently (status, job id, result or fingerprint): rabi[theta=0.0]",
    ]
    assert compare(found, "other", ROWS) == ["qplan.lock is of stack s, not other"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "qplan.lock:1:1: not a qplan lock file"),
        ('{"stack": "s"}', "not a qplan lock file (no qplan_lock)"),
        ('{"qplan_lock": 9, "stack": "s", "instances": []}', "format 9 is newer"),
        ('{"qplan_lock": 1, "stack": "s", "instances": [{}]}', "instances[0]: an object"),
    ],
)
def test_bad_lock_files_are_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "qplan.lock"
    path.write_text(text)
    with pytest.raises(LockFileError, match=r".*") as caught:
        read_lock(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_the_header_says_which_state_it_was_written_from(tmp_path: Path) -> None:
    path = tmp_path / "qplan.lock"
    write_lock(path, "s", ROWS, lineage="abc", serial=42)
    assert read_header(path) == LockHeader("s", "abc", 42)
    assert read_header(tmp_path / "none.lock") is None
    found = read_lock(path)
    assert found is not None and found.header == LockHeader("s", "abc", 42)
    assert compare(found, "s", ROWS) == []


def test_a_file_laid_out_otherwise_reads_the_same(tmp_path: Path) -> None:
    """Line by line for the layout qplan writes; whole for the same JSON reformatted."""
    written = tmp_path / "qplan.lock"
    write_lock(written, "s", ROWS, lineage="abc", serial=7)
    pretty = tmp_path / "pretty.lock"
    pretty.write_text(json.dumps(json.loads(written.read_text()), indent=4, sort_keys=True))
    first, second = read_lock(written), read_lock(pretty)
    assert first is not None and second is not None
    assert first.entries == second.entries and len(first.entries) == 3
    assert read_header(pretty) == LockHeader("s", "abc", 7)
    assert compare(second, "s", ROWS) == []


def test_an_instance_on_the_opening_line_is_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "qplan.lock"
    text = render_lock("s", ROWS).replace('"instances": [\n    ', '"instances": [')
    path.write_text(text)
    found = read_lock(path)
    assert found is not None and sorted(found.entries) == sorted(r.address for r in ROWS)


def test_a_lock_file_that_cannot_be_written_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "qplan.lock").mkdir()
    with pytest.raises(LockFileError, match=r"qplan\.lock: cannot write the lock file"):
        write_lock(tmp_path / "qplan.lock", "s", ROWS)
    assert [p.name for p in tmp_path.iterdir()] == ["qplan.lock"]  # no temporary file left
