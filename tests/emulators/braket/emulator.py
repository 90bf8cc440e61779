"""A wire-compatible Amazon Braket emulator for the real boto3 ``braket`` client and the real
amazon-braket-sdk (``AwsSession``, ``AwsDevice``, ``AwsQuantumTask``, ``AwsQuantumTaskBatch``,
``AwsQuantumJob``), built on the emulator kit (``tests.emulators.kit``: server, faults, call
record, control).

It serves the REST-JSON protocol of the service model ``braket-2019-09-01``:

======  ==================================  ====================  ===========================
verb    path                                operation             success
======  ==================================  ====================  ===========================
GET     ``/device/{deviceArn}``             GetDevice             200
POST    ``/devices``                        SearchDevices         200
POST    ``/quantum-task``                   CreateQuantumTask     201 ``{quantumTaskArn}``
GET     ``/quantum-task/{quantumTaskArn}``  GetQuantumTask        200
PUT     ``/quantum-task/{arn}/cancel``      CancelQuantumTask     200 ``{cancellationStatus}``
POST    ``/quantum-tasks``                  SearchQuantumTasks    200 ``{quantumTasks, nextToken}``
POST    ``/job``                            CreateJob             201 ``{jobArn}``
GET     ``/job/{jobArn}``                   GetJob                200
PUT     ``/job/{jobArn}/cancel``            CancelJob             200 ``{cancellationStatus}``
POST    ``/jobs``                           SearchJobs            200 ``{jobs, nextToken}``
GET     ``/tags/{resourceArn}``             ListTagsForResource   200 ``{tags}``
POST    ``/tags/{resourceArn}``             TagResource           200
DELETE  ``/tags/{resourceArn}?tagKeys=``    UntagResource         200
======  ==================================  ====================  ===========================

Wire details it follows (errors and timestamps: ``protocol``; actions and program sets:
``programs``; S3 layout: ``results`` and ``storage``; search: ``search``; hybrid jobs:
``jobs_api``, ``hybrid`` and ``containers``):

- ARNs in paths arrive percent-encoded (botocore encodes ``:`` and ``/`` of URI labels).
  ``additionalAttributeNames=QueueInfo`` in the query adds ``queueInfo`` to GetQuantumTask and
  GetJob, as the SDK always asks. ``deviceCapabilities`` and ``deviceParameters`` are JSON
  *strings*.
- Idempotency: ``clientToken`` (an ``idempotencyToken``: botocore fills a uuid4 when the
  caller gives none, once per API call, so its own retries resend the same token). A repeat
  with the same token and the same body returns the same ARN and creates nothing; the same token
  with another body is answered ``ConflictException`` (HTTP 409, the status the Braket model
  gives that shape) or, if configured, ``IdempotentParameterMismatchException`` (HTTP 400, the
  EC2/SSM convention). CancelQuantumTask replays the same way; CreateJob keeps its own tokens,
  and a job name already used (another token) is a ``ConflictException``.
- Tasks go CREATED -> QUEUED -> RUNNING -> COMPLETED | FAILED (or CANCELLING -> CANCELLED).
  After ``queue_time`` a task runs its action on ``braket.default_simulator`` in the worker
  pool, writes its results under ``s3://{outputS3Bucket}/{outputS3KeyPrefix}/{taskId}/`` and
  turns COMPLETED with ``outputS3Directory`` = ``{outputS3KeyPrefix}/{taskId}``; a simulation
  error turns it FAILED with a ``failureReason``. GetQuantumTask's ``actionMetadata`` adds
  ``programCount`` and ``executableCount`` for program sets; a task created with a hybrid
  job's ``jobToken`` shows the job's ``jobArn``.
- Hybrid jobs (ARN ``arn:aws:braket:{region}:{account}:job/{jobName}``, so the SDK's log prefix
  is the job name) go QUEUED -> RUNNING -> COMPLETED | FAILED (or CANCELLING -> CANCELLED):
  their entry point runs in a subprocess with the job's environment, its output in CloudWatch
  Logs, its results in ``{s3Path}/output/model.tar.gz`` (see ``jobs_api``).

Settings (queue time, failing tasks and executables, job slots...): ``config.EmulatorConfig``.
API faults, the call record (parameters ``client_token``, ``replay``, ``task_arn``,
``job_arn``, ``job_name``, ``resource_arn``, ``device_arn``, ``filters``, ``max_results``,
``next_token``) and the control routes are the kit's; Braket adds ``GET /_emulator/tasks`` and
``GET /_emulator/jobs`` (each job as GetJob describes it, with ``jobToken``, ``logStream``,
``pid`` and ``exitCode``).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from tests.emulators.braket.config import IDEMPOTENCY_ERRORS, EmulatorConfig
from tests.emulators.braket.devices import DEVICES, DeviceSpec, capabilities_json, device_by_arn
from tests.emulators.braket.jobs_api import HybridJobRoutes
from tests.emulators.braket.protocol import (
    BraketProtocol,
    missing,
    now_ms,
    str_member,
    validation,
)
from tests.emulators.braket.results import (
    Results,
    program_result,
    program_set_results,
)
from tests.emulators.braket.search import search
from tests.emulators.braket.storage import ResultStore
from tests.emulators.braket.tasks import FINAL_STATUSES, QUEUED_STATUSES, CreateRequest, Task
from tests.emulators.kit import ApiError, Emulator, Fault, Request, admin_route, route

__all__ = ["FINAL_STATUSES", "BraketEmulator"]


class BraketEmulator(HybridJobRoutes, Emulator):
    """The Braket API on the kit's server. Results go to the S3 endpoint ``s3_endpoint_url``
    (moto's server in tests) with boto3; without one they are kept in memory
    (``results_json``, ``results_object``)."""

    name = "braket"
    protocol = BraketProtocol()

    def __init__(
        self,
        *,
        s3_endpoint_url: str | None = None,
        config: EmulatorConfig | None = None,
        faults: Iterable[Fault] = (),
        region: str = "us-east-1",
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        max_workers: int = 4,
        aws_access_key_id: str = "testing",
        aws_secret_access_key: str = "testing",
    ) -> None:
        self.config: EmulatorConfig = config or EmulatorConfig()
        super().__init__(
            config=self.config, faults=faults, host=host, port=port, max_workers=max_workers
        )
        self.region = region
        self.account_id = account_id
        self.storage = ResultStore(
            s3_endpoint_url,
            region=region,
            credentials=(aws_access_key_id, aws_secret_access_key),
            connections=max_workers + 4,
        )
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._order: list[Task] = []
        self._tokens: dict[str, tuple[str, str, float]] = {}  # token -> (fingerprint, arn, t)
        self._seq = itertools.count(1)
        self._init_hybrid(s3_endpoint_url, (aws_access_key_id, aws_secret_access_key))

    # --- lifecycle ----------------------------------------------------------------------------

    def on_start(self) -> None:
        self.storage.open()
        self._open_hybrid()

    def on_stop(self) -> None:
        self._close_hybrid()
        self.storage.close()

    def reset(self) -> None:
        """Forget tasks, hybrid jobs (their processes killed), client tokens and calls; config
        and faults back to their start."""
        self._forget_hybrid()
        with self._lock:
            self._tasks.clear()
            self._order.clear()
            self._tokens.clear()
        self.storage.forget()
        super().reset()

    # --- helpers for tests --------------------------------------------------------------------

    def task_arn(self, task_id: str) -> str:
        return f"arn:aws:braket:{self.region}:{self.account_id}:quantum-task/{task_id}"

    def tasks(self) -> list[dict[str, Any]]:
        """Every task as GetQuantumTask would describe it, oldest first."""
        with self._lock:
            return [self._describe(task) for task in self._order]

    def task(self, arn: str) -> dict[str, Any]:
        with self._lock:
            task = self._tasks.get(arn)
            if task is None:
                raise KeyError(arn)
            return self._describe(task)

    def task_job_token(self, arn: str) -> str | None:
        """The ``jobToken`` the task was created with (a hybrid job's task), or None."""
        with self._lock:
            return self._tasks[arn].request.job_token

    def wait_for_status(
        self, arn: str, statuses: Iterable[str] = FINAL_STATUSES, timeout: float = 10.0
    ) -> str:
        """Wait (bounded) until the task is in one of ``statuses``; returns the status."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            status = self.task(arn)["status"]
            if status in wanted or time.monotonic() >= deadline:
                return str(status)
            time.sleep(0.01)

    def results_json(self, arn: str) -> str:
        """The results.json of a task, from S3 or memory."""
        return self.results_object(arn, "results.json")

    def results_object(self, arn: str, path: str) -> str:
        """An object the task wrote, by its path relative to the task's directory (e.g.
        ``programs/0/executables/1.json`` of a program set), from S3 or memory."""
        with self._lock:
            task = self._tasks[arn]
        return self.storage.read(task.bucket, task.directory, path)

    @admin_route("GET", "/tasks")
    def _control_tasks(self, request: Request) -> tuple[int, Any]:
        return 200, {"tasks": self.tasks()}

    # --- the call record ----------------------------------------------------------------------

    def call_params(self, request: Request) -> dict[str, Any]:
        body = request.body if isinstance(request.body, dict) else {}
        token = body.get("clientToken")
        device = request.labels.get("deviceArn", body.get("deviceArn"))
        if request.operation == "CreateJob":
            config = body.get("deviceConfig")
            device = config.get("device") if isinstance(config, dict) else None
        name = body.get("jobName")
        params: dict[str, Any] = {
            "client_token": token if isinstance(token, str) else None,
            "replay": False,  # answered from the idempotency table, nothing new created
            "task_arn": request.labels.get("quantumTaskArn"),
            "job_arn": request.labels.get("jobArn"),
            "job_name": name if isinstance(name, str) else None,
            "resource_arn": request.labels.get("resourceArn"),
            "device_arn": device if isinstance(device, str) else None,
            "filters": None,
            "max_results": None,
            "next_token": None,
        }
        if request.operation in ("SearchQuantumTasks", "SearchJobs"):
            filters, size, page = body.get("filters"), body.get("maxResults"), body.get("nextToken")
            params["filters"] = filters if isinstance(filters, list) else None
            params["max_results"] = size if isinstance(size, int) else None
            params["next_token"] = page if isinstance(page, str) else None
        return params

    # --- devices ------------------------------------------------------------------------------

    def _device_state(self, spec: DeviceSpec) -> str:
        return str(self.config.get("device_status").get(spec.arn, "ONLINE"))

    def _lookup_device(self, arn: str) -> DeviceSpec:
        if not arn.startswith("arn:"):
            raise validation(f"'{arn}' is not a valid device ARN")
        spec = device_by_arn(arn)
        if spec is None:
            raise ApiError(404, "ResourceNotFoundException", f"Braket device '{arn}' not found")
        return spec

    def _device_summary(self, spec: DeviceSpec) -> dict[str, Any]:
        return {
            "deviceArn": spec.arn,
            "deviceName": spec.name,
            "providerName": spec.provider_name,
            "deviceType": spec.device_type,
            "deviceStatus": self._device_state(spec),
        }

    @route("GET", "/device/{deviceArn+}", "GetDevice")
    def get_device(self, request: Request) -> tuple[int, Any]:
        spec = self._lookup_device(request.labels["deviceArn"])
        poll_ms = int(self.config.get("poll_interval_ms"))
        with self._lock:
            waiting = [
                t for t in self._order if t.device.arn == spec.arn and t.status in QUEUED_STATUSES
            ]
        priority = sum(1 for t in waiting if t.priority)
        queues = [
            ("QUANTUM_TASKS_QUEUE", len(waiting) - priority, "Normal"),
            ("QUANTUM_TASKS_QUEUE", priority, "Priority"),
        ]
        return 200, {
            **self._device_summary(spec),
            "deviceCapabilities": capabilities_json(spec.arn, poll_ms),
            "deviceQueueInfo": [
                *({"queue": q, "queueSize": str(n), "queuePriority": p} for q, n, p in queues),
                {"queue": "JOBS_QUEUE", "queueSize": "0"},
            ],
        }

    @route("POST", "/devices", "SearchDevices")
    def search_devices(self, request: Request) -> tuple[int, Any]:
        body = request.json_object(validation)
        arns: set[str] | None = None
        for item in body.get("filters") or []:
            if not isinstance(item, dict) or item.get("name") != "deviceArn":
                raise validation("SearchDevices filters on deviceArn only")
            arns = set(item.get("values") or []) if arns is None else arns & set(item["values"])
        devices = [
            self._device_summary(spec)
            for spec in DEVICES.values()
            if arns is None or spec.arn in arns
        ]
        return 200, {"devices": devices}

    # --- CreateQuantumTask --------------------------------------------------------------------

    def _replay(
        self,
        token: str,
        fingerprint: str,
        table: dict[str, tuple[str, str, float]] | None = None,
        what: str = "quantum task",
    ) -> str | None:
        """The ARN created earlier with this token (same body), None if the token is new.
        ``table``: the tokens of one operation (CreateQuantumTask's by default). Under the
        lock."""
        table = self._tokens if table is None else table
        known = table.get(token)
        if known is None:
            return None
        ttl = self.config.get("client_token_ttl")
        error_code = str(self.config.get("idempotency_mismatch_error"))
        if ttl is not None and time.monotonic() - known[2] > ttl:
            del table[token]
            return None
        if known[0] != fingerprint:
            raise ApiError(
                IDEMPOTENCY_ERRORS[error_code],
                error_code,
                f"clientToken '{token}' was already used with different parameters "
                f"({what} {known[1]})",
            )
        return known[1]

    def _validate_create(self, body: Mapping[str, Any]) -> CreateRequest:
        for name in ("deviceArn", "shots", "outputS3Bucket", "outputS3KeyPrefix", "action"):
            if body.get(name) is None:
                raise missing(name)
        device_arn = str_member(body, "deviceArn", required=True, low=1, high=256) or ""
        spec = self._lookup_device(device_arn)
        state = self._device_state(spec)
        if state == "OFFLINE":
            raise ApiError(424, "DeviceOfflineException", f"Device {device_arn} is offline")
        if state == "RETIRED":
            raise ApiError(410, "DeviceRetiredException", f"Device {device_arn} is retired")
        validated = CreateRequest.parse(body, spec)
        if self.config.get("check_output_bucket"):
            self.storage.check_bucket(validated.bucket)
        return validated

    @route("POST", "/quantum-task", "CreateQuantumTask")
    def create_quantum_task(self, request: Request) -> tuple[int, Any]:
        body = request.json_object(validation)
        token = str_member(body, "clientToken", required=True, low=1, high=64) or ""
        rest = {k: v for k, v in body.items() if k != "clientToken"}
        fingerprint = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()
        with self._lock:
            earlier = self._replay(token, fingerprint)
        if earlier is None:
            validated = self._validate_create(body)
            will_fail = self.config.task_should_fail(validated.tags)
            with self._lock:
                earlier = self._replay(token, fingerprint)  # a concurrent twin may have won
                if earlier is None:
                    task = self._commit(validated, will_fail)
                    self._tokens[token] = (fingerprint, task.arn, time.monotonic())
        if earlier is not None:
            request.params.update(replay=True, task_arn=earlier)
            return 201, {"quantumTaskArn": earlier}
        request.params["task_arn"] = task.arn
        self.jobs.lifecycle(
            queue_time=float(self.config.get("queue_time")),
            run_time=float(self.config.get("run_time")),
            queued=functools.partial(self._mark_queued, task),
            start=functools.partial(self._start_running, task),
            work=functools.partial(self._execute, task),
            not_started=functools.partial(self._not_started, task),
        )
        return 201, {"quantumTaskArn": task.arn}

    def _commit(self, validated: CreateRequest, will_fail: bool) -> Task:
        """Create the task (under the lock), within the quota of active tasks."""
        quota = self.config.get("max_active_tasks")
        if quota is not None:
            active = sum(1 for t in self._order if t.status not in FINAL_STATUSES)
            if active >= quota:
                raise ApiError(
                    402,
                    "ServiceQuotaExceededException",
                    f"Too many active quantum tasks ({active}, quota {quota})",
                )
        task_id = str(uuid.uuid4())
        task = Task(
            next(self._seq), self.task_arn(task_id), task_id, validated, now_ms(), will_fail
        )
        if validated.job_token is not None:
            task.job_arn = next(
                (j.arn for j in self._hybrid_order if j.token == validated.job_token), None
            )
        self._tasks[task.arn] = task
        self._order.append(task)
        return task

    # --- task lifecycle (scheduler and workers) -----------------------------------------------

    def _mark_queued(self, task: Task) -> None:
        with self._lock:
            if task.status == "CREATED":
                task.status = "QUEUED"

    def _start_running(self, task: Task) -> bool:
        with self._lock:
            if task.status not in QUEUED_STATUSES or self._tasks.get(task.arn) is not task:
                return False
            task.status = "RUNNING"
            task.running = True
            return True

    def _not_started(self, task: Task) -> None:
        with self._lock:  # stopping: the task stays RUNNING, as on a dead service
            task.running = False

    def _finish_cancel_if_due(self, task: Task) -> None:
        """CANCELLING -> CANCELLED once the cancel delay passed and no simulation runs."""
        with self._lock:
            if task.status != "CANCELLING" or task.running or task.cancel_due is None:
                return
            if time.monotonic() + 1e-3 >= task.cancel_due:
                task.finish("CANCELLED", None, now_ms())

    def _interrupted(self, task: Task) -> str | None:
        """Why a run must stop writing: a cancel, or a reset that forgot the task."""
        with self._lock:
            if self._tasks.get(task.arn) is not task:
                return "the task was forgotten (the emulator was reset)"
            return None if task.status == "RUNNING" else f"the task is {task.status}"

    def _execute(self, task: Task) -> None:
        """Run the task's programs, write its objects, end it (on a worker)."""
        failure = str(self.config.get("fail_task_reason")) if task.will_fail else None
        successful = 0
        try:
            if self._interrupted(task) is None:
                results = self._results(task, failure)
                successful = results.successful_shots
                if self._interrupted(task) is None:
                    self.storage.write(task.bucket, task.directory, results.objects)
        except Exception as exc:  # a cancel interrupting a program set ends below as well
            failure = f"{type(exc).__name__}: {exc}"
        with self._lock:
            task.running = False
            if task.status == "RUNNING":
                task.successful_shots = successful
                status = "COMPLETED" if failure is None else "FAILED"
                task.finish(status, failure, now_ms())
                return
        self._finish_cancel_if_due(task)

    def _results(self, task: Task, failure: str | None) -> Results:
        """The objects a run writes: none for a failed single program."""
        if task.action.program_set:
            fail_reason = str(self.config.get("fail_executable_reason"))

            def executable_fault(inputs: Mapping[str, Any]) -> str | None:
                fails = self.config.executable_should_fail(task.tags, inputs)
                return fail_reason if fails else None

            return program_set_results(
                task,
                failure,
                executable_fault=executable_fault,
                interrupted=functools.partial(self._interrupted, task),
            )
        if failure is not None:
            return Results()
        return Results({"results.json": program_result(task)}, task.shots)

    # --- GetQuantumTask / CancelQuantumTask / SearchQuantumTasks ------------------------------

    def _find(self, arn: str) -> Task:
        if not arn.startswith("arn:"):
            raise validation(f"'{arn}' is not a valid quantum task ARN")
        task = self._tasks.get(arn)
        if task is None:
            raise ApiError(404, "ResourceNotFoundException", f"Quantum task {arn} not found")
        return task

    def _describe(self, task: Task, *, queue_info: bool = True) -> dict[str, Any]:
        """GetQuantumTask's answer (under the lock)."""
        if not queue_info:
            return task.describe(None)
        if task.status not in QUEUED_STATUSES:
            return task.describe(0)
        ahead = sum(
            1
            for other in self._order
            if other.seq < task.seq
            and other.device.arn == task.device.arn
            and other.status in QUEUED_STATUSES
            and other.priority == task.priority
        )
        return task.describe(ahead + 1)

    @route("GET", "/quantum-task/{quantumTaskArn+}", "GetQuantumTask")
    def get_quantum_task(self, request: Request) -> tuple[int, Any]:
        names = request.query.get("additionalAttributeNames", [])
        for name in names:
            if name != "QueueInfo":
                raise validation(f"unknown additionalAttributeNames value {name!r}")
        with self._lock:
            task = self._find(request.labels["quantumTaskArn"])
            return 200, self._describe(task, queue_info="QueueInfo" in names)

    @route("PUT", "/quantum-task/{quantumTaskArn+}/cancel", "CancelQuantumTask")
    def cancel_quantum_task(self, request: Request) -> tuple[int, Any]:
        arn = request.labels["quantumTaskArn"]
        body = request.json_object(validation)
        token = str_member(body, "clientToken", required=True, low=1, high=64) or ""
        delay = float(self.config.get("cancel_delay"))
        with self._lock:
            task = self._find(arn)
            if token in task.cancel_tokens:
                state = "CANCELLED" if task.status == "CANCELLED" else "CANCELLING"
                return 200, {"quantumTaskArn": arn, "cancellationStatus": state}
            if task.status in FINAL_STATUSES:
                raise ApiError(
                    409,
                    "ConflictException",
                    f"Quantum task {arn} is in terminal state {task.status} and cannot be "
                    "cancelled",
                )
            task.cancel_tokens.add(token)
            if task.status == "CANCELLING":
                return 200, {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"}
            task.cancel_due = time.monotonic() + delay
            if delay <= 0 and not task.running:
                task.finish("CANCELLED", None, now_ms())
                return 200, {"quantumTaskArn": arn, "cancellationStatus": "CANCELLED"}
            task.status = "CANCELLING"
        self.jobs.later(delay, functools.partial(self._finish_cancel_if_due, task))
        return 200, {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"}

    @route("POST", "/quantum-tasks", "SearchQuantumTasks")
    def search_quantum_tasks(self, request: Request) -> tuple[int, Any]:
        body = request.json_object(validation)
        page_size = int(self.config.get("search_page_size"))
        with self._lock:
            return 200, search(body, reversed(self._order), page_size)

    # --- ListTagsForResource / TagResource / UntagResource ------------------------------------

    def _tags_of(self, arn: str) -> dict[str, str]:
        """The tags of a task or job, as kept (under the lock)."""
        task = self._tasks.get(arn)
        if task is not None:
            return task.tags
        job = self._hybrid.get(arn)
        if job is not None:
            return job.tags
        raise ApiError(404, "ResourceNotFoundException", f"Resource {arn} not found")

    @route("GET", "/tags/{resourceArn+}", "ListTagsForResource")
    def list_tags_for_resource(self, request: Request) -> tuple[int, Any]:
        with self._lock:
            return 200, {"tags": dict(self._tags_of(request.labels["resourceArn"]))}

    @route("POST", "/tags/{resourceArn+}", "TagResource")
    def tag_resource(self, request: Request) -> tuple[int, Any]:
        tags = request.json_object(validation).get("tags")
        if tags is None:
            raise missing("tags")
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise validation("'tags' must map strings to strings")
        with self._lock:
            self._tags_of(request.labels["resourceArn"]).update(tags)
        return 200, {}

    @route("DELETE", "/tags/{resourceArn+}", "UntagResource")
    def untag_resource(self, request: Request) -> tuple[int, Any]:
        keys = request.query.get("tagKeys")
        if not keys:
            raise missing("tagKeys")
        with self._lock:
            tags = self._tags_of(request.labels["resourceArn"])
            for key in keys:
                tags.pop(key, None)
        return 200, {}
