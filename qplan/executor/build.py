"""The view an apply starts from: the plan's instances with their rows, the sessions, the
providers. Pure: plan, rows and capabilities in, records out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from qplan.addresses import session_address
from qplan.executor.model import Instance, JobView, Phase, ProviderView, SessionView, View
from qplan.jobstatus import JobStatus
from qplan.manifest import Job, Stack
from qplan.planner import SUBMITS, Action, JobFingerprinter, Plan
from qplan.planner.plan import session_fingerprint
from qplan.providers import Capabilities, SessionSupport
from qplan.state import Row

__all__ = ["build_view", "gone_rows", "native_limit"]

S = JobStatus
_AT_PROVIDER = {S.QUEUED: Phase.QUEUED, S.RUNNING: Phase.RUNNING, S.CANCELLING: Phase.CANCELLING}


def job_view(job: Job) -> JobView:
    spec = job.spec
    return JobView(
        name=job.name,
        provider=job.target.provider,
        device=job.target.device,
        format=job.program.format,
        program=job.program.text,
        shots=job.shots,
        inputs=job.inputs,
        tags=spec.tags,
        after=job.after,
        session=job.session,
        retry=job.retry,
        timeout=spec.timeout,
        on_failure=spec.on_failure,
        batch_size=spec.sweep.batch_size if spec.sweep is not None else None,
        entry=job.entry,
        params=job.params,
        hybrid=job.hybrid,
    )


def native_limit(job: Job, capabilities: Capabilities) -> int | None:
    """1 when ``job`` goes one job per point (always for a hybrid job: each point is a
    hybrid job of its own); None when it goes as native batches, whose size its provider
    must be asked."""
    sweep = job.spec.sweep
    if sweep is None or job.hybrid is not None:
        return 1
    mode = sweep.batch
    if mode == "auto":
        mode = "native" if capabilities.batch_by_default else "per_point"
    return None if mode == "native" else 1


def _instance(
    job: Job,
    address: str,
    point: Mapping[str, Any],
    fingerprint: str,
    action: Action,
    row: Row | None,
    durable: bool,
) -> Instance:
    """The instance at ``address`` as the plan and its row (if any) leave it."""
    base = Instance(address, job.name, fingerprint, action, Phase.WAITING, point=point)
    if row is None:
        return base
    if action in SUBMITS:  # a new attempt: what the row says is history
        retry = action is Action.RETRY
        return replace(
            base,
            stored=row.status,
            attempt=row.attempt if retry else 0,
            previous=row.provider_job_id if retry else None,
        )
    known = replace(
        base,
        stored=row.status,
        attempt=row.attempt,
        intent=True,
        key=row.idempotency_key,
        member=row.member,
        dispatch_ref=row.dispatch_ref,
        job_id=row.provider_job_id,
        since=row.updated_at,
    )
    if action is Action.NOOP:
        return replace(known, phase=Phase.SUCCEEDED if row.status is S.SUCCEEDED else Phase.FAILED)
    if row.status is S.SUBMITTING:  # an intent of unknown fate: looked up by key
        return replace(known, phase=Phase.UNKNOWN)
    if not durable:  # a run of a process that ended: found by key if it finished, else lost
        return replace(known, phase=Phase.UNKNOWN if row.idempotency_key else Phase.WAITING)
    return replace(known, phase=_AT_PROVIDER[row.status])


def build_view(
    stack: Stack,
    plan: Plan,
    rows: Sequence[Row],
    capabilities: Mapping[str, Capabilities],
    sessions_of: Mapping[str, SessionSupport | None],
    *,
    now: float,
    generation: int,
    poll_interval: float | None,
    options: Mapping[str, Any],
) -> View:
    by_address = {row.address: row for row in rows}
    actions: dict[str, Action] = {}
    for resource in plan.resources:
        for address, action, _ in resource.items():
            actions[address] = action
    instances: dict[str, Instance] = {}
    limits: dict[str, int] = {}
    targeted = bool(plan.targets)
    for job in stack.jobs.values():
        # a provider not made has no work in this apply: its instances are all unchanged
        caps = capabilities.get(job.target.provider, Capabilities())
        limit = native_limit(job, caps)
        if limit is not None:
            limits[job.name] = limit
        fingerprint = JobFingerprinter(job)
        for item in job.instances():
            address = item.address
            if targeted and address not in actions:
                continue  # left out of a targeted plan: not in this apply at all
            instances[address] = _instance(
                job,
                address,
                item.point,
                fingerprint(address),
                actions.get(address, Action.CREATE),
                by_address.get(address),
                caps.durable_jobs,
            )
    sessions = {}
    settings: dict[str, dict[str, Any]] = {}
    for name, spec in stack.sessions.items():
        provider, _, device = spec.target.partition("/")
        address = session_address(name)
        if targeted and address not in actions:
            continue  # left out of a targeted plan: neither opened nor closed here
        row = by_address.get(address)
        sessions[name] = SessionView(
            name,
            address,
            provider,
            device,
            spec.on_job_failure == "abort",
            spec.idle_timeout,
            session_fingerprint(spec.target, spec.on_job_failure),
            stored=row.status if row else None,
            attempt=row.attempt if row else 0,
            key=row.idempotency_key if row else None,
            # open at the provider since an earlier run: adopted as it is
            session_id=row.provider_job_id if row and kept_open(row, capabilities) else None,
            last_used=row.updated_at if row else 0.0,
            provider_status=row.provider_status if row else None,
        )
        config = stack.providers.get(provider)
        reservation = getattr(config, "reservations", {}).get(name)
        if reservation:
            settings[name] = {"reservation_arn": reservation}
    providers = {
        name: ProviderView(
            name,
            poll_interval or caps.poll_interval,
            caps.max_in_flight,
            caps.max_observe,
            caps.durable_jobs,
            caps.idempotent_submit,
            caps.timeout_from_start,
            caps.batch_by_default,
            tokens=float(max(1, caps.submit_burst)),
            rate=caps.submit_rate,
            burst=float(max(1, caps.submit_burst)),
            stamp=now,
            sessions=sessions_of.get(name) is not None,
            enforces_policy=bool(getattr(sessions_of.get(name), "enforces_policy", False)),
        )
        for name, caps in capabilities.items()
    }
    sizes = Counter(r.idempotency_key for r in rows if r.idempotency_key)
    return View(
        stack.name,
        {name: job_view(job) for name, job in stack.jobs.items()},
        instances,
        sessions,
        providers,
        limits,
        dispatch_sizes=dict(sizes),
        session_settings=settings,
        generation=generation,
        jitter=json.dumps(options.get("jitter", "")),
        parallelism=options.get("parallelism"),
        fail_fast=bool(options.get("fail_fast")),
        no_wait=bool(options.get("no_wait")),
        observe_only=bool(options.get("observe_only")),
    )


def kept_open(row: Row, capabilities: Mapping[str, Capabilities]) -> bool:
    caps = capabilities.get(row.provider)
    return (
        caps is not None
        and caps.durable_jobs
        and row.status in (S.QUEUED, S.RUNNING)
        and row.provider_job_id is not None
    )


def gone_rows(plan: Plan, rows: Sequence[Row]) -> list[Row]:
    """Rows the plan retires: gone from the manifest (their job, or their point)."""
    by_address = {row.address: row for row in rows}
    return [
        by_address[address]
        for resource in plan.resources
        if resource.kind == "gone"
        for address, _, _ in resource.items()
        if address in by_address
    ]
