"""What the SQL state stores share: every statement that reads or changes a stack, written
once. SQLite (``state.sqlite``) and PostgreSQL (``state.postgres``) supply a connection,
their transactions, the bulk snapshot and the stack lock.

Statements use ``?`` placeholders; a backend with another paramstyle rewrites them in
``_x``. Every write goes through ``_write``, one transaction that first bumps the stack's
``serial`` (``_bump``): on PostgreSQL that ``INSERT ... ON CONFLICT DO UPDATE`` locks the
stack's row, so that two writers of one stack queue there, and a transition's check reads
the status its write replaces.
"""

from __future__ import annotations

import threading
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from qplan.jobstatus import InvalidTransition, JobStatus, check_transition
from qplan.state.model import DeviceSpecs, Row, Transition
from qplan.state.store import Lock, StateError, StateStore, content_hash

__all__ = ["ROW_FIELDS", "Cursor", "HeldLock", "SqlStore", "row_from"]

ROW_FIELDS = (
    "stack, address, kind, job, status, fingerprint, attempt, idempotency_key, provider, "
    "target, provider_job_id, result_hash, error, created_at, updated_at, member, dispatch_ref, "
    "provider_status"
)
EVENT_FIELDS = (
    "id, stack, address, at, serial, old_status, new_status, fingerprint, attempt, "
    "provider_job_id, result_hash, detail"
)
_SETTABLE = (
    "kind",
    "job",
    "fingerprint",
    "attempt",
    "idempotency_key",
    "provider",
    "target",
    "provider_job_id",
    "result_hash",
    "error",
    "member",
    "dispatch_ref",
    "provider_status",
)
_REQUIRED_NEW = ("kind", "job", "fingerprint", "attempt", "provider", "target")
_INSERT_EVENT = (
    "INSERT INTO events (stack, address, at, serial, old_status, new_status, fingerprint, "
    "attempt, provider_job_id, result_hash, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RESULT = (
    "INSERT INTO results (hash, size, data, created_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (hash) DO NOTHING"
)


