"""Sessions, as pure decisions: when one opens, stays, closes or aborts, and what the
provider's answers make of it.

A session opens when one of its members is ready to go, through the same protocol as a
job: an intent (``submitting``, with its key) is committed, then the provider opens it
under that key; an open whose outcome is unknown is looked up with ``find``, never made
twice. A provider without native sessions gets a qplan-side one (its id is its key).

It is idle while none of its members is in flight; after ``idle_timeout`` of that, with
members still to send, it has timed out at the provider: it is closed as failed, and a new
one opens for them. It closes when every member has ended: succeeded, or failed with the
number of failed members (``continue``), or aborted at the first failure (``abort``).
"""

from __future__ import annotations

from dataclasses import replace

from qplan.executor.commands import CloseSession, FindSessions, ObserveSessions, OpenSession
from qplan.executor.decision import Decision
from qplan.executor.events import Event, Kind
from qplan.executor.model import Instance, Phase, SessionView, View
from qplan.jobstatus import JobStatus
from qplan.planner import idempotency_key
from qplan.providers import AmbiguousError, TransientError
from qplan.state import Transition

__all__ = [
    "close",
    "close_finished",
    "found_sessions",
    "keep_fresh",
    "observed",
    "open_needed",
    "opened",
    "to_observe",
]

S = JobStatus


def _members(view: View, session: SessionView) -> list[Instance]:
    return [i for i in view.instances.values() if view.job(i).session == session.name]


def keep_fresh(view: View, now: float) -> Decision:
    """Idle time counts only while none of a session's members is in flight; a session
    idle past its ``idle_timeout`` with members still to send has timed out at the
    provider: it is closed as failed (a new one opens for them)."""
    out = Decision()
    for session in view.sessions.values():
        if not session.open:
            continue
        members = _members(view, session)
        if any(m.at_provider for m in members):
            if session.last_used < now:
                out.sessions[session.name] = replace(session, last_used=now)
        elif now - session.last_used > session.idle_timeout and any(
            m.phase is Phase.WAITING for m in members
        ):
            out += close(view, session, now, "timed out: idle longer than idle_timeout")
    return out


def open_needed(view: View, needed: set[str], now: float) -> Decision:
    """Open the sessions that members ready to go wait for (``needed``, by name)."""
    out = Decision()
    for name in sorted(needed):
        session = view.sessions[name]
        if session.open or session.opening or session.aborted:
            continue
        if session.key is not None and session.stored is S.SUBMITTING:
            key = session.key  # an intent never answered: the same key again
        else:
            attempt = session.attempt + 1
            key = idempotency_key(
                view.stack_name, session.address, session.fingerprint, attempt, view.generation
            )
            session = replace(
                session,
                attempt=attempt,
                key=key,
                closed=False,
                session_id=None,
                provider_status=None,
            )
            out.commit(
                [
                    Transition(
                        session.address,
                        S.SUBMITTING,
                        kind="session",
                        job=session.name,
                        fingerprint=session.fingerprint,
                        attempt=attempt,
                        idempotency_key=key,
                        provider=session.provider,
                        target=f"{session.provider}/{session.device}",
                        clear=("provider_job_id", "error", "provider_status"),
                    )
                ]
            )
        session = replace(session, opening=True, stored=S.SUBMITTING, failures=0)
        out.sessions[session.name] = session
        out.commands.append(OpenSession(session.name, key))
    return out


