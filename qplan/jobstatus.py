"""Status of a job instance, its allowed transitions, and what each provider's status maps to.

Statuses, and what follows from each:

==============  ============================================================================
``submitting``  an intent was committed; the provider may or may not have the job. On
                restart it is looked up by its idempotency key, never blindly resent.
``queued``      the provider accepted the job and holds its id; not started.
``running``     the provider reports it executing.
``cancelling``  a cancel was requested; the provider has not confirmed it.
``succeeded``   final; a result is recorded. Never run again for the same fingerprint.
``failed``      final for this attempt; retried while attempts are left.
``cancelled``   final; cancelled by qplan or at the provider.
==============  ============================================================================

In flight = submitting, queued, running, cancelling. Final = succeeded, failed, cancelled.
"""

from __future__ import annotations

from enum import StrEnum

from qplan.errors import QplanError

__all__ = [
    "FINAL",
    "IN_FLIGHT",
    "PROVIDER_STATUS",
    "TRANSITIONS",
    "InvalidTransition",
    "JobStatus",
    "check_transition",
    "from_provider",
]


class JobStatus(StrEnum):
    SUBMITTING = "submitting"
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT


S = JobStatus
FINAL = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})
IN_FLIGHT = frozenset({S.SUBMITTING, S.QUEUED, S.RUNNING, S.CANCELLING})

TRANSITIONS: dict[JobStatus | None, frozenset[JobStatus]] = {
    # None: no row yet. The only way in is an intent, committed before the provider call.
    None: frozenset({S.SUBMITTING}),
    # A lookup by key can find the job already running or even finished.
    S.SUBMITTING: frozenset(
        {S.QUEUED, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}
    ),
    S.QUEUED: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    # A cancel can lose the race: the job may still finish either way.
    S.CANCELLING: frozenset({S.CANCELLED, S.SUCCEEDED, S.FAILED}),
    # Final statuses leave only through a new attempt (retry) or a new fingerprint (replace),
    # both of which start with a new intent.
    S.SUCCEEDED: frozenset({S.SUBMITTING}),
    S.FAILED: frozenset({S.SUBMITTING}),
    S.CANCELLED: frozenset({S.SUBMITTING}),
}


class InvalidTransition(QplanError):
    """A status change the table does not allow: a bug, or a provider reporting nonsense.
    Reported as it is (exit 1), with nothing written: the state keeps its last good
    status."""


def check_transition(current: JobStatus | None, new: JobStatus) -> None:
    """Raise InvalidTransition unless ``current -> new`` is allowed. Same status is a no-op."""
    if current == new:
        return
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"state: a status change {current or 'absent'} -> {new} is not allowed"
        )


PROVIDER_STATUS: dict[str, dict[str, JobStatus]] = {
    "local": {
        "QUEUED": S.QUEUED,
        "RUNNING": S.RUNNING,
        "COMPLETED": S.SUCCEEDED,
        "FAILED": S.FAILED,
        "CANCELLED": S.CANCELLED,
    },
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
        "Finishing": S.RUNNING,
        "CancellationRequested": S.CANCELLING,
        "Cancelling": S.CANCELLING,
        "Succeeded": S.SUCCEEDED,
        "Completed": S.SUCCEEDED,
        "Failed": S.FAILED,
        "Cancelled": S.CANCELLED,
    },
    "pasqal": {
        "PENDING": S.QUEUED,
        "PAUSED": S.QUEUED,
        "RUNNING": S.RUNNING,
        "DONE": S.SUCCEEDED,
        "ERROR": S.FAILED,
        "TIMED_OUT": S.FAILED,
        "CANCELED": S.CANCELLED,
    },
}


def from_provider(provider_type: str, status: str) -> JobStatus:
    """The qplan status of a provider's raw status string. Raises KeyError for an unknown
    one: the caller decides whether that is transient (a new status) or a bug."""
    return PROVIDER_STATUS[provider_type][status]
