"""The executor's records: an instance's phase and the immutable view the core decides on.

Phases, and what follows from each (the move table is ``MOVES``; ``Instance.to`` enforces it):

=============  ===========================================================================
``waiting``    an attempt to send: a new one (no key yet), or one resent under its key
               (the provider never got it). Sent when its dependencies, its session and
               the admission limits allow, not before ``not_before``.
``unknown``    an intent whose fate is unknown (from an earlier run, or an ambiguous
               error): looked up by its key before anything else.
``queued``     at the provider, with a job id; not started.
``running``    the provider says it runs.
``cancelling`` a cancel was asked (timeout, session abort, interrupt); what comes back
               decides the outcome: a result is never thrown away.
``succeeded``  final: its result is recorded (in this apply or before).
``failed``     final: no attempt left, or a failure policy ended it (in this apply or before).
``skipped``    final: not run, because of a failed dependency or an aborted session, or
               cancelled at qplan's request.
``stopped``    final for this apply: cancelled by an interrupt; the next apply runs it.
=============  ===========================================================================

A failed attempt with attempts left goes back to ``waiting`` (after its backoff).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.manifest import RetryPolicy
from qplan.manifest.hybrid import HybridSpec
from qplan.planner import Action

__all__ = [
    "AT_PROVIDER",
    "FINAL",
    "MOVES",
    "Instance",
    "InvalidMove",
    "JobView",
    "Phase",
    "ProviderView",
    "SessionView",
    "View",
]


class Phase(StrEnum):
    WAITING = "waiting"
    UNKNOWN = "unknown"
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"


P = Phase
FINAL = frozenset({P.SUCCEEDED, P.FAILED, P.SKIPPED, P.STOPPED})
AT_PROVIDER = frozenset({P.QUEUED, P.RUNNING, P.CANCELLING})

MOVES: dict[Phase, frozenset[Phase]] = {
    # sent: accepted, uncertain, refused (failed, or waiting again for a retry), or busy
    P.WAITING: frozenset({P.WAITING, P.QUEUED, P.UNKNOWN, P.FAILED, P.SKIPPED, P.STOPPED}),
    # looked up: found at any stage, or absent (sent again under its key)
    P.UNKNOWN: frozenset(
        {P.QUEUED, P.RUNNING, P.CANCELLING, P.SUCCEEDED, P.FAILED, P.WAITING, P.STOPPED}
    ),
    P.QUEUED: frozenset(
        {P.RUNNING, P.CANCELLING, P.SUCCEEDED, P.FAILED, P.WAITING, P.SKIPPED, P.STOPPED}
    ),
    P.RUNNING: frozenset({P.CANCELLING, P.SUCCEEDED, P.FAILED, P.WAITING, P.SKIPPED, P.STOPPED}),
    # a cancel can lose the race: the job may still finish either way
    P.CANCELLING: frozenset({P.SUCCEEDED, P.FAILED, P.WAITING, P.SKIPPED, P.STOPPED}),
    P.SUCCEEDED: frozenset(),
    P.FAILED: frozenset(),
    P.SKIPPED: frozenset(),
    P.STOPPED: frozenset(),
}


class InvalidMove(RuntimeError):
    """A phase change the table does not allow: a bug in the core."""


@dataclass(frozen=True, slots=True)
class Instance:
    """One job instance as this apply sees it. Immutable: the core returns new records.

    ``planned``: what the plan said; ``stored``: its status in the state (None: no row);
    ``intent``: an intent of attempt ``attempt`` is committed (sending again reuses it; a
    new attempt starts when it is False); ``key``, ``member``, ``dispatch_ref``: the
    dispatch of that attempt and its place there (``key`` None: not chosen yet);
    ``since``: when that attempt was sent or adopted; ``carried_out``: this apply sent (or
    resolved) an attempt the plan asked for; ``previous``: the job id of the failed attempt
    a retry follows (Pasqal retries a batch's failed jobs with ``rebatch``)."""

    address: str
    job: str
    fingerprint: str
    planned: Action
    phase: Phase
    point: Mapping[str, Any] = field(default_factory=dict)
    stored: JobStatus | None = None
    attempt: int = 0
    intent: bool = False
    key: str | None = None
    member: int | None = None
    dispatch_ref: str | None = None
    job_id: str | None = None
    since: float = 0.0
    started_at: float | None = None
    not_before: float = 0.0
    busy: int = 0  # times its current dispatch was refused as "busy"
    timed_out: bool = False
    cancel_reason: str = ""
    carried_out: bool = False
    reason: str = ""  # why it failed, was skipped or stopped
    previous: str | None = None  # the provider's id of the job of its last failed attempt

    @property
    def final(self) -> bool:
        return self.phase in FINAL

    @property
    def at_provider(self) -> bool:
        return self.phase in AT_PROVIDER and self.job_id is not None

    def to(self, phase: Phase, **changes: Any) -> Instance:
        """This record in ``phase``; raises InvalidMove if the table forbids the move."""
        if phase is not self.phase and phase not in MOVES[self.phase]:
            raise InvalidMove(f"{self.address}: {self.phase} -> {phase} is not allowed")
        return replace(self, phase=phase, **changes)


@dataclass(frozen=True, slots=True)
class JobView:
    """A job's settings, as the core decides with them: resolved once from the manifest
    (``build``), so the core never reads the manifest. ``target``: ``provider/device``;
    ``batch_size``: the manifest's cap on a native batch (None: the provider's limit);
    ``entry``: the operation a Q# program runs, or a hybrid job's entry point; ``params``:
    the target's input parameters; ``hybrid``: a hybrid job's specification (its ``shots``
    are 0, its ``inputs`` its fixed hyperparameters, ``program`` its source archive), None
    for other jobs."""

    name: str
    provider: str
    device: str
    format: str
    program: str | bytes
    shots: int
    inputs: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    session: str | None = None
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy.of(None))
    timeout: float | None = None
    on_failure: str = "fail"
    batch_size: int | None = None
    entry: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    hybrid: HybridSpec | None = None

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.device}"


