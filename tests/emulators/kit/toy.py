"""A toy service for the kit's own tests, and the smallest example of an emulator on the kit.

=====  ================================  ===========  ========================================
verb   path                              operation    does
=====  ================================  ===========  ========================================
PUT    ``/stores/{store}/items/{name}``  PutItem      stores the JSON body; 201, 409 if exists
GET    ``/stores/{store}/items/{name}``  GetItem      the body stored; 404
GET    ``/stores/{store}/items``         ListItems    ``{"items": [names]}``
GET    ``/blobs/{path+}``                GetBlob      ``{"path": ...}`` (a greedy label)
POST   ``/jobs``                         CreateJob    a job: QUEUED, RUNNING, then DONE
GET    ``/jobs/{job_id}``                GetJob       ``{"id", "status"}``
POST   ``/jobs/{job_id}:cancel``         CancelJob    CANCELLED unless DONE (409)
POST   ``/bug``                          Bug          raises a Python error (an emulator bug)
=====  ================================  ===========  ========================================

Errors are Azure-shaped (``{"error": {"code", "message"}}``, ``x-ms-request-id``); answers
are gzipped for clients that accept it. ``send`` is a plain ``http.client`` request, one
connection each, always closed.
"""

from __future__ import annotations

import functools
import http.client
import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

from tests.emulators.kit import ApiError, Emulator, Protocol, Request, Response, Settings, route

__all__ = ["AzureLikeProtocol", "ToyEmulator", "ToySettings", "send"]


class AzureLikeProtocol(Protocol):
    request_id_header = "x-ms-request-id"
    throttle_code = "TooManyRequests"
    internal_code = "InternalServerError"
    validation_code = "BadRequest"
    unknown_operation_code = "NotFound"
    gzip_responses = True

    def error(self, error: ApiError, request: Request | None) -> Response:
        body = {"error": {"code": error.code, "message": error.message, **error.details}}
        return Response.json(error.status, body, error.headers, error.code)


@dataclass
class ToySettings(Settings):
    queue_time: float = 0.0
    run_time: float = 0.0

    @classmethod
    def validate(cls, values: Any) -> None:
        for name in ("queue_time", "run_time"):
            if float(values.get(name, 0.0)) < 0:
                raise ValueError(f"{name} must be >= 0")


class ToyEmulator(Emulator):
    name = "toy"
    protocol = AzureLikeProtocol()

    def __init__(self, **kwargs: Any) -> None:
        self.config: ToySettings = ToySettings()
        super().__init__(config=self.config, **kwargs)
        self._lock = threading.Lock()
        self.items: dict[tuple[str, str], Any] = {}
        self.jobs_status: dict[str, str] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        with self._lock:
            self.items.clear()
            self.jobs_status.clear()
        super().reset()

    def call_params(self, request: Request) -> dict[str, Any]:
        return {"store": request.labels.get("store"), "name": request.labels.get("name")}

    @route("PUT", "/stores/{store}/items/{name}", "PutItem")
    def put_item(self, request: Request) -> tuple[int, Any]:
        body = request.json_object(self.protocol.validation)
        key = (request.labels["store"], request.labels["name"])
        with self._lock:
            if key in self.items:
                raise ApiError(409, "Conflict", f"item {key[1]} exists")
            self.items[key] = body
        return 201, {"name": key[1]}

    @route("GET", "/stores/{store}/items/{name}", "GetItem")
    def get_item(self, request: Request) -> tuple[int, Any]:
        with self._lock:
            found = self.items.get((request.labels["store"], request.labels["name"]))
        if found is None:
            raise ApiError(404, "NotFound", "no such item")
        return 200, found

    @route("GET", "/stores/{store}/items", "ListItems")
    def list_items(self, request: Request) -> tuple[int, Any]:
        with self._lock:
            names = sorted(n for s, n in self.items if s == request.labels["store"])
        return 200, {"items": names}

    @route("GET", "/blobs/{path+}", "GetBlob")
    def get_blob(self, request: Request) -> tuple[int, Any]:
        return 200, {"path": request.labels["path"], "query": request.query}

    @route("POST", "/jobs", "CreateJob")
    def create_job(self, request: Request) -> tuple[int, Any]:
        job_id = f"job-{next(self._ids)}"
        with self._lock:
            self.jobs_status[job_id] = "NEW"
        self.jobs.lifecycle(
            queue_time=float(self.config.get("queue_time")),
            run_time=float(self.config.get("run_time")),
            queued=functools.partial(self._move, job_id, "NEW", "QUEUED"),
            start=functools.partial(self._move, job_id, "QUEUED", "RUNNING"),
            work=functools.partial(self._move, job_id, "RUNNING", "DONE"),
        )
        return 201, {"id": job_id}

    def _move(self, job_id: str, before: str, after: str) -> bool:
        with self._lock:
            if self.jobs_status.get(job_id) != before:
                return False
            self.jobs_status[job_id] = after
            return True

    @route("GET", "/jobs/{job_id}", "GetJob")
    def get_job(self, request: Request) -> tuple[int, Any]:
        with self._lock:
            status = self.jobs_status.get(request.labels["job_id"])
        if status is None:
            raise ApiError(404, "NotFound", "no such job")
        return 200, {"id": request.labels["job_id"], "status": status}

    @route("POST", "/jobs/{job_id}:cancel", "CancelJob")
    def cancel_job(self, request: Request) -> tuple[int, Any]:
        job_id = request.labels["job_id"]
        with self._lock:
            status = self.jobs_status.get(job_id)
            if status is None:
                raise ApiError(404, "NotFound", "no such job")
            if status == "DONE":
                raise ApiError(409, "Conflict", "the job is done")
            self.jobs_status[job_id] = "CANCELLED"
        return 200, {"id": job_id, "status": "CANCELLED"}

    @route("POST", "/bug", "Bug")
    def bug(self, request: Request) -> tuple[int, Any]:
        raise RuntimeError("a bug in the emulator")


def send(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection: (status, headers with lower-case names, body).
    Raises what ``http.client`` raises (``RemoteDisconnected``, ``TimeoutError``...)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()
