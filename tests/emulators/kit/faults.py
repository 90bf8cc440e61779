"""Fault injection: rules saying which calls of which operations get which fault.

What each kind does on the wire ("commit" is the moment the operation takes effect: the task
exists, the cancel is recorded; for a read, the moment it has been answered internally):

``throttle``
    HTTP 429 with the service's throttling error and ``Retry-After: <retry_after>`` (whole
    seconds; no header if ``retry_after`` is None). Nothing happens.
``error_before_commit``
    HTTP ``status`` (500: the service's internal error in its own error shape; 502, 503, 504: a
    load balancer's HTML page, none of the service's headers). Nothing happens.
``error_after_commit``
    The operation takes effect, then the client gets the same 5xx as above: the case that
    makes SDKs which retry writes create duplicates. Applies only to calls that succeeded
    (2xx); a call the service refused (4xx) had nothing to commit.
``drop_before_commit``
    The request is read, then the connection is closed without an answer (the client sees
    "connection closed" / "remote end closed connection without response"). Nothing happens.
``drop_after_commit``
    The operation takes effect, then the connection is closed without an answer.
``latency``
    The call is answered ``seconds`` later than it would be (before anything else happens;
    every matching latency rule adds up). Not an outcome: other rules still apply.
``timeout_before_commit``
    The server holds the request ``seconds`` (longer than the client's read timeout), then
    closes the connection without an answer. Nothing happens.
``timeout_after_commit``
    The operation takes effect, then the answer is held ``seconds`` and sent late, when the
    client has given up: the effect happened, the client saw a read timeout.

Which calls: a rule applies to ``operations`` (None: every operation of the service) and then
to the calls it sees, counted from 1 from when it was added (a call "seen" by a rule is one
that reached it: an earlier rule's outcome fault, or for after-commit rules a call that did not
succeed, stops a call before later rules see it):

- ``next=N``: the next N calls it sees;
- ``calls=(i, j)``: its i-th to j-th calls, both included;
- ``rate=p``: each call with probability p, drawn from (``seed``, kind, call number) by a
  hash, so the same seed gives the same calls on every run, whatever other operations
  interleave (two rules of one kind with the same seed draw alike: give them different seeds);
- none of these: every call it sees.

Outcome rules (all kinds but latency) are tried in the order they were added; the first that
applies decides the call. ``Faults.reset()`` goes back to the rules given at construction (an
emulator's baseline, e.g. 200 ms on every call in a benchmark); ``clear()`` removes all.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Decision", "Fault", "FaultKind", "Faults"]


class FaultKind(enum.StrEnum):
    THROTTLE = "throttle"
    ERROR_BEFORE_COMMIT = "error_before_commit"
    ERROR_AFTER_COMMIT = "error_after_commit"
    DROP_BEFORE_COMMIT = "drop_before_commit"
    DROP_AFTER_COMMIT = "drop_after_commit"
    LATENCY = "latency"
    TIMEOUT_BEFORE_COMMIT = "timeout_before_commit"
    TIMEOUT_AFTER_COMMIT = "timeout_after_commit"

    @property
    def after_commit(self) -> bool:
        return self.value.endswith("_after_commit")


_ERROR_STATUSES = (500, 502, 503, 504)
_TIMED = (FaultKind.LATENCY, FaultKind.TIMEOUT_BEFORE_COMMIT, FaultKind.TIMEOUT_AFTER_COMMIT)


@dataclass(frozen=True)
class Fault:
    """One rule (see the module doc). Build it with the class methods, or ``from_json``."""

    kind: FaultKind
    operations: frozenset[str] | None = None  # None: every operation
    next: int | None = None
    calls: tuple[int, int] | None = None
    rate: float | None = None
    seed: int = 0
    status: int = 500  # error_*: 500, 502, 503 or 504
    retry_after: int | None = 1  # throttle: Retry-After seconds (None: no header)
    seconds: float = 0.0  # latency, timeout_*

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.operations is not None:
            object.__setattr__(self, "operations", frozenset(self.operations))
        if self.calls is not None:
            object.__setattr__(self, "calls", (int(self.calls[0]), int(self.calls[1])))
        chosen = [n for n in ("next", "calls", "rate") if getattr(self, n) is not None]
        if len(chosen) > 1:
            raise ValueError(f"a fault takes one of next, calls, rate; got {chosen}")
        if self.next is not None and self.next < 0:
            raise ValueError("next must be >= 0")
        if self.calls is not None and not 1 <= self.calls[0] <= self.calls[1]:
            raise ValueError("calls=(i, j) needs 1 <= i <= j")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        errors = (FaultKind.ERROR_BEFORE_COMMIT, FaultKind.ERROR_AFTER_COMMIT)
        if self.kind in errors and self.status not in _ERROR_STATUSES:
            raise ValueError(f"status must be one of {_ERROR_STATUSES}")
        if self.kind in _TIMED and self.seconds <= 0:
            raise ValueError(f"{self.kind} needs seconds > 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")

    # --- constructors -------------------------------------------------------------------------

    @classmethod
    def throttle(cls, *, retry_after: int | None = 1, **which: Any) -> Fault:
        return cls(FaultKind.THROTTLE, retry_after=retry_after, **which)

    @classmethod
    def error(cls, *, after_commit: bool = False, status: int = 500, **which: Any) -> Fault:
        kind = FaultKind.ERROR_AFTER_COMMIT if after_commit else FaultKind.ERROR_BEFORE_COMMIT
        return cls(kind, status=status, **which)

    @classmethod
    def drop(cls, *, after_commit: bool = False, **which: Any) -> Fault:
        kind = FaultKind.DROP_AFTER_COMMIT if after_commit else FaultKind.DROP_BEFORE_COMMIT
        return cls(kind, **which)

    @classmethod
    def latency(cls, seconds: float, **which: Any) -> Fault:
        return cls(FaultKind.LATENCY, seconds=seconds, **which)

    @classmethod
    def timeout(cls, seconds: float, *, after_commit: bool = False, **which: Any) -> Fault:
        kind = FaultKind.TIMEOUT_AFTER_COMMIT if after_commit else FaultKind.TIMEOUT_BEFORE_COMMIT
        return cls(kind, seconds=seconds, **which)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """A rule from its JSON form (the fields by name; ``calls`` a 2-item list)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "kind" not in data:
            raise ValueError(f"a fault needs a kind: one of {[k.value for k in FaultKind]}")
        values = dict(data)
        if values.get("calls") is not None:
            values["calls"] = tuple(values["calls"])
        try:
            return cls(**values)
        except (TypeError, IndexError) as exc:
            raise ValueError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind.value
        data["operations"] = None if self.operations is None else sorted(self.operations)
        data["calls"] = None if self.calls is None else list(self.calls)
        return data

    # --- decisions ----------------------------------------------------------------------------

    def selects(self, number: int) -> bool:
        """Whether the rule's ``number``-th call (1-based) gets the fault."""
        if self.next is not None:
            return number <= self.next
        if self.calls is not None:
            return self.calls[0] <= number <= self.calls[1]
        if self.rate is not None:
            return _draw(self.seed, self.kind.value, number) < self.rate
        return True


