"""The provider protocol: what the executor asks of a backend, and what it can rely on.

Everything a provider is asked to run arrives as one record, a ``Dispatch``: the members
(job instances) that go as one provider job under one idempotency key, one member for a
job of its own, several for a native batch (a Braket program set, a Pasqal batch). The
provider answers with a ``Receipt``: its reference for the dispatch and one job id per
member, used from then on to observe, fetch results and cancel. How a provider encodes a
member's id (Braket's ``arn#3``, Pasqal's own job ids) is its own business.

=================  ==========================================================================
``submit``         run a dispatch; same key, same provider job: never a second one
``lookup(keys)``   the receipts of dispatches the provider has under those keys (recovery,
                   ambiguous errors)
``observe(ids)``   statuses of many jobs, in as few calls as the provider allows
``result(id)``     the result of a succeeded job, normalised
``cancel(ids)``    ask to cancel; an already-final job is not an error
``release(ids)``   their outcomes are recorded: drop what was kept for them (optional)
``prune(keys)``    as an apply starts: drop what was kept under any other key (optional)
``sessions``       an optional ``SessionSupport``: open, find by key, close, abort
=================  ==========================================================================

SDK exceptions never cross this boundary: they are mapped to the three errors below.

Errors, and what the executor does with them::

    ProviderError
    ├── TransientError   the call did not happen (throttled, unavailable): try again later
    │                    with the same key (on a provider without idempotent submit, a
    │                    transient error on submit is handled as ambiguous)
    ├── PermanentError   the request is wrong (validation, device retired): the attempt fails
    │   └── SessionEnded the job's session has ended at the provider (aborted, timed out):
    │                    nothing was made; its members are skipped or go into a new session
    └── AmbiguousError   the call may or may not have happened (timeout, 5xx after send):
                         the intent stays ``submitting`` and is looked up by key, never resent
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qplan.errors import QplanError
from qplan.jobstatus import JobStatus
from qplan.manifest.hybrid import HybridSpec

__all__ = [
    "AmbiguousError",
    "Capabilities",
    "Dispatch",
    "HybridJobs",
    "JobDetails",
    "LogChunk",
    "Member",
    "Observation",
    "PermanentError",
    "Provider",
    "ProviderError",
    "Receipt",
    "SessionEnded",
    "SessionSupport",
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


class SessionEnded(PermanentError):
    """The dispatch was refused because its session has ended at the provider: ``status``
    is the session's (an aborted session's ``Failed``, an idle one's ``TimedOut``). Nothing
    was made: its members may go into another session under the same keys."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; the executor reads every field.

    - ``submit_rate``, ``submit_burst``: its token bucket for submissions (per second, burst).
    - ``submit_concurrency``: dispatches sent at once (network latency hides behind it);
      results are also read that many at once.
    - ``max_in_flight``: its provider jobs this apply keeps in flight at most (a native
      batch counts once).
    - ``max_observe``: job ids per ``observe`` call.
    - ``poll_interval``: seconds between two observations of its jobs (``--poll-interval``
      overrides every provider's).
    - ``durable_jobs``: False when jobs end with the qplan process that started them (the
      local provider): such runs found in flight at start are looked up by key (a finished
      one is found with its result) or recorded cancelled, to run again.
    - ``idempotent_submit``: the service itself never makes two jobs of one key. Without it
      a transient error on submit may hide a job that was made: it is looked up first.
    - ``batch_by_default``: a sweep with ``batch: auto`` goes as native batches (Pasqal);
      False: one job per point (Braket).
    - ``timeout_from_start``: jobs wait in qplan's own queue until they start (local), so a
      timeout counts from the ``started_at`` of their observations; False: the provider
      queues what it is sent, and a timeout counts from the submission.
    """

    submit_rate: float = 20.0
    submit_burst: int = 40
    submit_concurrency: int = 1
    max_in_flight: int = 64
    max_observe: int = 100
    poll_interval: float = 2.0
    durable_jobs: bool = True
    idempotent_submit: bool = True
    batch_by_default: bool = False
    timeout_from_start: bool = False


@dataclass(frozen=True)
class Member:
    """One job instance of a dispatch: its own address, fingerprint, attempt and inputs;
    ``previous``: a retry's job id of the attempt that failed (a provider may retry it in
    place: Pasqal's ``rebatch``)."""

    address: str
    fingerprint: str
    attempt: int
    inputs: Mapping[str, Any]
    job: str = ""
    previous: str | None = None


@dataclass(frozen=True)
class Dispatch:
    """What the provider runs under ``key``: the ``members`` (one, or a native batch: the
    same program, shots and device, one execution per member, in order), in the provider
    session ``group`` when given. ``settings``: the provider's own options for this job
    (a Braket reservation ARN); ``params``: the job's target input parameters (``params:``
    in the manifest, checked against the target); ``entry``: the entry operation of a
    program that has one (Q#); ``tags``: the manifest's tags. A hybrid job (format
    ``braket.hybrid``) has one member whose ``inputs`` are its hyperparameters, ``program``
    its source as a deterministic gzipped tar, ``entry`` its entry point
    (``module:function``), ``shots`` 0 and ``hybrid`` the rest of its specification."""

    key: str
    stack: str
    device: str
    format: str
    program: str | bytes
    shots: int
    members: tuple[Member, ...]
    group: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    entry: str | None = None
    hybrid: HybridSpec | None = None

    @property
    def batch(self) -> bool:
        return len(self.members) > 1

    @property
    def attempt(self) -> int:
        return max(m.attempt for m in self.members)


@dataclass(frozen=True)
class Receipt:
    """The provider's answer to a dispatch: ``ref``, its own reference of the whole job
    (a task ARN, a batch id), and one job id per member, in the members' order."""

    ref: str
    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class Observation:
    """What the provider says of one job now. ``error`` explains a failure;
    ``started_at`` (seconds since the epoch) is when it started running, if known."""

    job_id: str
    status: JobStatus
    error: str | None = None
    started_at: float | None = None


class SessionSupport(ABC):
    """A provider's native sessions (Azure sessions, Pasqal open batches). Opening is
    idempotent under a key, as a submission is: an open that may have happened is looked
    up with ``find``. ``enforces_policy``: the service applies the failure policy itself
    (an aborted Azure session refuses new jobs); False: qplan applies it."""

    enforces_policy: bool = False

    @abstractmethod
    def open(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        """Open a session under ``key``; returns its id. Same key, same session."""

    @abstractmethod
    def find(self, keys: Sequence[str]) -> dict[str, str]:
        """Ids of the sessions the provider has under ``keys``."""

    @abstractmethod
    def close(self, session_id: str) -> str | None:
        """No job joins it afterwards; those in it run to their end. Returns the
        provider's status of the session once closed, if it says."""

    @abstractmethod
    def abort(self, session_id: str) -> None:
        """End it at once: what it still holds is cancelled."""

    def statuses(self, session_ids: Sequence[str]) -> dict[str, str]:
        """The provider's own status of each session (Azure's ``Executing``,
        ``Failure(s)``, ``TimedOut``...), for ``qplan status``; none by default."""
        return {}


@dataclass(frozen=True)
class LogChunk:
    """Lines of a job's log read from ``cursor`` on: ``cursor`` is where the next read
    starts (opaque to the caller); ``final``: the job has ended and every line of its log
    has been read, so reading again gives nothing new."""

    lines: tuple[str, ...]
    cursor: str | None
    final: bool


@dataclass(frozen=True)
class JobDetails:
    """What a provider says of one hybrid job, for ``qplan status``: its provider status,
    ``queue`` position (as the provider words it, e.g. ``"3 (Priority)"``), ``events``
    (time, name, message), ``billable_seconds`` once it has ended, ``failure``."""

    status: JobStatus
    name: str = ""
    queue: str | None = None
    events: tuple[tuple[float, str, str], ...] = ()
    billable_seconds: float | None = None
    failure: str | None = None
    started_at: float | None = None
    ended_at: float | None = None


class HybridJobs(ABC):
    """A provider's hybrid jobs (format ``braket.hybrid``) beyond the protocol every job
    follows: their logs, details and output archives, by the job id of their receipt."""

    @abstractmethod
    def log(self, job_id: str, cursor: str | None = None) -> LogChunk:
        """The job's log lines from ``cursor`` on (None: from the start)."""

    @abstractmethod
    def details(self, job_id: str) -> JobDetails:
        """Status, queue position, events and billable duration."""

    @abstractmethod
    def output(self, job_id: str) -> bytes:
        """The job's output archive (``model.tar.gz``: what its results folder held).
        PermanentError when the job left none (it failed before writing one)."""


class Provider(ABC):
    """One configured provider (a ``providers:`` entry of the manifest)."""

    name: str
    capabilities: Capabilities
    sessions: SessionSupport | None = None
    hybrid_jobs: HybridJobs | None = None

    @abstractmethod
    def submit(self, dispatch: Dispatch) -> Receipt:
        """Run ``dispatch``. Same key, same provider job: never a second one."""

    @abstractmethod
    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        """Receipts of the dispatches made under ``keys`` that the provider knows.
        ``since``: no dispatch under these keys is older (seconds since the epoch), which
        bounds a search when the provider cannot find jobs by key directly."""

    @abstractmethod
    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        """Current status of each job, in as few calls as the provider allows. A job it
        cannot see yet is left out (asked again next time)."""

    @abstractmethod
    def result(self, job_id: str) -> dict[str, Any]:
        """The result of a succeeded job: ``{"counts": {bitstring: n}, "raw": ...}``."""

    @abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> None:
        """Ask to cancel; already-final jobs are not an error. Members of one native batch
        are cancelled with their batch."""

    def release(self, job_ids: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """The outcomes of ``job_ids`` are recorded in the state: the provider may drop
        what it kept for them (the local provider's copies of results)."""

    def prune(self, keys: Collection[str]) -> None:  # noqa: B027 - optional hook
        """Called as an apply starts, under the stack's lock, with every key whose fate it
        may still ask about: what the provider kept for the stack under other keys (a
        copy a crash left unreleased) will never be asked for."""

    def batch_limit(self, device: str, format: str, shots: int) -> int:
        """How many members one native batch on ``device`` may hold (1: no native batches;
        a sweep then goes one job per point)."""
        return 1

    def device_specs(self) -> dict[str, str]:
        """The specifications the service publishes of its devices: device name to Pulser's
        JSON representation of the device (Pasqal). None by default."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the provider holds (pools, connections)."""
