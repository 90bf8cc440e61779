"""Amazon Braket hybrid jobs (format ``braket.hybrid``), for ``BraketTaskProvider``: the
calls, and what this process remembers of the jobs it has seen. The requests themselves,
the S3 layout and the reading of Braket's answers are ``braket_job_requests``'s.

Exactly once, as for tasks: ``CreateJob`` goes straight through the provider's braket client
(no botocore retry) with the body ``create_job_request`` makes; its errors are mapped by the
provider's own mapping (after sending: ambiguous). What goes before it is idempotent and
content-addressed, so a resend uploads nothing new: the source is skipped when HeadObject
finds it, a local input channel's files already there are skipped.

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

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.jobstatus import JobStatus
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
from qplan.providers.braket import CLOCK_SKEW, LOOKBACK, PAGE, _epoch, search_all
from qplan.providers.braket_job_requests import (
    Layout,
    create_job_request,
    decode_cursor,
    details_of,
    encode_cursor,
    input_digest,
    is_job,
    job_status,
    role_arn,
    short_sha,
    split_s3,
    stamp,
)
from qplan.providers.hybrid import OUTPUT_ARCHIVE, result_payload

__all__ = ["LOG_GROUP", "BraketJobs", "billed"]

LOG_GROUP = "/aws/braket/jobs"
ARNS_PER_FILTER = 10  # values one SearchJobs filter takes
ARCHIVE_GRACE = 300.0  # seconds after its end in which a job's archive may not be listed yet
LOOKUP_BY_NAME = 5  # keys looked up one SearchJobs each (by name); more: the window listed

ErrorMap = Callable[..., Exception]


@dataclass
class _Job:
    """What this process knows of a job: ``created`` (createdAt, or this machine's clock
    at submission less the clocks' skew), its name and output path when known."""

    created: float
    name: str = ""
    output: str = ""


def billed(arn: str, described: Mapping[str, Any]) -> dict[str, Any]:
    """What a hybrid job is billed by, as GetJob tells: its instance time
    (``billableDuration``, milliseconds, as seconds; None while the service has not set it)
    and its instances."""
    duration = described.get("billableDuration")
    config = described.get("instanceConfig") or {}
    return {
        "job": arn,
        "billable_seconds": None if duration is None else float(duration) / 1000,
        "instance_type": config.get("instanceType"),
        "instance_count": int(config.get("instanceCount") or 1),
    }


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
            digest = channel.digest or input_digest(path, files)
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
        created = {"name": "createdAt", "operator": "GTE", "values": [stamp(start)]}
        if len(keys) <= LOOKUP_BY_NAME:
            searches = [
                [{"name": "jobName", "operator": "CONTAINS", "values": [short_sha(k, 12)]}, created]
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
                if key in wanted and name.endswith(f"-{short_sha(key, 12)}"):
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
            take([{"name": "createdAt", "operator": "GTE", "values": [stamp(start)]}])
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

        bucket, prefix = split_s3(output)
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
        """The persisted data of the job's ``results.json`` (empty when it saved none) and
        what GetJob says it is billed by (``billed``). An archive not there yet is
        transient for ``ARCHIVE_GRACE`` after the job ended (S3 listing lags); afterwards
        the job is recorded with no data."""
        job = self._where(arn)
        archive = self._archive(job.output)
        described = self._get(arn)
        if archive is None:
            ended = described.get("endedAt")
            if ended is None or self.clock() - _epoch(ended) < ARCHIVE_GRACE:
                raise TransientError(f"{arn}: its output archive is not in S3 yet")
        return {**result_payload(archive, arn, job.name), "billed": billed(arn, described)}

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
