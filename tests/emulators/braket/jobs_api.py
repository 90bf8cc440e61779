"""Hybrid jobs on the Braket emulator: CreateJob, GetJob, CancelJob, SearchJobs, and the
jobs run as the Braket container would run them (``containers``).

A mixin of ``BraketEmulator``. A job is QUEUED at creation; ``job_queue_time`` later it may
start, and starts as soon as fewer than ``job_slots`` jobs run (RUNNING or CANCELLING), in
creation order; until then GetJob's ``queueInfo`` gives its position in the ``JOBS_QUEUE``.
Admitted, it is RUNNING; ``job_start_time`` later its data is downloaded from S3 and its
process started (``python -m qplan.providers.hybrid_launcher``) with the variables the SDK
reads inside a job and the endpoints of this emulator and moto, so that its ``AwsDevice``
creates tasks here (with ``jobToken``: those tasks show the job's ``jobArn``). Its output
lines go to CloudWatch Logs (group ``/aws/braket/jobs``, stream
``{jobName}/algo-1-{epoch seconds}``) every ``job_log_flush_interval`` seconds. Exit 0:
the results folder goes to ``{s3Path}/output/model.tar.gz`` and the checkpoints back to S3,
COMPLETED; another exit: the same uploads, FAILED with the launcher's reason; past
``maxRuntimeInSeconds``: killed, FAILED. CancelJob kills the process group: CANCELLING, then
CANCELLED once it is gone. ``reset`` and ``stop`` kill every job process and wait for them.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.emulators.braket.containers import (
    JobCloud,
    LogForwarder,
    Workspace,
    kill_group,
    start_process,
)
from tests.emulators.braket.devices import device_by_arn
from tests.emulators.braket.environment import braket_env_vars
from tests.emulators.braket.hybrid import FINAL_JOB_STATUSES, HybridJob, JobRequest
from tests.emulators.braket.protocol import now_ms, str_member, validation
from tests.emulators.braket.search import search_jobs
from tests.emulators.kit import ApiError, Request, admin_route, route

if TYPE_CHECKING:
    from tests.emulators.braket.config import EmulatorConfig
    from tests.emulators.braket.devices import DeviceSpec
    from tests.emulators.kit import JobEngine

__all__ = ["HybridJobRoutes"]

_log = logging.getLogger(__name__)
_JOIN_SECONDS = 10.0
_SLOT_HOLDERS = frozenset({"RUNNING", "CANCELLING"})


class HybridJobRoutes:
    """The hybrid-job half of ``BraketEmulator`` (see the module doc)."""

    if TYPE_CHECKING:  # provided by BraketEmulator
        _lock: threading.RLock
        config: EmulatorConfig
        jobs: JobEngine
        region: str
        account_id: str

        @property
        def url(self) -> str: ...

        def _replay(
            self, token: str, fingerprint: str, table: dict[str, Any], what: str
        ) -> str | None: ...

        def _device_state(self, spec: DeviceSpec) -> str: ...

    def _init_hybrid(self, endpoint_url: str | None, credentials: tuple[str, str]) -> None:
        self._hybrid: dict[str, HybridJob] = {}
        self._hybrid_order: list[HybridJob] = []
        self._job_tokens: dict[str, tuple[str, str, float]] = {}
        self._job_seq = itertools.count(1)
        self._job_threads: set[threading.Thread] = set()
        self._job_endpoint = endpoint_url
        self._job_credentials = credentials
        self._job_cloud: JobCloud | None = None

    def _open_hybrid(self) -> None:
        if self._job_endpoint and self._job_cloud is None:
            self._job_cloud = JobCloud(
                self._job_endpoint, region=self.region, credentials=self._job_credentials
            )

    def _forget_hybrid(self) -> None:
        """Forget every job; kill their processes and wait for their runners."""
        with self._lock:
            jobs = list(self._hybrid_order)
            self._hybrid.clear()
            self._hybrid_order.clear()
            self._job_tokens.clear()
            for job in jobs:
                job.stop.set()
                if job.process is not None:
                    kill_group(job.process)
            threads = list(self._job_threads)
        deadline = time.monotonic() + _JOIN_SECONDS
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _close_hybrid(self) -> None:
        self._forget_hybrid()
        if self._job_cloud is not None:
            self._job_cloud.close()
            self._job_cloud = None

    # --- helpers for tests --------------------------------------------------------------------

    def job_arn(self, name: str) -> str:
        return f"arn:aws:braket:{self.region}:{self.account_id}:job/{name}"

    def hybrid_jobs(self) -> list[dict[str, Any]]:
        """Every hybrid job as GetJob describes it, oldest first."""
        with self._lock:
            return [self._describe_job(job) for job in self._hybrid_order]

    def hybrid_job(self, arn: str) -> dict[str, Any]:
        """One job as GetJob describes it (KeyError if unknown)."""
        with self._lock:
            return self._describe_job(self._hybrid[arn])

    def job_token(self, arn: str) -> str:
        """The ``AMZN_BRAKET_JOB_TOKEN`` the job's process is given."""
        with self._lock:
            return self._hybrid[arn].token

    def job_log(self, arn: str) -> list[str]:
        """The job's output lines so far (also those not yet sent to CloudWatch Logs)."""
        with self._lock:
            return list(self._hybrid[arn].log_lines)

    def job_pid(self, arn: str) -> int | None:
        """The pid of the job's process while it runs, else None."""
        with self._lock:
            process = self._hybrid[arn].process
            return None if process is None else process.pid

    def job_pids(self) -> list[int]:
        """The pids of every job process running now."""
        with self._lock:
            return [j.process.pid for j in self._hybrid_order if j.process is not None]

    def wait_for_job_status(
        self, arn: str, statuses: Iterable[str] = FINAL_JOB_STATUSES, timeout: float = 30.0
    ) -> str:
        """Wait (bounded) until the job is in one of ``statuses``; returns the status."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            status = self.hybrid_job(arn)["status"]
            if status in wanted or time.monotonic() >= deadline:
                return str(status)
            time.sleep(0.02)

    def _inspect_job(self, job: HybridJob) -> dict[str, Any]:
        return {
            **self._describe_job(job),
            "jobToken": job.token,
            "logStream": job.log_stream,
            "pid": None if job.process is None else job.process.pid,
            "exitCode": job.exit_code,
        }

    @admin_route("GET", "/jobs")
    def _control_jobs(self, request: Request) -> tuple[int, Any]:
        with self._lock:
            return 200, {"jobs": [self._inspect_job(job) for job in self._hybrid_order]}

    # --- CreateJob ----------------------------------------------------------------------------

    def _check_job_device(self, arn: str) -> None:
        if arn.startswith("local:"):
            return
        spec = device_by_arn(arn)
        if spec is None:
            raise validation(f"Device {arn} does not exist or is not available")
        state = self._device_state(spec)
        if state == "OFFLINE":
            raise ApiError(424, "DeviceOfflineException", f"Device {arn} is offline")
        if state == "RETIRED":
            raise ApiError(410, "DeviceRetiredException", f"Device {arn} is retired")

    @route("POST", "/job", "CreateJob")
    def create_job(self, request: Request) -> tuple[int, Any]:
        body = request.json_object(validation)
        token = str_member(body, "clientToken", required=True, low=1, high=64) or ""
        rest = {k: v for k, v in body.items() if k != "clientToken"}
        fingerprint = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()
        with self._lock:
            earlier = self._replay(token, fingerprint, self._job_tokens, "job")
        if earlier is None:
            validated = JobRequest.parse(body)
            self._check_job_device(validated.device)
            with self._lock:
                earlier = self._replay(token, fingerprint, self._job_tokens, "job")
                if earlier is None:
                    job = self._commit_job(validated)
                    self._job_tokens[token] = (fingerprint, job.arn, time.monotonic())
        if earlier is not None:
            request.params.update(replay=True, job_arn=earlier)
            return 201, {"jobArn": earlier}
        request.params["job_arn"] = job.arn
        queue_time = float(self.config.get("job_queue_time"))
        self.jobs.later(queue_time, functools.partial(self._job_eligible, job))
        return 201, {"jobArn": job.arn}

    def _commit_job(self, validated: JobRequest) -> HybridJob:
        """Create the job (under the lock): its name unused, within the quota."""
        arn = self.job_arn(validated.name)
        if arn in self._hybrid:
            raise ApiError(
                409, "ConflictException", f"A job with the name {validated.name} already exists"
            )
        quota = self.config.get("max_active_jobs")
        if quota is not None:
            active = sum(1 for j in self._hybrid_order if j.status not in FINAL_JOB_STATUSES)
            if active >= quota:
                raise ApiError(
                    402,
                    "ServiceQuotaExceededException",
                    f"Too many active hybrid jobs ({active}, quota {quota})",
                )
        job = HybridJob(next(self._job_seq), arn, validated, now_ms(), uuid.uuid4().hex)
        job.event("QUEUED_FOR_EXECUTION", "Job queued for execution", job.created_ms)
        self._hybrid[arn] = job
        self._hybrid_order.append(job)
        return job

    # --- admission ----------------------------------------------------------------------------

    def _current(self, job: HybridJob) -> bool:
        return self._hybrid.get(job.arn) is job

    def _job_eligible(self, job: HybridJob) -> None:
        with self._lock:
            if self._current(job) and job.status == "QUEUED":
                job.eligible = True
        self._admit_jobs()

    def _admit_jobs(self) -> None:
        """Start the eligible queued jobs, oldest first, while slots are free."""
        slots = int(self.config.get("job_slots"))
        with self._lock:
            running = sum(1 for j in self._hybrid_order if j.status in _SLOT_HOLDERS)
            for job in self._hybrid_order:
                if job.status != "QUEUED" or not job.eligible:
                    continue
                moment = now_ms()
                if running >= slots:
                    if not job.waiting_noted:
                        job.waiting_noted = True
                        job.event("WAITING_FOR_PRIORITY", "Waiting for a free job slot", moment)
                    continue
                running += 1
                job.status = "RUNNING"
                job.started_ms = moment
                job.event("STARTING_INSTANCE", "Starting the job's instance", moment)
                thread = threading.Thread(
                    target=self._run_job, args=(job,), name=f"braket-job-{job.seq}", daemon=True
                )
                self._job_threads.add(thread)
                thread.start()

    # --- one job's run (on its own thread) ----------------------------------------------------

    def _proceed(self, job: HybridJob) -> bool:
        """Whether the run goes on: the job is still RUNNING here; a cancel ends it here."""
        with self._lock:
            if not self._current(job):
                return False
            if job.status == "CANCELLING":
                job.finish("CANCELLED", None, now_ms())
                job.event("CANCELLED", "Job cancelled", job.ended_ms or now_ms())
            return job.status == "RUNNING"

    def _end_job(self, job: HybridJob, status: str, reason: str | None) -> None:
        with self._lock:
            if not self._current(job) or job.status in FINAL_JOB_STATUSES:
                return
            if job.status == "CANCELLING":
                status, reason = "CANCELLED", None
            job.finish(status, reason, now_ms())
            message = {"COMPLETED": "Job completed", "CANCELLED": "Job cancelled"}
            job.event(status, reason or message.get(status, status), job.ended_ms or now_ms())

    def _note(self, job: HybridJob, kind: str, message: str) -> None:
        with self._lock:
            if self._current(job):
                job.event(kind, message, now_ms())

    def _run_job(self, job: HybridJob) -> None:
        try:
            self._run_job_steps(job)
        except Exception as exc:  # a bug of the emulator: the job fails, the run goes on
            _log.exception("braket emulator: hybrid job %s", job.arn)
            self._end_job(job, "FAILED", f"Internal error of the emulator: {exc}")
        finally:
            with self._lock:
                self._job_threads.discard(threading.current_thread())
            self._admit_jobs()

    def _run_job_steps(self, job: HybridJob) -> None:
        job.stop.wait(float(self.config.get("job_start_time")))
        if not self._proceed(job):  # cancelled (it ends here) or forgotten
            return
        cloud = self._job_cloud
        if cloud is None:
            self._end_job(job, "FAILED", "The emulator has no S3 endpoint: jobs need one")
            return
        if self.config.job_should_fail(job.request.hyperparameters):
            self._end_job(job, "FAILED", str(self.config.get("fail_job_reason")))
            return
        self._note(job, "DOWNLOADING_DATA", "Downloading the source and input data")
        workspace = Workspace(Path(tempfile.mkdtemp(prefix="braket-job-")))
        try:
            self._run_in(job, cloud, workspace)
        finally:
            shutil.rmtree(workspace.root, ignore_errors=True)

    def _run_in(self, job: HybridJob, cloud: JobCloud, workspace: Workspace) -> None:
        request = job.request
        try:
            workspace.prepare(cloud, request)
        except Exception as exc:
            self._end_job(job, "FAILED", str(exc))
            return
        sdk = braket_env_vars(self.url, str(self._job_endpoint), self.region)
        sdk["AWS_ACCESS_KEY_ID"], sdk["AWS_SECRET_ACCESS_KEY"] = self._job_credentials
        env = workspace.environment(request, job.token, sdk)
        stream = f"{job.name}/algo-1-{int(time.time())}"
        forwarder = LogForwarder(cloud, stream, functools.partial(self._job_line, job))
        with self._lock:
            if not self._proceed(job):
                return
            process = start_process(workspace, env)
            job.process, job.log_stream = process, stream
            job.event("RUNNING", "Running the job's entry point", now_ms())
        try:
            code, timed_out = self._watch(job, process, forwarder)
        finally:
            kill_group(process, reaped_too=True)  # what the job left behind
            if process.poll() is None:
                process.wait()
        with self._lock:
            job.process, job.exit_code = None, code
        if not self._proceed(job):
            return
        reason: str | None = None
        if timed_out:
            reason = (
                f"The job exceeded its maximum runtime of {request.max_runtime} seconds "
                "(stoppingCondition.maxRuntimeInSeconds) and was stopped"
            )
            self._note(job, "MAX_RUNTIME_EXCEEDED", reason)
        elif code != 0:
            reason = workspace.failure_reason(code)
        self._note(job, "UPLOADING_RESULTS", "Uploading the results and checkpoints")
        try:
            workspace.collect(cloud, request)
        except Exception as exc:
            reason = reason or f"Could not upload the results: {exc}"
        self._end_job(job, "COMPLETED" if reason is None else "FAILED", reason)

    def _watch(
        self, job: HybridJob, process: subprocess.Popen[bytes], forwarder: LogForwarder
    ) -> tuple[int, bool]:
        """Forward the log until the process ends or its runtime is up: (exit code, whether
        it was stopped for its runtime)."""
        assert process.stdout is not None
        reader = forwarder.pump(process.stdout)  # type: ignore[arg-type]
        limit = job.request.max_runtime
        deadline = None if limit is None else time.monotonic() + limit
        interval = float(self.config.get("job_log_flush_interval"))
        timed_out = False
        while True:
            wait = interval if deadline is None else min(interval, deadline - time.monotonic())
            try:
                code = process.wait(timeout=max(0.0, wait))
                break
            except subprocess.TimeoutExpired:
                pass
            self._flush(forwarder)
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                kill_group(process)
                code = process.wait()
                break
        kill_group(process, reaped_too=True)
        reader.join(_JOIN_SECONDS)
        self._flush(forwarder)
        return code, timed_out

    @staticmethod
    def _flush(forwarder: LogForwarder) -> None:
        try:
            forwarder.flush()
        except Exception:  # CloudWatch Logs down: the lines are still kept in memory
            _log.warning("braket emulator: could not send a job's log", exc_info=True)

    def _job_line(self, job: HybridJob, line: str) -> None:
        with self._lock:
            job.log_lines.append(line)

    # --- GetJob / CancelJob / SearchJobs ------------------------------------------------------

    def _find_job(self, arn: str) -> HybridJob:
        if not arn.startswith("arn:"):
            raise validation(f"'{arn}' is not a valid job ARN")
        job = self._hybrid.get(arn)
        if job is None:
            raise ApiError(404, "ResourceNotFoundException", f"Job {arn} not found")
        return job

    def _describe_job(self, job: HybridJob, *, queue_info: bool = True) -> dict[str, Any]:
        """GetJob's answer (under the lock)."""
        if not queue_info:
            return job.describe(None)
        if job.status != "QUEUED":
            return job.describe(0)
        ahead = sum(1 for o in self._hybrid_order if o.seq < job.seq and o.status == "QUEUED")
        return job.describe(ahead + 1)

    @route("GET", "/job/{jobArn+}", "GetJob")
    def get_job(self, request: Request) -> tuple[int, Any]:
        names = request.query.get("additionalAttributeNames", [])
        for name in names:
            if name != "QueueInfo":
                raise validation(f"unknown additionalAttributeNames value {name!r}")
        with self._lock:
            job = self._find_job(request.labels["jobArn"])
            return 200, self._describe_job(job, queue_info="QueueInfo" in names)

    @route("PUT", "/job/{jobArn+}/cancel", "CancelJob")
    def cancel_job(self, request: Request) -> tuple[int, Any]:
        arn = request.labels["jobArn"]
        process = None
        with self._lock:
            job = self._find_job(arn)
            if job.status in ("CANCELLING", "CANCELLED"):
                return 200, {"jobArn": arn, "cancellationStatus": job.status}
            if job.status in FINAL_JOB_STATUSES:
                raise ApiError(
                    409,
                    "ConflictException",
                    f"Job {arn} is in terminal state {job.status} and cannot be cancelled",
                )
            job.stop.set()
            if job.status == "QUEUED":
                job.finish("CANCELLED", None, now_ms())
                job.event("CANCELLED", "Job cancelled", job.ended_ms or now_ms())
            else:
                job.status = "CANCELLING"
                process = job.process
            status = job.status
        if process is not None:
            kill_group(process)
        return 200, {"jobArn": arn, "cancellationStatus": status}

    @route("POST", "/jobs", "SearchJobs")
    def search_jobs(self, request: Request) -> tuple[int, Any]:
        body = request.json_object(validation)
        page_size = int(self.config.get("search_page_size"))
        with self._lock:
            return 200, search_jobs(body, reversed(self._hybrid_order), page_size)
