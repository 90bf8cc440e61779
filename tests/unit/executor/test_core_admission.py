"""Admission as a table: which waiting instances go now, and how they are grouped."""

from __future__ import annotations

from dataclasses import replace

from qplan.executor.admission import admit, batches, take_token, token_wait
from qplan.executor.model import Instance, Phase
from qplan.executor.model import View as CoreView
from tests.unit.executor.views import NOW, at_provider, instance, job, provider, session, view


def by_job(v: CoreView) -> dict[str, list[Instance]]:
    out: dict[str, list[Instance]] = {}
    for i in v.instances.values():
        out.setdefault(i.job, []).append(i)
    return out


def sent(v: CoreView) -> list[list[str]]:
    decided = admit(v, NOW, by_job(v), v.dispatch_sizes)
    return [[i.address for i in unit] for unit in decided.units]


def test_dependencies_hold_back_or_skip() -> None:
    first = [instance("a[1]", "a", phase=Phase.SUCCEEDED), instance("a[2]", "a")]
    after = [instance("b", "b")]
    jobs = [job("a"), job("b", after=("a",))]
    assert sent(view([*first, *after], jobs)) == [["a[2]"]]  # b waits for a[2]
    failed = [instance("a[1]", "a", phase=Phase.FAILED), instance("a[2]", "a")]
    decided = admit(v := view([*failed, *after], jobs), NOW, by_job(v), {})
    assert [(i.address, r) for i, r in decided.skipped] == [
        ("b", "skipped: a job it runs after (a) failed")
    ]


def test_backoff_session_and_provider_hold_back() -> None:
    later = instance("a", not_before=NOW + 5)
    assert sent(view([later])) == []
    in_session = view([instance("a")], [job("scan", session="s")], sessions=[session()])
    decided = admit(in_session, NOW, by_job(in_session), {})
    assert decided.units == [] and decided.sessions == {"s"}  # it opens first
    aborted = view([instance("a")], [job("scan", session="s")], sessions=[session(aborted=True)])
    skipped = admit(aborted, NOW, by_job(aborted), {}).skipped
    assert [r for _, r in skipped] == ["skipped: session s was aborted by a failure"]
    down = provider(down_since=NOW - 30, next_observation=NOW + 1)
    assert sent(view([instance("a")], providers=[down])) == []  # until its next poll
    assert sent(view([instance("a")], providers=[replace(down, next_observation=NOW)])) == [["a"]]


def test_in_flight_room_parallelism_and_tokens() -> None:
    flying = [at_provider(f"x{i}") for i in range(3)]
    ready = [instance(f"w{i}") for i in range(5)]
    assert len(sent(view([*flying, *ready], providers=[provider(max_in_flight=4)]))) == 1
    assert len(sent(view([*flying, *ready], parallelism=5))) == 2
    two_tokens = provider(tokens=2.0, rate=0.5, burst=2.0)
    decided = admit(v := view(ready, providers=[two_tokens]), NOW, by_job(v), {})
    assert len(decided.units) == 2 and decided.starved == {"p"}
    assert token_wait(decided.providers["p"], NOW) == 2.0  # one token every 2 s
    took, _ = take_token(decided.providers["p"], NOW + 2.0)
    assert took


def test_native_batches_wait_for_their_limit_then_go_cut_to_it() -> None:
    ready = [instance(f"scan[i={i}]") for i in range(7)]
    unknown = view(ready, limits={})
    decided = admit(unknown, NOW, by_job(unknown), {})
    assert decided.units == [] and decided.ask == ["scan"]
    assert [len(u) for u in sent(view(ready, limits={"scan": 3}))] == [3, 3, 1]


def test_a_pending_batch_goes_whole_unless_a_member_left() -> None:
    pending = [instance(f"m{i}", key="K", member=i, intent=True) for i in range(3)]
    whole = batches(pending, 2, {"K": 3})
    assert [[i.address for i in u] for u in whole] == [["m0", "m1", "m2"]]  # not cut to 2
    broken = batches(pending[:2], 2, {"K": 3})  # m2 left the manifest
    assert [[i.key for i in u] for u in broken] == [[None, None]]  # a new batch, a new key


def test_members_of_an_open_session_go_before_other_work() -> None:
    # one slot at the provider: the session's member takes it, though later in the manifest
    alone = [instance("solo", "solo"), instance("member", "member")]
    jobs = [job("solo"), job("member", session="s")]
    room = provider(max_in_flight=1)
    assert sent(view(alone, jobs, [room], [session(session_id="S1")])) == [["member"]]
    # a session not open yet holds nothing back: its member waits for the opening
    assert sent(view(alone, jobs, [room], [session()])) == [["solo"]]
