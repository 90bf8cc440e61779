"""State: what qplan knows exists. One row per resource, an event log, results by hash."""

from __future__ import annotations

from pathlib import Path

from qplan.errors import UsageError
from qplan.state.model import DeviceSpecs, LockInfo, Row, RowState, Snapshot, Transition
from qplan.state.sqlite import SqliteStore
from qplan.state.store import Lock, StackLocked, StateError, StateStore, content_hash

__all__ = [
    "DeviceSpecs",
    "Lock",
    "LockInfo",
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
    "open_store",
    "state_path",
]


def default_state_path(manifest: Path) -> Path:
    """``.qplan/state.db`` in the manifest's folder."""
    return manifest.resolve().parent / ".qplan" / "state.db"


def state_path(url: str | None, manifest: Path) -> Path:
    """The SQLite file of ``url`` (``sqlite:///abs/path.db``, ``sqlite:rel/path.db`` or a
    plain path), or the default next to the manifest."""
    if url is None:
        return default_state_path(manifest)
    if url.startswith(("postgres://", "postgresql://")):
        raise UsageError("--state: PostgreSQL state is not supported yet; use a SQLite path")
    if url.startswith("sqlite:///"):
        return Path("/" + url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:"):
        return Path(url.removeprefix("sqlite:"))
    if "://" in url:
        raise UsageError(f"--state: unsupported state URL scheme {url.split('://')[0]}://")
    return Path(url)


def open_store(url: str | None, manifest: Path, *, create: bool = True) -> StateStore:
    """Open the state of ``manifest``; read-only commands pass ``create=False`` so that a
    stack never applied reads as empty without a file appearing."""
    return SqliteStore(state_path(url, manifest), create=create)
