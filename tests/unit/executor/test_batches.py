"""Native batches (``sweep.batch: native``): one provider job serves several instances, and the
exactly-once protocol holds for the batch as a whole."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import qplan
from qplan.executor import FakeClock
from qplan.jobstatus import JobStatus
from qplan.manifest import Stack
from qplan.providers import Dispatch, Receipt
from qplan.state import SqliteStore
from tests.unit.executor.fakes import Call, ScriptedProvider
from tests.unit.executor.test_engine import run, statuses

S = JobStatus

MANIFEST = """\
version: 1
stack: ex
providers:
  sim: {{type: local}}
programs:
  ry:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      qubit q;
      ry(theta) q;
jobs:
  scan:
    target: sim/braket_sv
    program: ry
    shots: 10
    sweep: {{grid: {{theta: {points}}}, {batch}}}
{extra}
"""


def load(
    write: Callable[..., Path],
    points: Sequence[int] = (1, 2, 3, 4, 5, 6, 7),
    batch: str = "batch: native",
    extra: str = "",
) -> Stack:
    text = MANIFEST.format(points=list(points), batch=batch, extra=extra)
    return qplan.load(write(text))


def address(theta: int) -> str:
    return f"scan[theta={float(theta)}]"


def check_attribution(store: SqliteStore, stack: Stack) -> None:
    """Every instance holds the result of its own point, not a neighbour's."""
    for row in store.rows(stack.name):
        assert row.status is S.SUCCEEDED and row.result_hash is not None
        result = json.loads(store.result(row.result_hash))
        if "inputs" in result:  # a member of a native batch
            assert address(result["inputs"]["theta"]) == row.address


class Crash(BaseException):
    """The process dies: nothing after it runs (KeyboardInterrupt-like, not an Exception)."""


