"""Amazon Braket hybrid jobs (format ``braket.hybrid``), for ``BraketTaskProvider``.

Exactly once, as for tasks: ``CreateJob`` goes straight through the provider's braket client
(no botocore retry) with ``clientToken`` = the idempotency key and the deterministic
``jobName`` of ``hybrid.job_name``; its errors are mapped by the provider's own mapping
(after sending: ambiguous). What goes before it is idempotent and content-addressed, so a
resend uploads nothing new. S3 layout under ``s3://{bucket}/{prefix}/jobs/``:

- ``source/{sha256 of the archive}/source.tar.gz``: the source (skipped when HeadObject
  finds it);
- ``data/{digest}/{file or folder name}``: a local input channel (files already there are
  skipped);
- ``{jobName}/data``: the job's output (``output/model.tar.gz`` in it);
- ``checkpoints/{stack}/{hash of the address}``: checkpoints, one place per address across
  its attempts, so a retry resumes (unless the manifest names its own).

Finding jobs: SearchJobs filters on ``jobArn`` (alone), ``jobName`` (EQUAL, CONTAINS),
``deviceArn`` and ``createdAt``, and its summaries carry tags (a job ARN may hold an id, not
the name). ``lookup``: a few keys by name (CONTAINS the key's hash) within the window since
the intent (less ``LOOKBACK``), more keys by listing that window, 100 a page; matched on
the ``qplan-key`` tag and the name the key gives. ``observe``: one listing of the window
from the oldest watched job when it takes no more pages than asking by ARN (10 per filter)
would, else by ARN; one GetJob per failed job, for its reason. Logs are read from
CloudWatch Logs (``/aws/braket/jobs``, streams ``{jobName}/...``) with GetLogEvents, never
a Logs Insights query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.jobstatus import JobStatus, from_provider
from qplan.manifest.models import BraketProvider as BraketConfig
from qplan.providers.base import (
    Dispatch,
    HybridJobs,
    JobDetails,
    LogChunk,
    Observation,
    PermanentError,
    Receipt,
    TransientError,
)
from qplan.providers.braket import CLOCK_SKEW, LOOKBACK, PAGE, _epoch, _tag, search_all
from qplan.providers.hybrid import OUTPUT_ARCHIVE, hyperparameters, job_name, result_payload

__all__ = [
    "CHECKPOINT_PATH",
    "HYBRID_FORMAT",
    "LOG_GROUP",
    "ROLE_ENV",
    "BraketJobs",
    "Layout",
    "create_job_request",
    "decode_cursor",
    "details_of",
    "encode_cursor",
    "is_job",
    "job_status",
    "role_arn",
]

HYBRID_FORMAT = "braket.hybrid"
ROLE_ENV = "BRAKET_JOBS_ROLE_ARN"
LOG_GROUP = "/aws/braket/jobs"
CHECKPOINT_PATH = "/opt/jobs/checkpoints"  # the SDK's default local checkpoint folder
ARNS_PER_FILTER = 10  # values one SearchJobs filter takes
ARCHIVE_GRACE = 300.0  # seconds after its end in which a job's archive may not be listed yet

ErrorMap = Callable[..., Exception]


LOOKUP_BY_NAME = 5  # keys looked up one SearchJobs each (by name); more: the window listed


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


def _sha(data: bytes | str, length: int = 64) -> str:
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
        return f"{self.root}/source/{_sha(archive)}/source.tar.gz"

    def data(self, digest: str, name: str) -> str:
        """The object key (a file) or key prefix (a folder) of a local input channel."""
        return f"{self.root}/data/{digest}/{name}"

    def output(self, name: str) -> str:
        return self.uri(f"{self.root}/{name}/data")

    def checkpoints(self, stack: str, address: str) -> str:
        return self.uri(f"{self.root}/checkpoints/{stack}/{_sha(address, 16)}")


def _split_s3(uri: str) -> tuple[str, str]:
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


def _stamp(epoch: float) -> str:
    """A createdAt filter value, whole seconds rounded down."""
    return dt.datetime.fromtimestamp(math.floor(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(path: Path, files: Sequence[Path]) -> str:
    """The content hash of a local input that came without one: names and bytes."""
    hasher = hashlib.sha256()
    for file in files:
        hasher.update(file.relative_to(path.parent).as_posix().encode() + b"\0")
        hasher.update(_sha(file.read_bytes()).encode())
    return hasher.hexdigest()[:32]


@dataclass
class _Job:
    """What this process knows of a job: ``created`` (createdAt, or this machine's clock
    at submission less the clocks' skew), its name and output path when known."""

    created: float
    name: str = ""
    output: str = ""


class BraketJobs(HybridJobs):
    """The hybrid jobs of one Braket provider: submit, lookup, observe, result, cancel (called
    by the provider for job ARNs), and logs, details and output archives."""

    def __init__(
        self,
        session: Any,
        config: BraketConfig,
        *,
        errors: ErrorMap,
        clock: Callable[[], float],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.session = session
        self.client = session.braket_client
        self.config = config
        self.layout = Layout(config.s3_bucket, config.s3_prefix)
        self.errors = errors
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self._jobs: dict[str, _Job] = {}
        self._names: dict[str, str] = {}  # key -> job name, of CreateJob calls made here
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        """One S3 or CloudWatch Logs client of the provider's session (endpoints from
        ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_LOGS``)."""
        with self._lock:
            if service not in self._clients:
                boto = self.session.boto_session
                self._clients[service] = boto.client(service, region_name=self.config.region)
            return self._clients[service]

    @staticmethod
    def owns(job_id: str) -> bool:
        """``job_id`` is a hybrid job's (its ARN), not a quantum task's."""
        return is_job(job_id)

    def made(self, key: str) -> bool:
        """A CreateJob under ``key`` was sent (or tried) by this process."""
        with self._lock:
            return key in self._names

    # --- submit -------------------------------------------------------------------------------

    def submit(self, dispatch: Dispatch, device: str) -> Receipt:
        """CreateJob under the dispatch's key, its source and local inputs uploaded first
        (content-addressed: a resend uploads nothing new)."""
        member = dispatch.members[0]
        role = role_arn(self.config.role_arn, self.environ)
        spec = dispatch.hybrid
        channels = self._upload_channels(spec.input_data, member.address) if spec else {}
        request = create_job_request(
            dispatch,
            role=role,
            device=device,
            layout=self.layout,
            region=self.config.region,
            channels=channels,
        )
        assert isinstance(dispatch.program, bytes)  # checked by create_job_request
        self._upload_source(dispatch.program, member.address)
        name = request["jobName"]
        with self._lock:
            self._names[dispatch.key] = name
        created = self.clock()
        try:
            arn = str(self.client.create_job(**request)["jobArn"])
        except Exception as exc:
            raise self.errors(exc, member.address, submitting=True) from None
        with self._lock:
            self._jobs[arn] = _Job(
                created - CLOCK_SKEW, name, request["outputDataConfig"]["s3Path"]
            )
        return Receipt(arn, (arn,))

    def _exists(self, key: str, address: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client("s3").head_object(Bucket=self.layout.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self.errors(exc, address, submitting=False) from None
        except Exception as exc:
            raise self.errors(exc, address, submitting=False) from None
        return True

    def _put(self, key: str, body: bytes, address: str) -> None:
        try:
            self._client("s3").put_object(Bucket=self.layout.bucket, Key=key, Body=body)
        except Exception as exc:
            raise self.errors(exc, address, submitting=False) from None

    def _upload_source(self, archive: bytes, address: str) -> None:
        key = self.layout.source(archive)
        if not self._exists(key, address):
            self._put(key, archive, address)

    def _upload_channels(self, channels: Sequence[Any], address: str) -> dict[str, str]:
        """Each local channel's files under its digest (those already there skipped);
        returns each local channel's S3 URI."""
        uris: dict[str, str] = {}
        for channel in channels:
            if channel.s3_uri or not channel.path:
                continue
            path = Path(channel.path)
            if not path.exists():
                raise PermanentError(f"{address}: input {channel.name!r}: no {path}")
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            digest = channel.digest or _digest(path, files)
            base = self.layout.data(digest, path.name)
            present = self._listed(f"{base}/" if path.is_dir() else base, address)
            for file in files:
                key = base if not path.is_dir() else f"{base}/{file.relative_to(path).as_posix()}"
                if key not in present:
                    self._put(key, file.read_bytes(), address)
            uris[channel.name] = self.layout.uri(base)
        return uris

    def _listed(self, prefix: str, address: str) -> set[str]:
        keys: set[str] = set()
        kwargs: dict[str, Any] = {"Bucket": self.layout.bucket, "Prefix": prefix}
        try:
            while True:
                page = self._client("s3").list_objects_v2(**kwargs)
                keys.update(o["Key"] for o in page.get("Contents", []))
                if not page.get("IsTruncated"):
                    return keys
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        except Exception as exc:
            raise self.errors(exc, address, submitting=False) from None

    # --- finding jobs -----------------------------------------------------------------------

    def _search(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every summary SearchJobs gives for ``filters``, 100 a page; each is remembered."""
        try:
            found = search_all(self.client.search_jobs, filters, "jobs")
        except Exception as exc:
            raise self.errors(exc, "", submitting=False) from None
        for summary in found:
            self._remember(summary)
        return found

    def _remember(self, job: Mapping[str, Any]) -> _Job:
        """Keep what a summary or a GetJob answer says of when a job was made, its name
        and output path."""
        with self._lock:
            known = self._jobs.get(job["jobArn"])
            output = (job.get("outputDataConfig") or {}).get("s3Path") or ""
            remembered = _Job(
                _epoch(job["createdAt"]),
                str(job.get("jobName") or (known.name if known else "")),
                output or (known.output if known else ""),
            )
            self._jobs[job["jobArn"]] = remembered
            return remembered

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        """The jobs made under ``keys``, created since ``since`` (a day when not given) less
        ``LOOKBACK``: a job is its key's when its ``qplan-key`` tag is the key and its name
        ends with the hash the key gives. A few keys are searched by name (``jobName``
        CONTAINS that hash, within the window: one call each, however many jobs the window
        holds); more keys by one listing of the window, 100 a page."""
        start = (since if since is not None else self.clock() - 86400.0) - LOOKBACK
        created = {"name": "createdAt", "operator": "GTE", "values": [_stamp(start)]}
        if len(keys) <= LOOKUP_BY_NAME:
            searches = [
                [{"name": "jobName", "operator": "CONTAINS", "values": [_sha(k, 12)]}, created]
                for k in keys
            ]
        else:
            searches = [[created]]
        wanted = set(keys)
        found: dict[str, Receipt] = {}
        for filters in searches:
            for summary in self._search(filters):
                key = (summary.get("tags") or {}).get("qplan-key")
                name = str(summary.get("jobName", ""))
                if key in wanted and name.endswith(f"-{_sha(key, 12)}"):
                    found[key] = Receipt(summary["jobArn"], (summary["jobArn"],))
        return found

    def _summaries(self, arns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The current summaries of ``arns``: one listing of the window from the oldest of
        them whose creation is known, when that window holds no more pages of the jobs this
        process has seen than asking by ARN takes calls; the rest by ARN, 10 a call."""
        wanted = set(arns)
        found: dict[str, dict[str, Any]] = {}

        def take(filters: list[dict[str, Any]]) -> None:
            for summary in self._search(filters):
                if summary["jobArn"] in wanted:
                    found[summary["jobArn"]] = summary

        with self._lock:
            known = [self._jobs[a].created for a in arns if a in self._jobs]
            start = min(known) if known else 0.0
            window = sum(1 for j in self._jobs.values() if j.created >= start)
        if known and -(-window // PAGE) <= -(-len(known) // ARNS_PER_FILTER):
            take([{"name": "createdAt", "operator": "GTE", "values": [_stamp(start)]}])
        rest = [a for a in arns if a not in found]
        for i in range(0, len(rest), ARNS_PER_FILTER):
            chunk = rest[i : i + ARNS_PER_FILTER]
            take([{"name": "jobArn", "operator": "EQUAL", "values": chunk}])
        return found

    def observe(self, arns: Sequence[str]) -> dict[str, Observation]:
        """Statuses of jobs in bulk; a failed job's reason from one GetJob. A job not
        listed yet, or whose reason cannot be read now, is left to the next poll."""
        out: dict[str, Observation] = {}
        for arn, summary in self._summaries(list(dict.fromkeys(arns))).items():
            status = job_status(str(summary.get("status", "")))
            if status is None:
                continue
            error = None
            if status is JobStatus.FAILED:
                error = self._failure_reason(arn)
                if error is None:
                    continue
            started = summary.get("startedAt")
            out[arn] = Observation(arn, status, error, None if started is None else _epoch(started))
        return out

    def _get(self, arn: str, *, queue: bool = False) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"jobArn": arn}
        if queue:
            kwargs["additionalAttributeNames"] = ["QueueInfo"]
        try:
            job = dict(self.client.get_job(**kwargs))
        except Exception as exc:
            raise self.errors(exc, "", submitting=False) from None
        self._remember({**job, "jobArn": arn})
        return job

    def _failure_reason(self, arn: str) -> str | None:
        try:
            job = self._get(arn)
        except TransientError:
            return None
        except PermanentError as exc:
            return f"failed (reason unavailable: {exc})"
        return str(job.get("failureReason") or "failed")

    def _where(self, arn: str) -> _Job:
        """The job's name and output path, from memory or GetJob."""
        with self._lock:
            job = self._jobs.get(arn)
        if job is None or not job.name or not job.output:
            self._get(arn)
            with self._lock:
                job = self._jobs[arn]
        return job

    # --- results, cancel --------------------------------------------------------------------

    def _archive(self, output: str) -> bytes | None:
        """The job's ``model.tar.gz``; None when it is not there."""
        from botocore.exceptions import ClientError

        bucket, prefix = _split_s3(output)
        key = f"{prefix.rstrip('/')}/output/{OUTPUT_ARCHIVE}"
        try:
            body = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"]
            return bytes(body.read())
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey"):
                return None
            raise self.errors(exc, "", submitting=False) from None
        except Exception as exc:
            raise self.errors(exc, "", submitting=False) from None

    def result(self, arn: str) -> dict[str, Any]:
        """The persisted data of the job's ``results.json`` (empty when it saved none). An
        archive not there yet is transient for ``ARCHIVE_GRACE`` after the job ended (S3
        listing lags); afterwards the job is recorded with no data."""
        job = self._where(arn)
        archive = self._archive(job.output)
        if archive is None:
            ended = self._get(arn).get("endedAt")
            if ended is None or self.clock() - _epoch(ended) < ARCHIVE_GRACE:
                raise TransientError(f"{arn}: its output archive is not in S3 yet")
        return result_payload(archive, arn, job.name)

    def cancel(self, arns: Sequence[str]) -> None:
        from botocore.exceptions import ClientError

        for arn in dict.fromkeys(arns):
            try:
                self.client.cancel_job(jobArn=arn)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConflictException":
                    continue  # already final: nothing to cancel
                raise self.errors(exc, "", submitting=False) from None
            except Exception as exc:
                raise self.errors(exc, "", submitting=False) from None

    # --- HybridJobs -------------------------------------------------------------------------

    def log(self, job_id: str, cursor: str | None = None) -> LogChunk:
        """The job's log events from ``cursor`` on, stream by stream (``{jobName}/...`` in
        ``/aws/braket/jobs``). The job's status is read first: ``final`` when it had ended
        then and no stream gave anything new."""
        name, tokens = decode_cursor(cursor)
        job = self._get(job_id)
        name = str(job.get("jobName") or name or "")
        ended = (job_status(str(job.get("status", ""))) or JobStatus.QUEUED).final
        lines: list[str] = []
        for stream in self._streams(name):
            token = tokens.get(stream)
            while True:
                kwargs: dict[str, Any] = {
                    "logGroupName": LOG_GROUP,
                    "logStreamName": stream,
                    "startFromHead": True,
                }
                if token:
                    kwargs["nextToken"] = token
                try:
                    page = self._client("logs").get_log_events(**kwargs)
                except Exception as exc:
                    raise self.errors(exc, "", submitting=False) from None
                events = page.get("events", [])
                lines.extend(str(e.get("message", "")).rstrip("\n") for e in events)
                following = page.get("nextForwardToken") or token
                if not events or following == token:
                    token = following
                    break
                token = following
            if token:
                tokens[stream] = token
        return LogChunk(tuple(lines), encode_cursor(name, tokens), ended and not lines)

    def _streams(self, name: str) -> list[str]:
        from botocore.exceptions import ClientError

        streams: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{name}/"}
        while True:
            try:
                page = self._client("logs").describe_log_streams(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return []  # no job has logged yet
                raise self.errors(exc, "", submitting=False) from None
            except Exception as exc:
                raise self.errors(exc, "", submitting=False) from None
            streams.extend(s["logStreamName"] for s in page.get("logStreams", []))
            if not page.get("nextToken"):
                return sorted(streams)
            kwargs["nextToken"] = page["nextToken"]

    def details(self, job_id: str) -> JobDetails:
        return details_of(self._get(job_id, queue=True))

    def output(self, job_id: str) -> bytes:
        archive = self._archive(self._where(job_id).output)
        if archive is None:
            raise PermanentError(f"{job_id}: the job left no output archive")
        return archive
