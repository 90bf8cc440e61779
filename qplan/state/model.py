"""Plain records of the state: rows, transitions, snapshots, locks. Frozen and typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from qplan.jobstatus import JobStatus

__all__ = ["DeviceSpecs", "LockInfo", "Row", "RowState", "Snapshot", "Transition"]


class RowState(NamedTuple):
    """What the planner needs of a row: small, so that a million of them fit in memory."""

    status: JobStatus
    fingerprint: str
    attempt: int
    kind: str


@dataclass(frozen=True, slots=True)
class DeviceSpecs:
    """The specifications of one device as its provider's service published them, kept in
    the state: ``specs`` as published (Pulser's JSON of the device), ``fetched_at`` when
    (seconds since the epoch)."""

    provider: str
    device: str
    specs: str
    fetched_at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All rows of one stack at one ``serial``, loaded in one query. ``generation``: how
    many times rows of the stack were forgotten (see ``StateStore.forget``)."""

    stack: str
    serial: int
    rows: Mapping[str, RowState]
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """A resource row as stored. Times are seconds since the epoch. ``idempotency_key``:
    the key of the dispatch its current attempt went in (shared by the members of a native
    batch, ``member`` being its position there); ``dispatch_ref``: the provider's reference
    of that dispatch (a batch's own id); ``provider_job_id``: this instance's job;
    ``provider_status``: the provider's own word for its state, where it says more than
    ``status`` (an Azure session's ``Failure(s)`` or ``TimedOut``)."""

    stack: str
    address: str
    kind: str
    job: str
    status: JobStatus
    fingerprint: str
    attempt: int
    idempotency_key: str | None
    provider: str
    target: str
    provider_job_id: str | None
    result_hash: str | None
    error: str | None
    created_at: float
    updated_at: float
    member: int | None = None
    dispatch_ref: str | None = None
    provider_status: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of one row to ``status``. Fields left None keep their stored value; a new
    row needs ``kind``, ``job``, ``fingerprint``, ``attempt``, ``provider`` and ``target``.
    ``clear`` names fields to reset to NULL (for a new attempt: provider_job_id, error)."""

    address: str
    status: JobStatus
    kind: str | None = None
    job: str | None = None
    fingerprint: str | None = None
    attempt: int | None = None
    idempotency_key: str | None = None
    provider: str | None = None
    target: str | None = None
    provider_job_id: str | None = None
    result_hash: str | None = None
    error: str | None = None
    member: int | None = None
    dispatch_ref: str | None = None
    provider_status: str | None = None
    detail: str | None = None
    clear: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds a stack's lock, and whether it looks abandoned."""

    stack: str
    owner: str
    host: str
    pid: int
    operation: str
    acquired_at: float
    heartbeat_at: float
    stale: bool

    def describe(self) -> str:
        import datetime as dt

        since = dt.datetime.fromtimestamp(self.acquired_at, dt.UTC).strftime(
            "%Y-%m-%d %H:%M:%S UTC"
        )
        beat = dt.datetime.fromtimestamp(self.heartbeat_at, dt.UTC).strftime("%H:%M:%S UTC")
        text = (
            f"stack {self.stack} is locked by {self.owner}@{self.host} (pid {self.pid}, "
            f"{self.operation}) since {since}, last heartbeat {beat}"
        )
        if self.stale:
            text += (
                "; the lock looks abandoned: if no qplan runs on that host, "
                "break it with `qplan force-unlock`"
            )
        return text
