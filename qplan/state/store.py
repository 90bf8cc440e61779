"""The state store interface. SQLite implements it; PostgreSQL will, with the same schema.

Invariants every implementation keeps:

- one row per resource (job instance or session), keyed by (stack, address);
- every change is one atomic transaction that also appends to the event log and bumps the
  stack's ``serial`` (a saved plan remembers the serial it was made at);
- a transition is checked against ``qplan.jobstatus.TRANSITIONS`` inside that transaction;
- results are stored once by content hash and never deleted, even when their row is.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from qplan.errors import QplanError
from qplan.state.model import DeviceSpecs, LockInfo, Row, Snapshot, Transition

__all__ = ["Lock", "StackLocked", "StateError", "StateStore", "content_hash"]


class StateError(QplanError):
    """The state cannot be read or written as asked."""


class StackLocked(StateError):
    """Another qplan holds the stack's lock. ``info`` says who, where and since when."""

    def __init__(self, info: LockInfo) -> None:
        super().__init__(info.describe())
        self.info = info


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Lock(ABC):
    """A held stack lock; a context manager that releases it on exit."""

    @abstractmethod
    def heartbeat(self) -> bool:
        """Refresh the heartbeat; False if the lock was broken meanwhile."""

    @abstractmethod
    def start_heartbeat(self, interval: float = 15.0) -> None:
        """Refresh the heartbeat every ``interval`` seconds until released."""

    @abstractmethod
    def release(self) -> None: ...

    def __enter__(self) -> Lock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class StateStore(ABC):
    @property
    @abstractmethod
    def location(self) -> str:
        """Where the state lives, for messages (never with credentials)."""

    @abstractmethod
    def serial(self, stack: str) -> int: ...

    @abstractmethod
    def lineage(self, stack: str) -> str | None:
        """The stack's identity, kept by every copy of its state; None before its first
        write."""

    @abstractmethod
    def generation(self, stack: str) -> int:
        """How many times rows of ``stack`` were forgotten (see ``forget``)."""

    @abstractmethod
    def snapshot(self, stack: str) -> Snapshot:
        """Every row of ``stack`` and the serial they are at, read in bulk."""

    @abstractmethod
    def rows(self, stack: str) -> Iterator[Row]: ...

    @abstractmethod
    def row(self, stack: str, address: str) -> Row | None: ...

    @abstractmethod
    def events(self, stack: str, address: str | None = None) -> list[dict[str, Any]]: ...

    @abstractmethod
    def result(self, digest: str) -> bytes | None: ...

    @abstractmethod
    def put_result(self, data: bytes) -> str:
        """Store ``data`` once; returns its content hash."""

    @abstractmethod
    def apply(
        self, stack: str, transitions: Sequence[Transition], results: Sequence[bytes] = ()
    ) -> int:
        """Store ``results`` and apply all transitions in one transaction; returns the new
        serial. Raises InvalidTransition (nothing written) when one is not allowed. A
        transition's ``result_hash`` may name a result stored by the same call."""

    @abstractmethod
    def forget(self, stack: str, addresses: Sequence[str], detail: str = "forgotten") -> int:
        """Delete rows; their last state (and result hash) stays in the event log. The
        stack's ``generation`` goes up by one: idempotency keys made later differ from the
        forgotten rows' ones, even where attempt numbers start again."""

    @abstractmethod
    def device_specs(self, provider: str) -> dict[str, DeviceSpecs]:
        """The device specifications kept for ``provider``, by device (empty: none)."""

    @abstractmethod
    def put_device_specs(self, provider: str, specs: Mapping[str, str], fetched_at: float) -> None:
        """Keep ``specs`` (device to published specifications) as ``provider``'s, in place
        of those kept before, in one transaction. A cache: no stack's serial changes.
        Raises StateError when the state cannot be written."""

    @abstractmethod
    def lock_info(self, stack: str) -> LockInfo | None: ...

    @abstractmethod
    def acquire(self, stack: str, operation: str, owner: str) -> Lock:
        """Take the stack's lock at once or raise StackLocked; never waits. The lock of a
        holder provably dead (same host, process gone) is taken over."""

    @abstractmethod
    def force_unlock(self, stack: str) -> LockInfo | None:
        """Break the lock; returns what it was."""

    @abstractmethod
    def close(self) -> None: ...
