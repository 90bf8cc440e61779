"""The record of every API call an emulator answered (or dropped), for tests and benchmarks.

A call is recorded once, when its outcome is known and before any byte of the answer is sent
(so a client that has its answer finds its call recorded; a held answer, ``timeout_*``, is
recorded when the hold starts): its operation (the route's name, e.g. ``CreateQuantumTask``),
its arrival on two clocks (``time.monotonic()``, on Linux the system-wide CLOCK_MONOTONIC and
so comparable between processes of one machine, and ``time.time()``), how long it took to
decide, the HTTP status (None: the connection was closed without an answer), the error code,
the fault injected if any, whether the operation committed (ran to success: its effect
happened, whatever the client was then told), and the service's key parameters (``params``,
also readable as attributes: ``call.client_token``).

Read it in Python (``emulator.calls.calls("CreateQuantumTask")``, ``.counts()``,
``.wait_for(3, "CreateQuantumTask")``) or over HTTP (``GET /_emulator/calls``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["Call", "CallLog"]


@dataclasses.dataclass(frozen=True)
class Call:
    """One call (see the module doc). Unknown attributes are looked up in ``params``."""

    seq: int  # the order of recording, from 1 (0 until recorded)
    operation: str
    method: str
    path: str
    monotonic: float  # arrival, time.monotonic()
    wall: float  # arrival, time.time()
    duration: float  # seconds from arrival to the decision
    status: int | None  # None: closed without an answer
    request_id: str
    error_code: str | None = None
    fault: str | None = None  # a FaultKind value
    committed: bool = False
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name == "params" or name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.params[name]
        except KeyError:
            raise AttributeError(f"a call has no field or parameter {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        """The fields, with the parameters beside them (not nested)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        params = data.pop("params")
        return {**params, **data}

    def matches(self, operation: str | None = None, **where: Any) -> bool:
        """Whether this call is of ``operation`` (if given) and has every ``where`` value
        (fields or parameters)."""
        if operation is not None and self.operation != operation:
            return False
        return all(getattr(self, name, None) == value for name, value in where.items())


class CallLog:
    """Thread-safe, append-only (until ``reset``) list of ``Call``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._seq = 0

    def record(self, call: Call) -> Call:
        """Append ``call`` with the next ``seq``; returns it so numbered."""
        with self._cond:
            self._seq += 1
            numbered = dataclasses.replace(call, seq=self._seq)
            self._calls.append(numbered)
            self._cond.notify_all()
        return numbered

    def calls(self, operation: str | None = None, **where: Any) -> list[Call]:
        """The calls so far, oldest first (in recording order); filtered as ``Call.matches``."""
        with self._cond:
            calls = list(self._calls)
        return [c for c in calls if c.matches(operation, **where)]

    def filter(self, predicate: Callable[[Call], bool]) -> list[Call]:
        with self._cond:
            calls = list(self._calls)
        return [c for c in calls if predicate(c)]

    def counts(self) -> dict[str, int]:
        """Number of calls per operation."""
        with self._cond:
            return dict(Counter(c.operation for c in self._calls))

    def status_counts(self) -> dict[str, dict[int | None, int]]:
        """Number of calls per operation and HTTP status (None: dropped)."""
        out: dict[str, dict[int | None, int]] = {}
        with self._cond:
            for c in self._calls:
                by_status = out.setdefault(c.operation, {})
                by_status[c.status] = by_status.get(c.status, 0) + 1
        return out

    def wait_for(
        self, count: int, operation: str | None = None, *, timeout: float = 10.0, **where: Any
    ) -> list[Call]:
        """Block until at least ``count`` calls match (as ``calls``); returns them. Raises
        TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self._calls if c.matches(operation, **where)]
                remaining = deadline - time.monotonic()
                if len(found) >= count:
                    return found
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(found)} of {count} calls {operation or ''} {where or ''} after "
                        f"{timeout} s"
                    )
                self._cond.wait(remaining)

    def reset(self) -> None:
        with self._cond:
            self._calls.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._calls)

    def to_json(self, operation: str | None = None, **where: Any) -> dict[str, Any]:
        """What ``GET /_emulator/calls`` answers: the calls and their counts per operation."""
        calls = self.calls(operation, **where)
        counts: Counter[str] = Counter(c.operation for c in calls)
        return {"calls": [c.to_dict() for c in calls], "counts": dict(counts)}
