"""The provider contract: what every provider must do, whatever its service. Each provider
joins by adding a subject below; the local provider, the scripted test provider, and the
Braket, Azure Quantum and Pasqal Cloud providers (through the real SDKs against their
emulators) are the subjects today, and hybrid jobs on the local provider and on Braket.
Every subject runs the same ``ry(theta)``: an OpenQASM program, on Pasqal a Pulser sequence
whose pulse area is ``theta``, and as a hybrid job a script that runs the circuit on its
job's device and saves the counts (a hybrid job has no shots of its own: its saved counts
are what is normalised).

1. The same key gives the same job: submitting a dispatch again returns the same receipt.
2. A dispatch that was made is found by its key, whatever the caller saw (an ambiguous
   error, or a caller that died after the call).
3. Many jobs are observed in one call.
4. Cancelling a job that has finished is not an error, and changes nothing.
5. Results are normalised: ``counts`` maps bitstrings of one length to integers summing
   to the shots.
6. Native batches: one receipt, one job id per member, each with its own result; a
   provider without them refuses a batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from qplan.jobstatus import JobStatus
from qplan.manifest.hybrid import HybridSpec
from qplan.manifest.hybrid_source import pack_source
from qplan.providers import (
    AmbiguousError,
    Dispatch,
    Member,
    Observation,
    PermanentError,
    Provider,
)
from tests.conftest import RY
from tests.unit.executor.fakes import ScriptedProvider

SHOTS = 20


@dataclass
class Subject:
    """A provider under contract. ``lost_track``: a context in which the next submission
    is made but its caller does not learn of it (an ambiguous error, or a crash), and
    which yields the provider to look it up with (the same one, or a new process's)."""

    name: str
    provider: Provider
    device: str
    lost_track: Callable[[], AbstractContextManager[Provider]]
    format: str = "openqasm3"
    program: str | bytes = RY
    hybrid: HybridSpec | None = None


def dispatch(subject: Subject, key: str, *thetas: float) -> Dispatch:
    extra = {"shots": SHOTS} if subject.hybrid is not None else {}
    members = tuple(
        Member(f"scan[theta={t}]", f"fp{i}", 1, {"theta": t, **extra}, "scan")
        for i, t in enumerate(thetas)
    )
    shots = 0 if subject.hybrid is not None else SHOTS
    return Dispatch(
        key,
        "contract",
        subject.device,
        subject.format,
        subject.program,
        shots,
        members,
        entry=None if subject.hybrid is None else subject.hybrid.entry_point,
        hybrid=subject.hybrid,
    )


HYBRID_RY = """import json
import os


def main():
    from braket.circuits import Circuit
    from braket.jobs import save_job_result

    with open(os.environ["AMZN_BRAKET_HP_FILE"]) as file:
        hyperparameters = json.load(file)
    arn = os.environ["AMZN_BRAKET_DEVICE_ARN"]
    if arn.startswith("local:"):
        from braket.devices import LocalSimulator

        device = LocalSimulator(arn.rsplit("/", 1)[-1])
    else:
        from braket.aws import AwsDevice

        device = AwsDevice(arn)
    circuit = Circuit().ry(0, float(hyperparameters["theta"]))
    task = device.run(circuit, shots=int(hyperparameters["shots"]))
    save_job_result({"counts": dict(task.result().measurement_counts)})
"""


def hybrid_source(tmp_path: Path) -> tuple[bytes, HybridSpec]:
    """The ``ry(theta)`` hybrid job: its source archive and spec."""
    folder = tmp_path / "ryjob"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "run.py").write_text(HYBRID_RY)
    return pack_source(folder).archive, HybridSpec(entry_point="ryjob.run:main")


def settle(provider: Provider, ids: list[str], seconds: float = 90.0) -> dict[str, Observation]:
    """Observe until every job has ended."""
    deadline = time.monotonic() + seconds
    while True:
        seen = provider.observe(ids)
        if len(seen) == len(ids) and all(o.status.final for o in seen.values()):
            return seen
        assert time.monotonic() < deadline, f"not ended after {seconds} s: {seen}"
        time.sleep(0.1)


def key(n: int) -> str:
    return f"{n:048x}"


def local_subject(tmp_path: Path) -> Iterator[Subject]:
    from qplan.manifest.models import LocalProvider
    from qplan.providers.local import LocalSimulatorProvider

    runs = tmp_path / "local-runs"
    config = LocalProvider(type="local", workers=2)
    provider = LocalSimulatorProvider("local", config, runs)
    others: list[Provider] = []

    @contextmanager
    def lost_track() -> Iterator[Provider]:
        # the caller dies after the run finished: another process finds it by its key
        other = LocalSimulatorProvider("local", config, runs)
        others.append(other)
        yield other

    try:
        yield Subject("local", provider, "braket_sv", lost_track)
    finally:
        provider.close()
        for other in others:
            other.close()


