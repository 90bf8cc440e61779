"""Pasqal Cloud's wire shape, and the checks on what a client sends.

Answers are JSend envelopes: ``{"status": "success", "code", "message": "OK.", "data"}``,
plus ``"pagination": {"total", "offset", "end"}`` for a page of a list. Errors are
``{"status": "fail" (4xx) or "error" (5xx), "code", "message", "data": {"description",
"error_code", ...details}}``: the SDK's exceptions show ``data.description`` and dump the body
(``details`` such as ``batch_status`` included). Requests carry ``Authorization: Bearer
<TOKEN>``.

A job a client sends (CreateBatch's ``jobs``, AddJobs' body) is ``{"runs", "variables",
"sequence"}``: ``runs`` an integer >= 1 and at most the device's ``max_runs``; ``variables``
an object or absent; ``sequence`` its own sequence (Pulser's abstract representation, which
must deserialize), not together with variables, and needed when the batch has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.emulators.kit import ApiError, Protocol, Request, Response
from tests.emulators.pasqal.programs import InvalidSequence, max_runs, parse_sequence

__all__ = [
    "TOKEN",
    "PasqalProtocol",
    "check_token",
    "checked_sequence",
    "invalid",
    "job_specs",
    "jsend",
]

TOKEN = "pasqal-emulator-token"


class PasqalProtocol(Protocol):
    """JSend envelopes; errors carry the kit's code as ``data.error_code``."""

    request_id_header = "x-request-id"
    throttle_code = "TooManyRequests"
    internal_code = "InternalServerError"
    validation_code = "ValidationError"
    unknown_operation_code = "NotFound"

    def success(self, status: int, payload: Any, request: Request) -> Response:
        return jsend(payload, status=status)

    def error(self, error: ApiError, request: Request | None) -> Response:
        body = {
            "status": "fail" if error.status < 500 else "error",
            "code": error.status,
            "message": error.message,
            "data": {"description": error.message, "error_code": error.code, **error.details},
        }
        return Response.json(error.status, body, error.headers, error.code)


def jsend(data: Any, *, status: int = 200, pagination: Mapping[str, int] | None = None) -> Response:
    """A success envelope (with ``pagination`` for a page of a list)."""
    body: dict[str, Any] = {"status": "success", "code": status, "message": "OK.", "data": data}
    if pagination is not None:
        body["pagination"] = dict(pagination)
    return Response.json(status, body)


def invalid(message: str) -> ApiError:
    """The error a request the service refuses gets (HTTP 400)."""
    return ApiError(400, PasqalProtocol.validation_code, message)


def check_token(request: Request) -> None:
    """401 unless the request carries the emulator's bearer token."""
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        raise ApiError(401, "Unauthorized", "missing or invalid bearer token")


def checked_sequence(text: Any, where: str) -> Any:
    """The ``pulser.Sequence`` of ``text``; 400 with Pulser's message (``where``: what the
    client sent it as) if it does not deserialize."""
    try:
        return parse_sequence(text)
    except InvalidSequence as exc:
        raise invalid(f"{where}: invalid sequence: {exc}") from None


def job_specs(jobs: Any, batch_sequence: str | None, device_type: str) -> list[dict[str, Any]]:
    """The jobs a client sent, checked (see the module doc): ``{runs, variables, sequence}``
    each; 400 at the first one that is wrong."""
    if not isinstance(jobs, list):
        raise invalid("jobs must be a list")
    limit = max_runs(device_type)
    specs = []
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise invalid(f"jobs[{index}] must be an object")
        runs, variables, sequence = job.get("runs"), job.get("variables"), job.get("sequence")
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
            raise invalid(f"jobs[{index}].runs must be an integer >= 1")
        if limit is not None and runs > limit:
            raise invalid(f"jobs[{index}].runs {runs} > {limit}, the most {device_type} runs")
        if variables is not None and not isinstance(variables, dict):
            raise invalid(f"jobs[{index}].variables must be an object")
        if sequence is not None:
            if variables:
                raise invalid(f"jobs[{index}]: a job with its own sequence takes no variables")
            checked_sequence(sequence, f"jobs[{index}].sequence")
        elif batch_sequence is None:
            raise invalid(f"jobs[{index}] has no sequence and the batch has none")
        specs.append({"runs": runs, "variables": variables or {}, "sequence": sequence})
    return specs