class Cursor(Protocol):
    """What both drivers' cursors give: rows one by one, and what a write touched."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlStore(StateStore):
    """The shared part of a SQL state store. ``clock``: seconds since the epoch."""

    clock: Any

    @abstractmethod
    def _x(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement on the store's connection (inside ``_write`` when in one)."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[None]:
        """One write transaction: committed on exit, rolled back on any exception."""

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        for params in rows:
            self._x(sql, params)

    # --- reading ---------------------------------------------------------------------------

    def serial(self, stack: str) -> int:
        return self._counters(stack)[0]

    def generation(self, stack: str) -> int:
        return self._counters(stack)[1]

    def _counters(self, stack: str) -> tuple[int, int]:
        row = self._x("SELECT serial, generation FROM stacks WHERE name = ?", (stack,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def lineage(self, stack: str) -> str | None:
        """The stack's lineage: made when its first row was written, kept by every copy
        of its state (``state pull``, ``push``, ``migrate``); None before."""
        row = self._x("SELECT lineage FROM stacks WHERE name = ?", (stack,)).fetchone()
        return None if row is None else row[0]

    def rows(self, stack: str) -> Iterator[Row]:
        cursor = self._x(
            f"SELECT {ROW_FIELDS} FROM resources WHERE stack = ? ORDER BY address", (stack,)
        )
        for values in cursor:
            yield row_from(values)

    def row(self, stack: str, address: str) -> Row | None:
        values = self._x(
            f"SELECT {ROW_FIELDS} FROM resources WHERE stack = ? AND address = ?", (stack, address)
        ).fetchone()
        return None if values is None else row_from(values)

    def events(self, stack: str, address: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {EVENT_FIELDS} FROM events WHERE stack = ?"
        params: tuple[Any, ...] = (stack,)
        if address is not None:
            query += " AND address = ?"
            params += (address,)
        cursor = self._x(query + " ORDER BY id", params)
        names = EVENT_FIELDS.split(", ")
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def result(self, digest: str) -> bytes | None:
        row = self._x("SELECT data FROM results WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else bytes(row[0])

    # --- writing ---------------------------------------------------------------------------

    def put_result(self, data: bytes) -> str:
        digest = content_hash(data)
        with self._write():
            self._x(_INSERT_RESULT, (digest, len(data), data, self.clock()))
        return digest

    def apply(
        self, stack: str, transitions: Sequence[Transition], results: Sequence[bytes] = ()
    ) -> int:
        if not transitions and not results:
            return self.serial(stack)
        now = self.clock()
        with self._write():
            for data in results:
                self._x(_INSERT_RESULT, (content_hash(data), len(data), data, now))
            serial = self._bump(stack, now)
            for t in transitions:
                self._transition(stack, t, now, serial)
        return serial

    def forget(self, stack: str, addresses: Sequence[str], detail: str = "forgotten") -> int:
        now = self.clock()
        with self._write():
            serial = self._bump(stack, now)
            self._x("UPDATE stacks SET generation = generation + 1 WHERE name = ?", (stack,))
            for address in addresses:
                old = self._x(
                    "SELECT status, fingerprint, attempt, provider_job_id, result_hash "
                    "FROM resources WHERE stack = ? AND address = ?",
                    (stack, address),
                ).fetchone()
                if old is None:
                    continue
                status, fingerprint, attempt, job_id, result = old
                self._x(
                    _INSERT_EVENT,
                    (stack, address, now, serial, status, None, fingerprint, attempt, job_id,
                     result, detail),
                )  # fmt: skip
                self._x("DELETE FROM resources WHERE stack = ? AND address = ?", (stack, address))
        return serial

    def _bump(self, stack: str, now: float) -> int:
        """The stack's next serial; its row is made (with a new lineage) on the first write.
        On PostgreSQL this locks the row until the transaction ends."""
        self._x(
            "INSERT INTO stacks (name, serial, created_at, updated_at, lineage) "
            "VALUES (?, 1, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
            "SET serial = stacks.serial + 1, updated_at = excluded.updated_at",
            (stack, now, now, uuid.uuid4().hex),
        )
        return int(self._x("SELECT serial FROM stacks WHERE name = ?", (stack,)).fetchone()[0])

    def _transition(self, stack: str, t: Transition, now: float, serial: int) -> None:
        current = self._x(
            "SELECT status FROM resources WHERE stack = ? AND address = ?", (stack, t.address)
        ).fetchone()
        old_status = JobStatus(current[0]) if current else None
        try:
            check_transition(old_status, t.status)
        except InvalidTransition as exc:
            raise InvalidTransition(f"{t.address}: {exc}") from None
        values = {name: getattr(t, name) for name in _SETTABLE if getattr(t, name) is not None}
        if current is None:
            missing = [name for name in _REQUIRED_NEW if name not in values]
            if missing:
                raise StateError(f"{t.address}: a new row needs {', '.join(missing)}")
            columns = ["stack", "address", "status", "created_at", "updated_at", *values]
            marks = ", ".join("?" * len(columns))
            self._x(
                f"INSERT INTO resources ({', '.join(columns)}) VALUES ({marks})",
                (stack, t.address, t.status.value, now, now, *values.values()),
            )
        else:
            assignments = {**values, **{name: None for name in t.clear if name in _SETTABLE}}
            sets = ", ".join(f"{name} = ?" for name in ["status", "updated_at", *assignments])
            self._x(
                f"UPDATE resources SET {sets} WHERE stack = ? AND address = ?",
                (t.status.value, now, *assignments.values(), stack, t.address),
            )
        after = self._x(
            "SELECT fingerprint, attempt, provider_job_id, result_hash FROM resources "
            "WHERE stack = ? AND address = ?",
            (stack, t.address),
        ).fetchone()
        self._x(
            _INSERT_EVENT,
            (stack, t.address, now, serial, old_status and old_status.value, t.status.value,
             *after, t.detail),
        )  # fmt: skip

    # --- device specifications ---------------------------------------------------------------

    def device_specs(self, provider: str) -> dict[str, DeviceSpecs]:
        cursor = self._x(
            "SELECT device, specs, fetched_at FROM device_specs WHERE provider = ?", (provider,)
        )
        return {
            device: DeviceSpecs(provider, device, specs, float(fetched_at))
            for device, specs, fetched_at in cursor.fetchall()
        }

    def put_device_specs(self, provider: str, specs: Mapping[str, str], fetched_at: float) -> None:
        try:
            with self._write():
                self._x("DELETE FROM device_specs WHERE provider = ?", (provider,))
                self._many(
                    "INSERT INTO device_specs (provider, device, specs, fetched_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(provider, device, text, fetched_at) for device, text in specs.items()],
                )
        except StateError as exc:  # a read-only database, a busy one: the caller decides
            raise StateError(f"cannot keep device specifications: {exc}") from None

    # --- copying a stack whole (state pull, push, migrate) ------------------------------------

    def export_stack(self, stack: str) -> dict[str, Any]:
        """The stack's rows, events and the results they name, read in one transaction
        (see ``state.portable``)."""
        with self._read_consistent():
            head = self._x(
                "SELECT serial, generation, lineage, created_at FROM stacks WHERE name = ?",
                (stack,),
            ).fetchone()
            names = ROW_FIELDS.split(", ")
            rows = [
                dict(zip(names, values, strict=True))
                for values in self._x(
                    f"SELECT {ROW_FIELDS} FROM resources WHERE stack = ? ORDER BY address",
                    (stack,),
                ).fetchall()
            ]
            events = self.events(stack)
            digests = sorted(
                {r["result_hash"] for r in rows if r["result_hash"]}
                | {e["result_hash"] for e in events if e["result_hash"]}
            )
            results: dict[str, bytes] = {}
            for digest in digests:
                data = self.result(digest)
                if data is None:
                    raise StateError(
                        f"{self.location}: result {digest[:12]}, named by stack {stack}, is "
                        "missing from the state"
                    )
                results[digest] = data
        serial, generation, lineage, created = head if head else (0, 0, None, None)
        return {
            "stack": stack,
            "serial": int(serial),
            "generation": int(generation),
            "lineage": lineage,
            "created_at": created,
            "rows": rows,
            "events": events,
            "results": results,
        }

    def holds(self, doc: Mapping[str, Any]) -> bool:
        """Whether the store holds exactly what ``doc`` says of its stack: lineage, serial,
        generation, rows and event log."""
        stack = str(doc["stack"])
        return _same(doc, self._head(stack), list(self.rows(stack)), self.events(stack))

    def _head(self, stack: str) -> tuple[Any, ...] | None:
        row = self._x(
            "SELECT serial, generation, lineage FROM stacks WHERE name = ?", (stack,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), row[2])

    def import_stack(self, doc: Mapping[str, Any]) -> int:
        """Make the stack's state what ``doc`` (an ``export_stack``) says, in one
        transaction: its results are added, its rows replace the stack's, and the event log
        grows by the events the store does not have yet (the log stays append-only: a
        store whose log is not a prefix of the document's keeps its own and logs each
        row the push changed). The serial moves past both the store's and the document's,
        and the generation past both when rows were replaced. Returns the new serial.

        A document of what the store holds already (its lineage, serial, generation, rows
        and log: a state pushed back where it was pulled from) changes nothing; its serial
        is returned."""
        stack = str(doc["stack"])
        now = self.clock()
        names = ROW_FIELDS.split(", ")
        with self._write():
            for digest, data in doc["results"].items():
                if content_hash(data) != digest:
                    raise StateError(f"result {digest[:12]}: its content does not match its hash")
                self._x(_INSERT_RESULT, (digest, len(data), data, now))
            head = self._head(stack)
            old_serial, old_generation = (int(head[0]), int(head[1])) if head else (0, 0)
            rows, events = list(self.rows(stack)), self.events(stack)
            if _same(doc, head, rows, events):
                return old_serial
            old_rows = {r.address: r for r in rows}
            old_events = [_event_key(e) for e in events]
            new_events = [_event_key(e) for e in doc["events"]]
            serial = max(old_serial, int(doc["serial"])) + 1
            replaced = bool(old_rows) or bool(old_events)
            generation = max(old_generation, int(doc["generation"])) + (1 if replaced else 0)
            self._x(
                "INSERT INTO stacks (name, serial, generation, created_at, updated_at, lineage) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "serial = excluded.serial, generation = excluded.generation, "
                "updated_at = excluded.updated_at, lineage = excluded.lineage",
                (stack, serial, generation, doc.get("created_at") or now, now, doc["lineage"]),
            )
            history = new_events[len(old_events) :]
            if new_events[: len(old_events)] != old_events:
                history = []
            self._many(_INSERT_EVENT, [(stack, *key) for key in history])
            new_rows = {str(r["address"]): r for r in doc["rows"]}
            self._x("DELETE FROM resources WHERE stack = ?", (stack,))
            marks = ", ".join("?" * len(names))
            self._many(
                f"INSERT INTO resources ({ROW_FIELDS}) VALUES ({marks})",
                [tuple(stack if n == "stack" else r[n] for n in names) for r in new_rows.values()],
            )
            if not history and replaced:
                self._many(_INSERT_EVENT, _push_events(stack, old_rows, new_rows, now, serial))
        return serial

    @abstractmethod
    def _read_consistent(self) -> AbstractContextManager[None]:
        """A read transaction: every statement in it sees the same state."""

    # --- the lock's row ----------------------------------------------------------------------

    def _lock_row(self, stack: str) -> tuple[Any, ...] | None:
        """The lock's row: stack, owner, host, pid, operation, acquired_at, heartbeat_at."""
        row = self._x(
            "SELECT stack, owner, host, pid, operation, acquired_at, heartbeat_at FROM locks "
            "WHERE stack = ?",
            (stack,),
        ).fetchone()
        return None if row is None else tuple(row)

    def _heartbeat(self, stack: str, host: str, pid: int) -> bool:
        with self._write():
            cursor = self._x(
                "UPDATE locks SET heartbeat_at = ? WHERE stack = ? AND pid = ? AND host = ?",
                (self.clock(), stack, pid, host),
            )
        return cursor.rowcount == 1

    def _release(self, stack: str, host: str, pid: int) -> None:
        with self._write():
            self._x(
                "DELETE FROM locks WHERE stack = ? AND pid = ? AND host = ?", (stack, pid, host)
            )


