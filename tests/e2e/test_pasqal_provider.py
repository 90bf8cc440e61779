"""The Pasqal provider's exactly-once paths and bulk observation, call by call: the real
SDK against the emulator. A write whose answer is lost (502 after commit) is found by its
key: a batch by its tag, an add to an open batch and a rebatch by the journal entry on the
batch's tags."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from qplan.jobstatus import JobStatus
from qplan.manifest.models import PasqalProvider
from qplan.providers import AmbiguousError, Dispatch, Member, Observation, Receipt
from qplan.providers.pasqal import PasqalCloudProvider
from tests.emulators.pasqal.emulator import PasqalEmulator
from tests.emulators.pasqal.fixture import PROJECT_ID, pasqal_environ
from tests.pulser_programs import flip

PI = 3.141592653589793


@pytest.fixture
def provider(pasqal_emulator: PasqalEmulator) -> Iterator[PasqalCloudProvider]:
    config = PasqalProvider(type="pasqal", project_id=PROJECT_ID)
    made = PasqalCloudProvider("pq", config, environ=pasqal_environ(pasqal_emulator))
    try:
        yield made
    finally:
        made.close()


def dispatch(
    key: str, *thetas: float, group: str | None = None, previous: tuple[str, ...] = ()
) -> Dispatch:
    members = tuple(
        Member(
            f"scan[theta={t}]",
            f"fp{i}",
            2 if previous else 1,
            {"theta": t},
            "scan",
            previous=previous[i] if previous else None,
        )
        for i, t in enumerate(thetas)
    )
    return Dispatch(key, "st", "EMU_FREE", "pulser", flip(), 10, members, group=group)


def settle(provider: PasqalCloudProvider, ids: list[str]) -> dict[str, Observation]:
    deadline = time.monotonic() + 60
    while True:
        seen = provider.observe(ids)
        if len(seen) == len(ids) and all(o.status.final for o in seen.values()):
            return seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)


def lost(emulator: PasqalEmulator, operation: str) -> None:
    emulator.faults.error(after_commit=True, status=502, operations=[operation], next=1)


def test_an_add_to_an_open_batch_whose_answer_was_lost_is_found_by_its_key(
    provider: PasqalCloudProvider, pasqal_emulator: PasqalEmulator
) -> None:
    assert provider.sessions is not None
    batch = provider.sessions.open("s" * 48, "s", "EMU_FREE", False)
    first = provider.submit(dispatch("a" * 48, 0.0, group=batch))
    lost(pasqal_emulator, "AddJobs")
    with pytest.raises(AmbiguousError):
        provider.submit(dispatch("b" * 48, PI, PI / 2, group=batch))
    found = provider.lookup(["a" * 48, "b" * 48, "c" * 48])
    assert set(found) == {"a" * 48, "b" * 48}  # nothing for a key never sent
    assert found["a" * 48] == first
    jobs = pasqal_emulator.batch(batch).jobs
    assert len(jobs) == 3
    assert found["b" * 48] == Receipt(batch, (f"{batch}/{jobs[1].id}", f"{batch}/{jobs[2].id}"))
    # sent again under its key: the same jobs, nothing added
    assert provider.submit(dispatch("b" * 48, PI, PI / 2, group=batch)) == found["b" * 48]
    assert len(pasqal_emulator.batch(batch).jobs) == 3


def test_a_rebatch_whose_answer_was_lost_is_found_by_its_key(
    provider: PasqalCloudProvider, pasqal_emulator: PasqalEmulator
) -> None:
    pasqal_emulator.config.update(fail_points=[{"theta": PI}], fail_times=1)
    made = provider.submit(dispatch("d" * 48, 0.0, PI, PI / 2))
    seen = settle(provider, list(made.member_ids))
    failed = tuple(i for i in made.member_ids if seen[i].status is JobStatus.FAILED)
    assert len(failed) == 1
    lost(pasqal_emulator, "Rebatch")
    with pytest.raises(AmbiguousError):
        provider.submit(dispatch("e" * 48, PI, previous=failed))
    other = PasqalCloudProvider(
        "pq",
        PasqalProvider(type="pasqal", project_id=PROJECT_ID),
        environ=pasqal_environ(pasqal_emulator),
    )
    try:
        found = other.lookup(["e" * 48], time.time() - 60)["e" * 48]
        assert other.submit(dispatch("e" * 48, PI, previous=failed)) == found
    finally:
        other.close()
    (child,) = [b for b in pasqal_emulator.batches() if b.parent_id == made.ref]
    assert found.ref == child.id and child.jobs[0].parent_id == failed[0].split("/")[1]
    assert pasqal_emulator.calls.counts()["Rebatch"] == 1  # never repeated
    assert settle(provider, list(found.member_ids))[found.member_ids[0]].status is (
        JobStatus.SUCCEEDED
    )
    assert provider.result(found.member_ids[0])["counts"] == {"1": 10}


def test_jobs_in_flight_are_observed_100_per_call(
    provider: PasqalCloudProvider, pasqal_emulator: PasqalEmulator
) -> None:
    pasqal_emulator.config.update(queue_time=30.0)
    made = provider.submit(dispatch("f" * 48, *[0.01 * i for i in range(250)]))
    before = pasqal_emulator.calls.counts().get("GetJobs", 0)
    seen = provider.observe(list(made.member_ids))
    assert len(seen) == 250 and {o.status for o in seen.values()} == {JobStatus.QUEUED}
    assert pasqal_emulator.calls.counts()["GetJobs"] - before == 3  # ceil(250 / 100)
    provider.cancel(list(made.member_ids))  # the whole batch: one call
    assert pasqal_emulator.calls.counts().get("CancelBatch", 0) == 1
    assert pasqal_emulator.batch(made.ref).status == "CANCELED"


def test_an_add_made_before_its_open_batch_ended_is_adopted_not_refused(
    provider: PasqalCloudProvider, pasqal_emulator: PasqalEmulator
) -> None:
    # the add was made, its answer lost; the batch was closed meanwhile (the apply that sent
    # it went on): sending it again under its key finds its job, it is not "session ended"
    assert provider.sessions is not None
    batch = provider.sessions.open("9" * 48, "s", "EMU_FREE", False)
    lost(pasqal_emulator, "AddJobs")
    with pytest.raises(AmbiguousError):
        provider.submit(dispatch("8" * 48, PI, group=batch))
    provider.sessions.close(batch)
    (job,) = pasqal_emulator.batch(batch).jobs
    again = provider.submit(dispatch("8" * 48, PI, group=batch))
    assert again == Receipt(batch, (f"{batch}/{job.id}",))
