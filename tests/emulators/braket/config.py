"""Run-time settings of the Braket emulator: latency, queue time and fault injection.

One ``EmulatorConfig`` is shared by the HTTP handler threads, the scheduler and the workers;
every read and write goes through its lock, so tests may change it while calls are in flight:

    emulator.config.update(throttle_next=2, queue_time=0.1)

The same fields can be set from another process with ``POST /_emulator/config`` (JSON object of
field names to values), except ``fail_task_predicate`` and ``fail_executable_predicate``,
which are Python callables.

Faults:

- throttling: ``throttle_next`` calls (then ``throttle_fraction`` of calls) of the operations in
  ``throttle_operations`` (None: every operation) are answered 429 ``ThrottlingException``;
- 5xx before commit: ``error_before_commit_next`` / ``_fraction`` calls of ``error_operations``
  are answered 500 ``InternalServiceException`` and change nothing;
- 5xx after commit: ``error_after_commit_next`` / ``_fraction`` calls of ``error_operations``
  take effect (the task is created, the cancel is recorded) and are then answered
  ``error_after_commit_status`` (500: ``InternalServiceException``; 502/503/504: a gateway page
  without ``x-amzn-ErrorType``, as a load balancer would send);
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

The "next N" counters are consumed only by the operations they apply to; fractions draw from
one ``random.Random(seed)``.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["OPERATIONS", "EmulatorConfig", "ExecutablePredicate", "TagPredicate"]

OPERATIONS = (
    "GetDevice",
    "SearchDevices",
    "CreateQuantumTask",
    "GetQuantumTask",
    "CancelQuantumTask",
    "SearchQuantumTasks",
)
FAULTS = ("throttle", "error_before_commit", "error_after_commit")
IDEMPOTENCY_ERRORS = {"ConflictException": 409, "IdempotentParameterMismatchException": 400}
_PYTHON_ONLY = frozenset({"fail_task_predicate", "fail_executable_predicate"})

TagPredicate = Callable[[Mapping[str, str]], bool]
# (task tags, the executable's inputs) -> whether that executable of a program set fails
ExecutablePredicate = Callable[[Mapping[str, str], Mapping[str, Any]], bool]


@dataclasses.dataclass
class EmulatorConfig:
    """Latency, queue time and faults of a ``BraketEmulator`` (thread-safe; see module doc)."""

    api_latency: float = 0.0  # seconds added to every API call
    api_latency_by_operation: dict[str, float] = dataclasses.field(default_factory=dict)
    queue_time: float = 0.0  # seconds a task spends CREATED/QUEUED before RUNNING
    run_time: float = 0.0  # seconds a task spends RUNNING besides its simulation
    throttle_fraction: float = 0.0
    throttle_next: int = 0
    throttle_operations: list[str] | None = None  # None: every operation
    error_before_commit_fraction: float = 0.0
    error_before_commit_next: int = 0
    error_after_commit_fraction: float = 0.0
    error_after_commit_next: int = 0
    error_after_commit_status: int = 502
    error_operations: list[str] = dataclasses.field(default_factory=lambda: ["CreateQuantumTask"])
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
    seed: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(self.seed)
        self._validate(self.as_dict(include_python_only=True))
        self._initial = self._copy_fields()

    # --- reading ------------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def _copy_fields(self) -> dict[str, Any]:
        with self._lock:
            return {name: copy.copy(getattr(self, name)) for name in self.field_names()}

    def get(self, name: str) -> Any:
        """One field, read under the lock (a shallow copy for dicts and lists)."""
        with self._lock:
            return copy.copy(getattr(self, name))

    def snapshot(self) -> EmulatorConfig:
        """A consistent copy, to read several fields without holding the lock."""
        return EmulatorConfig(**self._copy_fields())

    def as_dict(self, *, include_python_only: bool = False) -> dict[str, Any]:
        """The fields as JSON-able values (the predicates shown as flags unless asked)."""
        values = self._copy_fields()
        if not include_python_only:
            for name in _PYTHON_ONLY:
                values[name] = values[name] is not None
        return values

    # --- writing ------------------------------------------------------------------------------

    @staticmethod
    def _validate(values: Mapping[str, Any]) -> None:
        for key in ("api_latency", "queue_time", "run_time", "cancel_delay"):
            if key in values and float(values[key]) < 0:
                raise ValueError(f"{key} must be >= 0")
        for key in (
            "throttle_fraction",
            "error_before_commit_fraction",
            "error_after_commit_fraction",
            "fail_task_fraction",
            "fail_executable_fraction",
        ):
            if key in values and not 0.0 <= float(values[key]) <= 1.0:
                raise ValueError(f"{key} must be within [0, 1]")
        for key in ("throttle_operations", "error_operations"):
            ops = values.get(key)
            if ops is not None and not set(ops) <= set(OPERATIONS):
                raise ValueError(f"{key}: unknown operations {sorted(set(ops) - set(OPERATIONS))}")
        unknown_ops = set(values.get("api_latency_by_operation") or {}) - set(OPERATIONS)
        if unknown_ops:
            raise ValueError(f"api_latency_by_operation: unknown operations {sorted(unknown_ops)}")
        status = values.get("error_after_commit_status")
        if status is not None and int(status) not in (500, 502, 503, 504):
            raise ValueError("error_after_commit_status must be 500, 502, 503 or 504")
        error = values.get("idempotency_mismatch_error")
        if error is not None and error not in IDEMPOTENCY_ERRORS:
            raise ValueError(
                f"idempotency_mismatch_error must be one of {list(IDEMPOTENCY_ERRORS)}"
            )
        for arn, state in (values.get("device_status") or {}).items():
            if state not in ("ONLINE", "OFFLINE", "RETIRED"):
                raise ValueError(f"device_status[{arn!r}] must be ONLINE, OFFLINE or RETIRED")

    def update(self, **changes: Any) -> None:
        """Set some fields at once (atomically for readers). Unknown names raise ValueError."""
        unknown = set(changes) - set(self.field_names())
        if unknown:
            raise ValueError(f"unknown emulator settings: {sorted(unknown)}")
        self._validate(changes)
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, copy.copy(value))
            if "seed" in changes:
                self._rng.seed(changes["seed"])

    def update_from_json(self, changes: Mapping[str, Any]) -> None:
        """``update`` for the admin endpoint: refuses the Python-only predicates."""
        refused = set(changes) & _PYTHON_ONLY
        if refused:
            raise ValueError(f"settable from Python only: {sorted(refused)}")
        self.update(**dict(changes))

    def reset(self) -> None:
        """Back to the values the config was created with."""
        with self._lock:
            for name, value in self._initial.items():
                setattr(self, name, copy.copy(value))
            self._rng.seed(self.seed)

    # --- decisions (used by the emulator) -----------------------------------------------------

    def latency(self, operation: str) -> float:
        with self._lock:
            return float(self.api_latency_by_operation.get(operation, self.api_latency))

    def take_fault(self, fault: str, operation: str) -> bool:
        """Whether this call of ``operation`` gets ``fault``; consumes one "next N" unit."""
        with self._lock:
            if fault == "throttle":
                scope = self.throttle_operations
                if scope is not None and operation not in scope:
                    return False
            elif operation not in self.error_operations:
                return False
            remaining = int(getattr(self, f"{fault}_next"))
            if remaining > 0:
                setattr(self, f"{fault}_next", remaining - 1)
                return True
            fraction = float(getattr(self, f"{fault}_fraction"))
            return fraction > 0.0 and self._rng.random() < fraction

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

    def executable_should_fail(self, tags: Mapping[str, str], inputs: Mapping[str, Any]) -> bool:
        """Decided for each executable of a program set, when it is about to run."""
        with self._lock:
            predicate = self.fail_executable_predicate
            fraction = self.fail_executable_fraction
            draw = self._rng.random() if fraction > 0.0 else 1.0
        if predicate is not None and predicate(tags, inputs):
            return True
        return draw < fraction
