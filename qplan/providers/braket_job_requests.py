"""The pure side of Braket hybrid jobs: what a dispatch asks of Braket and how Braket's
answers read, without a client, a clock or memory.

``create_job_request`` makes the whole ``CreateJob`` body from the dispatch alone, so a
resend under the same key is the same request: ``clientToken`` = the idempotency key, the
deterministic ``jobName`` of ``hybrid.job_name``, ``qplan-*`` tags (the key among them),
hyperparameters as strings, the role (``role_arn``: the provider's, else
``BRAKET_JOBS_ROLE_ARN``; never looked up) and the image (the SDK's table when the manifest
names none). ``Layout`` places every file by content or by name, under
``s3://{bucket}/{prefix}/jobs/``:

- ``source/{sha256 of the archive}/source.tar.gz``: the source;
- ``data/{digest}/{file or folder name}``: a local input channel;
- ``{jobName}/data``: the job's output (``output/model.tar.gz`` in it);
- ``checkpoints/{stack}/{hash of the address}``: checkpoints, one place per address across
  its attempts, so a retry resumes (unless the manifest names its own).

Braket's job statuses map to qplan's (an unknown one is None: asked again next poll); a GetJob
answer reads as ``JobDetails``; a log cursor is the job's name and each stream's forward
token, and a cursor that is not one reads from the start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.jobstatus import JobStatus, from_provider
from qplan.providers.base import Dispatch, JobDetails, PermanentError
from qplan.providers.braket import _epoch, _tag
from qplan.providers.hybrid import hyperparameters, job_name

__all__ = [
    "CHECKPOINT_PATH",
    "HYBRID_FORMAT",
    "ROLE_ENV",
    "Layout",
    "create_job_request",
    "decode_cursor",
    "details_of",
    "encode_cursor",
    "input_digest",
    "is_job",
    "job_status",
    "role_arn",
    "short_sha",
    "split_s3",
    "stamp",
]

HYBRID_FORMAT = "braket.hybrid"
ROLE_ENV = "BRAKET_JOBS_ROLE_ARN"
CHECKPOINT_PATH = "/opt/jobs/checkpoints"  # the SDK's default local checkpoint folder


def is_job(job_id: str) -> bool:
    """A hybrid job's ARN (``...:job/...``), not a quantum task's."""
    return ":job/" in job_id


def role_arn(configured: str | None, environ: Mapping[str, str]) -> str:
    """The IAM role jobs run as: the provider's ``role_arn``, else ``BRAKET_JOBS_ROLE_ARN``.
    qplan never looks roles up (the SDK lists IAM roles when neither is given)."""
    role = configured or environ.get(ROLE_ENV, "").strip()
    if not role:
        raise PermanentError(
            "Braket hybrid jobs need an IAM role: set role_arn in the provider's settings "
            f"or {ROLE_ENV} in the environment"
        )
    return role


def job_status(raw: str) -> JobStatus | None:
    """qplan's status of a job's status (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLING,
    CANCELLED); None for one this version does not know (asked again next poll)."""
    try:
        return from_provider("braket", raw)
    except KeyError:
        return None


def short_sha(data: bytes | str, length: int = 64) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:length]


@dataclass(frozen=True)
class Layout:
    """Where a provider's hybrid jobs keep their files: ``s3://{bucket}/{prefix}/jobs/``."""

    bucket: str
    prefix: str

    @property
    def root(self) -> str:
        return f"{self.prefix.strip('/')}/jobs"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def source(self, archive: bytes) -> str:
        """The object key of a source archive, by its content."""
        return f"{self.root}/source/{short_sha(archive)}/source.tar.gz"

    def data(self, digest: str, name: str) -> str:
        """The object key (a file) or key prefix (a folder) of a local input channel."""
        return f"{self.root}/data/{digest}/{name}"

    def output(self, name: str) -> str:
        return self.uri(f"{self.root}/{name}/data")

    def checkpoints(self, stack: str, address: str) -> str:
        return self.uri(f"{self.root}/checkpoints/{stack}/{short_sha(address, 16)}")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def create_job_request(
    dispatch: Dispatch,
    *,
    role: str,
    device: str,
    layout: Layout,
    region: str,
    channels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The CreateJob body of a hybrid dispatch. ``channels``: the S3 URI of each local
    input channel, once uploaded (an S3 channel goes as the manifest gives it)."""
    spec, member = dispatch.hybrid, dispatch.members[0]
    if (
        dispatch.format != HYBRID_FORMAT
        or spec is None
        or dispatch.batch
        or not isinstance(dispatch.program, bytes)
    ):
        raise PermanentError(f"{member.address}: not a hybrid job's dispatch")
    name = job_name(dispatch.stack, member.address, dispatch.key)
    image = spec.image
    if not image:
        from braket.jobs.image_uris import Framework, retrieve_image

        image = retrieve_image(Framework.BASE, region)  # from the SDK's own table
    tags = {k: _tag(str(v)) for k, v in dispatch.tags.items()}
    tags.update(
        {
            "qplan-stack": _tag(dispatch.stack),
            "qplan-address": _tag(member.address),
            "qplan-fingerprint": member.fingerprint,
            "qplan-attempt": str(dispatch.attempt),
            "qplan-key": dispatch.key,
        }
    )
    inputs: list[dict[str, Any]] = []
    for channel in spec.input_data:
        uri = channel.s3_uri or (channels or {}).get(channel.name)
        if not uri:
            raise PermanentError(f"{member.address}: input {channel.name!r} is not uploaded")
        source = {"s3DataSource": {"s3Uri": uri}}
        inputs.append({"channelName": channel.name, "dataSource": source})
    request: dict[str, Any] = {
        "clientToken": dispatch.key[:64],
        "jobName": name,
        "roleArn": role,
        "algorithmSpecification": {
            "scriptModeConfig": {
                "entryPoint": dispatch.entry or spec.entry_point,
                "s3Uri": layout.uri(layout.source(dispatch.program)),
                "compressionType": "GZIP",
            },
            "containerImage": {"uri": image},
        },
        "outputDataConfig": {"s3Path": layout.output(name)},
        "checkpointConfig": {
            "localPath": CHECKPOINT_PATH,
            "s3Uri": spec.checkpoint or layout.checkpoints(dispatch.stack, member.address),
        },
        "instanceConfig": {
            "instanceType": spec.instance_type,
            "volumeSizeInGb": spec.volume_gb,
            "instanceCount": spec.instance_count,
        },
        "stoppingCondition": {"maxRuntimeInSeconds": math.ceil(spec.max_runtime)},
        "hyperParameters": hyperparameters(member.inputs),
        "deviceConfig": {"device": device},
        "tags": tags,
    }
    if inputs:
        request["inputDataConfig"] = inputs
    reservation = dispatch.settings.get("reservation_arn")
    if reservation:
        request["associations"] = [{"arn": reservation, "type": "RESERVATION_TIME_WINDOW_ARN"}]
    return request


def encode_cursor(name: str, tokens: Mapping[str, str]) -> str:
    """Where a log read stopped: the job's name and each stream's forward token."""
    return json.dumps({"name": name, "tokens": dict(sorted(tokens.items()))}, sort_keys=True)


def decode_cursor(cursor: str | None) -> tuple[str | None, dict[str, str]]:
    """``(job name, stream -> token)`` of a cursor; None: from the start. A cursor that is
    not one of these reads from the start."""
    if not cursor:
        return None, {}
    try:
        data = json.loads(cursor)
        tokens = {str(k): str(v) for k, v in data["tokens"].items()}
        return (str(data["name"]) if data.get("name") else None), tokens
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, {}


def _queue(info: Mapping[str, Any] | None) -> str | None:
    """A queue position as Braket words it (``"3"``, ``">15"``), with its message; None
    when the job is not queued (the service then says ``"None"``)."""
    position = (info or {}).get("position")
    if position in (None, "", "None"):
        return None
    message = (info or {}).get("message")
    return f"{position} ({message})" if message else str(position)


def details_of(job: Mapping[str, Any]) -> JobDetails:
    """``JobDetails`` of a GetJob answer (with its QueueInfo). ``billableDuration`` is in
    milliseconds."""
    raw = str(job.get("status", ""))
    events = tuple(
        (
            _epoch(e["timeOfEvent"]) if e.get("timeOfEvent") is not None else 0.0,
            str(e.get("eventType", "")),
            str(e.get("message", "")),
        )
        for e in job.get("events") or ()
    )
    billable = job.get("billableDuration")
    started, ended = job.get("startedAt"), job.get("endedAt")
    return JobDetails(
        status=job_status(raw) or JobStatus.QUEUED,
        name=str(job.get("jobName", "")),
        queue=_queue(job.get("queueInfo")),
        events=events,
        billable_seconds=None if billable is None else float(billable) / 1000.0,
        failure=job.get("failureReason") or None,
        started_at=None if started is None else _epoch(started),
        ended_at=None if ended is None else _epoch(ended),
    )


def stamp(epoch: float) -> str:
    """A createdAt filter value, whole seconds rounded down."""
    return dt.datetime.fromtimestamp(math.floor(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def input_digest(path: Path, files: Sequence[Path]) -> str:
    """The content hash of a local input that came without one: names and bytes."""
    hasher = hashlib.sha256()
    for file in files:
        hasher.update(file.relative_to(path.parent).as_posix().encode() + b"\0")
        hasher.update(short_sha(file.read_bytes()).encode())
    return hasher.hexdigest()[:32]
