"""Sessions as tables: idle time, opening, closing, and a cancel's targets."""

from __future__ import annotations

from typing import Any

import pytest

from qplan.executor.cancelling import Target, ask_cancel, found_to_cancel
from qplan.executor.commands import CloseSession, Commit, OpenSession
from qplan.executor.decision import overlay
from qplan.executor.model import Phase
from qplan.executor.sessions import close_finished, keep_fresh, open_needed
from qplan.jobstatus import JobStatus
from qplan.providers import Receipt
from tests.unit.executor.views import NOW, at_provider, instance, job, session, view

S = JobStatus
IN_SESSION = [job("a", session="s"), job("b", session="s", after=("a",))]


def test_idle_time_counts_only_while_nothing_of_the_session_runs() -> None:
    # a member has run for an hour (longer than idle_timeout): the session is in use
    running = at_provider("a", "a", since=NOW - 3600)
    later = instance("b", "b")
    opened = session(session_id="S1", last_used=NOW - 3600, idle_timeout=600.0)
    fresh = keep_fresh(view([running, later], IN_SESSION, sessions=[opened]), NOW)
    assert fresh.sessions["s"].last_used == NOW and not fresh.commands
    # nothing runs, a member waits, idle past its timeout: it has timed out at the provider
    done = instance("a", "a", phase=Phase.SUCCEEDED)
    stale = keep_fresh(view([done, later], IN_SESSION, sessions=[opened]), NOW)
    assert stale.sessions["s"].closed
    assert any(isinstance(c, CloseSession) for c in stale.commands)


def test_a_session_opens_under_a_key_once_and_closes_when_its_members_end() -> None:
    waiting = view([instance("a", "a")], IN_SESSION, sessions=[session()])
    opening = open_needed(waiting, {"s"}, NOW)
    (command,) = [c for c in opening.commands if isinstance(c, OpenSession)]
    assert opening.sessions["s"].opening and opening.sessions["s"].key == command.key
    again = open_needed(
        view([instance("a", "a")], IN_SESSION, sessions=[opening.sessions["s"]]), {"s"}, NOW
    )
    assert again.commands == []  # an open is under way
    ended = [instance("a", "a", phase=Phase.SUCCEEDED), instance("b", "b", phase=Phase.FAILED)]
    closing = close_finished(
        view(ended, IN_SESSION, sessions=[session(session_id="S1", failures=1)]), NOW
    )
    assert closing.sessions["s"].stored is S.FAILED


def target(address: str, **kw: object) -> Target:
    values: dict[str, object] = dict(
        provider="p",
        stored=S.RUNNING,
        job_id=f"id-{address}",
        key="K",
        member=None,
        dispatch_ref=f"id-{address}",
        since=NOW,
        alive=True,
    )
    values.update(kw)
    return Target(address, **values)  # type: ignore[arg-type]


def test_a_cancel_asks_the_provider_only_for_jobs_nothing_else_needs() -> None:
    targets = [
        target("a"),
        target("b", job_id=None),  # never reached the provider
        target("c", alive=False),  # a local run of an ended qplan
        target("d", dispatch_ref="batch"),  # its batch runs on for other members
    ]
    cancels, transitions, status = ask_cancel(targets, {"batch"}, "why")
    assert [c.job_ids for c in cancels] == [("id-a",)]
    assert status == {"a": S.CANCELLING, "b": S.CANCELLED, "c": S.CANCELLED, "d": S.CANCELLED}
    assert {t.address for t in transitions} == {"a", "b", "c", "d"}


def test_an_intent_s_job_is_found_by_key_before_it_is_cancelled() -> None:
    pending = target("a", job_id=None, dispatch_ref=None, member=1)
    (found,) = found_to_cancel([pending], {"K": Receipt("task", ("task#0", "task#1"))})
    assert (found.job_id, found.dispatch_ref, found.found) == ("task#1", "task", True)


