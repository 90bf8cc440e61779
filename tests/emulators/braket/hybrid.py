"""A hybrid job (``QuantumJob``): the CreateJob request that made it, its lifecycle state, and
how GetJob and SearchJobs show it.

Statuses go QUEUED -> RUNNING -> COMPLETED | FAILED, or CANCELLING -> CANCELLED (a queued job is
CANCELLED at once). Events (``JobEventType``): QUEUED_FOR_EXECUTION at creation,
WAITING_FOR_PRIORITY when its queue time has passed but every job slot is taken,
STARTING_INSTANCE when it is admitted (RUNNING), DOWNLOADING_DATA, RUNNING when its process
starts, UPLOADING_RESULTS, then COMPLETED, FAILED (after MAX_RUNTIME_EXCEEDED when stopped for
its runtime) or CANCELLED. ``CreateJobRequest`` is checked as the model constrains it (required
members, lengths, patterns, ranges, enums), then echoed by GetJob as sent, ``instanceCount``
filled with its default 1. Fields are guarded by the emulator's lock.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.braket.protocol import iso, missing, str_member, validation

__all__ = [
    "FINAL_JOB_STATUSES",
    "INSTANCE_TYPES",
    "JOB_STATUSES",
    "HybridJob",
    "JobRequest",
    "parse_s3_uri",
]

JOB_STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")
FINAL_JOB_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
MAX_RUNTIME = 432_000  # JobStoppingConditionMaxRuntimeInSecondsInteger
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,50}")
_ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
_S3_PATH = re.compile(r"(https|s3)://([^/]+)/?(.*)")
_IMAGE_URI = re.compile(r"\d{10,14}\.dkr\.ecr.[a-z0-9-]+\.amazonaws\.com\/.+(@sha256)?:.+")
_CHANNEL = re.compile(r"[A-Za-z0-9\.\-_]+")
_RESOURCE_ARN = re.compile(r"arn:aws[a-z\-]*:braket:[a-z0-9\-]*:[0-9]{12}:.*")


def _model_enum(shape: str) -> tuple[str, ...]:
    """An enum of botocore's Braket model (the instance types change with the service)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("braket", "2019-09-01")
    return tuple(model.shape_for(shape).enum)


INSTANCE_TYPES = _model_enum("InstanceType")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key`` (or the ``https://`` form the model allows)."""
    match = _S3_PATH.fullmatch(uri)
    if match is None:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return match.group(2), match.group(3)


def _constraint(name: str, constraint: str) -> Exception:
    return validation(
        f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
        f"Member must {constraint}"
    )


def _object(body: Mapping[str, Any], name: str, *, required: bool) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, dict):
        raise validation(f"'{name}' must be an object")
    return value


def _matching(
    body: Mapping[str, Any],
    name: str,
    pattern: re.Pattern[str],
    *,
    required: bool,
    low: int = 0,
    high: int | None = None,
) -> str | None:
    value = str_member(body, name, required=required, low=low, high=high)
    if value is not None and pattern.fullmatch(value) is None:
        raise _constraint(name, f"satisfy regular expression pattern: {pattern.pattern}")
    return value


def _integer(
    body: Mapping[str, Any], name: str, *, required: bool, low: int, high: int | None = None
) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise validation(f"'{name}' must be an integer")
    if value < low:
        raise _constraint(name, f"have value greater than or equal to {low}")
    if high is not None and value > high:
        raise _constraint(name, f"have value less than or equal to {high}")
    return value


def _string_map(body: Mapping[str, Any], name: str) -> dict[str, str]:
    value = body.get(name) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise validation(f"'{name}' must map strings to strings")
    return dict(value)


@dataclass(frozen=True)
class Channel:
    """One input channel: files under ``s3Uri`` go to ``{input dir}/{name}/``."""

    name: str
    s3_uri: str


