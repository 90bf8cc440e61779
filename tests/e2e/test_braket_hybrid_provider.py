"""The Braket provider's hybrid jobs (no CLI), through the real SDK and boto3 against the
emulator: a job's source runs (a circuit on the emulator's SV1, metrics, a saved result),
exactly once under its key (a resend, a 5xx after CreateJob, a lookup from another process),
its log from CloudWatch Logs, its details and output archive, a cancel and a failure."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qplan.jobstatus import JobStatus
from qplan.manifest.hybrid import HybridSpec, InputChannel
from qplan.manifest.hybrid_source import input_digest, pack_source
from qplan.manifest.models import BraketProvider as BraketConfig
from qplan.providers import (
    AmbiguousError,
    Dispatch,
    Member,
    Observation,
    PermanentError,
    TransientError,
)
from qplan.providers.braket import BraketTaskProvider
from qplan.providers.hybrid import parse_metrics
from tests.emulators.braket.fixture import BraketEmulatorEnv

ROLE = "arn:aws:iam::123456789012:role/qplan-jobs"

MAIN = """\
import json
import os
import time


def run():
    from braket.aws import AwsDevice
    from braket.circuits import Circuit
    from braket.jobs import get_input_data_dir, save_job_checkpoint, save_job_result
    from braket.jobs.metrics import log_metric

    with open(os.environ["AMZN_BRAKET_HP_FILE"]) as file:
        hyperparameters = json.load(file)
    device = AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])
    counts = device.run(Circuit().h(0).cnot(0, 1), shots=int(hyperparameters["shots"])).result()
    for step in range(3):
        log_metric("cost", 1.0 / (step + 1), iteration_number=step)
    print("done with", sum(counts.measurement_counts.values()), "shots")
    with open(os.path.join(get_input_data_dir("points"), "greeting.txt")) as file:
        greeting = file.read().strip()
    save_job_checkpoint({"step": 3}, checkpoint_file_suffix="progress")
    save_job_result(
        {"counts": dict(counts.measurement_counts), "lr": hyperparameters["lr"], "hi": greeting}
    )


def wait():
    time.sleep(60)


def boom():
    raise RuntimeError("the optimiser diverged")
"""


@pytest.fixture
def source(tmp_path: Path) -> bytes:
    folder = tmp_path / "algo"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "main.py").write_text(MAIN)
    return pack_source(folder).archive  # the folder under its own name, as the manifest packs it


@pytest.fixture
def points(tmp_path: Path) -> InputChannel:
    """A local input folder, as the manifest resolves it: absolute, with its digest."""
    folder = tmp_path / "points"
    folder.mkdir()
    (folder / "greeting.txt").write_text("hello\n")
    return InputChannel("points", path=str(folder), digest=input_digest(folder))


@pytest.fixture
def provider(braket_emulator: BraketEmulatorEnv) -> Iterator[BraketTaskProvider]:
    yield make(braket_emulator)


def make(env: BraketEmulatorEnv, role: str | None = ROLE) -> BraketTaskProvider:
    config = BraketConfig(
        type="braket", region="us-east-1", s3_bucket=env.bucket, s3_prefix="t", role_arn=role
    )
    return BraketTaskProvider("aws", config)


def hybrid(
    source: bytes,
    key: str,
    entry: str = "algo.main:run",
    channels: tuple[InputChannel, ...] = (),
    **inputs: Any,
) -> Dispatch:
    return Dispatch(
        key=key,
        stack="vqe",
        device="sv1",
        format="braket.hybrid",
        program=source,
        shots=0,
        members=(Member(f"train[k={key[:4]}]", "f" * 16, 1, {"shots": 100, "lr": 0.1, **inputs}),),
        entry=entry,
        hybrid=HybridSpec(entry_point=entry, input_data=channels),
    )


def settle(provider: BraketTaskProvider, arn: str, timeout: float = 40.0) -> Observation:
    deadline = time.monotonic() + timeout
    while True:
        seen = provider.observe([arn]).get(arn)
        if seen is not None and seen.status.final:
            return seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)


def puts(provider: BraketTaskProvider) -> list[str]:
    """The S3 PutObject calls of the provider's own S3 client, recorded as they go."""
    made: list[str] = []
    s3 = provider.jobs._client("s3")
    s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: made.append(params["Key"])
    )
    return made


