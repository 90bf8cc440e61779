"""The one cancel path: timeouts, session aborts, interrupts, replaced and retired
instances, ``qplan cancel`` and ``qplan destroy`` all ask here.

Cancelling is two steps when a job's id is not known yet (an intent whose fate is
unknown): its key is looked up first, then what was found is cancelled. A job another
instance still waits on (the batch of a member that left) is not cancelled: the others
need it. What a cancel becomes is recorded as it is asked:

- ``cancelling``: the provider was asked (the row goes on to what the provider says);
- ``cancelled``: nothing of its own runs: it never reached the provider, it ended with
  its qplan process (local runs), or its batch runs on for other members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from qplan.executor.commands import Cancel, Lookup
from qplan.executor.model import Instance
from qplan.jobstatus import JobStatus
from qplan.providers import Receipt
from qplan.state import Row, Transition

__all__ = [
    "Target",
    "ask_cancel",
    "found_to_cancel",
    "lookups_for",
    "target_of",
    "targets_of_rows",
]


@dataclass(frozen=True)
class Target:
    """One thing to cancel: its address, provider, status in the state, its job id if
    known, else the key of the dispatch it may be in (and its place there), and the
    dispatch's reference if known. ``alive``: it may still run at its provider (False: a
    local run of a qplan process that ended: nothing is left to cancel)."""

    address: str
    provider: str
    stored: JobStatus
    job_id: str | None
    key: str | None
    member: int | None
    dispatch_ref: str | None
    since: float
    alive: bool
    found: bool = False  # its job id was found by its key just now


def target_of(instance: Instance, provider: str) -> Target:
    """An instance of this apply at ``provider`` as a cancel target (it may still run)."""
    i = instance
    stored = i.stored or JobStatus.QUEUED
    return Target(
        i.address, provider, stored, i.job_id, i.key, i.member, i.dispatch_ref, i.since, True
    )


def targets_of_rows(rows: Iterable[Row], durable: Mapping[str, bool]) -> list[Target]:
    """The in-flight rows among ``rows``, as cancel targets."""
    return [
        Target(
            r.address,
            r.provider,
            r.status,
            r.provider_job_id,
            r.idempotency_key,
            r.member,
            r.dispatch_ref,
            r.updated_at,
            durable.get(r.provider, True),
        )
        for r in rows
        if r.status.in_flight
    ]


def lookups_for(targets: Sequence[Target]) -> list[Lookup]:
    """Lookups of the keys of durable targets whose job id is not known."""
    by_provider: dict[str, list[Target]] = defaultdict(list)
    for t in targets:
        if t.job_id is None and t.key and t.alive:
            by_provider[t.provider].append(t)
    return [
        Lookup(
            name,
            tuple(dict.fromkeys(t.key for t in group if t.key)),
            min(t.since for t in group),
            "cancel",
        )
        for name, group in by_provider.items()
    ]


def found_to_cancel(targets: Sequence[Target], found: Mapping[str, Receipt]) -> list[Target]:
    """``targets`` with the job ids their keys were found under."""
    out = []
    for target in targets:
        receipt = found.get(target.key or "") if target.job_id is None else None
        if receipt is not None:
            index = target.member or 0
            job_id = receipt.member_ids[index] if index < len(receipt.member_ids) else None
            target = replace(  # noqa: PLW2901
                target, job_id=job_id, dispatch_ref=receipt.ref, found=True
            )
        out.append(target)
    return out


def ask_cancel(
    targets: Sequence[Target], kept: Iterable[str], detail: str
) -> tuple[list[Cancel], list[Transition], dict[str, JobStatus]]:
    """Cancels to ask, the transitions that record them, and each target's status after.
    ``kept``: dispatch references (or job ids) other instances still wait on."""
    keep = set(kept)
    asked: dict[str, list[str]] = defaultdict(list)
    status: dict[str, JobStatus] = {}
    for t in targets:
        shared = (t.dispatch_ref or t.job_id) in keep
        if t.job_id is not None and t.alive and not shared:
            asked[t.provider].append(t.job_id)
            status[t.address] = JobStatus.CANCELLING
        else:
            status[t.address] = JobStatus.CANCELLED
    transitions = [
        Transition(
            t.address,
            status[t.address],
            provider_job_id=t.job_id if t.found else None,
            dispatch_ref=t.dispatch_ref if t.found else None,
            detail=detail,
        )
        for t in targets
        if t.stored is not status[t.address]
    ]
    cancels = [Cancel(name, tuple(dict.fromkeys(ids))) for name, ids in asked.items()]
    return cancels, transitions, status
