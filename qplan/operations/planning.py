"""Planning operations: plan, show a saved plan, status from state, force-unlock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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
from qplan.planner.selection import select
from qplan.state import LockInfo, Row, StateStore, local_folder, open_store
from qplan.state.lockfile import (
    LockFileError,
    compare,
    lock_path,
    read_header,
    read_lock,
    write_lock,
)

if TYPE_CHECKING:
    from qplan.planner.cost import Pricing

__all__ = [
    "LoadOptions",
    "Workspace",
    "check_lock",
    "finish_plan",
    "force_unlock",
    "open_workspace",
    "plan",
    "pricing_of",
    "record_lock",
    "show_saved_plan",
    "status",
    "unused_prices",
]


@dataclass(frozen=True)
class LoadOptions:
    """How to load a manifest and where its state is (``state`` None: next to it).
    ``refresh_devices``: a plan asks the services for their device specifications even
    when the state keeps fresh ones (``operations.devices``). ``pricing``: a pricing file
    over the shipped table and the manifest's ``pricing:``; ``budget``: the most an apply
    may cost by its estimate, over the manifest's ``budget:``."""

    var_files: Sequence[str] = ()
    overrides: Sequence[str] = ()
    max_sweep_points: int = DEFAULT_MAX_POINTS
    state: str | None = None
    refresh_devices: bool = False
    pricing: str | None = None
    budget: float | None = None


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


def plan(
    manifest: str,
    options: LoadOptions,
    out: Path | None = None,
    targets: Sequence[str] = (),
) -> Plan:
    """Plan ``manifest`` against its state (only ``targets`` and what they need, if
    given), with its cost estimate and what the lock file disagrees on; save the plan to
    ``out`` if given. Pulser jobs on Pasqal targets are checked against their devices
    first (``check_devices``: it may ask a service for its devices' specifications, and
    raises ManifestError when a device cannot run an instance)."""
    with open_workspace(manifest, options) as ws:
        devices = check_devices(ws.stack, ws.store, refresh=options.refresh_devices)
        result = finish_plan(
            ws,
            make_plan(ws.stack, ws.store.snapshot(ws.stack.name)),
            options,
            targets,
        )
        result.devices = devices
    if out is not None:
        save_plan(result, out)
    return result


def finish_plan(
    ws: Workspace,
    made: Plan,
    options: LoadOptions,
    targets: Sequence[str],
    *,
    check_lock_file: bool = True,
) -> Plan:
    """A plan just made, targeted, priced, and told what the lock file disagrees on
    (unless ``check_lock_file`` is False: an apply rewrites the file anyway)."""
    from qplan.planner.cost import estimate

    result = select(ws.stack, dataclasses.replace(made, manifest=ws.manifest), targets)
    pricing = pricing_of(ws.stack, options)
    budget = options.budget if options.budget is not None else ws.stack.budget
    warnings = unused_prices(ws.stack)
    if check_lock_file:
        warnings += lock_warnings(ws, made.serial)
    return dataclasses.replace(
        result, cost=estimate(ws.stack, result, pricing), budget=budget, warnings=warnings
    )


def pricing_of(stack: Stack, options: LoadOptions) -> Pricing:
    """The prices of ``stack``: the shipped table, its ``pricing:``, then ``--pricing``."""
    from qplan.planner.cost import load_pricing

    return load_pricing(stack, Path(options.pricing) if options.pricing else None)


def unused_prices(stack: Stack) -> list[str]:
    """The manifest's ``pricing:`` keys that price nothing it runs (a misspelt target
    would leave the shipped price, or none, in force without a word)."""
    used = {str(job.target) for job in stack.jobs.values()}
    used |= {job.hybrid.instance_type for job in stack.jobs.values() if job.hybrid is not None}
    unused = sorted(key for key in stack.pricing if key not in used)
    if not unused:
        return []
    return [
        f"pricing: {', '.join(unused)} price{'s' if len(unused) == 1 else ''} nothing this "
        f"manifest runs (its targets and instance types: {', '.join(sorted(used))})"
    ]


def lock_warnings(ws: Workspace, serial: int) -> list[str]:
    """What the manifest's lock file, if it has one, disagrees with the state on. A file
    written at this very state (its lineage and ``serial``) is taken at its word, from its
    header alone: a plan of a million instances pays nothing for it; ``qplan lock
    --check`` compares every line."""
    path = lock_path(Path(ws.manifest))
    try:
        header = read_header(path)
        if header is None:
            return []
        stack = ws.stack.name
        if (header.stack, header.lineage, header.serial) == (
            stack,
            ws.store.lineage(stack),
            serial,
        ):
            return []
        found = read_lock(path)
    except LockFileError as exc:
        return [str(exc)]
    if found is None:
        return []
    differences = compare(found, ws.stack.name, ws.store.rows(ws.stack.name))
    if not differences:
        return []
    return [
        f"{path.name} does not match the state: {'; '.join(differences)}. An apply rewrites "
        f"it; `qplan lock {ws.manifest}` rewrites it now."
    ]


def record_lock(ws: Workspace) -> Path:
    """Write the manifest's lock file from the state, at its lineage and serial."""
    path = lock_path(Path(ws.manifest))
    stack = ws.stack.name
    write_lock(
        path,
        stack,
        ws.store.rows(stack),
        lineage=ws.store.lineage(stack),
        serial=ws.store.serial(stack),
    )
    return path


def check_lock(manifest: str, options: LoadOptions, *, write: bool) -> tuple[Path, list[str]]:
    """The manifest's lock file and how it disagrees with the state (``write``: first
    rewrite it from the state, so it agrees)."""
    with open_workspace(manifest, options) as ws:
        if write:
            return record_lock(ws), []
        path = lock_path(Path(manifest))
        found = read_lock(path)
        if found is None:
            return path, [f"{path} does not exist: `qplan apply` writes it, or `qplan lock`"]
        return path, compare(found, ws.stack.name, ws.store.rows(ws.stack.name))


def show_saved_plan(path: Path, options: LoadOptions) -> tuple[PlanDocument, str | None]:
    """A saved plan, and why it is stale (None when it can still be applied)."""
    from qplan.errors import QplanError
    from qplan.planner import StalePlan

    saved = load_plan(path)
    try:
        current = plan(saved.manifest, options)  # its serial and digest: targets aside
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
