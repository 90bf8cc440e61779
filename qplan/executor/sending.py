"""Sending, as pure decisions: the intents and dispatches of admitted units, and what the
provider's answer (or error) makes of them.

The exactly-once protocol, in the order of the commands returned:

1. an intent (``submitting``, with the dispatch's deterministic key) is committed for every
   member whose attempt has none yet;
2. the dispatch is sent under that key;
3. on the answer, the members' job ids are committed (``queued``).

A new attempt takes the next attempt number and a key of its own (a native batch, a key
made of its members' keys); a dispatch sent again (busy, or absent after a lookup) keeps
its key. Answers: accepted (queued); busy (the same dispatch later, after a backoff; on a
provider without idempotent submit, looked up first); uncertain (looked up by key, never
resent blindly); refused (the attempt failed).
"""

from __future__ import annotations

from dataclasses import replace

from qplan.executor.commands import Send, Sent
from qplan.executor.decision import Decision, overlay
from qplan.executor.events import Event, Kind
from qplan.executor.failing import abort_session, fail_attempt, skip
from qplan.executor.model import Instance, Phase, SessionView, View
from qplan.executor.policy import busy_delay
from qplan.executor.sessions import close
from qplan.jobstatus import JobStatus
from qplan.planner import batch_key, idempotency_key
from qplan.providers import AmbiguousError, Dispatch, Member, SessionEnded, TransientError
from qplan.state import Transition

__all__ = ["dispatch_units", "received"]

S = JobStatus


def own_key(view: View, instance: Instance, attempt: int) -> str:
    return idempotency_key(
        view.stack_name, instance.address, instance.fingerprint, attempt, view.generation
    )


def dispatch_units(view: View, units: list[list[Instance]], now: float) -> Decision:
    """Intents for the units' members (one commit, first), then one ``Send`` per unit."""
    out = Decision()
    intents: list[Transition] = []
    sends: list[Send] = []
    for unit in units:
        members: list[Instance] = []
        for instance in unit:
            attempt = instance.attempt if instance.intent else instance.attempt + 1
            members.append(replace(instance, attempt=attempt))
        if len(members) > 1:
            key = members[0].key if all(m.key is not None for m in members) else None
            if key is None or len({m.key for m in members}) != 1:
                key = batch_key(own_key(view, m, m.attempt) for m in members)
                members = [
                    replace(m, key=key, member=index)
                    for index, m in enumerate(sorted(members, key=lambda m: m.address))
                ]
        elif members[0].key is None or members[0].member is not None:
            only = members[0]
            members = [replace(only, key=own_key(view, only, only.attempt), member=None)]
        before = {i.address: i for i in unit}
        for after in members:
            if not before[after.address].intent or before[after.address].key != after.key:
                intents.append(_intent(view, after))
        sent = [
            replace(
                m,
                intent=True,
                carried_out=True,
                stored=S.SUBMITTING,
                since=now,
                timed_out=False,
                started_at=None,
            )
            for m in members
        ]
        out.put(*sent)
        sends.append(_send(view, sent))
    out.commit(intents)
    out.commands.extend(sends)
    return out


def _intent(view: View, instance: Instance) -> Transition:
    job = view.job(instance)
    return Transition(
        instance.address,
        S.SUBMITTING,
        kind="job",
        job=job.name,
        fingerprint=instance.fingerprint,
        attempt=instance.attempt,
        idempotency_key=instance.key,
        member=instance.member,
        provider=job.provider,
        target=job.target,
        clear=("provider_job_id", "result_hash", "error", "dispatch_ref")
        + (("member",) if instance.member is None else ()),
    )


def _send(view: View, members: list[Instance]) -> Send:
    first = members[0]
    job = view.job(first)
    session = view.sessions.get(job.session or "")
    key = first.key or ""
    dispatch = Dispatch(
        key=key,
        stack=view.stack_name,
        device=job.device,
        format=job.format,
        program=job.program,
        shots=job.shots,
        members=tuple(
            Member(
                m.address,
                m.fingerprint,
                m.attempt,
                {**job.inputs, **m.point},
                job.name,
                previous=m.previous,
            )
            for m in members
        ),
        group=session.session_id if session is not None else None,
        settings=view.session_settings.get(job.session or "", {}),
        tags={**job.tags, "qplan-stack": view.stack_name},
        params=job.params,
        entry=job.entry,
        hybrid=job.hybrid,
    )
    return Send(job.provider, dispatch, tuple(m.address for m in members))


