"""Requests, responses, error shapes and routes of an emulated REST service.

A request reaches a handler as a ``Request``: its verb, its path split on ``/`` and each segment
percent-decoded after the split (so an ARN sent as one encoded label stays one segment), the
labels its route pattern captured, the query (``parse_qs``), the headers, and the body: raw
bytes, gunzipped when sent with ``Content-Encoding: gzip``, and parsed as JSON when it is JSON.

A handler answers with ``(status, payload)`` (the protocol turns it into JSON), with a
``Response``, or raises ``ApiError`` (the protocol shapes the error). The wire shape of both is
the service's: subclass ``Protocol``. Examples of shapes it must express:

- AWS REST-JSON (Braket): header ``x-amzn-ErrorType: <Code>``, body ``{"message": ...}``;
- Pasqal Cloud: every answer wrapped as ``{"status", "code", "message", "data"}``;
- Azure: ``{"error": {"code", "message"}}``.

Route patterns are paths whose segments are literals, ``{name}`` (one segment, possibly with a
literal prefix or suffix: ``{jobId}:cancel``) or one greedy ``{name+}`` (one or more segments,
joined by ``/``): ``/quantum-task/{quantumTaskArn+}/cancel``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "ApiError",
    "Handler",
    "Protocol",
    "Reply",
    "Request",
    "Response",
    "Route",
    "admin_route",
    "collect_routes",
    "gateway_page",
    "route",
]


class ApiError(Exception):
    """An error answer: HTTP status, the service's error code, a message, more members of the
    error body (``details``) and headers. The ``Protocol`` decides how they go on the wire."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


@dataclass
class Response:
    """An answer ready to send. ``error_code`` is what the call record shows (None on success)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None

    @classmethod
    def json(
        cls,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        error_code: str | None = None,
    ) -> Response:
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(payload).encode(), merged, error_code)


@dataclass
class Request:
    """One API request as a handler sees it (see the module doc). ``params`` are the key
    parameters the call record keeps; handlers may add to them (e.g. ``replay``)."""

    method: str
    path: str  # as sent, percent-encoded, without the query
    segments: list[str]  # percent-decoded, one per ``/``-separated part of the path
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    raw: bytes  # the body, gunzipped (set before any handler reads it)
    request_id: str
    labels: dict[str, str] = field(default_factory=dict)
    operation: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def _parsed(self) -> tuple[Any, str | None]:
        """(the body parsed as JSON or None, why it is not JSON or None); parsed once."""
        if not self.raw.strip():
            return None, None
        try:
            return json.loads(self.raw), None
        except ValueError:
            return None, "the request body is not valid JSON"

    @property
    def body(self) -> Any:
        """The body parsed as JSON; None when empty or not JSON."""
        return self._parsed[0]

    def json_object(self, invalid: Callable[[str], ApiError]) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty); ``invalid(message)`` is raised when
        it is not JSON or not an object (the protocol's validation error)."""
        value, error = self._parsed
        if error is not None:
            raise invalid(error)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise invalid("the request body must be a JSON object")
        return value

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None


Reply = Response | tuple[int, Any]
Handler = Callable[[Any, Request], Reply]


class Protocol:
    """The wire shape of a service's answers. The defaults: JSON bodies, errors as
    ``{"code", "message", **details}``, a request id in ``x-request-id``. Override what the
    service does differently (the header names, the codes, ``success``, ``error``)."""

    request_id_header = "x-request-id"
    throttle_code = "TooManyRequests"
    throttle_message = "Rate exceeded"
    internal_code = "InternalServerError"
    internal_message = "Internal service error"
    validation_code = "ValidationError"
    unknown_operation_code = "UnknownOperation"
    gzip_responses = False  # gzip an answer when the client accepts it

    def success(self, status: int, payload: Any, request: Request) -> Response:
        """A handler's ``(status, payload)`` on the wire."""
        return Response.json(status, payload)

    def error(self, error: ApiError, request: Request | None) -> Response:
        """An ``ApiError`` on the wire. ``request`` is None when it could not be parsed."""
        body = {"code": error.code, "message": error.message, **error.details}
        return Response.json(error.status, body, error.headers, error.code)

    def validation(self, message: str) -> ApiError:
        """The error a malformed request gets (HTTP 400)."""
        return ApiError(400, self.validation_code, message)

    def throttled(self, retry_after: int | None) -> ApiError:
        """What an injected 429 raises; ``Retry-After`` in whole seconds unless None."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return ApiError(429, self.throttle_code, self.throttle_message, headers=headers)

    def internal(self, message: str | None = None) -> ApiError:
        """An HTTP 500 of the service itself (not a gateway page)."""
        return ApiError(500, self.internal_code, message or self.internal_message)

    def unknown_operation(self, method: str, path: str) -> ApiError:
        return ApiError(404, self.unknown_operation_code, f"no operation {method} {path}")


_GATEWAY_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def gateway_page(status: int) -> Response:
    """A 502/503/504 as a load balancer in front of any service sends it: an HTML page, none
    of the service's error headers (``error_code`` is the status as text)."""
    title = _GATEWAY_TITLES[status]
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return Response(status, page.encode(), {"Content-Type": "text/html"}, str(status))