def refused(ended_status: str, *, abort: bool) -> tuple[Any, Any]:
    """`b` sent into session s (open), refused because the session has ended there."""
    from qplan.executor.commands import Send, Sent
    from qplan.executor.sending import received
    from qplan.providers import Dispatch, Member, SessionEnded

    done = instance("a", "a", phase=Phase.SUCCEEDED)
    sending = instance("b", "b", attempt=1, intent=True, key="key-b", carried_out=True)
    opened = session(session_id="S1", abort=abort)
    before = view([done, sending], IN_SESSION, sessions=[opened])
    member = (Member("b", "fp", 1, {}),)
    dispatch = Dispatch("key-b", "stack", "dev", "openqasm3", "P", 10, member, group="S1")
    error = SessionEnded(f"session S1 is {ended_status}", ended_status)
    return before, received(before, Sent(Send("p", dispatch, ("b",)), None, error), NOW)


@pytest.mark.parametrize(
    ("ended", "abort", "outcome"),
    [
        ("TimedOut", True, "new session"),
        ("TimedOut", False, "new session"),
        ("Succeeded", False, "new session"),  # closed from outside
        ("Failed", False, "new session"),  # continue: a session ends Failed only once closed
        ("Failed", True, "skipped"),  # abort: the service aborted it at a failure
    ],
)
def test_a_member_refused_by_an_ended_session(ended: str, abort: bool, outcome: str) -> None:
    before, out = refused(ended, abort=abort)
    member = out.instances["b"]
    commits = [t for c in out.commands if isinstance(c, Commit) for t in c.transitions]
    if outcome == "skipped":
        assert member.phase is Phase.SKIPPED and "aborted by the service" in member.reason
        assert out.sessions["s"].aborted
        assert not any(isinstance(c, CloseSession) for c in out.commands)  # ended already
        return
    # nothing was made: it waits, under the same key, for a new session; the old one is
    # recorded as ended, and a new one opens for the member
    assert member.phase is Phase.WAITING and member.intent and member.key == "key-b"
    assert out.sessions["s"].closed and out.sessions["s"].stored is S.FAILED
    assert [t.status for t in commits if t.address == "session.s"] == [S.FAILED]
    reopened = open_needed(overlay(before, out), {"s"}, NOW)
    (command,) = [c for c in reopened.commands if isinstance(c, OpenSession)]
    assert command.key != before.sessions["s"].key and reopened.sessions["s"].attempt == 1


def test_the_providers_status_of_an_open_session_is_read_at_its_poll_and_recorded() -> None:
    from qplan.executor.commands import ObserveSessions
    from qplan.executor.sessions import observed, to_observe
    from tests.unit.executor.views import provider

    native = provider(sessions=True, next_observation=NOW)
    opened = session(session_id="S1", stored=S.QUEUED)
    members = [at_provider("a", "a")]
    (asked,) = to_observe(view(members, IN_SESSION, [native], [opened]), NOW)
    assert asked == ObserveSessions("p", (("s", "S1"),))
    later = provider(sessions=True, next_observation=NOW + 1)
    assert to_observe(view(members, IN_SESSION, [later], [opened]), NOW) == []  # not due
    own = provider(sessions=False, next_observation=NOW)  # qplan's own sessions: nothing
    assert to_observe(view(members, IN_SESSION, [own], [opened]), NOW) == []
    seen = observed(view(members, IN_SESSION, [native], [opened]), {"S1": "s"}, {"S1": "Executing"})
    (commit,) = [c for c in seen.commands if isinstance(c, Commit)]
    (change,) = commit.transitions
    assert (change.address, change.status, change.provider_status) == (
        "session.s",
        S.QUEUED,
        "Executing",
    )
    again = view(members, IN_SESSION, [native], [seen.sessions["s"]])
    assert observed(again, {"S1": "s"}, {"S1": "Executing"}).commands == []  # no change


