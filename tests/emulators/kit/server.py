"""The HTTP server every emulator runs on: ``Emulator``, a base class.

A subclass declares its operations with ``@route`` and its wire shape with a ``Protocol``;
the base class does the rest, for every request:

1. read it (``Content-Length`` or chunked, gunzip), split and percent-decode the path, find
   the route; an unknown route gets the protocol's unknown-operation error (404);
2. ``call_params(request)``: the key parameters the call record keeps (the subclass says which);
3. the faults before commit (``faults.Faults.before_commit``): latency, then 429, 5xx, a
   dropped connection or a held-then-dropped one, instead of running the handler;
4. the handler: ``(status, payload)``, a ``Response``, or ``ApiError``; any other exception is
   a bug of the emulator, answered as the protocol's HTTP 500 and logged;
5. on success (2xx) the faults after commit: 5xx, dropped connection, held answer;
6. the call is recorded (``calls.CallLog``), then the answer sent with the protocol's request
   id header.

Requests under ``/_emulator/`` are the control channel (``control``): never faulted, delayed or
recorded. The server listens on a loopback address only, one thread per connection (HTTP/1.1
keep-alive). ``stop()`` closes idle keep-alive connections, ends held answers and latency at
once, stops the ``JobEngine`` and joins every thread it started; it is idempotent, and the
emulator is a context manager, so ``with Emulator() as e:`` always stops it.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulators.kit.calls import Call, CallLog
from tests.emulators.kit.control import ControlRoutes
from tests.emulators.kit.faults import Fault, FaultKind, Faults
from tests.emulators.kit.http import (
    ApiError,
    Protocol,
    Request,
    Response,
    Route,
    collect_routes,
    gateway_page,
)
from tests.emulators.kit.jobs import JobEngine
from tests.emulators.kit.settings import Settings

__all__ = ["Emulator", "Outcome"]

_log = logging.getLogger(__name__)
_LOOPBACK = ("127.0.0.1", "localhost")
_STOP_JOIN_SECONDS = 5.0
_MAX_LINE = 65_537


@dataclass(frozen=True)
class Outcome:
    """What the connection does with a request: send ``response`` (None: close without an
    answer) after holding it ``hold`` seconds."""

    response: Response | None
    hold: float = 0.0


class Emulator(ControlRoutes):
    """Base of a cloud emulator (see the module doc and the package doc)."""

    name: ClassVar[str] = "emulator"  # thread names, the Server header
    protocol: ClassVar[Protocol] = Protocol()

    def __init__(
        self,
        *,
        config: Settings | None = None,
        faults: Iterable[Fault] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        max_workers: int = 4,
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the {self.name} emulator listens on loopback addresses only")
        self.routes: list[Route] = collect_routes(type(self))
        self.operations = sorted({r.operation for r in self.routes if not r.admin})
        self.config = config
        self.faults = Faults(faults, operations=self.operations)
        self.calls = CallLog()
        self.jobs = JobEngine(max_workers=max_workers, name=self.name)
        self._host, self._port = host, port
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._url: str | None = None

    # --- hooks for subclasses -----------------------------------------------------------------

    def on_start(self) -> None:
        """Called by ``start`` before serving (open clients of other services...)."""

    def on_stop(self) -> None:
        """Called by ``stop`` once nothing runs any more (close those clients)."""

    def call_params(self, request: Request) -> dict[str, Any]:
        """The key parameters of a request for the call record (labels, body members)."""
        return {}

    def reset(self) -> None:
        """Forget the calls; faults and config back to their initial rules and values; drop
        scheduled job steps. Subclasses also forget their resources (and call this)."""
        self.jobs.clear()
        self.calls.reset()
        self.faults.reset()
        if self.config is not None:
            self.config.reset()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError(f"the {self.name} emulator is not started")
        return self._url

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        """Serve on a free loopback port (or the one given); returns the base URL."""
        if self._server is not None:
            return self.url
        server = _Server((self._host, self._port), self)
        try:
            self._stopping.clear()
            self.on_start()
            self.jobs.start()
        except BaseException:
            server.server_close()
            raise
        self._server = server
        self._url = f"http://127.0.0.1:{server.server_port}"
        self._serve_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-http",
            daemon=True,
        )
        self._serve_thread.start()
        return self._url

    def stop(self, timeout: float = _STOP_JOIN_SECONDS) -> None:
        """Stop serving, close connections, stop the job engine. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self._url = None
        server.shutdown()
        server.close_connections(timeout)
        server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout)
        self.jobs.stop(timeout)
        self.on_stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pause(self, seconds: float) -> bool:
        """Sleep unless the emulator stops first; True if it slept the whole time."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    # --- one request --------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Outcome:
        """Handle one request (``headers`` with lower-case names) and record it."""
        arrival_mono, arrival_wall = time.monotonic(), time.time()
        parts = urlsplit(target)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        if segments and segments[-1] == "":
            segments.pop()  # a trailing slash
        request = Request(
            method=method,
            path=parts.path,
            segments=segments,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            raw=raw,
            request_id=str(uuid.uuid4()),
        )
        found = self._find_route(method, segments)
        if found is not None and found[0].admin:
            return Outcome(self._finish(request, self._control(found[0], found[1], request)))
        if "gzip" in headers.get("content-encoding", "").lower():
            try:
                request.raw = gzip.decompress(raw)
            except (OSError, EOFError):
                error = self.protocol.validation("the gzip request body is corrupt")
                return Outcome(self._finish(request, self.protocol.error(error, request)))
        if found is None:
            request.operation = "UnknownOperation"
            error = self.protocol.unknown_operation(method, parts.path)
            response = self._finish(request, self.protocol.error(error, request))
            self._record(request, arrival_mono, arrival_wall, response, None, False)
            return Outcome(response)
        request.operation, request.labels = found[0].operation, found[1]
        try:
            request.params = dict(self.call_params(request))
        except Exception:  # a malformed request: the handler will say why
            _log.debug("%s emulator: no call parameters for %s", self.name, request.operation)
        return self._faulted(request, found[0], arrival_mono, arrival_wall)

    def _faulted(self, request: Request, route: Route, mono: float, wall: float) -> Outcome:
        decision = self.faults.before_commit(request.operation)
        self.pause(decision.latency)
        fault = decision.outcome
        committed = False
        response: Response | None
        if fault is not None:
            response = self._fault_response(fault, request)
        else:
            response = self._run(route, request)
            committed = 200 <= response.status < 300
            fault = self.faults.after_commit(request.operation) if committed else None
            if fault is not None and fault.kind != FaultKind.TIMEOUT_AFTER_COMMIT:
                response = self._fault_response(fault, request)  # else: sent late, as is
        if response is not None:
            response = self._finish(request, response)
        self._record(request, mono, wall, response, fault, committed)
        hold = fault.seconds if fault is not None and fault.kind != FaultKind.LATENCY else 0.0
        return Outcome(response, hold)

    def _fault_response(self, fault: Fault, request: Request) -> Response | None:
        """The answer an outcome fault gives instead of the operation's (None: none at all)."""
        kind = fault.kind
        if kind == FaultKind.THROTTLE:
            return self.protocol.error(self.protocol.throttled(fault.retry_after), request)
        if kind in (FaultKind.ERROR_BEFORE_COMMIT, FaultKind.ERROR_AFTER_COMMIT):
            if fault.status == 500:
                return self.protocol.error(self.protocol.internal(), request)
            return gateway_page(fault.status)
        return None  # drop_*, timeout_*

    def _run(self, route: Route, request: Request) -> Response:
        try:
            reply = getattr(self, route.handler)(request)
        except ApiError as error:
            return self.protocol.error(error, request)
        except Exception as exc:  # a bug in the emulator: answer 500, keep serving
            _log.exception("%s emulator: %s failed", self.name, request.operation)
            return self.protocol.error(self.protocol.internal(f"emulator error: {exc}"), request)
        if isinstance(reply, Response):
            return reply
        status, payload = reply
        return self.protocol.success(status, payload, request)

    def _control(self, route: Route, labels: dict[str, str], request: Request) -> Response:
        request.operation, request.labels = route.operation, labels
        try:
            reply = getattr(self, route.handler)(request)
        except ApiError as error:
            return Protocol().error(error, request)
        except (ValueError, TypeError, KeyError) as exc:
            return Protocol().error(ApiError(400, "InvalidControlRequest", str(exc)), request)
        if isinstance(reply, Response):
            return reply
        return Response.json(reply[0], reply[1])

    def _find_route(self, method: str, segments: list[str]) -> tuple[Route, dict[str, str]] | None:
        for candidate in self.routes:
            labels = candidate.match(method, segments)
            if labels is not None:
                return candidate, labels
        return None

    def _finish(self, request: Request, response: Response) -> Response:
        response.headers.setdefault(self.protocol.request_id_header, request.request_id)
        accepts = "gzip" in request.headers.get("accept-encoding", "").lower()
        if self.protocol.gzip_responses and accepts and response.body:
            response.body = gzip.compress(response.body)
            response.headers["Content-Encoding"] = "gzip"
        return response

    def _record(
        self,
        request: Request,
        mono: float,
        wall: float,
        response: Response | None,
        fault: Fault | None,
        committed: bool,
    ) -> None:
        self.calls.record(
            Call(
                seq=0,
                operation=request.operation,
                method=request.method,
                path=request.path,
                monotonic=mono,
                wall=wall,
                duration=time.monotonic() - mono,
                status=None if response is None else response.status,
                request_id=request.request_id,
                error_code=None if response is None else response.error_code,
                fault=None if fault is None else fault.kind.value,
                committed=committed,
                params=dict(request.params),
            )
        )


