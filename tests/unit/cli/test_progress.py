"""Progress as printed in logs (not a terminal): what a CI log shows of a long apply."""

from __future__ import annotations

import pytest

from qplan.cli.views.progress import PlainSink
from qplan.executor import Event
from qplan.planner import Action, Plan, ResourcePlan


def plan_of(points: int) -> Plan:
    resource = ResourcePlan("scan", "job", "local/braket_sv")
    for i in range(points):
        resource.add(f"scan[i={i}]", Action.CREATE, "")
    return Plan("s", "qplan.yaml", 0, "", [resource])


def test_a_large_apply_prints_its_progress_counts_and_each_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = PlainSink(plan_of(300))
    for i in range(300):
        sink.emit(Event("submitted", 0.0, "scan", f"scan[i={i}]", "local-x"))
    sink.emit(Event("progress", 10.0, counts={"queued": 250, "running": 2, "succeeded": 48}))
    sink.emit(Event("failed", 11.0, "scan", "scan[i=7]", "RuntimeError: boom"))
    sink.emit(Event("progress", 20.0, counts={"succeeded": 299, "failed": 1}))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "1970-01-01T00:00:10Z progress: 48 succeeded, 2 running, 250 queued (of 300)",
        "1970-01-01T00:00:11Z failed         scan[i=7] (RuntimeError: boom)",
        "1970-01-01T00:00:20Z progress: 299 succeeded, 1 failed (of 300)",
    ]
