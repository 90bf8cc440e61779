"""The PostgreSQL state store: one database (one schema in it, ``qplan`` by default) shared by
many stacks and many runners. The extra ``qplan[postgres]`` installs its driver, psycopg 3.

The URL is libpq's, passed through as it is (``sslmode``, ``sslrootcert``, ``connect_timeout``
and the rest), less qplan's own ``schema`` parameter. A password may be in the URL, in
``PGPASSWORD`` or in a password file, as libpq reads them; none is ever shown: ``location``
and every error give the URL without it.

The stack lock is a row (owner, host, pid, operation, heartbeat) and a session-level advisory
lock held by the store's own connection: a runner that dies, on any host, loses its
connection, and the server releases the lock at once; the next runner takes it over. Losing
the connection also ends every write of the runner that held it, so that two runners never
write one stack's state at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import (
    SplitResult,
    parse_qsl,
    quote,
    unquote,
    urlencode,
    urlsplit,
    urlunsplit,
)

from qplan.errors import UsageError
from qplan.jobstatus import JobStatus
from qplan.processes import pid_alive
from qplan.state.migrations import POSTGRES_MIGRATIONS, SCHEMA_VERSION
from qplan.state.model import LockInfo, RowState, Snapshot
from qplan.state.sql import Cursor, HeldLock, SqlStore
from qplan.state.store import Lock, StackLocked, StateError

if TYPE_CHECKING:
    import psycopg

__all__ = ["DEFAULT_SCHEMA", "PostgresStore", "PostgresUrl", "is_postgres_url"]

DEFAULT_SCHEMA = "qplan"
STALE_AFTER = 120.0  # seconds without a heartbeat after which a live holder looks hung
SNAPSHOT_BATCH = 20_000  # rows per round trip of the snapshot's server-side cursor
# the advisory locks' first key: "qpln". The second is a hash of the schema and stack; key
# (NAMESPACE, 0) serialises the schema's migrations.
NAMESPACE = 0x71706C6E
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SECRET_PARAMS = ("password", "sslpassword")


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class PostgresUrl:
    """A state URL split into what libpq is given (``conninfo``), the schema qplan uses,
    and a form safe to show (``location``: no password)."""

    def __init__(self, url: str) -> None:
        parts = _split(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        self.schema = schemas[-1] if schemas else DEFAULT_SCHEMA
        if not _SCHEMA_NAME.fullmatch(self.schema):
            raise UsageError(
                f"--state: schema={self.schema!r} is not a plain lower-case SQL name "
                "(letters, digits and _)"
            )
        rest = [(k, v) for k, v in query if k != "schema"]
        self.conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
        self.password = (parts.password and unquote(parts.password)) or next(
            (v for k, v in rest if k == "password"), None
        )
        self.timeout_given = any(k == "connect_timeout" for k, _ in rest)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        if parts.username:
            netloc = f"{quote(parts.username, safe='')}@{netloc}"
        shown = [(k, v) for k, v in query if k not in _SECRET_PARAMS]
        self.location = urlunsplit(
            (parts.scheme, netloc, parts.path, urlencode(shown, safe="/:"), "")
        )

    def redact(self, text: str) -> str:
        """``text`` without the password, wherever a driver's message quoted it."""
        if self.password:
            text = text.replace(self.password, "***")
            text = text.replace(quote(self.password, safe=""), "***")
        return text


_UNREADABLE = (
    "--state: this PostgreSQL URL cannot be read as given: percent-encode the characters "
    "/ ? # @ % and spaces in its user name and password (or leave the password out and give "
    "it in PGPASSWORD or ~/.pgpass)"
)


def _split(url: str) -> SplitResult:
    """``url`` split as libpq will read it, or a UsageError that repeats none of it: a
    password with an unencoded ``/``, ``?``, ``#`` or ``@`` makes libpq (and ``urlsplit``)
    take part of it for the host, port or database, where a message would show it."""
    rest = url.split("://", 1)[1]
    if "#" in url:  # libpq has no fragment: a # is a password's, left unencoded
        raise UsageError(_UNREADABLE)
    # libpq: the user and password end at the first @ before any /
    cut = next((i for i, c in enumerate(rest) if c in "@/"), len(rest))
    libpq_userinfo = rest[:cut] if cut < len(rest) and rest[cut] == "@" else None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise UsageError(_UNREADABLE) from None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    if userinfo != libpq_userinfo or "@" in parts.path:
        raise UsageError(_UNREADABLE)
    return parts


