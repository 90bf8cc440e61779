"""What is PostgreSQL's own in its state store, on the test run's real server: URLs and what
is shown of them, the schema a state lives in, schema versions and their migrations, a
read-only open that writes nothing, TLS settings passed through to libpq, and the snapshot
streamed in batches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from qplan.errors import UsageError
from qplan.jobstatus import JobStatus
from qplan.state import PostgresStore, StateError, Transition, open_store, state_location
from qplan.state import postgres as pg
from qplan.state.migrations import POSTGRES_BASELINE, SCHEMA_VERSION
from qplan.state.postgres import PostgresUrl
from tests.unit.state.conftest import new


def schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}


def test_urls_are_shown_without_their_password() -> None:
    url = PostgresUrl("postgresql://team:s3cr%2Ft@db.example:6432/qplan?sslmode=verify-full")
    assert url.location == "postgresql://team@db.example:6432/qplan?sslmode=verify-full"
    assert url.password == "s3cr/t" and url.schema == "qplan"
    assert "schema" not in url.conninfo and "sslmode=verify-full" in url.conninfo
    assert url.redact("failed for s3cr/t and s3cr%2Ft") == "failed for *** and ***"
    query = PostgresUrl("postgres://db/x?password=hunter2&sslpassword=k&schema=team_a")
    assert "hunter2" not in query.location and "sslpassword" not in query.location
    assert query.schema == "team_a" and "schema=team_a" in query.location
    assert state_location("postgresql://u:pw@h/d", Path("m.yaml")) == "postgresql://u@h/d"
    with pytest.raises(UsageError, match="schema="):
        PostgresUrl("postgresql://h/d?schema=Robert');DROP")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:Top@Secret@h/d",  # libpq: password Top, host Secret@h
        "postgresql://u:Top/Secret@h/d",  # host u, port Top, database Secret@h/d
        "postgresql://u:1234/Secret@h/d",  # host u, port 1234, database Secret@h/d
        "postgresql://u:Top?Secret@h/d",
        "postgresql://u:Top#Secret@h/d",
        "postgresql://u@h:notaport/d",
        "postgresql://u@[::1/d",
    ],
)
def test_an_unreadable_url_is_a_usage_error_that_repeats_none_of_it(url: str) -> None:
    with pytest.raises(UsageError) as info:
        PostgresUrl(url)
    assert "percent-encode" in str(info.value)
    assert "Top" not in str(info.value) and "Secret" not in str(info.value)
    assert "1234" not in str(info.value) and "notaport" not in str(info.value)


def test_a_read_only_open_of_an_empty_database_writes_nothing(postgres_url: str) -> None:
    before = schemas(postgres_url)
    store = open_store(postgres_url, Path("qplan.yaml"), create=False)
    assert store.snapshot("s").rows == {} and store.serial("s") == 0
    assert "@" in store.location and ":" not in store.location.split("@")[0].split("//")[1]
    store.close()
    assert schemas(postgres_url) == before
    open_store(postgres_url, Path("qplan.yaml")).close()  # a write open makes the schema
    assert schemas(postgres_url) == before | {"qplan"}


def test_states_in_two_schemas_of_one_database_are_apart(postgres_url: str) -> None:
    a = PostgresStore(postgres_url + "?schema=team_a")
    b = PostgresStore(postgres_url + "?schema=team_b")
    a.apply("s", [new("x")])
    assert b.serial("s") == 0 and b.row("s", "x") is None
    with a.acquire("s", "apply", "alice"), b.acquire("s", "apply", "bob"):
        pass  # one stack name, two schemas: two locks
    a.close()
    b.close()


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE qplan.qplan_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateError, match="written by a newer qplan"):
        PostgresStore(postgres_url)


def test_a_database_at_an_older_version_takes_the_steps_after_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresStore(postgres_url)
    store.apply("s", [new("x")])
    store.close()
    later = POSTGRES_BASELINE + 1
    step = (POSTGRES_BASELINE, later, "ALTER TABLE resources ADD COLUMN note TEXT;")
    monkeypatch.setattr(pg, "POSTGRES_MIGRATIONS", (*pg.POSTGRES_MIGRATIONS, step))
    monkeypatch.setattr(pg, "SCHEMA_VERSION", later)
    migrated = PostgresStore(postgres_url)
    assert migrated.row("s", "x") is not None  # the rows are kept
    assert migrated._x("SELECT version FROM qplan_schema").fetchone()[0] == later
    assert migrated._x("SELECT note FROM resources").fetchone()[0] is None
    migrated.close()


def test_runners_opening_a_new_database_at_once_migrate_it_once(postgres_url: str) -> None:
    code = (
        "import sys; from qplan.state import PostgresStore; "
        "s = PostgresStore(sys.argv[1]); s.apply(sys.argv[2], []); s.close()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, postgres_url, f"s{i}"], stderr=subprocess.PIPE
        )
        for i in range(4)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM qplan.qplan_schema").fetchall() == [
            (SCHEMA_VERSION,)
        ]


def test_tls_settings_reach_libpq(postgres_url: str) -> None:
    # the test server has no TLS: libpq, told to require it, refuses to go on without
    with pytest.raises(StateError, match="SSL"):
        PostgresStore(postgres_url + "?sslmode=require")
    PostgresStore(postgres_url + "?sslmode=disable&connect_timeout=5").close()


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked-rows", "server-cursor"])
def test_the_snapshot_streams_in_batches_and_agrees_with_the_rows(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    if chunked:
        assert pg.chunked_rows(psycopg), "the test run's libpq gives no chunked rows"
    monkeypatch.setattr(pg, "chunked_rows", lambda driver: chunked)
    monkeypatch.setattr(pg, "SNAPSHOT_BATCH", 7)
    store = PostgresStore(postgres_url)
    store.apply("s", [new(f"a[i={i}]") for i in range(50)])
    store.apply("s", [Transition("a[i=3]", JobStatus.QUEUED)])
    snap = store.snapshot("s")
    assert snap.serial == 2 and len(snap.rows) == 50
    assert snap.rows["a[i=3]"].status is JobStatus.QUEUED
    assert {a: r.status for a, r in snap.rows.items()} == {
        r.address: r.status for r in store.rows("s")
    }
    store.close()


def test_without_the_driver_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(UsageError, match=r"pip install 'qplan\[postgres\]'"):
        open_store("postgresql://u@127.0.0.1:1/d", Path("qplan.yaml"))
