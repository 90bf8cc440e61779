"""What a dispatch carries to its provider from the job: the program's entry operation and
the target's input parameters, alongside the members' inputs."""

from __future__ import annotations

from qplan.executor.commands import Send
from qplan.executor.sending import dispatch_units
from tests.unit.executor.views import NOW, instance, job, view


def test_a_dispatch_carries_the_entry_and_the_target_params() -> None:
    qsharp = job(
        "scan",
        format="qsharp",
        entry="Sweep.Run",
        params={"noise": {"model": "aria-1"}},
        inputs={"n": 3},
    )
    waiting = instance("scan[theta=0.5]", point={"theta": 0.5})
    decided = dispatch_units(view([waiting], [qsharp]), [[waiting]], NOW)
    (send,) = [c for c in decided.commands if isinstance(c, Send)]
    assert send.dispatch.entry == "Sweep.Run"
    assert send.dispatch.params == {"noise": {"model": "aria-1"}}
    assert send.dispatch.members[0].inputs == {"n": 3, "theta": 0.5}


def test_a_job_without_them_sends_none() -> None:
    waiting = instance("scan")
    decided = dispatch_units(view([waiting]), [[waiting]], NOW)
    (send,) = [c for c in decided.commands if isinstance(c, Send)]
    assert send.dispatch.entry is None
    assert send.dispatch.params == {}
