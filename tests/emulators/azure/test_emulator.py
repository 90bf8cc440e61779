"""The Azure Quantum emulator against the real azure-quantum SDK, over HTTP, with its blobs
in Azurite: what the SDK sends must be understood, and what the emulator answers must be
read by the SDK as the service's answers are."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.emulators.azure.emulator import AzureQuantumEmulator
from tests.emulators.azure.fixture import azure_workspace

BELL = {
    "qubits": 2,
    "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}],
}
FLIP = {"qubits": 2, "circuit": [{"gate": "x", "target": 0}]}
BROKEN = {"qubits": 1, "circuit": [{"gate": "warp", "target": 0}]}


def submit(
    workspace: Any,
    circuit: dict[str, Any],
    *,
    job_id: str | None = None,
    name: str = "qplan ex/bell",
    session_id: str | None = None,
    shots: int = 100,
) -> Any:
    """A job sent the way an idempotent client sends it: the input blob uploaded (and
    overwritten) into the job's container, then the job created under a chosen id."""
    from azure.quantum.job import Job
    from azure.storage.blob import ContainerClient, ContentSettings

    job_id = job_id or str(uuid.uuid4())
    container = workspace.get_container_uri(job_id=job_id)
    blob = ContainerClient.from_container_url(container).get_blob_client("inputData")
    blob.upload_blob(
        json.dumps(circuit).encode(),
        overwrite=True,
        content_settings=ContentSettings(content_type="application/json"),
    )
    return Job.from_storage_uri(
        workspace,
        name=name,
        target="ionq.simulator",
        input_data_uri=blob.url.split("?")[0],
        provider_id="ionq",
        input_data_format="ionq.circuit.v1",
        output_data_format="ionq.quantum-results.v1",
        container_uri=container,
        job_id=job_id,
        input_params={"shots": shots},
        session_id=session_id,
        tags=["qplan"],
        metadata={"stack": "ex"},
    )


def open_session(workspace: Any, policy: str) -> Any:
    from azure.quantum.job.session import Session, SessionJobFailurePolicy

    session = Session(
        workspace,
        target="ionq.simulator",
        id=str(uuid.uuid4()),
        name="qplan ex/s",
        job_failure_policy=SessionJobFailurePolicy(policy),
    )
    session.open()
    return session


def test_a_job_runs_and_its_histogram_comes_back(azure_emulator: AzureQuantumEmulator) -> None:
    workspace = azure_workspace(azure_emulator)
    job = submit(workspace, FLIP, shots=50)
    assert job.details.status == "Waiting"
    assert job.get_results(timeout_secs=30) == {"histogram": {"1": 1.0}}  # qubit 0 is bit 0
    again = workspace.get_job(job.id)
    assert again.details.status == "Succeeded"
    assert again.details.metadata == {"stack": "ex"} and again.details.tags == ["qplan"]
    bell = submit(workspace, BELL, shots=400).get_results(timeout_secs=30)["histogram"]
    assert set(bell) == {"0", "3"} and sum(bell.values()) == pytest.approx(1.0)


def test_a_job_id_is_taken_once(azure_emulator: AzureQuantumEmulator) -> None:
    """A second PUT of a job id is a conflict (the SDK's ResourceExistsError); and the SDK's
    own ``Target.submit`` of a taken id fails earlier, on the input blob it will not
    overwrite."""
    from azure.core.exceptions import ResourceExistsError
    from azure.quantum.target import Target

    workspace = azure_workspace(azure_emulator)
    job = submit(workspace, BELL)
    with pytest.raises(ResourceExistsError):
        submit(workspace, BELL, job_id=job.id)
    target = Target(workspace, "ionq.simulator", provider_id="ionq",
                    input_data_format="ionq.circuit.v1",
                    output_data_format="ionq.quantum-results.v1")  # fmt: skip
    with pytest.raises(ResourceExistsError, match="BlobAlreadyExists"):
        target.submit(json.dumps(BELL), job_id=job.id)
    assert azure_emulator.calls.counts()["CreateJob"] == 2
    assert [j.id for j in workspace.list_jobs()] == [job.id]


