"""Running operations: apply, refresh, results, cancel, destroy. Each takes the stack lock
when it writes, so two of them never act on one stack at once."""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.errors import QplanError, UsageError
from qplan.executor import ApplyReport, CancelFailed, EventSink, Executor, Options, cancel_rows
from qplan.jobstatus import JobStatus
from qplan.manifest import Stack
from qplan.operations.devices import check_devices
from qplan.operations.planning import (
    LoadOptions,
    Workspace,
    finish_plan,
    open_workspace,
    record_lock,
)
from qplan.planner import (
    JobFingerprinter,
    Plan,
    PlanDocument,
    ResourcePlan,
    check_current,
    load_plan,
    make_plan,
)
from qplan.planner.actions import SUBMITS, Action
from qplan.planner.cost import over_budget
from qplan.providers import Provider, check_sdks, make_provider
from qplan.state import Lock, Row
from qplan.state.lockfile import LockFileError, lock_path
from qplan.targets import PROVIDER_TYPES

__all__ = [
    "OverBudget",
    "ResultRecord",
    "apply",
    "cancel",
    "destroy",
    "is_plan_file",
    "refresh",
    "results",
    "spends_money",
]

Confirm = Callable[[Plan, Stack], bool]


def is_plan_file(path: str) -> bool:
    """A saved plan (JSON or gzip) rather than a YAML manifest."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError:
        return False
    return head == b"\x1f\x8b" or head[:1] == b"{"


@contextmanager
def _locked(ws: Workspace, operation: str, *, beat: bool = True) -> Iterator[Lock]:
    """Hold the stack's lock; ``beat``: keep it fresh from a thread started at once (else
    the caller calls ``start_heartbeat`` itself, before anything slow)."""
    lock = ws.store.acquire(ws.stack.name, operation, getpass.getuser())
    if beat:
        lock.start_heartbeat()
    try:
        yield lock
    finally:
        lock.release()


@contextmanager
def _providers(ws: Workspace, names: set[str]) -> Iterator[dict[str, Provider]]:
    made: dict[str, Provider] = {}
    try:
        for name in sorted(names):
            config = ws.stack.providers.get(name)
            if config is not None:
                made[name] = make_provider(name, config, ws.workdir)
        yield made
    finally:
        for provider in made.values():
            provider.close()


def _used(stack: Stack, plan: Plan, rows: Sequence[Row] = ()) -> set[str]:
    """Providers the plan needs: targets of jobs and sessions with work, and of rows."""
    names: set[str] = set()
    targets = {job.name: job.target.provider for job in stack.jobs.values()}
    for resource in plan.resources:
        counts = resource.counts
        if resource.kind == "job" and any(counts[a] for a in Action if a is not Action.NOOP):
            names.add(targets[resource.name])
        elif resource.kind == "session":
            names.add(resource.target.partition("/")[0])
    names.update(row.provider for row in rows if row.status.in_flight)
    return names


class OverBudget(QplanError):
    """The plan's estimated cost exceeds the budget (or cannot be checked against it)."""


