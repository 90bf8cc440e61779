"""SearchQuantumTasks: filters and page tokens.

Filters on ``quantumTaskArn``, ``deviceArn``, ``jobArn``, ``status`` (operator EQUAL, values
OR-ed) and ``createdAt`` (EQUAL, LT, LTE, GT, GTE with one value, BETWEEN with two; values ISO
8601 or epoch seconds); filters are AND-ed, 1 to 10 values each, at most 10 filters. Newest
first, ``maxResults`` 1..100, ``nextToken`` opaque and bound to the filters.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tests.emulators.braket.protocol import missing, parse_time_ms, validation
from tests.emulators.braket.tasks import STATUSES, Task

__all__ = ["search"]

_NAMES = ("quantumTaskArn", "deviceArn", "jobArn", "status", "createdAt")
_OPERATORS = ("LT", "LTE", "EQUAL", "GT", "GTE", "BETWEEN")
TaskTest = Callable[[Task], bool]


def _compile(item: Any) -> TaskTest:
    if not isinstance(item, dict):
        raise validation("each filter must be an object with name, operator and values")
    name, operator, values = item.get("name"), item.get("operator"), item.get("values")
    if name not in _NAMES:
        raise validation(f"Invalid filter name {name!r}; valid names: {list(_NAMES)}")
    if operator not in _OPERATORS:
        raise validation(f"Invalid filter operator {operator!r}")
    if (
        not isinstance(values, list)
        or not 1 <= len(values) <= 10
        or not all(isinstance(v, str) for v in values)
    ):
        raise validation(f"Filter {name}: 'values' must hold 1 to 10 strings")
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
        return lambda t: False  # jobArn: the emulator runs no hybrid jobs
    moments = [parse_time_ms(v) for v in values]
    if operator == "BETWEEN":
        if len(moments) != 2:
            raise validation("Filter createdAt with BETWEEN takes exactly 2 values")
        low, high = min(moments), max(moments)
        return lambda t: low <= t.created_ms <= high
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
    test = compare[operator]
    return lambda t: test(t.created_ms)


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


def search(body: Mapping[str, Any], newest_first: Iterable[Task], page_size: int) -> dict[str, Any]:
    """The answer to a SearchQuantumTasks ``body`` over the tasks, newest first (the caller
    holds the lock); ``page_size`` when ``maxResults`` is absent."""
    filters = body.get("filters")
    if filters is None:
        raise missing("filters")
    if not isinstance(filters, list) or len(filters) > 10:
        raise validation("'filters' must be a list of at most 10 filters")
    tests = [_compile(item) for item in filters]
    max_results = body.get("maxResults")
    if max_results is None:
        max_results = page_size
    elif isinstance(max_results, bool) or not isinstance(max_results, int):
        raise validation("'maxResults' must be an integer")
    elif not 1 <= max_results <= 100:
        raise validation("'maxResults' must be between 1 and 100")
    filters_hash = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()
    token = body.get("nextToken")
    below = _decode_token(token, filters_hash) if isinstance(token, str) and token else None
    page: list[dict[str, Any]] = []
    more = False
    last_seq = 0
    for task in newest_first:
        if below is not None and task.seq >= below:
            continue
        if not all(test(task) for test in tests):
            continue
        if len(page) == max_results:
            more = True
            break
        page.append(task.summary())
        last_seq = task.seq
    answer: dict[str, Any] = {"quantumTasks": page}
    if more:
        answer["nextToken"] = _encode_token(last_seq, filters_hash)
    return answer
