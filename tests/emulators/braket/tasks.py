"""A quantum task: the request that created it, its lifecycle state, and how GetQuantumTask
and SearchQuantumTasks show it.

Statuses go CREATED -> QUEUED -> RUNNING -> COMPLETED | FAILED, or CANCELLING -> CANCELLED.
A task's objects live under ``{outputS3KeyPrefix}/{taskId}`` (``outputS3Directory``) in its
bucket. Fields are guarded by the emulator's lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.braket.devices import DeviceSpec
from tests.emulators.braket.programs import Action, check_shots, parse_action
from tests.emulators.braket.protocol import iso, str_member, validation

__all__ = ["FINAL_STATUSES", "QUEUED_STATUSES", "STATUSES", "CreateRequest", "Task"]

STATUSES = ("CREATED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
QUEUED_STATUSES = frozenset({"CREATED", "QUEUED"})


@dataclass
class CreateRequest:
    """A CreateQuantumTask body, validated."""

    device: DeviceSpec
    shots: int
    bucket: str
    prefix: str
    action: Action
    device_parameters: str | None
    tags: dict[str, str]
    associations: list[dict[str, Any]]
    job_token: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any], spec: DeviceSpec) -> CreateRequest:
        """The members of a CreateQuantumTask body after its device (``spec``, online) was
        found. Raises ValidationException."""
        shots = body["shots"]
        if isinstance(shots, bool) or not isinstance(shots, int):
            raise validation("'shots' must be an integer")
        bucket = str_member(body, "outputS3Bucket", required=True, low=3, high=63) or ""
        prefix = str_member(body, "outputS3KeyPrefix", required=True, low=1, high=1024) or ""
        action = parse_action(str_member(body, "action", required=True, low=1) or "", spec)
        check_shots(spec, shots, action)
        device_parameters = str_member(body, "deviceParameters", required=False, low=1)
        if device_parameters is not None:
            try:
                json.loads(device_parameters)
            except ValueError:
                raise validation("'deviceParameters' is not valid JSON") from None
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise validation("'tags' must map strings to strings")
        associations = body.get("associations") or []
        if not isinstance(associations, list) or len(associations) > 1:
            raise validation("'associations' must be a list of at most 1 item")
        job_token = str_member(body, "jobToken", required=False, low=1, high=128)
        return cls(
            spec,
            shots,
            bucket,
            prefix,
            action,
            device_parameters,
            dict(tags),
            associations,
            job_token,
        )


@dataclass
class Task:
    """One quantum task and its lifecycle state."""

    seq: int
    arn: str
    task_id: str
    request: CreateRequest
    created_ms: int
    will_fail: bool
    status: str = "CREATED"
    ended_ms: int | None = None
    successful_shots: int = 0
    failure_reason: str | None = None
    running: bool = False  # a worker is running its programs
    cancel_due: float | None = None  # monotonic time the cancel completes
    cancel_tokens: set[str] = field(default_factory=set)
    job_arn: str | None = None  # the hybrid job whose token it was created with

    @property
    def device(self) -> DeviceSpec:
        return self.request.device

    @property
    def shots(self) -> int:
        return self.request.shots

    @property
    def bucket(self) -> str:
        return self.request.bucket

    @property
    def action(self) -> Action:
        return self.request.action

    @property
    def tags(self) -> dict[str, str]:
        return self.request.tags

    @property
    def priority(self) -> bool:
        """Tasks of a hybrid job (``jobToken``) wait in the priority queue."""
        return bool(self.request.job_token)

    @property
    def directory(self) -> str:
        return f"{self.request.prefix}/{self.task_id}"

    def finish(self, status: str, reason: str | None, ended_ms: int) -> None:
        self.status = status
        self.failure_reason = reason
        self.ended_ms = ended_ms

    def summary(self) -> dict[str, Any]:
        """A ``QuantumTaskSummary`` (SearchQuantumTasks)."""
        summary: dict[str, Any] = {
            "quantumTaskArn": self.arn,
            "status": self.status,
            "deviceArn": self.device.arn,
            "shots": self.shots,
            "outputS3Bucket": self.bucket,
            "outputS3Directory": self.directory,
            "createdAt": iso(self.created_ms),
            "tags": dict(self.tags),
        }
        if self.ended_ms is not None:
            summary["endedAt"] = iso(self.ended_ms)
        return summary

    def describe(self, queue_position: int | None) -> dict[str, Any]:
        """GetQuantumTask's answer; ``queueInfo`` when ``queue_position`` is given (the
        SDK asks with ``additionalAttributeNames=QueueInfo``; 0 when not queued)."""
        described = self.summary()
        described["deviceParameters"] = self.request.device_parameters or "{}"
        described["actionMetadata"] = self.action.metadata()
        if self.request.associations:
            described["associations"] = list(self.request.associations)
        if self.job_arn is not None:
            described["jobArn"] = self.job_arn
        if self.status == "FAILED":
            described["failureReason"] = self.failure_reason or "Task failed"
        if self.status == "COMPLETED":
            described["numSuccessfulShots"] = self.successful_shots
        if queue_position is not None:
            info = {
                "queue": "QUANTUM_TASKS_QUEUE",
                "position": str(queue_position) if queue_position else "None",
                "queuePriority": "Priority" if self.priority else "Normal",
            }
            if not queue_position:
                info["message"] = (
                    f"Task is in {self.status} status. AmazonBraket does not show queue "
                    "position for this status."
                )
            described["queueInfo"] = info
        return described