def apply(
    target: str,
    options: LoadOptions,
    run: Options,
    *,
    targets: Sequence[str] = (),
    sink: EventSink | None = None,
    confirm: Confirm | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> tuple[Plan, ApplyReport | None]:
    """Apply a manifest, or a saved plan (refused if stale), only ``targets`` and what they
    need if given (a saved plan keeps its own). A plan whose estimate exceeds the budget
    is refused (OverBudget) before anything is sent. The lock file next to the manifest
    is written at the end. Returns the plan and the report (None when ``confirm``
    declined)."""
    saved: PlanDocument | None = None
    manifest = target
    if is_plan_file(target):
        saved = load_plan(Path(target))
        manifest = saved.manifest
        if targets:
            raise UsageError(
                "--target: a saved plan keeps the targets it was made with; "
                "give --target to `qplan plan` instead"
            )
        targets = saved.targets
    with (
        open_workspace(manifest, options, write=True) as ws,
        _locked(ws, "apply", beat=False) as lock,
    ):
        made = make_plan(ws.stack, ws.store.snapshot(ws.stack.name))
        if saved is not None:
            check_current(saved, made, Path(target))  # before its targets are looked for
        plan = finish_plan(ws, made, options, targets, check_lock_file=False)
        if _runs_locally(ws.stack, plan):
            # before any other thread starts: a Ctrl-C must reach qplan, not its workers
            from qplan.providers.local import start_fork_server

            start_fork_server()
        lock.start_heartbeat()
        plan.devices = check_devices(ws.stack, ws.store, refresh=options.refresh_devices)
        if on_plan is not None:
            on_plan(plan)
        if plan.budget is not None and plan.cost is not None:
            problem = over_budget(plan.cost, plan.budget)
            if problem:
                raise OverBudget(f"{manifest}: apply refused, nothing was submitted: {problem}")
        if confirm is not None and not confirm(plan, ws.stack):
            return plan, None
        rows = list(ws.store.rows(ws.stack.name))
        for name, formats in _formats_to_run(ws.stack, plan).items():
            check_sdks(name, ws.stack.providers[name], formats)
        with _providers(ws, _used(ws.stack, plan, rows)) as providers:
            executor = Executor(ws.stack, ws.store, providers, plan, run, sink=sink)
            report = executor.run()
            try:
                _record(ws, always=True)
            except LockFileError as exc:  # what ran is in the state: say so, do not fail
                plan.warnings.append(f"{exc}; `qplan lock {manifest}` writes it later")
            return plan, report


def _record(ws: Workspace, *, always: bool = False) -> None:
    """Rewrite the manifest's lock file from the state: after an apply ``always``, after
    another change only when the manifest has one."""
    if always or lock_path(Path(ws.manifest)).exists():
        record_lock(ws)


def _formats_to_run(stack: Stack, plan: Plan) -> dict[str, set[str]]:
    """The program formats the plan sends to each provider."""
    formats: dict[str, set[str]] = {}
    for resource in plan.resources:
        job = stack.jobs.get(resource.name) if resource.kind == "job" else None
        if job is not None and any(resource.counts[a] for a in Action if a is not Action.NOOP):
            formats.setdefault(job.target.provider, set()).add(job.program.format)
    return formats


def _runs_locally(stack: Stack, plan: Plan) -> bool:
    """Whether the plan may run something on a local simulator (a run to submit, or one
    left in flight that the apply may run again). A no-op starts no fork server."""
    local = {name for name, config in stack.providers.items() if config.type == "local"}
    for resource in plan.resources:
        job = stack.jobs.get(resource.name) if resource.kind == "job" else None
        if job is None or job.target.provider not in local:
            continue
        counts = resource.counts
        if any(counts[a] for a in (*SUBMITS, Action.WAIT)):
            return True
    return False


def spends_money(plan: Plan, stack: Stack) -> bool:
    """Whether applying submits anything to a paid target."""
    for resource in plan.resources:
        if resource.kind != "job":
            continue
        counts = resource.counts
        submits = any(counts[a] for a in SUBMITS)
        if submits and stack.jobs[resource.name].target.paid:
            return True
    return False


def refresh(manifest: str, options: LoadOptions, *, sink: EventSink | None = None) -> list[Row]:
    """Observe in-flight jobs at their providers and record what changed (results too)."""
    with open_workspace(manifest, options, write=True) as ws, _locked(ws, "refresh"):
        _observe_in_flight(ws, sink)
        _record(ws)
        return list(ws.store.rows(ws.stack.name))


def _observe_in_flight(ws: Workspace, sink: EventSink | None = None) -> None:
    """One observation of the stack's in-flight jobs, what changed recorded."""
    plan = make_plan(ws.stack, ws.store.snapshot(ws.stack.name))
    in_flight = [r for r in ws.store.rows(ws.stack.name) if r.status.in_flight]
    if in_flight:
        with _providers(ws, {r.provider for r in in_flight}) as providers:
            observe_only = Options(no_wait=True, handle_sigint=False, observe_only=True)
            Executor(ws.stack, ws.store, providers, _waiting(plan), observe_only, sink=sink).run()


def _waiting(plan: Plan) -> Plan:
    """The plan with nothing to submit: only in-flight instances are looked after."""
    resources = []
    for resource in plan.resources:
        if resource.kind == "gone":
            continue
        kept = ResourcePlan(resource.name, resource.kind, resource.target)
        for address, action, reason in resource.items():
            kept.add(address, action if action is Action.WAIT else Action.NOOP, reason)
        resources.append(kept)
    return dataclasses.replace(plan, resources=resources)


@dataclass(frozen=True)
class ResultRecord:
    """The result of one succeeded instance: counts and the point it ran at."""

    address: str
    job: str
    point: Mapping[str, Any]
    shots: int
    counts: Mapping[str, int]
    provider_job_id: str | None
    target: str
    hybrid: Mapping[str, Any] | None = None
    """A hybrid job's saved result: ``dataFormat`` and ``dataDictionary`` as the job
    persisted them (``pickled_v4`` values still pickled), its ``job`` name and id."""

    @property
    def probabilities(self) -> dict[str, float]:
        total = sum(self.counts.values()) or 1
        return {k: v / total for k, v in self.counts.items()}


def results(
    manifest: str, options: LoadOptions, addresses: Sequence[str] = ()
) -> list[ResultRecord]:
    """Results of the manifest's instances that succeeded with their current fingerprint,
    in manifest order. ``addresses`` selects instances (or whole jobs by name)."""
    with open_workspace(manifest, options) as ws:
        rows = {r.address: r for r in ws.store.rows(ws.stack.name)}
        return results_of(ws, rows, addresses)


def results_of(
    ws: Workspace, rows: Mapping[str, Row], addresses: Sequence[str] = ()
) -> list[ResultRecord]:
    """``results`` in an open workspace, from its ``rows`` by address."""
    wanted = set(addresses)
    out: list[ResultRecord] = []
    unknown = wanted - {i.address for i in ws.stack.instances()} - set(ws.stack.jobs)
    if unknown:
        raise UsageError(f"no instance or job named {', '.join(sorted(unknown))} in {ws.manifest}")
    for job in ws.stack.jobs.values():
        fingerprint = JobFingerprinter(job)
        for instance in job.instances():
            if wanted and instance.address not in wanted and job.name not in wanted:
                continue
            row = rows.get(instance.address)
            if row is None or row.status is not JobStatus.SUCCEEDED or row.result_hash is None:
                continue
            if row.fingerprint != fingerprint(instance.address):
                continue
            data = ws.store.result(row.result_hash)
            if data is None:
                continue
            payload = json.loads(data)
            out.append(
                ResultRecord(
                    instance.address,
                    job.name,
                    dict(instance.point),
                    job.spec.shots or 0,
                    payload.get("counts", {}),
                    row.provider_job_id,
                    str(job.target),
                    payload.get("hybrid"),
                )
            )
    return out


def _cancel_rows(ws: Workspace, rows: Sequence[Row], detail: str) -> int:
    in_flight = [r for r in rows if r.status.in_flight]
    if not in_flight:
        return 0
    with _providers(ws, {r.provider for r in in_flight}) as providers:
        try:
            cancel_rows(ws.stack, ws.store, providers, in_flight, detail)
        except CancelFailed as exc:
            raise QplanError(str(exc)) from None
    return len(in_flight)


def _with_batches(ws: Workspace, rows: Sequence[Row], chosen: Sequence[Row]) -> list[Row]:
    """``chosen`` and the other members of their native batches where one provider job
    runs them all, so cancelling one cancels them all (not on a provider whose batch
    members are cancelled one by one: Pasqal's)."""

    def whole(row: Row) -> bool:
        config = ws.stack.providers.get(row.provider)
        kind = PROVIDER_TYPES.get(config.type) if config is not None else None
        return kind is None or not kind.cancel_members

    batches = {
        r.idempotency_key for r in chosen if r.member is not None and r.idempotency_key and whole(r)
    }
    addresses = {r.address for r in chosen}
    return [
        r
        for r in rows
        if r.address in addresses or (r.member is not None and r.idempotency_key in batches)
    ]


def cancel(manifest: str, options: LoadOptions, addresses: Sequence[str] = ()) -> tuple[int, int]:
    """Cancel in-flight instances (all, or the given addresses or job names): how many
    were asked, and how many of those the provider has not stopped yet once observed (a
    running job a target cannot stop may finish, and be billed)."""
    with open_workspace(manifest, options, write=True) as ws, _locked(ws, "cancel"):
        rows = list(ws.store.rows(ws.stack.name))
        if addresses:
            wanted = set(addresses)
            chosen = [r for r in rows if r.address in wanted or r.job in wanted]
            rows = _with_batches(ws, rows, chosen)
        count = _cancel_rows(ws, rows, "cancelled by qplan cancel")
        asked = {r.address for r in rows if r.status.in_flight}
        if not any(r.status is JobStatus.CANCELLING for r in ws.store.rows(ws.stack.name)):
            _record(ws)
            return count, 0
        _observe_in_flight(ws)
        still = [
            r for r in ws.store.rows(ws.stack.name) if r.address in asked and r.status.in_flight
        ]
        _record(ws)
        return count, len(still)


def destroy(manifest: str, options: LoadOptions) -> tuple[int, int, str]:
    """Cancel what runs and forget every resource of the stack; results stay in the
    state's history. Returns (cancelled, forgotten, where the history is)."""
    with open_workspace(manifest, options, write=True) as ws, _locked(ws, "destroy"):
        rows = list(ws.store.rows(ws.stack.name))
        cancelled = _cancel_rows(ws, rows, "cancelled by qplan destroy")
        ws.store.forget(ws.stack.name, [r.address for r in rows], "destroyed")
        _record(ws)
        return cancelled, len(rows), ws.store.location