@dataclass
class JobRequest:
    """A CreateJob body, validated (``body``: as sent, without ``clientToken``)."""

    body: dict[str, Any]
    name: str
    device: str
    entry_point: str
    source_uri: str
    compression: str
    output_path: str
    checkpoint_uri: str | None
    channels: list[Channel]
    hyperparameters: dict[str, str]
    max_runtime: int | None
    tags: dict[str, str]

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> JobRequest:
        """Raises ValidationException for what ``CreateJobRequest`` forbids."""
        for name in (
            "algorithmSpecification",
            "outputDataConfig",
            "jobName",
            "roleArn",
            "instanceConfig",
            "deviceConfig",
        ):
            if body.get(name) is None:
                raise missing(name)
        name = _matching(body, "jobName", _JOB_NAME, required=True, low=1, high=50) or ""
        _matching(body, "roleArn", _ROLE_ARN, required=True)
        algorithm = _object(body, "algorithmSpecification", required=True) or {}
        image = _object(algorithm, "containerImage", required=False)
        if image is not None:
            _matching(image, "uri", _IMAGE_URI, required=True, low=1, high=255)
        script = _object(algorithm, "scriptModeConfig", required=False)
        if script is None:
            raise validation(
                "algorithmSpecification.scriptModeConfig is required: the emulator runs "
                "script-mode jobs only"
            )
        entry_point = str_member(script, "entryPoint", required=True) or ""
        source_uri = _matching(script, "s3Uri", _S3_PATH, required=True, high=1024) or ""
        compression = str_member(script, "compressionType", required=False) or "NONE"
        if compression not in ("NONE", "GZIP"):
            raise _constraint("compressionType", "satisfy enum value set: [NONE, GZIP]")
        output = _object(body, "outputDataConfig", required=True) or {}
        output_path = _matching(output, "s3Path", _S3_PATH, required=True, high=1024) or ""
        str_member(output, "kmsKeyId", required=False, low=1, high=2048)
        checkpoint = _object(body, "checkpointConfig", required=False)
        checkpoint_uri = None
        if checkpoint is not None:
            checkpoint_uri = _matching(checkpoint, "s3Uri", _S3_PATH, required=True, high=1024)
            str_member(checkpoint, "localPath", required=False, low=1, high=4096)
        instance = _object(body, "instanceConfig", required=True) or {}
        instance_type = str_member(instance, "instanceType", required=True) or ""
        if instance_type not in INSTANCE_TYPES:
            raise _constraint("instanceType", f"satisfy enum value set: {list(INSTANCE_TYPES)}")
        _integer(instance, "volumeSizeInGb", required=True, low=1)
        _integer(instance, "instanceCount", required=False, low=1)
        device_config = _object(body, "deviceConfig", required=True) or {}
        device = str_member(device_config, "device", required=True, low=1, high=256) or ""
        stopping = _object(body, "stoppingCondition", required=False) or {}
        max_runtime = _integer(
            stopping, "maxRuntimeInSeconds", required=False, low=1, high=MAX_RUNTIME
        )
        hyperparameters = _string_map(body, "hyperParameters")
        if len(hyperparameters) > 100:
            raise _constraint("hyperParameters", "have length less than or equal to 100")
        for key, value in hyperparameters.items():
            if not 1 <= len(key) <= 256:
                raise _constraint("hyperParameters.key", "have length between 1 and 256")
            if not 1 <= len(value) <= 2500:
                raise _constraint("hyperParameters.value", "have length between 1 and 2500")
        channels = _channels(body.get("inputDataConfig"))
        associations = body.get("associations") or []
        if not isinstance(associations, list) or len(associations) > 1:
            raise _constraint("associations", "have length less than or equal to 1")
        for association in associations:
            if not isinstance(association, dict):
                raise validation("each association must be an object")
            _matching(association, "arn", _RESOURCE_ARN, required=True)
            if association.get("type") != "RESERVATION_TIME_WINDOW_ARN":
                raise _constraint("type", "satisfy enum value set: [RESERVATION_TIME_WINDOW_ARN]")
        return cls(
            body={k: v for k, v in body.items() if k != "clientToken"},
            name=name,
            device=device,
            entry_point=entry_point,
            source_uri=source_uri,
            compression=compression,
            output_path=output_path.rstrip("/"),
            checkpoint_uri=checkpoint_uri,
            channels=channels,
            hyperparameters=hyperparameters,
            max_runtime=max_runtime,
            tags=_string_map(body, "tags"),
        )


