"""The local provider's runs, seen from outside: processes, timeouts, crashes. Runs are
audited with the run journal, and processes found by an environment tag their children
inherit (see stacks and processes)."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RY_CNOT, RY_PROGRAM, ry_program
from tests.e2e.processes import kill_tagged, new_tag, tagged, wait_gone
from tests.e2e.stacks import Stack


@pytest.fixture
def tag() -> Iterator[str]:
    value = new_tag()
    yield value
    kill_tagged(value)


HANGING = f"""\
version: 1
stack: hanging
providers:
  local:
    type: local
    workers: 2
    faults:
      - {{match: "hanging[*]", mode: hang}}
{RY_PROGRAM}jobs:  # sent in name order: the hanging runs first
  hanging:
    target: local/braket_sv
    program: ry
    shots: 10
    sweep: {{grid: {{theta: [0.1, 0.2, 0.3, 0.4]}}}}
    timeout: 3s
    on_failure: continue
  quick:
    target: local/braket_sv
    program: ry
    shots: 10
    sweep: {{grid: {{theta: {{linspace: [0, 1, 16]}}}}}}
    timeout: 3s
"""


def test_sigkill_of_the_apply_alone_ends_every_process_it_started(tmp_path: Path, tag: str) -> None:
    folder = Stack.write(tmp_path / "f", HANGING, tag)
    apply = folder.start("apply", "qplan.yaml")
    try:
        folder.wait_for("start", 2)  # both workers busy with a hanging run
        assert len(tagged(tag)) >= 4  # qplan, the fork server, two workers (and a tracker)
        os.kill(apply.pid, signal.SIGKILL)  # only qplan itself, not its process group
        apply.wait()
        assert wait_gone(tag, 2.0) == []
    finally:
        apply.kill()
        apply.wait()


def test_a_timeout_counts_from_the_start_of_a_run_not_from_the_queue(
    tmp_path: Path, tag: str
) -> None:
    # two workers, four runs that hang first: the sixteen others wait behind them in
    # qplan's own queue for about six seconds, twice their timeout, and must not fail
    folder = Stack.write(tmp_path / "f", HANGING, tag)
    result = folder.qplan("apply", "qplan.yaml", "--json")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    rows = {a: (status, error) for a, (status, _, error) in folder.rows().items()}
    assert {a: r for a, r in rows.items() if a.startswith("quick")} == {
        a: ("succeeded", None) for a in rows if a.startswith("quick")
    }
    assert len(rows) == 20
    assert {r for a, r in rows.items() if a.startswith("hanging")} == {
        ("failed", "timed out after 3s")
    }
    # one outcome per instance, and the events say what the state says
    outcomes: dict[str, list[str]] = {}
    for event in events:
        if event["event"] in ("succeeded", "failed"):
            outcomes.setdefault(event["address"], []).append(event["event"])
    assert outcomes == {a: [status] for a, (status, _) in rows.items()}
    assert result.returncode == 1  # four instances failed


CRASH = f"""\
version: 1
stack: crash
providers:
  local: {{type: local, workers: 2}}
{ry_program(RY_CNOT)}jobs:
  scan:
    target: local/braket_sv
    program: ry
    shots: 50
    sweep: {{grid: {{theta: {{linspace: [0, 3.14159, 40]}}}}}}
"""


OTHER = """\
  tail:
    target: local/braket_sv
    program: ry
    shots: 10
    inputs: {theta: 0.5}
"""


@pytest.mark.parametrize("targeted_first", [False, True], ids=["resume", "targeted-then-resume"])
def test_runs_that_finished_before_a_crash_are_recorded_not_run_again(
    tmp_path: Path, tag: str, targeted_first: bool
) -> None:
    """Also when an apply targeted at another job comes first: it leaves the crashed
    job's kept results alone for the apply that resumes it."""
    folder = Stack.write(tmp_path / "f", CRASH + (OTHER if targeted_first else ""), tag)
    apply = folder.start("apply", "qplan.yaml")
    try:
        folder.wait_for("end", 3)
        os.kill(apply.pid, signal.SIGSTOP)  # qplan stops reading results; workers go on
        ended = sum(folder.count("end").values())
        folder.wait_for("end", ended + 2)  # runs that finish while qplan cannot record them
        os.kill(apply.pid, signal.SIGKILL)
        apply.wait()
        assert wait_gone(tag, 2.0) == []
    finally:
        apply.kill()
        apply.wait()
    finished = set(folder.count("end"))
    if targeted_first:
        finished.discard("tail")
        other = folder.qplan("apply", "qplan.yaml", "--target", "tail")
        assert other.returncode == 0, other.stdout + other.stderr
        assert folder.count("end")["tail"] == 1
        assert set(folder.count("end")) - {"tail"} == finished  # nothing of scan ran
    resumed = folder.qplan("apply", "qplan.yaml")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert {s for s, _, _ in folder.rows().values()} == {"succeeded"}
    ends = folder.count("end")
    ends.pop("tail", None)
    assert len(ends) == 40
    assert {a: n for a, n in ends.items() if n > 1} == {}  # no finished run ran again
    assert finished <= set(ends)
    kept = folder.folder / ".qplan" / "stacks" / "crash" / "local-runs"
    assert not any(kept.iterdir())  # kept results released, a killed writer's part removed


def test_plan_and_apply_count_a_resume_with_the_same_words(tmp_path: Path, tag: str) -> None:
    folder = Stack.write(tmp_path / "f", CRASH, tag)
    apply = folder.start("apply", "qplan.yaml", "--parallelism", "6")
    try:
        folder.wait_for("end", 5)
        os.kill(apply.pid, signal.SIGKILL)  # rows left in flight, others not yet sent
        apply.wait()
        assert wait_gone(tag, 2.0) == []
    finally:
        apply.kill()
        apply.wait()
    (plan,) = [
        line for line in folder.qplan("plan", "qplan.yaml").stdout.splitlines() if "Plan: " in line
    ]
    tally = re.fullmatch(
        r"Plan: (\d+) to create, 0 to retry, 0 to replace, 0 to cancel, 0 to forget; "
        r"(\d+) unchanged, (\d+) in flight\.",
        plan,
    )
    assert tally is not None, plan
    create, unchanged, in_flight = map(int, tally.groups())
    assert create > 0 and in_flight > 0, plan
    resumed = folder.qplan("apply", "qplan.yaml")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1] == (
        f"Apply complete: {create} created, {in_flight} in flight; {create + in_flight} succeeded."
    )
    assert unchanged + create + in_flight == 40
