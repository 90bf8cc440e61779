"""The pure core: every decision of an apply, as functions of an immutable view.

The driver calls, in a loop:

- ``observe(view, now)``: lookups of unknown intents and observations of jobs in flight,
  for each provider whose poll interval has come;
- ``act(view, now)``: timeouts, sessions, admission and the dispatches that follow;
- ``absorb(view, outcome, now)`` for the outcome of every command it ran;
- ``finished(view)`` to stop, ``wake(view, now, starved)`` for how long to sleep.

Each returns a ``Decision``: new records for the driver to apply, and commands to run in
order. Nothing here reads a clock, sleeps, writes the state or calls a provider.
"""

from __future__ import annotations

from dataclasses import replace

from qplan.executor import recovery, sending, sessions
from qplan.executor.admission import admit, deps_state
from qplan.executor.commands import (
    AskLimit,
    Cancelled,
    FindSessions,
    Found,
    Limit,
    Observe,
    Observed,
    Outcome,
    Sent,
    SessionClosed,
    SessionOpened,
    SessionsFound,
    SessionsObserved,
)
from qplan.executor.decision import Decision, overlay
from qplan.executor.events import Event, Kind
from qplan.executor.failing import skip
from qplan.executor.ingest import check_timeouts, ingest
from qplan.executor.model import Instance, Phase, ProviderView, View
from qplan.executor.recovery import LOST
from qplan.jobstatus import JobStatus
from qplan.providers import PermanentError, ProviderError, TransientError
from qplan.state import Transition

__all__ = [
    "UNREACHABLE_GRACE",
    "UNREACHABLE_NOTICE",
    "absorb",
    "act",
    "finished",
    "observe",
    "start",
    "wake",
]

S = JobStatus
UNREACHABLE_GRACE = 10.0  # seconds a provider may fail before qplan says so
UNREACHABLE_NOTICE = 60.0  # seconds between two notices that a provider keeps failing


def start(view: View, now: float) -> Decision:
    """Before the loop. Runs of an ended process that cannot be looked up (no key) are
    lost. Sessions an earlier run left: open ones of a provider whose jobs outlive their
    process are kept (the view has them open); an open of unknown outcome is looked up by
    key; those of an ended process are lost."""
    out = Decision()
    lost = [
        i
        for i in view.instances.values()
        if i.phase is Phase.WAITING and i.stored in (S.QUEUED, S.RUNNING, S.CANCELLING)
    ]
    out.commit(Transition(i.address, S.CANCELLED, detail=LOST) for i in lost)
    out.put(*(replace(i, stored=S.CANCELLED, intent=False, key=None, job_id=None) for i in lost))
    for session in view.sessions.values():
        provider = view.providers.get(session.provider)
        if session.open or session.stored not in (S.SUBMITTING, S.QUEUED, S.RUNNING):
            continue
        if provider is not None and provider.durable and session.stored is S.SUBMITTING:
            out.sessions[session.name] = replace(session, opening=True)
            out.commands.append(FindSessions(session.provider, (session.key or "",)))
            continue
        out.commit([Transition(session.address, S.CANCELLED, detail="lost with its process")])
        out.sessions[session.name] = replace(session, stored=S.CANCELLED, key=None)
    return out


def observe(view: View, now: float) -> Decision:
    """Lookups and observations of the providers whose poll interval has come."""
    out = Decision()
    out.commands.extend(recovery.lookups(view, now))
    watched: dict[str, list[str]] = {}
    for instance in view.live.values():
        if instance.at_provider:
            name = view.jobs[instance.job].provider
            if now >= view.providers[name].next_observation:
                watched.setdefault(name, []).append(instance.job_id or "")
    for name, ids in watched.items():
        size = max(1, view.providers[name].max_observe)
        for first in range(0, len(ids), size):
            out.commands.append(Observe(name, tuple(ids[first : first + size])))
    out.commands.extend(sessions.to_observe(view, now))
    due = {c.provider for c in out.commands if hasattr(c, "provider")}
    for name in due:
        provider = view.providers[name]
        out.providers[name] = replace(provider, next_observation=now + provider.poll_interval)
    return out


