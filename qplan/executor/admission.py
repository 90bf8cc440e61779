"""Admission, as a pure decision: which waiting instances go now, and how they are grouped.

An instance waiting to be sent goes when, in manifest order (but the members of open
sessions first: a session must not sit idle while members of its are ready, and Azure ends
one left idle for ten minutes):

- the apply is not halted, interrupted or observing only;
- its backoff is over (``not_before``);
- every instance of the jobs it runs ``after`` succeeded (one that failed or was skipped
  skips it, with the reason);
- its session was not aborted (else it is skipped), and is open (else it opens first);
- its provider answers (a provider that keeps failing holds back only its own work, until
  its next poll);
- its provider has room for one more job in flight (``max_in_flight``, a native batch
  counting once), and the apply too (``--parallelism``);
- a token of its provider's bucket is free (``submit_rate``, ``submit_burst``).

A job whose sweep goes as native batches (``limit`` > 1) is cut into batches of at most
``limit`` instances, in sweep order; a batch that an earlier run committed but never sent
goes again whole, under its key, as long as all its members are still here; with a member
gone, the others make a new batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import chain

from qplan.executor.model import Instance, Phase, ProviderView, View

__all__ = ["Admission", "admit", "deps_state", "take_token", "token_wait"]


@dataclass
class Admission:
    """``units``: what goes now, each one provider job (one instance, or a batch);
    ``skipped``: instances that will never go, with why; ``providers``: the buckets after
    the tokens taken; ``ask``: jobs whose batch limit must be asked first; ``starved``:
    providers whose bucket held back ready work; ``sessions``: sessions that ready work
    waits for (to open)."""

    units: list[list[Instance]] = field(default_factory=list)
    skipped: list[tuple[Instance, str]] = field(default_factory=list)
    providers: dict[str, ProviderView] = field(default_factory=dict)
    ask: list[str] = field(default_factory=list)
    starved: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)


def take_token(provider: ProviderView, now: float) -> tuple[bool, ProviderView]:
    """Take a token of ``provider``'s bucket if one is free now."""
    tokens = min(provider.burst, provider.tokens + (now - provider.stamp) * provider.rate)
    if tokens >= 1.0:
        return True, replace(provider, tokens=tokens - 1.0, stamp=now)
    return False, replace(provider, tokens=tokens, stamp=now)


def token_wait(provider: ProviderView, now: float) -> float:
    """Seconds until a token of ``provider``'s bucket is free (0 if one is)."""
    tokens = min(provider.burst, provider.tokens + (now - provider.stamp) * provider.rate)
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / provider.rate


def deps_state(view: View, job: str, by_job: Mapping[str, list[Instance]]) -> str:
    """``ready``, ``waiting`` (a dependency is not done) or ``failed`` (one failed or was
    skipped: the job never runs in this apply)."""
    state = "ready"
    for dep in view.jobs[job].after:
        for instance in by_job.get(dep, ()):
            if instance.phase in (Phase.FAILED, Phase.SKIPPED, Phase.STOPPED):
                return "failed"
            if instance.phase is not Phase.SUCCEEDED:
                state = "waiting"
    return state


def admit(
    view: View,
    now: float,
    by_job: Mapping[str, list[Instance]],
    dispatch_sizes: Mapping[str, int],
) -> Admission:
    out = Admission()
    if view.halt or view.observe_only or view.interrupted:
        return out
    providers = dict(view.providers)
    flying: dict[str, set[str]] = defaultdict(set)
    for instance in view.live.values():
        if instance.at_provider:
            name = view.jobs[instance.job].provider
            flying[name].add(instance.dispatch_ref or instance.job_id or instance.address)
    room = {name: p.max_in_flight - len(flying[name]) for name, p in providers.items()}
    total = sum(len(ids) for ids in flying.values())
    budget = (view.parallelism - total) if view.parallelism else len(view.instances) + 1
    deps: dict[str, str] = {}
    batched: dict[str, list[Instance]] = defaultdict(list)
    fresh: dict[str, int] = defaultdict(int)
    for instance in _in_order(view):
        if budget <= 0:
            break
        if instance.phase is not Phase.WAITING or instance.not_before > now:
            continue
        job = view.jobs[instance.job]
        state = deps.get(job.name)
        if state is None:
            state = deps[job.name] = deps_state(view, job.name, by_job)
        if state == "failed":
            out.skipped.append(
                (instance, f"skipped: a job it runs after ({', '.join(job.after)}) failed")
            )
            continue
        if state == "waiting":
            continue
        session = view.sessions.get(job.session or "")
        if session is not None and session.aborted:
            out.skipped.append(
                (instance, f"skipped: session {session.name} was aborted by a failure")
            )
            continue
        if session is not None and not session.open:
            out.sessions.add(session.name)
            continue
        name = job.provider
        provider = providers[name]
        if provider.down_since is not None and now < provider.next_observation:
            continue  # failing: tried again at its next poll, not before
        if room[name] <= 0:
            continue
        limit = view.limits.get(job.name)
        if limit is None:
            if job.name not in out.ask:
                out.ask.append(job.name)
            continue
        if limit > 1:
            # a batch pending from before goes whole; fresh instances only as many as the
            # batches that may go now can take
            pending = instance.key is not None and instance.member is not None
            if pending or fresh[job.name] < limit * min(budget, room[name]):
                batched[job.name].append(instance)
                fresh[job.name] += 0 if pending else 1
            continue
        took, providers[name] = take_token(provider, now)
        if not took:
            out.starved.add(name)
            continue
        out.units.append([instance])
        budget -= 1
        room[name] -= 1
    for job_name, ready in batched.items():
        name = view.jobs[job_name].provider
        for unit in batches(ready, view.limits[job_name], dispatch_sizes):
            if budget <= 0 or room[name] <= 0:
                break
            took, providers[name] = take_token(providers[name], now)
            if not took:
                out.starved.add(name)
                break
            out.units.append(unit)
            budget -= 1
            room[name] -= 1
    out.providers = {n: p for n, p in providers.items() if p is not view.providers[n]}
    return out


def _in_order(view: View) -> Iterable[Instance]:
    """The instances not final, members of open sessions first, each part in manifest
    order."""
    open_sessions = {s.name for s in view.sessions.values() if s.open}
    if not open_sessions:
        return view.live.values()

    def in_open(instance: Instance) -> bool:
        return view.jobs[instance.job].session in open_sessions

    live = view.live.values()
    return chain((i for i in live if in_open(i)), (i for i in live if not in_open(i)))


def batches(
    ready: list[Instance], limit: int, dispatch_sizes: Mapping[str, int]
) -> list[list[Instance]]:
    """Ready instances of one job as provider jobs: a batch pending from before, with all
    its members here, as it was (same key, same order); the others cut into batches of at
    most ``limit``, in sweep order."""
    pending: dict[str, list[Instance]] = defaultdict(list)
    fresh: list[Instance] = []
    units: list[list[Instance]] = []
    for instance in ready:
        if instance.key is None or instance.member is None:
            fresh.append(instance)
        else:
            pending[instance.key].append(instance)
    for key, members in pending.items():
        if len(members) == dispatch_sizes.get(key, -1):
            units.append(sorted(members, key=lambda i: i.member or 0))
        else:  # a member is gone: the others go as a new batch, under a new key
            fresh.extend(replace(m, key=None, member=None) for m in members)
    units.extend(fresh[i : i + limit] for i in range(0, len(fresh), limit))
    return units
