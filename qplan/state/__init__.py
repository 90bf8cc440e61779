"""State: what qplan knows exists. One row per resource, an event log, results by hash."""

from __future__ import annotations

from pathlib import Path

from qplan.errors import UsageError
from qplan.state.model import DeviceSpecs, LockInfo, Row, RowState, Snapshot, Transition
from qplan.state.postgres import PostgresStore, PostgresUrl, is_postgres_url
from qplan.state.sqlite import SqliteStore
from qplan.state.store import Lock, StackLocked, StateError, StateStore, content_hash

__all__ = [
    "DeviceSpecs",
    "Lock",
    "LockInfo",
    "PostgresStore",
    "Row",
    "RowState",
    "Snapshot",
    "SqliteStore",
    "StackLocked",
    "StateError",
    "StateStore",
    "Transition",
    "content_hash",
    "default_state_path",
    "is_postgres_url",
    "local_folder",
    "open_store",
    "state_location",
    "state_path",
]


def default_state_path(manifest: Path) -> Path:
    """``.qplan/state.db`` in the manifest's folder."""
    return manifest.resolve().parent / ".qplan" / "state.db"


def state_path(url: str | None, manifest: Path) -> Path:
    """The SQLite file of ``url`` (``sqlite:///abs/path.db``, ``sqlite:rel/path.db`` or a
    plain path), or the default next to the manifest. A PostgreSQL URL has none: its
    stack's files on this machine stay in the default's folder (see ``local_folder``)."""
    if url is None or is_postgres_url(url):
        return default_state_path(manifest)
    if url.startswith("sqlite:///"):
        return Path("/" + url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:"):
        return Path(url.removeprefix("sqlite:"))
    if "://" in url:
        raise UsageError(
            f"--state: unsupported state URL scheme {url.split('://')[0]}:// "
            "(a SQLite path, sqlite:PATH, or postgresql://...)"
        )
    return Path(url)


def local_folder(url: str | None, manifest: Path) -> Path:
    """Where this machine keeps what a stack's providers need across processes: beside a
    SQLite state, or ``.qplan`` next to the manifest when the state is in PostgreSQL."""
    return state_path(url, manifest).parent


def state_location(url: str | None, manifest: Path) -> str:
    """Where the state is, as shown to users: a path, or a URL without its password."""
    if url is not None and is_postgres_url(url):
        return PostgresUrl(url).location
    return str(state_path(url, manifest))


def open_store(url: str | None, manifest: Path, *, create: bool = True) -> StateStore:
    """Open the state of ``manifest``; read-only commands pass ``create=False`` so that a
    stack never applied reads as empty without a file (or a database schema) appearing."""
    if url is not None and is_postgres_url(url):
        store = PostgresStore(url, create=create)
        if not store.initialized:
            location = store.location
            store.close()
            return SqliteStore.empty(location)
        return store
    return SqliteStore(state_path(url, manifest), create=create)