# --- routes -----------------------------------------------------------------------------------

_LABEL = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")
F = TypeVar("F", bound=Callable[..., Any])


def _segment_regex(text: str) -> re.Pattern[str]:
    """One pattern segment: literals, and ``{name}`` labels matching at least one character."""
    out, end = [], 0
    for match in _LABEL.finditer(text):
        if match.group(2):
            raise ValueError(f"a greedy label must be a whole segment: {text!r}")
        out.append(re.escape(text[end : match.start()]))
        out.append(f"(?P<{match.group(1)}>.+?)")
        end = match.end()
    out.append(re.escape(text[end:]))
    return re.compile("".join(out))


@dataclass(frozen=True)
class Route:
    """``verb pattern -> operation``, matched against percent-decoded segments."""

    method: str
    pattern: str
    operation: str
    handler: str  # the method name on the emulator
    admin: bool = False  # control routes: no faults, no latency, not recorded
    _regexes: tuple[re.Pattern[str] | None, ...] = field(init=False, repr=False, compare=False)
    _greedy: int | None = field(init=False, repr=False, compare=False)
    _greedy_name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.pattern.startswith("/"):
            raise ValueError(f"a route pattern starts with '/': {self.pattern!r}")
        parts = self.pattern.strip("/").split("/") if self.pattern.strip("/") else []
        greedy = [i for i, p in enumerate(parts) if re.fullmatch(r"\{\w+\+\}", p)]
        if len(greedy) > 1:
            raise ValueError(f"at most one greedy label per pattern: {self.pattern!r}")
        regexes = tuple(None if i in greedy else _segment_regex(p) for i, p in enumerate(parts))
        object.__setattr__(self, "_regexes", regexes)
        object.__setattr__(self, "_greedy", greedy[0] if greedy else None)
        object.__setattr__(self, "_greedy_name", parts[greedy[0]][1:-2] if greedy else "")

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """The labels, or None if the request is not this route's."""
        if method != self.method:
            return None
        count, greedy = len(self._regexes), self._greedy
        if greedy is None:
            if len(segments) != count:
                return None
            return self._match_fixed(0, segments)
        if len(segments) < count:
            return None
        tail = count - greedy - 1
        head = self._match_fixed(0, segments[:greedy])
        back = self._match_fixed(greedy + 1, segments[len(segments) - tail :] if tail else [])
        if head is None or back is None:
            return None
        middle = segments[greedy : len(segments) - tail]
        return {**head, **back, self._greedy_name: "/".join(middle)}

    def _match_fixed(self, first: int, segments: list[str]) -> dict[str, str] | None:
        """Match ``segments`` against the pattern's segments from index ``first`` on."""
        labels: dict[str, str] = {}
        for offset, segment in enumerate(segments):
            regex = self._regexes[first + offset]
            found = regex.fullmatch(segment) if regex is not None else None
            if found is None:
                return None
            labels.update(found.groupdict())
        return labels


def route(method: str, pattern: str, operation: str | None = None) -> Callable[[F], F]:
    """Declare an emulator method as the handler of ``method pattern``; ``operation`` is the
    name the call record and fault rules use (default: the method's name)."""

    def mark(function: F) -> F:
        routes = list(getattr(function, "_emulator_routes", []))
        routes.append((method.upper(), pattern, operation or function.__name__, False))
        function._emulator_routes = routes  # type: ignore[attr-defined]
        return function

    return mark


def admin_route(method: str, pattern: str) -> Callable[[F], F]:
    """Declare a control route under ``/_emulator`` (``pattern`` relative to it): never faulted,
    delayed or recorded."""

    def mark(function: F) -> F:
        routes = list(getattr(function, "_emulator_routes", []))
        full = "/_emulator" + ("" if pattern == "/" else pattern)
        routes.append((method.upper(), full, f"admin:{function.__name__}", True))
        function._emulator_routes = routes  # type: ignore[attr-defined]
        return function

    return mark


def collect_routes(cls: type) -> list[Route]:
    """The routes declared on ``cls`` and its bases, in declaration order, bases first."""
    found: list[Route] = []
    seen: set[str] = set()
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            for method, pattern, operation, admin in getattr(value, "_emulator_routes", []):
                key = f"{method} {pattern}"
                if key in seen:  # a subclass redefining a route replaces it
                    found = [r for r in found if f"{r.method} {r.pattern}" != key]
                seen.add(key)
                found.append(Route(method, pattern, operation, name, admin))
    return found
