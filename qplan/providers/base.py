"""The provider protocol: what the executor asks of a backend, and what it can rely on.

A provider submits job instances under a deterministic idempotency key, finds submissions
again by that key after a crash, observes many jobs per call, fetches results and cancels.
It declares its capabilities; the executor adapts to them. SDK exceptions never cross
this boundary: they are mapped to the three errors below.

Errors, and what the executor does with them::

    ProviderError
    ├── TransientError   the call did not happen (throttled, unavailable): try again later
    │                    with the same key
    ├── PermanentError   the request is wrong (validation, device retired): the attempt fails
    └── AmbiguousError   the call may or may not have happened (timeout, 5xx after send):
                         the intent stays `submitting` and is looked up by key, never resent
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qplan.errors import QplanError
from qplan.jobstatus import JobStatus

__all__ = [
    "AmbiguousError",
    "Capabilities",
    "Observation",
    "PermanentError",
    "Provider",
    "ProviderError",
    "Submission",
    "TransientError",
    "member_job_id",
    "split_job_id",
]


class ProviderError(QplanError):
    """A provider call failed; the message is the provider's, with the instance's address."""


class TransientError(ProviderError):
    pass


class PermanentError(ProviderError):
    pass


class AmbiguousError(ProviderError):
    pass


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do. ``submit_rate`` and ``submit_burst`` size the executor's
    token bucket for submissions; ``max_batch`` caps the ids per observe call.
    ``durable_jobs`` is False when jobs end with the qplan process that started them (the
    local provider): such runs found in flight at start are recorded as cancelled, which
    plans as a retry. ``poll_interval`` is how often in-flight jobs are observed.
    ``submit_concurrency``: submissions sent at once (network latency hides behind it);
    results are also fetched that many at once. ``max_in_flight``: the provider's jobs
    this apply keeps in flight at most (a native batch counts once). ``batch_by_default``:
    a sweep with ``batch: auto`` goes as native batches (Pasqal); False: one job per
    point (Braket). ``timeout_from_start``: jobs wait in qplan's own queue until they start
    (local), so a timeout counts from the ``started_at`` of their observations; False: the
    provider queues what it is sent, and a timeout counts from the submission."""

    native_sessions: bool = False
    native_batches: bool = False
    cancel_running: bool = False
    idempotent_submit: bool = False
    lookup_by_key: bool = False
    bulk_status: bool = False
    submit_rate: float = 20.0
    submit_burst: int = 40
    max_batch: int = 100
    paid: bool = True
    durable_jobs: bool = True
    poll_interval: float = 2.0
    submit_concurrency: int = 1
    max_in_flight: int = 64
    batch_by_default: bool = False
    timeout_from_start: bool = False


@dataclass(frozen=True)
class Submission:
    """One attempt of one job instance, as the provider must run it."""

    key: str
    stack: str
    address: str
    fingerprint: str
    attempt: int
    device: str
    format: str
    program: str | bytes
    shots: int
    inputs: Mapping[str, Any]
    session: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    reservation_arn: str | None = None


@dataclass(frozen=True)
class Observation:
    """What the provider says of one job now. ``error`` explains a failure;
    ``started_at`` (seconds since the epoch) is when it started running, if known."""

    job_id: str
    status: JobStatus
    error: str | None = None
    started_at: float | None = None


def member_job_id(batch_id: str, index: int) -> str:
    """The job id of the ``index``-th member of a native batch (a Braket ProgramSet task):
    the instances of one batch share the provider's job and are told apart by position."""
    return f"{batch_id}#{index}"


def split_job_id(job_id: str) -> tuple[str, int | None]:
    """``(provider job, member index)``; the index is None for a job of its own."""
    base, sep, index = job_id.rpartition("#")
    if sep and index.isdigit():
        return base, int(index)
    return job_id, None


class Provider(ABC):
    """One configured provider (a `providers:` entry of the manifest)."""

    name: str
    capabilities: Capabilities

    @abstractmethod
    def submit(self, submission: Submission) -> str:
        """Submit; returns the provider's job id. Same key, same job: never a second one."""

    @abstractmethod
    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, str]:
        """Job ids of the submissions made under ``keys`` that the provider knows.
        ``since``: no submission under these keys is older (seconds since the epoch), which
        bounds a search when the provider cannot find jobs by key directly."""

    @abstractmethod
    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        """Current status of each job, in as few calls as the provider allows."""

    @abstractmethod
    def result(self, job_id: str) -> dict[str, Any]:
        """The result of a succeeded job: ``{"counts": {bitstring: n}, "raw": ...}``."""

    @abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> None:
        """Ask to cancel; already-final jobs are not an error."""

    def release(self, job_ids: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """The outcomes of ``job_ids`` are recorded in the state: the provider may drop
        what it kept for them (the local provider's copies of results)."""

    def batch_limit(self, device: str, format: str, shots: int) -> int:
        """How many instances one native batch on ``device`` may hold (1: no native batches;
        a sweep then goes one job per point)."""
        return 1

    def submit_batch(self, key: str, members: Sequence[Submission]) -> str:
        """Submit ``members`` (instances of one job, same program and shots) as one native
        batch under ``key``; returns the provider's job id. Member ``i`` is the job
        ``member_job_id(id, i)`` for observe, result and cancel. Same key, same batch."""
        raise PermanentError(f"{self.name}: native batches are not supported")

    def open_session(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        """Open a native session; returns its id. Providers without sessions return ``key``."""
        return key

    def close_session(self, session_id: str) -> None:  # noqa: B027 - optional hook
        """Close a session: no job joins it afterwards."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the provider holds (pools, connections)."""
