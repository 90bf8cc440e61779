"""The Pasqal Cloud emulator against the real pasqal-cloud SDK, over HTTP: what the SDK sends
must be understood, and what the emulator answers must be read by the SDK as the service's
answers are. Sequences are small (2 to 4 atoms, 100 ns), so that simulations take
milliseconds."""

from __future__ import annotations

import functools
import time
from typing import Any

import pytest
import requests

from tests.emulators.pasqal.admin import PasqalAdmin
from tests.emulators.pasqal.emulator import TOKEN, PasqalEmulator
from tests.emulators.pasqal.fixture import PROJECT_ID, pasqal_environ, pasqal_sdk
from tests.emulators.pasqal.programs import DEVICE_TYPES

OMEGA = "omega_max"


@functools.cache
def _layout() -> Any:
    from pulser.register.special_layouts import TriangularLatticeLayout

    return TriangularLatticeLayout(n_traps=20, spacing=6.0)


@functools.cache
def sequence(atoms: int = 2, *, mappable: bool = False, variable: bool = True) -> str:
    """A global Rydberg pulse of amplitude ``omega_max`` (a variable) on ``atoms`` traps of
    a triangular layout (``mappable``: a register of ``atoms`` qubits mapped by each job),
    on Pulser's AnalogDevice; abstract representation."""
    from pulser import Pulse, Sequence
    from pulser.devices import AnalogDevice

    layout = _layout()
    register = (
        layout.make_mappable_register(atoms)
        if mappable
        else layout.define_register(*range(atoms), qubit_ids=[f"q{i}" for i in range(atoms)])
    )
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("global", "rydberg_global")
    amplitude: Any = seq.declare_variable(OMEGA) if variable else 3.0
    seq.add(Pulse.ConstantPulse(100, amplitude, 0.0, 0.0), "global")
    return str(seq.to_abstract_repr())


def jobs(*omegas: float, runs: int = 20) -> list[dict[str, Any]]:
    return [{"runs": runs, "variables": {OMEGA: [omega]}} for omega in omegas]


def test_a_batch_runs_and_its_results_come_back(pasqal_emulator: PasqalEmulator) -> None:
    from pulser.backend import Results

    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(
        sequence(3), jobs(2.0, 6.0, runs=30), device_type="EMU_FREE", tags=["qplan:ex"]
    )
    assert (batch.status, batch.open, batch.device_type) == ("PENDING", False, "EMU_FREE")
    assert batch.tags == ["qplan:ex"] and batch.project_id == PROJECT_ID
    created = [job.id for job in batch.ordered_jobs]
    assert pasqal_emulator.wait_for_batch(batch.id).status == "DONE"
    batch.refresh()
    assert batch.status == "DONE" and [job.id for job in batch.ordered_jobs] == created
    assert batch.jobs_count_per_status["DONE"] == 2 and batch.end_datetime is not None
    for job in batch.ordered_jobs:
        assert job.status == "DONE" and job.variables is not None
        counter = job.result
        assert counter is not None and sum(counter.values()) == 30
        assert all(len(bits) == 3 and set(bits) <= {"0", "1"} for bits in counter)
        assert job.full_result is not None and len(job.full_result["raw"]) == 30
        serialised = job.full_result["serialised_results"]
        assert serialised is not None and Results.from_abstract_repr(serialised)
    assert sdk.get_job(created[0]).sequence is None  # it runs the batch's sequence
    assert sdk.get_batch_status(batch.id).value == "DONE"
    assert sdk.get_job_status(created[0]).value == "DONE"
    (create,) = pasqal_emulator.calls.calls("CreateBatch")
    assert create.batch_id == batch.id and create.tags == ["qplan:ex"] and create.jobs == 2


