"""What the providers billed for a stack's succeeded instances, beside the estimate.

Only jobs on paid targets are read (``TargetRef.paid``: not the local simulators, not a
free emulator), and of those only the succeeded rows' result payloads, where the provider
put its ``billed`` figures (``planner.cost``): ``status`` stays one state query on a
stack that runs on the local simulators, however many rows it has.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.manifest import Job, Stack
from qplan.operations.planning import LoadOptions, Workspace, open_workspace, pricing_of
from qplan.operations.running import ResultRecord, results_of
from qplan.planner.cost import JobSpend, Pricing, spent
from qplan.state import LockInfo, Row

__all__ = ["Spending", "results", "spending_of", "status"]


@dataclass(frozen=True)
class Spending:
    """Per job with something billed: the estimate of what ran and what was billed."""

    currency: str
    as_of: str
    jobs: tuple[JobSpend, ...]

    @property
    def estimated(self) -> float:
        """The estimate of what ran, summed over the known amounts."""
        return math.fsum(j.estimate.amount for j in self.jobs if j.estimate.amount is not None)

    @property
    def billed(self) -> float:
        """The billed figures' amount, summed over the known amounts."""
        return math.fsum(j.amount for j in self.jobs if j.amount is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "as_of": self.as_of,
            "estimated": round(self.estimated, 6),
            "billed": round(self.billed, 6),
            "jobs": [
                {
                    "job": j.job,
                    "target": j.target,
                    "estimate": {
                        "instances": j.estimate.instances,
                        "tasks": j.estimate.tasks,
                        "shots": j.estimate.shots,
                        "amount": j.estimate.amount,
                        "basis": j.estimate.basis,
                    },
                    "billed": {
                        "tasks": j.tasks,
                        "shots": j.shots,
                        "billable_seconds": j.billable_seconds,
                        "amount": j.amount,
                        "basis": j.basis,
                    },
                }
                for j in self.jobs
            ],
        }


def _billable(job: Job) -> bool:
    """Whether the job's provider may bill it: a paid target (a hybrid job anywhere but
    on the local provider)."""
    if job.hybrid is not None:
        return job.target.provider_type != "local"
    return job.target.paid


def spending_of(
    ws: Workspace, rows: Iterable[Row], pricing: Pricing, jobs: Collection[str] | None = None
) -> Spending:
    """The spending of ``ws``'s jobs (or of ``jobs`` only) from their succeeded ``rows``."""
    billable = {
        name: job
        for name, job in ws.stack.jobs.items()
        if _billable(job) and (jobs is None or name in jobs)
    }
    hashes: dict[str, list[str]] = {}
    if billable:
        for row in rows:
            if row.job in billable and row.status is JobStatus.SUCCEEDED and row.result_hash:
                hashes.setdefault(row.job, []).append(row.result_hash)
    out: list[JobSpend] = []
    for name, job in billable.items():
        found = spent(job, _payloads(ws, hashes.get(name, ())), pricing)
        if found is not None:
            out.append(found)
    return Spending(pricing.currency, pricing.as_of, tuple(out))


def _payloads(ws: Workspace, digests: Iterable[str]) -> Iterable[Mapping[str, Any]]:
    for digest in digests:
        data = ws.store.result(digest)
        if data is not None:
            payload = json.loads(data)
            if isinstance(payload, dict):
                yield payload


def status(
    manifest: str, options: LoadOptions
) -> tuple[Stack, list[Row], LockInfo | None, Spending]:
    """The stack's rows as stored (no provider is called), its lock if held, and what
    was billed for its jobs on paid targets."""
    with open_workspace(manifest, options) as ws:
        rows = list(ws.store.rows(ws.stack.name))
        lock = ws.store.lock_info(ws.stack.name)
        return ws.stack, rows, lock, spending_of(ws, rows, pricing_of(ws.stack, options))


def results(
    manifest: str, options: LoadOptions, addresses: Sequence[str] = ()
) -> tuple[list[ResultRecord], Spending]:
    """``operations.results``, and what was billed for the jobs of those results on paid
    targets: one state read for both."""
    with open_workspace(manifest, options) as ws:
        rows = {r.address: r for r in ws.store.rows(ws.stack.name)}
        records = results_of(ws, rows, addresses)
        jobs = {r.job for r in records}
        return records, spending_of(ws, rows.values(), pricing_of(ws.stack, options), jobs)
