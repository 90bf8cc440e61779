"""The job status enum, its transition table, and the provider statuses it maps from."""

from __future__ import annotations

import pytest

from qplan.jobstatus import (
    FINAL,
    IN_FLIGHT,
    PROVIDER_STATUS,
    TRANSITIONS,
    InvalidTransition,
    JobStatus,
    check_transition,
    from_provider,
)

S = JobStatus

ALLOWED = {
    (None, S.SUBMITTING),
    *{
        (S.SUBMITTING, s)
        for s in (S.QUEUED, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED)
    },
    *{(S.QUEUED, s) for s in (S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED)},
    *{(S.RUNNING, s) for s in (S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED)},
    *{(S.CANCELLING, s) for s in (S.CANCELLED, S.SUCCEEDED, S.FAILED)},
    *{(s, S.SUBMITTING) for s in (S.SUCCEEDED, S.FAILED, S.CANCELLED)},
}


@pytest.mark.parametrize("current", [None, *JobStatus])
@pytest.mark.parametrize("new", list(JobStatus))
def test_every_pair_of_the_transition_table(current: JobStatus | None, new: JobStatus) -> None:
    if current == new or (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, new)


def test_nothing_leaves_a_final_status_but_a_new_submission() -> None:
    for status in FINAL:
        assert TRANSITIONS[status] == {S.SUBMITTING}
    assert set(JobStatus) == FINAL | IN_FLIGHT
    assert not FINAL & IN_FLIGHT


# Every status each provider documents (see the provider notes), and what it means here.
DOCUMENTED = {
    "braket": {
        "CREATED": S.QUEUED,
        "QUEUED": S.QUEUED,
        "RUNNING": S.RUNNING,
        "COMPLETED": S.SUCCEEDED,
        "FAILED": S.FAILED,
        "CANCELLING": S.CANCELLING,
        "CANCELLED": S.CANCELLED,
    },
    "azure": {
        "Queued": S.QUEUED,
        "Waiting": S.QUEUED,
        "Executing": S.RUNNING,
        "CancellationRequested": S.CANCELLING,
        "Cancelling": S.CANCELLING,
        "Finishing": S.RUNNING,
        "Completed": S.SUCCEEDED,
        "Succeeded": S.SUCCEEDED,
        "Failed": S.FAILED,
        "Cancelled": S.CANCELLED,
    },
    "pasqal": {
        "PENDING": S.QUEUED,
        "RUNNING": S.RUNNING,
        "DONE": S.SUCCEEDED,
        "ERROR": S.FAILED,
        "CANCELED": S.CANCELLED,
        "TIMED_OUT": S.FAILED,
        "PAUSED": S.QUEUED,
    },
}


@pytest.mark.parametrize("provider", sorted(DOCUMENTED))
def test_provider_statuses_map_as_documented(provider: str) -> None:
    assert PROVIDER_STATUS[provider] == DOCUMENTED[provider]
    for raw, status in DOCUMENTED[provider].items():
        assert from_provider(provider, raw) is status


def test_unknown_provider_status_is_not_guessed() -> None:
    with pytest.raises(KeyError):
        from_provider("braket", "EXPLODED")