def test_pulser_remote_results_read_what_a_batch_made(pasqal_emulator: PasqalEmulator) -> None:
    """The path Pulser users take: ``PasqalCloudConnection.submit``, then ``RemoteResults``
    (which reads every job's results link and ``serialised_results``)."""
    from pasqal_cloud.authentication import TokenProvider
    from pasqal_cloud.device import DeviceTypeName
    from pasqal_cloud.endpoints import Endpoints
    from pasqal_cloud.pasqal_cloud_connection import PasqalCloudConnection
    from pulser import Sequence

    class Token(TokenProvider):
        def get_token(self) -> str:
            return TOKEN

    connection = PasqalCloudConnection(
        project_id=PROJECT_ID,
        token_provider=Token(),
        endpoints=Endpoints(core=pasqal_emulator.url, account=pasqal_emulator.url),
    )
    remote = connection.submit(
        Sequence.from_abstract_repr(sequence()),
        job_params=[{"runs": 40, "variables": {OMEGA: [4.0]}}],
        device_type=DeviceTypeName.EMU_SV,
    )
    pasqal_emulator.wait_for_batch(remote.batch_id)
    (result,) = remote.results
    assert sum(result.final_bitstrings.values()) == 40


def test_jobs_are_listed_newest_first_page_by_page(pasqal_emulator: PasqalEmulator) -> None:
    from pasqal_cloud.utils.filters import JobFilters, PaginationParams

    pasqal_emulator.config.update(queue_time=60.0, batch_jobs_inline=False)  # all PENDING
    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), jobs(*[1.0] * 130, runs=1), device_type="EMU_SV")
    created = [job.id for job in batch.ordered_jobs]  # the create answer carries them
    sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_SV")  # another batch's job
    mine = JobFilters(batch_id=batch.id)
    first = sdk.get_jobs(mine)
    second = sdk.get_jobs(mine, PaginationParams(offset=100))
    assert (first.total, len(first.results), len(second.results)) == (130, 100, 30)
    listed = [job.id for job in first.results + second.results]
    assert listed == created[::-1]  # newest first
    assert sdk.get_jobs().total == 131
    assert sdk.get_jobs(JobFilters(batch_id=batch.id, status="DONE")).total == 0
    # GetBatch answers job ids only: the SDK lists them, oldest first, 100 at a time
    again = sdk.get_batch(batch.id)
    before = len(pasqal_emulator.calls.calls("GetJobs"))
    assert [job.id for job in again.ordered_jobs] == created
    paged = pasqal_emulator.calls.calls("GetJobs")[before:]
    assert [(c.batch_id, c.params.get("offset")) for c in paged] == [
        (batch.id, None),
        (batch.id, "100"),
    ]
    answer = requests.get(
        f"{pasqal_emulator.url}/api/v2/jobs",
        params={"limit": 101},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["status"] == "fail"


def test_batches_are_found_by_tag(pasqal_emulator: PasqalEmulator) -> None:
    from pasqal_cloud.utils.filters import BatchFilters

    sdk = pasqal_sdk(pasqal_emulator)
    pasqal_emulator.config.update(queue_time=60.0)
    one = sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_FREE", tags=["a"])
    two = sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_MPS", tags=["a", "b"])
    sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_FREE", tags=["c"])
    found = sdk.get_batches(BatchFilters(tag="a"))
    assert found.total == 2 and [b.id for b in found.results] == [two.id, one.id]
    assert sdk.get_batches(BatchFilters(tag="a", device_type="EMU_MPS")).results[0].id == two.id
    assert sdk.get_batches(BatchFilters(tag="nothing")).total == 0
    assert found.results[0].ordered_jobs[0].batch_id == two.id  # listed through GetJobs
    sdk.set_batch_tags(one.id, ["c"])
    assert [b.id for b in pasqal_emulator.batches_tagged("a")] == [two.id]
    assert len(pasqal_emulator.batches_tagged("c")) == 2
    assert len(pasqal_emulator.calls_tagged("a")) == 2
    admin = PasqalAdmin(pasqal_emulator.url)
    assert [b["id"] for b in admin.batches("b")] == [two.id]


def test_an_open_batch_takes_jobs_until_closed(pasqal_emulator: PasqalEmulator) -> None:
    from pasqal_cloud.errors import JobCreationError

    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), [], open=True, device_type="EMU_FREE")
    assert (batch.open, batch.status, batch.ordered_jobs) == (True, "PENDING", [])
    batch.add_jobs(jobs(1.0, 2.0))
    batch.add_jobs(jobs(3.0))
    assert len(batch.ordered_jobs) == 3
    snapshot = pasqal_emulator.wait_for_batch(batch.id, ["RUNNING"])
    while any(job.status != "DONE" for job in snapshot.jobs):
        time.sleep(0.02)
        snapshot = pasqal_emulator.batch(batch.id)
    assert (snapshot.open, snapshot.status) == (True, "RUNNING")  # open: waiting for jobs
    batch.close()
    assert (batch.open, batch.status) == (False, "DONE")
    with pytest.raises(JobCreationError, match="DONE and not open"):
        batch.add_jobs(jobs(4.0))


