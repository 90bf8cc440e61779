"""GitOps on the Braket emulator, through the real SDK: ``plan --refresh`` sees a task
cancelled outside qplan, and a budget refuses a sweep priced from the shipped table."""

from __future__ import annotations

import json
from pathlib import Path

from qplan.providers.braket import _tag
from tests.e2e.test_braket_cli import POINTS, Folder, creates, tasks
from tests.emulators.braket.fixture import BraketEmulatorEnv


def test_plan_refresh_sees_a_task_cancelled_out_of_band(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder = Folder(tmp_path, env)
    env.config.update(queue_time=60.0)
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    # someone cancels one task in the console, or with the SDK: qplan is not told
    tag = _tag("rabi[theta=0.0]")
    task = next(t for t in tasks(env) if t["tags"]["qplan-address"] == tag)
    env.braket_client().cancel_quantum_task(
        quantumTaskArn=task["quantumTaskArn"], clientToken="out-of-band"
    )
    assert env.emulator.wait_for_status(task["quantumTaskArn"]) == "CANCELLED"

    stale = folder.qplan("plan", "qplan.yaml", "--detailed-exitcode")
    assert stale.returncode == 0, stale.stdout + stale.stderr  # the state still says queued
    assert f"{POINTS} in flight" in stale.stdout
    refreshed = folder.qplan(
        "plan", "qplan.yaml", "--refresh", "--detailed-exitcode", "--format", "json"
    )
    assert refreshed.returncode == 2, refreshed.stdout + refreshed.stderr
    (job,) = json.loads(refreshed.stdout)["resources"]
    actions = {i["address"]: (i["action"], i["reason"]) for i in job["instances"]}
    # a cancel qplan did not ask for fails the attempt; attempts are left: a retry
    assert actions["rabi[theta=0.0]"] == ("retry", "failed, attempt 1 of 3")
    assert sum(a == "wait" for a, _ in actions.values()) == POINTS - 1
    status = json.loads(folder.qplan("status", "qplan.yaml", "rabi[theta=0.0]", "--json").stdout)
    (row,) = status["resources"]
    assert (row["status"], row["error"]) == ("failed", "cancelled at the provider")
    assert folder.qplan("cancel", "qplan.yaml").returncode == 0


def test_a_budget_refuses_the_braket_sweep_before_any_task(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder = Folder.example("braket-sweep", tmp_path, env)
    planned = folder.qplan("plan", "qplan.yaml", "--format", "json")
    assert planned.returncode == 0, planned.stderr
    cost = json.loads(planned.stdout)["cost"]
    assert cost["currency"] == "USD" and cost["total"] > 0
    budget = f"{cost['total'] / 2:.2f}"
    refused = folder.apply("--budget", budget)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"exceeds the budget of {budget} USD" in refused.stderr
    assert creates(env) == 0 and folder.rows() == {}