def act(view: View, now: float) -> Decision:
    """Timeouts, sessions, admission and dispatches: everything that moves work along."""
    out = check_timeouts(view, now)
    view = overlay(view, out) if out.instances else view
    fresh = sessions.keep_fresh(view, now)
    if fresh.sessions:
        out += fresh
        view = overlay(view, fresh)
    admission = admit(view, now, by_job(view), view.dispatch_sizes)
    for instance, reason in admission.skipped:
        out += skip(view, instance, reason, now)
    for job in admission.ask:
        out.commands.append(AskLimit(view.jobs[job].provider, job))
    out.providers.update(admission.providers)
    if admission.sessions:
        out += sessions.open_needed(view, admission.sessions, now)
    if admission.units:
        out += sending.dispatch_units(view, admission.units, now)
    out += sessions.close_finished(overlay(view, out), now)
    return out


def absorb(view: View, outcome: Outcome, now: float) -> Decision:
    """What one command's outcome makes of the view."""
    if isinstance(outcome, Sent):
        return sending.received(view, outcome, now)
    if isinstance(outcome, Found):
        name = outcome.command.provider
        if outcome.error is not None:
            return unreachable(view, name, outcome.error, now)
        out = reachable(view, name)
        if outcome.command.purpose == "recover":
            out += recovery.recover(view, name, outcome.command.keys, outcome.receipts, now)
        return out
    if isinstance(outcome, Observed):
        name = outcome.command.provider
        if isinstance(outcome.error, TransientError):
            return unreachable(view, name, outcome.error, now)
        out = reachable(view, name)
        if outcome.error is not None:  # a 4xx, a malformed answer: these jobs, not the apply
            out.emit(Event(Kind.OBSERVE_ERROR, now, detail=f"{name}: {outcome.error}"))
            return out
        ids = set(outcome.command.job_ids)
        watched = [
            i
            for i in view.live.values()
            if i.at_provider and i.job_id in ids and view.job(i).provider == name
        ]
        out += ingest(view, name, watched, outcome.observations, outcome.results, now)
        return out
    if isinstance(outcome, Cancelled):
        out = Decision()
        if outcome.error is not None:
            detail = f"cancel at {outcome.command.provider} failed: {outcome.error}"
            out.emit(Event(Kind.NOTICE, now, detail=detail))
        return out
    if isinstance(outcome, Limit):
        return _limit(view, outcome, now)
    if isinstance(outcome, SessionOpened):
        return sessions.opened(
            view, outcome.command.session, outcome.session_id, outcome.error, now
        )
    if isinstance(outcome, SessionsFound):
        if outcome.error is not None:
            return unreachable(view, outcome.command.provider, outcome.error, now)
        return sessions.found_sessions(view, dict(outcome.ids), now)
    if isinstance(outcome, SessionClosed):
        out = Decision()
        if outcome.error is not None:
            detail = f"closing session {outcome.command.session} failed: {outcome.error}"
            out.emit(Event(Kind.NOTICE, now, outcome.command.session, detail=detail))
        elif outcome.status:
            named = {outcome.command.session_id: outcome.command.session}
            out += sessions.observed(view, named, {outcome.command.session_id: outcome.status})
        return out
    if isinstance(outcome, SessionsObserved):
        if outcome.error is not None:
            detail = f"sessions at {outcome.command.provider} not read: {outcome.error}"
            out = Decision()
            out.emit(Event(Kind.NOTICE, now, detail=detail))
            return out
        named = {session_id: name for name, session_id in outcome.command.sessions}
        return sessions.observed(view, named, dict(outcome.statuses))
    raise TypeError(f"unknown outcome {outcome!r}")


