"""The state stores under test: every test taking ``store`` or ``open_state`` runs once on a
SQLite file and once on a database of the test run's PostgreSQL server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qplan.jobstatus import JobStatus
from qplan.state import PostgresStore, SqliteStore, Transition
from qplan.state.sql import SqlStore


def new(address: str, status: JobStatus = JobStatus.SUBMITTING, **fields: object) -> Transition:
    """A transition making a new row (a job instance on the local provider)."""
    base: dict[str, object] = dict(
        kind="job",
        job=address.split("[", maxsplit=1)[0],
        fingerprint="fp1",
        attempt=1,
        provider="local",
        target="local/braket_sv",
        idempotency_key=f"key-{address}",
    )
    base.update(fields)
    return Transition(address, status, **base)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state of its own: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / ".qplan" / "state.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def open_state(state_url: str) -> Iterator[Callable[..., SqlStore]]:
    """Opens stores on ``state_url`` (``clock=``...), closed after the test."""
    opened: list[SqlStore] = []

    def _open(**options: Any) -> SqlStore:
        store: SqlStore
        if state_url.startswith("postgresql://"):
            store = PostgresStore(state_url, **options)
        else:
            store = SqliteStore(state_url, **options)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_state: Callable[..., SqlStore]) -> SqlStore:
    return open_state()
