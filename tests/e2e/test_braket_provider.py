"""The Braket provider object itself (no CLI), through the real SDK against the emulator: how
many calls its bulk observation makes when the service holds many finished tasks."""

from __future__ import annotations

import time

from qplan.jobstatus import JobStatus
from qplan.manifest.models import BraketProvider as BraketConfig
from qplan.providers import Dispatch, Member
from qplan.providers.braket import BraketTaskProvider
from tests.emulators.braket.fixture import BraketEmulatorEnv

PROGRAM = "OPENQASM 3.0;\ninput float theta;\nqubit q;\nbit c;\nry(theta) q;\nc = measure q;\n"


def submit(provider: BraketTaskProvider, n: int, start: int) -> list[str]:
    return [
        provider.submit(
            Dispatch(
                key=f"{i:048x}",
                stack="obs",
                device="sv1",
                format="openqasm3",
                program=PROGRAM,
                shots=10,
                members=(Member(f"scan[i={i}]", "f" * 16, 1, {"theta": 0.1}),),
            )
        ).ref
        for i in range(start, start + n)
    ]


def searches(env: BraketEmulatorEnv) -> int:
    return env.calls.counts().get("SearchQuantumTasks", 0)


def test_an_old_task_in_flight_among_many_finished_costs_one_call(
    braket_emulator: BraketEmulatorEnv,
) -> None:
    env = braket_emulator
    config = BraketConfig(type="braket", region="us-east-1", s3_bucket=env.bucket, s3_prefix="t")
    provider = BraketTaskProvider("aws", config)
    env.config.update(queue_time=120.0)
    (straggler,) = submit(provider, 1, 0)
    env.config.update(queue_time=0.0)
    quick = submit(provider, 150, 1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(env.emulator.task(a)["status"] == "COMPLETED" for a in quick):
            break
        time.sleep(0.2)
    first = searches(env)
    seen = provider.observe([straggler, *quick])
    assert seen[straggler].status is JobStatus.QUEUED
    assert {seen[a].status for a in quick} == {JobStatus.SUCCEEDED}
    # 151 watched tasks, 151 in the window: the window's two pages
    assert searches(env) - first == 2
    env.config.update(queue_time=120.0)
    recent = submit(provider, 5, 151)
    before = searches(env)
    seen = provider.observe([straggler, *recent])
    assert {o.status for o in seen.values()} == {JobStatus.QUEUED} and len(seen) == 6
    # 156 tasks since the straggler: the window would take 2 pages; in flight, 6 take one
    assert searches(env) - before == 1
    provider.cancel(recent)  # the five end (cancelled); the straggler still waits
    before = searches(env)
    seen = provider.observe([straggler, *recent])
    assert seen[straggler].status is JobStatus.QUEUED
    assert {seen[a].status for a in recent} == {JobStatus.CANCELLED}
    # the one still in flight (1 page), then the five just ended, by their own window
    assert searches(env) - before == 2


def test_a_failed_program_set_reads_its_reason_once_and_waits_out_a_throttle(
    braket_emulator: BraketEmulatorEnv,
) -> None:
    """A failed ProgramSet task of N members costs one GetQuantumTask for its reason, not
    N; and a throttled GetQuantumTask leaves the members to the next poll instead of
    failing them with no reason."""
    env = braket_emulator
    config = BraketConfig(type="braket", region="us-east-1", s3_bucket=env.bucket, s3_prefix="t")
    provider = BraketTaskProvider("aws", config)
    key = "f" * 48
    env.config.update(fail_task_tags={"qplan-key": key}, fail_task_reason="device on fire")
    members = tuple(Member(f"scan[i={i}]", "f" * 16, 1, {"theta": 0.1 * i}) for i in range(4))
    receipt = provider.submit(
        Dispatch(key, "obs", "sv1", "openqasm3", PROGRAM, 10, members=members)
    )
    deadline = time.monotonic() + 60
    while env.emulator.task(receipt.ref)["status"] != "FAILED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    env.faults.throttle(operations=["GetQuantumTask"], next=1)
    throttled = provider.observe(list(receipt.member_ids))
    assert throttled == {}  # no reason readable now: asked again next poll
    before = env.calls.counts().get("GetQuantumTask", 0)
    seen = provider.observe(list(receipt.member_ids))
    assert env.calls.counts().get("GetQuantumTask", 0) - before == 1  # one for four members
    assert {(o.status, o.error) for o in seen.values()} == {(JobStatus.FAILED, "device on fire")}
