"""Azure Quantum, through the ``azure-quantum`` SDK's ``Workspace`` (and azure-storage-blob
for the job's input blob).

Exactly once, on a service where the client chooses the job id:

- a job's id is ``uuid5`` of its idempotency key; a session's, ``uuid5`` of the session's;
- submit: get the job by that id and adopt it when it exists; else upload the input blob
  to the job's container (overwriting a partial upload of ours: ``Target.submit`` would
  refuse it), then create the job (``PUT jobs/{id}``) with its session, tags and metadata;
  "already exists" (a PUT that was made, and answered or retried after a dropped
  connection) is adopted the same way. azure-core retries reads and this PUT on 408, 429
  and 5xx: with a fixed id a retry never makes a second job;
- lookup by key is a GET by id: no search window, no tag matching;
- a job sent to a session that has ended (aborted by the service, or timed out) is
  refused: that is ``SessionEnded``, with the session's status.

Observation is in bulk: the jobs still in flight, listed 100 a page (a session's members
with ``list_session_jobs``, other jobs with ``list_jobs`` filtered by name prefix
``stack/`` and creation date), so a poll makes one list call per 100 jobs in flight
however many ended before; a watched job no longer listed has just ended, and is read
once by id (16 at a time), as is a job this process has never seen. Results are read from the output
blob and normalised to counts; the raw document is kept beside them.

Programs: native formats pass through; ``openqasm3`` (Braket's dialect included) is bound
to its inputs and compiled to QIR with the ``qdk`` package, and so is ``qsharp`` through
its entry expression (each point's arguments written as Q# literals).

Credentials: ``AZURE_QUANTUM_CONNECTION_STRING`` (its ``ApiKey``; its
``QuantumEndpoint`` names the data plane) or azure-identity's ``DefaultAzureCredential``;
never the manifest. Keys and SAS tokens never reach messages.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from qplan.errors import QplanError
from qplan.jobstatus import JobStatus, from_provider
from qplan.manifest.models import AzureProvider as AzureConfig
from qplan.providers.base import (
    AmbiguousError,
    Capabilities,
    Dispatch,
    Observation,
    PermanentError,
    Provider,
    ProviderError,
    Receipt,
    SessionEnded,
    SessionSupport,
    TransientError,
)

__all__ = [
    "CONNECTION_STRING",
    "NAMESPACE",
    "AzureQuantumProvider",
    "connection",
    "job_id_of",
    "normalise",
    "session_id_of",
]

CONNECTION_STRING = "AZURE_QUANTUM_CONNECTION_STRING"
NAMESPACE = uuid.UUID("5b0c8c4e-7a52-5d1e-9a0c-71706c616e00")  # qplan's uuid5 namespace
PAGE = 100  # items per list page
FINAL = ("Succeeded", "Completed", "Failed", "Cancelled")
IN_FLIGHT = (
    "Queued",
    "Waiting",
    "Executing",
    "Finishing",
    "CancellationRequested",
    "Cancelling",
)
SESSION_ENDED = ("Succeeded", "Failed", "TimedOut")
# (content type, output format) of each input format Azure takes
FORMATS: dict[str, tuple[str, str]] = {
    "ionq.circuit.v1": ("application/json", "ionq.quantum-results.v1"),
    "qir.v1": ("qir.v1", "microsoft.quantum-results.v2"),
    "honeywell.openqasm.v1": ("text/plain", "honeywell.quantum-results.v1"),
    "rigetti.quil.v1": ("text/plain", "rigetti.quil-results.v1"),
    "pasqal.pulser.v1": ("application/json", "pasqal.pulser-results.v1"),
}
COMPILED = ("openqasm3", "qsharp")  # compiled to QIR here
_SAS = re.compile(r"\?[^\s'\"]*\bsig=[^\s'\"]*")
_SESSION_GONE = re.compile(r"session\b.*\b(terminal|terminated|ended|timed ?out|closed)", re.I)
_QIR_ENTRY = re.compile(r"define\s+\S+\s+@([\w.$]+)\(\)\s*#(\d+)")


def job_id_of(key: str) -> str:
    """The job id of a dispatch: a GUID made from its idempotency key."""
    return str(uuid.uuid5(NAMESPACE, f"job:{key}"))


def session_id_of(key: str) -> str:
    """The id of a session: a GUID made from its key."""
    return str(uuid.uuid5(NAMESPACE, f"session:{key}"))


def _redact(text: str) -> str:
    """``text`` without SAS tokens (a storage URL's query is a credential)."""
    return _SAS.sub("?<sas>", text)


def _value(value: Any) -> str:
    """An SDK enum's wire string (``str()`` of its members gives their Python name)."""
    return str(getattr(value, "value", value) or "")


def _bare(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


# --- credentials and the workspace ------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """Where the workspace is, and how qplan authenticates: ``key`` (from a connection
    string) or None (azure-identity's default chain)."""

    subscription: str
    resource_group: str
    workspace: str
    location: str
    endpoint: str
    key: str | None = None

    def __repr__(self) -> str:  # the key never shows
        return (
            f"Connection({self.subscription}/{self.resource_group}/{self.workspace}, "
            f"{self.endpoint}, key={'yes' if self.key else 'no'})"
        )


def _parse_resource_id(resource_id: str) -> tuple[str, str, str]:
    parts = resource_id.strip("/").split("/")
    fields = {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}
    return fields["subscriptions"], fields["resourcegroups"], fields["workspaces"]


def connection(config: AzureConfig, environ: Mapping[str, str] | None = None) -> Connection:
    """The workspace's connection from the manifest and the environment. A connection
    string must name the manifest's workspace (else a clear error, which shows no key)."""
    env = os.environ if environ is None else environ
    subscription, group, workspace = _parse_resource_id(config.resource_id)
    endpoint = config.endpoint or f"https://{config.location}.quantum.azure.com/"
    text = env.get(CONNECTION_STRING, "").strip()
    if not text:
        return Connection(subscription, group, workspace, config.location, endpoint)
    fields: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            fields[name.strip().lower()] = value.strip()
    key = fields.get("apikey")
    if not key:
        raise QplanError(f"{CONNECTION_STRING} has no ApiKey")
    named = {
        "SubscriptionId": (fields.get("subscriptionid"), subscription),
        "ResourceGroupName": (fields.get("resourcegroupname"), group),
        "WorkspaceName": (fields.get("workspacename"), workspace),
    }
    for field, (given, wanted) in named.items():
        if given is not None and given.lower() != wanted.lower():
            raise QplanError(
                f"{CONNECTION_STRING} is for {field}={given}, but the manifest's resource_id "
                f"names {wanted}"
            )
    endpoint = fields.get("quantumendpoint") or endpoint
    return Connection(subscription, group, workspace, config.location, endpoint, key)


def _workspace(conn: Connection) -> Any:
    from azure.quantum import Workspace

    # the SDKs log their retries and each failed credential source as warnings: qplan
    # reports what matters itself, once, with the instance's address
    logging.getLogger("azure").addHandler(logging.NullHandler())
    logging.getLogger("azure").propagate = False

    credential: Any
    if conn.key is not None:
        from azure.core.credentials import AzureKeyCredential

        credential = AzureKeyCredential(conn.key)
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    # every connection parameter given: the SDK asks nothing of Azure's management API
    return Workspace(
        subscription_id=conn.subscription,
        resource_group=conn.resource_group,
        name=conn.workspace,
        location=conn.location,
        credential=credential,
        _quantum_endpoint=conn.endpoint,
    )


# --- results --------------------------------------------------------------------------------


def _spread(probabilities: Mapping[str, float], shots: int) -> dict[str, int]:
    """Counts from probabilities, summing to ``shots`` (largest remainders round up)."""
    exact = {k: p * shots for k, p in probabilities.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    rest = shots - sum(counts.values())
    for k in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[: max(rest, 0)]:
        counts[k] += 1
    return {k: v for k, v in sorted(counts.items()) if v}


def _ionq(document: Mapping[str, Any], shots: int, qubits: int | None) -> dict[str, int]:
    """IonQ's histogram: outcome integers (qubit 0 the low bit) to probabilities. Bitstrings
    here read qubit 0 first, as on every other provider."""
    histogram = {int(k): float(p) for k, p in (document.get("histogram") or {}).items()}
    width = qubits or max([k.bit_length() for k in histogram] + [1])
    bits = {format(k, f"0{width}b")[::-1]: p for k, p in histogram.items()}
    return _spread(bits, shots)


def _qir_v2(document: Mapping[str, Any]) -> dict[str, int]:
    from qplan.providers.qdk import counts_of

    results = document.get("Results") or [{}]
    first = results[0]
    if "Shots" in first:
        return counts_of(first["Shots"])
    counts: dict[str, int] = {}
    for entry in first.get("Histogram") or []:
        bits = "".join(str(int(b)) for b in _flat(entry["Outcome"]))
        counts[bits] = counts.get(bits, 0) + int(entry["Count"])
    return dict(sorted(counts.items()))


def _flat(value: Any) -> Iterable[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _flat(item)
    else:
        yield value


def _registers(document: Mapping[str, Any]) -> dict[str, int]:
    """Quantinuum's registers: per register, one string per shot, its bit 0 rightmost.
    A shot's bitstring is the registers in name order, each with bit 0 first."""
    names = sorted(k for k, v in document.items() if isinstance(v, list))
    counts: dict[str, int] = {}
    for shot in zip(*(document[n] for n in names), strict=True):
        bits = "".join(str(r)[::-1] for r in shot)
        counts[bits] = counts.get(bits, 0) + 1
    return dict(sorted(counts.items()))


def _rigetti(document: Mapping[str, Any]) -> dict[str, int]:
    """Rigetti's ``ro``: one list of bits per shot, ro[0] first."""
    counts: dict[str, int] = {}
    for shot in document.get("ro") or []:
        bits = "".join(str(int(b)) for b in shot)
        counts[bits] = counts.get(bits, 0) + 1
    return dict(sorted(counts.items()))


def normalise(
    output_format: str, data: bytes, shots: int, qubits: int | None = None
) -> tuple[dict[str, int], Any]:
    """Counts by bitstring (bit 0 first) and the raw document, from a job's output."""
    document = json.loads(data)
    if output_format == "ionq.quantum-results.v1":
        return _ionq(document, shots, qubits), document
    if output_format.startswith("microsoft.quantum-results."):
        return _qir_v2(document), document
    if output_format == "honeywell.quantum-results.v1":
        return _registers(document), document
    if output_format == "rigetti.quil-results.v1":
        return _rigetti(document), document
    if output_format == "pasqal.pulser-results.v1":
        counter = document.get("counter", document) if isinstance(document, dict) else {}
        return {str(k): int(v) for k, v in sorted(counter.items())}, document
    raise ValueError(f"output format {output_format} is not one qplan reads")


# --- the provider -----------------------------------------------------------------------------


@dataclass
class _Known:
    """What this process knows of a job: its stack prefix, creation, session and details."""

    stack: str
    created: float
    session: str | None
    details: Any = None


@functools.lru_cache(maxsize=256)
def _declared_inputs(source: str) -> tuple[str, ...]:
    from qplan.manifest.qasm import read_program

    return tuple(read_program(source)[0])


class AzureQuantumProvider(Provider):
    def __init__(
        self,
        name: str,
        config: AzureConfig,
        *,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.connection = connection(config, environ)
        self.workspace = _workspace(self.connection)
        self.capabilities = Capabilities(
            submit_rate=20.0,
            submit_burst=40,
            submit_concurrency=32,  # a submit waits on four calls (GET, SAS, upload, PUT)
            max_in_flight=2000,
            max_observe=2000,
            poll_interval=2.0,
            durable_jobs=True,
            idempotent_submit=True,
        )
        self.azure_sessions = AzureSessions(self)
        self.sessions = self.azure_sessions
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="qplan-azure")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- errors -----------------------------------------------------------------------------

    def map_error(self, exc: BaseException, address: str, *, submitting: bool) -> ProviderError:
        """An SDK or HTTP error as one of the protocol's three: throttling and an
        unreachable service are transient; a 5xx or a lost answer to a write is ambiguous;
        authentication, quota, an unknown target and validation are permanent."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        from qplan.providers.qdk import CompileError

        where = f"{address}: " if address else ""
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, CompileError):
            return PermanentError(f"{where}the program does not compile for Azure: {exc}")
        if isinstance(exc, ClientAuthenticationError):
            status = getattr(exc, "status_code", None)
            if status is None:  # no token was ever sent: none of the chain's sources had one
                return PermanentError(
                    f"{where}no Azure credentials: {_text(exc)} Set {CONNECTION_STRING}, or "
                    "sign in as azure-identity's DefaultAzureCredential expects (az login, "
                    "a managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)"
                )
            refused = f"{where}Azure Quantum refused the credentials ({status}): {_text(exc)}"
            return PermanentError(refused)
        if isinstance(exc, HttpResponseError):
            status = int(exc.status_code or 0)
            message = f"{where}Azure Quantum {status} {_code(exc)}: {_text(exc)}".rstrip(": ")
            if status in (408, 429):
                return TransientError(message)
            if status >= 500 or status == 0:
                return AmbiguousError(message) if submitting else TransientError(message)
            return PermanentError(message)
        if isinstance(exc, ServiceRequestError):
            return TransientError(f"{where}Azure Quantum unreachable: {_text(exc)}")
        if isinstance(exc, ServiceResponseError):
            lost = f"{where}no answer from Azure Quantum: {_text(exc)}"
            return AmbiguousError(lost) if submitting else TransientError(lost)
        message = f"{where}{type(exc).__name__}: {_text(exc)}"
        return AmbiguousError(message) if submitting else TransientError(message)

    # --- submit -----------------------------------------------------------------------------

    def submit(self, dispatch: Dispatch) -> Receipt:
        if dispatch.batch:
            raise PermanentError("Azure Quantum has no native batches")
        job_id = job_id_of(dispatch.key)
        receipt = Receipt(job_id, (job_id,))
        try:
            if self._get(job_id) is not None:
                return receipt  # made before: adopted
        except Exception as exc:
            raise self.map_error(exc, "", submitting=False) from None  # nothing sent yet
        try:
            payload = self._payload(dispatch)
        except ProviderError:
            raise
        except Exception as exc:  # the program, not the service: sending it again won't do
            from qplan.providers.qdk import CompileError

            if isinstance(exc, CompileError):
                raise self.map_error(exc, "", submitting=True) from None
            raise PermanentError(f"the program cannot be sent: {exc}") from None
        try:
            self._create(dispatch, job_id, payload)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._refusal(exc, dispatch) from None
        return receipt

    def _refusal(self, exc: Exception, dispatch: Dispatch) -> ProviderError:
        """The error of a failed create: a session that has ended, or the mapped error."""
        from azure.core.exceptions import HttpResponseError

        if (
            dispatch.group
            and isinstance(exc, HttpResponseError)
            and exc.status_code in (400, 409, 410)
            and (_code(exc) in ("SessionTerminated", "SessionNotActive") or _gone(exc))
        ):
            status = self.azure_sessions.status(dispatch.group)
            if status is None:  # its status cannot be read now: the same dispatch later
                return TransientError(f"the session refused the job, its status unknown: {exc}")
            if status in SESSION_ENDED:
                return SessionEnded(_text(exc), status)
        return self.map_error(exc, "", submitting=True)

    def _payload(self, dispatch: Dispatch) -> tuple[bytes, str, str, dict[str, Any]]:
        """(input blob, input format, content type, input params) of a dispatch."""
        member = dispatch.members[0]
        params: dict[str, Any] = dict(dispatch.params)
        fmt = dispatch.format
        program = dispatch.program
        if fmt in COMPILED:
            from qplan.providers import qdk

            source = program.decode() if isinstance(program, bytes) else program
            if fmt == "openqasm3":
                compiled = qdk.compile_openqasm(source, member.inputs, _declared_inputs(source))
            else:
                compiled = qdk.compile_qsharp(source, _expression(source, dispatch))
            data, fmt = compiled.qir.encode(), "qir.v1"
            params.setdefault("entryPoint", compiled.entry_point)
        else:
            if fmt not in FORMATS:
                raise PermanentError(f"Azure Quantum does not take {fmt} programs")
            data = program if isinstance(program, bytes) else program.encode()
            if fmt == "qir.v1":
                match = _QIR_ENTRY.search(data.decode("utf-8", "replace"))
                params.setdefault("entryPoint", match.group(1) if match else "ENTRYPOINT__main")
        if fmt == "qir.v1":
            params.setdefault("arguments", [])
        params["shots"] = dispatch.shots
        return data, fmt, FORMATS[fmt][0], params

    def _create(
        self, dispatch: Dispatch, job_id: str, payload: tuple[bytes, str, str, dict[str, Any]]
    ) -> None:
        """Upload the input blob, then create the job. The PUT's "already exists" is a
        job made by an earlier try under this id: adopted."""
        from azure.core.exceptions import ResourceExistsError
        from azure.quantum.job import Job
        from azure.storage.blob import ContainerClient, ContentSettings

        member = dispatch.members[0]
        data, fmt, content_type, params = payload
        container = self.workspace.get_container_uri(job_id=job_id)
        blob = ContainerClient.from_container_url(container).get_blob_client("inputData")
        try:
            blob.upload_blob(
                data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except ResourceExistsError as exc:  # a storage conflict (a lease): nothing was made
            raise TransientError(f"the job's input could not be written: {_text(exc)}") from None
        metadata = {
            "qplan_stack": dispatch.stack,
            "qplan_address": member.address,
            "qplan_fingerprint": member.fingerprint,
            "qplan_attempt": str(dispatch.attempt),
            "qplan_key": dispatch.key,
        }
        qubits = _ionq_qubits(dispatch)
        if qubits:
            metadata["qplan_qubits"] = str(qubits)
        tags = [f"{k}={v}" for k, v in sorted(dispatch.tags.items())]
        created = self.clock()
        try:
            Job.from_storage_uri(
                self.workspace,
                name=_name(dispatch.stack, member.address),
                target=dispatch.device,
                input_data_uri=_bare(blob.url),
                provider_id=dispatch.device.split(".", 1)[0],
                input_data_format=fmt,
                output_data_format=FORMATS[fmt][1],
                container_uri=container,
                job_id=job_id,
                input_params=params,
                session_id=dispatch.group,
                tags=tags,
                metadata=metadata,
            )
        except ResourceExistsError as exc:
            if dispatch.group and _gone(exc):
                raise  # a session's refusal sent as a conflict: see _refusal
            try:
                found = self._get(job_id)
            except Exception as error:
                raise self.map_error(error, "", submitting=True) from None
            if found is None:  # "exists", yet not there: asked again later, same id
                raise TransientError(f"job {job_id}: {_text(exc)}") from None
        with self._lock:
            self._known.setdefault(job_id, _Known(dispatch.stack, created - 60.0, dispatch.group))

    # --- reads ------------------------------------------------------------------------------

    def _get(self, job_id: str) -> Any | None:
        """A job's details by id (remembered), or None when there is no such job."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            details = self.workspace.get_job(job_id).details
        except ResourceNotFoundError:
            return None
        self._remember(details)
        return details

    def _remember(self, details: Any) -> None:
        created = details.creation_time
        stack = str(details.name or "").partition("/")[0]
        with self._lock:
            self._known[str(details.id)] = _Known(
                stack,
                created.timestamp() if created else self.clock(),
                details.session_id,
                details,
            )

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        def one(key: str) -> tuple[str, Any]:
            try:
                return key, self._get(job_id_of(key))
            except Exception as exc:
                raise self.map_error(exc, "", submitting=False) from None

        found: dict[str, Receipt] = {}
        for key, details in self._pool.map(one, list(keys)):
            if details is not None:
                found[key] = Receipt(str(details.id), (str(details.id),))
        return found

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        try:
            details = self._observe(list(dict.fromkeys(job_ids)))
        except Exception as exc:
            raise self.map_error(exc, "", submitting=False) from None
        out: dict[str, Observation] = {}
        for job_id, item in details.items():
            raw = _value(item.status)
            try:
                status = from_provider("azure", raw)
            except KeyError:
                continue  # a status this release does not know: asked again next poll
            error = None
            if status is JobStatus.FAILED:
                data = item.error_data
                error = f"{getattr(data, 'code', '')}: {getattr(data, 'message', '')}".strip(": ")
                error = _redact(error or "failed")
            started = item.begin_execution_time
            out[job_id] = Observation(
                job_id, status, error, started.timestamp() if started is not None else None
            )
        return out

    def _observe(self, ids: list[str]) -> dict[str, Any]:
        with self._lock:
            unknown = [i for i in ids if i not in self._known]
        for _ in self._pool.map(self._get, unknown):  # an earlier process's: read once
            pass
        wanted = set(ids)
        seen: dict[str, Any] = {}
        with self._lock:
            known = {i: self._known[i] for i in ids if i in self._known}
        by_session: dict[str, list[str]] = {}
        by_stack: dict[str, list[str]] = {}
        for job_id, k in known.items():
            if k.session:
                by_session.setdefault(k.session, []).append(job_id)
            else:
                by_stack.setdefault(k.stack, []).append(job_id)
        for session_id in by_session:
            pages = self.workspace.list_session_jobs_paginated(
                session_id=session_id, status=list(IN_FLIGHT), top=PAGE
            )
            self._take(pages, wanted, seen)
        for stack, group in by_stack.items():
            oldest = min(known[i].created for i in group)
            day = dt.datetime.fromtimestamp(oldest, dt.UTC)  # the filter takes its date
            pages = self.workspace.list_jobs_paginated(
                name_match=f"{stack}/", created_after=day, status=list(IN_FLIGHT), top=PAGE
            )
            self._take(pages, wanted, seen)
        # not listed yet, or ended since a listing of those in flight: read once by id
        missing = [i for i in ids if i not in seen and i in known]
        for job_id, details in zip(missing, self._pool.map(self._get, missing), strict=True):
            if details is not None:
                seen[job_id] = details
        return seen

    def _take(self, pages: Iterable[Any], wanted: set[str], seen: dict[str, Any]) -> None:
        for details in pages:
            if str(details.id) in wanted:
                seen[str(details.id)] = details
                with self._lock:
                    known = self._known.get(str(details.id))
                    if known is not None:
                        known.details = details

    def result(self, job_id: str) -> dict[str, Any]:
        try:
            with self._lock:
                known = self._known.get(job_id)
            cached = known.details if known is not None else None
            try:
                details, data = self._output(job_id, cached)
            except (ProviderError, ValueError):
                raise
            except Exception:
                if cached is None:
                    raise
                # the SAS of a listing may have expired, or the blob moved: read it afresh
                details, data = self._output(job_id, None)
        except ProviderError:
            raise
        except Exception as exc:
            raise self.map_error(exc, job_id, submitting=False) from None
        shots = int((details.input_params or {}).get("shots") or 0)
        metadata = details.metadata or {}
        qubits = int(metadata["qplan_qubits"]) if "qplan_qubits" in metadata else None
        try:
            counts, raw = normalise(_value(details.output_data_format), data, shots, qubits)
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"{job_id}: its output cannot be read: {exc}") from None
        return {
            "counts": counts,
            "raw": {
                "job": job_id,
                "target": details.target,
                "output_format": _value(details.output_data_format),
                "output": _bare(details.output_data_uri),
                "data": raw,
            },
        }

    def _output(self, job_id: str, details: Any) -> tuple[Any, bytes]:
        """A job's details (``details``, or read now) and its output blob."""
        from azure.storage.blob import BlobClient

        if details is None or not details.output_data_uri:
            details = self._get(job_id)
        if details is None:
            raise PermanentError(f"{job_id}: no such Azure Quantum job")
        if not details.output_data_uri:
            raise TransientError(f"{job_id}: its output is not written yet")
        blob = BlobClient.from_blob_url(details.output_data_uri)
        return details, blob.download_blob().readall()

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel each job not ended (16 at a time); an ended or unknown job is no error."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        def one(job_id: str) -> None:
            try:
                job = self.workspace.get_job(job_id)
                if _value(job.details.status) not in FINAL:
                    self.workspace.cancel_job(job)
            except ResourceNotFoundError:
                return
            except HttpResponseError as exc:
                if exc.status_code in (400, 409):  # ended meanwhile: nothing to cancel
                    return
                raise self.map_error(exc, job_id, submitting=False) from None
            except Exception as exc:
                raise self.map_error(exc, job_id, submitting=False) from None

        for _ in self._pool.map(one, list(dict.fromkeys(job_ids))):
            pass


def _expression(source: str, dispatch: Dispatch) -> str:
    """The Q# entry expression of a dispatch's one member: ``Sweep.Run(3, 0.5)``."""
    from qplan.manifest.qsharp import entry_expression, entry_parameters

    entry = dispatch.entry or ""
    try:
        return entry_expression(entry, entry_parameters(source, entry), dispatch.members[0].inputs)
    except ValueError as exc:
        raise PermanentError(f"the Q# program cannot run: {exc}") from None


def _name(stack: str, address: str) -> str:
    """The job's name: ``stack/address`` (the portal and ``list_jobs`` show it)."""
    return f"{stack}/{address}"[:256]


def _ionq_qubits(dispatch: Dispatch) -> int | None:
    if dispatch.format != "ionq.circuit.v1":
        return None
    try:
        program = dispatch.program
        return int(json.loads(program)["qubits"])
    except (ValueError, KeyError, TypeError):
        return None


def _code(exc: Any) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", "") or "")


def _text(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    return _redact(str(message).strip().splitlines()[0] if str(message).strip() else "")


def _gone(exc: BaseException) -> bool:
    return bool(_SESSION_GONE.search(_text(exc)))


class AzureSessions(SessionSupport):
    """Azure sessions: the service applies the failure policy (an aborted session refuses
    new jobs), so ``enforces_policy``."""

    enforces_policy = True

    def __init__(self, provider: AzureQuantumProvider) -> None:
        self.provider = provider

    @property
    def workspace(self) -> Any:
        return self.provider.workspace

    def open(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        from azure.core.exceptions import ResourceExistsError
        from azure.quantum.job.session import Session, SessionJobFailurePolicy

        session_id = session_id_of(key)
        try:
            if self._details(session_id) is not None:
                return session_id
            policy = (
                SessionJobFailurePolicy.ABORT
                if abort_on_failure
                else (SessionJobFailurePolicy.CONTINUE)
            )
            session = Session(
                self.workspace,
                target=device,
                id=session_id,
                name=name,
                job_failure_policy=policy,
            )
            self.workspace.open_session(session)
        except ResourceExistsError:
            return session_id
        except Exception as exc:
            raise self.provider.map_error(exc, name, submitting=True) from None
        return session_id

    def _details(self, session_id: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.workspace.get_session(session_id).details
        except ResourceNotFoundError:
            return None

    def status(self, session_id: str) -> str | None:
        """The session's status at the provider (None: unknown now)."""
        try:
            details = self._details(session_id)
        except Exception:
            return None
        return None if details is None else _value(details.status)

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for key in keys:
            session_id = session_id_of(key)
            try:
                if self._details(session_id) is not None:
                    found[key] = session_id
            except Exception as exc:
                raise self.provider.map_error(exc, "", submitting=False) from None
        return found

    def close(self, session_id: str) -> str | None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            session = self.workspace.get_session(session_id)
            self.workspace.close_session(session)  # an ended one is only read again
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            if exc.status_code in (400, 409):  # ended already
                return self.status(session_id)
            raise self.provider.map_error(exc, "", submitting=False) from None
        except Exception as exc:
            raise self.provider.map_error(exc, "", submitting=False) from None
        return _value(session.details.status) or None

    def statuses(self, session_ids: Sequence[str]) -> dict[str, str]:
        def one(session_id: str) -> tuple[str, Any]:
            return session_id, self._details(session_id)

        try:
            found = list(self.provider._pool.map(one, list(session_ids)))
        except Exception as exc:
            raise self.provider.map_error(exc, "", submitting=False) from None
        return {i: _value(d.status) for i, d in found if d is not None and d.status}

    def abort(self, session_id: str) -> None:
        """Azure has no abort: the members still in flight are cancelled, then it closes."""
        try:
            jobs = list(self.workspace.list_session_jobs_paginated(session_id=session_id))
        except Exception as exc:
            raise self.provider.map_error(exc, "", submitting=False) from None
        self.provider.cancel([str(j.id) for j in jobs if _value(j.status) not in FINAL])
        self.close(session_id)