def chunked_rows(driver: Any) -> bool:
    """Whether libpq returns a result in chunks of rows (17 and later)."""
    return int(driver.pq.version()) >= 170000


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError(
            "--state: PostgreSQL state needs the postgres extra: pip install 'qplan[postgres]'"
        ) from None
    return psycopg


class PostgresStore(SqlStore):
    """State in a PostgreSQL database. One object per thread; as many processes, on as many
    hosts, as the server accepts. ``create``: make the schema if the database has none
    (``open`` reads a database without one as an empty state, writing nothing)."""

    def __init__(self, url: str, *, create: bool = True, clock: Any = time.time) -> None:
        self.url = PostgresUrl(url)
        self._url_text = url  # with its password: for the store's own connections only
        self.clock = clock
        self._psycopg = _driver()
        self._conn: psycopg.Connection[Any] = self._connect()
        try:
            self.initialized = self._migrate(create=create)
        except BaseException:
            self._conn.close()
            raise

    @property
    def location(self) -> str:
        return self.url.location

    def _error(self, exc: Exception) -> StateError:
        lines = str(exc).strip().splitlines()  # the server's CONTEXT lines say nothing more
        message = lines[0] if lines else type(exc).__name__
        return StateError(self.url.redact(f"{self.location}: {message}"))

    def _connect(self) -> psycopg.Connection[Any]:
        options: dict[str, Any] = {"autocommit": True, "application_name": "qplan"}
        if not self.url.timeout_given:
            options["connect_timeout"] = 10
        try:
            conn: psycopg.Connection[Any] = self._psycopg.connect(self.url.conninfo, **options)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None
        return conn

    def _migrate(self, *, create: bool) -> bool:
        """Bring the schema to this qplan's version; False when the database has no qplan
        schema and ``create`` is off (nothing was written)."""
        schema = self.url.schema
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.location}: state schema version {version} was written by a newer "
                f"qplan (this one reads up to {SCHEMA_VERSION}); upgrade qplan"
            )
        if version == 0 and not create:
            return False
        if version < SCHEMA_VERSION:
            try:
                with self._conn.transaction():
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (NAMESPACE,))
                    version = self._version()  # another runner may have migrated meanwhile
                    if version == 0:
                        present = self._conn.execute(
                            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
                        ).fetchone()
                        if present is None:
                            self._conn.execute(f"CREATE SCHEMA {schema}")
                    self._conn.execute(f"SET LOCAL search_path TO {schema}")
                    if version == 0:
                        self._conn.execute("CREATE TABLE qplan_schema (version INTEGER NOT NULL)")
                        self._conn.execute("INSERT INTO qplan_schema (version) VALUES (0)")
                    for start, end, script in POSTGRES_MIGRATIONS:
                        if start == version:
                            self._conn.execute(script)
                            self._conn.execute("UPDATE qplan_schema SET version = %s", (end,))
                            version = end
            except self._psycopg.Error as exc:
                raise self._error(exc) from None
            if version != SCHEMA_VERSION:
                raise StateError(
                    f"{self.location}: no migration from state schema version {version}"
                )
        self._x(f"SET search_path TO {schema}")
        return True

    def _version(self) -> int:
        # pg_tables, not to_regclass: a plain query sees what another runner's migration
        # committed while this one waited for the migration lock (the catalog cache may not)
        table = self._x(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = ? AND tablename = ?",
            (self.url.schema, "qplan_schema"),
        ).fetchone()
        if table is None:
            return 0
        row = self._x(f"SELECT version FROM {self.url.schema}.qplan_schema").fetchone()
        return 0 if row is None else int(row[0])

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            return self._conn.execute(sql.replace("?", "%s"), params or None)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            with self._conn.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    @contextmanager
    def _write(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                yield
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    @contextmanager
    def _read_consistent(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        self._conn.close()

    def snapshot(self, stack: str) -> Snapshot:
        """One query, streamed in batches of ``SNAPSHOT_BATCH`` rows, in the same
        repeatable-read transaction as the serial it is at: libpq's chunked rows (libpq 17
        and later, as psycopg's binary package ships), else a server-side cursor."""
        statuses = {s.value: s for s in JobStatus}
        query = "SELECT address, status, fingerprint, attempt, kind FROM resources WHERE stack = %s"
        with self._read_consistent():
            serial, generation = self._counters(stack)
            try:
                if chunked_rows(self._psycopg):
                    with self._conn.cursor() as cursor:
                        stream = cursor.stream(query, (stack,), size=SNAPSHOT_BATCH)
                        rows = {
                            address: RowState(statuses[status], fingerprint, attempt, kind)
                            for address, status, fingerprint, attempt, kind in stream
                        }
                else:
                    with self._conn.cursor(name="qplan_snapshot") as named:
                        named.itersize = SNAPSHOT_BATCH
                        named.execute(query, (stack,))
                        rows = {
                            address: RowState(statuses[status], fingerprint, attempt, kind)
                            for address, status, fingerprint, attempt, kind in named
                        }
            except self._psycopg.Error as exc:
                raise self._error(exc) from None
        return Snapshot(stack, serial, rows, generation)

    # --- locking ---------------------------------------------------------------------------

    def _lock_key(self, stack: str) -> int:
        digest = hashlib.sha256(f"{self.url.schema}\0{stack}".encode()).digest()
        return int.from_bytes(digest[:4], "big", signed=True)

    def _holder_backend(self, stack: str) -> int | None:
        """The server process (backend) of the session holding the stack's advisory lock."""
        row = self._x(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = ?::bigint::oid AND objid = ?::bigint::oid AND objsubid = 2",
            (NAMESPACE, self._lock_key(stack) & 0xFFFFFFFF),
        ).fetchone()
        return None if row is None else int(row[0])

    def lock_info(self, stack: str) -> LockInfo | None:
        row = self._lock_row(stack)
        if row is None:
            return None
        name, owner, host, pid, operation, acquired, heartbeat = row
        gone = self._holder_backend(stack) is None  # its session ended: the holder is dead
        stale = gone or self.clock() - heartbeat > STALE_AFTER
        return LockInfo(name, owner, host, pid, operation, acquired, heartbeat, stale)

    def acquire(self, stack: str, operation: str, owner: str) -> Lock:
        """Take the lock at once or raise StackLocked. The advisory lock decides; its row
        says who holds it. A row left by a holder whose session ended (killed, on any host)
        is replaced."""
        key = self._lock_key(stack)
        deadline = time.monotonic() + 2.0
        here = socket.gethostname()
        while not self._x("SELECT pg_try_advisory_lock(?, ?)", (NAMESPACE, key)).fetchone()[0]:
            info = self.lock_info(stack)
            dying = info is not None and info.host == here and not pid_alive(info.pid)
            if info is not None and not info.stale and not dying:
                raise StackLocked(info)
            if time.monotonic() > deadline:  # held, and its holder wrote no row yet
                now = self.clock()
                raise StackLocked(
                    info or LockInfo(stack, "another qplan", "?", 0, "?", now, now, False)
                )
            # taken or released this instant (its row is on its way), or its holder, killed
            # on this host, has a session the server has not ended yet
            time.sleep(0.05)
        pid, now = os.getpid(), self.clock()
        try:
            with self._write():
                self._x("DELETE FROM locks WHERE stack = ?", (stack,))
                self._x(
                    "INSERT INTO locks "
                    "(stack, owner, host, pid, operation, acquired_at, heartbeat_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (stack, owner, here, pid, operation, now, now),
                )
        except BaseException:
            self._unlock(key)
            raise
        return HeldLock(
            self, stack, here, pid, lambda: PostgresStore(self._url_text, clock=self.clock)
        )

    def _unlock(self, key: int) -> None:
        with contextlib.suppress(StateError):  # the connection is gone, and the lock with it
            self._x("SELECT pg_advisory_unlock(?, ?)", (NAMESPACE, key))

    def _release(self, stack: str, host: str, pid: int) -> None:
        try:
            super()._release(stack, host, pid)
        finally:
            self._unlock(self._lock_key(stack))

    def force_unlock(self, stack: str) -> LockInfo | None:
        """Delete the lock's row and end the session holding the advisory lock, if one
        does: a hung holder loses its connection, so it cannot write any more."""
        info = self.lock_info(stack)
        backend = self._holder_backend(stack)
        if backend is not None:
            try:
                self._x("SELECT pg_terminate_backend(?)", (backend,))
            except StateError as exc:
                raise StateError(
                    f"{exc} (ending the holder's session needs its role or pg_signal_backend)"
                ) from None
            deadline = time.monotonic() + 5.0
            while self._holder_backend(stack) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
        with self._write():
            self._x("DELETE FROM locks WHERE stack = ?", (stack,))
        return info