def test_an_idle_open_batch_times_out_and_refuses_jobs(pasqal_emulator: PasqalEmulator) -> None:
    from pasqal_cloud.errors import JobCreationError
    from pasqal_cloud.utils.filters import BatchFilters

    pasqal_emulator.config.update(open_batch_timeout=0.3)
    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), jobs(1.0), open=True, device_type="EMU_FREE")
    snapshot = pasqal_emulator.wait_for_batch(batch.id, ["TIMED_OUT"], timeout=10)
    assert snapshot.open is False and snapshot.jobs[0].status == "DONE"
    batch.refresh()
    assert (batch.status, batch.open) == ("TIMED_OUT", False)
    with pytest.raises(JobCreationError, match="TIMED_OUT") as refused:
        batch.add_jobs(jobs(2.0))
    assert '"batch_status": "TIMED_OUT"' in str(refused.value)
    assert sdk.get_batches(BatchFilters(status="TIMED_OUT")).results[0].id == batch.id


def test_failed_jobs_are_rebatched_and_the_retry_succeeds(
    pasqal_emulator: PasqalEmulator,
) -> None:
    from pasqal_cloud.errors import RebatchError
    from pasqal_cloud.utils.constants import JobStatus
    from pasqal_cloud.utils.filters import RebatchFilters

    pasqal_emulator.config.update(fail_points=[{OMEGA: [2.0]}], fail_times=1)
    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), jobs(1.0, 2.0, 3.0), device_type="EMU_FREE", tags=["r"])
    pasqal_emulator.wait_for_batch(batch.id)
    batch.refresh()
    assert batch.status == "DONE"  # some jobs succeeded
    statuses = [job.status for job in batch.ordered_jobs]
    assert statuses == ["DONE", "ERROR", "DONE"]
    failed = batch.ordered_jobs[1]
    assert failed.errors and "fault injected" in failed.errors[0] and failed.result is None
    retry = sdk.rebatch(batch.id, RebatchFilters(status=JobStatus.ERROR))
    assert (retry.parent_id, retry.open, retry.tags) == (batch.id, False, ["r"])
    (copy,) = retry.ordered_jobs
    assert (copy.parent_id, copy.variables, copy.runs) == (failed.id, {OMEGA: [2.0]}, 20)
    assert pasqal_emulator.wait_for_batch(retry.id).status == "DONE"
    assert sdk.get_job(copy.id).result is not None
    with pytest.raises(RebatchError, match="no job"):
        sdk.rebatch(retry.id, RebatchFilters(status=JobStatus.ERROR))
    assert [b.parent_id for b in pasqal_emulator.batches_tagged("r")] == [None, batch.id]


def test_a_job_that_cannot_be_built_ends_in_error(pasqal_emulator: PasqalEmulator) -> None:
    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), [{"runs": 10, "variables": {}}], device_type="EMU_SV")
    assert pasqal_emulator.wait_for_batch(batch.id).status == "ERROR"  # no job succeeded
    (job,) = sdk.get_batch(batch.id).ordered_jobs
    assert job.status == "ERROR" and job.errors and OMEGA in job.errors[0]
    # a job with its own (built) sequence needs none
    own = sdk.create_batch(
        None, [{"runs": 10, "serialized_sequence": sequence(variable=False)}], device_type="EMU_SV"
    )
    assert pasqal_emulator.wait_for_batch(own.id).status == "DONE"
    assert sdk.get_job(own.ordered_jobs[0].id).sequence == sequence(variable=False)


