"""A wire-compatible Amazon Braket emulator for the real boto3 ``braket`` client and the real
amazon-braket-sdk (``AwsSession``, ``AwsDevice``, ``AwsQuantumTask``, ``AwsQuantumTaskBatch``).

It serves the REST-JSON protocol of the service model ``braket-2019-09-01`` on a loopback port:

=====  ==================================  ====================  ===========================
verb   path                                operation             success
=====  ==================================  ====================  ===========================
GET    ``/device/{deviceArn}``             GetDevice             200
POST   ``/devices``                        SearchDevices         200
POST   ``/quantum-task``                   CreateQuantumTask     201 ``{quantumTaskArn}``
GET    ``/quantum-task/{quantumTaskArn}``  GetQuantumTask        200
PUT    ``/quantum-task/{arn}/cancel``      CancelQuantumTask     200 ``{cancellationStatus}``
POST   ``/quantum-tasks``                  SearchQuantumTasks    200 ``{quantumTasks, nextToken}``
=====  ==================================  ====================  ===========================

Wire details it follows:

- ARNs in paths arrive percent-encoded (botocore encodes ``:`` and ``/`` of URI labels); each
  path segment is decoded after splitting. ``additionalAttributeNames=QueueInfo`` in the query
  adds ``queueInfo`` to GetQuantumTask, as the SDK always asks.
- ``deviceCapabilities`` and ``deviceParameters`` are JSON *strings* (``jsonvalue`` members);
  timestamps are ISO 8601 strings with milliseconds (``timestampFormat: iso8601``).
- Errors: HTTP status of the error shape, header ``x-amzn-ErrorType: <Code>`` and body
  ``{"message": ...}``, so botocore raises ``ClientError`` with ``Error.Code`` = the shape name.
  An invalid program set adds the modeled ``reason`` (``ProgramSetValidationFailed``) and
  ``programSetValidationFailures`` (``programIndex``, ``errors``) when the fault lies in one
  program. Every answer carries ``x-amzn-RequestId``.
- Idempotency: ``clientToken`` (an ``idempotencyToken``: botocore fills a uuid4 when the
  caller gives none, once per API call, so its own retries resend the same token). A repeat
  with the same token and the same body returns the same ARN and creates nothing; the same token
  with another body is answered ``ConflictException`` (HTTP 409, the status the Braket model
  gives that shape) or, if configured, ``IdempotentParameterMismatchException`` (HTTP 400, the
  EC2/SSM convention). CancelQuantumTask replays the same way.
- Tasks go CREATED -> QUEUED -> RUNNING -> COMPLETED | FAILED (or CANCELLING -> CANCELLED).
  After ``queue_time`` a task runs its OpenQASM 3 ``action`` on ``braket.default_simulator``
  in a worker pool and writes ``s3://{outputS3Bucket}/{outputS3KeyPrefix}/{taskId}/results.json``
  (``braket.task_result.gate_model_task_result`` v1, ``taskMetadata.id`` = the task ARN,
  ``deviceId`` = the device ARN, ``simulatorMetadata.executionDuration``), then turns COMPLETED
  with ``outputS3Directory`` = ``{outputS3KeyPrefix}/{taskId}``. A simulation error turns it
  FAILED with a ``failureReason``.
- Program sets (action ``braket.ir.openqasm.program_set`` v1, advertised by SV1 and DM1 with
  ``maximumExecutables`` and ``maximumTotalShots``; TN1 answers ValidationException): the action
  is validated by the SDK's ``ProgramSet`` model and each source by the OpenQASM parser; program
  ``p`` with list inputs runs one executable per input index ``k`` (inputs ``values[k]``), a
  program without inputs one executable. ``shots`` is the total: a positive multiple of the
  executable count, at most ``maximumTotalShots``, each executable running
  ``shots // executables`` (within the device's shots range). Results go to the same
  directory, in the files the SDK's ``ProgramSetQuantumTaskResult`` reads (paths inside a
  program are relative to the program's directory): ``results.json`` (``ProgramSetTaskResult``,
  ``s3Location`` = [bucket, directory]), ``metadata.json`` (``ProgramSetTaskMetadata``),
  ``programs/{p}/results.json`` (``ProgramResult``), ``programs/{p}/program.json`` and
  ``programs/{p}/executables/{k}.json`` (``ProgramSetExecutableResult`` or
  ``ProgramSetExecutableFailure``). A failing executable (injected, or a simulation error) does
  not fail the task, which COMPLETES with ``numSuccessfulShots`` counting the others; a task
  failed as a whole (``fail_task_*``) still writes results, every executable failed, as the SDK
  reads results of FAILED program sets. GetQuantumTask's ``actionMetadata`` adds
  ``programCount`` and ``executableCount``.
- SearchQuantumTasks filters on ``quantumTaskArn``, ``deviceArn``, ``jobArn``, ``status``
  (operator EQUAL, values OR-ed) and ``createdAt`` (EQUAL, LT, LTE, GT, GTE with one value,
  BETWEEN with two; values ISO 8601 or epoch seconds); filters are AND-ed. Newest first,
  ``maxResults`` 1..100, ``nextToken`` opaque and bound to the filters.

Fault injection (API faults, failing tasks, failing executables of program sets) and
latency: see ``config.EmulatorConfig``. Call record: see ``calls.CallLog``.
Admin endpoints (no latency, no faults, not recorded): ``GET|POST /_emulator/config``,
``POST /_emulator/config/reset``, ``GET /_emulator/calls[?operation=X]``,
``POST /_emulator/calls/reset``, ``GET /_emulator/tasks``, ``POST /_emulator/reset``,
``GET /_emulator/health``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import heapq
import itertools
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulators.braket.calls import CallLog, CallRecord
from tests.emulators.braket.config import IDEMPOTENCY_ERRORS, EmulatorConfig
from tests.emulators.braket.devices import (
    DEVICES,
    OPENQASM_ACTION,
    PROGRAM_SET_ACTION,
    PROGRAM_SET_MAX_EXECUTABLES,
    PROGRAM_SET_MAX_TOTAL_SHOTS,
    DeviceSpec,
    capabilities_json,
    device_by_arn,
)

__all__ = ["FINAL_STATUSES", "STATUSES", "ApiError", "BraketEmulator"]

_log = logging.getLogger(__name__)

STATUSES = ("CREATED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
_SEARCH_NAMES = ("quantumTaskArn", "deviceArn", "jobArn", "status", "createdAt")
_OPERATORS = ("LT", "LTE", "EQUAL", "GT", "GTE", "BETWEEN")
_STOP_JOIN_SECONDS = 5.0
# One simulation at a time in the process: braket.default_simulator's numba kernels are compiled
# on first use, and concurrent compilation from several threads aborts the interpreter.
_SIMULATION_LOCK = threading.Lock()


class ApiError(Exception):
    """An error answer: HTTP status, AWS error code (``x-amzn-ErrorType``), message, and other
    members of the error shape (``details``, e.g. ``programSetValidationFailures``)."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})


_BOTO_LOCK = threading.Lock()


