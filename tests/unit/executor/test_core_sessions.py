"""Sessions as tables: idle time, opening, closing, and a cancel's targets."""

from __future__ import annotations

from qplan.executor.cancelling import Target, ask_cancel, found_to_cancel
from qplan.executor.commands import CloseSession, OpenSession
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
