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
    ``submit_concurrency``: submissions sent at once (network latency hides behind it)."""

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
    """What the provider says of one job now. ``error`` explains a failure."""

    job_id: str
    status: JobStatus
    error: str | None = None


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

    def open_session(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        """Open a native session; returns its id. Providers without sessions return ``key``."""
        return key

    def close_session(self, session_id: str) -> None:  # noqa: B027 - optional hook
        """Close a session: no job joins it afterwards."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the provider holds (pools, connections)."""
