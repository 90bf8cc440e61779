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
)

S = JobStatus


@dataclass
class FakeJob:
    job_id: str
    submission: Submission
    status: JobStatus = S.QUEUED
    polls: int = 0


@dataclass
class ScriptedProvider(Provider):
    """Jobs succeed after ``steps`` observations unless ``outcome(submission)`` says
    otherwise: "fail", "hang", "transient", "ambiguous", "ambiguous-committed", "permanent"."""

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
    clock: Any = None

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
        self.submits.append(submission.address)
        self.keys.append(submission.key)
        if self.clock is not None:
            self.submit_times.append(self.clock.now())
        kind = self.outcome(submission)
        if kind == "transient":
            raise TransientError("throttled")
        if kind == "permanent":
            raise PermanentError("validation: bad program")
        if submission.key in self.by_key:
            return self.by_key[submission.key]
        job_id = f"job-{len(self.jobs)}"
        self.jobs[job_id] = FakeJob(job_id, submission)
        self.by_key[submission.key] = job_id
        if kind == "ambiguous":
            del self.by_key[submission.key]  # the call failed before the provider kept it
            del self.jobs[job_id]
            raise AmbiguousError("timeout")
        if kind == "ambiguous-committed":
            raise AmbiguousError("502 after commit")
        return job_id

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, str]:
        return {k: self.by_key[k] for k in keys if k in self.by_key}

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        out = {}
        for job_id in job_ids:
            job = self.jobs[job_id]
            if job.status.in_flight and job.status is not S.CANCELLING:
                job.polls += 1
                kind = self.outcome(job.submission)
                if kind == "hang":
                    job.status = S.RUNNING
                elif job.polls >= self.steps:
                    job.status = S.FAILED if kind == "fail" else S.SUCCEEDED
                else:
                    job.status = S.RUNNING
            elif job.status is S.CANCELLING:
                job.status = S.CANCELLED
            out[job_id] = Observation(
                job_id, job.status, "boom" if job.status is S.FAILED else None
            )
        return out

    def result(self, job_id: str) -> dict[str, Any]:
        return {"counts": {"0": self.jobs[job_id].submission.shots}}

    def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            self.cancels.append(job_id)
            job = self.jobs[job_id]
            if job.status.in_flight:
                job.status = S.CANCELLING

    def open_session(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        self.sessions.append(key)
        return f"session-{len(self.sessions)}"
