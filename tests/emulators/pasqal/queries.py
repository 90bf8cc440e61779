"""Query parameters of the Pasqal API: the filters of job and batch searches, and pages.

The SDK sends its filter models (``JobFilters``, ``BatchFilters``, ``RebatchFilters``,
``CancelJobFilters``) as query parameters: a list as the parameter repeated (``status=DONE&
status=ERROR``), ids as UUID text, booleans as ``True``/``False``, dates in ISO 8601. A list
matches any of its values; several filters must all match. Dates bound the creation time, both
ends included; a date without an offset is UTC. Parameters the service does not know are
ignored, as a web framework ignores them; a malformed value raises ValueError (HTTP 400).

Pages: ``offset`` (>= 0, default 0) and ``limit`` (1 to 100, default 100); the answer's
``pagination`` is ``{"total", "offset", "end"}`` where ``end`` is the offset after the page
(the SDK asks for ``offset=end`` while ``end < total``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.emulators.pasqal.records import (
    BATCH_STATUSES,
    JOB_STATUSES,
    USER_ID,
    BatchRecord,
    JobRecord,
)

__all__ = [
    "MAX_LIMIT",
    "Page",
    "batch_matcher",
    "job_matcher",
    "newest_first",
    "page_of",
    "summary",
]

MAX_LIMIT = 100
Query = dict[str, list[str]]


def _values(query: Query, name: str) -> list[str]:
    return [value for value in query.get(name, []) if value != ""]


def _ids(query: Query, name: str) -> set[str] | None:
    values = _values(query, name)
    if not values:
        return None
    try:
        return {str(uuid.UUID(value)) for value in values}
    except ValueError:
        raise ValueError(f"{name}: not a UUID in {values}") from None


def _choices(query: Query, name: str, allowed: Sequence[str]) -> set[str] | None:
    values = _values(query, name)
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError(f"{name}: {unknown} not among {list(allowed)}")
    return set(values) or None


def _strings(query: Query, name: str) -> set[str] | None:
    return set(_values(query, name)) or None


def _bool(query: Query, name: str) -> bool | None:
    values = _values(query, name)
    if not values:
        return None
    text = values[0].lower()
    if text not in ("true", "false", "1", "0"):
        raise ValueError(f"{name}: {values[0]!r} is not a boolean")
    return text in ("true", "1")


def _int(query: Query, name: str) -> int | None:
    values = _values(query, name)
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError:
        raise ValueError(f"{name}: {values[0]!r} is not an integer") from None


def _date(query: Query, name: str) -> float | None:
    values = _values(query, name)
    if not values:
        return None
    try:
        moment = datetime.fromisoformat(values[0])
    except ValueError:
        raise ValueError(f"{name}: {values[0]!r} is not an ISO 8601 date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _dates(query: Query) -> Callable[[float], bool]:
    start, end = _date(query, "start_date"), _date(query, "end_date")
    return lambda created: (start is None or created >= start) and (end is None or created <= end)


def job_matcher(query: Query) -> Callable[[JobRecord], bool]:
    """The jobs a ``JobFilters`` (or Rebatch, CancelJob filters) query selects."""
    ids, batch_ids = _ids(query, "id"), _ids(query, "batch_id")
    project_ids, user_ids = _ids(query, "project_id"), _strings(query, "user_id")
    statuses = _choices(query, "status", JOB_STATUSES)
    min_runs, max_runs = _int(query, "min_runs"), _int(query, "max_runs")
    errors = _bool(query, "errors")
    in_dates = _dates(query)

    def matches(job: JobRecord) -> bool:
        return (
            (ids is None or job.id in ids)
            and (batch_ids is None or job.batch_id in batch_ids)
            and (project_ids is None or job.project_id in project_ids)
            and (user_ids is None or USER_ID in user_ids)
            and (statuses is None or job.status in statuses)
            and (min_runs is None or job.runs >= min_runs)
            and (max_runs is None or job.runs <= max_runs)
            and (errors is None or bool(job.errors) == errors)
            and in_dates(job.created)
        )

    return matches


def batch_matcher(query: Query) -> Callable[[BatchRecord], bool]:
    """The batches a ``BatchFilters`` query selects (their statuses expired beforehand)."""
    ids, project_ids = _ids(query, "id"), _ids(query, "project_id")
    user_ids, device_types = _strings(query, "user_id"), _strings(query, "device_type")
    statuses = _choices(query, "status", BATCH_STATUSES)
    priorities = _choices(query, "queue_priority", ("LOW", "MEDIUM", "HIGH"))
    is_open, tags = _bool(query, "open"), _values(query, "tag")
    in_dates = _dates(query)

    def matches(batch: BatchRecord) -> bool:
        return (
            (ids is None or batch.id in ids)
            and (project_ids is None or batch.project_id in project_ids)
            and (user_ids is None or USER_ID in user_ids)
            and (device_types is None or batch.device_type in device_types)
            and (statuses is None or batch.status() in statuses)
            and (priorities is None or "MEDIUM" in priorities)
            and (is_open is None or batch.open == is_open)
            and all(tag in batch.tags for tag in tags)
            and in_dates(batch.created)
        )

    return matches


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int

    def cut(self, items: list[Any]) -> tuple[list[Any], dict[str, int]]:
        """The page of ``items`` and the answer's ``pagination``."""
        chosen = items[self.offset : self.offset + self.limit]
        pagination = {"total": len(items), "offset": self.offset, "end": self.offset + len(chosen)}
        return chosen, pagination


def page_of(query: Query) -> Page:
    offset, limit = _int(query, "offset"), _int(query, "limit")
    offset = 0 if offset is None else offset
    limit = MAX_LIMIT if limit is None else limit
    if offset < 0:
        raise ValueError("offset must be >= 0")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be within 1 and {MAX_LIMIT}")
    return Page(offset, limit)


def newest_first(query: Query) -> bool:
    """Jobs come newest first unless ``order_by_direction=ASC`` (the SDK's
    ``get_batch_jobs`` asks ``order_by=creation_order&order_by_direction=ASC``)."""
    direction = (_values(query, "order_by_direction") or ["DESC"])[0].upper()
    if direction not in ("ASC", "DESC"):
        raise ValueError("order_by_direction must be ASC or DESC")
    return direction == "DESC"


def summary(query: Query) -> dict[str, Any]:
    """The query for the call record: each parameter's value, or its values when repeated."""
    return {name: values[0] if len(values) == 1 else list(values) for name, values in query.items()}
