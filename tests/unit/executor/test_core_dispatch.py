"""What a dispatch carries to its provider from the job: the program's entry operation and
the target's input parameters, alongside the members' inputs."""

from __future__ import annotations

from qplan.executor.commands import Send
from qplan.executor.sending import dispatch_units
from qplan.manifest.hybrid import HybridSpec
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


def test_a_hybrid_dispatch_carries_its_spec_its_entry_point_and_no_shots() -> None:
    spec = HybridSpec("vqe.algorithm:main", max_runtime=60.0)
    hybrid = job(
        "h2",
        format="braket.hybrid",
        program=b"archive",
        shots=0,
        entry="vqe.algorithm:main",
        inputs={"iterations": 20},
        hybrid=spec,
    )
    waiting = instance("h2[bond=0.5]", "h2", point={"bond": 0.5})
    decided = dispatch_units(view([waiting], [hybrid]), [[waiting]], NOW)
    (send,) = [c for c in decided.commands if isinstance(c, Send)]
    assert send.dispatch.hybrid == spec
    assert (send.dispatch.shots, send.dispatch.entry) == (0, "vqe.algorithm:main")
    assert send.dispatch.program == b"archive"
    assert send.dispatch.members[0].inputs == {"iterations": 20, "bond": 0.5}


def test_other_dispatches_carry_no_hybrid_spec() -> None:
    waiting = instance("scan")
    decided = dispatch_units(view([waiting]), [[waiting]], NOW)
    (send,) = [c for c in decided.commands if isinstance(c, Send)]
    assert send.dispatch.hybrid is None and send.dispatch.shots == 10
