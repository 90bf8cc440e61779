"""`qplan apply` end to end through the command line, on the real local provider.

Submissions are counted with the local provider's run journal (QPLAN_LOCAL_JOURNAL), an
independent record written by the worker processes themselves. The tests taking
``state_backend`` run on SQLite and on PostgreSQL; the others on SQLite.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RY_PROGRAM, copy_example
from tests.e2e.stacks import Stack


@pytest.fixture
def quickstart(tmp_path: Path) -> Stack:
    copy_example("quickstart", tmp_path / "q")
    return Stack(tmp_path / "q")


@pytest.fixture
def quickstart_on(tmp_path: Path, state_backend: str | None) -> Stack:
    """The quickstart with its state on each backend in turn."""
    copy_example("quickstart", tmp_path / "q")
    return Stack(tmp_path / "q", state=state_backend)


def write(tmp_path: Path, text: str) -> Stack:
    return Stack.write(tmp_path / "s", text)


def test_apply_then_reapply_submits_nothing(quickstart_on: Stack) -> None:
    quickstart = quickstart_on
    first = quickstart.qplan("apply", "qplan.yaml")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "Apply complete: 6 created; 6 succeeded."
    assert len(quickstart.runs()) == 6
    again = quickstart.qplan("apply", "qplan.yaml")
    assert again.returncode == 0, again.stderr
    assert "No changes: the state matches the manifest (6 resources)." in again.stdout
    assert len(quickstart.runs()) == 6  # zero runs: nothing submitted again
    results = json.loads(quickstart.qplan("results", "qplan.yaml", "--format", "json").stdout)
    assert [r["address"] for r in results][:2] == ["bell", "rotation[theta=0.0]"]
    assert set(results[0]["counts"]) <= {"00", "11"} and sum(results[0]["counts"].values()) == 100
    assert results[1]["counts"] == {"0": 100}  # ry(0) leaves |0>


def test_an_example_applied_in_place_does_not_leak_its_state_into_tests(tmp_path: Path) -> None:
    # the README's first command applies the quickstart where it stands, leaving its state
    # in examples/quickstart/.qplan; the tests' copies of the example must not carry it
    examples = tmp_path / "examples"
    in_place = Stack(copy_example("quickstart", examples / "quickstart"))
    assert in_place.qplan("apply", "qplan.yaml").returncode == 0
    assert (examples / "quickstart" / ".qplan" / "state.db").exists()
    copy = Stack(copy_example("quickstart", tmp_path / "copy", examples=examples))
    result = copy.qplan("apply", "qplan.yaml")
    assert result.returncode == 0, result.stderr
    assert "6 to create" in result.stdout
    assert len(copy.runs()) == 6


def test_editing_one_program_replaces_only_its_points(quickstart: Stack) -> None:
    assert quickstart.qplan("apply", "qplan.yaml").returncode == 0
    manifest = quickstart.folder / "qplan.yaml"
    manifest.write_text(manifest.read_text().replace("ry(theta) q;", "rx(theta) q;"))
    plan = quickstart.qplan("plan", "qplan.yaml")
    assert "-/+ job     rotation  local/braket_sv  5 to replace" in plan.stdout
    result = quickstart.qplan("apply", "qplan.yaml")
    assert result.returncode == 0, result.stderr
    replaced = [r["address"] for r in quickstart.runs()[6:]]
    assert sorted(replaced) == sorted(a for a in quickstart.rows() if a.startswith("rotation"))
    assert "bell" not in replaced


def test_pulser_example_runs_on_the_local_emulator(tmp_path: Path) -> None:
    copy_example("pasqal-batch", tmp_path / "p")
    stack = Stack(tmp_path / "p")
    result = stack.qplan("apply", "qplan.yaml", "--var", "target=local/qutip")
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(
        stack.qplan(
            "results", "qplan.yaml", "--var", "target=local/qutip", "--format", "json"
        ).stdout
    )
    assert [r["point"]["omega_max"] for r in results] == [9.5, 10.0, 10.5]
    assert all(sum(r["counts"].values()) == 50 for r in results)
    assert all(len(k) == 3 for r in results for k in r["counts"])  # three atoms


FAULTY = """\
version: 1
stack: faults
providers:
  local:
    type: local
    faults:
{faults}
{programs}{sessions}
jobs:
  scan:
    target: local/braket_sv
    program: ry
    shots: 20
    sweep: {{grid: {{theta: [0.1, 0.2, 0.3]}}}}
{scan}
  after-scan:
    target: local/braket_sv
    program: ry
    shots: 20
    inputs: {{theta: 1.0}}
    after: [scan]
{after}
"""


def faulty(
    tmp_path: Path, faults: str, scan: str = "", after: str = "", sessions: str = ""
) -> Stack:
    text = FAULTY.format(
        faults=faults, programs=RY_PROGRAM, scan=scan, after=after, sessions=sessions
    )
    return Stack.write(tmp_path / "f", text)


def test_retry_then_success(tmp_path: Path) -> None:
    stack = faulty(
        tmp_path,
        "      - {match: 'scan[theta=0.2]', mode: fail, attempts: [1, 2]}",
        scan="    retry: {attempts: 3, backoff: 100ms}",
    )
    result = stack.qplan("apply", "qplan.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stack.rows()["scan[theta=0.2]"][:2] == ("succeeded", 3)
    assert (
        "retrying       scan[theta=0.2] (attempt 1 failed: RuntimeError: injected failure"
        in result.stdout
    )
    assert "Apply complete: 4 created; 4 succeeded (2 failed attempts run again)." in result.stdout


def test_retries_exhausted_fail_and_skip_dependents(tmp_path: Path) -> None:
    stack = faulty(
        tmp_path,
        "      - {match: 'scan[theta=0.3]', mode: fail}",
        scan="    retry: {attempts: 2, backoff: 50ms}",
    )
    result = stack.qplan("apply", "qplan.yaml")
    assert result.returncode == 1
    assert (
        "failed  scan[theta=0.3]: RuntimeError: injected failure (local provider faults)"
        in result.stderr
    )
    assert "Apply failed" in result.stderr
    assert "after-scan" not in stack.rows()  # never submitted
    assert "Traceback" not in result.stderr
    again = stack.qplan("plan", "qplan.yaml", "-v")
    assert "(failed, all 2 attempts used)" in again.stdout


def test_on_failure_continue_skips_dependents_with_the_reason(tmp_path: Path) -> None:
    stack = faulty(
        tmp_path, "      - {match: 'scan[theta=0.1]', mode: fail}", scan="    on_failure: continue"
    )
    result = stack.qplan("apply", "qplan.yaml")
    # `continue` lets other work go on, but an apply with a failed instance failed
    assert result.returncode == 1, result.stderr
    assert "skipped after-scan: skipped: a job it runs after (scan) failed" in result.stderr
    assert "Apply finished with 1 failed instance (" in result.stderr
    assert stack.rows()["scan[theta=0.2]"][0] == "succeeded"


def test_timeout_cancels_a_hanging_run(tmp_path: Path) -> None:
    stack = faulty(
        tmp_path,
        "      - {match: 'scan[theta=0.2]', mode: hang}",
        scan="    timeout: 2s\n    on_failure: continue",
    )
    started = time.monotonic()
    result = stack.qplan("apply", "qplan.yaml")
    assert time.monotonic() - started < 60
    assert stack.rows()["scan[theta=0.2]"] == ("failed", 1, "timed out after 2s")
    assert result.returncode == 1


SESSION = """\
sessions:
  group: {{target: local/braket_sv, on_job_failure: {policy}}}
