"""The executor's decisions, on a fake clock and a scripted provider."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import qplan
from qplan.executor import Executor, FakeClock, Options, RecordingSink
from qplan.jobstatus import JobStatus
from qplan.manifest import Stack
from qplan.planner import JobFingerprinter, idempotency_key, make_plan
from qplan.providers import Capabilities, Dispatch, Member, Receipt
from qplan.state import SqliteStore, Transition
from tests.unit.executor.fakes import Call, ScriptedProvider

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
sessions:
  s: {{target: sim/braket_sv, on_job_failure: {policy}}}
jobs:
  first:
    target: sim/braket_sv
    program: ry
    shots: 10
    sweep: {{grid: {{theta: [1, 2, 3]}}}}
{first_extra}
  second:
    target: sim/braket_sv
    program: ry
    shots: 10
    inputs: {{theta: 0.5}}
    after: [first]
{second_extra}
"""


def load(
    write: Callable[..., Path], *, first: str = "", second: str = "", policy: str = "abort"
) -> Stack:
    return qplan.load(write(MANIFEST.format(first_extra=first, second_extra=second, policy=policy)))


def run(
    stack: Stack,
    store: SqliteStore,
    provider: ScriptedProvider,
    clock: FakeClock | None = None,
    **options: object,
) -> tuple[RecordingSink, object]:
    clock = clock or FakeClock()
    provider.clock = clock
    sink = RecordingSink()
    plan = make_plan(stack, store.snapshot(stack.name))
    opts = Options(handle_sigint=False, seed=1, **options)  # type: ignore[arg-type]
    report = Executor(stack, store, {"sim": provider}, plan, opts, clock=clock, sink=sink).run()
    return sink, report


def dispatch(key: str, address: str, fingerprint: str) -> Dispatch:
    """What an earlier qplan sent before it crashed."""
    member = Member(address, fingerprint, 1, {})
    return Dispatch(key, "ex", "braket_sv", "openqasm3", "", 10, (member,))


def statuses(store: SqliteStore, stack: Stack) -> dict[str, JobStatus]:
    return {row.address: row.status for row in store.rows(stack.name)}