@functools.cache
def _boto_session() -> Any:
    """One boto3 Session for the emulators of the process: creating a client from a Session
    that has loaded the models costs milliseconds instead of about 0.1 s."""
    import boto3

    return boto3.session.Session()


def _validation(message: str, details: Mapping[str, Any] | None = None) -> ApiError:
    return ApiError(400, "ValidationException", message, details)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DDTHH:MM:SS.sssZ``."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _parse_time_ms(value: str) -> int:
    """A createdAt filter value: ISO 8601 (naive = UTC) or epoch seconds."""
    text = value.strip()
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _validation(f"createdAt value {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _json_default(value: Any) -> Any:
    """JSON for what the local simulators put in results: numpy arrays and complex numbers
    (written as ``[re, im]``, which ``GateModelQuantumTaskResult.cast_result_types`` reads)."""
    import numpy as np
    from pydantic.v1.json import pydantic_encoder

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, complex | np.complexfloating):
        return [float(value.real), float(value.imag)]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return pydantic_encoder(value)


@functools.cache
def _quiet_density_matrix_simulator_class() -> type:
    """``DensityMatrixSimulator`` without its UserWarning for noise-free circuits: the managed
    DM1 does not warn, and a warning raised in a worker under ``-W error`` would fail the task.
    (The skipped check only rejects noise on simulators without noise support.)"""
    from braket.default_simulator import DensityMatrixSimulator

    class QuietDensityMatrixSimulator(DensityMatrixSimulator):  # type: ignore[misc]
        def _validate_ir_instructions_compatibility(
            self, circuit_ir: Any, device_action_type: Any
        ) -> None:
            return None

    return QuietDensityMatrixSimulator


def _to_json(document: Any) -> bytes:
    """A result document (a ``BraketSchemaBase``) as written to S3."""
    return str(document.json(exclude_none=True, encoder=_json_default)).encode()


def _simulate(device: DeviceSpec, source: str, inputs: Mapping[str, Any], shots: int) -> Any:
    """Run one OpenQASM program on the device's local simulator: (the
    ``GateModelTaskResult``, the ``Program`` run, the simulation time in milliseconds)."""
    from braket.default_simulator import StateVectorSimulator
    from braket.ir.openqasm import Program

    program = Program(source=source, inputs=dict(inputs))
    simulator = (
        _quiet_density_matrix_simulator_class()()
        if device.simulator == "dm"
        else StateVectorSimulator()
    )
    with _SIMULATION_LOCK:
        started = time.monotonic()
        result = simulator.run(program, shots=shots)
    return result, program, int((time.monotonic() - started) * 1000)


def _simulator_parameters(text: str | None) -> Any:
    """The request's ``deviceParameters`` as ``GateModelSimulatorDeviceParameters`` (for the
    result's task metadata), or None if absent or in another schema."""
    from braket.device_schema.simulators import GateModelSimulatorDeviceParameters

    if not text:
        return None
    try:
        return GateModelSimulatorDeviceParameters.parse_raw(text)
    except Exception:
        return None


def _additional_metadata(program: Any, duration_ms: int) -> Any:
    from braket.task_result import AdditionalMetadata, SimulatorMetadata

    return AdditionalMetadata(
        action=program, simulatorMetadata=SimulatorMetadata(executionDuration=duration_ms)
    )


def _executable_failure(index: int, reason: str, *, retryable: bool, category: str) -> Any:
    """A ``ProgramSetExecutableFailure`` document for the executable of input ``index``."""
    from braket.task_result import ProgramSetExecutableFailure
    from braket.task_result.program_set_executable_failure_v1 import (
        ProgramSetExecutableFailureMetadata,
    )

    metadata = ProgramSetExecutableFailureMetadata(
        failureReason=reason, retryable=retryable, category=category
    )
    return ProgramSetExecutableFailure(inputsIndex=index, failureMetadata=metadata)