def scripted_subject() -> Iterator[Subject]:
    provider = ScriptedProvider(batch=3)

    @contextmanager
    def lost_track() -> Iterator[Provider]:
        previous = provider.outcome
        provider.outcome = lambda call: "ambiguous-committed"
        try:
            yield provider
        finally:
            provider.outcome = previous

    yield Subject("scripted", provider, "braket_sv", lost_track)


def braket_subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    from qplan.manifest.models import BraketProvider
    from qplan.providers.braket import BraketTaskProvider

    env = request.getfixturevalue("braket_emulator")
    config = BraketProvider(type="braket", region="us-east-1", s3_bucket=env.bucket)
    provider = BraketTaskProvider("aws", config)

    @contextmanager
    def lost_track() -> Iterator[Provider]:
        # made, then a 502 to the caller
        env.faults.error(after_commit=True, status=502, operations=["CreateQuantumTask"], next=1)
        yield provider

    try:
        yield Subject("braket", provider, "sv1", lost_track)
    finally:
        provider.close()


def azure_subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    from qplan.providers.azure import AzureQuantumProvider
    from tests.emulators.azure.fixture import azure_config, azure_environ

    env = request.getfixturevalue("azure_emulator")
    environ = azure_environ(env)
    provider = AzureQuantumProvider("az", azure_config(), environ=environ)
    others: list[Provider] = []

    @contextmanager
    def lost_track() -> Iterator[Provider]:
        # made, then a 502 to the caller (azure-core sends the PUT again, which finds it
        # made); another process looks it up
        env.faults.error(after_commit=True, status=502, operations=["CreateJob"], next=1)
        other = AzureQuantumProvider("az", azure_config(), environ=environ)
        others.append(other)
        yield other

    try:
        yield Subject("azure", provider, "ionq.simulator", lost_track)
    finally:
        for each in (provider, *others):
            each.close()


def pasqal_subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    from qplan.manifest.models import PasqalProvider
    from qplan.providers.pasqal import PasqalCloudProvider
    from tests.emulators.pasqal.fixture import PROJECT_ID, pasqal_environ
    from tests.pulser_programs import flip

    env = request.getfixturevalue("pasqal_emulator")
    environ = pasqal_environ(env)
    config = PasqalProvider(type="pasqal", project_id=PROJECT_ID)
    provider = PasqalCloudProvider("pq", config, environ=environ)
    others: list[Provider] = []

    @contextmanager
    def lost_track() -> Iterator[Provider]:
        # made, then a 502 to the caller (sent once: no retry); another process looks it up
        env.faults.error(after_commit=True, status=502, operations=["CreateBatch"], next=1)
        other = PasqalCloudProvider("pq", config, environ=environ)
        others.append(other)
        yield other

    try:
        yield Subject("pasqal", provider, "EMU_FREE", lost_track, "pulser", flip())
    finally:
        for each in (provider, *others):
            each.close()


def local_hybrid_subject(tmp_path: Path) -> Iterator[Subject]:
    from qplan.manifest.models import LocalProvider
    from qplan.providers.local import LocalSimulatorProvider

    config = LocalProvider(type="local", workers=2)
    folders = (tmp_path / "local-runs", tmp_path / "hybrid-jobs")
    provider = LocalSimulatorProvider("local", config, *folders)
    others: list[Provider] = []

    @contextmanager
    def lost_track() -> Iterator[Provider]:
        # the caller loses track of the job: another provider finds it by its key
        other = LocalSimulatorProvider("local", config, *folders)
        others.append(other)
        yield other

    program, spec = hybrid_source(tmp_path)
    try:
        yield Subject(
            "local-hybrid", provider, "braket_sv", lost_track, "braket.hybrid", program, spec
        )
    finally:
        for each in (provider, *others):
            each.close()


def braket_hybrid_subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    from qplan.manifest.models import BraketProvider
    from qplan.providers.braket import BraketTaskProvider

    env = request.getfixturevalue("braket_emulator")
    role = "arn:aws:iam::123456789012:role/qplan-jobs"
    config = BraketProvider(type="braket", region="us-east-1", s3_bucket=env.bucket, role_arn=role)
    provider = BraketTaskProvider("aws", config)
    others: list[Provider] = []

    @contextmanager
    def lost_track() -> Iterator[Provider]:
        # made, then a 502 to the caller; another process looks it up
        env.faults.error(after_commit=True, status=502, operations=["CreateJob"], next=1)
        other = BraketTaskProvider("aws", config)
        others.append(other)
        yield other

    program, spec = hybrid_source(tmp_path)
    try:
        yield Subject("braket-hybrid", provider, "sv1", lost_track, "braket.hybrid", program, spec)
    finally:
        for each in (provider, *others):
            each.close()


