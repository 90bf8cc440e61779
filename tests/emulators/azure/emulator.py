"""A wire-compatible emulator of the Azure Quantum data plane, on the emulator kit, for the
real ``azure-quantum`` SDK. Blobs live in Azurite (``tests/emulators/azurite.py``).

Every path is under ``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/
workspaces/{ws}`` and every call carries ``api-version`` and the key header
``x-ms-quantum-api-key`` (else 401):

=======  ===============================  =================  ===============================
verb     path                             operation          does
=======  ===============================  =================  ===============================
POST     ``/storage/sasUri``              GetSasUri          creates the container; its SAS
                                                             (or a blob's, with ``blobName``)
PUT      ``/jobs/{job_id}``               CreateJob          a job, Waiting; 409 if the id is
                                                             taken; 400 in an ended session
GET      ``/jobs/{job_id}``               GetJob             JobDetails; 404
POST     ``/jobs/{job_id}:cancel``        CancelJob          Cancelled unless it has ended (or,
                                                             ``cancel_executing`` off, runs:
                                                             CancellationRequested, then ends)
GET      ``/jobs``                        ListJobs           filter, orderby, skip/top paging
PUT      ``/sessions/{session_id}``       OpenSession        a session, Waiting; 409 if taken
GET      ``/sessions/{session_id}``       GetSession         SessionDetails; 404
POST     ``/sessions/{session_id}:close`` CloseSession       Succeeded, or Failed if a member
                                                             failed
GET      ``/sessions/{session_id}/jobs``  ListSessionJobs    the session's jobs, paged
GET      ``/providerStatus``              GetProviderStatus  the targets, all available
=======  ===============================  =================  ===============================

A job waits ``queue_time``, executes ``run_time``, then reads its input blob, runs it
(IonQ circuits on Braket's local simulator through ``tests.emulators.ionq``; QIR, the LLVM
IR text the SDK uploads, on qdk's simulator) and writes ``rawOutputData`` to its container
(``outputDataUri``: the blob with a read SAS): an IonQ histogram, or
``microsoft.quantum-results.v2`` for QIR.
Sessions: Abort fails the session at its first failed member and rejects later jobs;
Continue goes on with status ``Failure(s)`` and ends Failed once closed. A session with no
job in flight and none sent for ``idle_timeout`` seconds is TimedOut, and rejects jobs.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.emulators import ionq
from tests.emulators.azure.records import (
    TARGETS,
    Job,
    Session,
    matches_filter,
    timestamp,
)
from tests.emulators.kit import ApiError, Emulator, Request, Settings, route
from tests.emulators.kit.simulators import SIMULATION_LOCK, run_openqasm
from tests.emulators.kit.toy import AzureLikeProtocol

__all__ = ["API_KEY", "WORKSPACE_PATH", "AzureQuantumEmulator", "AzureSettings"]

API_KEY = "emulator-key"
WORKSPACE_PATH = (
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}"
)
W = WORKSPACE_PATH
PAGE = 100


@dataclass
class AzureSettings(Settings):
    queue_time: float = 0.0
    run_time: float = 0.0
    idle_timeout: float = 600.0  # seconds; Azure's is ten minutes
    cancel_executing: bool = True  # False: as targets that cannot stop a running job

    @classmethod
    def validate(cls, values: Any) -> None:
        for name in ("queue_time", "run_time", "idle_timeout"):
            if float(values.get(name, 0.0)) < 0:
                raise ValueError(f"{name} must be >= 0")


class AzureQuantumEmulator(Emulator):
    name = "azure-quantum"
    protocol = AzureLikeProtocol()

    def __init__(self, blob_connection_string: str, **kwargs: Any) -> None:
        self.config: AzureSettings = kwargs.pop("config", None) or AzureSettings()
        super().__init__(config=self.config, **kwargs)
        self._blob_connection_string = blob_connection_string
        self._lock = threading.Lock()
        self.job_records: dict[str, Job] = {}
        self.sessions: dict[str, Session] = {}
        self._blobs: Any = None

    # --- kit hooks --------------------------------------------------------------------------

    def on_start(self) -> None:
        from azure.storage.blob import BlobServiceClient

        self._blobs = BlobServiceClient.from_connection_string(self._blob_connection_string)

    def on_stop(self) -> None:
        if self._blobs is not None:
            self._blobs.close()

    def reset(self) -> None:
        with self._lock:
            self.job_records.clear()
            self.sessions.clear()
        super().reset()

    def call_params(self, request: Request) -> dict[str, Any]:
        body = request.body if isinstance(request.body, dict) else {}
        params = {
            "job_id": request.labels.get("job_id"),
            "session_id": request.labels.get("session_id") or body.get("sessionId"),
        }
        return {k: v for k, v in params.items() if v is not None}

    def _check(self, request: Request) -> None:
        if request.headers.get("x-ms-quantum-api-key") != API_KEY:
            raise ApiError(401, "Unauthorized", "missing or wrong x-ms-quantum-api-key")
        if not request.query_value("api-version"):
            raise ApiError(400, "MissingApiVersionParameter", "api-version is required")

    # --- storage ----------------------------------------------------------------------------

    @route("POST", f"{W}/storage/sasUri", "GetSasUri")
    def sas_uri(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        body = request.json_object(self.protocol.validation)
        container = body.get("containerName")
        if not isinstance(container, str) or not container:
            raise self.protocol.validation("containerName is required")
        blob = body.get("blobName")
        return 200, {"sasUri": self._sas(container, blob if isinstance(blob, str) else None)}

    def _sas(self, container: str, blob: str | None, *, write: bool = True) -> str:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import (
            BlobSasPermissions,
            ContainerSasPermissions,
            generate_blob_sas,
            generate_container_sas,
        )

        client = self._blobs.get_container_client(container)
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
        expiry = datetime.now(UTC) + timedelta(days=1)
        account, key = self._blobs.account_name, self._blobs.credential.account_key
        base = f"{self._blobs.url.rstrip('/')}/{container}"
        if blob is None:
            permission = ContainerSasPermissions(
                read=True, add=True, create=True, write=write, list=True
            )
            token = generate_container_sas(
                account, container, account_key=key, permission=permission, expiry=expiry
            )
            return f"{base}?{token}"
        blob_permission = BlobSasPermissions(read=True)
        token = generate_blob_sas(
            account, container, blob, account_key=key, permission=blob_permission, expiry=expiry
        )
        return f"{base}/{urllib.parse.quote(blob)}?{token}"

    def _storage_path(self, uri: str) -> list[str]:
        """The path of a container or blob URL of this storage, after the account (path
        style, as Azurite's), without its SAS."""
        path = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(uri).path.split("/") if p]
        return path[1:] if path and path[0] == self._blobs.account_name else path

    def _blob_path(self, uri: str) -> tuple[str, str]:
        """(container, blob) of a blob URL of this storage."""
        path = self._storage_path(uri)
        if len(path) < 2:
            raise self.protocol.validation(f"not a blob URL: {uri}")
        return path[0], "/".join(path[1:])

    # --- jobs -------------------------------------------------------------------------------

    @route("PUT", f"{W}/jobs/{{job_id}}", "CreateJob")
    def create_job(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        job_id = request.labels["job_id"]
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise self.protocol.validation(f"job id {job_id!r} is not a GUID") from None
        body = request.json_object(self.protocol.validation)
        for name in ("containerUri", "inputDataFormat", "providerId", "target"):
            if not body.get(name):
                raise ApiError(400, "InvalidJobDefinition", f"{name} is required")
        target = TARGETS.get(str(body["target"]))
        if target is None or target.provider != body["providerId"]:
            raise ApiError(
                400,
                "InvalidJobDefinition",
                f"unknown target {body['target']!r} for provider {body['providerId']!r}",
            )
        if body["inputDataFormat"] not in target.formats:
            takes = ", ".join(target.formats)
            raise ApiError(
                400,
                "InvalidJobDefinition",
                f"{target.id} takes {takes}, not {body['inputDataFormat']}",
            )
        with self._lock:
            if job_id in self.job_records:
                raise ApiError(409, "Conflict", f"a job with id {job_id} exists already")
            session = self._session_for(body.get("sessionId"))
            now = time.time()
            details = {
                "id": job_id,
                "itemType": "Job",
                "jobType": "QuantumComputing",
                "name": body.get("name") or job_id,
                "providerId": target.provider,
                "target": target.id,
                "sessionId": body.get("sessionId"),
                "containerUri": body["containerUri"],
                "inputDataUri": body.get("inputDataUri"),
                "inputDataFormat": body["inputDataFormat"],
                "inputParams": body.get("inputParams") or {},
                "outputDataFormat": target.formats[body["inputDataFormat"]],
                "outputDataUri": None,
                "metadata": body.get("metadata"),
                "tags": body.get("tags") or [],
                "priority": body.get("priority") or "Standard",
                "status": "Waiting",
                "creationTime": timestamp(now),
                "beginExecutionTime": None,
                "endExecutionTime": None,
                "cancellationTime": None,
                "errorData": None,
            }
            job = Job(job_id, details, now)
            self.job_records[job_id] = job
            if session is not None:
                session.members.append(job_id)
                session.last_activity = time.monotonic()
                if session.status == "Waiting":
                    session.details["status"] = "Executing"
        config = self.config.snapshot()
        self.jobs.lifecycle(
            queue_time=config.queue_time,
            run_time=config.run_time,
            queued=lambda: None,
            start=lambda: self._begin(job),
            work=lambda: self._run_job(job),
        )
        return 201, dict(details)

    def _session_for(self, session_id: Any) -> Session | None:
        if not session_id:
            return None
        session = self.sessions.get(str(session_id))
        if session is None:
            raise ApiError(404, "SessionNotFound", f"session {session_id} not found")
        self._expire(session)
        if session.final or session.closed:
            raise ApiError(
                400,
                "SessionTerminated",
                f"session {session.id} is {session.status}: it takes no new job",
            )
        return session

    def _begin(self, job: Job) -> bool:
        with self._lock:
            if job.status != "Waiting":
                return False
            job.set("Executing", beginExecutionTime=timestamp())
            return True

    def _run_job(self, job: Job) -> None:
        details = job.details
        try:
            container, blob = self._blob_path(str(details["inputDataUri"]))
            data = self._blobs.get_blob_client(container, blob).download_blob().readall()
            shots = int(details["inputParams"].get("shots", 500))
            if details["inputDataFormat"] == "qir.v1":
                output = _run_qir(data.decode(), shots)
            else:
                output = _run_ionq(json.loads(data), shots)
        except Exception as exc:  # the program, not the emulator: the job fails
            self._end_job(job, "Failed", {"code": "InvalidInputData", "message": str(exc)})
            return
        container = self._storage_path(str(details["containerUri"]))[0]
        self._blobs.get_blob_client(container, "rawOutputData").upload_blob(output, overwrite=True)
        self._end_job(job, "Succeeded", None, self._sas(container, "rawOutputData"))

    def _end_job(
        self, job: Job, status: str, error: dict[str, str] | None, output: str | None = None
    ) -> None:
        with self._lock:
            if job.final:
                return
            job.set(status, endExecutionTime=timestamp(), errorData=error, outputDataUri=output)
            session = self.sessions.get(str(job.details.get("sessionId") or ""))
            if session is None:
                return
            session.last_activity = time.monotonic()
            if status == "Failed":
                session.failures += 1
                if session.abort:
                    session.details["status"] = "Failed"
                elif not session.final:
                    session.details["status"] = "Failure(s)"

    def _job(self, request: Request) -> Job:
        job = self.job_records.get(request.labels["job_id"])
        if job is None:
            raise ApiError(404, "JobNotFound", f"job {request.labels['job_id']} not found")
        return job

    @route("GET", f"{W}/jobs/{{job_id}}", "GetJob")
    def get_job(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        with self._lock:
            return 200, dict(self._job(request).details)

    @route("POST", f"{W}/jobs/{{job_id}}:cancel", "CancelJob")
    def cancel_job(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        with self._lock:
            job = self._job(request)
            if job.status == "Executing" and not self.config.get("cancel_executing"):
                job.set("CancellationRequested", cancellationTime=timestamp())  # it runs on
            elif not job.final and job.status != "CancellationRequested":
                job.set("Cancelled", cancellationTime=timestamp(), endExecutionTime=timestamp())
            return 200, dict(job.details)

    @route("GET", f"{W}/jobs", "ListJobs")
    def list_jobs(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        with self._lock:
            items = [(j.details, j.created) for j in self.job_records.values()]
        return 200, self._page(request, items)

    def _page(self, request: Request, items: list[tuple[dict[str, Any], float]]) -> Any:
        filter_text = request.query_value("filter")
        try:
            chosen = [(d, c) for d, c in items if matches_filter(filter_text, d, c)]
        except ValueError as exc:
            raise self.protocol.validation(str(exc)) from None
        order = (request.query_value("orderby") or "CreationTime asc").split()
        if order[0] == "CreationTime":
            chosen.sort(key=lambda pair: pair[1], reverse=order[-1] == "desc")
        skip = int(request.query_value("skip") or 0)
        top = int(request.query_value("top") or PAGE)
        page = [dict(d) for d, _ in chosen[skip : skip + top]]
        answer: dict[str, Any] = {"value": page}
        if skip + top < len(chosen):
            query = {"skip": skip + top, "top": top, "orderby": " ".join(order)}
            if filter_text:
                query["filter"] = filter_text
            answer["nextLink"] = f"{self.url}{request.path}?{urllib.parse.urlencode(query)}"
        return answer

    @route("GET", f"{W}/providerStatus", "GetProviderStatus")
    def provider_status(self, request: Request) -> tuple[int, Any]:
        """The targets, by provider, all available (``Workspace.get_targets``)."""
        self._check(request)
        providers: dict[str, list[dict[str, Any]]] = {}
        for target in TARGETS.values():
            providers.setdefault(target.provider, []).append(
                {
                    "id": target.id,
                    "currentAvailability": "Available",
                    "averageQueueTime": int(self.config.get("queue_time")),
                    "statusPage": None,
                }
            )
        value = [
            {"id": name, "currentAvailability": "Available", "targets": targets}
            for name, targets in providers.items()
        ]
        return 200, {"value": value}

    # --- sessions ---------------------------------------------------------------------------

    @route("PUT", f"{W}/sessions/{{session_id}}", "OpenSession")
    def open_session(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        session_id = request.labels["session_id"]
        body = request.json_object(self.protocol.validation)
        target = TARGETS.get(str(body.get("target")))
        if target is None:
            unknown = f"unknown target {body.get('target')!r}"
            raise ApiError(400, "InvalidSessionDefinition", unknown)
        policy = body.get("jobFailurePolicy") or "Abort"
        if policy not in ("Abort", "Continue"):
            raise self.protocol.validation(f"jobFailurePolicy {policy!r}: Abort or Continue")
        with self._lock:
            if session_id in self.sessions:
                raise ApiError(409, "Conflict", f"a session with id {session_id} exists already")
            details = {
                "id": session_id,
                "itemType": "Session",
                "name": body.get("name") or session_id,
                "providerId": target.provider,
                "target": target.id,
                "jobFailurePolicy": policy,
                "status": "Waiting",
                "creationTime": timestamp(),
                "beginExecutionTime": timestamp(),
                "endExecutionTime": None,
                "tags": body.get("tags") or [],
            }
            self.sessions[session_id] = Session(session_id, details)
            return 201, dict(details)

    def _expire(self, session: Session) -> None:
        """TimedOut when idle: no member in flight and none sent for ``idle_timeout``."""
        if session.final or session.closed:
            return
        busy = any(not self.job_records[m].final for m in session.members)
        idle = time.monotonic() - session.last_activity
        if not busy and idle > self.config.get("idle_timeout"):
            session.details.update(status="TimedOut", endExecutionTime=timestamp())

    def _session(self, request: Request) -> Session:
        session = self.sessions.get(request.labels["session_id"])
        if session is None:
            missing = f"session {request.labels['session_id']} not found"
            raise ApiError(404, "SessionNotFound", missing)
        self._expire(session)
        return session

    @route("GET", f"{W}/sessions/{{session_id}}", "GetSession")
    def get_session(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        with self._lock:
            return 200, dict(self._session(request).details)

    @route("POST", f"{W}/sessions/{{session_id}}:close", "CloseSession")
    def close_session(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        with self._lock:
            session = self._session(request)
            if not session.final:
                status = "Failed" if session.failures else "Succeeded"
                session.details.update(status=status, endExecutionTime=timestamp())
            session.closed = True
            return 200, dict(session.details)

    @route("GET", f"{W}/sessions/{{session_id}}/jobs", "ListSessionJobs")
    def list_session_jobs(self, request: Request) -> tuple[int, Any]:
        self._check(request)
        with self._lock:
            session = self._session(request)
            members = [self.job_records[m] for m in session.members]
            items = [(job.details, job.created) for job in members]
        return 200, self._page(request, items)


def _run_ionq(circuit: dict[str, Any], shots: int) -> bytes:
    """An IonQ circuit on Braket's simulator; IonQ's histogram (qubit 0 is the low bit)."""
    result, _, _ = run_openqasm(ionq.to_openqasm3(circuit), {}, shots)
    counts: dict[str, int] = {}
    for row in result.measurements:
        bits = "".join(str(int(b)) for b in row)
        counts[bits] = counts.get(bits, 0) + 1
    histogram = {str(int(bits[::-1], 2)): n / shots for bits, n in sorted(counts.items())}
    return json.dumps({"histogram": histogram}).encode()


def _run_qir(text: str, shots: int) -> bytes:
    """QIR (LLVM IR text, as the SDK uploads it) on qdk's CPU simulator: the shots and
    their histogram, in ``microsoft.quantum-results.v2``."""
    from qdk.simulation import run_qir

    with SIMULATION_LOCK:
        results = run_qir(text, shots=shots, type="cpu")
    rows = [
        [1 if str(bit) == "One" else 0 for bit in (shot if isinstance(shot, list) else [shot])]
        for shot in results
    ]
    counts: dict[tuple[int, ...], int] = {}
    for row in rows:
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    histogram = [
        {"Outcome": list(outcome), "Display": str(list(outcome)), "Count": n}
        for outcome, n in sorted(counts.items())
    ]
    results_v2 = [{"Histogram": histogram, "Shots": rows}]
    return json.dumps(
        {"DataFormat": "microsoft.quantum-results.v2", "Results": results_v2}
    ).encode()
