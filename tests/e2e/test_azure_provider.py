"""The Azure provider's observation, counted: the real SDK against the emulator, as many
jobs in flight as a large sweep keeps there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from qplan.jobstatus import JobStatus
from qplan.providers import Dispatch, Member
from qplan.providers.azure import AzureQuantumProvider
from tests.emulators.azure.emulator import AzureQuantumEmulator
from tests.emulators.azure.fixture import azure_config, azure_environ

FLIP = json.dumps({"gateset": "qis", "qubits": 1, "circuit": [{"gate": "x", "targets": [0]}]})
JOBS = 201  # three pages of 100


@pytest.fixture
def provider(azure_emulator: AzureQuantumEmulator) -> Iterator[AzureQuantumProvider]:
    made = AzureQuantumProvider("az", azure_config(), environ=azure_environ(azure_emulator))
    try:
        yield made
    finally:
        made.close()


def dispatch(i: int, session: str | None = None) -> Dispatch:
    member = Member(f"flip[i={i}]", f"fp{i}", 1, {}, "flip")
    return Dispatch(
        f"{i:048x}", "st", "ionq.simulator", "ionq.circuit.v1", FLIP, 10, (member,), group=session
    )


def lists(emulator: AzureQuantumEmulator) -> int:
    counts = emulator.calls.counts()
    return counts.get("ListJobs", 0) + counts.get("ListSessionJobs", 0)


@pytest.mark.parametrize("in_session", [False, True])
def test_jobs_in_flight_are_observed_with_one_list_call_per_hundred(
    azure_emulator: AzureQuantumEmulator, provider: AzureQuantumProvider, in_session: bool
) -> None:
    azure_emulator.config.update(queue_time=60.0)  # they stay in flight
    session = provider.azure_sessions.open("k" * 48, "s", "ionq.simulator", False)
    with ThreadPoolExecutor(max_workers=16) as pool:  # as the executor sends them
        receipts = pool.map(
            lambda i: provider.submit(dispatch(i, session if in_session else None)), range(JOBS)
        )
        ids = [r.ref for r in receipts]
    azure_emulator.calls.reset()
    seen = provider.observe(ids)
    assert len(seen) == JOBS and {o.status for o in seen.values()} == {JobStatus.QUEUED}
    assert lists(azure_emulator) == 3  # three pages of 100
    assert azure_emulator.calls.counts().get("GetJob", 0) == 0  # never one GET per job

    # all but one end: only those in flight are listed (one page), and those that have
    # just ended are read once each by id
    for job in list(azure_emulator.job_records.values()):
        if job.details["name"] != "st/flip[i=0]":
            job.set("Succeeded")
    azure_emulator.calls.reset()
    watched = provider.observe(ids)
    assert sum(o.status is JobStatus.SUCCEEDED for o in watched.values()) == JOBS - 1
    assert lists(azure_emulator) == 1
    assert azure_emulator.calls.counts().get("GetJob", 0) == JOBS - 1
    azure_emulator.calls.reset()
    again = provider.observe([ids[0]])
    assert again[ids[0]].status is JobStatus.QUEUED
    assert lists(azure_emulator) == 1 and azure_emulator.calls.counts().get("GetJob", 0) == 0
