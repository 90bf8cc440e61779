"""Targeted plans: what a target keeps (it and what it needs) and what it leaves out."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import qplan
from qplan.errors import UsageError
from qplan.jobstatus import JobStatus
from qplan.manifest import Stack
from qplan.planner import Action, make_plan
from qplan.planner.plan import Plan
from qplan.planner.selection import select
from qplan.state import Snapshot

MANIFEST = """\
version: 1
stack: study
programs:
  bell: {format: openqasm3, source: "OPENQASM 3.0; qubit[2] q; h q[0];"}
  ry:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      qubit q;
      ry(theta) q;
sessions:
  s: {target: local/braket_sv, on_job_failure: continue}
jobs:
  cal: {target: local/braket_sv, program: bell, shots: 10}
  scan:
    target: local/braket_sv
    program: ry
    shots: 10
    after: [cal]
    sweep: {grid: {theta: [0.0, 1.0, 2.0]}}
  other: {target: local/braket_sv, program: bell, shots: 10, session: s}
  last: {target: local/braket_sv, program: bell, shots: 10, after: [scan]}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    path = tmp_path / "qplan.yaml"
    path.write_text(MANIFEST)
    return qplan.load(path)


def planned(stack: Stack) -> Plan:
    return make_plan(stack, Snapshot(stack.name, 0, {}))


def kept(plan: Plan) -> dict[str, Action]:
    return {a: action for r in plan.resources for a, action, _ in r.items()}


def test_a_job_brings_what_it_comes_after_and_nothing_else(stack: Stack) -> None:
    plan = select(stack, planned(stack), ["scan"])
    assert set(kept(plan)) == {"cal", "scan[theta=0.0]", "scan[theta=1.0]", "scan[theta=2.0]"}
    assert plan.targets == ("scan",)
    # other, last and the session are left out; session.s would have been created
    assert plan.left_out == {Action.CREATE: 3}
    assert plan.counts[Action.CREATE] == 4


def test_one_point_keeps_only_that_point_and_the_jobs_before_it(stack: Stack) -> None:
    plan = select(stack, planned(stack), ["scan[theta=1.0]"])
    assert set(kept(plan)) == {"cal", "scan[theta=1.0]"}


def test_a_job_needed_by_a_target_is_kept_whole_even_if_a_point_was_named(stack: Stack) -> None:
    plan = select(stack, planned(stack), ["scan[theta=1.0]", "last"])
    assert Counter(a.partition("[")[0] for a in kept(plan)) == {"cal": 1, "scan": 3, "last": 1}


def test_a_job_in_a_session_brings_its_session(stack: Stack) -> None:
    plan = select(stack, planned(stack), ["other"])
    assert kept(plan) == {"session.s": Action.CREATE, "other": Action.CREATE}
    by_session = select(stack, planned(stack), ["session.s"])
    assert kept(by_session) == kept(plan)


def test_an_unknown_target_is_a_usage_error_not_an_empty_plan(stack: Stack) -> None:
    with pytest.raises(UsageError, match=r"no job, instance or session named scan\[theta=0.5\]"):
        select(stack, planned(stack), ["scan[theta=0.5]"])
    with pytest.raises(UsageError, match="named nope"):
        select(stack, planned(stack), ["nope"])
    with pytest.raises(UsageError, match="named s "):  # a session is named session.s
        select(stack, planned(stack), ["s"])


def test_rows_gone_from_the_manifest_are_named_by_job_or_address(stack: Stack) -> None:
    from qplan.state import RowState

    rows = {
        "old": RowState(JobStatus.SUCCEEDED, "fp", 1, "job"),
        "session.gone": RowState(JobStatus.SUCCEEDED, "fp", 1, "session"),
    }
    plan = make_plan(stack, Snapshot(stack.name, 3, rows))
    assert kept(select(stack, plan, ["old"])) == {"old": Action.FORGET}
    rows["old[x=1.0]"] = RowState(JobStatus.SUCCEEDED, "fp", 1, "job")  # a removed sweep's
    plan = make_plan(stack, Snapshot(stack.name, 4, rows))
    assert kept(select(stack, plan, ["old[x=1.0]"])) == {"old[x=1.0]": Action.FORGET}
    assert kept(select(stack, plan, ["session.gone"])) == {"session.gone": Action.FORGET}
    with pytest.raises(UsageError, match="named gone"):
        select(stack, plan, ["gone"])


def test_no_target_is_the_whole_plan(stack: Stack) -> None:
    whole = planned(stack)
    assert select(stack, whole, []) is whole