def _channels(value: Any) -> list[Channel]:
    items = value or []
    if not isinstance(items, list):
        raise validation("'inputDataConfig' must be a list")
    if len(items) > 20:
        raise _constraint("inputDataConfig", "have length less than or equal to 20")
    channels: list[Channel] = []
    for item in items:
        if not isinstance(item, dict):
            raise validation("each inputDataConfig item must be an object")
        name = _matching(item, "channelName", _CHANNEL, required=True, low=1, high=64) or ""
        str_member(item, "contentType", required=False, low=1, high=256)
        source = _object(
            _object(item, "dataSource", required=True) or {}, "s3DataSource", required=True
        )
        uri = _matching(source or {}, "s3Uri", _S3_PATH, required=True, high=1024) or ""
        if any(c.name == name for c in channels):
            raise validation(f"Duplicate channel name in inputDataConfig: {name}")
        channels.append(Channel(name, uri))
    return channels


@dataclass
class HybridJob:
    """One hybrid job and its lifecycle state (see the module doc)."""

    seq: int
    arn: str
    request: JobRequest
    created_ms: int
    token: str  # AMZN_BRAKET_JOB_TOKEN: tasks created with it belong to the job
    status: str = "QUEUED"
    eligible: bool = False  # its queue time has passed
    waiting_noted: bool = False  # WAITING_FOR_PRIORITY recorded
    started_ms: int | None = None
    ended_ms: int | None = None
    failure_reason: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    stop: threading.Event = field(default_factory=threading.Event)  # cancel, reset or stop
    log_stream: str | None = None
    log_lines: list[str] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def tags(self) -> dict[str, str]:
        return self.request.tags

    def event(self, kind: str, message: str, at_ms: int) -> None:
        """Record an event (the model keeps at most 20: the oldest go first)."""
        self.events.append({"eventType": kind, "timeOfEvent": iso(at_ms), "message": message})
        del self.events[:-20]

    def finish(self, status: str, reason: str | None, ended_ms: int) -> None:
        self.status = status
        self.failure_reason = reason[:1024] if reason else reason
        self.ended_ms = ended_ms

    def summary(self) -> dict[str, Any]:
        """A ``JobSummary`` (SearchJobs)."""
        summary: dict[str, Any] = {
            "status": self.status,
            "jobArn": self.arn,
            "jobName": self.name,
            "device": self.request.device,
            "createdAt": iso(self.created_ms),
            "tags": dict(self.tags),
        }
        if self.started_ms is not None:
            summary["startedAt"] = iso(self.started_ms)
        if self.ended_ms is not None:
            summary["endedAt"] = iso(self.ended_ms)
        return summary

    def describe(self, queue_position: int | None) -> dict[str, Any]:
        """GetJob's answer; ``queueInfo`` when ``queue_position`` is given (0: not queued)."""
        described: dict[str, Any] = {
            key: value
            for key, value in self.request.body.items()
            if key not in ("clientToken", "tags")
        }
        instance = dict(described["instanceConfig"])
        instance.setdefault("instanceCount", 1)
        described["instanceConfig"] = instance
        described.update(self.summary())
        described.pop("device")
        described["events"] = [dict(e) for e in self.events]
        if self.failure_reason is not None:
            described["failureReason"] = self.failure_reason
        if self.started_ms is not None:
            end = self.ended_ms if self.ended_ms is not None else None
            if end is not None:
                described["billableDuration"] = max(0, end - self.started_ms)
        if queue_position is not None:
            info: dict[str, Any] = {
                "queue": "JOBS_QUEUE",
                "position": str(queue_position) if queue_position else "None",
            }
            if not queue_position:
                info["message"] = (
                    f"Job is in {self.status} status. AmazonBraket does not show queue "
                    "position for this status."
                )
            described["queueInfo"] = info
        return described
