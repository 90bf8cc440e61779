"""Ingestion as a table: what an observation makes of an instance in flight."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qplan.executor.commands import Commit, Emit, Release
from qplan.executor.decision import Decision
from qplan.executor.ingest import INTERRUPTED, check_timeouts, ingest
from qplan.executor.model import Instance, Phase
from qplan.jobstatus import JobStatus
from qplan.providers import Observation, PermanentError, TransientError
from tests.unit.executor.views import NOW, at_provider, job, provider, retry, view

S = JobStatus


def result(data: bytes = b'{"counts":{"0":10}}') -> Callable[[], bytes]:
    return lambda: data


def failing(error: Exception) -> Callable[[], bytes]:
    def read() -> bytes:
        raise error

    return read


def seen(instance: Instance, status: S, **changes: object) -> Decision:
    v = view([instance], [job(retry=retry(2))])
    observation = Observation(instance.job_id or "", status, "boom")
    reads = {instance.job_id or "": changes.pop("read", result())}
    return ingest(v, "p", [instance], {observation.job_id: observation}, reads, NOW)  # type: ignore[arg-type]


def kinds(decision: Decision) -> list[str]:
    return [c.event.kind for c in decision.commands if isinstance(c, Emit)]


def statuses(decision: Decision) -> list[str]:
    return [t.status for c in decision.commands if isinstance(c, Commit) for t in c.transitions]


CASES = [
    # before, observed -> phase after, statuses committed, events
    (at_provider("a"), S.RUNNING, Phase.RUNNING, ["running"], ["running"]),
    (at_provider("a"), S.SUCCEEDED, Phase.SUCCEEDED, ["succeeded"], ["succeeded"]),
    (at_provider("a"), S.FAILED, Phase.WAITING, ["failed"], ["retrying"]),  # attempt 1 of 2
    (at_provider("a", attempt=2), S.FAILED, Phase.FAILED, ["failed"], ["failed"]),
    (at_provider("a"), S.CANCELLED, Phase.WAITING, ["failed"], ["retrying"]),  # at the provider
    (
        at_provider("a", phase=Phase.CANCELLING, stored="cancelling", cancel_reason=INTERRUPTED),
        S.CANCELLED,
        Phase.STOPPED,
        ["cancelled"],
        ["cancelled"],
    ),
    (
        at_provider("a", phase=Phase.CANCELLING, stored="cancelling", cancel_reason="asked"),
        S.CANCELLED,
        Phase.SKIPPED,
        ["cancelled"],
        ["skipped"],
    ),
    (  # a listing older than the cancel: nothing changes
        at_provider("a", phase=Phase.CANCELLING, stored="cancelling"),
        S.RUNNING,
        Phase.CANCELLING,
        [],
        [],
    ),
    (  # finished before a timeout's cancel took effect: its result is kept
        at_provider("a", phase=Phase.CANCELLING, stored="cancelling", timed_out=True),
        S.SUCCEEDED,
        Phase.SUCCEEDED,
        ["succeeded"],
        ["succeeded"],
    ),
]


@pytest.mark.parametrize(("before", "observed", "phase", "committed", "events"), CASES)
def test_an_observation_decides(
    before: Instance, observed: S, phase: Phase, committed: list[str], events: list[str]
) -> None:
    decision = seen(before, observed)
    assert decision.instances.get("a", before).phase is phase
    assert statuses(decision) == committed
    assert kinds(decision) == events


def test_a_timed_out_run_fails_as_timed_out_and_a_result_is_released() -> None:
    timed = at_provider("a", phase=Phase.CANCELLING, stored="cancelling", timed_out=True)
    v = view([timed], [job(timeout=30.0)])
    observation = Observation("id-a", S.CANCELLED)
    decision = ingest(v, "p", [timed], {"id-a": observation}, {}, NOW)
    assert decision.instances["a"].reason == "timed out after 30s"
    done = seen(at_provider("a"), S.SUCCEEDED)
    assert [c.job_ids for c in done.commands if isinstance(c, Release)] == [("id-a",)]


def test_results_not_readable_now_are_asked_again_unreadable_ones_fail() -> None:
    later = seen(at_provider("a"), S.SUCCEEDED, read=failing(TransientError("503")))
    assert later.instances == {} and kinds(later) == ["result-pending"]
    broken = seen(at_provider("a"), S.SUCCEEDED, read=failing(PermanentError("gone")))
    assert broken.instances["a"].reason == "result unreadable: gone"


def test_timeouts_count_from_submission_or_from_the_start_of_the_run() -> None:
    queued = at_provider("a", since=NOW - 40)
    assert check_timeouts(view([queued], [job(timeout=30.0)]), NOW).instances["a"].timed_out
    own_queue = provider(timeout_from_start=True)
    waiting = view([queued], [job(timeout=30.0)], [own_queue])
    assert check_timeouts(waiting, NOW).instances == {}  # not started: qplan's own queue
    started = at_provider("a", since=NOW - 40, started_at=NOW - 10)
    assert check_timeouts(view([started], [job(timeout=30.0)], [own_queue]), NOW).instances == {}
