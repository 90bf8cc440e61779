"""PostgreSQL state for the benchmarks (bench_plan.py, bench_crash.py): their `--state` option,
and a fresh database (or schema) for each of their cases.

`--state postgres` starts a private server for the run (`tests.postgres.server`: installed
when missing, on 127.0.0.1, stopped and removed at the end) and gives every case a database
of its own. `--state postgresql://...` uses a server of the user's: every case gets a schema
of its own in that database (`?schema=NAME`), dropped at the end of the run.

psycopg is imported only when PostgreSQL is asked for: without `--state` the benchmarks run
on SQLite alone, as before.

Run as `python -m tests.benchmarks.postgres VARIANT STACK`, it reads one snapshot in one of
the ways `SNAPSHOT_VARIANTS` lists (for `bench_plan.py --snapshot-variants`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "SNAPSHOT_VARIANTS",
    "Fresh",
    "PostgresState",
    "add_state_option",
    "connect",
    "read_snapshot",
    "validate_state",
]

PRIVATE = "postgres"


def add_state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state",
        metavar="URL",
        default=None,
        help="also run on PostgreSQL: `postgres` starts a private server for the run, "
        "postgresql://... uses that database (a fresh schema per case, dropped at the end); "
        "default: SQLite only",
    )


def validate_state(parser: argparse.ArgumentParser, state: str | None) -> None:
    if state is None or state == PRIVATE:
        return
    if not state.startswith(("postgresql://", "postgres://")):
        parser.error(f"--state: expected `{PRIVATE}` or a postgresql:// URL, got {state!r}")


def _slug(label: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40]
    return f"bench_{slug}_{secrets.token_hex(4)}"


def _with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    query.append(("schema", schema))
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:")))


class Fresh:
    """One case's state: ``url`` (for ``--state`` or ``QPLAN_STATE``) names a database (or
    schema) no other case sees. ``reset`` empties it; ``drop`` removes it."""

    def __init__(self, owner: PostgresState, label: str) -> None:
        self.owner = owner
        self.label = label
        self.name = _slug(label)
        self.url = owner._create(self.name)
        self.kept = False

    def reset(self) -> None:
        self.owner._drop(self.name)
        self.url = self.owner._create(self.name)

    def drop(self) -> None:
        self.owner._drop(self.name)


class PostgresState:
    """``--state``'s PostgreSQL, as a context manager: the private server runs (or the
    user's database is reached) inside it; every fresh database or schema is dropped on
    leaving."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.server: Any = None  # tests.postgres.server.PostgresServer
        self.version = ""
        self._fresh: list[Fresh] = []
        self._admin: Any = None  # psycopg connection to the user's database

    @property
    def private(self) -> bool:
        return self.state == PRIVATE

    def __enter__(self) -> PostgresState:
        import psycopg

        if self.private:
            from tests.postgres.server import PostgresServer

            self.server = PostgresServer()
            self.server.start()
            url = self.server.url()
        else:
            from qplan.state import PostgresUrl

            url = PostgresUrl(self.state).conninfo
        try:
            self._admin = psycopg.connect(url, autocommit=True, connect_timeout=10)
            self.version = str(self._admin.execute("SHOW server_version").fetchone()[0])
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        try:
            if not self.private and self._admin is not None and not self._admin.closed:
                for fresh in self._fresh:
                    if not fresh.kept:
                        fresh.drop()
        finally:
            if self._admin is not None:
                self._admin.close()
            if self.server is not None:
                self.server.stop()

    def describe(self) -> str:
        """The server, as the benchmarks' reports name it (never with a password)."""
        if self.private:
            return (
                f"PostgreSQL {self.version}, a private server on 127.0.0.1 started for the run "
                "(fsync off), a fresh database per case"
            )
        from qplan.state import PostgresUrl

        location = PostgresUrl(self.state).location
        return f"PostgreSQL {self.version} at {location}, a fresh schema per case"

    def fresh(self, label: str) -> Fresh:
        fresh = Fresh(self, label)
        self._fresh.append(fresh)
        return fresh

    def keep_failed(self, labels: Iterable[str]) -> None:
        """Keep the schemas of the cases ``labels`` (failed ones) for inspection, and say
        where they are; a private server's databases go with it."""
        wanted = set(labels)
        kept = [f for f in self._fresh if f.label in wanted]
        if self.private:
            print(
                "the private server's databases are removed with it: run with "
                "--state postgresql://... to keep the failed trials' schemas"
            )
            return
        for fresh in kept:
            fresh.kept = True
            print(f"{fresh.label}: state kept in schema {fresh.name}")

    def _create(self, name: str) -> str:
        if self.private:
            return str(self.server.create_database(name))
        # qplan makes the schema on its first write
        return _with_schema(self.state, name)

    def _drop(self, name: str) -> None:
        if self.private:
            self.server.drop_database(name)
            return
        from psycopg import sql

        # every session of a killed process is gone, or going: DROP SCHEMA waits for its locks
        self._admin.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
        )