def test_requests_the_service_refuses(pasqal_emulator: PasqalEmulator) -> None:
    from pasqal_cloud.errors import BatchCreationError, BatchFetchingError

    sdk = pasqal_sdk(pasqal_emulator)
    with pytest.raises(BatchCreationError, match=r"400: sequence_builder: invalid sequence"):
        sdk.create_batch('{"not": "a sequence"}', jobs(1.0), device_type="EMU_FREE")
    with pytest.raises(BatchCreationError, match="unknown device_type"):
        sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_QUANTUM")
    no_jobs = pytest.warns(UserWarning, match="batch sequence will not be used")  # the SDK's
    with no_jobs, pytest.raises(BatchCreationError, match="needs at least one job"):
        sdk.create_batch(sequence(), [], device_type="EMU_FREE")
    pasqal_emulator.config.update(max_jobs_per_batch=2)
    with pytest.raises(BatchCreationError, match="3 jobs, more than 2"):
        sdk.create_batch(sequence(), jobs(1.0, 2.0, 3.0), device_type="EMU_FREE")
    with pytest.raises(BatchFetchingError, match="404"):
        sdk.get_batch("00000000-0000-0000-0000-000000000000")
    assert pasqal_emulator.batches() == []


def test_cancel_a_job_some_jobs_and_a_batch(pasqal_emulator: PasqalEmulator) -> None:
    from pasqal_cloud.errors import BatchCancellingError, JobCancellingError
    from pasqal_cloud.utils.filters import CancelJobFilters

    sdk = pasqal_sdk(pasqal_emulator)
    done = sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_FREE")
    pasqal_emulator.wait_for_batch(done.id)
    pasqal_emulator.config.update(queue_time=60.0)
    batch = sdk.create_batch(sequence(), jobs(1.0, 2.0, 3.0, 4.0), device_type="EMU_FREE")
    first, second, *_ = batch.ordered_jobs
    assert first.full_result is None  # no results link before it is DONE
    assert sdk.cancel_job(first.id).status == "CANCELED"
    assert sdk.cancel_job(first.id).status == "CANCELED"  # again: as it is
    some = sdk.cancel_jobs(batch.id, CancelJobFilters(id=[first.id, second.id]))
    assert [job.id for job in some.jobs] == [first.id, second.id] and some.errors == {}
    cancelled = sdk.cancel_batch(batch.id)
    assert cancelled.status == "CANCELED"
    assert {job.status for job in cancelled.ordered_jobs} == {"CANCELED"}
    with pytest.raises(JobCancellingError, match="DONE"):
        sdk.cancel_job(done.ordered_jobs[0].id)
    with pytest.raises(BatchCancellingError, match="DONE"):
        sdk.cancel_batch(done.id)
    both = sdk.cancel_batches([batch.id, done.id])
    assert [b.id for b in both.batches] == [batch.id] and list(both.errors) != []


def test_a_running_job_is_cancelled_slowly(pasqal_emulator: PasqalEmulator) -> None:
    pasqal_emulator.config.update(run_time=1.5, cancel_delay=0.3)
    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_FREE")
    pasqal_emulator.wait_for_batch(batch.id, ["RUNNING"])
    job = batch.ordered_jobs[0]
    started = time.monotonic()
    assert job.cancel()["status"] == "RUNNING"  # the cancel is on its way
    assert pasqal_emulator.wait_for_batch(batch.id).status == "CANCELED"
    assert 0.3 <= time.monotonic() - started < 1.4  # not at once, and before the run ends
    assert sdk.get_job(job.id).status == "CANCELED"


def test_a_mappable_register_runs_on_the_traps_each_job_chooses(
    pasqal_emulator: PasqalEmulator,
) -> None:
    sdk = pasqal_sdk(pasqal_emulator)
    three = {"qubits": {"q0": 1, "q1": 5, "q2": 2}, OMEGA: [10.0]}
    four = {"qubits": {"q0": 0, "q1": 1, "q2": 2, "q3": 3}, OMEGA: [10.0]}
    outside = {"qubits": {"q0": 0, "q1": 99}, OMEGA: [10.0]}
    batch = sdk.create_batch(
        sequence(6, mappable=True),
        [{"runs": 25, "variables": v} for v in (three, four, outside)],
        device_type="EMU_FRESNEL",
    )
    pasqal_emulator.wait_for_batch(batch.id)
    ran, also, refused = sdk.get_batch(batch.id).ordered_jobs
    assert {len(bits) for bits in ran.result or {}} == {3}
    assert {len(bits) for bits in also.result or {}} == {4}
    assert refused.status == "ERROR" and refused.errors


