"""The local provider: the embedded default. No account, no network.

OpenQASM 3 runs on Braket's ``LocalSimulator`` (``braket_sv``, ``braket_dm``), Pulser
sequences on pulser-simulation (``qutip``), in a pool of worker processes sized to the
CPUs. Jobs live as long as this process: after a crash nothing is found by key, so a
pending intent is resubmitted, which is free and safe here (nothing was recorded).

Fault injection (``faults:`` in the provider's settings) fails or hangs chosen runs,
deterministically, so that retries, timeouts and session policies can be rehearsed.

Run journal: with ``QPLAN_LOCAL_JOURNAL=FILE`` every worker appends a JSON line when a run
starts and when it ends (address, idempotency key, time, pid): an independent record of
what really ran, for audits and for the crash tests.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.manifest.models import FaultSpec
from qplan.manifest.models import LocalProvider as LocalConfig
from qplan.processes import pid_alive
from qplan.providers import local_worker
from qplan.providers.base import (
    Capabilities,
    Observation,
    PermanentError,
    Provider,
    Submission,
)

__all__ = ["LocalSimulatorProvider"]


@dataclass
class _Job:
    job_id: str
    future: Future[dict[str, Any]]
    cancel_marker: Path
    args: tuple[Any, ...]
    cancel_requested: bool = False
    restarts: int = 0


MAX_RESTARTS = 2  # a worker that dies takes every queued run with it: run those again


_MARKERS_PREFIX = "qplan-local-"


def _remove_orphan_markers() -> None:
    """Remove the cancel-marker folders of local providers whose process is gone (a qplan
    killed outright cannot remove its own)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_MARKERS_PREFIX}*-*"):
        pid_text = folder.name[len(_MARKERS_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            shutil.rmtree(folder, ignore_errors=True)


def _pulser_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("pulser", "pulser_simulation"))


def _fraction(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def matches(pattern: str, address: str) -> bool:
    """``*`` matches any characters; everything else, brackets included, is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, address) is not None


def fault_for(faults: Sequence[FaultSpec], submission: Submission) -> str | None:
    """The fault to inject into this run, if any: the first spec that matches decides."""
    for spec in faults:
        if not matches(spec.match, submission.address):
            continue
        if spec.attempts is not None and submission.attempt not in spec.attempts:
            continue
        if spec.rate < 1.0 and _fraction(submission.key) >= spec.rate:
            continue
        return spec.mode
    return None


class LocalSimulatorProvider(Provider):
    def __init__(self, name: str, config: LocalConfig) -> None:
        self.name = name
        self.config = config
        self.capabilities = Capabilities(
            cancel_running=True,
            idempotent_submit=True,
            lookup_by_key=True,
            bulk_status=True,
            submit_rate=1e9,
            submit_burst=1_000_000,
            max_batch=1_000_000,
            paid=False,
            durable_jobs=False,
            poll_interval=0.01,
        )
        self._jobs: dict[str, _Job] = {}
        self._by_key: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        _remove_orphan_markers()
        self._markers = Path(tempfile.mkdtemp(prefix=f"{_MARKERS_PREFIX}{os.getpid()}-"))

    @property
    def workers(self) -> int:
        return self.config.workers or os.cpu_count() or 1

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["qplan.providers.local_preload"])
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def submit(self, submission: Submission) -> str:
        with self._lock:
            known = self._by_key.get(submission.key)
            if known is not None:
                return known
            if submission.format not in ("openqasm3", "pulser"):
                raise PermanentError(f"the local provider cannot run {submission.format}")
            if not isinstance(submission.program, str):
                raise PermanentError("the local provider runs text programs only")
            if submission.format == "pulser" and not _pulser_installed():
                raise PermanentError(
                    "Pulser sequences run on pulser-simulation, which is not installed: "
                    "pip install 'qplan[pulser]'"
                )
            job_id = "local-" + submission.key[:24]
            marker = self._markers / f"{job_id}.cancel"
            args = (
                submission.device,
                submission.format,
                submission.program,
                submission.shots,
                dict(submission.inputs),
                fault_for(self.config.faults, submission),
                str(marker),
                submission.address,
                submission.key,
            )
            future = self._executor().submit(local_worker.run, *args)
            self._jobs[job_id] = _Job(job_id, future, marker, args)
            self._by_key[submission.key] = job_id
            return job_id

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, str]:
        with self._lock:
            return {key: self._by_key[key] for key in keys if key in self._by_key}

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        out: dict[str, Observation] = {}
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is None:  # from an earlier process: gone with it
                out[job_id] = Observation(
                    job_id, JobStatus.FAILED, "lost: the local run ended with its qplan process"
                )
                continue
            out[job_id] = self._observe(job)
        return out

    def _observe(self, job: _Job) -> Observation:
        future = job.future
        if not future.done():
            if job.cancel_requested:
                return Observation(job.job_id, JobStatus.CANCELLING)
            status = JobStatus.RUNNING if future.running() else JobStatus.QUEUED
            return Observation(job.job_id, status)
        if future.cancelled() or job.cancel_requested:
            return Observation(job.job_id, JobStatus.CANCELLED)
        error = future.exception()
        if isinstance(error, BrokenProcessPool) and job.restarts < MAX_RESTARTS:
            with self._lock:
                if self._pool is not None and self._pool._broken:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
                job.restarts += 1
                job.future = self._executor().submit(local_worker.run, *job.args)
            return Observation(job.job_id, JobStatus.QUEUED)
        if error is not None:
            return Observation(job.job_id, JobStatus.FAILED, f"{type(error).__name__}: {error}")
        return Observation(job.job_id, JobStatus.SUCCEEDED)

    def result(self, job_id: str) -> dict[str, Any]:
        job = self._jobs[job_id]
        return job.future.result()

    def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is None or job.future.done():
                continue
            job.cancel_requested = True
            if not job.future.cancel():
                job.cancel_marker.touch()  # a hanging run notices it and stops

    def close(self) -> None:
        for job in self._jobs.values():
            if not job.future.done():
                job.cancel_marker.touch()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        shutil.rmtree(self._markers, ignore_errors=True)