def connect(url: str) -> Any:
    """A psycopg connection (autocommit) to ``url``'s database, with ``search_path`` on its
    schema: for a benchmark's setup and checks."""
    import psycopg

    from qplan.state import PostgresUrl

    parsed = PostgresUrl(url)
    conn = psycopg.connect(parsed.conninfo, autocommit=True, connect_timeout=10)
    conn.execute(f"SET search_path TO {parsed.schema}")
    return conn


# --- ways of reading a plan's snapshot --------------------------------------------------------
#
# bench_plan.py --snapshot-variants runs each in a fresh process (`python -m
# tests.benchmarks.postgres VARIANT STACK`, the state's path or URL in BENCH_STATE), which
# prints {"seconds": the read alone, "rows": how many} on stdout; the parent takes the
# process's peak RSS. Every variant builds the same mapping as the stores' snapshot: address
# -> RowState, from one query in a repeatable-read, read-only transaction. A stream in
# chunks (`size` > 1) is libpq 17's chunked mode: psycopg refuses it with an older libpq.

SNAPSHOT_QUERY = (
    "SELECT address, status, fingerprint, attempt, kind FROM resources WHERE stack = %s"
)
SNAPSHOT_TYPES = ["text", "text", "text", "int4", "text"]
# name: (description, on PostgreSQL)
SNAPSHOT_VARIANTS: dict[str, tuple[str, bool]] = {
    "sqlite": ("SQLite: SqliteStore.snapshot", False),
    "store": ("PG: PostgresStore.snapshot", True),
    "named-2000": ("PG: server-side cursor, itersize 2k", True),
    "named-20000": ("PG: server-side cursor, itersize 20k", True),
    "named-100000": ("PG: server-side cursor, itersize 100k", True),
    "named-binary": ("PG: server-side cursor 20k, binary", True),
    "stream-1": ("PG: cursor.stream(), single rows", True),
    "stream-20000": ("PG: cursor.stream(size=20k), chunks", True),
    "client": ("PG: client cursor, whole result", True),
    "copy-text": ("PG: COPY TO STDOUT text, rows()", True),
    "copy-binary": ("PG: COPY TO STDOUT binary, rows()", True),
}


def _rows_of(variant: str, conn: Any, stack: str, later: contextlib.ExitStack) -> Any:
    """The snapshot's rows, as ``variant`` reads them (open inside ``later``)."""
    from psycopg import sql

    way, _, size = variant.partition("-")
    if way == "named":
        cursor = later.enter_context(conn.cursor(name="snapshot", binary=size == "binary"))
        cursor.itersize = 20_000 if size == "binary" else int(size)
        cursor.execute(SNAPSHOT_QUERY, (stack,))
        return cursor
    if way == "stream":
        return conn.cursor().stream(SNAPSHOT_QUERY, (stack,), size=int(size))
    if way == "client":
        return conn.execute(SNAPSHOT_QUERY, (stack,))
    if way == "copy":
        query = sql.SQL(SNAPSHOT_QUERY.replace("%s", "{}")).format(sql.Literal(stack))
        form = sql.SQL(" WITH (FORMAT BINARY)" if size == "binary" else "")
        statement = sql.SQL("COPY ({}) TO STDOUT{}").format(query, form)
        copy = later.enter_context(conn.cursor().copy(statement))
        copy.set_types(SNAPSHOT_TYPES)
        return copy.rows()
    raise SystemExit(f"unknown snapshot variant {variant!r}")


def read_snapshot(variant: str, state: str, stack: str) -> tuple[float, int]:
    """Seconds to read ``stack``'s snapshot from ``state`` (connected beforehand), rows read."""
    from qplan.jobstatus import JobStatus
    from qplan.state import PostgresStore, RowState, SqliteStore

    if variant in ("sqlite", "store"):
        store = SqliteStore(state, create=False) if variant == "sqlite" else PostgresStore(state)
        try:
            started = time.perf_counter()
            count = len(store.snapshot(stack).rows)
            return time.perf_counter() - started, count
        finally:
            store.close()

    statuses = {s.value: s for s in JobStatus}
    with connect(state) as conn:
        started = time.perf_counter()
        with conn.transaction(), contextlib.ExitStack() as later:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SELECT serial, generation FROM stacks WHERE name = %s", (stack,))
            rows = {
                address: RowState(statuses[status], fingerprint, attempt, kind)
                for address, status, fingerprint, attempt, kind in _rows_of(
                    variant, conn, stack, later
                )
            }
        return time.perf_counter() - started, len(rows)


if __name__ == "__main__":
    seconds, count = read_snapshot(sys.argv[1], os.environ["BENCH_STATE"], sys.argv[2])
    print(json.dumps({"seconds": seconds, "rows": count}))