def opened(view: View, name: str, session_id: str | None, error: object, now: float) -> Decision:
    """The answer to an open."""
    out = Decision()
    session = view.sessions[name]
    if session_id is not None:
        session = replace(
            session,
            session_id=session_id,
            opening=False,
            closed=False,
            last_used=now,
            stored=S.QUEUED,
            fresh=True,
            joined=0,
        )
        out.commit([Transition(session.address, S.QUEUED, provider_job_id=session_id)])
        out.emit(Event(Kind.SESSION_OPENED, now, name, session.address, session_id))
    elif isinstance(error, TransientError):
        session = replace(session, opening=False)  # asked again on the next pass
        out.emit(Event(Kind.THROTTLED, now, name, session.address, f"provider busy: {error}"))
    elif isinstance(error, AmbiguousError):
        out.commands.append(FindSessions(session.provider, (session.key or "",)))
        detail = f"outcome unknown, will look up: {error}"
        out.emit(Event(Kind.UNCERTAIN, now, name, session.address, detail))
    else:
        message = f"session {name} could not be opened: {error}"
        out.commit([Transition(session.address, S.FAILED, error=message)])
        session = replace(session, opening=False, closed=True, aborted=True, stored=S.FAILED)
        out.emit(Event(Kind.FAILED, now, name, session.address, message))
        for member in _members(view, session):
            if member.phase is Phase.WAITING and not member.intent:  # never sent: they fail
                out.put(member.to(Phase.FAILED, reason=message))
                out.emit(Event(Kind.FAILED, now, member.job, member.address, message))
    out.sessions[name] = session
    return out


def found_sessions(view: View, found: dict[str, str], now: float) -> Decision:
    """A lookup of unanswered opens: found, it is open; absent, it opens again (same key)."""
    out = Decision()
    for session in view.sessions.values():
        if not session.opening or session.key is None:
            continue
        session_id = found.get(session.key)
        if session_id is not None:
            adopted = opened(view, session.name, session_id, None, now)
            # found, not made now: it may have ended at the provider meanwhile, and is then
            # replaced like any session that ended (not taken for one that ends at once)
            adopted.sessions[session.name] = replace(adopted.sessions[session.name], fresh=False)
            out += adopted
        else:
            out.sessions[session.name] = replace(session, opening=False)
    return out


def close_finished(view: View, now: float, *, finishing: bool = False) -> Decision:
    """Close the open sessions whose members have all ended (``finishing``: every open
    session, as the apply ends)."""
    out = Decision()
    for session in view.sessions.values():
        if not session.open:
            continue
        if finishing or all(m.final for m in _members(view, session)):
            failed = f"{session.failures} member(s) failed" if session.failures else ""
            out += close(view, session, now, failed)
    return out


def to_observe(view: View, now: float) -> list[ObserveSessions]:
    """The open native sessions of the providers whose poll has come: their status at
    the provider, for ``qplan status``."""
    by_provider: dict[str, list[tuple[str, str]]] = {}
    for session in view.sessions.values():
        provider = view.providers.get(session.provider)
        if provider is None or not provider.sessions or not session.open:
            continue
        if now >= provider.next_observation:
            by_provider.setdefault(session.provider, []).append(
                (session.name, session.session_id or "")
            )
    return [ObserveSessions(name, tuple(pairs)) for name, pairs in by_provider.items()]


def observed(view: View, names: dict[str, str], statuses: dict[str, str]) -> Decision:
    """The provider's statuses of sessions (by id; ``names``: their names by id): each
    change is recorded on the session's row."""
    out = Decision()
    for session_id, status in statuses.items():
        session = view.sessions.get(names.get(session_id, ""))
        if session is None or session.session_id != session_id or session.stored is None:
            continue  # an earlier session of that name, since replaced: its row is gone
        if session.provider_status == status:
            continue
        out.commit([Transition(session.address, session.stored, provider_status=status)])
        out.sessions[session.name] = replace(session, provider_status=status)
    return out


def close(
    view: View, session: SessionView, now: float, failed: str, ended: str | None = None
) -> Decision:
    """Record the session closed, failed when ``failed`` says why. ``ended``: the
    provider's status of a session it has ended by itself (timed out, closed from
    outside), which needs no close; a new one opens for the members left."""
    out = Decision()
    error = failed or ("aborted by a member's failure" if session.aborted else None)
    status = S.FAILED if error else S.SUCCEEDED
    out.commit([Transition(session.address, status, error=error, provider_status=ended)])
    if session.session_id is not None and not session.aborted and ended is None:
        out.commands.append(CloseSession(session.name, session.session_id))
    provider_status = ended or session.provider_status
    out.sessions[session.name] = replace(
        session, closed=True, stored=status, provider_status=provider_status
    )
    out.emit(Event(Kind.SESSION_CLOSED, now, session.name, session.address, error or ""))
    return out
