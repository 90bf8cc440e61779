"""The SQLite state store: a single file, WAL mode, every change one transaction.

The file is created with owner-only permissions (0600, in a 0700 folder); SQLite gives its
WAL and shared-memory files the same permissions. ``synchronous=FULL`` makes a committed
intent survive a power cut, not only a crash: an intent must never be lost once the
provider may have been called.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qplan.jobstatus import InvalidTransition, JobStatus, check_transition
from qplan.processes import pid_alive
from qplan.state.migrations import MIGRATIONS, SCHEMA_VERSION
from qplan.state.model import DeviceSpecs, LockInfo, Row, RowState, Snapshot, Transition
from qplan.state.store import Lock, StackLocked, StateError, StateStore, content_hash

__all__ = ["SqliteStore"]

STALE_AFTER = 120.0  # seconds without a heartbeat after which a lock looks abandoned
_ROW_FIELDS = (
    "stack, address, kind, job, status, fingerprint, attempt, idempotency_key, provider, "
    "target, provider_job_id, result_hash, error, created_at, updated_at, member, dispatch_ref, "
    "provider_status"
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


class SqliteStore(StateStore):
    """State in one SQLite file. Safe to use from several processes; one object per thread."""

    def __init__(self, path: str | Path, *, create: bool = True, clock: Any = time.time) -> None:
        """Open (and with ``create``, make) the state at ``path``. Without ``create`` a
        missing file reads as an empty state and nothing is written to disk."""
        self.path = Path(path)
        self.clock = clock
        self._conn = self._connect(create=create)

    @property
    def location(self) -> str:
        return str(self.path)

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if create and not self.path.exists():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
        target = str(self.path) if create or self.path.exists() else ":memory:"
        try:
            conn = sqlite3.connect(
                target, isolation_level=None, timeout=30.0, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: not a usable qplan state database ({exc})") from None
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path}: state schema version {version} was written by a newer qplan "
                f"(this one reads up to {SCHEMA_VERSION}); upgrade qplan"
            )
        for step in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                # re-check under the write lock: another process may have migrated meanwhile
                if conn.execute("PRAGMA user_version").fetchone()[0] != step:
                    conn.execute("ROLLBACK")
                    continue
                for statement in _statements(MIGRATIONS[step]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            _rollback(conn)
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    # --- reading ---------------------------------------------------------------------------

    def serial(self, stack: str) -> int:
        row = self._conn.execute("SELECT serial FROM stacks WHERE name = ?", (stack,)).fetchone()
        return int(row[0]) if row else 0

    def snapshot(self, stack: str) -> Snapshot:
        conn = self._conn
        conn.execute("BEGIN")  # one read transaction: serial and rows agree
        try:
            serial, generation = self._counters(stack)
            cursor = conn.execute(
                "SELECT address, status, fingerprint, attempt, kind FROM resources WHERE stack = ?",
                (stack,),
            )
            statuses = {s.value: s for s in JobStatus}
            rows = {
                address: RowState(statuses[status], fingerprint, attempt, kind)
                for address, status, fingerprint, attempt, kind in cursor
            }
        finally:
            conn.execute("COMMIT")
        return Snapshot(stack, serial, rows, generation)

    def generation(self, stack: str) -> int:
        return self._counters(stack)[1]

    def _counters(self, stack: str) -> tuple[int, int]:
        row = self._conn.execute(
            "SELECT serial, generation FROM stacks WHERE name = ?", (stack,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def rows(self, stack: str) -> Iterator[Row]:
        cursor = self._conn.execute(
            f"SELECT {_ROW_FIELDS} FROM resources WHERE stack = ? ORDER BY address", (stack,)
        )
        for values in cursor:
            yield _row(values)

    def row(self, stack: str, address: str) -> Row | None:
        values = self._conn.execute(
            f"SELECT {_ROW_FIELDS} FROM resources WHERE stack = ? AND address = ?", (stack, address)
        ).fetchone()
        return None if values is None else _row(values)

    def events(self, stack: str, address: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM events WHERE stack = ?"
        params: tuple[Any, ...] = (stack,)
        if address is not None:
            query += " AND address = ?"
            params += (address,)
        cursor = self._conn.execute(query + " ORDER BY id", params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def result(self, digest: str) -> bytes | None:
        row = self._conn.execute("SELECT data FROM results WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else bytes(row[0])

    # --- writing ---------------------------------------------------------------------------

    def put_result(self, data: bytes) -> str:
        digest = content_hash(data)
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO results (hash, size, data, created_at) VALUES (?, ?, ?, ?)",
                (digest, len(data), data, self.clock()),
            )
        return digest

    def apply(
        self, stack: str, transitions: Sequence[Transition], results: Sequence[bytes] = ()
    ) -> int:
        if not transitions and not results:
            return self.serial(stack)
        now = self.clock()
        with self._write() as conn:
            for data in results:
                conn.execute(
                    "INSERT OR IGNORE INTO results (hash, size, data, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (content_hash(data), len(data), data, now),
                )
            serial = self._bump(conn, stack, now)
            for t in transitions:
                self._transition(conn, stack, t, now, serial)
        return serial

    def forget(self, stack: str, addresses: Sequence[str], detail: str = "forgotten") -> int:
        now = self.clock()
        with self._write() as conn:
            serial = self._bump(conn, stack, now)
            conn.execute("UPDATE stacks SET generation = generation + 1 WHERE name = ?", (stack,))
            for address in addresses:
                old = conn.execute(
                    "SELECT status, fingerprint, attempt, provider_job_id, result_hash "
                    "FROM resources WHERE stack = ? AND address = ?",
                    (stack, address),
                ).fetchone()
                if old is None:
                    continue
                conn.execute(
                    "INSERT INTO events (stack, address, at, serial, old_status, new_status, "
                    "fingerprint, attempt, provider_job_id, result_hash, detail) "
                    "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                    (stack, address, now, serial, *old, detail),
                )
                conn.execute(
                    "DELETE FROM resources WHERE stack = ? AND address = ?", (stack, address)
                )
        return serial

    def _bump(self, conn: sqlite3.Connection, stack: str, now: float) -> int:
        conn.execute(
            "INSERT INTO stacks (name, serial, created_at, updated_at) VALUES (?, 1, ?, ?) "
            "ON CONFLICT (name) DO UPDATE "
            "SET serial = serial + 1, updated_at = excluded.updated_at",
            (stack, now, now),
        )
        return int(conn.execute("SELECT serial FROM stacks WHERE name = ?", (stack,)).fetchone()[0])

    def _transition(
        self, conn: sqlite3.Connection, stack: str, t: Transition, now: float, serial: int
    ) -> None:
        current = conn.execute(
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
            conn.execute(
                f"INSERT INTO resources ({', '.join(columns)}) VALUES ({marks})",
                (stack, t.address, t.status.value, now, now, *values.values()),
            )
        else:
            assignments = {**values, **{name: None for name in t.clear if name in _SETTABLE}}
            sets = ", ".join(f"{name} = ?" for name in ["status", "updated_at", *assignments])
            conn.execute(
                f"UPDATE resources SET {sets} WHERE stack = ? AND address = ?",
                (t.status.value, now, *assignments.values(), stack, t.address),
            )
        after = conn.execute(
            "SELECT fingerprint, attempt, provider_job_id, result_hash FROM resources "
            "WHERE stack = ? AND address = ?",
            (stack, t.address),
        ).fetchone()
        conn.execute(
            "INSERT INTO events (stack, address, at, serial, old_status, new_status, "
            "fingerprint, attempt, provider_job_id, result_hash, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stack,
                t.address,
                now,
                serial,
                old_status and old_status.value,
                t.status.value,
                *after,
                t.detail,
            ),
        )

    # --- device specifications ---------------------------------------------------------------

    def device_specs(self, provider: str) -> dict[str, DeviceSpecs]:
        cursor = self._conn.execute(
            "SELECT device, specs, fetched_at FROM device_specs WHERE provider = ?", (provider,)
        )
        return {
            device: DeviceSpecs(provider, device, specs, float(fetched_at))
            for device, specs, fetched_at in cursor
        }

    def put_device_specs(self, provider: str, specs: Mapping[str, str], fetched_at: float) -> None:
        try:
            with self._write() as conn:
                conn.execute("DELETE FROM device_specs WHERE provider = ?", (provider,))
                conn.executemany(
                    "INSERT INTO device_specs (provider, device, specs, fetched_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(provider, device, text, fetched_at) for device, text in specs.items()],
                )
        except sqlite3.Error as exc:  # a read-only file, a busy database: the caller decides
            raise StateError(f"{self.path}: cannot keep device specifications ({exc})") from None

    # --- locking ---------------------------------------------------------------------------

    def lock_info(self, stack: str) -> LockInfo | None:
        row = self._conn.execute(
            "SELECT stack, owner, host, pid, operation, acquired_at, heartbeat_at FROM locks "
            "WHERE stack = ?",
            (stack,),
        ).fetchone()
        if row is None:
            return None
        name, owner, host, pid, operation, acquired, heartbeat = row
        stale = self.clock() - heartbeat > STALE_AFTER or (
            host == socket.gethostname() and not pid_alive(pid)
        )
        return LockInfo(name, owner, host, pid, operation, acquired, heartbeat, stale)

    def acquire(self, stack: str, operation: str, owner: str) -> Lock:
        """Take the lock, or raise StackLocked. A lock whose holder is provably dead (this
        host, its pid gone) is taken over: that qplan was killed, nothing else runs. A lock
        from another host is only broken by ``force_unlock``, however old."""
        now = self.clock()
        here = socket.gethostname()
        with self._write() as conn:
            held = conn.execute("SELECT host, pid FROM locks WHERE stack = ?", (stack,)).fetchone()
            if held is not None and held[0] == here and not pid_alive(held[1]):
                conn.execute("DELETE FROM locks WHERE stack = ?", (stack,))
                held = None
            if held is None:
                conn.execute(
                    "INSERT INTO locks "
                    "(stack, owner, host, pid, operation, acquired_at, heartbeat_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (stack, owner, here, os.getpid(), operation, now, now),
                )
        if held is not None:
            info = self.lock_info(stack)
            if info is not None:
                raise StackLocked(info)
            return self.acquire(stack, operation, owner)  # released meanwhile
        return _SqliteLock(self, stack, os.getpid())

    def force_unlock(self, stack: str) -> LockInfo | None:
        info = self.lock_info(stack)
        with self._write() as conn:
            conn.execute("DELETE FROM locks WHERE stack = ?", (stack,))
        return info

    def _heartbeat(self, stack: str, pid: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE locks SET heartbeat_at = ? WHERE stack = ? AND pid = ? AND host = ?",
                (self.clock(), stack, pid, socket.gethostname()),
            )
        return cursor.rowcount == 1

    def _release(self, stack: str, pid: int) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM locks WHERE stack = ? AND pid = ? AND host = ?",
                (stack, pid, socket.gethostname()),
            )


class _SqliteLock(Lock):
    """A held stack lock. ``start_heartbeat`` keeps it fresh from a background thread with
    its own connection; ``release`` (or leaving the ``with`` block) gives it up."""

    def __init__(self, store: SqliteStore, stack: str, pid: int) -> None:
        self.store = store
        self.stack = stack
        self.pid = pid
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def heartbeat(self) -> bool:
        return self.store._heartbeat(self.stack, self.pid)

    def start_heartbeat(self, interval: float = 15.0) -> None:
        own = SqliteStore(self.store.path, clock=self.store.clock)

        def beat() -> None:
            try:
                while not self._stop.wait(interval):
                    own._heartbeat(self.stack, self.pid)
            finally:
                own.close()

        thread = threading.Thread(target=beat, name="qplan-lock-heartbeat", daemon=True)
        thread.start()
        # kept once started: a Ctrl-C inside start() leaves nothing for release() to join (a
        # thread that did start ends at _stop, by itself)
        self._thread = thread

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.store._release(self.stack, self.pid)


def _row(values: Sequence[Any]) -> Row:
    fields = list(values)
    fields[4] = JobStatus(fields[4])
    return Row(*fields)


def _statements(script: str) -> list[str]:
    """Split a migration into statements; triggers hold semicolons inside BEGIN ... END."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo the transaction in progress, if one is: a Ctrl-C can land just after its
    COMMIT, and a ROLLBACK then would fail and hide the interrupt."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