def searches(env: BraketEmulatorEnv) -> tuple[int, int]:
    counts = env.calls.counts()
    return counts.get("SearchJobs", 0), counts.get("GetJob", 0)


def test_a_job_runs_once_and_tells_its_log_details_and_output(
    braket_emulator: BraketEmulatorEnv,
    provider: BraketTaskProvider,
    source: bytes,
    points: InputChannel,
) -> None:
    env = braket_emulator
    uploads = puts(provider)
    start = time.time()
    sent = hybrid(source, "a" * 48, channels=(points,))
    receipt = provider.submit(sent)
    arn = receipt.ref
    assert receipt.member_ids == (arn,) and ":job/" in arn
    assert sorted(uploads) == [
        f"t/jobs/data/{points.digest}/points/greeting.txt",
        f"t/jobs/source/{hashlib.sha256(source).hexdigest()}/source.tar.gz",
    ]
    assert provider.submit(sent) == receipt  # the same key: the same job
    assert len(uploads) == 2  # and nothing uploaded again
    assert env.calls.counts()["CreateJob"] == 2
    assert len(env.admin.jobs()) == 1

    seen = settle(provider, arn)
    assert seen.status is JobStatus.SUCCEEDED and seen.started_at is not None
    before = searches(env)
    assert provider.observe([arn])[arn].status is JobStatus.SUCCEEDED
    assert searches(env) == (before[0] + 1, before[1])  # one search, no GetJob
    result = provider.result(arn)
    assert result["counts"] == {}
    data = result["hybrid"]["dataDictionary"]
    assert sum(data["counts"].values()) == 100 and data["lr"] == "0.1" and data["hi"] == "hello"
    listed = env.s3_client().list_objects_v2(Bucket=env.bucket, Prefix="t/jobs/checkpoints/vqe/")
    address_hash = hashlib.sha256(sent.members[0].address.encode()).hexdigest()[:16]
    assert [o["Key"] for o in listed.get("Contents", [])] == [
        f"t/jobs/checkpoints/vqe/{address_hash}/{result['hybrid']['job']}_progress.json"
    ]
    assert result["hybrid"]["job_id"] == arn and result["hybrid"]["job"].startswith("qp-vqe-")

    api = provider.hybrid_jobs
    assert api is not None
    lines: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        chunk = api.log(arn, cursor)
        lines.extend(chunk.lines)
        cursor = chunk.cursor
        if chunk.final:
            break
    assert chunk.final and any("done with 100 shots" in line for line in lines)
    assert [(m.name, m.value, m.iteration) for m in parse_metrics(lines)] == [
        ("cost", 1.0, 0),
        ("cost", 0.5, 1),
        ("cost", 1.0 / 3, 2),
    ]
    again = api.log(arn, cursor)
    assert again.lines == () and again.final  # nothing new once read

    details = api.details(arn)
    assert details.status is JobStatus.SUCCEEDED and details.name == result["hybrid"]["job"]
    assert details.billable_seconds is not None and details.billable_seconds >= 0
    # what the job is billed by, recorded with its result: GetJob's instance time and config
    assert result["billed"] == {
        "job": arn,
        "billable_seconds": details.billable_seconds,
        "instance_type": "ml.m5.large",
        "instance_count": 1,
    }
    assert {"QUEUED_FOR_EXECUTION", "COMPLETED"} <= {name for _, name, _ in details.events}
    assert details.ended_at is not None and details.ended_at >= start - 5
    with tarfile.open(fileobj=io.BytesIO(api.output(arn)), mode="r:gz") as tar:
        saved = json.loads(tar.extractfile("results.json").read())  # type: ignore[union-attr]
    assert saved["dataDictionary"] == data

    fresh = make(env)  # another process: only the key is known
    before = searches(env)
    assert fresh.lookup(["a" * 48, "b" * 48], since=start) == {"a" * 48: receipt}
    assert searches(env) == (before[0] + 2, before[1])  # one SearchJobs per key, by name
    assert fresh.observe([arn])[arn].status is JobStatus.SUCCEEDED
    assert env.calls.counts()["CreateJob"] == 2 and len(env.admin.jobs()) == 1

    # an archive not listed yet, just after the job ended: read again later
    output = f"t/jobs/{result['hybrid']['job']}/data/output/model.tar.gz"
    env.s3_client().delete_object(Bucket=env.bucket, Key=output)
    with pytest.raises(TransientError, match="not in S3 yet"):
        fresh.result(arn)
    with pytest.raises(PermanentError, match="no output archive"):
        api.output(arn)


