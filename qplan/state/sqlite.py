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
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.processes import pid_alive
from qplan.state.migrations import MIGRATIONS, SCHEMA_VERSION
from qplan.state.model import LockInfo, RowState, Snapshot
from qplan.state.sql import Cursor, HeldLock, SqlStore
from qplan.state.store import Lock, StackLocked, StateError

__all__ = ["SqliteStore"]

STALE_AFTER = 120.0  # seconds without a heartbeat after which a lock looks abandoned


class SqliteStore(SqlStore):
    """State in one SQLite file. Safe to use from several processes; one object per thread."""

    def __init__(self, path: str | Path, *, create: bool = True, clock: Any = time.time) -> None:
        """Open (and with ``create``, make) the state at ``path``. Without ``create`` a
        missing file reads as an empty state and nothing is written to disk."""
        self.path = Path(path)
        self.clock = clock
        self._label: str | None = None
        self._conn = self._connect(create=create)

    @classmethod
    def empty(cls, location: str) -> SqliteStore:
        """An empty state in memory that says it is ``location``: what a read-only command
        reads of a database that holds no state yet."""
        store = cls(os.devnull + "/none", create=False)
        store._label = location
        return store

    @property
    def location(self) -> str:
        return self._label or str(self.path)

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

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: {exc}") from None

    @contextmanager
    def _write(self) -> Iterator[None]:
        conn = self._conn
        self._x("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            _rollback(conn)
            raise
        self._x("COMMIT")

    @contextmanager
    def _read_consistent(self) -> Iterator[None]:
        self._x("BEGIN")
        try:
            yield
        finally:
            _rollback(self._conn)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def snapshot(self, stack: str) -> Snapshot:
        with self._read_consistent():  # serial and rows agree
            serial, generation = self._counters(stack)
            cursor = self._x(
                "SELECT address, status, fingerprint, attempt, kind FROM resources WHERE stack = ?",
                (stack,),
            )
            statuses = {s.value: s for s in JobStatus}
            rows = {
                address: RowState(statuses[status], fingerprint, attempt, kind)
                for address, status, fingerprint, attempt, kind in cursor
            }
        return Snapshot(stack, serial, rows, generation)

    # --- locking ---------------------------------------------------------------------------

    def lock_info(self, stack: str) -> LockInfo | None:
        row = self._lock_row(stack)
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
        with self._write():
            held = self._x("SELECT host, pid FROM locks WHERE stack = ?", (stack,)).fetchone()
            if held is not None and held[0] == here and not pid_alive(held[1]):
                self._x("DELETE FROM locks WHERE stack = ?", (stack,))
                held = None
            if held is None:
                self._x(
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
        return HeldLock(
            self, stack, here, os.getpid(), lambda: SqliteStore(self.path, clock=self.clock)
        )

    def force_unlock(self, stack: str) -> LockInfo | None:
        info = self.lock_info(stack)
        with self._write():
            self._x("DELETE FROM locks WHERE stack = ?", (stack,))
        return info


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
