"""GitOps on the local provider, end to end: targeted applies, the lock file written by
apply and checked by ``qplan lock --check``, and the budget guard."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import copy_example
from tests.e2e.stacks import Stack

ROTATIONS = [f"rotation[theta={t}]" for t in ("0.0", "0.785398163397448", "1.5707963267949")]


def quickstart(tmp_path: Path) -> Stack:
    return Stack(copy_example("quickstart", tmp_path / "quickstart"))


def test_a_targeted_apply_runs_the_target_and_what_it_needs_only(tmp_path: Path) -> None:
    stack = quickstart(tmp_path)
    planned = stack.qplan("plan", "qplan.yaml", "--target", "bell", "--out", "bell.plan")
    assert planned.returncode == 0, planned.stderr
    assert "Targeted at bell and what they need: 5 instances left out, 5 of them" in planned.stdout
    applied = stack.qplan("apply", "bell.plan")  # a saved plan keeps its targets
    assert applied.returncode == 0, applied.stderr
    assert stack.count("start") == {"bell": 1}
    assert set(stack.rows()) == {"bell"}

    point = ROTATIONS[1]
    one = stack.qplan("apply", "qplan.yaml", "--target", point)
    assert one.returncode == 0, one.stderr
    assert stack.count("start") == {"bell": 1, point: 1}  # bell is done: not run again

    rest = stack.qplan("apply", "qplan.yaml")
    assert rest.returncode == 0, rest.stderr
    counts = stack.count("start")
    assert len(counts) == 6 and set(counts.values()) == {1}

    typo = stack.qplan("apply", "qplan.yaml", "--target", "rotation[theta=9]")
    assert typo.returncode == 64
    assert "no job, instance or session named rotation[theta=9]" in typo.stderr
    both = stack.qplan("apply", "bell.plan", "--target", "bell")
    assert both.returncode == 64 and "a saved plan keeps the targets" in both.stderr


def test_the_lock_file_records_the_apply_and_check_fails_after_a_manual_change(
    tmp_path: Path,
) -> None:
    stack = quickstart(tmp_path)
    assert stack.qplan("apply", "qplan.yaml").returncode == 0
    lock = stack.folder / "qplan.lock"
    data = json.loads(lock.read_text())
    assert data["stack"] == "quickstart"
    entries = data["instances"]
    assert [e["address"] for e in entries] == sorted(e["address"] for e in entries)
    assert len(entries) == 6
    assert {e["status"] for e in entries} == {"succeeded"}
    assert all(e["provider_job_id"] and e["result"] and e["finished_at"] for e in entries)
    checked = stack.qplan("lock", "qplan.yaml", "--check")
    assert checked.returncode == 0 and "matches the state" in checked.stdout
    before = lock.read_bytes()
    again = stack.qplan("apply", "qplan.yaml")
    assert again.returncode == 0 and lock.read_bytes() == before  # a no-op changes nothing

    # someone changes the state by hand: pull, edit, push --force
    assert stack.qplan("state", "pull", "qplan.yaml", "--out", "state.json").returncode == 0
    document = json.loads((stack.folder / "state.json").read_text())
    row = next(r for r in document["rows"] if r["address"] == "bell")
    row["provider_job_id"] = "edited-by-hand"
    (stack.folder / "state.json").write_text(json.dumps(document))
    pushed = stack.qplan("state", "push", "qplan.yaml", "state.json", "--force")
    assert pushed.returncode == 0, pushed.stderr

    failed = stack.qplan("lock", "qplan.yaml", "--check")
    assert failed.returncode == 1
    assert "1 instance recorded differently (status, job id, result or fingerprint): bell" in (
        failed.stderr
    )
    plan = stack.qplan("plan", "qplan.yaml")
    assert plan.returncode == 0
    assert "Warning: qplan.lock does not match the state" in plan.stdout
    assert stack.qplan("lock", "qplan.yaml").returncode == 0
    assert stack.qplan("lock", "qplan.yaml", "--check").returncode == 0
    assert "edited-by-hand" in lock.read_text()


def test_a_budget_refuses_an_apply_that_would_cost_more(tmp_path: Path) -> None:
    """Local runs are free; a pricing file that charges for them makes the guard bite."""
    stack = quickstart(tmp_path)
    (stack.folder / "prices.yaml").write_text("local/braket_sv: {per_task: 0.5, per_shot: 0.01}\n")
    priced = ("--pricing", "prices.yaml")
    planned = stack.qplan("plan", "qplan.yaml", *priced, "--budget", "5")
    assert planned.returncode == 0, planned.stderr
    # 6 tasks x 0.50 + 600 shots x 0.01 = 9.00
    assert "Estimated cost: 9.00 USD, over the budget of 5.00 USD" in planned.stdout
    refused = stack.qplan("apply", "qplan.yaml", *priced, "--budget", "5")  # no terminal here
    assert refused.returncode == 1
    assert "apply refused, nothing was submitted" in refused.stderr
    assert "exceeds the budget of 5.00 USD" in refused.stderr
    assert stack.runs() == [] and stack.rows() == {}
    within = stack.qplan("apply", "qplan.yaml", *priced, "--budget", "9")
    assert within.returncode == 0, within.stderr
    assert len(stack.runs()) == 6
