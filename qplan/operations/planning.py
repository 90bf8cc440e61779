"""Planning operations: plan, show a saved plan, status from state, force-unlock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qplan.manifest import DEFAULT_MAX_POINTS, Stack, load
from qplan.operations.devices import check_devices
from qplan.planner import (
    Plan,
    PlanDocument,
    check_current,
    load_plan,
    make_plan,
    save_plan,
)
from qplan.state import LockInfo, Row, StateStore, local_folder, open_store

__all__ = [
    "LoadOptions",
    "Workspace",
    "force_unlock",
    "open_workspace",
    "plan",
    "show_saved_plan",
    "status",
]


@dataclass(frozen=True)
class LoadOptions:
    """How to load a manifest and where its state is (``state`` None: next to it).
    ``refresh_devices``: a plan asks the services for their device specifications even
    when the state keeps fresh ones (``operations.devices``)."""

    var_files: Sequence[str] = ()
    overrides: Sequence[str] = ()
    max_sweep_points: int = DEFAULT_MAX_POINTS
    state: str | None = None
    refresh_devices: bool = False


@dataclass
class Workspace:
    """A loaded manifest and its open state store. ``workdir``: this stack's own folder on
    this machine, beside a SQLite state or in ``.qplan`` next to the manifest when the state
    is in PostgreSQL (``stacks/NAME``: what providers keep across processes, used only under
    the stack's lock)."""

    manifest: str
    stack: Stack
    store: StateStore = field(repr=False)
    workdir: Path | None = None


@contextmanager
def open_workspace(
    manifest: str, options: LoadOptions, *, write: bool = False
) -> Iterator[Workspace]:
    stack = load(
        manifest,
        var_files=options.var_files,
        overrides=options.overrides,
        max_sweep_points=options.max_sweep_points,
    )
    store = open_store(options.state, Path(manifest), create=write)
    try:
        folder = local_folder(options.state, Path(manifest)) / "stacks" / stack.name
        yield Workspace(manifest, stack, store, folder)
    finally:
        store.close()


def plan(manifest: str, options: LoadOptions, out: Path | None = None) -> Plan:
    """Plan ``manifest`` against its state; save the plan to ``out`` if given. Pulser jobs
    on Pasqal targets are checked against their devices first (``check_devices``: it may
    ask a service for its devices' specifications, and raises ManifestError when a
    device cannot run an instance)."""
    with open_workspace(manifest, options) as ws:
        devices = check_devices(ws.stack, ws.store, refresh=options.refresh_devices)
        result = dataclasses.replace(
            make_plan(ws.stack, ws.store.snapshot(ws.stack.name)),
            manifest=manifest,
            devices=devices,
        )
    if out is not None:
        save_plan(result, out)
    return result


def show_saved_plan(path: Path, options: LoadOptions) -> tuple[PlanDocument, str | None]:
    """A saved plan, and why it is stale (None when it can still be applied)."""
    from qplan.errors import QplanError
    from qplan.planner import StalePlan

    saved = load_plan(path)
    try:
        current = plan(saved.manifest, options)
        check_current(saved, current, path)
    except StalePlan as exc:
        return saved, str(exc)
    except QplanError as exc:
        return saved, f"{path}: cannot check the plan against its manifest: {exc}"
    return saved, None


def status(manifest: str, options: LoadOptions) -> tuple[Stack, list[Row], LockInfo | None]:
    """The stack's rows as stored (no provider is called) and its lock, if held."""
    with open_workspace(manifest, options) as ws:
        return ws.stack, list(ws.store.rows(ws.stack.name)), ws.store.lock_info(ws.stack.name)


def force_unlock(manifest: str, options: LoadOptions) -> LockInfo | None:
    """Break the stack's lock; returns who held it (None: it was not locked)."""
    with open_workspace(manifest, options, write=True) as ws:
        return ws.store.force_unlock(ws.stack.name)
