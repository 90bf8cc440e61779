"""The Azure Quantum provider end to end: the CLI, the real azure-quantum and
azure-storage-blob SDKs over HTTP against the wire-compatible emulator
(tests/emulators/azure), its blobs in Azurite. The emulator runs IonQ circuits and QIR on
local simulators, applies the session policies and counts every API call."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RY_CNOT, copy_example
from tests.e2e.cloud import CloudFolder
from tests.e2e.processes import kill_apply_once
from tests.emulators.azure.emulator import AzureQuantumEmulator
from tests.emulators.azure.fixture import azure_environ

PI = 3.141592653589793
PROVIDER = """\
providers:
  az:
    type: azure
    resource_id: "{{ env('AZURE_QUANTUM_RESOURCE_ID') }}"
    location: eastus
"""
BELL = {
    "gateset": "qis",
    "qubits": 2,
    "circuit": [{"gate": "h", "targets": [0]}, {"gate": "x", "targets": [1], "controls": [0]}],
}
FLIP = {"gateset": "qis", "qubits": 1, "circuit": [{"gate": "x", "targets": [0]}]}
BROKEN = {"gateset": "qis", "qubits": 1, "circuit": [{"gate": "no-such-gate", "targets": [0]}]}


class Folder(CloudFolder):
    def __init__(self, path: Path, emulator: AzureQuantumEmulator) -> None:
        super().__init__(path)
        self.emulator = emulator

    def write(self, body: str, **programs: Any) -> None:
        (self.path / "programs").mkdir(exist_ok=True)
        for name, content in programs.items():
            text = content if isinstance(content, str) else json.dumps(content)
            (self.path / "programs" / name).write_text(text)
        (self.path / "qplan.yaml").write_text(f"version: 1\nstack: az\n{PROVIDER}{body}")

    def environ(self) -> dict[str, str]:
        return {**os.environ, **azure_environ(self.emulator)}

    def rows(self) -> dict[str, tuple[str, str | None, str | None]]:
        with sqlite3.connect(self.path / ".qplan" / "state.db") as conn:
            query = "SELECT address, status, provider_job_id, error FROM resources"
            return {a: (s, j, e) for a, s, j, e in conn.execute(query)}

    def session_status(self, name: str) -> str:
        """A session as ``qplan status`` shows it: qplan's status (Azure's)."""
        shown = self.qplan("status", "qplan.yaml")
        assert shown.returncode == 0, shown.stderr
        (line,) = [x for x in shown.stdout.splitlines() if x.startswith(f"session.{name} ")]
        return re.split(r"\s{2,}", line)[1]  # columns are two spaces or more apart


def creates(emulator: AzureQuantumEmulator) -> int:
    """Job PUTs the emulator received (answered or not)."""
    return emulator.calls.counts().get("CreateJob", 0)


def jobs_by_address(emulator: AzureQuantumEmulator) -> Counter[str]:
    """Jobs the emulator holds, by the address in their metadata."""
    return Counter(
        (j.details.get("metadata") or {}).get("qplan_address", "")
        for j in emulator.job_records.values()
    )


@pytest.fixture
def folder(tmp_path: Path, azure_emulator: AzureQuantumEmulator) -> Folder:
    return Folder(tmp_path, azure_emulator)


def sweep_manifest(target: str, thetas: list[float], session: str = "") -> str:
    values = ", ".join(str(t) for t in thetas)
    return f"""\
programs:
  ry: {{format: openqasm3, path: programs/ry.qasm}}
{session}jobs:
  scan:
    target: az/{target}
    program: ry
    shots: 40
    sweep: {{grid: {{theta: [{values}]}}}}
