"""A scripted provider for unit tests of the executor's decisions (not a proof that a real
backend works: the end-to-end tests do that with the local provider)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.providers import (
    AmbiguousError,
    Capabilities,
    Observation,
    PermanentError,
    Provider,
    Submission,
    TransientError,
    split_job_id,
)

S = JobStatus


@dataclass
class FakeJob:
    job_id: str
    submission: Submission
    status: JobStatus = S.QUEUED
    polls: int = 0
    members: Sequence[Submission] = ()
    stale: int = 0  # observations that still show the status from before a cancel


@dataclass
class ScriptedProvider(Provider):
    """Jobs succeed after ``steps`` observations unless ``outcome(submission)`` says
    otherwise: "fail", "hang", "transient", "ambiguous", "ambiguous-committed", "permanent".
    With ``batch`` > 1 it takes native batches of that many members: the first member's
    outcome decides the submission, each member's "fail" fails only its own executable."""

    name: str = "sim"
    steps: int = 1
    outcome: Callable[[Submission], str] = lambda s: "ok"
    durable: bool = True
    capabilities: Capabilities = field(default_factory=Capabilities)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    submits: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    submit_times: list[float] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    batch: int = 1
    down_until: float = 0.0  # observe and lookup fail as unreachable until this time
    listing_lag: int = 0  # observations after a cancel that still say RUNNING
    clock: Any = None

    def _check_up(self) -> None:
        if self.clock is not None and self.clock.now() < self.down_until:
            raise TransientError("connection refused")

    def __post_init__(self) -> None:
        self.capabilities = Capabilities(
            cancel_running=True,
            lookup_by_key=True,
            durable_jobs=self.durable,
            poll_interval=1.0,
            submit_rate=self.capabilities.submit_rate,
            submit_burst=self.capabilities.submit_burst,
        )

    def submit(self, submission: Submission) -> str:
        return self._create(submission.key, submission, ())

    def batch_limit(self, device: str, format: str, shots: int) -> int:
        self._check_up()
        return self.batch

    def submit_batch(self, key: str, members: Sequence[Submission]) -> str:
        self.batches.append([m.address for m in members])
        return self._create(key, members[0], members)

    def _create(self, key: str, submission: Submission, members: Sequence[Submission]) -> str:
        self.submits.append(submission.address)
        self.keys.append(key)
        if self.clock is not None:
            self.submit_times.append(self.clock.now())
        kind = self.outcome(submission)
        if kind == "transient":
            raise TransientError("throttled")
        if kind == "permanent":
            raise PermanentError("validation: bad program")
        if key in self.by_key:
            return self.by_key[key]
        job_id = f"job-{len(self.jobs)}"
        self.jobs[job_id] = FakeJob(job_id, submission, members=members)
        self.by_key[key] = job_id
        if kind == "ambiguous":
            del self.by_key[key]  # the call failed before the provider kept it
            del self.jobs[job_id]
            raise AmbiguousError("timeout")
        if kind == "ambiguous-committed":
            raise AmbiguousError("502 after commit")
        return job_id

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, str]:
        self._check_up()
        return {k: self.by_key[k] for k in keys if k in self.by_key}

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        self._check_up()
        for base in dict.fromkeys(split_job_id(j)[0] for j in job_ids):
            job = self.jobs[base]
            if job.status.in_flight and job.status is not S.CANCELLING:
                job.polls += 1
                kind = "ok" if job.members else self.outcome(job.submission)
                if kind == "hang" or self.outcome(job.submission) == "hang":
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
            base, index = split_job_id(job_id)
            job = self.jobs[base]
            status = S.RUNNING if job.stale else job.status
            if (
                index is not None
                and status is S.SUCCEEDED
                and self.outcome(job.members[index]) == "fail"
            ):
                status = S.FAILED
            out[job_id] = Observation(job_id, status, "boom" if status is S.FAILED else None)
        return out

    def result(self, job_id: str) -> dict[str, Any]:
        base, index = split_job_id(job_id)
        job = self.jobs[base]
        if index is None:
            return {"counts": {"0": job.submission.shots}}
        member = job.members[index]  # which point it ran, to check the attribution
        return {"counts": {"0": member.shots}, "inputs": dict(member.inputs)}

    def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in dict.fromkeys(split_job_id(j)[0] for j in job_ids):
            self.cancels.append(job_id)
            job = self.jobs[job_id]
            if job.status.in_flight:
                job.status = S.CANCELLING
                job.stale = self.listing_lag

    def open_session(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        self.sessions.append(key)
        return f"session-{len(self.sessions)}"