@dataclass(frozen=True, slots=True)
class SessionView:
    """One manifest session. ``session_id``: the provider's, once open; ``last_used``: the
    last time a member was sent or seen in flight (idle time counts from there)."""

    name: str
    address: str
    provider: str
    device: str
    abort: bool
    idle_timeout: float
    fingerprint: str
    stored: JobStatus | None = None
    attempt: int = 0
    key: str | None = None
    session_id: str | None = None
    opening: bool = False  # an open was asked and its outcome is not known yet
    closed: bool = False
    last_used: float = 0.0
    failures: int = 0
    aborted: bool = False
    provider_status: str | None = None  # the provider's word for it (Executing, TimedOut)
    fresh: bool = False  # opened by this apply
    joined: int = 0  # members the provider accepted into it in this apply

    @property
    def open(self) -> bool:
        return self.session_id is not None and not self.closed


@dataclass(frozen=True, slots=True)
class ProviderView:
    """What the core knows of one provider now: its limits, its token bucket, when it is
    next observed, and since when it keeps failing (``down_since``; ``said_at``: the last
    notice about it)."""

    name: str
    poll_interval: float
    max_in_flight: int
    max_observe: int
    durable: bool
    idempotent: bool
    timeout_from_start: bool
    batch_by_default: bool
    tokens: float
    rate: float
    burst: float
    stamp: float
    next_observation: float = float("-inf")
    down_since: float | None = None
    said_at: float = float("-inf")
    sessions: bool = False  # native sessions (else qplan's own)
    enforces_policy: bool = False  # the service aborts a session itself at a failure


@dataclass(frozen=True)
class View:
    """Everything the core decides on: the stack's name and jobs, every instance in
    manifest order, the sessions, the providers, and the apply's own state. Read-only to
    the core: it returns new records, and the driver applies them."""

    stack_name: str
    jobs: Mapping[str, JobView]
    instances: Mapping[str, Instance]
    sessions: Mapping[str, SessionView]
    providers: Mapping[str, ProviderView]
    limits: Mapping[str, int]  # instances per provider job, by job name (native batches)
    dispatch_sizes: Mapping[str, int] = field(default_factory=dict)  # rows per key, at start
    session_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    generation: int = 0
    jitter: str = ""  # this apply's own seed of backoff jitter
    halt: str = ""
    interrupted: bool = False
    parallelism: int | None = None
    fail_fast: bool = False
    no_wait: bool = False
    observe_only: bool = False

    @cached_property
    def live(self) -> Mapping[str, Instance]:
        """The instances not final yet, in manifest order: all that most decisions look
        at. Computed once per view; ``with_live`` carries it over to a changed view."""
        return {address: i for address, i in self.instances.items() if not i.final}

    def with_live(self, before: View, changed: Mapping[str, Instance]) -> View:
        """This view, which is ``before`` with ``changed`` instances, given its ``live``
        from ``before``'s, in the time of the change rather than of a scan (a final
        instance never moves again, so the order stays the manifest's)."""
        if "live" in before.__dict__:
            live = dict(before.live)
            for address, instance in changed.items():
                if instance.final:
                    live.pop(address, None)
                else:
                    live[address] = instance
            self.__dict__["live"] = live
        return self

    def job(self, instance: Instance) -> JobView:
        return self.jobs[instance.job]

    def provider_of(self, instance: Instance) -> ProviderView:
        return self.providers[self.jobs[instance.job].provider]