"""


def test_the_azure_example_applies_as_written_and_again_as_a_no_op(
    tmp_path: Path, azure_emulator: AzureQuantumEmulator
) -> None:
    root = copy_example("azure-session", tmp_path / "example")
    env = {**os.environ, **azure_environ(azure_emulator)}

    def qplan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qplan", *args, "qplan.yaml"],
            capture_output=True,
            text=True,
            cwd=root,
            env=env,
            timeout=300,
            check=False,
        )

    first = qplan("apply", "--poll-interval", "0.2")
    assert first.returncode == 0, first.stdout + first.stderr
    assert creates(azure_emulator) == 3
    (session,) = azure_emulator.sessions.values()  # the three jobs in one Continue session
    assert session.details["jobFailurePolicy"] == "Continue"
    assert len(session.members) == 3 and session.details["status"] == "Succeeded"
    shown = qplan("results", "--format", "json")
    counts = {r["address"]: r["counts"] for r in json.loads(shown.stdout)}
    assert set(counts["bell"]) <= {"00", "11"} and sum(counts["bell"].values()) == 200
    assert set(counts["ghz"]) <= {"000", "111"} and sum(counts["ghz"].values()) == 200
    assert sum(counts["rotation"].values()) == 200
    names = sorted(j.details["name"] for j in azure_emulator.job_records.values())
    assert names == ["ionq-session/bell", "ionq-session/ghz", "ionq-session/rotation"]

    again = qplan("apply", "--poll-interval", "0.2")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout
    assert creates(azure_emulator) == 3  # zero job PUTs
    assert "emulator-key" not in (first.stdout + first.stderr + again.stdout)
    state = (root / ".qplan" / "state.db").read_bytes()
    assert b"emulator-key" not in state and b"sig=" not in state  # no key, no SAS token


@pytest.mark.parametrize("target", ["ionq.simulator", "quantinuum.sim.h2-1e"])
def test_an_openqasm_sweep_runs_on_azure_targets_and_an_edit_replaces_only_new_points(
    folder: Folder, target: str
) -> None:
    # Braket's dialect (no include, `cnot`): the same program runs on local, Braket and Azure
    folder.write(sweep_manifest(target, [0.0, PI]), **{"ry.qasm": RY_CNOT})
    first = folder.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    assert folder.results() == {"scan[theta=0.0]": {"00": 40}, f"scan[theta={PI}]": {"11": 40}}
    formats = {j.details["inputDataFormat"] for j in folder.emulator.job_records.values()}
    assert formats == {"qir.v1"}  # compiled to QIR, its inputs bound
    assert creates(folder.emulator) == 2

    folder.write(sweep_manifest(target, [0.0, PI, PI / 2]))
    edited = folder.apply()
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert creates(folder.emulator) == 3  # the new point only
    assert sum(folder.results()[f"scan[theta={PI / 2}]"].values()) == 40

    folder.write(sweep_manifest(target, [0.0, PI / 2, PI / 4]))  # pi out, pi/4 in
    changed = folder.apply()
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert creates(folder.emulator) == 4  # pi/4 only: 0 and pi/2 are kept as they were
    assert set(folder.rows()) == {
        "scan[theta=0.0]",
        f"scan[theta={PI / 2}]",
        f"scan[theta={PI / 4}]",
    }


SESSION_JOBS = """\
programs:
  flip: {{format: ionq.circuit.v1, path: programs/flip.json}}
  broken: {{format: ionq.circuit.v1, path: programs/broken.json}}
sessions:
  s:
    target: az/ionq.simulator
    on_job_failure: {policy}
jobs:
  broken: {{session: s, program: broken, shots: 10, on_failure: continue}}
  first: {{session: s, program: flip, shots: 10}}
  later: {{session: s, program: flip, shots: 10, after: [first]}}
"""


def test_abort_skips_the_members_not_sent(folder: Folder) -> None:
    folder.emulator.config.update(run_time=0.5)
    folder.write(SESSION_JOBS.format(policy="abort"), **{"flip.json": FLIP, "broken.json": BROKEN})
    result = folder.apply()
    rows = folder.rows()
    assert rows["broken"][0] == "failed"
    assert "no-such-gate" in (rows["broken"][2] or "")
    assert "later" not in jobs_by_address(folder.emulator)  # never sent
    assert "aborted" in result.stdout + result.stderr
    assert rows["session.s"][0] == "failed"
    (session,) = folder.emulator.sessions.values()
    assert session.details["jobFailurePolicy"] == "Abort"
    assert session.details["status"] == "Failed"


def test_continue_runs_every_member_and_the_session_ends_failed(folder: Folder) -> None:
    folder.write(
        SESSION_JOBS.format(policy="continue"), **{"flip.json": FLIP, "broken.json": BROKEN}
    )
    result = folder.apply()
    assert result.returncode == 1  # a failure, reported; `continue`: the rest went on
    assert "1 failed" in result.stdout, result.stdout
    rows = folder.rows()
    assert rows["broken"][0] == "failed"
    assert rows["first"][0] == rows["later"][0] == "succeeded"
    assert rows["session.s"][0] == "failed"
    (session,) = folder.emulator.sessions.values()
    assert len(session.members) == 3 and session.details["status"] == "Failed"
    assert folder.session_status("s") == "failed (Failed)"


IDLE = """\
programs:
  flip: {format: ionq.circuit.v1, path: programs/flip.json}
sessions:
  s: {target: az/ionq.simulator, on_job_failure: abort}
jobs:
  first: {session: s, program: flip, shots: 10}
  outside: {target: az/ionq.simulator, program: flip, shots: 10}
  middle: {target: az/ionq.simulator, program: flip, shots: 10, after: [outside]}
  last: {session: s, program: flip, shots: 10, after: [middle]}
