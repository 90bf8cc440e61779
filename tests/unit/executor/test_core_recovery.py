"""Recovery as a table: what a lookup by key makes of an instance of unknown fate."""

from __future__ import annotations

import pytest

from qplan.executor.commands import Commit
from qplan.executor.model import Phase
from qplan.executor.recovery import LOST, lookups, recover
from qplan.jobstatus import JobStatus
from qplan.providers import Receipt
from tests.unit.executor.views import NOW, instance, provider, view

S = JobStatus


@pytest.mark.parametrize(
    ("stored", "found", "phase", "committed"),
    [
        (S.SUBMITTING, True, Phase.QUEUED, [(S.QUEUED, "adopted by key")]),
        (S.SUBMITTING, False, Phase.WAITING, []),  # sent again, same key
        (
            S.RUNNING,
            True,
            Phase.RUNNING,
            [(S.RUNNING, "found by key: it ended with its qplan process")],
        ),
        (S.RUNNING, False, Phase.WAITING, [(S.CANCELLED, LOST)]),  # lost: a new attempt
    ],
)
def test_a_lookup_decides(
    stored: S, found: bool, phase: Phase, committed: list[tuple[S, str]]
) -> None:
    unknown = instance("a", phase=Phase.UNKNOWN, stored=stored, key="K", intent=True, attempt=1)
    receipts = {"K": Receipt("ref", ("id-a",))} if found else {}
    decision = recover(view([unknown]), "p", ("K",), receipts, NOW)
    after = decision.instances["a"]
    assert after.phase is phase
    assert [
        (t.status, t.detail)
        for c in decision.commands
        if isinstance(c, Commit)
        for t in c.transitions
    ] == committed
    if phase is Phase.WAITING:
        assert after.intent is (stored is S.SUBMITTING)  # lost: the next send is a new attempt
    else:
        assert after.job_id == "id-a" and after.dispatch_ref == "ref"


def test_a_member_is_found_at_its_place_in_the_batch() -> None:
    member = instance("m", phase=Phase.UNKNOWN, stored=S.SUBMITTING, key="K", member=2, intent=True)
    receipts = {"K": Receipt("task", ("task#0", "task#1", "task#2"))}
    assert recover(view([member]), "p", ("K",), receipts, NOW).instances["m"].job_id == "task#2"


def test_lookups_go_per_provider_at_its_poll() -> None:
    unknown = [instance(f"a{i}", phase=Phase.UNKNOWN, key=f"K{i}", since=NOW - i) for i in range(3)]
    (lookup,) = lookups(view(unknown), NOW)
    assert lookup.keys == ("K0", "K1", "K2") and lookup.since == NOW - 2
    assert lookups(view(unknown, providers=[provider(next_observation=NOW + 1)]), NOW) == []