SUBJECTS = ["local", "scripted", "braket", "azure", "pasqal", "local-hybrid", "braket-hybrid"]


@pytest.fixture(params=SUBJECTS)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "local":
        yield from local_subject(tmp_path)
    elif request.param == "local-hybrid":
        yield from local_hybrid_subject(tmp_path)
    elif request.param == "braket-hybrid":
        yield from braket_hybrid_subject(request, tmp_path)
    elif request.param == "scripted":
        yield from scripted_subject()
    elif request.param == "braket":
        yield from braket_subject(request)
    elif request.param == "azure":
        yield from azure_subject(request)
    else:
        yield from pasqal_subject(request)


def test_the_same_key_gives_the_same_job(subject: Subject) -> None:
    first = subject.provider.submit(dispatch(subject, key(1), 0.5))
    again = subject.provider.submit(dispatch(subject, key(1), 0.5))
    assert again == first
    assert subject.provider.lookup([key(1)], time.time() - 60)[key(1)] == first
    settle(subject.provider, list(first.member_ids))


def test_a_dispatch_that_was_made_is_found_by_its_key(subject: Subject) -> None:
    sent = dispatch(subject, key(2), 0.5)
    with subject.lost_track() as finder:
        try:
            made = subject.provider.submit(sent)
        except AmbiguousError:
            made = None  # the caller does not know whether it was made
        if made is not None:
            settle(subject.provider, list(made.member_ids))
    found = finder.lookup([key(2), key(99)], time.time() - 60)
    assert list(found) == [key(2)]  # and nothing for a key never sent
    assert made is None or found[key(2)] == made
    assert finder.submit(sent) == found[key(2)]  # sending again makes no second job
    seen = settle(finder, list(found[key(2)].member_ids))
    assert {o.status for o in seen.values()} == {JobStatus.SUCCEEDED}


def test_many_jobs_are_observed_in_one_call(subject: Subject) -> None:
    receipts = [subject.provider.submit(dispatch(subject, key(10 + i), 0.1 * i)) for i in range(5)]
    ids = [r.member_ids[0] for r in receipts]
    seen = settle(subject.provider, ids)
    assert set(seen) == set(ids)
    assert {o.status for o in seen.values()} == {JobStatus.SUCCEEDED}


def test_cancelling_a_finished_job_is_not_an_error(subject: Subject) -> None:
    (job_id,) = subject.provider.submit(dispatch(subject, key(20), 0.0)).member_ids
    settle(subject.provider, [job_id])
    subject.provider.cancel([job_id])
    assert subject.provider.observe([job_id])[job_id].status is JobStatus.SUCCEEDED


def normalised(result: dict[str, object], shots: int, qubits: int) -> bool:
    counts = result["counts"]
    assert isinstance(counts, dict)
    return (
        all(isinstance(k, str) and len(k) == qubits and set(k) <= {"0", "1"} for k in counts)
        and all(isinstance(v, int) for v in counts.values())
        and sum(counts.values()) == shots
    )


def test_results_are_normalised(subject: Subject) -> None:
    (job_id,) = subject.provider.submit(dispatch(subject, key(30), 3.141592653589793)).member_ids
    settle(subject.provider, [job_id])
    result = subject.provider.result(job_id)
    if subject.name == "scripted":  # it counts shots on one outcome, on no qubit of its own
        assert result["counts"] == {"0": SHOTS}
        return
    if subject.hybrid is not None:  # no shots of its own: what it saved, and no counts
        assert result["counts"] == {}
        assert result["hybrid"]["dataFormat"] == "plaintext"
        result = result["hybrid"]["dataDictionary"]
    assert normalised(result, SHOTS, 1)
    assert result["counts"] == {"1": SHOTS}  # ry(pi) flips the qubit


def test_native_batches_give_each_member_its_own_job(subject: Subject) -> None:
    limit = subject.provider.batch_limit(subject.device, subject.format, SHOTS)
    batch = dispatch(subject, key(40), 0.0, 3.141592653589793, 0.0)
    if limit < 3:  # no native batches: a batch is refused, never run as something else
        with pytest.raises(PermanentError):
            subject.provider.submit(batch)
        return
    receipt = subject.provider.submit(batch)
    assert len(receipt.member_ids) == 3 and len(set(receipt.member_ids)) == 3
    seen = settle(subject.provider, list(receipt.member_ids))
    assert {o.status for o in seen.values()} == {JobStatus.SUCCEEDED}
    if subject.name != "scripted":  # (hybrid jobs go one per dispatch: refused above)
        counts = [subject.provider.result(i)["counts"] for i in receipt.member_ids]
        assert counts == [{"0": SHOTS}, {"1": SHOTS}, {"0": SHOTS}]  # each its own point