"""


def test_a_session_that_timed_out_at_the_provider_is_replaced_by_a_new_one(
    folder: Folder,
) -> None:
    # the service's idle timeout (1 s) is far shorter than qplan's estimate (10 min):
    # `last` is sent to a session that has timed out, refused, and sent to a new one
    folder.emulator.config.update(run_time=1.5, idle_timeout=1.0)
    folder.write(IDLE, **{"flip.json": FLIP})
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    rows = folder.rows()
    assert {rows[a][0] for a in ("first", "outside", "middle", "last")} == {"succeeded"}
    sessions = sorted(folder.emulator.sessions.values(), key=lambda s: s.details["creationTime"])
    assert [s.details["status"] for s in sessions] == ["TimedOut", "Succeeded"]
    assert [len(s.members) for s in sessions] == [1, 1]  # `last` ran in the second one
    assert folder.session_status("s") == "succeeded (Succeeded)"  # the second one
    assert jobs_by_address(folder.emulator)["last"] == 1  # one job: refused, then made
    refused = [c for c in folder.emulator.calls.calls("CreateJob") if c.status == 400]
    assert len(refused) == 1


def test_cancel_then_destroy(folder: Folder) -> None:
    folder.emulator.config.update(queue_time=60.0)
    folder.write(sweep_manifest("ionq.simulator", [0.0, 1.0, 2.0]), **{"ry.qasm": RY_CNOT})
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    assert {s for s, _, _ in folder.rows().values()} <= {"queued", "running"}
    cancelled = folder.qplan("cancel", "qplan.yaml")
    assert cancelled.stdout.strip() == "Cancel requested for 3 in-flight instances."
    statuses = {j.details["status"] for j in folder.emulator.job_records.values()}
    assert statuses == {"Cancelled"}
    refreshed = folder.qplan("status", "qplan.yaml", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert {s for s, _, _ in folder.rows().values()} == {"cancelled"}
    destroyed = folder.qplan("destroy", "qplan.yaml", "--yes")
    assert destroyed.returncode == 0 and "3 resource(s) forgotten" in destroyed.stdout


def test_a_crash_between_the_job_put_and_the_state_write_is_adopted(folder: Folder) -> None:
    emulator = folder.emulator
    folder.write(sweep_manifest("ionq.simulator", [0.0, 1.0, 2.0, PI]), **{"ry.qasm": RY_CNOT})
    emulator.faults.latency(3.0, operations=["CreateJob"])
    # once the four intents are committed, with the PUTs sent, inside the emulator's 3 s
    kill_apply_once(folder.path, folder.environ(), lambda rows: rows == ["submitting"] * 4, 1.0)
    rows = folder.rows()
    assert {s for s, _, _ in rows.values()} == {"submitting"}, rows  # no job id written
    deadline = time.monotonic() + 30  # the emulator finishes the PUTs it had received
    while time.monotonic() < deadline and len(emulator.job_records) < 4:
        time.sleep(0.1)
    emulator.faults.clear()
    resumed = folder.apply()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "adopted" in resumed.stdout
    assert len(emulator.job_records) == 4  # nothing made twice
    assert set(jobs_by_address(emulator).values()) == {1}
    assert {s for s, _, _ in folder.rows().values()} == {"succeeded"}
    assert folder.results()[f"scan[theta={PI}]"] == {"11": 40}


def test_throttling_and_errors_after_commit_make_no_duplicate(folder: Folder) -> None:
    emulator = folder.emulator
    thetas = [round(0.25 * i, 2) for i in range(12)]
    folder.write(sweep_manifest("ionq.simulator", thetas), **{"ry.qasm": RY_CNOT})
    emulator.faults.throttle(rate=0.3, seed=7)  # every operation
    emulator.faults.error(after_commit=True, status=503, operations=["CreateJob"], rate=0.3, seed=7)
    emulator.faults.error(operations=["CreateJob"], status=500, rate=0.1, seed=7)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = emulator.calls.status_counts().get("CreateJob", {})
    assert statuses.get(429, 0) > 0 and statuses.get(503, 0) > 0, statuses
    assert len(emulator.job_records) == 12
    assert set(jobs_by_address(emulator).values()) == {1}  # no duplicate job
    assert {s for s, _, _ in folder.rows().values()} == {"succeeded"}


def test_bad_credentials_and_unknown_targets_are_reported_with_the_address(
    folder: Folder,
) -> None:
    folder.write(sweep_manifest("ionq.qpu.no-such-device", [0.0]), **{"ry.qasm": RY_CNOT})
    unknown = folder.apply()
    assert unknown.returncode == 1
    assert "scan[theta=0.0]" in unknown.stderr and "unknown target" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    folder.write(sweep_manifest("ionq.simulator", [0.0]))
    environ = folder.environ()
    environ["AZURE_QUANTUM_CONNECTION_STRING"] = environ["AZURE_QUANTUM_CONNECTION_STRING"].replace(
        "ApiKey=emulator-key", "ApiKey=wrong-key-123"
    )
    refused = subprocess.run(
        [sys.executable, "-m", "qplan", "apply", "qplan.yaml"],
        capture_output=True,
        text=True,
        cwd=folder.path,
        env=environ,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert "401" in refused.stderr and "Traceback" not in refused.stderr
    assert "wrong-key-123" not in refused.stdout + refused.stderr


SWEEP_QS = """\
namespace Sweep {
    operation Run(n : Int, theta : Double) : Result[] {
        use qubits = Qubit[n];
        for q in qubits {
            Ry(theta, q);
        }
        MResetEachZ(qubits)
    }
}
"""


def test_a_qsharp_sweep_runs_on_an_azure_target(folder: Folder) -> None:
    folder.write(
        """\