def _draw(seed: int, kind: str, number: int) -> float:
    """A uniform number in [0, 1) fixed by its arguments (not by Python's hash seed)."""
    digest = hashlib.blake2b(f"{seed}:{kind}:{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@dataclass
class _Rule:
    id: int
    fault: Fault
    seen: int = 0
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.fault.to_json(), "seen": self.seen, "fired": self.fired}


@dataclass(frozen=True)
class Decision:
    """What happens to a call before it commits: added latency, then at most one outcome."""

    latency: float = 0.0
    outcome: Fault | None = None


class Faults:
    """The rules of one emulator (thread-safe). ``operations``: the service's operation names,
    against which rules are checked (None: not checked)."""

    def __init__(self, initial: Iterable[Fault] = (), operations: Iterable[str] | None = None):
        self._lock = threading.Lock()
        self._operations = None if operations is None else frozenset(operations)
        self._initial = list(initial)
        for fault in self._initial:
            self._check(fault)
        self._rules: list[_Rule] = []
        self._ids = 0
        self.reset()

    def _check(self, fault: Fault) -> None:
        if self._operations is not None and fault.operations is not None:
            unknown = fault.operations - self._operations
            if unknown:
                raise ValueError(f"unknown operations {sorted(unknown)}")

    # --- rules --------------------------------------------------------------------------------

    def add(self, fault: Fault) -> int:
        """Add a rule; returns its id (ids count from 1 after each ``reset`` or ``clear``)."""
        self._check(fault)
        with self._lock:
            self._ids += 1
            self._rules.append(_Rule(self._ids, fault))
            return self._ids

    def add_json(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``add`` for the control channel: the rule as JSON, with its id."""
        rule_id = self.add(Fault.from_json(data))
        return next(r for r in self.rules() if r["id"] == rule_id)

    def throttle(self, *, retry_after: int | None = 1, **which: Any) -> int:
        return self.add(Fault.throttle(retry_after=retry_after, **which))

    def error(self, *, after_commit: bool = False, status: int = 500, **which: Any) -> int:
        return self.add(Fault.error(after_commit=after_commit, status=status, **which))

    def drop(self, *, after_commit: bool = False, **which: Any) -> int:
        return self.add(Fault.drop(after_commit=after_commit, **which))

    def latency(self, seconds: float, **which: Any) -> int:
        return self.add(Fault.latency(seconds, **which))

    def timeout(self, seconds: float, *, after_commit: bool = False, **which: Any) -> int:
        return self.add(Fault.timeout(seconds, after_commit=after_commit, **which))

    def remove(self, rule_id: int) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r.id != rule_id]

    def clear(self) -> None:
        """No rule at all."""
        with self._lock:
            self._rules, self._ids = [], 0

    def reset(self) -> None:
        """Back to the rules given at construction, their counts at zero."""
        with self._lock:
            self._rules = [_Rule(i, f) for i, f in enumerate(self._initial, start=1)]
            self._ids = len(self._rules)

    def rules(self) -> list[dict[str, Any]]:
        """The rules as JSON, with how many calls each has seen and faulted."""
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    # --- decisions (used by the server) -------------------------------------------------------

    def _fire(self, rule: _Rule, operation: str) -> bool:
        """Whether ``rule`` applies to this call; counts it. Under the lock."""
        ops = rule.fault.operations
        if ops is not None and operation not in ops:
            return False
        rule.seen += 1
        if not rule.fault.selects(rule.seen):
            return False
        rule.fired += 1
        return True

    def before_commit(self, operation: str) -> Decision:
        """Latency and the outcome fault (if any) of a call about to be handled."""
        latency, outcome = 0.0, None
        with self._lock:
            for rule in self._rules:
                kind = rule.fault.kind
                if kind.after_commit or (outcome is not None and kind != FaultKind.LATENCY):
                    continue
                if self._fire(rule, operation):
                    if kind == FaultKind.LATENCY:
                        latency += rule.fault.seconds
                    else:
                        outcome = rule.fault
        return Decision(latency, outcome)

    def after_commit(self, operation: str) -> Fault | None:
        """The after-commit fault of a call that succeeded, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.fault.kind.after_commit and self._fire(rule, operation):
                    return rule.fault
        return None
