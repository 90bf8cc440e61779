"""Records for the pure core's table tests: no YAML, no SQLite, no provider."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from qplan.executor.model import Instance, JobView, Phase, ProviderView, SessionView, View
from qplan.manifest import RetryPolicy
from qplan.planner import Action

NOW = 1_000.0


def job(name: str = "scan", **changes: Any) -> JobView:
    base = JobView(name, "p", "dev", "openqasm3", "PROGRAM", 10)
    return replace(base, **changes)


def retry(attempts: int, backoff: float = 10.0, max_backoff: float = 600.0) -> RetryPolicy:
    return RetryPolicy(attempts, backoff, max_backoff)


def provider(name: str = "p", **changes: Any) -> ProviderView:
    base = ProviderView(
        name,
        poll_interval=1.0,
        max_in_flight=10,
        max_observe=100,
        durable=True,
        idempotent=True,
        timeout_from_start=False,
        batch_by_default=False,
        tokens=100.0,
        rate=100.0,
        burst=100.0,
        stamp=NOW,
    )
    return replace(base, **changes)


def instance(address: str, job: str = "scan", **changes: Any) -> Instance:
    base = Instance(address, job, f"fp-{address}", Action.CREATE, Phase.WAITING)
    return replace(base, **changes)


def at_provider(address: str, job: str = "scan", **changes: Any) -> Instance:
    """An instance in flight at its provider, as one sent by this apply."""
    values: dict[str, Any] = {
        "phase": Phase.QUEUED,
        "stored": Phase.QUEUED.value,
        "attempt": 1,
        "intent": True,
        "key": f"key-{address}",
        "job_id": f"id-{address}",
        "dispatch_ref": f"id-{address}",
        "since": NOW,
        "carried_out": True,
    }
    values.update(changes)
    from qplan.jobstatus import JobStatus

    values["stored"] = JobStatus(values["stored"]) if values["stored"] else None
    return instance(address, job, **values)


def session(name: str = "s", **changes: Any) -> SessionView:
    base = SessionView(name, f"session.{name}", "p", "dev", True, 600.0, "sfp")
    return replace(base, **changes)


def view(
    instances: Iterable[Instance],
    jobs: Iterable[JobView] = (),
    providers: Iterable[ProviderView] = (),
    sessions: Iterable[SessionView] = (),
    **changes: Any,
) -> View:
    listed = list(instances)
    named_jobs = {j.name: j for j in jobs}
    for i in listed:
        named_jobs.setdefault(i.job, job(i.job))
    named_providers = {p.name: p for p in providers}
    for j in named_jobs.values():
        named_providers.setdefault(j.provider, provider(j.provider))
    base = View(
        "stack",
        named_jobs,
        {i.address: i for i in listed},
        {s.name: s for s in sessions},
        named_providers,
        {name: 1 for name in named_jobs},
        jitter="j",
    )
    return replace(base, **changes)