programs:
  sweep: {format: qsharp, path: programs/sweep.qs, entry: Sweep.Run}
jobs:
  rotation:
    target: az/quantinuum.sim.h2-1e
    program: sweep
    shots: 30
    inputs: {n: 2}
    sweep: {grid: {theta: [0, 3.141592653589793]}}
""",
        **{"sweep.qs": SWEEP_QS},
    )
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    counts = folder.results()
    assert sorted(counts.values(), key=str) == [{"00": 30}, {"11": 30}]  # theta 0, then pi
    (job, _) = folder.emulator.job_records.values()
    assert job.details["inputDataFormat"] == "qir.v1"
    assert job.details["inputParams"]["entryPoint"] == "ENTRYPOINT__main"


def test_cancelling_a_job_a_target_cannot_stop_says_it_may_still_run_and_bill(
    folder: Folder,
) -> None:
    emulator = folder.emulator
    emulator.config.update(run_time=4.0, cancel_executing=False)
    folder.write(sweep_manifest("ionq.simulator", [0.0, PI]), **{"ry.qasm": RY_CNOT})
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        j.status != "Executing" for j in emulator.job_records.values()
    ):
        time.sleep(0.05)
    cancelled = folder.qplan("cancel", "qplan.yaml")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "Cancel requested for 2 in-flight instances." in cancelled.stdout
    assert "2 not stopped yet at the provider" in cancelled.stdout and "bill" in cancelled.stdout
    assert {s for s, _, _ in folder.rows().values()} == {"cancelling"}
    while time.monotonic() < deadline + 30 and not all(
        j.final for j in emulator.job_records.values()
    ):
        time.sleep(0.1)
    refreshed = folder.qplan("status", "qplan.yaml", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert {s for s, _, _ in folder.rows().values()} == {"succeeded"}  # they ran to their end


def test_an_apply_resumed_after_its_session_went_idle_opens_a_new_one(folder: Folder) -> None:
    # qplan's idle_timeout matches the service's: the resumed apply closes the old session
    # itself (its status read back as TimedOut) and opens a new one for `later`
    folder.emulator.config.update(idle_timeout=1.0)
    folder.write(
        """\
programs:
  flip: {format: ionq.circuit.v1, path: programs/flip.json}
sessions:
  s: {target: az/ionq.simulator, idle_timeout: 1s}
jobs:
  first: {session: s, program: flip, shots: 10}
  later: {session: s, program: flip, shots: 10, after: [first]}
""",
        **{"flip.json": FLIP},
    )
    started = folder.apply("--no-wait")
    assert started.returncode == 0, started.stdout + started.stderr
    time.sleep(3.0)  # `first` ends, and the session sits idle past its timeout
    resumed = folder.apply()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert {s for s, _, _ in folder.rows().values()} == {"succeeded"}
    statuses = sorted(s.details["status"] for s in folder.emulator.sessions.values())
    assert statuses == ["Succeeded", "TimedOut"]
    assert folder.session_status("s") == "succeeded (Succeeded)"


def test_a_program_qdk_cannot_compile_fails_before_any_job_is_made(folder: Folder) -> None:
    unknown_gate = "OPENQASM 3.0;\ninput float theta;\nqubit q;\nbit c;\nwobble(theta) q;\n"
    folder.write(
        sweep_manifest("ionq.simulator", [0.5]), **{"ry.qasm": unknown_gate + "c = measure q;\n"}
    )
    result = folder.apply()
    assert result.returncode == 1
    assert "does not compile for Azure" in result.stderr and "wobble" in result.stderr
    assert "program.qasm:5:1" in result.stderr  # the line as written (the program's fifth)
    assert "Traceback" not in result.stderr
    assert creates(folder.emulator) == 0 and not folder.emulator.job_records