class HeldLock(Lock):
    """A held stack lock: its row names ``host`` and ``pid``. ``start_heartbeat`` keeps the
    row fresh from a background thread with a store of its own (``own``); ``release`` (or
    leaving the ``with`` block) gives the lock up."""

    def __init__(
        self, store: SqlStore, stack: str, host: str, pid: int, own: Callable[[], SqlStore]
    ) -> None:
        self.store = store
        self.stack = stack
        self.host = host
        self.pid = pid
        self._own = own
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def heartbeat(self) -> bool:
        return self.store._heartbeat(self.stack, self.host, self.pid)

    def start_heartbeat(self, interval: float = 15.0) -> None:
        own = self._own()

        def beat() -> None:
            try:
                while not self._stop.wait(interval):
                    try:
                        own._heartbeat(self.stack, self.host, self.pid)
                    except StateError:
                        continue  # busy, or the server away for a moment: the next beat
            finally:
                own.close()

        thread = threading.Thread(target=beat, name="qplan-lock-heartbeat", daemon=True)
        try:
            thread.start()
        except BaseException:
            own.close()
            raise
        # kept once started: a Ctrl-C inside start() leaves nothing for release() to join (a
        # thread that did start ends at _stop, by itself)
        self._thread = thread

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.store._release(self.stack, self.host, self.pid)


