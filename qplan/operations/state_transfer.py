"""Moving a stack's state whole: ``pull`` it as a document (``state.portable``), ``push``
one back, or ``migrate`` it from one backend to another.

A push and a migrate hold the target stack's lock while they write; a migrate also holds
the source stack's, so that no apply changes it meanwhile. A push refuses a document of
another stack, of another lineage (not a copy of the same stack) or older than the state
(a lower serial: the state moved since the pull), the last two unless forced. A migrate
refuses a target that already holds the stack unless forced, reads the copy back and
checks it against the source, and leaves the source as it was.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.errors import UsageError
from qplan.operations.planning import LoadOptions, open_workspace
from qplan.state import (
    StateError,
    StateStore,
    content_hash,
    is_postgres_url,
    open_store,
    state_location,
    state_path,
)
from qplan.state.postgres import PostgresUrl
from qplan.state.sql import SqlStore

__all__ = ["Counts", "Migrated", "Pushed", "migrate", "pull", "push"]


@dataclass(frozen=True)
class Counts:
    """What a stack's state holds: rows, events, and the results they name."""

    rows: int
    events: int
    results: int

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> Counts:
        return cls(len(state["rows"]), len(state["events"]), len(state["results"]))

    def __str__(self) -> str:
        return (
            f"{_plural(self.rows, 'row')}, {_plural(self.events, 'event')}, "
            f"{_plural(self.results, 'result')}"
        )


@dataclass(frozen=True)
class Pushed:
    """A push done: where to (``location``, no password), what, the serials before and
    after (a saved plan made before is stale)."""

    stack: str
    location: str
    counts: Counts
    serial_before: int
    serial: int


@dataclass(frozen=True)
class Migrated:
    """A migrate done and checked. ``source`` and ``target`` are locations as shown (no
    password); ``log_kept``: the target's event log was kept (forced over a state whose log
    is not a part of the source's) and the rows the copy changed were logged after it."""

    stack: str
    source: str
    target: str
    counts: Counts
    serial: int
    log_kept: bool = False


def pull(manifest: str, options: LoadOptions) -> dict[str, Any]:
    """The state of ``manifest``'s stack, whole (``SqlStore.export_stack``'s form; write it
    with ``state.portable.dump``). Raises StateError when the stack has no state."""
    with open_workspace(manifest, options) as ws:
        state = _sql(ws.store).export_stack(ws.stack.name)
        if not state["lineage"]:
            raise StateError(_no_state(ws.stack.name, ws.store, "pull"))
        return state


def push(
    manifest: str, options: LoadOptions, document: Mapping[str, Any], force: bool = False
) -> Pushed:
    """Make the state of ``manifest``'s stack what ``document`` (``state.portable.loads``)
    says, under the stack's lock. ``force``: also over a state of another lineage, or
    newer than the document."""
    with open_workspace(manifest, options, write=True) as ws:
        name = ws.stack.name
        if document["stack"] != name:
            raise StateError(
                f"state push: the document holds stack {document['stack']}, but "
                f"{manifest} is stack {name}: push a stack's state with its own manifest"
            )
        store = _sql(ws.store)
        with _locked(store, name, "state push"):
            lineage, serial = store.lineage(name), store.serial(name)
            where = f"stack {name} at {store.location}"
            if not force and lineage is not None and lineage != document["lineage"]:
                raise StateError(
                    f"state push: {where} has another lineage ({lineage[:12]}) than the "
                    f"document ({str(document['lineage'])[:12]}): it is not a copy of the "
                    "same stack; --force replaces it"
                )
            if not force and document["serial"] < serial:
                raise StateError(
                    f"state push: the document's serial {document['serial']} is older than "
                    f"the state's serial {serial} ({where}): the state changed since the "
                    "document was pulled; pull it again, or --force to push the older one"
                )
            if (
                not force
                and document["serial"] == serial
                and lineage == document["lineage"]
                and not store.holds(document)
            ):
                raise StateError(
                    f"state push: the document and the state ({where}) are both at serial "
                    f"{serial} but differ: each moved on from an older copy; pull the state "
                    "and compare, or --force to push the document over it"
                )
            new_serial = store.import_stack(document)
        return Pushed(name, store.location, Counts.of(document), serial, new_serial)