"""


def test_abort_session_cancels_the_rest(tmp_path: Path) -> None:
    stack = faulty(
        tmp_path,
        "      - {match: 'scan[theta=0.1]', mode: fail}\n      - {match: 'scan[*]', mode: hang}",
        scan="    session: group\n    on_failure: continue",
        after="    session: group",
        sessions=SESSION.format(policy="abort"),
    )
    result = stack.qplan("apply", "qplan.yaml")
    rows = stack.rows()
    assert rows["scan[theta=0.1]"][0] == "failed"
    assert rows["scan[theta=0.2]"][0] == "cancelled"
    assert rows["scan[theta=0.3]"][0] == "cancelled"
    assert rows["session.group"][0] == "failed"
    assert "after-scan" not in rows
    assert "Traceback" not in result.stderr


def test_continue_session_goes_on(tmp_path: Path) -> None:
    stack = faulty(
        tmp_path,
        "      - {match: 'scan[theta=0.1]', mode: fail}",
        scan="    session: group\n    on_failure: continue",
        sessions=SESSION.format(policy="continue"),
    )
    result = stack.qplan("apply", "qplan.yaml")
    rows = stack.rows()
    assert [rows[f"scan[theta={t}]"][0] for t in ("0.1", "0.2", "0.3")] == [
        "failed",
        "succeeded",
        "succeeded",
    ]
    assert rows["session.group"] == ("failed", 1, "1 member(s) failed")
    assert result.returncode == 1


def test_ctrl_c_stops_and_resumes(tmp_path: Path) -> None:
    stack = faulty(tmp_path, "      - {match: 'scan[theta=0.2]', mode: hang, attempts: [1]}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qplan", "apply", "qplan.yaml"],
        cwd=stack.folder,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(stack.runs()) < 3:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # never leave it running, even when the test fails
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    assert "run `qplan apply` again to resume" in err
    assert "Traceback" not in err
    resumed = stack.qplan("apply", "qplan.yaml")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert {a: r[0] for a, r in stack.rows().items()} == {
        "scan[theta=0.1]": "succeeded",
        "scan[theta=0.2]": "succeeded",
        "scan[theta=0.3]": "succeeded",
        "after-scan": "succeeded",
    }


def test_a_locked_stack_refuses_a_second_apply(quickstart: Stack) -> None:
    with quickstart.store(create=True) as store:
        store.acquire("quickstart", "apply", "colleague")
        result = quickstart.qplan("apply", "qplan.yaml")
    assert result.returncode == 1
    assert "stack quickstart is locked by colleague@" in result.stderr
    assert quickstart.runs() == []


def test_json_events_and_destroy(quickstart: Stack) -> None:
    result = quickstart.qplan("apply", "qplan.yaml", "--json")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(e["event"] == "succeeded" for e in events) == 6
    assert events[-1]["event"] == "finished" and events[-1]["counts"] == {
        "created": 6,
        "succeeded": 6,
    }
    destroyed = quickstart.qplan("destroy", "qplan.yaml", "--yes")
    assert destroyed.returncode == 0
    assert "6 resource(s) forgotten" in destroyed.stdout
    assert quickstart.location in destroyed.stdout
    assert quickstart.rows() == {}
    with quickstart.store() as store:  # the results stay, named by the event log
        digests = {e["result_hash"] for e in store.events("quickstart") if e["result_hash"]}
        assert len(digests) >= 2 and all(store.result(d) for d in digests)
    assert quickstart.qplan("status", "qplan.yaml").stdout.startswith(
        "Stack quickstart has no resources"
    )


def test_plan_file_apply_and_stale_refusal(quickstart: Stack) -> None:
    assert quickstart.qplan("plan", "qplan.yaml", "--out", "plan.json").returncode == 0
    applied = quickstart.qplan("apply", "plan.json")
    assert applied.returncode == 0, applied.stderr
    stale = quickstart.qplan("apply", "plan.json")
    assert stale.returncode == 1
    assert "saved plan is stale" in stale.stderr
    assert len(quickstart.runs()) == 6


def test_status_refresh_records_lost_local_runs(quickstart: Stack) -> None:
    assert quickstart.qplan("apply", "qplan.yaml").returncode == 0
    from qplan.jobstatus import JobStatus
    from qplan.state import Transition

    with quickstart.store() as store:
        # as if a qplan died with `bell` in flight: its local run died with it
        store.apply(
            "quickstart",
            [Transition("bell", JobStatus.SUBMITTING, attempt=2, idempotency_key="k2")],
        )
        store.apply(
            "quickstart", [Transition("bell", JobStatus.RUNNING, provider_job_id="local-gone")]
        )
    refreshed = quickstart.qplan("status", "qplan.yaml", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "bell" in refreshed.stdout and "cancelled" in refreshed.stdout.splitlines()[1]
    plan = quickstart.qplan("plan", "qplan.yaml", "-v")
    assert "~ bell  (cancelled)" in plan.stdout  # planned as a retry
    assert quickstart.qplan("apply", "qplan.yaml").returncode == 0
    assert quickstart.rows()["bell"][:2] == ("succeeded", 3)


def test_marker_folders_of_killed_runs_are_removed(quickstart: Stack) -> None:
    import tempfile

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = Path(tempfile.gettempdir()) / f"qplan-local-{dead.stdout.strip()}-abc"
    orphan.mkdir()
    assert quickstart.qplan("apply", "qplan.yaml").returncode == 0
    assert not orphan.exists()


def test_a_noise_free_circuit_on_the_density_matrix_simulator_prints_no_warning(
    tmp_path: Path,
) -> None:
    # Braket's advice to use the state vector simulator instead was printed once by every
    # worker process: the manifest chose this target, and says so already
    stack = write(
        tmp_path,
        "version: 1\nstack: dm\nproviders:\n  local: {type: local, workers: 2}\n"
        + RY_PROGRAM
        + "jobs:\n  scan:\n    target: local/braket_dm\n    program: ry\n    shots: 10\n"
        + "    sweep: {grid: {theta: {linspace: [0, 1, 8]}}}\n",
    )
    result = stack.qplan("apply", "qplan.yaml")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stdout + result.stderr
    assert len(stack.runs()) == 8
