"""The record of every API call the Braket emulator answered, for tests and benchmarks.

Each call is recorded once, when its answer is sent: the operation name (as in the service
model, e.g. ``CreateQuantumTask``), its arrival time on two clocks (``time.monotonic()``, which
on Linux is the system-wide CLOCK_MONOTONIC and so comparable between processes of one machine,
and ``time.time()``), the time it took, the HTTP status returned, the AWS error code if any, the
fault injected if any, and per operation: the ``clientToken`` and whether the create was a
replay of an earlier token (CreateQuantumTask, CancelQuantumTask), the task ARN, the device ARN,
and the ``filters`` / ``maxResults`` / ``nextToken`` of a search.

Read it in Python (``emulator.calls.calls("CreateQuantumTask")``, ``.counts()``) or over HTTP
(``GET /_emulator/calls``, ``POST /_emulator/calls/reset``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from typing import Any

__all__ = ["CallLog", "CallRecord"]


@dataclasses.dataclass(frozen=True)
class CallRecord:
    """One answered API call."""

    operation: str
    monotonic: float  # arrival, time.monotonic()
    wall: float  # arrival, time.time()
    duration: float  # seconds from arrival to answer
    status: int  # HTTP status returned
    request_id: str
    error_code: str | None = None
    fault: str | None = None  # "throttle", "error_before_commit", "error_after_commit"
    client_token: str | None = None
    replay: bool = False  # answered from the idempotency table, nothing new created
    task_arn: str | None = None
    device_arn: str | None = None
    filters: list[dict[str, Any]] | None = None
    max_results: int | None = None
    next_token: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class CallLog:
    """Thread-safe, append-only (until ``reset``) list of ``CallRecord``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def record(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def calls(self, operation: str | None = None) -> list[CallRecord]:
        """The calls so far, oldest first; only those of ``operation`` if given."""
        with self._lock:
            records = list(self._records)
        return [r for r in records if operation is None or r.operation == operation]

    def counts(self) -> dict[str, int]:
        """Number of calls per operation."""
        with self._lock:
            return dict(Counter(r.operation for r in self._records))

    def status_counts(self) -> dict[str, dict[int, int]]:
        """Number of calls per operation and HTTP status."""
        out: dict[str, dict[int, int]] = {}
        with self._lock:
            for r in self._records:
                by_status = out.setdefault(r.operation, {})
                by_status[r.status] = by_status.get(r.status, 0) + 1
        return out

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def to_json(self, operation: str | None = None) -> dict[str, Any]:
        """What ``GET /_emulator/calls`` answers."""
        records = self.calls(operation)
        counts: Counter[str] = Counter(r.operation for r in records)
        return {"calls": [r.to_dict() for r in records], "counts": dict(counts)}