class _Server(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that tracks its connections, so ``stop`` can close idle
    keep-alive connections and join their threads instead of leaving them blocked."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"{self.emulator.name}-connection",
            daemon=True,
        )
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
        _log.debug("emulator: connection from %s ended with an error", client_address)

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
    """Reads one HTTP request, hands it to the emulator, writes the outcome (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections close after a minute
    server: _Server

    def version_string(self) -> str:
        return f"{self.server.emulator.name}-emulator"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("emulator: " + format, *args)

    def _read_body(self) -> bytes | None:
        """The request's body; None when the client went away before sending all of it (a
        killed client): such a request never arrived, and nothing is done with it."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(_MAX_LINE)
                if not line:
                    return None
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(_MAX_LINE).strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    return None
                chunks.append(chunk)
                self.rfile.readline(_MAX_LINE)
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return b""
        body = self.rfile.read(length)
        return body if len(body) == length else None

    def _handle(self, method: str) -> None:
        raw = self._read_body()
        if raw is None:  # cut short: the client is gone
            self.close_connection = True
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        emulator = self.server.emulator
        outcome = emulator.dispatch(method, self.path, headers, raw)
        if outcome.hold > 0:
            emulator.pause(outcome.hold)
        response = outcome.response
        if response is None:  # close without an answer
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)