def test_a_5xx_after_create_job_is_ambiguous_and_found_by_its_key(
    braket_emulator: BraketEmulatorEnv, provider: BraketTaskProvider, source: bytes
) -> None:
    env = braket_emulator
    env.config.update(job_queue_time=30.0)
    env.faults.error(after_commit=True, operations=["CreateJob"], next=1)
    start = time.time()
    with pytest.raises(AmbiguousError):
        provider.submit(hybrid(source, "c" * 48, entry="algo.main:wait"))
    found = provider.lookup(["c" * 48], since=start)
    (job,) = env.admin.jobs()
    assert found["c" * 48].ref == job["jobArn"]
    assert len(env.admin.jobs()) == 1
    arn = found["c" * 48].ref
    provider.cancel([arn])
    provider.cancel([arn])  # cancelling again is not an error
    assert settle(provider, arn).status is JobStatus.CANCELLED


def test_a_job_that_raises_fails_with_its_reason(
    braket_emulator: BraketEmulatorEnv, provider: BraketTaskProvider, source: bytes
) -> None:
    arn = provider.submit(hybrid(source, "d" * 48, entry="algo.main:boom")).ref
    seen = settle(provider, arn)
    assert seen.status is JobStatus.FAILED
    assert seen.error is not None and "the optimiser diverged" in seen.error
    assert provider.hybrid_jobs is not None
    assert provider.hybrid_jobs.details(arn).failure == seen.error


def test_without_a_role_nothing_is_sent(
    braket_emulator: BraketEmulatorEnv, source: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRAKET_JOBS_ROLE_ARN", raising=False)
    provider = make(braket_emulator, role=None)
    with pytest.raises(PermanentError, match="BRAKET_JOBS_ROLE_ARN"):
        provider.submit(hybrid(source, "e" * 48))
    assert braket_emulator.calls.counts().get("CreateJob", 0) == 0


def test_tasks_and_jobs_are_observed_together(
    braket_emulator: BraketEmulatorEnv, provider: BraketTaskProvider, source: bytes
) -> None:
    """One observe call holds a task and a job: one search of each kind."""
    env = braket_emulator
    env.config.update(job_queue_time=30.0)
    job = provider.submit(hybrid(source, "f" * 48)).ref
    program = "OPENQASM 3.0;\nqubit q;\nbit c;\nh q;\nc = measure q;\n"
    member = Member("coin", "f" * 16, 1, {})
    task = provider.submit(
        Dispatch("9" * 48, "vqe", "sv1", "openqasm3", program, 10, (member,))
    ).ref
    before = env.calls.counts()
    seen = provider.observe([job, task])
    after = env.calls.counts()
    assert seen[job].status is JobStatus.QUEUED and task in seen
    assert after.get("SearchJobs", 0) - before.get("SearchJobs", 0) == 1
    assert after.get("SearchQuantumTasks", 0) - before.get("SearchQuantumTasks", 0) == 1
    provider.cancel([job, task])
    assert settle(provider, job).status is JobStatus.CANCELLED