def test_a_native_sweep_goes_as_batches_of_the_device_limit(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(batch=3, steps=2)
    run(stack, store, provider)
    assert provider.batches == [[address(t) for t in (1, 2, 3)], [address(t) for t in (4, 5, 6)]]
    assert provider.submits[-1] == address(7)  # the remainder of one goes as a job of its own
    assert len(provider.jobs) == 3
    check_attribution(store, stack)
    rows = {r.address: r for r in store.rows("ex")}
    assert rows[address(2)].provider_job_id == "job-0#1"
    assert rows[address(5)].provider_job_id == "job-1#1"
    # the members share their batch's key, told apart by position
    assert len({rows[address(t)].idempotency_key for t in (1, 2, 3)}) == 1
    assert [rows[address(t)].member for t in (1, 2, 3)] == [0, 1, 2]
    assert {rows[address(t)].dispatch_ref for t in (1, 2, 3)} == {"job-0"}


def test_the_first_batches_go_at_once_not_a_poll_interval_after_their_limit_is_known(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    # the batch limit is asked in one pass; the batches go in the next, without a sleep
    stack = load(write)
    provider = ScriptedProvider(batch=3)
    clock = FakeClock()
    start = clock.now()
    run(stack, store, provider, clock)
    assert provider.submit_times[:3] == [start, start, start]


def test_batch_size_caps_the_batches(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write, batch="batch: native, batch_size: 2")
    provider = ScriptedProvider(batch=3)
    run(stack, store, provider)
    assert [len(b) for b in provider.batches] == [2, 2, 2]
    check_attribution(store, stack)


@pytest.mark.parametrize("batch", ["batch: per_point", "batch: auto"])
def test_without_native_batches_each_point_is_a_job(
    write: Callable[..., Path], store: SqliteStore, batch: str
) -> None:
    stack = load(write, batch=batch)
    provider = ScriptedProvider(batch=3)
    run(stack, store, provider)
    assert provider.batches == []
    assert len(provider.jobs) == 7


def test_a_device_without_batches_gets_one_job_per_point(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(batch=1)
    run(stack, store, provider)
    assert provider.batches == [] and len(provider.jobs) == 7
    assert set(statuses(store, stack).values()) == {S.SUCCEEDED}


def test_failed_members_are_retried_together(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, extra="    retry: {attempts: 2, backoff: 5s}")
    failing = {address(2), address(3)}

    def outcome(s: Call) -> str:
        return "fail" if s.address in failing and s.attempt == 1 else "ok"

    provider = ScriptedProvider(batch=3, outcome=outcome)
    _sink, report = run(stack, store, provider)
    # the two failed executables of the first batch went again, as one batch of their own
    assert provider.batches[-1] == [address(2), address(3)]
    assert report.counts["attempts retried"] == 2  # type: ignore[attr-defined]
    check_attribution(store, stack)
    row = store.row("ex", address(3))
    assert row is not None and row.attempt == 2 and row.provider_job_id == "job-3#1"


def test_a_crash_after_the_batch_was_sent_adopts_it(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, points=(1, 2, 3))
    provider = ScriptedProvider(batch=3)
    submit = provider.submit

    def crash_after(dispatch: Dispatch) -> Receipt:
        submit(dispatch)
        raise Crash  # the provider has the batch; its id never reached the state

    provider.submit = crash_after  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(stack, store, provider)
    assert set(statuses(store, stack).values()) == {S.SUBMITTING}
    provider.submit = submit  # type: ignore[method-assign]
    run(stack, store, provider, FakeClock())
    assert len(provider.jobs) == 1 and len(provider.batches) == 1  # adopted, not sent again
    check_attribution(store, stack)


def test_a_crash_before_the_batch_was_sent_resends_it_under_the_same_key(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, points=(1, 2, 3))
    provider = ScriptedProvider(batch=3)
    submit = provider.submit

    def crash_before(dispatch: Dispatch) -> Receipt:
        raise Crash

    provider.submit = crash_before  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(stack, store, provider)
    intended = {(r.idempotency_key, r.member) for r in store.rows("ex")}
    provider.submit = submit  # type: ignore[method-assign]
    run(stack, store, provider)
    assert len(provider.jobs) == 1
    assert {(provider.keys[0], i) for i in range(3)} == intended
    check_attribution(store, stack)


def test_a_busy_provider_gets_the_same_batch_again(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, points=(1, 2, 3))
    calls: list[int] = []

    def outcome(s: Call) -> str:
        calls.append(1)
        return "transient" if len(calls) == 1 else "ok"

    provider = ScriptedProvider(batch=3, outcome=outcome)
    run(stack, store, provider)
    assert len(provider.batches) == 2 and provider.keys[0] == provider.keys[1]
    assert len(provider.jobs) == 1
    check_attribution(store, stack)


def test_dropping_a_point_keeps_the_batch_running_for_the_others(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    provider = ScriptedProvider(batch=3, steps=3)
    run(load(write, points=(1, 2, 3)), store, provider, no_wait=True)
    assert set(statuses(store, load(write, points=(1, 2, 3))).values()) == {S.QUEUED}
    smaller = load(write, points=(1, 3))
    _sink, report = run(smaller, store, provider)
    assert provider.cancels == []  # the batch still serves theta=1 and theta=3
    # the plan's "1 to cancel" (in flight, gone): recorded cancelled, then forgotten
    assert report.counts["cancelled"] == 1  # type: ignore[attr-defined]
    assert statuses(store, smaller) == {address(1): S.SUCCEEDED, address(3): S.SUCCEEDED}
    check_attribution(store, smaller)
    # nothing was asked of the provider for the dropped point: its record says cancelled
    assert [e["new_status"] for e in store.events("ex", address(2))][-2:] == ["cancelled", None]


def test_dropping_a_point_of_its_own_cancels_its_job(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    provider = ScriptedProvider(steps=3)
    run(load(write, points=(1, 2), batch="batch: per_point"), store, provider, no_wait=True)
    job_id = store.row("ex", address(2)).provider_job_id  # type: ignore[union-attr]
    run(load(write, points=(1,), batch="batch: per_point"), store, provider)
    assert provider.cancels == [job_id]
    # the cancel was asked, not confirmed, when the row was forgotten
    assert [e["new_status"] for e in store.events("ex", address(2))][-2:] == ["cancelling", None]


@pytest.mark.parametrize("parallelism", [1, 2])
def test_parallelism_counts_batches_not_instances(
    write: Callable[..., Path], store: SqliteStore, parallelism: int
) -> None:
    stack = load(write, points=(1, 2, 3, 4, 5, 6))
    provider = ScriptedProvider(batch=3, steps=2)
    sink, _ = run(stack, store, provider, parallelism=parallelism)
    assert len(provider.batches) == 2
    kinds = [e.kind for e in sink.events if e.kind in ("submitted", "succeeded")]
    if parallelism == 1:  # the second batch waits until the first is done
        assert (
            kinds == ["submitted"] * 3 + ["succeeded"] * 3 + ["submitted"] * 3 + ["succeeded"] * 3
        )
    else:  # two batches (six instances) in flight at once
        assert kinds == ["submitted"] * 6 + ["succeeded"] * 6


def test_batches_wait_for_the_device_limits_and_say_so(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, points=(1, 2, 3))
    clock = FakeClock()
    provider = ScriptedProvider(batch=3, down_until=clock.now() + 30.0)  # GetDevice fails 30 s
    sink, _ = run(stack, store, provider, clock)
    assert provider.batches == [[address(t) for t in (1, 2, 3)]]  # still one batch, later
    assert provider.submit_times[0] >= 1_800_000_030.0
    assert any("sim unreachable" in e.detail for e in sink.events)
    check_attribution(store, stack)


def test_a_pending_batch_is_resent_whole_even_under_a_tight_parallelism(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    """A batch sent before a crash, that a lagging search does not list yet, goes again with
    the same members under the same key (the provider's token catches it), not split."""
    stack = load(
        write,
        points=(1, 2, 3, 4),
        batch="batch: native, batch_size: 2",
        extra="    retry: {attempts: 2, backoff: 5s}",
    )

    def outcome(s: Call) -> str:
        return "fail" if s.address == address(1) and s.attempt == 1 else "ok"

    provider = ScriptedProvider(batch=2, outcome=outcome)
    submit, lookup = provider.submit, provider.lookup

    def crash_after(dispatch: Dispatch) -> Receipt:
        receipt = submit(dispatch)
        if address(3) in [m.address for m in dispatch.members]:
            raise Crash  # the provider has the batch; its id never reached the state
        return receipt

    provider.submit = crash_after  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(stack, store, provider, parallelism=1)
    provider.submit = submit  # type: ignore[method-assign]
    lagged: list[bool] = []

    def lagging(keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        if not lagged:  # the first search does not list the new task yet
            lagged.append(True)
            return {}
        return lookup(keys, since)

    provider.lookup = lagging  # type: ignore[method-assign]
    run(stack, store, provider, FakeClock(), parallelism=1)
    runs_of_3 = [
        job for job in provider.jobs.values() if address(3) in [m.address for m in job.members]
    ]
    assert len(runs_of_3) == 1  # the resend was recognised by its key
    check_attribution(store, stack)


def test_failed_members_of_different_batches_are_retried_together(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, points=(1, 2, 3, 4, 5, 6), extra="    retry: {attempts: 2, backoff: 5s}")
    failing = {address(1), address(4)}

    def outcome(s: Call) -> str:
        return "fail" if s.address in failing and s.attempt == 1 else "ok"

    provider = ScriptedProvider(batch=3, outcome=outcome)
    run(stack, store, provider)
    assert provider.batches[-1] == [address(1), address(4)]
    check_attribution(store, stack)


def test_the_device_limit_is_asked_once_per_pass_while_it_cannot_be_read(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, points=tuple(range(1, 201)))
    clock = FakeClock()
    provider = ScriptedProvider(batch=3, down_until=clock.now() + 3.0)
    asked: list[float] = []
    batch_limit = provider.batch_limit

    def counting(device: str, format: str, shots: int) -> int:
        asked.append(clock.now())
        return batch_limit(device, format, shots)

    provider.batch_limit = counting  # type: ignore[method-assign]
    run(stack, store, provider, clock)
    assert len(asked) == len(set(asked))  # never twice in one pass
    assert len(provider.batches) == 67 and provider.jobs


HYBRID = """\
version: 1
stack: ex
providers:
  sim: {type: local}
programs:
  vqe: {format: braket.hybrid, path: vqe, entry_point: "vqe.algorithm:main"}
jobs:
  h2:
    target: sim/braket_sv
    program: vqe
    hyperparameters: {iterations: 3}
    sweep: {grid: {bond: [0.5, 0.7, 0.9]}}
"""


def test_a_hybrid_sweep_goes_one_job_per_point_whatever_the_provider_batches(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = qplan.load(write(HYBRID, **{"vqe/algorithm.py": "def main():\n    pass\n"}))
    provider = ScriptedProvider(batch=3)
    provider.capabilities = dataclasses.replace(provider.capabilities, batch_by_default=True)
    run(stack, store, provider)
    assert provider.batches == [] and len(provider.jobs) == 3
    assert set(statuses(store, stack).values()) == {S.SUCCEEDED}
