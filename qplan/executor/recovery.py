"""Recovery, as a pure decision: instances whose fate is unknown, and what a lookup by key
says of them.

An instance is ``unknown`` when an intent of its was committed and the outcome of its
submission is not known: it was ``submitting`` when an earlier qplan stopped, or an
ambiguous error (timeout, 5xx after sending) answered it. Also unknown at start: the runs
of a provider whose jobs end with their process (local) that an earlier qplan left in
flight. A lookup of their keys decides:

- found: adopted, with the job id the provider gives (a finished local run is found with
  its result, kept until it is recorded);
- absent, an intent: sent again under the same key (nothing was made of it);
- absent, a run of an ended process: lost with it; recorded cancelled, then run again as
  a new attempt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from qplan.executor.commands import Lookup
from qplan.executor.decision import Decision
from qplan.executor.events import Event, Kind
from qplan.executor.model import Instance, Phase, View
from qplan.jobstatus import JobStatus
from qplan.providers import Receipt
from qplan.state import Transition

__all__ = ["LOST", "lookups", "recover"]

S = JobStatus
LOST = "lost: the qplan process running it ended"
_PHASE = {S.QUEUED: Phase.QUEUED, S.RUNNING: Phase.RUNNING, S.CANCELLING: Phase.CANCELLING}


def lookups(view: View, now: float) -> list[Lookup]:
    """One lookup per provider due for observation, of the keys of its unknown instances."""
    keys: dict[str, dict[str, None]] = defaultdict(dict)
    since: dict[str, float] = {}
    for instance in view.live.values():
        if instance.phase is not Phase.UNKNOWN or instance.key is None:
            continue
        name = view.jobs[instance.job].provider
        provider = view.providers[name]
        if now < provider.next_observation:
            continue
        keys[name][instance.key] = None
        since[name] = min(since.get(name, instance.since), instance.since)
    return [Lookup(name, tuple(found), since[name]) for name, found in keys.items()]


def recover(
    view: View, provider: str, keys: tuple[str, ...], found: Mapping[str, Receipt], now: float
) -> Decision:
    out = Decision()
    asked = set(keys)
    adopted: list[Transition] = []
    lost: list[Instance] = []
    for instance in view.instances.values():
        if instance.phase is not Phase.UNKNOWN or instance.key not in asked:
            continue
        if view.jobs[instance.job].provider != provider:
            continue
        receipt = found.get(instance.key or "")
        index = instance.member or 0
        if receipt is not None and index < len(receipt.member_ids):
            job_id = receipt.member_ids[index]
            status = instance.stored if instance.stored in _PHASE else S.QUEUED
            adopted.append(
                Transition(
                    instance.address,
                    status,
                    provider_job_id=job_id,
                    dispatch_ref=receipt.ref,
                    detail="adopted by key"
                    if instance.stored is S.SUBMITTING
                    else "found by key: it ended with its qplan process",
                )
            )
            out.put(
                instance.to(
                    _PHASE[status],
                    stored=status,
                    job_id=job_id,
                    dispatch_ref=receipt.ref,
                    since=instance.since or now,
                )
            )
            out.emit(Event(Kind.ADOPTED, now, instance.job, instance.address, job_id))
        elif instance.stored is S.SUBMITTING:  # the provider never got it: same key again
            out.put(instance.to(Phase.WAITING, intent=True))
            out.emit(
                Event(
                    Kind.RESENT,
                    now,
                    instance.job,
                    instance.address,
                    "the provider never got it: sent again under the same key",
                )
            )
        else:
            lost.append(instance)
    out.commit(adopted)
    if lost:
        out.commit(Transition(i.address, S.CANCELLED, detail=LOST) for i in lost)
        for instance in lost:
            out.put(
                replace(
                    instance,
                    phase=Phase.WAITING,
                    stored=S.CANCELLED,
                    intent=False,
                    key=None,
                    member=None,
                    job_id=None,
                    dispatch_ref=None,
                )
            )
    return out
