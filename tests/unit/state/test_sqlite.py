"""The SQLite state store, on real files."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from qplan.jobstatus import JobStatus
from qplan.state import SqliteStore, StateError, Transition, open_store
from qplan.state.migrations import SCHEMA_VERSION
from tests.unit.state.conftest import new

S = JobStatus


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / ".qplan" / "state.db")


def test_files_are_private_and_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / ".qplan" / "state.db")
    store.apply("s", [new("a")])
    folder = tmp_path / ".qplan"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for file in folder.iterdir():  # the database, its WAL and its shared memory
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_run_once_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    SqliteStore(path).close()  # reopening migrates nothing and loses nothing
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="written by a newer qplan"):
        SqliteStore(path)


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not a usable qplan state database"):
        SqliteStore(path)


def test_read_only_open_creates_no_file(tmp_path: Path) -> None:
    manifest = tmp_path / "qplan.yaml"
    store = open_store(None, manifest, create=False)
    assert store.snapshot("s").rows == {}
    store.close()
    assert not (tmp_path / ".qplan").exists()


def test_state_urls(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path}/a.db", str(tmp_path / "b.db")):
        open_store(url, tmp_path / "m.yaml").close()
    assert (tmp_path / "a.db").exists() and (tmp_path / "b.db").exists()
    from qplan.errors import UsageError

    with pytest.raises(UsageError, match=r"unsupported state URL scheme mysql://"):
        open_store("mysql://u@h/db", tmp_path / "m.yaml")
    assert os.path.exists(tmp_path / "a.db")


def test_a_version_2_state_gains_provider_status_and_keeps_its_rows(tmp_path: Path) -> None:
    from qplan.state.migrations import MIGRATIONS
    from qplan.state.sqlite import _statements

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:  # the schema as version 2 left it
        for statement in _statements(script):
            conn.execute(statement)
    conn.execute(
        "INSERT INTO resources (stack, address, kind, job, status, fingerprint, attempt, "
        "provider, target, created_at, updated_at) "
        "VALUES ('s', 'session.x', 'session', 'x', 'queued', 'f', 1, 'az', 'az/t', 0, 0)"
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert store.row("s", "session.x") is not None
    store.apply("s", [Transition("session.x", S.QUEUED, provider_status="Executing")])
    row = store.row("s", "session.x")
    assert row is not None and row.provider_status == "Executing" and row.status is S.QUEUED
    store.close()


def test_a_version_3_state_gains_the_device_specs_table(tmp_path: Path) -> None:
    from qplan.state.migrations import MIGRATIONS
    from qplan.state.sqlite import _statements

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        for statement in _statements(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    store.put_device_specs("pq", {"FRESNEL": "{}"}, 1.0)
    assert list(store.device_specs("pq")) == ["FRESNEL"]
    store.close()


def test_a_version_4_state_gains_a_lineage_per_stack(tmp_path: Path) -> None:
    from qplan.state.migrations import MIGRATIONS
    from qplan.state.sqlite import _statements

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        for statement in _statements(script):
            conn.execute(statement)
    for name in ("s", "t"):
        conn.execute(
            "INSERT INTO stacks (name, serial, created_at, updated_at) VALUES (?, 3, 0, 0)", (name,)
        )
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    lineages = {store.lineage("s"), store.lineage("t")}
    assert None not in lineages and len(lineages) == 2  # one of its own per stack
    assert store.serial("s") == 3
    store.close()


def test_a_ctrl_c_just_after_a_commit_is_raised_as_it_is(store: SqliteStore) -> None:
    # the interrupt lands once COMMIT has run: there is nothing to roll back, and the
    # caller must see the Ctrl-C, not "cannot rollback" (read as an unusable state file)
    with pytest.raises(KeyboardInterrupt), store._write():
        store._conn.execute("COMMIT")
        raise KeyboardInterrupt
    store.apply("s", [new("a")])  # and the connection is still good
    assert store.serial("s") == 1
