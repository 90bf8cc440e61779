"""Braket's wire shape: AWS REST-JSON errors and timestamps.

- Errors: the HTTP status of the error shape, header ``x-amzn-ErrorType: <Code>`` and body
  ``{"message": ..., **other members}``, so botocore raises ``ClientError`` with
  ``Error.Code`` = the shape name. Every answer carries ``x-amzn-RequestId``. Injected 429s are
  ``ThrottlingException``, injected 500s ``InternalServiceException`` (502/503/504 are a load
  balancer's HTML page, without ``x-amzn-ErrorType``: botocore's code is then the status).
- Timestamps: ISO 8601 strings with milliseconds (the model's ``timestampFormat: iso8601``);
  ``createdAt`` filters also take epoch seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tests.emulators.kit import ApiError, Protocol, Request, Response

__all__ = [
    "BraketProtocol",
    "iso",
    "missing",
    "now_ms",
    "parse_time_ms",
    "str_member",
    "validation",
]


class BraketProtocol(Protocol):
    request_id_header = "x-amzn-RequestId"
    throttle_code = "ThrottlingException"
    throttle_message = "Rate exceeded"
    internal_code = "InternalServiceException"
    internal_message = "Internal service error"
    validation_code = "ValidationException"
    unknown_operation_code = "UnknownOperationException"

    def error(self, error: ApiError, request: Request | None) -> Response:
        headers = {**error.headers, "x-amzn-ErrorType": error.code}
        return Response.json(
            error.status, {"message": error.message, **error.details}, headers, error.code
        )


def validation(message: str, details: Mapping[str, Any] | None = None) -> ApiError:
    """``ValidationException`` (HTTP 400), with more members of its shape if given."""
    return ApiError(400, "ValidationException", message, details)


def missing(name: str) -> ApiError:
    """What the service says when a required member is missing."""
    return validation(
        f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
        "Member must not be null"
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DDTHH:MM:SS.sssZ``."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def parse_time_ms(value: str) -> int:
    """A createdAt filter value: ISO 8601 (naive = UTC) or epoch seconds."""
    text = value.strip()
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise validation(f"createdAt value {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def str_member(
    body: Mapping[str, Any], name: str, *, required: bool, low: int = 0, high: int | None = None
) -> str | None:
    """A string member of a request body, checked as the model constrains it."""
    value = body.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise validation(f"'{name}' must be a string")
    if len(value) < low or (high is not None and len(value) > high):
        raise validation(
            f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
            f"Member must have length between {low} and {high}"
        )
    return value