def migrate(manifest: str, options: LoadOptions, to: str, force: bool = False) -> Migrated:
    """Copy the state of ``manifest``'s stack to the state at ``to`` (what ``--state``
    takes), holding both stacks' locks; check the copy (its rows, event log and results
    read back) and leave the source as it was. ``force``: also over a target that already
    holds the stack."""
    source_place = _place(options.state, manifest)
    try:
        target_place = _place(to, manifest)
    except UsageError as exc:  # worded for --state: the same forms are refused for --to
        raise UsageError(str(exc).replace("--state:", "--to:", 1)) from None
    if source_place == target_place:
        raise UsageError(
            f"--to: {state_location(to, Path(manifest))} is where the state already is"
        )
    with open_workspace(manifest, options) as ws:
        name = ws.stack.name
        source = _sql(ws.store)
        if source.serial(name) == 0:
            raise StateError(_no_state(name, source, "migrate"))
        with _locked(source, name, "state migrate"):
            state = source.export_stack(name)
            target = _sql(open_store(to, Path(manifest)))
            try:
                with _locked(target, name, "state migrate"):
                    before = target.export_stack(name)
                    if before["serial"] and not force:
                        raise StateError(
                            f"state migrate: {target.location} already holds stack {name} "
                            f"(serial {before['serial']}: {Counts.of(before)}); --force "
                            "replaces it"
                        )
                    serial = target.import_stack(state)
                    after = target.export_stack(name)
                    log_kept = _check(state, before, after, target.location)
                return Migrated(
                    name, source.location, target.location, Counts.of(state), serial, log_kept
                )
            finally:
                target.close()


def _check(
    state: Mapping[str, Any], before: Mapping[str, Any], after: Mapping[str, Any], where: str
) -> bool:
    """Check the copy read back (``after``) against the source (``state``); True when the
    target kept a log of its own (see ``Migrated``). Raises StateError on a difference."""

    def differ(what: str) -> StateError:
        return StateError(
            f"state migrate: the copy at {where} differs from the source ({what}); the "
            "source is left as it was"
        )

    if len(after["rows"]) != len(state["rows"]):
        raise differ(f"{len(after['rows'])} rows, not {len(state['rows'])}")
    for mine, theirs in zip(state["rows"], after["rows"], strict=True):
        fields = [n for n in mine if n != "stack" and mine[n] != theirs.get(n)]
        if fields:
            raise differ(f"row {mine['address']}: {', '.join(fields)}")
    source_log = [_event(e) for e in state["events"]]
    target_log = [_event(e) for e in after["events"]]
    old_log = [_event(e) for e in before["events"]]
    log_kept = target_log != source_log
    if log_kept and (not old_log or target_log[: len(old_log)] != old_log):
        raise differ(f"{len(target_log)} events, not the source's {len(source_log)}")
    for digest in state["results"]:
        data = after["results"].get(digest)
        if data is None or content_hash(data) != digest:
            raise differ(f"result {digest[:12]}")
    return log_kept


def _event(event: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(v for k, v in sorted(event.items()) if k not in ("id", "stack"))


def _place(url: str | None, manifest: str) -> str:
    """Where a state is, to tell two apart: a resolved SQLite path, or a URL as shown."""
    if url is not None and is_postgres_url(url):
        return PostgresUrl(url).location
    return str(state_path(url, Path(manifest)).resolve())


@contextmanager
def _locked(store: SqlStore, stack: str, operation: str) -> Iterator[None]:
    lock = store.acquire(stack, operation, getpass.getuser())
    try:
        lock.start_heartbeat()
        yield
    finally:
        lock.release()


def _sql(store: StateStore) -> SqlStore:
    if not isinstance(store, SqlStore):  # pragma: no cover - every store qplan opens is one
        raise StateError(f"{store.location}: this state cannot be copied whole")
    return store


def _no_state(stack: str, store: StateStore, verb: str) -> str:
    return (
        f"state {verb}: stack {stack} has no state at {store.location} (never applied): "
        f"nothing to {verb}"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
