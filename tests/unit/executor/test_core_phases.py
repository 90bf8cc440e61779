"""The phase table of an instance: every move it allows works, every other is refused."""

from __future__ import annotations

import itertools

import pytest

from qplan.executor.model import FINAL, MOVES, InvalidMove, Phase
from tests.unit.executor.views import instance

P = Phase
ALLOWED = {(a, b) for a, targets in MOVES.items() for b in targets} | {(p, p) for p in Phase}


@pytest.mark.parametrize(("before", "after"), list(itertools.product(Phase, Phase)))
def test_the_table_decides_every_move(before: Phase, after: Phase) -> None:
    record = instance("a", phase=before)
    if (before, after) in ALLOWED:
        assert record.to(after).phase is after
    else:
        with pytest.raises(InvalidMove):
            record.to(after)


def test_final_phases_lead_nowhere_and_a_failed_attempt_goes_back_to_waiting() -> None:
    assert all(MOVES[p] == frozenset() for p in FINAL)
    for at_provider in (P.QUEUED, P.RUNNING, P.CANCELLING):
        assert P.WAITING in MOVES[at_provider]  # a retry, after a backoff
    assert P.SUCCEEDED not in MOVES[P.WAITING]  # nothing succeeds before it is sent
