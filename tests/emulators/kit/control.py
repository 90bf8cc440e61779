"""The control channel of an emulator: ``/_emulator/...`` routes, and a client for them.

Tests in the emulator's process use the Python objects (``emulator.faults``, ``.calls``,
``.config``); a test or benchmark driving the emulator from another process uses these
routes, through ``AdminClient``::

    admin = AdminClient("http://127.0.0.1:PORT")
    admin.add_fault("throttle", operations=["CreateQuantumTask"], next=3)
    admin.set_config(queue_time=0.2)
    admin.wait_for_calls(3, "CreateQuantumTask")
    admin.counts()  # {"CreateQuantumTask": 3, ...}

=======  ============================  ===================================================
verb     path under ``/_emulator``     does
=======  ============================  ===================================================
GET      ``/health``                   ``{"status": "ok", "url", "service"}``
GET      ``/config``                   the settings (Python-only ones as booleans)
POST     ``/config``                   change some settings (JSON object); returns them all
POST     ``/config/reset``             settings back to their initial values
GET      ``/calls``                    ``{"calls", "counts"}``; ``?operation=&status=&fault=``
GET      ``/calls/wait``               ``?count=N&operation=&timeout=``: blocks until N calls
                                       match (408 after ``timeout`` seconds, at most 60)
POST     ``/calls/reset``              forget the calls (also ``DELETE /calls``)
GET      ``/faults``                   ``{"faults": [rule, ...]}`` with ``seen``, ``fired``
POST     ``/faults``                   add a rule (``faults.Fault`` fields as JSON)
DELETE   ``/faults``                   remove every rule; ``DELETE /faults/{id}``: one
POST     ``/faults/reset``             back to the initial rules
POST     ``/reset``                    the emulator's ``reset()``: everything forgotten
=======  ============================  ===================================================

Errors are ``{"code", "message"}`` with HTTP 400 (a bad value), 404 (no such route) or 408.
Services add their own routes with ``@admin_route`` (e.g. Braket's ``GET /tasks``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode, urlsplit

from tests.emulators.kit.http import ApiError, Request, Response, admin_route

if TYPE_CHECKING:
    from tests.emulators.kit.calls import CallLog
    from tests.emulators.kit.faults import Faults
    from tests.emulators.kit.settings import Settings

__all__ = ["AdminClient", "ControlRoutes"]

_MAX_WAIT = 60.0


def _where(request: Request) -> dict[str, Any]:
    where: dict[str, Any] = {}
    status = request.query_value("status")
    if status is not None:
        where["status"] = None if status in ("", "none") else int(status)
    fault = request.query_value("fault")
    if fault is not None:
        where["fault"] = fault
    return where


class ControlRoutes:
    """The routes of the table above, mixed into ``server.Emulator``."""

    name: ClassVar[str]
    config: Settings | None
    calls: CallLog
    faults: Faults

    @property
    def url(self) -> str:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    @admin_route("GET", "/health")
    def _control_health(self, request: Request) -> tuple[int, Any]:
        return 200, {"status": "ok", "url": self.url, "service": self.name}

    @admin_route("GET", "/config")
    def _control_config(self, request: Request) -> tuple[int, Any]:
        return 200, {} if self.config is None else self.config.as_dict()

    @admin_route("POST", "/config")
    def _control_set_config(self, request: Request) -> tuple[int, Any]:
        changes = json.loads(request.raw or b"{}")
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        if self.config is None:
            if changes:
                raise ValueError(f"the {self.name} emulator has no settings")
            return 200, {}
        self.config.update_from_json(changes)
        return 200, self.config.as_dict()

    @admin_route("POST", "/config/reset")
    def _control_reset_config(self, request: Request) -> tuple[int, Any]:
        if self.config is not None:
            self.config.reset()
        return self._control_config(request)

    @admin_route("GET", "/calls")
    def _control_calls(self, request: Request) -> tuple[int, Any]:
        return 200, self.calls.to_json(request.query_value("operation"), **_where(request))

    @admin_route("GET", "/calls/wait")
    def _control_wait_calls(self, request: Request) -> tuple[int, Any]:
        count = int(request.query_value("count") or 1)
        timeout = min(float(request.query_value("timeout") or 10.0), _MAX_WAIT)
        operation = request.query_value("operation")
        try:
            self.calls.wait_for(count, operation, timeout=timeout, **_where(request))
        except TimeoutError as exc:
            raise ApiError(408, "Timeout", str(exc)) from None
        return 200, self.calls.to_json(operation, **_where(request))

    @admin_route("POST", "/calls/reset")
    @admin_route("DELETE", "/calls")
    def _control_reset_calls(self, request: Request) -> tuple[int, Any]:
        self.calls.reset()
        return 200, {"calls": [], "counts": {}}

    @admin_route("GET", "/faults")
    def _control_faults(self, request: Request) -> tuple[int, Any]:
        return 200, {"faults": self.faults.rules()}

    @admin_route("POST", "/faults")
    def _control_add_fault(self, request: Request) -> tuple[int, Any]:
        rule = json.loads(request.raw or b"{}")
        if not isinstance(rule, dict):
            raise ValueError("the body must be a JSON object")
        return 200, self.faults.add_json(rule)

    @admin_route("DELETE", "/faults")
    def _control_clear_faults(self, request: Request) -> tuple[int, Any]:
        self.faults.clear()
        return 200, {"faults": []}

    @admin_route("DELETE", "/faults/{rule_id}")
    def _control_remove_fault(self, request: Request) -> tuple[int, Any]:
        self.faults.remove(int(request.labels["rule_id"]))
        return self._control_faults(request)

    @admin_route("POST", "/faults/reset")
    def _control_reset_faults(self, request: Request) -> tuple[int, Any]:
        self.faults.reset()
        return self._control_faults(request)

    @admin_route("POST", "/reset")
    def _control_reset(self, request: Request) -> Response:
        self.reset()
        return Response.json(200, {"status": "ok"})


class AdminClient:
    """``/_emulator/...`` over HTTP (stdlib ``urllib``; loopback URLs only). 4xx answers raise
    ``urllib.error.HTTPError``; ``wait_for_calls`` raises TimeoutError."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"not a loopback URL: {url}")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def call(
        self, method: str, path: str, payload: Any = None, timeout: float | None = None
    ) -> Any:
        """One control request (``path`` under ``/_emulator/``); the JSON answer."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout or self.timeout) as answer:
            return json.loads(answer.read() or b"null")

    def health(self) -> dict[str, Any]:
        return dict(self.call("GET", "health"))

    def config(self) -> dict[str, Any]:
        return dict(self.call("GET", "config"))

    def set_config(self, **changes: Any) -> dict[str, Any]:
        """Change some settings (by field name); returns them all."""
        return dict(self.call("POST", "config", changes))

    def reset_config(self) -> dict[str, Any]:
        return dict(self.call("POST", "config/reset", {}))

    def calls(self, operation: str | None = None, **where: Any) -> list[dict[str, Any]]:
        """The calls (dicts of ``Call`` fields and parameters), oldest first; ``where``:
        ``status``, ``fault``."""
        return list(self.call("GET", "calls" + _query(operation, where))["calls"])

    def counts(self) -> dict[str, int]:
        return dict(self.call("GET", "calls")["counts"])

    def wait_for_calls(
        self, count: int, operation: str | None = None, *, timeout: float = 10.0, **where: Any
    ) -> list[dict[str, Any]]:
        """Block (server-side) until ``count`` calls match; returns them. TimeoutError after
        ``timeout`` seconds (at most 60)."""
        query = _query(operation, {**where, "count": count, "timeout": timeout})
        try:
            answer = self.call("GET", "calls/wait" + query, timeout=timeout + 5)
        except urllib.error.HTTPError as exc:
            if exc.code != 408:
                raise
            exc.close()
            raise TimeoutError(f"{count} calls of {operation or 'any operation'}") from None
        return list(answer["calls"])

    def reset_calls(self) -> None:
        self.call("POST", "calls/reset", {})

    def faults(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "faults")["faults"])

    def add_fault(self, kind: str, **rule: Any) -> dict[str, Any]:
        """Add a rule (``faults.Fault`` fields: ``operations``, ``next``, ``calls``, ``rate``,
        ``seed``, ``status``, ``retry_after``, ``seconds``); returns it with its id."""
        return dict(self.call("POST", "faults", {"kind": kind, **rule}))

    def clear_faults(self) -> None:
        self.call("DELETE", "faults")

    def reset_faults(self) -> None:
        self.call("POST", "faults/reset", {})

    def reset(self) -> None:
        """Everything forgotten: the emulator's resources, calls; faults and config initial."""
        self.call("POST", "reset", {})


def _query(operation: str | None, where: dict[str, Any]) -> str:
    params = {k: ("none" if v is None else v) for k, v in where.items()}
    if operation is not None:
        params["operation"] = operation
    return f"?{urlencode(params)}" if params else ""
