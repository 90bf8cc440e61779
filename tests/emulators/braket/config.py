"""Run-time settings of the Braket emulator: queue time, how tasks fail, quotas, idempotency.

API faults (latency, 429, 5xx before or after commit, dropped connections, timeouts) are the
kit's: ``emulator.faults`` (see ``tests.emulators.kit.faults``). These settings are Braket's::

    emulator.config.update(queue_time=0.1, fail_task_tags={"qplan-address": "*"})

or ``POST /_emulator/config`` from another process (except the two predicates, which are
Python callables).

- failing tasks: a task fails at run time when its tags contain every pair of
  ``fail_task_tags`` (value ``"*"``: the key is present), when ``fail_task_predicate(tags)`` is
  true, or with probability ``fail_task_fraction``; its ``failureReason`` is ``fail_task_reason``
  (a failed program-set task still writes its results, every executable a failure);
- failing executables of a program set: an executable fails when
  ``fail_executable_predicate(tags, inputs)`` is true (``inputs``: the executable's own input
  values, one per name) or with probability ``fail_executable_fraction``; it is recorded as a
  ``ProgramSetExecutableFailure`` (``failureReason`` ``fail_executable_reason``, retryable,
  category DEVICE) and the task still COMPLETES;
- slow cancels: with ``cancel_delay`` > 0, CancelQuantumTask answers CANCELLING and the task
  becomes CANCELLED only ``cancel_delay`` seconds later;
- ``device_status`` maps a device ARN to OFFLINE or RETIRED (CreateQuantumTask then answers
  424 ``DeviceOfflineException`` / 410 ``DeviceRetiredException``); ``max_active_tasks`` caps
  the tasks not yet final (402 ``ServiceQuotaExceededException``).

Hybrid jobs (``CreateJob``): a job waits ``job_queue_time`` seconds QUEUED, then for one of
``job_slots`` (at most that many jobs run at once, the others keep their place in the
``JOBS_QUEUE``); admitted, it is RUNNING and its process starts ``job_start_time`` seconds later
(the instance's start). Its output goes to CloudWatch Logs every ``job_log_flush_interval``
seconds. A job whose hyperparameters contain every pair of ``fail_job_hyperparameters``
(value ``"*"``: the name is present) fails when it would start, with ``fail_job_reason``,
without running; ``max_active_jobs`` caps the jobs not yet final (402
``ServiceQuotaExceededException``).

The fractions draw from one ``random.Random(seed)``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from tests.emulators.kit import Settings

__all__ = ["IDEMPOTENCY_ERRORS", "EmulatorConfig", "ExecutablePredicate", "TagPredicate"]

IDEMPOTENCY_ERRORS = {"ConflictException": 409, "IdempotentParameterMismatchException": 400}

TagPredicate = Callable[[Mapping[str, str]], bool]
# (task tags, the executable's inputs) -> whether that executable of a program set fails
ExecutablePredicate = Callable[[Mapping[str, str], Mapping[str, Any]], bool]


@dataclasses.dataclass
class EmulatorConfig(Settings):
    """Queue time, task and job faults of a ``BraketEmulator`` (thread-safe; see module doc)."""

    PYTHON_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"fail_task_predicate", "fail_executable_predicate"}
    )

    queue_time: float = 0.0  # seconds a task spends CREATED/QUEUED before RUNNING
    run_time: float = 0.0  # seconds a task spends RUNNING besides its simulation
    fail_task_fraction: float = 0.0
    fail_task_tags: dict[str, str] = dataclasses.field(default_factory=dict)
    fail_task_predicate: TagPredicate | None = None
    fail_task_reason: str = "Task failed: fault injected by the Braket emulator"
    fail_executable_fraction: float = 0.0
    fail_executable_predicate: ExecutablePredicate | None = None
    fail_executable_reason: str = "Executable failed: fault injected by the Braket emulator"
    cancel_delay: float = 0.0
    device_status: dict[str, str] = dataclasses.field(default_factory=dict)
    max_active_tasks: int | None = None
    poll_interval_ms: int = 100  # getTaskPollIntervalMillis advertised by GetDevice
    search_page_size: int = 100  # SearchQuantumTasks page size when maxResults is absent
    client_token_ttl: float | None = None  # seconds a clientToken is remembered; None: always
    idempotency_mismatch_error: str = "ConflictException"
    check_output_bucket: bool = True  # CreateQuantumTask checks the bucket exists (HeadBucket)
    job_queue_time: float = 0.0  # seconds a hybrid job is QUEUED before it may start
    job_slots: int = 2  # hybrid jobs running at once; the others wait in the queue
    job_start_time: float = 0.0  # seconds from RUNNING to the job's process (instance start)
    job_log_flush_interval: float = 0.5  # seconds between two sends of a job's log lines
    fail_job_hyperparameters: dict[str, str] = dataclasses.field(default_factory=dict)
    fail_job_reason: str = "Job failed: fault injected by the Braket emulator"
    max_active_jobs: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        super().__post_init__()

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> None:
        for key in ("queue_time", "run_time", "cancel_delay", "job_queue_time", "job_start_time"):
            if key in values and float(values[key]) < 0:
                raise ValueError(f"{key} must be >= 0")
        for key in ("fail_task_fraction", "fail_executable_fraction"):
            if key in values and not 0.0 <= float(values[key]) <= 1.0:
                raise ValueError(f"{key} must be within [0, 1]")
        if "job_slots" in values and int(values["job_slots"]) < 1:
            raise ValueError("job_slots must be >= 1")
        if "job_log_flush_interval" in values and float(values["job_log_flush_interval"]) <= 0:
            raise ValueError("job_log_flush_interval must be > 0")
        error = values.get("idempotency_mismatch_error")
        if error is not None and error not in IDEMPOTENCY_ERRORS:
            raise ValueError(
                f"idempotency_mismatch_error must be one of {list(IDEMPOTENCY_ERRORS)}"
            )
        for arn, state in (values.get("device_status") or {}).items():
            if state not in ("ONLINE", "OFFLINE", "RETIRED"):
                raise ValueError(f"device_status[{arn!r}] must be ONLINE, OFFLINE or RETIRED")

    def changed(self, changes: Mapping[str, Any]) -> None:
        if "seed" in changes:
            self._rng.seed(changes["seed"])

    # --- decisions (used by the emulator) -----------------------------------------------------

    def task_should_fail(self, tags: Mapping[str, str]) -> bool:
        """Decided once, when a task is created."""
        with self._lock:
            wanted = dict(self.fail_task_tags)
            predicate = self.fail_task_predicate
            fraction = self.fail_task_fraction
            draw = self._rng.random() if fraction > 0.0 else 1.0
        if wanted and all(
            key in tags and (value == "*" or tags[key] == value) for key, value in wanted.items()
        ):
            return True
        if predicate is not None and predicate(tags):
            return True
        return draw < fraction

    def job_should_fail(self, hyperparameters: Mapping[str, str]) -> bool:
        """Decided when a hybrid job would start."""
        wanted = self.get("fail_job_hyperparameters")
        return bool(wanted) and all(
            key in hyperparameters and (value == "*" or hyperparameters[key] == value)
            for key, value in wanted.items()
        )

    def executable_should_fail(self, tags: Mapping[str, str], inputs: Mapping[str, Any]) -> bool:
        """Decided for each executable of a program set, when it is about to run."""
        with self._lock:
            predicate = self.fail_executable_predicate
            fraction = self.fail_executable_fraction
            draw = self._rng.random() if fraction > 0.0 else 1.0
        if predicate is not None and predicate(tags, inputs):
            return True
        return draw < fraction
