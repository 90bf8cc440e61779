"""Defects of the executor before its redesign, each shown fixed; and isolation between
providers. On a fake clock with scripted providers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import qplan
from qplan.errors import QplanError
from qplan.executor import Executor, FakeClock, Options, RecordingSink
from qplan.jobstatus import InvalidTransition, JobStatus, check_transition
from qplan.manifest import Stack
from qplan.planner import make_plan
from qplan.providers import PermanentError, Provider, TransientError
from qplan.state import SqliteStore
from tests.unit.executor.fakes import FakeSessions, ScriptedProvider
from tests.unit.executor.test_engine import load, run, statuses

S = JobStatus

TWO = """\
version: 1
stack: two
providers:
  fast: {type: local}
  slow: {type: local}
programs:
  p: {format: openqasm3, source: "OPENQASM 3.0; qubit q;"}
jobs:
  near: {target: fast/braket_sv, program: p, shots: 10}
  far: {target: slow/braket_sv, program: p, shots: 10}
"""


def run_two(
    store: SqliteStore, stack: Stack, providers: dict[str, Provider], clock: FakeClock
) -> tuple[RecordingSink, object]:
    for p in providers.values():
        p.clock = clock  # type: ignore[attr-defined]
    sink = RecordingSink()
    plan = make_plan(stack, store.snapshot(stack.name))
    options = Options(handle_sigint=False, seed=1)
    report = Executor(stack, store, providers, plan, options, clock=clock, sink=sink).run()
    return sink, report


def test_keys_never_repeat_after_a_destroy(write: Callable[..., Path], store: SqliteStore) -> None:
    # defect 1: attempt numbers start again after a destroy, and so did the keys: a
    # provider that remembers keys handed back the old, cancelled jobs
    stack = load(write)
    provider = ScriptedProvider(steps=50)
    run(stack, store, provider, no_wait=True)  # all left running
    first = set(provider.keys)
    for job in provider.jobs.values():
        job.status = S.CANCELLED  # as `qplan destroy` leaves them
    store.forget("ex", [r.address for r in store.rows("ex")], "destroyed")
    again = ScriptedProvider(jobs=provider.jobs, by_key=provider.by_key)
    _sink, report = run(stack, store, again)
    assert first.isdisjoint(again.keys)
    assert set(statuses(store, stack).values()) == {S.SUCCEEDED}
    assert report.ok  # type: ignore[attr-defined]


def test_a_busy_provider_does_not_end_a_session_s_opening(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    # defect 3: a transient error while opening a session escaped the run and left its
    # row submitting, which the next run called lost
    stack = load(write, first="    session: s", second="    session: s", policy="continue")
    provider = ScriptedProvider(native_sessions=True)
    sessions = provider.sessions
    assert isinstance(sessions, FakeSessions)
    opened = sessions.open
    failures = [TransientError("throttled")]

    def flaky(key: str, name: str, device: str, abort_on_failure: bool) -> str:
        if failures:
            raise failures.pop()
        return opened(key, name, device, abort_on_failure)

    sessions.open = flaky  # type: ignore[method-assign]
    _sink, report = run(stack, store, provider)
    assert report.ok  # type: ignore[attr-defined]
    assert statuses(store, stack)["session.s"] is S.SUCCEEDED
    assert len(set(sessions.opened)) == 1  # one session, asked under one key


def test_an_open_of_unknown_outcome_is_found_by_key_not_called_lost(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write, first="    session: s", second="    session: s", policy="continue")
    provider = ScriptedProvider(native_sessions=True)
    crashed = ScriptedProvider(native_sessions=True, steps=100)
    # a first run opens the session and stops (--no-wait) with its members in flight...
    run(stack, store, crashed, no_wait=True)
    assert crashed.sessions is not None and len(crashed.sessions.opened) == 1
    # ...and, as if it died between its intent and the answer, the row is submitting
    from qplan.state import Transition

    row = store.row("ex", "session.s")
    assert row is not None
    provider.sessions = crashed.sessions
    provider.jobs, provider.by_key = crashed.jobs, crashed.by_key
    store.apply("ex", [Transition("session.s", S.CANCELLED), Transition("session.s", S.SUBMITTING)])
    run(stack, store, provider)
    assert len(provider.sessions.opened) == 1  # found by its key, not opened again
    assert statuses(store, stack)["session.s"] is S.SUCCEEDED


def test_a_session_is_not_idle_while_a_member_runs(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    # defect 4: idle time counted from the last submission: a dependent waiting on a long
    # member closed the session as failed and opened another one
    stack = qplan.load(
        write(
            "version: 1\nstack: ex\nproviders:\n  sim: {type: local}\n"
            "programs:\n  p: {format: openqasm3, source: 'OPENQASM 3.0; qubit q;'}\n"
            "sessions:\n  s: {target: sim/braket_sv, idle_timeout: 10s}\n"
            "jobs:\n  long: {program: p, shots: 10, session: s}\n"
            "  next: {program: p, shots: 10, session: s, after: [long]}\n"
        )
    )
    provider = ScriptedProvider(native_sessions=True, steps=60)  # a minute at 1 s a poll
    _sink, report = run(stack, store, provider)
    assert report.ok  # type: ignore[attr-defined]
    assert provider.sessions is not None and len(provider.sessions.opened) == 1
    assert statuses(store, stack)["session.s"] is S.SUCCEEDED


def test_retry_inside_an_abort_session_is_refused_at_validate_time(
    write: Callable[..., Path],
) -> None:
    # defect 5: the engine aborted the session only once retries were used up, so a retry
    # went into a session the service had failed already. Decided: not allowed.
    with pytest.raises(qplan.ManifestError) as caught:
        load(write, first="    session: s\n    retry: {attempts: 3}", policy="abort")
    assert "whose on_job_failure is abort, is not retried" in str(caught.value)
    load(write, first="    session: s\n    retry: {attempts: 3}", policy="continue")  # fine


def test_an_invalid_transition_is_reported_not_an_internal_error() -> None:
    # defect 6: it derived from ValueError and surfaced as "internal error", exit 70
    with pytest.raises(InvalidTransition) as caught:
        check_transition(S.SUCCEEDED, S.RUNNING)
    assert isinstance(caught.value, QplanError) and caught.value.exit_code == 1


def test_each_provider_is_observed_at_its_own_interval(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = qplan.load(write(TWO))
    clock = FakeClock()
    fast = ScriptedProvider(name="fast", steps=200)  # 200 polls of 1 s
    slow = ScriptedProvider(name="slow", steps=20)
    fast.capabilities = type(fast.capabilities)(poll_interval=1.0)
    slow.capabilities = type(slow.capabilities)(poll_interval=10.0)
    seen = {"fast": 0, "slow": 0}
    for provider in (fast, slow):
        observe = provider.observe

        def counting(ids, observe=observe, name=provider.name):  # type: ignore[no-untyped-def]
            seen[name] += 1
            return observe(ids)

        provider.observe = counting  # type: ignore[method-assign]
    run_two(store, stack, {"fast": fast, "slow": slow}, clock)
    assert seen["fast"] >= 200
    assert seen["slow"] <= 21  # not once per second with the fast one: once per 10 s


def test_an_outage_of_one_provider_never_stalls_the_other(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = qplan.load(write(TWO))
    clock = FakeClock()
    fast = ScriptedProvider(name="fast", steps=2)
    slow = ScriptedProvider(name="slow", steps=2, down_until=clock.now() + 300.0)
    sink, report = run_two(store, stack, {"fast": fast, "slow": slow}, clock)
    done = {e.address: e.at - 1_800_000_000.0 for e in sink.events if e.kind == "succeeded"}
    assert done["near"] < 10  # finished while the other provider was down
    assert done["far"] >= 300  # finished once it came back
    assert report.ok  # type: ignore[attr-defined]


def test_an_error_while_observing_is_reported_and_the_apply_goes_on(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = load(write)
    provider = ScriptedProvider(steps=3)
    observe = provider.observe
    errors = [PermanentError("400: malformed answer")]

    def once(ids):  # type: ignore[no-untyped-def]
        if errors:
            raise errors.pop()
        return observe(ids)

    provider.observe = once  # type: ignore[method-assign]
    sink, report = run(stack, store, provider)
    assert any(e.kind == "observe-error" and "malformed" in e.detail for e in sink.events)  # type: ignore[attr-defined]
    assert report.ok  # type: ignore[attr-defined]
    assert set(statuses(store, stack).values()) == {S.SUCCEEDED}


@pytest.mark.parametrize("enforces", [False, True])
def test_an_aborted_session_is_ended_by_qplan_unless_the_service_does_it(
    write: Callable[..., Path], store: SqliteStore, enforces: bool
) -> None:
    stack = load(write, first="    session: s", second="    session: s", policy="abort")
    outcomes = {"first[theta=1.0]": "fail", "first[theta=2.0]": "hang"}
    provider = ScriptedProvider(
        steps=3, outcome=lambda s: outcomes.get(s.address, "ok"), native_sessions=True
    )
    assert provider.sessions is not None
    provider.sessions.enforces_policy = enforces
    run(stack, store, provider, parallelism=2)
    sessions = provider.sessions
    assert isinstance(sessions, FakeSessions)
    assert len(sessions.aborted) == (0 if enforces else 1)
    assert sessions.closed == []  # an aborted session is not closed again
    assert statuses(store, stack)["session.s"] is S.FAILED