def test_runs_everything_in_order_and_records_results(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(steps=2)
    _sink, report = run(stack, store, provider)
    assert set(statuses(store, stack).values()) == {S.SUCCEEDED}
    assert provider.submits[-1] == "second"  # after every point of `first`
    assert report.counts["succeeded"] == 4  # type: ignore[attr-defined]
    row = store.row("ex", "second")
    assert row is not None and row.result_hash is not None
    assert store.result(row.result_hash) == b'{"counts":{"0":10}}'
    # every instance went submitting -> queued -> running -> succeeded, in the event log
    assert [e["new_status"] for e in store.events("ex", "second")] == [
        "submitting",
        "queued",
        "running",
        "succeeded",
    ]


def test_reapply_submits_nothing(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write)
    run(stack, store, ScriptedProvider())
    again = ScriptedProvider()
    _, _report = run(stack, store, again)
    assert again.submits == []


def test_retry_with_backoff_then_success(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write, first="    retry: {attempts: 3, backoff: 10s}")
    failing = {"first[theta=2.0]"}

    def outcome(s: Call) -> str:
        return "fail" if s.address in failing and s.attempt < 3 else "ok"

    clock = FakeClock()
    provider = ScriptedProvider(outcome=outcome)
    sink, _report = run(stack, store, provider, clock)
    row = store.row("ex", "first[theta=2.0]")
    assert row is not None and (row.status, row.attempt) == (S.SUCCEEDED, 3)
    times = [
        t
        for a, t in zip(provider.submits, provider.submit_times, strict=True)
        if a == "first[theta=2.0]"
    ]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 5 <= gaps[0] <= 12 and 10 <= gaps[1] <= 22  # 10 s then 20 s, with jitter in [x/2, x]
    assert sink.kinds("first[theta=2.0]").count("retrying") == 2
    keys = {
        e["attempt"]
        for e in store.events("ex", "first[theta=2.0]")
        if e["new_status"] == "submitting"
    }
    assert keys == {1, 2, 3}


def test_retries_exhausted_fail_the_apply_and_skip_dependents(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, first="    retry: {attempts: 2, backoff: 1s}")
    provider = ScriptedProvider(
        outcome=lambda s: "fail" if s.address == "first[theta=1.0]" else "ok"
    )
    _sink, report = run(stack, store, provider)
    assert report.failures == {"first[theta=1.0]": "boom"}  # type: ignore[attr-defined]
    assert report.halted.startswith("first[theta=1.0] failed")  # type: ignore[attr-defined]
    assert "second" not in provider.submits
    assert statuses(store, stack)["first[theta=1.0]"] is S.FAILED
    # the next plan does not retry it: all attempts are used
    plan = make_plan(stack, store.snapshot("ex"))
    reasons = {a: r for res in plan.resources for a, _, r in res.items()}
    assert reasons["first[theta=1.0]"] == "failed, all 2 attempts used"


def test_on_failure_continue_goes_on_but_dependents_are_skipped(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, first="    on_failure: continue")
    provider = ScriptedProvider(
        outcome=lambda s: "fail" if s.address == "first[theta=3.0]" else "ok"
    )
    _sink, report = run(stack, store, provider)
    assert not report.halted  # type: ignore[attr-defined]
    assert report.skipped == {"second": "skipped: a job it runs after (first) failed"}  # type: ignore[attr-defined]
    assert statuses(store, stack)["first[theta=1.0]"] is S.SUCCEEDED


def test_permanent_errors_fail_at_once(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write, first="    retry: {attempts: 5}")
    provider = ScriptedProvider(
        outcome=lambda s: "permanent" if s.address == "first[theta=1.0]" else "ok"
    )
    _, _report = run(stack, store, provider)
    row = store.row("ex", "first[theta=1.0]")
    assert row is not None and row.error == "validation: bad program"
    assert provider.submits.count("first[theta=1.0]") == 5  # each attempt is a new submission


def test_transient_errors_retry_with_the_same_key(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider()

    def outcome(s: Call) -> str:
        return "transient" if provider.keys.count(s.key) <= 2 else "ok"

    provider.outcome = outcome
    run(stack, store, provider)
    assert len(set(provider.keys)) == 4
    assert all(provider.keys.count(k) == 3 for k in provider.keys)  # the same key three times
    assert all(row.attempt == 1 for row in store.rows("ex"))


def test_ambiguous_errors_are_looked_up_not_resent(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(
        outcome=lambda s: "ambiguous-committed" if s.address == "second" else "ok"
    )
    run(stack, store, provider)
    assert provider.submits.count("second") == 1  # committed at the provider: adopted by key
    assert statuses(store, stack)["second"] is S.SUCCEEDED
    lost = ScriptedProvider()
    lost.outcome = lambda s: (
        "ambiguous" if s.address == "second" and lost.submits.count("second") == 1 else "ok"
    )
    store2 = SqliteStore(store.path.with_name("other.db"))
    run(stack, store2, lost)
    second_keys = [k for k, a in zip(lost.keys, lost.submits, strict=True) if a == "second"]
    assert len(second_keys) == 2 and second_keys[0] == second_keys[1]  # truly absent: same key
    assert statuses(store2, stack)["second"] is S.SUCCEEDED


def test_recovery_adopts_or_resubmits_pending_intents(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    fp = JobFingerprinter(stack.jobs["first"])
    provider = ScriptedProvider()
    for address in ("first[theta=1.0]", "first[theta=2.0]"):
        key = idempotency_key("ex", address, fp(address), 1)
        store.apply(
            "ex",
            [
                Transition(
                    address,
                    S.SUBMITTING,
                    kind="job",
                    job="first",
                    fingerprint=fp(address),
                    attempt=1,
                    idempotency_key=key,
                    provider="sim",
                    target="sim/braket_sv",
                )
            ],
        )
    # the first crashed after the provider took it, the second before
    provider.submit(
        dispatch(
            idempotency_key("ex", "first[theta=1.0]", fp("first[theta=1.0]"), 1),
            "first[theta=1.0]",
            fp("first[theta=1.0]"),
        )
    )
    provider.submits.clear()
    sink, _ = run(stack, store, provider)
    assert "adopted" in sink.kinds("first[theta=1.0]")
    assert "first[theta=1.0]" not in provider.submits
    assert provider.submits.count("first[theta=2.0]") == 1
    assert len(provider.jobs) == 4  # one per instance: nothing ran twice
    assert set(statuses(store, stack).values()) == {S.SUCCEEDED}


def test_timeout_cancels_and_fails(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write, first="    timeout: 30s\n    on_failure: continue")
    provider = ScriptedProvider(
        outcome=lambda s: "hang" if s.address == "first[theta=2.0]" else "ok"
    )
    clock = FakeClock()
    _sink, _report = run(stack, store, provider, clock)
    row = store.row("ex", "first[theta=2.0]")
    assert row is not None and (row.status, row.error) == (S.FAILED, "timed out after 30s")
    assert len(provider.cancels) == 1
    assert 30 <= clock.slept <= 40


def test_session_abort_cancels_the_rest(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write, first="    session: s", second="    session: s", policy="abort")
    outcomes = {"first[theta=1.0]": "fail", "first[theta=2.0]": "hang"}
    provider = ScriptedProvider(steps=3, outcome=lambda s: outcomes.get(s.address, "ok"))
    _sink, report = run(stack, store, provider, parallelism=2)
    rows = statuses(store, stack)
    assert rows["first[theta=1.0]"] is S.FAILED
    assert rows["first[theta=2.0]"] is S.CANCELLED  # running when the session aborted
    assert rows["session.s"] is S.FAILED
    assert report.skipped["first[theta=3.0]"] == "skipped: session s was aborted by a failure"  # type: ignore[attr-defined]
    assert "second" in report.skipped  # type: ignore[attr-defined]
    assert len(provider.cancels) == 1


def test_session_continue_goes_on(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(
        write,
        first="    session: s\n    on_failure: continue",
        second="    session: s",
        policy="continue",
    )
    provider = ScriptedProvider(
        outcome=lambda s: "fail" if s.address == "first[theta=1.0]" else "ok",
        native_sessions=True,
    )
    _sink, _report = run(stack, store, provider)
    rows = statuses(store, stack)
    assert rows["first[theta=2.0]"] is S.SUCCEEDED and rows["first[theta=3.0]"] is S.SUCCEEDED
    assert rows["session.s"] is S.FAILED  # closed, reporting its failure
    assert store.row("ex", "session.s").error == "1 member(s) failed"  # type: ignore[union-attr]
    assert provider.sessions is not None and len(provider.sessions.opened) == 1


def test_fail_fast_stops_without_waiting(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write, first="    on_failure: continue")
    provider = ScriptedProvider(
        steps=5, outcome=lambda s: "permanent" if s.address == "first[theta=1.0]" else "ok"
    )
    _, report = run(stack, store, provider, fail_fast=True)
    assert report.halted  # type: ignore[attr-defined]
    in_flight = [r for r in store.rows("ex") if r.status.in_flight]
    assert in_flight  # left running, collected by a later apply


def test_no_wait_submits_and_returns(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write)
    provider = ScriptedProvider(steps=100)
    clock = FakeClock()
    _, report = run(stack, store, provider, clock, no_wait=True)
    assert sorted(provider.submits) == ["first[theta=1.0]", "first[theta=2.0]", "first[theta=3.0]"]
    assert report.pending == 4  # type: ignore[attr-defined]
    assert clock.slept == 0


def test_rate_limit_is_respected(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write)  # 3 + 1 instances
    provider = ScriptedProvider(capabilities=Capabilities(submit_rate=0.5, submit_burst=1))
    clock = FakeClock()
    run(stack, store, provider, clock)
    gaps = [b - a for a, b in zip(provider.submit_times, provider.submit_times[1:], strict=False)]
    assert min(gaps[:2]) >= 1.99  # one submission every 2 s


def test_lost_local_runs_are_run_again(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = load(write)
    fp = JobFingerprinter(stack.jobs["first"])
    address = "first[theta=1.0]"
    store.apply(
        "ex",
        [
            Transition(
                address,
                S.SUBMITTING,
                kind="job",
                job="first",
                fingerprint=fp(address),
                attempt=1,
                idempotency_key="k",
                provider="sim",
                target="sim/braket_sv",
            )
        ],
    )
    store.apply("ex", [Transition(address, S.RUNNING, provider_job_id="gone-with-its-process")])
    provider = ScriptedProvider(durable=False)
    run(stack, store, provider)
    events = [e["new_status"] for e in store.events("ex", address)]
    assert events == ["submitting", "running", "cancelled", "submitting", "queued", "succeeded"]
    assert store.row("ex", address).attempt == 2  # type: ignore[union-attr]


def test_changed_fingerprint_replaces_finished_and_running_instances(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(steps=50)
    run(stack, store, provider, no_wait=True)  # every point of `first` left running
    edited = qplan.load(
        write(
            MANIFEST.format(first_extra="", second_extra="", policy="abort").replace(
                "ry(theta) q;", "rx(theta) q;"
            )
        )
    )
    again = ScriptedProvider()
    again.jobs, again.by_key = provider.jobs, provider.by_key  # the same backend
    run(edited, store, again)
    assert sorted(again.submits) == [
        "first[theta=1.0]",
        "first[theta=2.0]",
        "first[theta=3.0]",
        "second",
    ]
    assert len(again.cancels) == 3  # the old runs were cancelled first
    for address in ("first[theta=1.0]", "second"):
        row = store.row("ex", address)
        assert row is not None and row.status is S.SUCCEEDED


def test_only_paid_targets_need_confirmation(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    from qplan.operations import spends_money

    local = load(write)
    assert not spends_money(make_plan(local, store.snapshot("ex")), local)
    paid = qplan.load(
        write(
            "version: 1\nstack: p\nproviders:\n"
            "  aws: {type: braket, region: us-east-1, s3_bucket: bkt}\n"
            "programs:\n  p: {format: openqasm3, source: 'OPENQASM 3.0; qubit q;'}\n"
            "jobs:\n  a: {target: aws/sv1, program: p, shots: 10}\n"
        )
    )
    assert spends_money(make_plan(paid, store.snapshot("p")), paid)


def test_replacing_a_pending_intent_cancels_the_job_found_by_its_key(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(steps=50)
    fp = JobFingerprinter(stack.jobs["second"])
    key = idempotency_key("ex", "second", fp("second"), 1)
    store.apply(
        "ex",
        [
            Transition(
                "second",
                S.SUBMITTING,
                kind="job",
                job="second",
                attempt=1,
                fingerprint=fp("second"),
                idempotency_key=key,
                provider="sim",
                target="sim/braket_sv",
            )
        ],
    )
    # the crash came after the provider took it: it runs there, with no id in the state
    old = provider.submit(dispatch(key, "second", fp("second"))).ref
    edited = qplan.load(
        write(
            MANIFEST.format(first_extra="", second_extra="    shots: 11", policy="abort").replace(
                "    shots: 10\n    inputs: {theta: 0.5}", "    inputs: {theta: 0.5}"
            )
        )
    )
    run(edited, store, ScriptedProvider(jobs=provider.jobs, by_key=provider.by_key, steps=1))
    assert provider.jobs[old].status is S.CANCELLED or provider.jobs[old].status is S.CANCELLING


def test_an_unreachable_provider_is_waited_for_and_reported_once_a_minute(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    clock = FakeClock()
    provider = ScriptedProvider(down_until=clock.now() + 150.0)  # observations fail 150 s
    sink, report = run(stack, store, provider, clock)
    notices = [e for e in sink.events if "unreachable" in e.detail]
    # silent for a 10 s grace, then once a minute: at about 10 s, 70 s and 130 s
    assert [round(e.at - 1_800_000_000.0, -1) for e in notices] == [10.0, 70.0, 130.0]
    assert "sim unreachable for 10s, still trying: connection refused" in notices[0].detail
    assert set(statuses(store, stack).values()) == {S.SUCCEEDED}  # then it carried on
    assert report.ok  # type: ignore[attr-defined]


def test_a_listing_older_than_a_cancel_does_not_undo_it(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, first="    timeout: 5s")

    def outcome(s: Call) -> str:
        return "hang" if s.address.startswith("first") else "ok"

    provider = ScriptedProvider(outcome=outcome, listing_lag=2)  # RUNNING twice after cancel
    _sink, report = run(stack, store, provider)
    assert len(provider.cancels) == 3
    for row in store.rows("ex"):
        if row.job == "first":
            assert row.status is S.FAILED and row.error == "timed out after 5s"
            assert "running" not in [e["new_status"] for e in store.events("ex", row.address)][3:]
    assert report.halted  # type: ignore[attr-defined]


def test_progress_counts_come_at_a_steady_interval_while_they_change(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(steps=30)  # each job runs 30 polls of 1 s
    sink, _report = run(stack, store, provider)
    progress = [e for e in sink.events if e.kind == "progress"]
    times = [e.at for e in progress]
    assert len(progress) >= 3
    assert all(b - a >= 10 for a, b in itertools.pairwise(times))  # never more often
    assert all(sum(e.counts.values()) == 4 for e in progress)  # every instance, once
    assert progress[0].counts.get("waiting") == 1  # `second` runs after `first`
    assert any(e.counts.get("succeeded") == 3 for e in progress)


def test_every_dispatch_is_in_the_state_before_the_provider_receives_it(
    write: Callable[..., Path], store: SqliteStore, tmp_path: Path
) -> None:
    """Commits are written together, a round at a time; the intent of each dispatch must
    still be durable (seen by another connection) before its call, and the whole apply
    takes fewer writes than transitions."""
    stack = load(write)
    reader = SqliteStore(tmp_path / "state.db")
    seen: list[tuple[JobStatus | None, str | None]] = []

    class Reading(ScriptedProvider):
        def submit(self, dispatch: Dispatch) -> Receipt:
            row = reader.row("ex", dispatch.members[0].address)
            seen.append((row.status, row.idempotency_key) if row else (None, None))
            return super().submit(dispatch)

    refused: list[str] = []

    def outcome(c: Call) -> str:  # one point refused once as busy: sent again
        if c.address == "first[theta=2.0]" and not refused:
            refused.append(c.key)
            return "transient"
        return "ok"

    provider = Reading(steps=2, outcome=outcome)
    _sink, report = run(stack, store, provider)
    assert report.counts["succeeded"] == 4  # type: ignore[attr-defined]
    assert len(seen) == 5  # one point sent twice
    assert all(status is S.SUBMITTING for status, _ in seen), seen
    assert [key for _, key in seen] == provider.keys
    transitions = sum(len(store.events("ex", r.address)) for r in store.rows("ex"))
    assert store.serial("ex") < transitions
