"""The batches and jobs of the Pasqal emulator, their JSON on the wire, and snapshots for tests.

Job statuses: PENDING -> RUNNING -> DONE | ERROR, and CANCELED from PENDING or RUNNING (a
slow cancel leaves a job RUNNING with ``cancel_requested`` until it is CANCELED). DONE, ERROR
and CANCELED are final.

A batch's status is stored only when it is final by itself (CANCELED by CancelBatch,
TIMED_OUT when left open and idle); otherwise it is derived from its jobs each time it is read
(``BatchRecord.status``):

- a job RUNNING -> RUNNING; a job PENDING -> RUNNING once any job of the batch has started,
  else PENDING;
- open, no job in flight -> PENDING if it never had a job, else RUNNING (it still holds its
  device, waiting for jobs); and TIMED_OUT once idle for ``open_batch_timeout`` seconds;
- closed, every job final -> DONE if a job is DONE (or the batch has no job), else ERROR if a
  job is ERROR, else CANCELED. A batch is ERROR only when none of its jobs produced results:
  jobs that failed beside ones that succeeded are the jobs' business (rebatch them), as
  Pasqal's partial results let a client fetch the successful ones.

Records are mutated only under the emulator's lock; snapshots are frozen copies.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BATCH_STATUSES",
    "JOB_STATUSES",
    "BatchRecord",
    "BatchSnapshot",
    "JobRecord",
    "JobSnapshot",
    "timestamp",
]

JOB_STATUSES = ("PENDING", "RUNNING", "DONE", "ERROR", "CANCELED")
BATCH_STATUSES = ("PENDING", "RUNNING", "DONE", "ERROR", "CANCELED", "TIMED_OUT")
JOB_FINAL = frozenset({"DONE", "ERROR", "CANCELED"})
BATCH_FINAL = frozenset({"DONE", "ERROR", "CANCELED", "TIMED_OUT"})
USER_ID = "emulator-user"


def timestamp(wall: float | None = None) -> str:
    """ISO 8601 with the UTC offset, as Pasqal writes its timestamps."""
    return datetime.fromtimestamp(time.time() if wall is None else wall, UTC).isoformat()


@dataclass(frozen=True)
class JobSnapshot:
    id: str
    batch_id: str
    status: str
    runs: int
    variables: dict[str, Any]
    parent_id: str | None
    errors: tuple[str, ...]
    own_sequence: bool  # the job carries its own sequence
    counter: dict[str, int] | None  # the result's bitstring counts once DONE


@dataclass(frozen=True)
class BatchSnapshot:
    id: str
    created: int  # creation order among all batches since the last reset, from 1
    tags: tuple[str, ...]
    open: bool
    status: str
    device_type: str
    project_id: str
    parent_id: str | None
    jobs: tuple[JobSnapshot, ...]

    def to_json(self) -> dict[str, Any]:
        """The snapshot as JSON-able data (tuples become lists when dumped)."""
        return dataclasses.asdict(self)


@dataclass(eq=False)
class JobRecord:
    id: str
    batch_id: str
    project_id: str
    runs: int
    variables: dict[str, Any]
    sequence: str | None  # its own sequence, or None: the batch's
    parent_id: str | None
    order: int  # creation order among all jobs, for sorting
    created: float = field(default_factory=time.time)
    updated: float = 0.0
    started: float | None = None
    ended: float | None = None
    status: str = "PENDING"
    errors: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    cancel_requested: bool = False

    def __post_init__(self) -> None:
        self.updated = self.created

    @property
    def final(self) -> bool:
        return self.status in JOB_FINAL

    def set(self, status: str, error: str | None = None) -> None:
        now = time.time()
        self.status, self.updated = status, now
        if status == "RUNNING":
            self.started = now
        if status in JOB_FINAL:
            self.ended = now
        if error is not None:
            self.errors.append(error)

    def to_json(self, *, sequence: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "batch_id": self.batch_id,
            "project_id": self.project_id,
            "runs": self.runs,
            "status": self.status,
            "variables": self.variables,
            "errors": list(self.errors),
            "parent_id": self.parent_id,
            "created_at": timestamp(self.created),
            "updated_at": timestamp(self.updated),
            "start_timestamp": None if self.started is None else timestamp(self.started),
            "end_timestamp": None if self.ended is None else timestamp(self.ended),
        }
        if sequence:
            data["sequence"] = self.sequence
        return data

    def snapshot(self) -> JobSnapshot:
        return JobSnapshot(
            id=self.id,
            batch_id=self.batch_id,
            status=self.status,
            runs=self.runs,
            variables=dict(self.variables),
            parent_id=self.parent_id,
            errors=tuple(self.errors),
            own_sequence=self.sequence is not None,
            counter=None if self.result is None else dict(self.result["counter"]),
        )


@dataclass(eq=False)
class BatchRecord:
    id: str
    project_id: str
    device_type: str
    sequence_builder: str | None
    open: bool
    tags: list[str]
    webhook: str | None
    configuration: Any
    backend_configuration: str | None
    parent_id: str | None
    order: int  # creation order among all batches, from 1
    created: float = field(default_factory=time.time)
    updated: float = 0.0
    jobs: list[JobRecord] = field(default_factory=list)
    final_status: str | None = None  # CANCELED or TIMED_OUT, once it happened
    ended: float | None = None  # when final_status was set
    idle_since: float = field(default_factory=time.monotonic)  # last job added or ended

    def __post_init__(self) -> None:
        self.updated = self.created

    def touch(self) -> None:
        self.updated = time.time()

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(JOB_STATUSES, 0)
        for job in self.jobs:
            counts[job.status] += 1
        return counts

    def expire(self, open_batch_timeout: float) -> None:
        """TIMED_OUT if open with no job in flight for ``open_batch_timeout`` seconds."""
        if not self.open or self.final_status is not None:
            return
        if any(not job.final for job in self.jobs):
            return
        idle = time.monotonic() - self.idle_since
        if idle >= open_batch_timeout:
            self.final_status, self.open = "TIMED_OUT", False
            self.ended = time.time() - (idle - open_batch_timeout)
            self.updated = self.ended

    def status(self) -> str:
        """The batch's status (see the module doc); call ``expire`` first."""
        if self.final_status is not None:
            return self.final_status
        counts = self.counts()
        started = any(job.started is not None for job in self.jobs)
        if counts["RUNNING"]:
            return "RUNNING"
        if counts["PENDING"]:
            return "RUNNING" if started else "PENDING"
        if self.open:
            return "RUNNING" if self.jobs else "PENDING"
        if counts["DONE"] or not self.jobs:
            return "DONE"
        return "ERROR" if counts["ERROR"] else "CANCELED"

    def to_json(self, *, jobs: bool, sequence: bool = True) -> dict[str, Any]:
        """The batch on the wire: with its jobs (``jobs``) or only their ids, with its
        sequence or not."""
        status = self.status()
        starts = [job.started for job in self.jobs if job.started is not None]
        ends = [job.ended for job in self.jobs if job.ended is not None]
        end: float | None = self.ended
        if end is None and status in BATCH_FINAL:
            end = max(ends, default=self.updated)
        data: dict[str, Any] = {
            "id": self.id,
            "project_id": self.project_id,
            "user_id": USER_ID,
            "device_type": self.device_type,
            "status": status,
            "open": self.open,
            "complete": not self.open,
            "tags": list(self.tags),
            "webhook": self.webhook,
            "configuration": self.configuration,
            "backend_configuration": self.backend_configuration,
            "parent_id": self.parent_id,
            "priority": 10,
            "queue_priority": "MEDIUM",
            "device_status": None,
            "created_at": timestamp(self.created),
            "updated_at": timestamp(self.updated),
            "start_datetime": timestamp(min(starts)) if starts else None,
            "end_datetime": None if end is None else timestamp(end),
            "jobs_count": len(self.jobs),
            "jobs_count_per_status": self.counts(),
            "job_ids": [job.id for job in self.jobs],
        }
        if sequence:
            data["sequence_builder"] = self.sequence_builder
        if jobs:
            data["jobs"] = [job.to_json() for job in self.jobs]
        return data

    def snapshot(self) -> BatchSnapshot:
        return BatchSnapshot(
            id=self.id,
            created=self.order,
            tags=tuple(self.tags),
            open=self.open,
            status=self.status(),
            device_type=self.device_type,
            project_id=self.project_id,
            parent_id=self.parent_id,
            jobs=tuple(job.snapshot() for job in self.jobs),
        )
