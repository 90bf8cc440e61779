"""A scripted provider for unit tests of the executor's decisions (not a proof that a real
backend works: the end-to-end tests and the provider contract suite do that)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.providers import (
    AmbiguousError,
    Capabilities,
    Dispatch,
    Member,
    Observation,
    PermanentError,
    Provider,
    Receipt,
    SessionSupport,
    TransientError,
)

S = JobStatus


@dataclass(frozen=True)
class Call:
    """What a scripted outcome is decided on: one member of a dispatch, with its key."""

    address: str
    attempt: int
    key: str
    inputs: dict[str, Any]
    shots: int


def call(dispatch: Dispatch, member: Member) -> Call:
    return Call(member.address, member.attempt, dispatch.key, dict(member.inputs), dispatch.shots)


class FakeSessions(SessionSupport):
    """Native sessions: opened by key (the same key, the same session), closed, aborted."""

    def __init__(self) -> None:
        self.by_key: dict[str, str] = {}
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.aborted: list[str] = []

    def open(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        self.opened.append(key)
        return self.by_key.setdefault(key, f"session-{len(self.by_key) + 1}")

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: self.by_key[k] for k in keys if k in self.by_key}

    def close(self, session_id: str) -> None:
        self.closed.append(session_id)

    def abort(self, session_id: str) -> None:
        self.aborted.append(session_id)


@dataclass
class FakeJob:
    job_id: str
    dispatch: Dispatch
    status: JobStatus = S.QUEUED
    polls: int = 0
    stale: int = 0  # observations that still show the status from before a cancel

    @property
    def members(self) -> tuple[Member, ...]:
        return self.dispatch.members if self.dispatch.batch else ()


def member_id(job_id: str, index: int) -> str:
    return f"{job_id}#{index}"


def split(job_id: str) -> tuple[str, int | None]:
    base, sep, index = job_id.rpartition("#")
    return (base, int(index)) if sep and index.isdigit() else (job_id, None)


@dataclass
class ScriptedProvider(Provider):
    """Jobs succeed after ``steps`` observations unless ``outcome(member)`` says
    otherwise: "fail", "hang", "transient", "ambiguous", "ambiguous-committed", "permanent".
    With ``batch`` > 1 it takes native batches of that many members: the first member's
    outcome decides the submission, each member's "fail" fails only its own execution."""

    name: str = "sim"
    steps: int = 1
    outcome: Callable[[Call], str] = lambda c: "ok"
    durable: bool = True
    capabilities: Capabilities = field(default_factory=Capabilities)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    submits: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    submit_times: list[float] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    native_sessions: bool = False
    batches: list[list[str]] = field(default_factory=list)
    batch: int = 1
    down_until: float = 0.0  # observe and lookup fail as unreachable until this time
    listing_lag: int = 0  # observations after a cancel that still say RUNNING
    clock: Any = None

    def _check_up(self) -> None:
        if self.clock is not None and self.clock.now() < self.down_until:
            raise TransientError("connection refused")

    def __post_init__(self) -> None:
        self.sessions = FakeSessions() if self.native_sessions else None
        self.capabilities = Capabilities(
            durable_jobs=self.durable,
            poll_interval=1.0,
            submit_rate=self.capabilities.submit_rate,
            submit_burst=self.capabilities.submit_burst,
        )

    def submit(self, dispatch: Dispatch) -> Receipt:
        first = dispatch.members[0]
        if dispatch.batch:
            self.batches.append([m.address for m in dispatch.members])
        self.submits.append(first.address)
        self.keys.append(dispatch.key)
        if self.clock is not None:
            self.submit_times.append(self.clock.now())
        kind = self.outcome(call(dispatch, first))
        if kind == "transient":
            raise TransientError("throttled")
        if kind == "permanent":
            raise PermanentError("validation: bad program")
        if dispatch.key in self.by_key:
            return self._receipt(self.by_key[dispatch.key])
        job_id = f"job-{len(self.jobs)}"
        self.jobs[job_id] = FakeJob(job_id, dispatch)
        self.by_key[dispatch.key] = job_id
        if kind == "ambiguous":
            del self.by_key[dispatch.key]  # the call failed before the provider kept it
            del self.jobs[job_id]
            raise AmbiguousError("timeout")
        if kind == "ambiguous-committed":
            raise AmbiguousError("502 after commit")
        return self._receipt(job_id)

    def _receipt(self, job_id: str) -> Receipt:
        job = self.jobs[job_id]
        if job.dispatch.batch:
            return Receipt(job_id, tuple(member_id(job_id, i) for i in range(len(job.members))))
        return Receipt(job_id, (job_id,))

    def batch_limit(self, device: str, format: str, shots: int) -> int:
        self._check_up()
        return self.batch

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        self._check_up()
        return {k: self._receipt(self.by_key[k]) for k in keys if k in self.by_key}

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        self._check_up()
        for base in dict.fromkeys(split(j)[0] for j in job_ids):
            job = self.jobs[base]
            first = call(job.dispatch, job.dispatch.members[0])
            if job.status.in_flight and job.status is not S.CANCELLING:
                job.polls += 1
                kind = "ok" if job.members else self.outcome(first)
                if kind == "hang" or self.outcome(first) == "hang":
                    job.status = S.RUNNING
                elif job.polls >= self.steps:
                    job.status = S.FAILED if kind == "fail" else S.SUCCEEDED
                else:
                    job.status = S.RUNNING
            elif job.status is S.CANCELLING and job.stale:
                job.stale -= 1
            elif job.status is S.CANCELLING:
                job.status = S.CANCELLED
        out = {}
        for job_id in job_ids:
            base, index = split(job_id)
            job = self.jobs[base]
            status = S.RUNNING if job.stale else job.status
            if (
                index is not None
                and status is S.SUCCEEDED
                and self.outcome(call(job.dispatch, job.members[index])) == "fail"
            ):
                status = S.FAILED
            out[job_id] = Observation(job_id, status, "boom" if status is S.FAILED else None)
        return out

    def result(self, job_id: str) -> dict[str, Any]:
        base, index = split(job_id)
        job = self.jobs[base]
        if index is None:
            return {"counts": {"0": job.dispatch.shots}}
        member = job.members[index]  # which point it ran, to check the attribution
        return {"counts": {"0": job.dispatch.shots}, "inputs": dict(member.inputs)}

    def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in dict.fromkeys(split(j)[0] for j in job_ids):
            self.cancels.append(job_id)
            job = self.jobs[job_id]
            if job.status.in_flight:
                job.status = S.CANCELLING
                job.stale = self.listing_lag