def test_the_device_specs_deserialize_with_pulser(pasqal_emulator: PasqalEmulator) -> None:
    from pasqal_cloud.authentication import TokenProvider
    from pasqal_cloud.endpoints import Endpoints
    from pasqal_cloud.pasqal_cloud_connection import PasqalCloudConnection
    from pulser.devices import AnalogDevice
    from pulser.json.abstract_repr.deserializer import deserialize_device

    class Token(TokenProvider):
        def get_token(self) -> str:
            return TOKEN

    specs = pasqal_sdk(pasqal_emulator).get_device_specs_dict()
    assert tuple(specs) == DEVICE_TYPES
    devices = {name: deserialize_device(text) for name, text in specs.items()}
    assert all(device.name == name for name, device in devices.items())
    assert (devices["EMU_FREE"].max_atom_num or 0) > (AnalogDevice.max_atom_num or 0)
    assert devices["FRESNEL"].channels == AnalogDevice.channels
    connection = PasqalCloudConnection(
        project_id=PROJECT_ID,
        token_provider=Token(),
        endpoints=Endpoints(core=pasqal_emulator.url, account=pasqal_emulator.url),
    )
    assert connection.fetch_available_devices() == devices
    public = requests.get(f"{pasqal_emulator.url}/api/v1/devices/public-specs", timeout=10)
    assert [d["device_type"] for d in public.json()["data"]] == list(DEVICE_TYPES)


def test_a_request_without_the_token_is_refused(pasqal_emulator: PasqalEmulator) -> None:
    url = f"{pasqal_emulator.url}/api/v2/jobs"
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        answer = requests.get(url, headers=headers, timeout=10)
        assert answer.status_code == 401
        body = answer.json()
        assert (body["status"], body["code"], body["data"]["error_code"]) == (
            "fail",
            401,
            "Unauthorized",
        )
    assert pasqal_environ(pasqal_emulator)["PASQAL_TOKEN"] == TOKEN


def test_a_502_after_commit_makes_one_create_batch_call_create_two_batches(
    pasqal_emulator: PasqalEmulator,
) -> None:
    """The duplicate trap: the plain SDK sends a POST again on 502 (after 1 s), and the
    first one had made its batch: one ``create_batch`` call, two batches."""
    pasqal_emulator.config.update(queue_time=60.0)
    pasqal_emulator.faults.error(after_commit=True, status=502, operations=["CreateBatch"], next=1)
    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_FREE", tags=["dup"])
    made = pasqal_emulator.batches_tagged("dup")
    assert len(made) == 2 and made[1].id == batch.id
    calls = pasqal_emulator.calls.calls("CreateBatch")
    assert [(c.status, c.committed) for c in calls] == [(502, True), (200, True)]
    assert [c.batch_id for c in calls] == [b.id for b in made]
    # a throttle is waited out as the service asks (Retry-After: 0 s here)
    pasqal_emulator.faults.throttle(operations=["GetBatch"], next=1, retry_after=0)
    assert sdk.get_batch(batch.id).id == batch.id
    assert [c.status for c in pasqal_emulator.calls.calls("GetBatch")] == [429, 200]


def test_a_batch_sent_without_gzip_is_taken_alike(
    pasqal_emulator: PasqalEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASQAL_SKIP_GZIP_REQUEST_BODY", "1")
    sdk = pasqal_sdk(pasqal_emulator)
    batch = sdk.create_batch(sequence(), jobs(1.0), device_type="EMU_FREE", tags=["plain"])
    batch.set_tags(["plain", "again"])
    assert pasqal_emulator.batch(batch.id).tags == ("plain", "again")


def test_settings_are_checked_and_reset(pasqal_emulator: PasqalEmulator) -> None:
    with pytest.raises(ValueError, match="queue_time"):
        pasqal_emulator.config.update(queue_time=-1.0)
    with pytest.raises(ValueError, match="fail_points"):
        pasqal_emulator.config.update(fail_points=[{}])
    admin = PasqalAdmin(pasqal_emulator.url)
    assert admin.set_config(cancel_delay=2.0)["cancel_delay"] == 2.0
    pasqal_emulator.reset()
    assert pasqal_emulator.config.get("cancel_delay") == 0.0