def test_a_session_that_ends_before_any_member_joins_is_not_replaced_again() -> None:
    from qplan.executor.commands import Send, Sent
    from qplan.executor.sending import received
    from qplan.providers import Dispatch, Member, SessionEnded

    sending = instance("b", "b", attempt=1, intent=True, key="key-b", carried_out=True)
    member = (Member("b", "fp", 1, {}),)
    dispatch = Dispatch("key-b", "stack", "dev", "openqasm3", "P", 10, member, group="S2")
    refused = Sent(Send("p", dispatch, ("b",)), None, SessionEnded("ended", "TimedOut"))
    # opened by this apply, and no member ever got in: a new one would fare no better
    empty = session(session_id="S2", fresh=True, joined=0)
    out = received(view([sending], IN_SESSION, sessions=[empty]), refused, NOW)
    assert out.instances["b"].phase is Phase.FAILED
    assert "before any member could join it" in out.instances["b"].reason
    # members joined it before (or it is an earlier apply's): the member waits for a new one
    for used in (session(session_id="S2", fresh=True, joined=1), session(session_id="S2")):
        again = received(view([sending], IN_SESSION, sessions=[used]), refused, NOW)
        assert again.instances["b"].phase is Phase.WAITING


def test_members_refused_by_a_session_already_ended_wait_for_the_next_one() -> None:
    from qplan.executor.commands import Send, Sent
    from qplan.executor.decision import overlay
    from qplan.executor.sending import received
    from qplan.providers import Dispatch, Member, SessionEnded

    def sent(address: str) -> Sent:
        member = (Member(address, "fp", 1, {}),)
        dispatch = Dispatch(f"key-{address}", "s", "dev", "openqasm3", "P", 10, member, group="S1")
        return Sent(Send("p", dispatch, (address,)), None, SessionEnded("TimedOut", "TimedOut"))

    jobs = [job("m1", session="s"), job("m2", session="s"), job("m3", session="s")]
    sending = [
        instance(a, a, attempt=1, intent=True, key=f"key-{a}", carried_out=True)
        for a in ("m1", "m2", "m3")
    ]
    for abort in (False, True):
        state = view(sending, jobs, sessions=[session(session_id="S1", abort=abort)])
        for address in ("m1", "m2", "m3"):  # three refusals of one round, absorbed in turn
            state = overlay(state, received(state, sent(address), NOW))
        phases = {a: state.instances[a].phase for a in ("m1", "m2", "m3")}
        assert phases == dict.fromkeys(("m1", "m2", "m3"), Phase.WAITING), (abort, phases)
        assert state.sessions["s"].closed and not state.sessions["s"].aborted


def test_members_accepted_into_a_session_are_counted() -> None:
    from qplan.executor.commands import Send, Sent
    from qplan.executor.sending import received
    from qplan.providers import Dispatch, Member

    sending = instance("a", "a", attempt=1, intent=True, key="key-a", carried_out=True)
    dispatch = Dispatch("key-a", "stack", "dev", "openqasm3", "P", 10, (Member("a", "fp", 1, {}),))
    accepted = Sent(Send("p", dispatch, ("a",)), Receipt("J", ("J",)))
    opened = session(session_id="S1", fresh=True)
    out = received(view([sending], IN_SESSION, sessions=[opened]), accepted, NOW)
    assert out.sessions["s"].joined == 1 and out.sessions["s"].last_used == NOW


def test_members_of_a_session_that_cannot_be_opened_fail() -> None:
    from qplan.executor.sessions import opened
    from qplan.providers import PermanentError

    asked = session(opening=True, key="K", stored=S.SUBMITTING)
    members = [instance("a", "a"), instance("b", "b")]
    out = opened(view(members, IN_SESSION, sessions=[asked]), "s", None, PermanentError("401"), NOW)
    assert out.sessions["s"].aborted and out.sessions["s"].stored is S.FAILED
    assert {a: i.phase for a, i in out.instances.items()} == {"a": Phase.FAILED, "b": Phase.FAILED}
    assert all("session s could not be opened: 401" in i.reason for i in out.instances.values())


def test_the_status_of_a_replaced_session_is_not_written_on_its_successor() -> None:
    from qplan.executor.sessions import observed

    # session.s was closed (timed out) and a new attempt opens: the old one's "TimedOut"
    # answer to its close arrives now, and must not touch the row of the new attempt
    reopening = session(session_id=None, opening=True, stored=S.SUBMITTING, attempt=2)
    out = observed(
        view([instance("a", "a")], IN_SESSION, sessions=[reopening]),
        {"S1": "s"},
        {"S1": "TimedOut"},
    )
    assert out.commands == [] and out.sessions == {}