def received(view: View, outcome: Sent, now: float) -> Decision:
    """What the provider's answer to one dispatch makes of its members."""
    out = Decision()
    members = [view.instances[a] for a in outcome.command.addresses]
    provider = view.providers[outcome.command.provider]
    session = view.sessions.get(view.job(members[0]).session or "")
    error = outcome.error
    if isinstance(error, TransientError) and not provider.idempotent:
        error = AmbiguousError(f"{error} (the provider may have made the job: looked up)")
    if outcome.receipt is not None:
        receipt = outcome.receipt
        accepted: list[Transition] = []
        for member, job_id in zip(members, receipt.member_ids, strict=False):
            accepted.append(
                Transition(
                    member.address, S.QUEUED, provider_job_id=job_id, dispatch_ref=receipt.ref
                )
            )
            out.put(
                member.to(
                    Phase.QUEUED,
                    stored=S.QUEUED,
                    job_id=job_id,
                    dispatch_ref=receipt.ref,
                    busy=0,
                )
            )
            out.emit(Event(Kind.SUBMITTED, now, member.job, member.address, job_id))
        out.commit(accepted)
        if session is not None:
            joined = session.joined + len(receipt.member_ids)
            out.sessions[session.name] = replace(session, last_used=now, joined=joined)
    elif isinstance(error, SessionEnded) and session is not None:
        out += _refused_by_ended_session(view, outcome, members, session, error, now)
    elif isinstance(error, TransientError):
        delay = busy_delay(members[0].busy + 1, f"{view.jitter}\0{members[0].key}")
        for member in members:
            out.put(member.to(Phase.WAITING, not_before=now + delay, busy=member.busy + 1))
            out.emit(
                Event(Kind.THROTTLED, now, member.job, member.address, f"provider busy: {error}")
            )
    elif isinstance(error, AmbiguousError):
        for member in members:
            out.put(member.to(Phase.UNKNOWN))
            detail = f"outcome unknown, will look up: {error}"
            out.emit(Event(Kind.UNCERTAIN, now, member.job, member.address, detail))
    else:  # refused (PermanentError), or no answer at all
        message = str(error) if error is not None else "the provider gave no job id"
        for member in members:
            out += fail_attempt(overlay(view, out), member, message, now, seen=now)
    return out


def _refused_by_ended_session(
    view: View,
    outcome: Sent,
    members: list[Instance],
    session: SessionView,
    error: SessionEnded,
    now: float,
) -> Decision:
    """A refusal by an ended session. Several dispatches sent at once may each be refused:
    the first ends the session (below); the others find it ended (or replaced) already,
    and their members, not skipped meanwhile by an abort, wait for the next one."""
    live = [m for m in members if not m.final]
    if session.open and outcome.command.dispatch.group == session.session_id:
        return _session_ended(view, live, session, error, now)
    if not session.aborted:
        return _to_next_session(live, session, error.status, now)
    out = Decision()
    for member in live:
        reason = f"skipped: session {session.name} was aborted by the service"
        out += skip(view, member, reason, now)
    return out


def _session_ended(
    view: View, members: list[Instance], session: SessionView, error: SessionEnded, now: float
) -> Decision:
    """The provider refused the dispatch because the session has ended there; nothing was
    made. Ended by the failure policy (an aborted session): the members not sent are
    skipped, as the rest of the session. Otherwise (timed out, closed from outside): the
    session is recorded as ended and the members wait for a new one, under the same keys;
    but a session this apply opened that ended before taking any member would end again:
    the members' attempt fails instead of a new session opening after each."""
    if session.abort and error.status == "Failed":
        return abort_session(view, session, now, failed="", by="the service")
    why = f"ended at the provider ({error.status}): {error}"
    out = close(view, session, now, why, error.status)
    if session.fresh and not session.joined:
        message = (
            f"session {session.name} ended at the provider ({error.status}) before any "
            "member could join it"
        )
        for member in members:
            out += fail_attempt(overlay(view, out), member, message, now, seen=now)
        return out
    out += _to_next_session(members, session, error.status, now)
    return out


def _to_next_session(
    members: list[Instance], session: SessionView, status: str, now: float
) -> Decision:
    """Nothing was made of ``members``: they wait, under their keys, for the session that
    opens after the one that ended (``status`` there)."""
    out = Decision()
    for member in members:
        out.put(member.to(Phase.WAITING))
        detail = f"session {session.name} had ended ({status}): sent to a new session"
        out.emit(Event(Kind.NOTICE, now, member.job, member.address, detail))
    return out
