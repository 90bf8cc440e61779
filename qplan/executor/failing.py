"""Ends of attempts and instances: a failed attempt (then the failure policy), a skip, an
aborted session. Pure: each returns a ``Decision``."""

from __future__ import annotations

from dataclasses import replace

from qplan.executor.cancelling import ask_cancel, target_of
from qplan.executor.commands import CloseSession
from qplan.executor.decision import Decision
from qplan.executor.events import Event, Kind
from qplan.executor.model import Instance, Phase, SessionView, View
from qplan.executor.policy import after_failure
from qplan.jobstatus import JobStatus
from qplan.state import Transition

__all__ = ["abort_session", "fail_attempt", "skip"]


def fail_attempt(
    view: View, instance: Instance, error: str, now: float, *, seen: float | None = None
) -> Decision:
    """Record the failed attempt, then apply the failure policy. ``seen``: when the
    failure was seen (one time for all failures of a poll, so that they retry together)."""
    out = Decision()
    out.commit([Transition(instance.address, JobStatus.FAILED, error=error)])
    job = view.job(instance)
    session = view.sessions.get(job.session or "")
    who = job.name if view.limits.get(job.name, 1) > 1 else (instance.key or instance.address)
    decision = after_failure(
        job,
        instance.address,
        instance.attempt,
        error,
        now if seen is None else seen,
        session_aborted=session is not None and session.aborted,
        halted=bool(view.halt),
        fail_fast=view.fail_fast,
        jitter_seed=f"{view.jitter}\0{who}",
    )
    if decision.retry_at is not None:
        out.put(_retry(instance, decision.retry_at, error))
        out.emit(
            Event(
                Kind.RETRYING,
                now,
                job.name,
                instance.address,
                f"attempt {instance.attempt} failed: {error}",
            )
        )
        return out
    out.put(
        instance.to(
            Phase.FAILED, stored=JobStatus.FAILED, job_id=None, dispatch_ref=None, reason=error
        )
    )
    out.emit(Event(Kind.FAILED, now, job.name, instance.address, error))
    out.halt = decision.halt
    if session is not None:
        counted = replace(session, failures=session.failures + 1)
        out.sessions[session.name] = counted
        if counted.abort and not counted.aborted:
            out += abort_session(view, counted, now, failed=instance.address)
    return out


def _retry(instance: Instance, at: float, error: str) -> Instance:
    """Waiting again after a failed attempt: the next send is a new attempt, a new key."""
    return replace(
        instance,
        phase=Phase.WAITING,
        stored=JobStatus.FAILED,
        intent=False,
        key=None,
        member=None,
        job_id=None,
        dispatch_ref=None,
        not_before=at,
        busy=0,
        timed_out=False,
        started_at=None,
        reason=error,
        previous=instance.job_id,
    )


def skip(view: View, instance: Instance, reason: str, now: float) -> Decision:
    """It will not run in this apply: a dependency failed, its session was aborted, or a
    cancel qplan asked for took effect."""
    out = Decision()
    out.put(instance.to(Phase.SKIPPED, reason=reason, job_id=None))
    out.emit(Event(Kind.SKIPPED, now, instance.job, instance.address, reason))
    return out


def abort_session(
    view: View, session_view: SessionView, now: float, *, failed: str, by: str = "a failure"
) -> Decision:
    """A member failed in a session whose policy is abort (``by``: a failure qplan saw, or
    the service, which refused a member): members in flight are cancelled (recorded
    cancelled when the cancel takes effect), members not sent are skipped."""
    session = replace(session_view, aborted=True)
    out = Decision(sessions={session.name: session})
    reason = f"skipped: session {session.name} was aborted by {by}"
    cancel_reason = f"cancelled: session {session.name} was aborted by {by}"
    members = [
        i
        for i in view.instances.values()
        if view.jobs[i.job].session == session.name and not i.final and i.address != failed
    ]
    running = [i for i in members if i.at_provider]
    targets = [target_of(i, session.provider) for i in running]
    cancels, transitions, _ = ask_cancel(targets, (), "session aborted")
    out.commands.extend(cancels)
    out.commit(transitions)
    provider = view.providers.get(session.provider)
    native = provider is not None and provider.sessions
    if native and provider is not None and not provider.enforces_policy and session.session_id:
        # the service does not end it by itself: qplan does
        out.commands.append(CloseSession(session.name, session.session_id, abort=True))
    for instance in running:
        out.put(
            instance.to(Phase.CANCELLING, stored=JobStatus.CANCELLING, cancel_reason=cancel_reason)
        )
        out.emit(Event(Kind.CANCELLING, now, instance.job, instance.address, cancel_reason))
    for instance in members:
        if not instance.at_provider:
            out += skip(view, instance, reason, now)
    return out
