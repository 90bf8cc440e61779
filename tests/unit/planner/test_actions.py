"""The action of each case of the table."""

from __future__ import annotations

import pytest

from qplan.jobstatus import JobStatus
from qplan.planner import Action, decide, decide_orphan
from qplan.state import RowState

S = JobStatus


def row(status: JobStatus, fingerprint: str = "fp", attempt: int = 1) -> RowState:
    return RowState(status, fingerprint, attempt, "job")


@pytest.mark.parametrize(
    ("state", "attempts", "expected"),
    [
        (None, 1, Action.CREATE),
        (row(S.SUCCEEDED), 1, Action.NOOP),
        (row(S.SUBMITTING), 1, Action.WAIT),
        (row(S.QUEUED), 1, Action.WAIT),
        (row(S.RUNNING), 1, Action.WAIT),
        (row(S.CANCELLING), 1, Action.WAIT),
        (row(S.FAILED, attempt=1), 3, Action.RETRY),
        (row(S.FAILED, attempt=2), 3, Action.RETRY),
        (row(S.FAILED, attempt=3), 3, Action.NOOP),
        (row(S.FAILED, attempt=1), 1, Action.NOOP),
        (row(S.CANCELLED), 1, Action.RETRY),
        (row(S.SUCCEEDED, fingerprint="old"), 1, Action.REPLACE),
        (row(S.RUNNING, fingerprint="old"), 1, Action.REPLACE),
        (row(S.FAILED, fingerprint="old", attempt=9), 1, Action.REPLACE),
    ],
)
def test_decide(state: RowState | None, attempts: int, expected: Action) -> None:
    assert decide(state, "fp", attempts)[0] is expected


def test_reasons_explain_the_unobvious() -> None:
    assert decide(row(S.FAILED, attempt=3), "fp", 3)[1] == "failed, all 3 attempts used"
    assert decide(row(S.FAILED, attempt=1), "fp", 3)[1] == "failed, attempt 1 of 3"
    assert decide(row(S.RUNNING, fingerprint="x"), "fp", 1)[1] == "running with another fingerprint"


@pytest.mark.parametrize("status", list(JobStatus))
def test_orphans_are_cancelled_when_in_flight_else_forgotten(status: JobStatus) -> None:
    action, _ = decide_orphan(row(status))
    assert action is (Action.CANCEL if status.in_flight else Action.FORGET)