def _limit(view: View, outcome: Limit, now: float) -> Decision:
    job = outcome.command.job
    error = outcome.error
    if isinstance(error, TransientError):
        return unreachable(view, outcome.command.provider, error, now)
    out = reachable(view, outcome.command.provider)
    value = outcome.value or 1
    if isinstance(error, PermanentError):
        value = 1
        out.emit(Event(Kind.NOTICE, now, job, detail=f"one job per point: {error}"))
    cap = view.jobs[job].batch_size or value
    out.limits[job] = max(1, min(value, cap))
    return out


def reachable(view: View, name: str) -> Decision:
    out = Decision()
    provider = view.providers[name]
    if provider.down_since is not None:
        out.providers[name] = replace(provider, down_since=None)
    return out


def unreachable(view: View, name: str, error: ProviderError, now: float) -> Decision:
    """A provider failed a call: qplan waits through outages (its work is safe in the
    state), holding back only that provider's work, and says so once a minute."""
    out = Decision()
    provider = view.providers[name]
    since = provider.down_since if provider.down_since is not None else now
    said = provider.said_at
    if now - since >= UNREACHABLE_GRACE and now - said >= UNREACHABLE_NOTICE:
        waited = f" for {now - since:.0f}s" if now > since else ""
        detail = f"{name} unreachable{waited}, still trying: {error}"
        out.emit(Event(Kind.UNREACHABLE, now, detail=detail))
        said = now
    out.providers[name] = replace(
        provider, down_since=since, said_at=said, next_observation=now + provider.poll_interval
    )
    return out


def pending_keys(view: View) -> dict[str, set[str]]:
    """By provider, the keys of the instances whose fate is unknown: all that an apply may
    still look up."""
    keys: dict[str, set[str]] = {}
    for instance in view.live.values():
        if instance.phase is Phase.UNKNOWN and instance.key:
            keys.setdefault(view.job(instance).provider, set()).add(instance.key)
    return keys


def submittable(view: View) -> bool:
    """Whether some waiting instance can go now, its dependencies done."""
    if view.observe_only or view.halt:
        return False
    waiting = [i for i in view.live.values() if i.phase is Phase.WAITING]
    if not waiting:
        return False
    grouped = by_job(view)
    return any(deps_state(view, i.job, grouped) == "ready" for i in waiting)


def by_job(view: View) -> dict[str, list[Instance]]:
    """Instances by job, for the jobs that others run after (only those are asked)."""
    wanted = {dep for job in view.jobs.values() for dep in job.after}
    grouped: dict[str, list[Instance]] = {}
    if wanted:
        for instance in view.instances.values():
            if instance.job in wanted:
                grouped.setdefault(instance.job, []).append(instance)
    return grouped


def finished(view: View) -> bool:
    """The loop's end: everything ended; or halted and nothing left in flight (or not
    waited for under ``--fail-fast``); or ``--no-wait`` with nothing left to send and
    only jobs that outlive this process in flight."""
    if view.halt and view.fail_fast:
        return True
    live = [i for i in view.live.values() if i.at_provider or i.phase is Phase.UNKNOWN]
    if view.no_wait and not submittable(view) and all(view.provider_of(i).durable for i in live):
        return True
    if view.observe_only and not live:
        return True
    return all(
        view.halt and not i.at_provider and i.phase is not Phase.UNKNOWN for i in view.live.values()
    )


def wake(view: View, now: float, starved: dict[str, ProviderView]) -> float:
    """Seconds to sleep: until the next observation due, the end of a backoff, or a token
    for work that waits only for one."""
    from qplan.executor.admission import token_wait

    wake_at = now + min((p.poll_interval for p in view.providers.values()), default=1.0)
    for instance in view.live.values():
        if instance.at_provider or instance.phase is Phase.UNKNOWN:
            provider = view.provider_of(instance)
            wake_at = min(wake_at, provider.next_observation)
        elif instance.phase is Phase.WAITING and instance.not_before > now:
            wake_at = min(wake_at, instance.not_before)
    for provider in starved.values():
        wake_at = min(wake_at, now + token_wait(provider, now))
    return max(wake_at - now, 0.001)
