"""A kit for wire-compatible cloud emulators: what every emulator needs, written once.

An emulator built on it is mostly its service's API surface: one module declaring routes and
answer shapes, the resources they act on, and their lifecycle. The kit supplies the HTTP
server, fault injection, the call record, the control channel, settings, a job engine and
the local simulators. The real SDK talks to it over HTTP on a loopback port, unmodified.

Modules: ``server`` (``Emulator``, the base class), ``http`` (``Request``, ``Response``,
``ApiError``, ``Protocol``, ``route``), ``faults`` (what each fault does on the wire),
``calls`` (the record), ``control`` (``/_emulator/...`` and ``AdminClient``), ``settings``,
``jobs`` (``JobEngine``: queue time, run time, a worker pool), ``simulators``
(``run_openqasm``), ``environ`` (endpoint variables for SDKs).

Writing an emulator
-------------------

1. The wire shape. Subclass ``Protocol``: the request id header, the error codes for
   throttling, internal errors, validation and unknown operations, and ``error()`` (and
   ``success()`` if answers are wrapped)::

    class PasqalProtocol(Protocol):
        request_id_header = "x-request-id"
        throttle_code, internal_code, validation_code = "429", "500", "400"

        def success(self, status, payload, request):
            return Response.json(status, {"status": "success", "code": status,
                                          "message": "OK", "data": payload})

        def error(self, error, request):
            body = {"status": "fail", "code": error.status, "message": error.message,
                    "data": {"description": error.code, **error.details}}
            return Response.json(error.status, body, error.headers, error.code)

2. The settings that are not API faults (queue time, how jobs fail), as a dataclass
   subclass of ``Settings`` with ``validate``.

3. The emulator: a subclass of ``Emulator`` with one method per operation. A route pattern
   names path labels (``{id}``, ``{id}:cancel``, greedy ``{arn+}``); the operation name is
   what fault rules and the call record use::

    class PasqalEmulator(Emulator):
        name = "pasqal"
        protocol = PasqalProtocol()

        def __init__(self, **kwargs):
            super().__init__(config=kwargs.pop("config", None) or PasqalSettings(), **kwargs)
            self._lock = threading.Lock()
            self._batches = {}

        def call_params(self, request):   # what the call record keeps of each call
            return {"batch_id": request.labels.get("batch_id"), "tags": ...}

        @route("POST", "/api/v1/batches", "CreateBatch")
        def create_batch(self, request):
            body = request.json_object(self.protocol.validation)   # gunzipped, parsed
            ...                                                     # commit: store it
            self.jobs.lifecycle(queue_time=..., run_time=..., queued=..., start=..., work=...)
            return 200, batch.to_json()

        @route("GET", "/api/v2/batches/{batch_id}", "GetBatch")
        def get_batch(self, request):
            batch = self._batches.get(request.labels["batch_id"])
            if batch is None:
                raise ApiError(404, "NotFound", "batch not found")
            return 200, batch.to_json()

        def reset(self):
            with self._lock:
                self._batches.clear()
            super().reset()

   Run programs in ``work`` (on the pool, never on an HTTP thread) with
   ``simulators.run_openqasm``. Extra control routes: ``@admin_route("GET", "/batches")``.

4. A fixture module: a session-scoped fixture that starts the emulator once per test run and
   always stops it (``with PasqalEmulator() as emulator: yield emulator``), and a function-
   scoped one that calls ``emulator.reset()`` and points the SDK at ``emulator.url``
   (``environ.apply_with``). Braket's ``fixture.py`` is the example.

Using one in a test
-------------------

Faults (``faults`` says what each does on the wire); each call returns the rule's id::

    emulator.faults.throttle(next=2)                                   # 429 + Retry-After
    emulator.faults.error(operations=["CreateBatch"], rate=0.1, seed=7)  # 500, nothing done
    emulator.faults.error(after_commit=True, status=502, calls=(2, 3))   # done, then 502
    emulator.faults.drop(after_commit=True, next=1)     # done, connection closed, no answer
    emulator.faults.latency(0.2)                        # every call 200 ms later
    emulator.faults.timeout(30, after_commit=True, next=1)  # done, answer held 30 s
    emulator.faults.clear()

From another process: ``AdminClient(url).add_fault("throttle", next=2)``.

The record: ``emulator.calls.calls("CreateBatch", status=502)``, ``.counts()``,
``.wait_for(3, "CreateBatch")`` (blocks until three such calls were answered; never sleep
blindly), each ``Call`` with its time, status, fault, ``committed`` and parameters.
"""

from tests.emulators.kit.calls import Call, CallLog
from tests.emulators.kit.control import AdminClient
from tests.emulators.kit.faults import Fault, FaultKind, Faults
from tests.emulators.kit.http import (
    ApiError,
    Protocol,
    Request,
    Response,
    admin_route,
    gateway_page,
    route,
)
from tests.emulators.kit.jobs import JobEngine
from tests.emulators.kit.server import Emulator
from tests.emulators.kit.settings import Settings

__all__ = [
    "AdminClient",
    "ApiError",
    "Call",
    "CallLog",
    "Emulator",
    "Fault",
    "FaultKind",
    "Faults",
    "JobEngine",
    "Protocol",
    "Request",
    "Response",
    "Settings",
    "admin_route",
    "gateway_page",
    "route",
]