def _same(
    doc: Mapping[str, Any],
    head: tuple[Any, ...] | None,
    rows: Sequence[Row],
    events: Sequence[Mapping[str, Any]],
) -> bool:
    """Whether a stack's ``head`` (serial, generation, lineage), ``rows`` and ``events``
    are what ``doc`` says."""
    if head != (int(doc["serial"]), int(doc["generation"]), doc["lineage"]):
        return False
    names = ROW_FIELDS.split(", ")[1:]
    held = {r.address: tuple(getattr(r, n) for n in names) for r in rows}
    if held != {r["address"]: tuple(r[n] for n in names) for r in doc["rows"]}:
        return False
    return [_event_key(e) for e in events] == [_event_key(e) for e in doc["events"]]


def _event_key(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """An event's content in insertion order, without its id (ids are per store)."""
    names = EVENT_FIELDS.split(", ")[2:]
    return tuple(event[n] for n in names)


def _push_events(
    stack: str,
    old: Mapping[str, Row],
    new: Mapping[str, Mapping[str, Any]],
    now: float,
    serial: int,
) -> list[tuple[Any, ...]]:
    """One event for each row a push changed or removed (``detail``: state push)."""
    out: list[tuple[Any, ...]] = []
    for address in sorted(set(old) | set(new)):
        before, after = old.get(address), new.get(address)
        old_status = before.status.value if before else None
        if after is None:
            assert before is not None
            out.append(
                (stack, address, now, serial, old_status, None, before.fingerprint,
                 before.attempt, before.provider_job_id, before.result_hash, "state push")
            )  # fmt: skip
            continue
        values = (after["status"], after["fingerprint"], after["attempt"],
                  after["provider_job_id"], after["result_hash"])  # fmt: skip
        if before is not None and values == (
            old_status, before.fingerprint, before.attempt, before.provider_job_id,
            before.result_hash,
        ):  # fmt: skip
            continue
        out.append((stack, address, now, serial, old_status, *values, "state push"))
    return out


def row_from(values: Sequence[Any]) -> Row:
    fields = list(values)
    fields[4] = JobStatus(fields[4])
    return Row(*fields)