def test_a_put_committed_then_lost_comes_back_to_the_caller_as_a_conflict(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    """The SDK re-sends a PUT whose connection dropped; the first one made the job, so the
    caller's own create answers 409. A client must then read the job and adopt it."""
    from azure.core.exceptions import ResourceExistsError

    workspace = azure_workspace(azure_emulator)
    azure_emulator.faults.drop(after_commit=True, operations=["CreateJob"], next=1)
    job_id = str(uuid.uuid4())
    with pytest.raises(ResourceExistsError):
        submit(workspace, BELL, job_id=job_id)
    assert workspace.get_job(job_id).details.status in ("Waiting", "Executing", "Succeeded")
    assert len(azure_emulator.job_records) == 1


def test_jobs_are_listed_by_name_page_by_page(azure_emulator: AzureQuantumEmulator) -> None:
    workspace = azure_workspace(azure_emulator)
    azure_emulator.config.update(queue_time=60.0)  # all still waiting when listed
    mine = [submit(workspace, FLIP, name=f"qplan ex/p[{i}]").id for i in range(5)]
    submit(workspace, FLIP, name="someone else's")
    pages = list(workspace.list_jobs_paginated(name_match="qplan ex/", top=2).by_page())
    assert [len(list(page)) for page in pages] == [2, 2, 1]
    listed = [j.id for j in workspace.list_jobs(name_match="qplan ex/", status=["Waiting"])]
    assert sorted(listed) == sorted(mine)


def test_cancel_ends_a_waiting_job_and_leaves_a_finished_one(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    workspace = azure_workspace(azure_emulator)
    done = submit(workspace, FLIP)
    done.wait_until_completed(timeout_secs=30)
    azure_emulator.config.update(queue_time=60.0)
    waiting = submit(workspace, FLIP)
    workspace.cancel_job(waiting)
    workspace.cancel_job(done)
    assert workspace.get_job(waiting.id).details.status == "Cancelled"
    assert workspace.get_job(done.id).details.status == "Succeeded"


def test_an_abort_session_fails_at_its_first_failure_and_takes_no_more_jobs(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    from azure.core.exceptions import HttpResponseError

    workspace = azure_workspace(azure_emulator)
    session = open_session(workspace, "Abort")
    assert workspace.get_session(session.id).details.status == "Waiting"
    broken = submit(workspace, BROKEN, session_id=session.id)
    broken.wait_until_completed(timeout_secs=30)
    assert broken.details.status == "Failed" and broken.details.error_data is not None
    assert workspace.get_session(session.id).details.status == "Failed"
    with pytest.raises(HttpResponseError, match="SessionTerminated"):
        submit(workspace, FLIP, session_id=session.id)
    assert [j.id for j in workspace.list_session_jobs(session.id)] == [broken.id]


def test_a_continue_session_runs_on_and_fails_once_closed(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    workspace = azure_workspace(azure_emulator)
    session = open_session(workspace, "Continue")
    submit(workspace, BROKEN, session_id=session.id).wait_until_completed(timeout_secs=30)
    assert workspace.get_session(session.id).details.status == "Failure(s)"
    good = submit(workspace, FLIP, session_id=session.id)
    good.wait_until_completed(timeout_secs=30)
    assert good.details.status == "Succeeded"
    workspace.close_session(session)
    assert workspace.get_session(session.id).details.status == "Failed"


def test_an_idle_session_times_out_and_takes_no_more_jobs(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    from azure.core.exceptions import HttpResponseError

    workspace = azure_workspace(azure_emulator)
    azure_emulator.config.update(idle_timeout=0.0)
    session = open_session(workspace, "Continue")
    assert workspace.get_session(session.id).details.status == "TimedOut"
    with pytest.raises(HttpResponseError, match="SessionTerminated"):
        submit(workspace, FLIP, session_id=session.id)


def test_a_wrong_key_is_refused(azure_emulator: AzureQuantumEmulator) -> None:
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import ClientAuthenticationError
    from azure.quantum import Workspace

    workspace = azure_workspace(azure_emulator)
    wrong = Workspace(
        subscription_id=workspace.subscription_id,
        resource_group=workspace.resource_group,
        name=workspace.name,
        location=workspace.location,
        credential=AzureKeyCredential("not-the-key"),
        _quantum_endpoint=azure_emulator.url + "/",
    )
    with pytest.raises(ClientAuthenticationError):
        wrong.get_job(str(uuid.uuid4()))


def test_the_sdk_waits_out_a_short_throttle_and_gives_up_on_a_long_one(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    """azure-core retries a 429 with Retry-After (any verb) three times: a provider sees
    only a throttle that outlasts them."""
    from azure.core.exceptions import HttpResponseError

    workspace = azure_workspace(azure_emulator)
    azure_emulator.faults.throttle(operations=["GetJob"], next=2, retry_after=0)
    with pytest.raises(Exception) as missing:
        workspace.get_job(str(uuid.uuid4()))
    assert type(missing.value).__name__ == "ResourceNotFoundError"  # it got through
    azure_emulator.faults.throttle(operations=["GetJob"], next=10, retry_after=0)
    with pytest.raises(HttpResponseError) as throttled:
        workspace.get_job(str(uuid.uuid4()))
    assert throttled.value.status_code == 429
    assert len(azure_emulator.calls.calls("GetJob")) == 3 + 4  # 2 refused + 1, then 4


def test_a_5xx_after_the_job_was_made_also_comes_back_as_a_conflict(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    from azure.core.exceptions import ResourceExistsError

    workspace = azure_workspace(azure_emulator)
    azure_emulator.faults.error(after_commit=True, status=503, operations=["CreateJob"], next=1)
    job_id = str(uuid.uuid4())
    with pytest.raises(ResourceExistsError):
        submit(workspace, FLIP, job_id=job_id)
    statuses = [call.status for call in azure_emulator.calls.calls("CreateJob")]
    assert statuses == [503, 409] and list(azure_emulator.job_records) == [job_id]


# tests.conftest.RY_CNOT as qdk reads OpenQASM: its gates come from stdgates.inc (cx)
RY_CX = """\
OPENQASM 3.0;
include "stdgates.inc";
input float theta;
qubit[2] q;
bit[2] c;
ry(theta) q[0];
cx q[0], q[1];
c = measure q;
"""


def test_openqasm_compiled_to_qir_runs_through_target_submit(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    """The path Azure's own tooling takes for OpenQASM: qdk binds the inputs and compiles to
    QIR (base profile), ``Target.submit`` uploads the LLVM IR text, the emulator runs it."""
    import qdk
    import qdk.openqasm
    from azure.quantum.target import Target

    qdk.init(target_profile=qdk.TargetProfile.Base)
    qdk.openqasm.import_openqasm(RY_CX, name="ry_cx", program_type=qdk.ProgramType.File)
    compiled = qdk.openqasm.compile(qdk.code.qasm_import.ry_cx, 3.141592653589793)
    workspace = azure_workspace(azure_emulator)
    target = Target(
        workspace,
        "quantinuum.sim.h2-1e",
        provider_id="quantinuum",
        input_data_format="qir.v1",
        output_data_format="microsoft.quantum-results.v2",
    )
    job = target.submit(compiled, shots=40)
    assert job.details.input_data_format == "qir.v1"
    assert job.get_results(timeout_secs=60) == {"[1, 1]": 1.0}  # ry(pi), then cx


def test_the_targets_are_listed_and_a_job_runs_on_one_found_that_way(
    azure_emulator: AzureQuantumEmulator,
) -> None:
    """What a hand-written loop does: find the target, then ``submit`` and wait."""
    workspace = azure_workspace(azure_emulator)
    names = {t.name for t in workspace.get_targets()}
    assert {"ionq.simulator", "quantinuum.sim.h2-1e"} <= names
    target = workspace.get_targets("ionq.simulator")
    job = target.submit(BELL, shots=200)
    histogram = job.get_results(timeout_secs=30)["histogram"]
    assert set(histogram) == {"0", "3"}