def _executable_inputs(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The inputs of each executable of a program-set program, whose inputs are equally long
    lists (one item per executable); a program without inputs is one executable."""
    if not inputs:
        return [{}]
    count = len(next(iter(inputs.values())))
    return [{name: values[k] for name, values in inputs.items()} for k in range(count)]


@dataclass(frozen=True)
class _Action:
    """What a task runs: one OpenQASM program, or the programs of a program set, each as
    ``(source, inputs)`` (in a program set every input value is a list: see
    ``_executable_inputs``)."""

    action_type: str
    programs: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def program_set(self) -> bool:
        return self.action_type == PROGRAM_SET_ACTION

    @property
    def executable_count(self) -> int:
        if not self.program_set:
            return 1
        return sum(len(_executable_inputs(inputs)) for _source, inputs in self.programs)

    def metadata(self) -> dict[str, Any]:
        """``actionMetadata`` of GetQuantumTask (the counts for program sets only)."""
        if not self.program_set:
            return {"actionType": self.action_type}
        return {
            "actionType": self.action_type,
            "programCount": len(self.programs),
            "executableCount": self.executable_count,
        }


@dataclass
class _Results:
    """What a run leaves under the task's directory: objects (relative path -> body, in write
    order, ``results.json`` last) and the number of shots that succeeded."""

    objects: dict[str, bytes] = field(default_factory=dict)
    successful_shots: int = 0


@dataclass(frozen=True)
class _ExecutableRun:
    """One executable of a program set, run: its document (``ProgramSetExecutableResult`` or
    ``ProgramSetExecutableFailure``) and its entry of ``ProgramMetadata.executables``."""

    document: Any
    metadata: Any
    duration_ms: int = 0
    failed: bool = False


class _Interrupted(Exception):
    """The task left RUNNING (a cancel) between two executables of its program set."""


@dataclass
class _Task:
    """One quantum task and its lifecycle state (guarded by the emulator lock)."""

    seq: int
    arn: str
    task_id: str
    device: DeviceSpec
    shots: int
    bucket: str
    prefix: str
    action: _Action
    device_parameters: str | None
    tags: dict[str, str]
    associations: list[dict[str, Any]]
    job_token: str | None
    created_ms: int
    will_fail: bool
    status: str = "CREATED"
    ended_ms: int | None = None
    successful_shots: int = 0
    failure_reason: str | None = None
    running: bool = False
    cancel_due: float | None = None  # monotonic time the cancel completes
    cancel_tokens: set[str] = field(default_factory=set)

    @property
    def directory(self) -> str:
        return f"{self.prefix}/{self.task_id}"


@dataclass
class _CallInfo:
    """What the call record keeps of one request besides timing and status."""

    client_token: str | None = None
    replay: bool = False
    task_arn: str | None = None
    device_arn: str | None = None
    filters: list[dict[str, Any]] | None = None
    max_results: int | None = None
    next_token: str | None = None


@dataclass(order=True)
class _Event:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class _Scheduler:
    """One thread running callbacks at monotonic times (queue ends, slow cancels)."""

    def __init__(self) -> None:
        self._heap: list[_Event] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="braket-emulator-scheduler")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def call_at(self, due: float, action: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, _Event(due, next(self._seq), action))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                if not self._heap or self._heap[0].due > now:
                    wait = 1.0 if not self._heap else min(1.0, self._heap[0].due - now)
                    self._cond.wait(wait)
                    continue
                event = heapq.heappop(self._heap)
            try:
                event.action()
            except Exception:
                _log.exception("braket emulator: scheduled action failed")

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)


class _Server(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that tracks its connections, so ``stop`` can close idle
    keep-alive connections and join their threads instead of leaving them blocked."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: BraketEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="braket-emulator-connection",
        )
        thread.daemon = True
        with self._conn_lock:
            self._conns[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self._conns.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("braket emulator: connection from %s ended with an error", client_address)

    def close_connections(self, timeout: float) -> None:
        with self._conn_lock:
            conns = list(self._conns.items())
        for sock, _thread in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _sock, thread in conns:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the emulator (keep-alive, HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    server_version = "BraketEmulator/1.0"
    timeout = 60  # idle keep-alive connections close after a minute
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("braket emulator: " + format, *args)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        query = parse_qs(parts.query)
        emulator = self.server.emulator
        if segments and segments[0] == "_emulator":
            status, body, headers = emulator._admin(method, segments[1:], query, raw)
        else:
            status, body, headers = emulator._api(method, segments, query, raw)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _route(method: str, segments: list[str]) -> tuple[str, dict[str, str]] | None:
    """Operation name and URI labels of a request path, or None."""
    if not segments:
        return None
    head, rest = segments[0], segments[1:]
    if method == "GET" and head == "device" and rest:
        return "GetDevice", {"deviceArn": "/".join(rest)}
    if method == "POST" and head == "devices" and not rest:
        return "SearchDevices", {}
    if method == "POST" and head == "quantum-task" and not rest:
        return "CreateQuantumTask", {}
    if method == "GET" and head == "quantum-task" and rest:
        return "GetQuantumTask", {"quantumTaskArn": "/".join(rest)}
    if method == "PUT" and head == "quantum-task" and len(rest) >= 2 and rest[-1] == "cancel":
        return "CancelQuantumTask", {"quantumTaskArn": "/".join(rest[:-1])}
    if method == "POST" and head == "quantum-tasks" and not rest:
        return "SearchQuantumTasks", {}
    return None


def _json_response(status: int, payload: Any, request_id: str) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    return status, json.dumps(payload).encode(), headers


def _error_response(error: ApiError, request_id: str) -> tuple[int, bytes, dict[str, str]]:
    headers = {
        "Content-Type": "application/json",
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
    }
    body = {"message": error.message, **error.details}
    return error.status, json.dumps(body).encode(), headers


_GATEWAY_PAGES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def _gateway_response(status: int, request_id: str) -> tuple[int, bytes, dict[str, str]]:
    """A 5xx as a load balancer sends it: an HTML page, no x-amzn-ErrorType."""
    if status == 500:
        error = ApiError(500, "InternalServiceException", "Internal service error")
        return _error_response(error, request_id)
    title = _GATEWAY_PAGES[status]
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return status, page.encode(), {"Content-Type": "text/html", "x-amzn-RequestId": request_id}


def _str_member(
    body: Mapping[str, Any], name: str, *, required: bool, low: int = 0, high: int | None = None
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _validation(
                f"1 validation error detected: Value null at '{name}' failed to satisfy "
                "constraint: Member must not be null"
            )
        return None
    if not isinstance(value, str):
        raise _validation(f"'{name}' must be a string")
    if len(value) < low or (high is not None and len(value) > high):
        raise _validation(
            f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
            f"Member must have length between {low} and {high}"
        )
    return value


def _openqasm_error(source: str) -> str | None:
    """Why the OpenQASM 3 parser rejects ``source``, or None if it parses."""
    from braket.default_simulator.openqasm.parser.openqasm_parser import parse

    try:
        parse(source)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None


def _program_set_error(failures: Mapping[int, list[str]], problems: list[str]) -> ApiError:
    """A ValidationException for an invalid program set; ``failures``: errors per program
    index, also returned as the modeled ``programSetValidationFailures`` member."""
    details: dict[str, Any] = {}
    if failures:
        details = {
            "reason": "ProgramSetValidationFailed",
            "programSetValidationFailures": [
                {"programIndex": index, "errors": errors}
                for index, errors in sorted(failures.items())
            ],
        }
    return _validation(f"Invalid program set: {'; '.join(problems)}", details)


def _parse_program_set(action: Mapping[str, Any]) -> _Action:
    """A ``braket.ir.openqasm.program_set`` action, validated by the SDK's model (every input
    value a list, the lists of a program equally long) and each source by the OpenQASM parser."""
    from braket.ir.openqasm import ProgramSet
    from pydantic.v1 import ValidationError

    failures: dict[int, list[str]] = {}
    problems: list[str] = []

    def fail(location: tuple[Any, ...], message: str) -> None:
        problems.append(f"{'.'.join(map(str, location))}: {message}")
        if len(location) >= 2 and location[0] == "programs" and isinstance(location[1], int):
            failures.setdefault(location[1], []).append(message)

    try:
        program_set = ProgramSet.parse_obj(action)
    except ValidationError as exc:
        for problem in exc.errors():
            fail(tuple(problem["loc"]), str(problem["msg"]))
        raise _program_set_error(failures, problems) from None
    programs = tuple((p.source, dict(p.inputs or {})) for p in program_set.programs)
    for index, (source, inputs) in enumerate(programs):
        if not _executable_inputs(inputs):
            fail(("programs", index), "the program has no executables (empty input lists)")
        parse_error = _openqasm_error(source)
        if parse_error is not None:
            fail(("programs", index, "source"), f"Invalid OpenQASM program: {parse_error}")
    if problems:
        raise _program_set_error(failures, problems)
    return _Action(PROGRAM_SET_ACTION, programs)


@dataclass
class _CreateRequest:
    device: DeviceSpec
    shots: int
    bucket: str
    prefix: str
    action: _Action
    device_parameters: str | None
    tags: dict[str, str]
    associations: list[dict[str, Any]]
    job_token: str | None


class BraketEmulator:
    """The emulator: an HTTP server on 127.0.0.1, a scheduler thread and a worker pool.

    ``start()`` returns the base URL (point ``AWS_ENDPOINT_URL_BRAKET`` / ``BRAKET_ENDPOINT`` at
    it); ``stop()`` closes everything and is idempotent. Results go to the S3 endpoint
    ``s3_endpoint_url`` (moto's server in tests) with boto3; without one they are kept in memory
    (``results_json``, ``results_object``).
    """

    def __init__(
        self,
        *,
        s3_endpoint_url: str | None = None,
        config: EmulatorConfig | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        max_workers: int = 4,
        aws_access_key_id: str = "testing",
        aws_secret_access_key: str = "testing",
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the Braket emulator listens on loopback addresses only")
        self.config = config or EmulatorConfig()
        self.calls = CallLog()
        self.region = region
        self.account_id = account_id
        self._host = host
        self._port = port
        self._max_workers = max_workers
        self._s3_endpoint_url = s3_endpoint_url
        self._credentials = (aws_access_key_id, aws_secret_access_key)
        self._lock = threading.RLock()
        self._tasks: dict[str, _Task] = {}
        self._order: list[_Task] = []
        self._tokens: dict[str, tuple[str, str, float]] = {}  # token -> (fingerprint, arn, t)
        self._memory_objects: dict[tuple[str, str], bytes] = {}  # (arn, path) -> body
        self._known_buckets: set[str] = set()
        self._seq = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._scheduler: _Scheduler | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._s3: Any = None
        self._url: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the Braket emulator is not started")
        return self._url

    def start(self) -> str:
        """Start serving on a free loopback port (or the one given); returns the base URL."""
        if self._server is not None:
            return self.url
        if self._s3_endpoint_url:
            from botocore.config import Config

            with _BOTO_LOCK:  # a boto3 Session is not thread-safe; its clients are
                self._s3 = _boto_session().client(
                    "s3",
                    endpoint_url=self._s3_endpoint_url,
                    region_name=self.region,
                    aws_access_key_id=self._credentials[0],
                    aws_secret_access_key=self._credentials[1],
                    config=Config(
                        retries={"total_max_attempts": 3, "mode": "standard"},
                        max_pool_connections=self._max_workers + 4,
                    ),
                )
        self._stopping.clear()
        self._scheduler = _Scheduler()
        self._scheduler.start()
        self._executor = ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="braket-emulator-worker"
        )
        self._server = _Server((self._host, self._port), self)
        self._url = f"http://127.0.0.1:{self._server.server_port}"
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="braket-emulator-http",
        )
        self._serve_thread.daemon = True
        self._serve_thread.start()
        return self._url

    def stop(self, timeout: float = _STOP_JOIN_SECONDS) -> None:
        """Stop serving, close connections, stop the scheduler and the workers. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections(timeout)
        server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout)
        if self._scheduler is not None:
            self._scheduler.stop(timeout)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._s3 is not None:
            self._s3.close()
            self._s3 = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> BraketEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers for tests --------------------------------------------------------------------

    def task_arn(self, task_id: str) -> str:
        return f"arn:aws:braket:{self.region}:{self.account_id}:quantum-task/{task_id}"

    def tasks(self) -> list[dict[str, Any]]:
        """Every task as GetQuantumTask would describe it, oldest first."""
        with self._lock:
            return [self._describe(task, queue_info=True) for task in self._order]

    def task(self, arn: str) -> dict[str, Any]:
        with self._lock:
            task = self._tasks.get(arn)
            if task is None:
                raise KeyError(arn)
            return self._describe(task, queue_info=True)

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
            body = self._memory_objects.get((arn, path))
        if body is not None:
            return body.decode()
        if self._s3 is None:
            raise KeyError(f"no object {path!r} for {arn}")
        answer = self._s3.get_object(Bucket=task.bucket, Key=f"{task.directory}/{path}")
        return str(answer["Body"].read().decode())

    def reset(self) -> None:
        """Forget tasks, client tokens and calls, and restore the initial config."""
        with self._lock:
            self._tasks.clear()
            self._order.clear()
            self._tokens.clear()
            self._memory_objects.clear()
        self.calls.reset()
        self.config.reset()

    # --- HTTP: admin --------------------------------------------------------------------------

    def _admin(
        self, method: str, segments: list[str], query: Mapping[str, list[str]], raw: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        request_id = str(uuid.uuid4())
        path = "/".join(segments)
        try:
            if (method, path) == ("GET", "health"):
                return _json_response(200, {"status": "ok", "url": self._url}, request_id)
            if (method, path) == ("GET", "config"):
                return _json_response(200, self.config.as_dict(), request_id)
            if (method, path) == ("POST", "config"):
                changes = json.loads(raw or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                self.config.update_from_json(changes)
                return _json_response(200, self.config.as_dict(), request_id)
            if (method, path) == ("POST", "config/reset"):
                self.config.reset()
                return _json_response(200, self.config.as_dict(), request_id)
            if (method, path) == ("GET", "calls"):
                operation = query.get("operation", [None])[0]
                return _json_response(200, self.calls.to_json(operation), request_id)
            if (method, path) in (("POST", "calls/reset"), ("DELETE", "calls")):
                self.calls.reset()
                return _json_response(200, {"calls": [], "counts": {}}, request_id)
            if (method, path) == ("GET", "tasks"):
                return _json_response(200, {"tasks": self.tasks()}, request_id)
            if (method, path) == ("POST", "reset"):
                self.reset()
                return _json_response(200, {"status": "ok"}, request_id)
        except (ValueError, TypeError) as exc:
            return _error_response(ApiError(400, "ValidationException", str(exc)), request_id)
        error = ApiError(404, "UnknownOperationException", f"no admin route {method} /{path}")
        return _error_response(error, request_id)

    # --- HTTP: API ----------------------------------------------------------------------------

    def _api(
        self, method: str, segments: list[str], query: Mapping[str, list[str]], raw: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        arrival_mono, arrival_wall = time.monotonic(), time.time()
        request_id = str(uuid.uuid4())
        route = _route(method, segments)
        operation = route[0] if route else "UnknownOperation"
        labels = route[1] if route else {}
        info = _CallInfo()
        fault: str | None = None
        try:
            if route is None:
                raise ApiError(404, "UnknownOperationException", f"{method} /{'/'.join(segments)}")
            latency = self.config.latency(operation)
            if latency > 0:
                self._stopping.wait(latency)
            body, parse_error = self._parse_body(raw)
            self._note(operation, labels, body, info)
            if self.config.take_fault("throttle", operation):
                fault = "throttle"
                raise ApiError(429, "ThrottlingException", "Rate exceeded")
            if self.config.take_fault("error_before_commit", operation):
                fault = "error_before_commit"
                raise ApiError(500, "InternalServiceException", "Internal service error")
            if parse_error is not None:
                raise parse_error
            status, payload = self._operation(operation, labels, query, body, info)
            if self.config.take_fault("error_after_commit", operation):
                fault = "error_after_commit"
                after_status = int(self.config.get("error_after_commit_status"))
                answer = _gateway_response(after_status, request_id)
            else:
                answer = _json_response(status, payload, request_id)
        except ApiError as error:
            answer = _error_response(error, request_id)
        except Exception as exc:  # a bug in the emulator: answer 500, keep serving
            _log.exception("braket emulator: %s failed", operation)
            bug = ApiError(500, "InternalServiceException", f"emulator error: {exc}")
            answer = _error_response(bug, request_id)
        error_code = answer[2].get("x-amzn-ErrorType")
        if error_code is None and answer[0] >= 400:
            error_code = str(answer[0])
        self.calls.record(
            CallRecord(
                operation=operation,
                monotonic=arrival_mono,
                wall=arrival_wall,
                duration=time.monotonic() - arrival_mono,
                status=answer[0],
                request_id=request_id,
                error_code=error_code,
                fault=fault,
                client_token=info.client_token,
                replay=info.replay,
                task_arn=info.task_arn,
                device_arn=info.device_arn,
                filters=info.filters,
                max_results=info.max_results,
                next_token=info.next_token,
            )
        )
        return answer

    @staticmethod
    def _parse_body(raw: bytes) -> tuple[dict[str, Any], ApiError | None]:
        if not raw.strip():
            return {}, None
        try:
            body = json.loads(raw)
        except ValueError:
            return {}, _validation("the request body is not valid JSON")
        if not isinstance(body, dict):
            return {}, _validation("the request body must be a JSON object")
        return body, None

    @staticmethod
    def _note(
        operation: str, labels: Mapping[str, str], body: Mapping[str, Any], info: _CallInfo
    ) -> None:
        token = body.get("clientToken")
        info.client_token = token if isinstance(token, str) else None
        info.task_arn = labels.get("quantumTaskArn")
        device = labels.get("deviceArn", body.get("deviceArn"))
        info.device_arn = device if isinstance(device, str) else None
        if operation == "SearchQuantumTasks":
            filters = body.get("filters")
            info.filters = filters if isinstance(filters, list) else None
            max_results = body.get("maxResults")
            info.max_results = max_results if isinstance(max_results, int) else None
            next_token = body.get("nextToken")
            info.next_token = next_token if isinstance(next_token, str) else None

    def _operation(
        self,
        operation: str,
        labels: Mapping[str, str],
        query: Mapping[str, list[str]],
        body: dict[str, Any],
        info: _CallInfo,
    ) -> tuple[int, dict[str, Any]]:
        if operation == "GetDevice":
            return 200, self._get_device(labels["deviceArn"])
        if operation == "SearchDevices":
            return 200, self._search_devices(body)
        if operation == "CreateQuantumTask":
            return 201, self._create(body, info)
        if operation == "GetQuantumTask":
            names = query.get("additionalAttributeNames", [])
            for name in names:
                if name != "QueueInfo":
                    raise _validation(f"unknown additionalAttributeNames value {name!r}")
            return 200, self._get(labels["quantumTaskArn"], queue_info="QueueInfo" in names)
        if operation == "CancelQuantumTask":
            return 200, self._cancel(labels["quantumTaskArn"], body)
        if operation == "SearchQuantumTasks":
            return 200, self._search(body)
        raise ApiError(404, "UnknownOperationException", operation)

    # --- devices ------------------------------------------------------------------------------

    def _device_state(self, spec: DeviceSpec) -> str:
        return str(self.config.get("device_status").get(spec.arn, "ONLINE"))

    def _queue_sizes(self, device_arn: str) -> tuple[int, int]:
        normal = priority = 0
        with self._lock:
            for task in self._order:
                if task.device.arn == device_arn and task.status in ("CREATED", "QUEUED"):
                    if task.job_token:
                        priority += 1
                    else:
                        normal += 1
        return normal, priority

    def _lookup_device(self, arn: str) -> DeviceSpec:
        if not arn.startswith("arn:"):
            raise _validation(f"'{arn}' is not a valid device ARN")
        spec = device_by_arn(arn)
        if spec is None:
            raise ApiError(404, "ResourceNotFoundException", f"Braket device '{arn}' not found")
        return spec

    def _get_device(self, arn: str) -> dict[str, Any]:
        spec = self._lookup_device(arn)
        poll_ms = int(self.config.get("poll_interval_ms"))
        normal, priority = self._queue_sizes(arn)
        return {
            "deviceArn": spec.arn,
            "deviceName": spec.name,
            "providerName": spec.provider_name,
            "deviceType": spec.device_type,
            "deviceStatus": self._device_state(spec),
            "deviceCapabilities": capabilities_json(spec.arn, poll_ms),
            "deviceQueueInfo": [
                {
                    "queue": "QUANTUM_TASKS_QUEUE",
                    "queueSize": str(normal),
                    "queuePriority": "Normal",
                },
                {
                    "queue": "QUANTUM_TASKS_QUEUE",
                    "queueSize": str(priority),
                    "queuePriority": "Priority",
                },
                {"queue": "JOBS_QUEUE", "queueSize": "0"},
            ],
        }

    def _search_devices(self, body: Mapping[str, Any]) -> dict[str, Any]:
        filters = body.get("filters") or []
        arns: set[str] | None = None
        for item in filters:
            if not isinstance(item, dict) or item.get("name") != "deviceArn":
                raise _validation("SearchDevices filters on deviceArn only")
            arns = set(item.get("values") or []) if arns is None else arns & set(item["values"])
        devices = [
            {
                "deviceArn": spec.arn,
                "deviceName": spec.name,
                "providerName": spec.provider_name,
                "deviceType": spec.device_type,
                "deviceStatus": self._device_state(spec),
            }
            for spec in DEVICES.values()
            if arns is None or spec.arn in arns
        ]
        return {"devices": devices}

    # --- CreateQuantumTask --------------------------------------------------------------------

    @staticmethod
    def _fingerprint(body: Mapping[str, Any]) -> str:
        rest = {k: v for k, v in body.items() if k != "clientToken"}
        return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()

    def _replay(self, token: str, fingerprint: str) -> str | None:
        """The ARN created earlier with this token (same body), None if the token is new."""
        known = self._tokens.get(token)
        if known is None:
            return None
        ttl = self.config.get("client_token_ttl")
        error_code = str(self.config.get("idempotency_mismatch_error"))
        if ttl is not None and time.monotonic() - known[2] > ttl:
            del self._tokens[token]
            return None
        if known[0] != fingerprint:
            raise ApiError(
                IDEMPOTENCY_ERRORS[error_code],
                error_code,
                f"clientToken '{token}' was already used with different parameters "
                f"(quantum task {known[1]})",
            )
        return known[1]

    def _validate_create(self, body: Mapping[str, Any]) -> _CreateRequest:
        for name in ("deviceArn", "shots", "outputS3Bucket", "outputS3KeyPrefix", "action"):
            if body.get(name) is None:
                raise _validation(
                    f"1 validation error detected: Value null at '{name}' failed to satisfy "
                    "constraint: Member must not be null"
                )
        device_arn = _str_member(body, "deviceArn", required=True, low=1, high=256) or ""
        spec = self._lookup_device(device_arn)
        state = self._device_state(spec)
        if state == "OFFLINE":
            raise ApiError(424, "DeviceOfflineException", f"Device {device_arn} is offline")
        if state == "RETIRED":
            raise ApiError(410, "DeviceRetiredException", f"Device {device_arn} is retired")
        shots = body["shots"]
        if isinstance(shots, bool) or not isinstance(shots, int):
            raise _validation("'shots' must be an integer")
        bucket = _str_member(body, "outputS3Bucket", required=True, low=3, high=63) or ""
        prefix = _str_member(body, "outputS3KeyPrefix", required=True, low=1, high=1024) or ""
        action_text = _str_member(body, "action", required=True, low=1) or ""
        action = self._parse_action(action_text, spec)
        if action.program_set:
            self._check_program_set_shots(spec, shots, action.executable_count)
        elif not spec.shots_min <= shots <= spec.shots_max:
            raise _validation(
                f"Number of shots {shots} is not within the shots range "
                f"[{spec.shots_min}, {spec.shots_max}] of device {device_arn}"
            )
        device_parameters = _str_member(body, "deviceParameters", required=False, low=1)
        if device_parameters is not None:
            try:
                json.loads(device_parameters)
            except ValueError:
                raise _validation("'deviceParameters' is not valid JSON") from None
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise _validation("'tags' must map strings to strings")
        associations = body.get("associations") or []
        if not isinstance(associations, list) or len(associations) > 1:
            raise _validation("'associations' must be a list of at most 1 item")
        job_token = _str_member(body, "jobToken", required=False, low=1, high=128)
        self._check_bucket(bucket)
        return _CreateRequest(
            device=spec,
            shots=shots,
            bucket=bucket,
            prefix=prefix,
            action=action,
            device_parameters=device_parameters,
            tags=dict(tags),
            associations=list(associations),
            job_token=job_token,
        )

    @staticmethod
    def _parse_action(text: str, spec: DeviceSpec) -> _Action:
        try:
            action = json.loads(text)
        except ValueError:
            raise _validation("'action' is not valid JSON") from None
        if not isinstance(action, dict):
            raise _validation("'action' must be a JSON object")
        header = action.get("braketSchemaHeader")
        name = header.get("name") if isinstance(header, dict) else None
        if name == PROGRAM_SET_ACTION and name not in spec.actions:
            raise _validation(
                f"Device {spec.name} ({spec.arn}) does not support program sets: it does not "
                f"advertise the action '{PROGRAM_SET_ACTION}'"
            )
        if name not in spec.actions:
            raise _validation(
                f"Action type {name!r} is not supported by this device; "
                f"supported: {list(spec.actions)}"
            )
        if name == PROGRAM_SET_ACTION:
            return _parse_program_set(action)
        source = action.get("source")
        if not isinstance(source, str) or not source.strip():
            raise _validation("the OpenQASM program has no 'source'")
        inputs = action.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise _validation("the OpenQASM program 'inputs' must be an object")
        error = _openqasm_error(source)
        if error is not None:
            raise _validation(f"Invalid OpenQASM program: {error}")
        return _Action(OPENQASM_ACTION, ((source, dict(inputs)),))

    @staticmethod
    def _check_program_set_shots(spec: DeviceSpec, shots: int, executables: int) -> None:
        """``shots`` of a program set is the total over its executables."""
        if executables > PROGRAM_SET_MAX_EXECUTABLES:
            raise _validation(
                f"The program set has {executables} executables; device {spec.name} accepts at "
                f"most {PROGRAM_SET_MAX_EXECUTABLES} (maximumExecutables)"
            )
        if shots <= 0 or shots % executables:
            raise _validation(
                f"Number of shots {shots} is not a positive multiple of the {executables} "
                "executables of the program set ('shots' is the total over the executables)"
            )
        if shots > PROGRAM_SET_MAX_TOTAL_SHOTS:
            raise _validation(
                f"Number of shots {shots} exceeds the maximum total shots "
                f"{PROGRAM_SET_MAX_TOTAL_SHOTS} of a program set on device {spec.name} "
                "(maximumTotalShots)"
            )
        if shots // executables > spec.shots_max:
            raise _validation(
                f"{shots // executables} shots per executable are not within the shots range "
                f"[{spec.shots_min}, {spec.shots_max}] of device {spec.name}"
            )

    def _check_bucket(self, bucket: str) -> None:
        check = bool(self.config.get("check_output_bucket"))
        with self._lock:
            known = bucket in self._known_buckets
        if not check or self._s3 is None or known:
            return
        try:
            self._s3.head_bucket(Bucket=bucket)
        except Exception:
            raise _validation(
                f"Caller doesn't have access to s3://{bucket} or it doesn't exist."
            ) from None
        with self._lock:
            self._known_buckets.add(bucket)

    def _create(self, body: Mapping[str, Any], info: _CallInfo) -> dict[str, Any]:
        token = _str_member(body, "clientToken", required=True, low=1, high=64) or ""
        fingerprint = self._fingerprint(body)
        with self._lock:
            earlier = self._replay(token, fingerprint)
        if earlier is not None:
            info.replay, info.task_arn = True, earlier
            return {"quantumTaskArn": earlier}
        request = self._validate_create(body)
        will_fail = self.config.task_should_fail(request.tags)
        quota = self.config.get("max_active_tasks")
        queue_time = float(self.config.get("queue_time"))
        with self._lock:
            earlier = self._replay(token, fingerprint)  # a concurrent twin may have won
            if earlier is not None:
                info.replay, info.task_arn = True, earlier
                return {"quantumTaskArn": earlier}
            if quota is not None:
                active = sum(1 for t in self._order if t.status not in FINAL_STATUSES)
                if active >= quota:
                    raise ApiError(
                        402,
                        "ServiceQuotaExceededException",
                        f"Too many active quantum tasks ({active}, quota {quota})",
                    )
            task_id = str(uuid.uuid4())
            task = _Task(
                seq=next(self._seq),
                arn=self.task_arn(task_id),
                task_id=task_id,
                device=request.device,
                shots=request.shots,
                bucket=request.bucket,
                prefix=request.prefix,
                action=request.action,
                device_parameters=request.device_parameters,
                tags=request.tags,
                associations=request.associations,
                job_token=request.job_token,
                created_ms=_now_ms(),
                will_fail=will_fail,
            )
            self._tasks[task.arn] = task
            self._order.append(task)
            self._tokens[token] = (fingerprint, task.arn, time.monotonic())
        info.task_arn = task.arn
        scheduler = self._scheduler
        if scheduler is not None:
            now = time.monotonic()
            scheduler.call_at(now, lambda: self._mark_queued(task))
            scheduler.call_at(now + queue_time, lambda: self._start_running(task))
        return {"quantumTaskArn": task.arn}

    # --- task lifecycle -----------------------------------------------------------------------

    def _mark_queued(self, task: _Task) -> None:
        with self._lock:
            if task.status == "CREATED":
                task.status = "QUEUED"

    def _start_running(self, task: _Task) -> None:
        with self._lock:
            if task.status not in ("CREATED", "QUEUED"):
                return
            task.status = "RUNNING"
            task.running = True
        executor = self._executor
        try:
            if executor is None:
                raise RuntimeError("no worker pool")
            executor.submit(self._execute, task)
        except RuntimeError:  # stopping: the task stays RUNNING, as on a dead service
            with self._lock:
                task.running = False

    def _finish(self, task: _Task, status: str, reason: str | None = None) -> None:
        task.status = status
        task.failure_reason = reason
        task.ended_ms = _now_ms()

    def _finish_cancel_if_due(self, task: _Task) -> None:
        """CANCELLING -> CANCELLED once the cancel delay passed and no simulation runs."""
        with self._lock:
            if task.status != "CANCELLING" or task.running or task.cancel_due is None:
                return
            if time.monotonic() + 1e-3 >= task.cancel_due:
                self._finish(task, "CANCELLED")

    def _execute(self, task: _Task) -> None:
        run_time = float(self.config.get("run_time"))
        reason = str(self.config.get("fail_task_reason"))
        if run_time > 0:
            self._stopping.wait(run_time)
        with self._lock:
            cancelled = task.status != "RUNNING"
        if cancelled:
            with self._lock:
                task.running = False
            self._finish_cancel_if_due(task)
            return
        failure = reason if task.will_fail else None
        successful = 0
        try:
            results = self._results(task, failure)
            successful = results.successful_shots
            with self._lock:
                write = task.status == "RUNNING"
            if write:
                self._write_objects(task, results.objects)
        except Exception as exc:  # a cancel interrupting a program set ends below as well
            failure = f"{type(exc).__name__}: {exc}"
        with self._lock:
            task.running = False
            if task.status == "RUNNING":
                task.successful_shots = successful
                self._finish(task, "COMPLETED" if failure is None else "FAILED", failure)
                return
        self._finish_cancel_if_due(task)

    def _results(self, task: _Task, failure: str | None) -> _Results:
        """The objects a run writes: none for a failed single program (a failed program set
        still writes its results, every executable failed with ``failure``)."""
        if task.action.program_set:
            return self._program_set_results(task, failure)
        if failure is not None:
            return _Results()
        return _Results({"results.json": self._program_result(task)}, task.shots)

    def _program_result(self, task: _Task) -> bytes:
        """``results.json`` of a single program: a ``GateModelTaskResult``."""
        from braket.task_result import TaskMetadata

        source, inputs = task.action.programs[0]
        result, program, duration_ms = _simulate(task.device, source, inputs, task.shots)
        result.taskMetadata = TaskMetadata(
            id=task.arn,
            shots=task.shots,
            deviceId=task.device.arn,
            deviceParameters=_simulator_parameters(task.device_parameters),
            createdAt=_iso(task.created_ms),
            endedAt=_iso(_now_ms()),
            status="COMPLETED",
        )
        result.additionalMetadata = _additional_metadata(program, duration_ms)
        return _to_json(result)

    def _program_set_results(self, task: _Task, failure: str | None) -> _Results:
        """The files of a program set, as the SDK's ``ProgramSetQuantumTaskResult`` reads them
        (paths relative to the task directory, and within a program to its directory)::

            results.json                       ProgramSetTaskResult (s3Location, paths)
            metadata.json                      ProgramSetTaskMetadata
            programs/{p}/results.json          ProgramResult
            programs/{p}/program.json          the Program, with its list inputs
            programs/{p}/executables/{k}.json  ProgramSetExecutableResult or ...Failure
        """
        from braket.ir.openqasm import Program
        from braket.task_result import ProgramResult, ProgramSetTaskMetadata, ProgramSetTaskResult
        from braket.task_result.program_set_task_metadata_v1 import ProgramMetadata

        shots = task.shots // task.action.executable_count
        results = _Results()
        program_paths: list[str] = []
        program_metadata: list[Any] = []
        failed = 0
        for index, (source, inputs) in enumerate(task.action.programs):
            directory = f"programs/{index}"
            executable_paths: list[str] = []
            executables: list[Any] = []
            duration_ms = 0
            for k, values in enumerate(_executable_inputs(inputs)):
                run = self._run_executable(task, source, values, k, shots, failure)
                path = f"executables/{k}.json"
                results.objects[f"{directory}/{path}"] = _to_json(run.document)
                executable_paths.append(path)
                executables.append(run.metadata)
                failed += run.failed
                duration_ms += run.duration_ms
            program = Program(source=source, inputs=inputs or None)
            results.objects[f"{directory}/program.json"] = _to_json(program)
            results.objects[f"{directory}/results.json"] = _to_json(
                ProgramResult(
                    source="program.json",
                    executableResults=executable_paths,
                    additionalMetadata=_additional_metadata(program, duration_ms),
                )
            )
            program_paths.append(f"{directory}/results.json")
            program_metadata.append(ProgramMetadata(executables=executables))
        results.successful_shots = shots * (task.action.executable_count - failed)
        results.objects["metadata.json"] = _to_json(
            ProgramSetTaskMetadata(
                id=task.arn,
                deviceId=task.device.arn,
                requestedShots=task.shots,
                successfulShots=results.successful_shots,
                programMetadata=program_metadata,
                deviceParameters=_simulator_parameters(task.device_parameters),
                createdAt=_iso(task.created_ms),
                endedAt=_iso(_now_ms()),
                status="COMPLETED" if failure is None else "FAILED",
                totalFailedExecutables=failed,
            )
        )
        results.objects["results.json"] = _to_json(
            ProgramSetTaskResult(
                programResults=program_paths,
                taskMetadata="metadata.json",
                s3Location=(task.bucket, task.directory),
            )
        )
        return results

    def _run_executable(
        self,
        task: _Task,
        source: str,
        inputs: Mapping[str, Any],
        index: int,
        shots: int,
        failure: str | None,
    ) -> _ExecutableRun:
        """Run the executable of input ``index`` of a program for ``shots`` (``failure``: the
        whole task failed, so does every executable). Injected faults fail it as retryable
        DEVICE failures; a simulation error, as a COMPILATION failure not worth a retry."""
        from braket.task_result import ProgramSetExecutableResult
        from braket.task_result.program_set_executable_result_v1 import (
            ProgramSetExecutableResultMetadata,
        )

        with self._lock:
            if task.status != "RUNNING":
                raise _Interrupted(f"the task is {task.status}")
        if failure is None and self.config.executable_should_fail(task.tags, inputs):
            failure = str(self.config.get("fail_executable_reason"))
        if failure is not None:
            document = _executable_failure(index, failure, retryable=True, category="DEVICE")
            return _ExecutableRun(document, document.failureMetadata, failed=True)
        try:
            result, _program, duration_ms = _simulate(task.device, source, inputs, shots)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            document = _executable_failure(index, reason, retryable=False, category="COMPILATION")
            return _ExecutableRun(document, document.failureMetadata, failed=True)
        document = ProgramSetExecutableResult(
            inputsIndex=index,
            measurements=result.measurements,
            measurementProbabilities=result.measurementProbabilities,
            measuredQubits=result.measuredQubits,
        )
        return _ExecutableRun(document, ProgramSetExecutableResultMetadata(), duration_ms)

    def _write_objects(self, task: _Task, objects: Mapping[str, bytes]) -> None:
        """Write the objects under the task's directory in S3, in order (in memory without S3)."""
        if self._s3 is None:
            with self._lock:
                for path, body in objects.items():
                    self._memory_objects[(task.arn, path)] = body
            return
        for path, body in objects.items():
            self._s3.put_object(
                Bucket=task.bucket,
                Key=f"{task.directory}/{path}",
                Body=body,
                ContentType="application/json",
            )

    # --- GetQuantumTask / CancelQuantumTask ---------------------------------------------------

    def _find(self, arn: str) -> _Task:
        if not arn.startswith("arn:"):
            raise _validation(f"'{arn}' is not a valid quantum task ARN")
        task = self._tasks.get(arn)
        if task is None:
            raise ApiError(404, "ResourceNotFoundException", f"Quantum task {arn} not found")
        return task

    def _queue_position(self, task: _Task) -> int:
        position = 1
        for other in self._order:
            if other.seq >= task.seq:
                break
            if (
                other.device.arn == task.device.arn
                and other.status in ("CREATED", "QUEUED")
                and bool(other.job_token) == bool(task.job_token)
            ):
                position += 1
        return position

    def _summary(self, task: _Task) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "quantumTaskArn": task.arn,
            "status": task.status,
            "deviceArn": task.device.arn,
            "shots": task.shots,
            "outputS3Bucket": task.bucket,
            "outputS3Directory": task.directory,
            "createdAt": _iso(task.created_ms),
            "tags": dict(task.tags),
        }
        if task.ended_ms is not None:
            summary["endedAt"] = _iso(task.ended_ms)
        return summary

    def _describe(self, task: _Task, *, queue_info: bool) -> dict[str, Any]:
        described = self._summary(task)
        described["deviceParameters"] = task.device_parameters or "{}"
        described["actionMetadata"] = task.action.metadata()
        if task.associations:
            described["associations"] = list(task.associations)
        if task.status == "FAILED":
            described["failureReason"] = task.failure_reason or "Task failed"
        if task.status == "COMPLETED":
            described["numSuccessfulShots"] = task.successful_shots
        if queue_info:
            priority = "Priority" if task.job_token else "Normal"
            if task.status in ("CREATED", "QUEUED"):
                described["queueInfo"] = {
                    "queue": "QUANTUM_TASKS_QUEUE",
                    "position": str(self._queue_position(task)),
                    "queuePriority": priority,
                }
            else:
                described["queueInfo"] = {
                    "queue": "QUANTUM_TASKS_QUEUE",
                    "position": "None",
                    "queuePriority": priority,
                    "message": f"Task is in {task.status} status. AmazonBraket does not show "
                    "queue position for this status.",
                }
        return described

    def _get(self, arn: str, *, queue_info: bool) -> dict[str, Any]:
        with self._lock:
            return self._describe(self._find(arn), queue_info=queue_info)

    def _cancel(self, arn: str, body: Mapping[str, Any]) -> dict[str, Any]:
        token = _str_member(body, "clientToken", required=True, low=1, high=64) or ""
        delay = float(self.config.get("cancel_delay"))
        with self._lock:
            task = self._find(arn)
            if token in task.cancel_tokens:
                state = "CANCELLED" if task.status == "CANCELLED" else "CANCELLING"
                return {"quantumTaskArn": arn, "cancellationStatus": state}
            if task.status in FINAL_STATUSES:
                raise ApiError(
                    409,
                    "ConflictException",
                    f"Quantum task {arn} is in terminal state {task.status} and cannot be "
                    "cancelled",
                )
            task.cancel_tokens.add(token)
            if task.status == "CANCELLING":
                return {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"}
            task.cancel_due = time.monotonic() + delay
            if delay <= 0 and not task.running:
                self._finish(task, "CANCELLED")
                return {"quantumTaskArn": arn, "cancellationStatus": "CANCELLED"}
            task.status = "CANCELLING"
            due = task.cancel_due
        if self._scheduler is not None:
            self._scheduler.call_at(due, lambda: self._finish_cancel_if_due(task))
        return {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"}

    # --- SearchQuantumTasks -------------------------------------------------------------------

    @staticmethod
    def _compile_filter(item: Any) -> Callable[[_Task], bool]:
        if not isinstance(item, dict):
            raise _validation("each filter must be an object with name, operator and values")
        name, operator, values = item.get("name"), item.get("operator"), item.get("values")
        if name not in _SEARCH_NAMES:
            raise _validation(f"Invalid filter name {name!r}; valid names: {list(_SEARCH_NAMES)}")
        if operator not in _OPERATORS:
            raise _validation(f"Invalid filter operator {operator!r}")
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= 10
            or not all(isinstance(v, str) for v in values)
        ):
            raise _validation(f"Filter {name}: 'values' must hold 1 to 10 strings")
        if name != "createdAt":
            if operator != "EQUAL":
                raise _validation(f"Filter {name} supports the EQUAL operator only")
            if name == "status" and not set(values) <= set(STATUSES):
                raise _validation(f"Invalid status values {sorted(set(values) - set(STATUSES))}")
            wanted = set(values)
            if name == "quantumTaskArn":
                return lambda t: t.arn in wanted
            if name == "deviceArn":
                return lambda t: t.device.arn in wanted
            if name == "status":
                return lambda t: t.status in wanted
            return lambda t: False  # jobArn: the emulator runs no hybrid jobs
        moments = [_parse_time_ms(v) for v in values]
        if operator == "BETWEEN":
            if len(moments) != 2:
                raise _validation("Filter createdAt with BETWEEN takes exactly 2 values")
            low, high = min(moments), max(moments)
            return lambda t: low <= t.created_ms <= high
        if len(moments) != 1:
            raise _validation(f"Filter createdAt with {operator} takes exactly 1 value")
        moment = moments[0]
        compare: dict[str, Callable[[int], bool]] = {
            "EQUAL": lambda c: c == moment,
            "LT": lambda c: c < moment,
            "LTE": lambda c: c <= moment,
            "GT": lambda c: c > moment,
            "GTE": lambda c: c >= moment,
        }
        test = compare[operator]
        return lambda t: test(t.created_ms)

    @staticmethod
    def _encode_token(seq: int, filters_hash: str) -> str:
        raw = json.dumps({"s": seq, "f": filters_hash}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @staticmethod
    def _decode_token(token: str, filters_hash: str) -> int:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            seq, bound = int(decoded["s"]), decoded["f"]
        except (ValueError, KeyError, TypeError):
            raise _validation("Invalid nextToken") from None
        if bound != filters_hash:
            raise _validation("nextToken does not belong to these filters")
        return seq

    def _search(self, body: Mapping[str, Any]) -> dict[str, Any]:
        filters = body.get("filters")
        if filters is None:
            raise _validation(
                "1 validation error detected: Value null at 'filters' failed to satisfy "
                "constraint: Member must not be null"
            )
        if not isinstance(filters, list) or len(filters) > 10:
            raise _validation("'filters' must be a list of at most 10 filters")
        tests = [self._compile_filter(item) for item in filters]
        max_results = body.get("maxResults")
        if max_results is None:
            max_results = int(self.config.get("search_page_size"))
        elif isinstance(max_results, bool) or not isinstance(max_results, int):
            raise _validation("'maxResults' must be an integer")
        elif not 1 <= max_results <= 100:
            raise _validation("'maxResults' must be between 1 and 100")
        filters_hash = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()
        token = body.get("nextToken")
        below = (
            self._decode_token(token, filters_hash) if isinstance(token, str) and token else None
        )
        page: list[dict[str, Any]] = []
        more = False
        last_seq = 0
        with self._lock:
            for task in reversed(self._order):  # newest first
                if below is not None and task.seq >= below:
                    continue
                if not all(test(task) for test in tests):
                    continue
                if len(page) == max_results:
                    more = True
                    break
                page.append(self._summary(task))
                last_seq = task.seq
        answer: dict[str, Any] = {"quantumTasks": page}
        if more:
            answer["nextToken"] = self._encode_token(last_seq, filters_hash)
        return answer
