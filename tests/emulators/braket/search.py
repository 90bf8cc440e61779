"""SearchQuantumTasks and SearchJobs: filters and page tokens.

SearchQuantumTasks filters on ``quantumTaskArn``, ``deviceArn``, ``jobArn`` (the hybrid job
whose token created the task), ``status`` (operator EQUAL, values OR-ed) and ``createdAt``
(EQUAL, LT, LTE, GT, GTE with one value, BETWEEN with two; values ISO 8601 or epoch seconds).
SearchJobs filters on ``jobArn`` (EQUAL; alone: it cannot be combined with other filters),
``jobName`` (EQUAL, or CONTAINS: a substring), ``deviceArn`` (EQUAL) and ``createdAt`` (as
above). Filters are AND-ed, 1 to 10 values each (OR-ed), at most 10 filters. Newest first,
``maxResults`` 1..100, ``nextToken`` opaque and bound to the filters.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from tests.emulators.braket.hybrid import HybridJob
from tests.emulators.braket.protocol import missing, parse_time_ms, validation
from tests.emulators.braket.tasks import STATUSES, Task

__all__ = ["search", "search_jobs"]

_NAMES = ("quantumTaskArn", "deviceArn", "jobArn", "status", "createdAt")
_JOB_NAMES = ("jobArn", "jobName", "deviceArn", "createdAt")
_OPERATORS = ("LT", "LTE", "EQUAL", "GT", "GTE", "BETWEEN")
_JOB_OPERATORS = (*_OPERATORS, "CONTAINS")


class _Found(Protocol):
    seq: int
    created_ms: int

    def summary(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=_Found)
TaskTest = Callable[[Task], bool]


def _parts(item: Any, names: Sequence[str], operators: Sequence[str]) -> tuple[str, str, list[str]]:
    """(name, operator, values) of a filter, checked."""
    if not isinstance(item, dict):
        raise validation("each filter must be an object with name, operator and values")
    name, operator, values = item.get("name"), item.get("operator"), item.get("values")
    if name not in names:
        raise validation(f"Invalid filter name {name!r}; valid names: {list(names)}")
    if operator not in operators:
        raise validation(f"Invalid filter operator {operator!r}")
    if (
        not isinstance(values, list)
        or not 1 <= len(values) <= 10
        or not all(isinstance(v, str) for v in values)
    ):
        raise validation(f"Filter {name}: 'values' must hold 1 to 10 strings")
    return str(name), str(operator), list(values)


def _created(operator: str, values: list[str]) -> Callable[[int], bool]:
    """A createdAt filter on milliseconds since the epoch."""
    moments = [parse_time_ms(v) for v in values]
    if operator == "BETWEEN":
        if len(moments) != 2:
            raise validation("Filter createdAt with BETWEEN takes exactly 2 values")
        low, high = min(moments), max(moments)
        return lambda c: low <= c <= high
    if len(moments) != 1:
        raise validation(f"Filter createdAt with {operator} takes exactly 1 value")
    moment = moments[0]
    compare: dict[str, Callable[[int], bool]] = {
        "EQUAL": lambda c: c == moment,
        "LT": lambda c: c < moment,
        "LTE": lambda c: c <= moment,
        "GT": lambda c: c > moment,
        "GTE": lambda c: c >= moment,
    }
    if operator not in compare:
        raise validation(f"Filter createdAt does not support the {operator} operator")
    return compare[operator]


def _compile(item: Any) -> TaskTest:
    name, operator, values = _parts(item, _NAMES, _OPERATORS)
    if name != "createdAt":
        if operator != "EQUAL":
            raise validation(f"Filter {name} supports the EQUAL operator only")
        if name == "status" and not set(values) <= set(STATUSES):
            raise validation(f"Invalid status values {sorted(set(values) - set(STATUSES))}")
        wanted = set(values)
        if name == "quantumTaskArn":
            return lambda t: t.arn in wanted
        if name == "deviceArn":
            return lambda t: t.device.arn in wanted
        if name == "status":
            return lambda t: t.status in wanted
        return lambda t: t.job_arn in wanted
    test = _created(operator, values)
    return lambda t: test(t.created_ms)


def _compile_job(item: Any) -> Callable[[HybridJob], bool]:
    name, operator, values = _parts(item, _JOB_NAMES, _JOB_OPERATORS)
    if name == "createdAt":
        test = _created(operator, values)
        return lambda j: test(j.created_ms)
    if name == "jobName" and operator == "CONTAINS":
        return lambda j: any(v in j.name for v in values)
    if operator != "EQUAL":
        supported = "EQUAL and CONTAINS operators" if name == "jobName" else "EQUAL operator"
        raise validation(f"Filter {name} supports the {supported} only")
    wanted = set(values)
    if name == "jobArn":
        return lambda j: j.arn in wanted
    if name == "jobName":
        return lambda j: j.name in wanted
    return lambda j: j.request.device in wanted


def _encode_token(seq: int, filters_hash: str) -> str:
    raw = json.dumps({"s": seq, "f": filters_hash}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, filters_hash: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        seq, bound = int(decoded["s"]), decoded["f"]
    except (ValueError, KeyError, TypeError):
        raise validation("Invalid nextToken") from None
    if bound != filters_hash:
        raise validation("nextToken does not belong to these filters")
    return seq


def _page(
    body: Mapping[str, Any],
    newest_first: Iterable[T],
    tests: list[Callable[[T], bool]],
    page_size: int,
    key: str,
) -> dict[str, Any]:
    """One page of the items that pass every test, and the token of the next."""
    max_results = body.get("maxResults")
    if max_results is None:
        max_results = page_size
    elif isinstance(max_results, bool) or not isinstance(max_results, int):
        raise validation("'maxResults' must be an integer")
    elif not 1 <= max_results <= 100:
        raise validation("'maxResults' must be between 1 and 100")
    filters_hash = hashlib.sha256(json.dumps(body["filters"], sort_keys=True).encode()).hexdigest()
    token = body.get("nextToken")
    below = _decode_token(token, filters_hash) if isinstance(token, str) and token else None
    page: list[dict[str, Any]] = []
    more = False
    last_seq = 0
    for item in newest_first:
        if below is not None and item.seq >= below:
            continue
        if not all(test(item) for test in tests):
            continue
        if len(page) == max_results:
            more = True
            break
        page.append(item.summary())
        last_seq = item.seq
    answer: dict[str, Any] = {key: page}
    if more:
        answer["nextToken"] = _encode_token(last_seq, filters_hash)
    return answer


def _filters(body: Mapping[str, Any]) -> list[Any]:
    filters = body.get("filters")
    if filters is None:
        raise missing("filters")
    if not isinstance(filters, list) or len(filters) > 10:
        raise validation("'filters' must be a list of at most 10 filters")
    return filters


def search(body: Mapping[str, Any], newest_first: Iterable[Task], page_size: int) -> dict[str, Any]:
    """The answer to a SearchQuantumTasks ``body`` over the tasks, newest first (the caller
    holds the lock); ``page_size`` when ``maxResults`` is absent."""
    tests = [_compile(item) for item in _filters(body)]
    return _page(body, newest_first, tests, page_size, "quantumTasks")


def search_jobs(
    body: Mapping[str, Any], newest_first: Iterable[HybridJob], page_size: int
) -> dict[str, Any]:
    """The answer to a SearchJobs ``body`` over the jobs, newest first (the caller holds the
    lock); ``page_size`` when ``maxResults`` is absent."""
    filters = _filters(body)
    tests = [_compile_job(item) for item in filters]
    if len(filters) > 1 and any(f.get("name") == "jobArn" for f in filters):
        raise validation("The jobArn filter cannot be combined with other filters")
    return _page(body, newest_first, tests, page_size, "jobs")
