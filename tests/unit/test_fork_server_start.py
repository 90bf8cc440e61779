"""An apply starts the local fork server (about two seconds of imports in the background,
holding the terminal's streams) only when its plan may run something locally."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import qplan
from qplan.jobstatus import JobStatus
from qplan.operations.running import _runs_locally
from qplan.planner import JobFingerprinter, make_plan
from qplan.state import SqliteStore, Transition

MANIFEST = """\
version: 1
stack: ex
providers:
  sim: {type: local}
programs:
  bell:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      qubit[2] q;
      h q[0];
      cnot q[0], q[1];
jobs:
  bell:
    target: sim/braket_sv
    program: bell
    shots: 10
"""


def test_only_a_plan_with_local_work_starts_the_fork_server(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    stack = qplan.load(write(MANIFEST))
    store = SqliteStore(tmp_path / "state.db")
    fingerprint = JobFingerprinter(stack.jobs["bell"])("bell")

    def plan_after(*statuses: JobStatus) -> bool:
        for status in statuses:
            row = Transition(
                "bell",
                status,
                kind="job",
                job="bell",
                fingerprint=fingerprint,
                attempt=1,
                provider="sim",
                target="sim/braket_sv",
            )
            store.apply("ex", [row])
        return _runs_locally(stack, make_plan(stack, store.snapshot("ex")))

    assert plan_after()  # create
    assert plan_after(JobStatus.SUBMITTING, JobStatus.QUEUED)  # in flight: may run again
    assert not plan_after(JobStatus.RUNNING, JobStatus.SUCCEEDED)  # a no-op
