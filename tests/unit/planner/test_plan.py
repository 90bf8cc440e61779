"""Plans made from real manifests against a real SQLite state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

import qplan
from qplan.jobstatus import JobStatus
from qplan.manifest import Stack
from qplan.planner import (
    Action,
    JobFingerprinter,
    StalePlan,
    check_current,
    load_plan,
    make_plan,
    save_plan,
    session_address,
)
from qplan.planner.plan import Plan, session_fingerprint
from qplan.state import SqliteStore, Transition

S = JobStatus

MANIFEST = """\
version: 1
stack: study
programs:
  ry:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      qubit q;
      {gate}(theta) q;
  bell: {{format: openqasm3, source: "OPENQASM 3.0; qubit[2] q; h q[0];"}}
sessions:
  s: {{target: local/braket_sv, on_job_failure: continue}}
jobs:
  bell:
    target: local/braket_sv
    program: bell
    shots: 10
  scan:
    target: local/braket_sv
    program: ry
    shots: 10
    after: [bell]
    retry: {{attempts: {attempts}}}
    sweep: {{grid: {{theta: {thetas}}}}}
{more}
"""


def manifest(
    write: Callable[..., Path],
    *,
    gate: str = "ry",
    attempts: int = 3,
    thetas: str = "[0.1, 0.2, 0.3, 0.4]",
    more: str = "",
) -> Stack:
    text = MANIFEST.format(gate=gate, attempts=attempts, thetas=thetas, more=more)
    return qplan.load(write(text))


def record(
    store: SqliteStore, stack: Stack, statuses: dict[str, Iterable[JobStatus]], attempt: int = 1
) -> None:
    """Write rows as the executor would: each address walks through the given statuses."""
    for job in stack.jobs.values():
        fp = JobFingerprinter(job)
        for address in job.addresses():
            for status in statuses.get(address, ()):
                store.apply(
                    stack.name,
                    [
                        Transition(
                            address,
                            status,
                            kind="job",
                            job=job.name,
                            fingerprint=fp(address),
                            attempt=attempt,
                            provider=job.target.provider,
                            target=str(job.target),
                        )
                    ],
                )


DONE = (S.SUBMITTING, S.QUEUED, S.SUCCEEDED)
FAILED = (S.SUBMITTING, S.FAILED)


def actions(plan: Plan) -> dict[str, Action]:
    return {address: action for r in plan.resources for address, action, _ in r.items()}


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "state.db")


def test_fresh_stack_creates_everything(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = manifest(write)
    plan = make_plan(stack, store.snapshot(stack.name))
    got = actions(plan)
    assert got.pop(session_address("s")) is Action.NOOP  # no job uses the session
    assert got == {i.address: Action.CREATE for i in stack.instances()}
    assert len(got) == 5
    assert plan.serial == 0 and plan.has_changes


def test_done_stack_is_a_noop(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = manifest(write)
    record(store, stack, {i.address: DONE for i in stack.instances()})
    plan = make_plan(stack, store.snapshot(stack.name))
    assert set(actions(plan).values()) == {Action.NOOP}
    assert not plan.has_changes
    assert plan.serial == store.serial(stack.name) == 15


def test_every_status_gets_its_action(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = manifest(write, attempts=2)
    record(
        store,
        stack,
        {
            "bell": DONE,
            "scan[theta=0.1]": (S.SUBMITTING, S.RUNNING),
            "scan[theta=0.2]": FAILED,
            "scan[theta=0.3]": (S.SUBMITTING, S.CANCELLED),
        },
    )
    record(store, stack, {"scan[theta=0.4]": FAILED}, attempt=2)
    got = actions(make_plan(stack, store.snapshot(stack.name)))
    assert got == {
        "session.s": Action.NOOP,
        "bell": Action.NOOP,
        "scan[theta=0.1]": Action.WAIT,
        "scan[theta=0.2]": Action.RETRY,
        "scan[theta=0.3]": Action.RETRY,
        "scan[theta=0.4]": Action.NOOP,  # failed twice, 2 attempts: not retried
    }


def test_changed_program_replaces_only_its_points(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    stack = manifest(write)
    record(store, stack, {i.address: DONE for i in stack.instances()})
    edited = manifest(write, gate="rx")
    got = actions(make_plan(edited, store.snapshot(edited.name)))
    assert got["bell"] is Action.NOOP
    assert [a for a, act in got.items() if act is Action.REPLACE] == [
        f"scan[theta={t}]" for t in (0.1, 0.2, 0.3, 0.4)
    ]


def test_policy_changes_replace_nothing(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = manifest(write)
    record(store, stack, {i.address: DONE for i in stack.instances()})
    before = make_plan(stack, store.snapshot(stack.name))
    edited = manifest(write, attempts=7)
    after = make_plan(edited, store.snapshot(edited.name))
    assert set(actions(after).values()) == {Action.NOOP}
    assert before.digest != after.digest  # a saved plan would still be refused


def test_grown_and_shrunk_sweeps(write: Callable[..., Path], store: SqliteStore) -> None:
    stack = manifest(write)
    record(store, stack, {"bell": DONE, "scan[theta=0.1]": DONE, "scan[theta=0.2]": DONE})
    record(store, stack, {"scan[theta=0.3]": (S.SUBMITTING, S.QUEUED)})
    edited = manifest(write, thetas="[0.1, 0.5]")
    plan = make_plan(edited, store.snapshot(edited.name))
    got = actions(plan)
    assert got["scan[theta=0.1]"] is Action.NOOP  # kept its address and its result
    assert got["scan[theta=0.5]"] is Action.CREATE
    assert got["scan[theta=0.2]"] is Action.FORGET
    assert got["scan[theta=0.3]"] is Action.CANCEL
    gone = [r for r in plan.resources if r.kind == "gone"]  # still what apply retires
    assert [(r.name, r.target, sorted(r.addresses)) for r in gone] == [
        ("scan", "local/braket_sv", ["scan[theta=0.2]", "scan[theta=0.3]"])
    ]
    assert sorted(reason for _, _, reason in gone[0].items()) == [
        "queued, no longer in the sweep",
        "succeeded, no longer in the sweep",
    ]


def test_removed_job_is_forgotten(write: Callable[..., Path], store: SqliteStore) -> None:
    more = "  extra:\n    target: local/braket_sv\n    program: bell\n    shots: 5\n"
    stack = manifest(write, more=more)
    record(store, stack, {"extra": DONE})
    plan = make_plan(manifest(write), store.snapshot("study"))
    assert actions(plan)["extra"] is Action.FORGET
    (gone,) = [r for r in plan.resources if r.kind == "gone"]
    assert (gone.name, gone.target) == ("extra", "")
    assert list(gone.items()) == [("extra", Action.FORGET, "succeeded, no longer in the manifest")]


def test_sessions_open_when_members_must_run(
    write: Callable[..., Path], store: SqliteStore
) -> None:
    more = "  member:\n    session: s\n    program: bell\n    shots: 5\n"
    stack = manifest(write, more=more)
    plan = make_plan(stack, store.snapshot(stack.name))
    assert actions(plan)["session.s"] is Action.CREATE
    fp = session_fingerprint("local/braket_sv", "continue")
    session_row = dict(
        kind="session",
        job="s",
        fingerprint=fp,
        attempt=1,
        provider="local",
        target="local/braket_sv",
    )
    store.apply(stack.name, [Transition("session.s", S.SUBMITTING, **session_row)])  # type: ignore[arg-type]
    store.apply(stack.name, [Transition("session.s", S.QUEUED)])
    assert actions(make_plan(stack, store.snapshot(stack.name)))["session.s"] is Action.WAIT
    record(store, stack, {"member": DONE})
    store.apply(stack.name, [Transition("session.s", S.SUCCEEDED)])
    assert actions(make_plan(stack, store.snapshot(stack.name)))["session.s"] is Action.NOOP


def test_saved_plan_is_refused_when_state_or_manifest_moved(
    write: Callable[..., Path], store: SqliteStore, tmp_path: Path
) -> None:
    stack = manifest(write)
    path = tmp_path / "plan.json.gz"
    save_plan(make_plan(stack, store.snapshot(stack.name)), path)
    saved = load_plan(path)
    check_current(saved, make_plan(stack, store.snapshot(stack.name)), path)  # still current
    record(store, stack, {"bell": (S.SUBMITTING,)})
    with pytest.raises(StalePlan, match=r"state of stack study changed .* \(serial 0, now 1\)"):
        check_current(saved, make_plan(stack, store.snapshot(stack.name)), path)
    fresh = tmp_path / "fresh.json"
    save_plan(make_plan(stack, store.snapshot(stack.name)), fresh)
    edited = manifest(write, thetas="[0.1, 0.2, 0.3, 0.4, 0.5]")
    with pytest.raises(StalePlan, match="the manifest, its programs or its variables changed"):
        check_current(load_plan(fresh), make_plan(edited, store.snapshot(edited.name)), fresh)


def test_state_is_read_in_bulk(write: Callable[..., Path], store: SqliteStore) -> None:
    counts = []
    for n in (10, 1000):
        stack = manifest(write, thetas=f"{{linspace: [0, 1, {n}]}}")
        record(
            store, stack, {a: (S.SUBMITTING,) for a in list(stack.jobs["scan"].addresses())[-20:]}
        )
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        make_plan(stack, store.snapshot(stack.name))
        store._conn.set_trace_callback(None)
        counts.append(len(statements))
    assert counts[0] == counts[1]  # the same few queries, whatever the number of rows
