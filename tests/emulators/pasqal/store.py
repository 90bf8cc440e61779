"""The batches and jobs of one Pasqal emulator, and how its jobs move.

A job added to a batch is scheduled on the kit's ``JobEngine``: PENDING for ``queue_time``,
then RUNNING; on the worker pool, ``run_time`` later, it fails if its variables match a fail
point (``settings``), else it is built and simulated (``programs.run_job``) and ends DONE, or
ERROR with the reason in ``errors``. A cancel ends a PENDING job at once and a RUNNING one at
once or ``cancel_delay`` later; a run that ends after its job was cancelled is thrown away.
Each job that ends, and each job added, restarts its batch's idle time (``open_batch_timeout``).

Everything is guarded by ``lock`` (re-entrant: a handler holds it across several calls to
answer from one consistent state); a reset forgets the records, and scheduled steps of
forgotten jobs do nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from tests.emulators.kit import JobEngine
from tests.emulators.pasqal.programs import failure_message, run_job
from tests.emulators.pasqal.records import BATCH_FINAL, BatchRecord, BatchSnapshot, JobRecord
from tests.emulators.pasqal.settings import PasqalSettings

__all__ = ["BatchStore"]


class BatchStore:
    """Batches and jobs (see the module doc); ``engine`` runs them, ``config`` times them."""

    def __init__(self, engine: JobEngine, config: PasqalSettings) -> None:
        self.lock = threading.RLock()
        self._engine, self._config = engine, config
        self._batches: dict[str, BatchRecord] = {}
        self._jobs: dict[str, JobRecord] = {}
        self._failures: Counter[tuple[str, str]] = Counter()
        self._batch_order = self._job_order = 0

    def clear(self) -> None:
        with self.lock:
            self._batches.clear()
            self._jobs.clear()
            self._failures.clear()
            self._batch_order = self._job_order = 0

    # --- reading --------------------------------------------------------------------------------

    def batch(self, batch_id: str) -> BatchRecord | None:
        """The batch, its idle timeout applied, or None."""
        with self.lock:
            batch = self._batches.get(batch_id)
            if batch is not None:
                batch.expire(self._config.get("open_batch_timeout"))
            return batch

    def all_batches(self) -> list[BatchRecord]:
        """Every batch, oldest first, idle timeouts applied."""
        timeout = self._config.get("open_batch_timeout")
        with self.lock:
            batches = sorted(self._batches.values(), key=lambda b: b.order)
            for batch in batches:
                batch.expire(timeout)
            return batches

    def job(self, job_id: str) -> JobRecord | None:
        with self.lock:
            return self._jobs.get(job_id)

    def all_jobs(self) -> list[JobRecord]:
        """Every job, oldest first."""
        with self.lock:
            return sorted(self._jobs.values(), key=lambda j: j.order)

    def snapshots(self, tag: str | None = None) -> list[BatchSnapshot]:
        """Every batch (or those tagged ``tag``), oldest first, as it is now."""
        with self.lock:
            return [b.snapshot() for b in self.all_batches() if tag is None or tag in b.tags]

    # --- writing --------------------------------------------------------------------------------

    def new_batch(self, **fields: Any) -> BatchRecord:
        """A batch (``BatchRecord`` fields but ``id`` and ``order``), stored."""
        with self.lock:
            self._batch_order += 1
            batch = BatchRecord(id=str(uuid.uuid4()), order=self._batch_order, **fields)
            self._batches[batch.id] = batch
            return batch

    def add_jobs(
        self,
        batch: BatchRecord,
        specs: Iterable[Mapping[str, Any]],
        parents: Iterable[str | None] | None = None,
    ) -> list[JobRecord]:
        """Jobs (``{runs, variables, sequence}`` each, with their ``parents``' ids) appended
        to ``batch``, stored and scheduled."""
        specs = list(specs)
        parents = [None] * len(specs) if parents is None else list(parents)
        added = []
        with self.lock:
            for spec, parent in zip(specs, parents, strict=True):
                self._job_order += 1
                job = JobRecord(
                    id=str(uuid.uuid4()),
                    batch_id=batch.id,
                    project_id=batch.project_id,
                    runs=spec["runs"],
                    variables=dict(spec["variables"]),
                    sequence=spec["sequence"],
                    parent_id=parent,
                    order=self._job_order,
                )
                self._jobs[job.id] = job
                batch.jobs.append(job)
                added.append(job)
            if added:
                batch.idle_since = time.monotonic()
                batch.touch()
        self._schedule(added)
        return added

    def cancel_job(self, job: JobRecord) -> None:
        """Cancel ``job``: at once, or ``cancel_delay`` later if RUNNING. Nothing if it has
        ended or its cancel is on its way."""
        with self.lock:
            if job.final or job.cancel_requested:
                return
            delay = self._config.get("cancel_delay")
            if job.status == "RUNNING" and delay > 0:
                job.cancel_requested = True
                job.updated = time.time()
                self._engine.later(delay, functools.partial(self._cancel_lands, job))
            else:
                self._finished(job, "CANCELED")

    def cancel_batch(self, batch: BatchRecord) -> str | None:
        """Cancel ``batch`` and its jobs; None if done (or it was CANCELED already), else why
        it cannot be (it ended otherwise)."""
        with self.lock:
            status = batch.status()
            if status == "CANCELED":
                return None
            if status in BATCH_FINAL:
                return f"batch {batch.id} is {status}: it cannot be cancelled"
            batch.final_status, batch.open, batch.ended = "CANCELED", False, time.time()
            batch.touch()
            for job in batch.jobs:
                self.cancel_job(job)
            return None

    # --- the lifecycle (engine callbacks) -------------------------------------------------------

    def _schedule(self, jobs: Iterable[JobRecord]) -> None:
        config = self._config.snapshot()
        for job in jobs:
            self._engine.lifecycle(
                queue_time=config.queue_time,
                run_time=config.run_time,
                queued=lambda: None,
                start=functools.partial(self._begin, job),
                work=functools.partial(self._execute, job),
            )

    def _begin(self, job: JobRecord) -> bool:
        with self.lock:
            if job.status != "PENDING" or self._jobs.get(job.id) is not job:
                return False  # cancelled, or forgotten by a reset
            job.set("RUNNING")
            self._batches[job.batch_id].touch()
            return True

    def _execute(self, job: JobRecord) -> None:
        """On the pool: fail the job as the settings say, or build and simulate it."""
        with self.lock:
            batch = self._batches.get(job.batch_id)
            if batch is None or job.final or job.cancel_requested:
                return
            text = job.sequence or batch.sequence_builder or ""
        point = self._config.fail_point(job.variables, job.sequence or "")
        if point is not None and self._fails_again(text, job.variables):
            self._end(job, "ERROR", f"fault injected by the Pasqal emulator: {point} fails")
            return
        try:
            result = run_job(text, job.variables, job.runs)
        except Exception as exc:  # the job's program, not the emulator: the job fails
            self._end(job, "ERROR", failure_message(exc))
            return
        self._end(job, "DONE", result=result)

    def _fails_again(self, sequence: str, variables: Mapping[str, Any]) -> bool:
        """Whether a job matching a fail point fails this time (``fail_times``, counted per
        sequence and variables)."""
        key = (
            hashlib.sha256(sequence.encode()).hexdigest(),
            json.dumps(variables, sort_keys=True),
        )
        times = self._config.get("fail_times")
        with self.lock:
            if times is not None and self._failures[key] >= times:
                return False
            self._failures[key] += 1
            return True

    def _end(
        self, job: JobRecord, status: str, error: str | None = None, result: Any = None
    ) -> None:
        with self.lock:
            if job.final or job.cancel_requested:
                return  # cancelled meanwhile: the run is thrown away
            job.result = result
            self._finished(job, status, error)

    def _finished(self, job: JobRecord, status: str, error: str | None = None) -> None:
        """``job`` ends (under the lock): its batch's idle time starts again."""
        job.set(status, error)
        batch = self._batches.get(job.batch_id)
        if batch is not None:
            batch.idle_since = time.monotonic()
            batch.touch()

    def _cancel_lands(self, job: JobRecord) -> None:
        with self.lock:
            if not job.final:
                self._finished(job, "CANCELED")
