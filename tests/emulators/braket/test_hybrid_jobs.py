"""Hybrid jobs on the Braket emulator through the REAL amazon-braket-sdk (``AwsQuantumJob``)
and boto3 client over HTTP; S3 and CloudWatch Logs served by moto. The jobs' processes run
the SDK too, against the same emulator."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulators.braket.fixture import BraketEmulatorEnv

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
ROLE = "arn:aws:iam::123456789012:role/braket-jobs"
JOB_MODULE = """
import os
import subprocess
import sys
import time


def main():
    from braket.aws import AwsDevice
    from braket.circuits import Circuit
    from braket.jobs import (
        get_hyperparameters,
        get_input_data_dir,
        save_job_checkpoint,
        save_job_result,
    )
    from braket.jobs.metrics import log_metric

    hyperparameters = get_hyperparameters()
    shots = int(hyperparameters["shots"])
    with open(os.path.join(get_input_data_dir("input"), "greeting.txt")) as data:
        greeting = data.read().strip()
    device = AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])
    tasks = []
    for i in range(int(hyperparameters["iterations"])):
        task = device.run(Circuit().h(0).cnot(0, 1), shots=shots)
        counts = task.result().measurement_counts
        print(f"iteration {i}: {sum(counts.values())} shots", flush=True)
        log_metric("correlated", counts.get("00", 0) + counts.get("11", 0), iteration_number=i)
        tasks.append(task.id)
    save_job_checkpoint({"done": len(tasks)}, checkpoint_file_suffix="progress")
    save_job_result({"greeting": greeting, "shots": shots, "tasks": tasks})


def fail():
    print("about to fail", flush=True)
    raise ValueError("bad angle")


def idle():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(f"child {child.pid}", flush=True)
    while True:
        time.sleep(0.05)
"""


def write_source(root: Path) -> Path:
    """A package ``algo`` with the job module ``algo.job``; returns its folder."""
    folder = root / "algo"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "job.py").write_text(JOB_MODULE)
    return folder


def upload_source(env: BraketEmulatorEnv, root: Path) -> str:
    """The source archive as ``AwsQuantumJob.create`` lays it out, in S3; its URI."""
    folder = write_source(root)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    key = f"jobs/src/{time.monotonic_ns()}/source.tar.gz"
    env.s3_client().put_object(Bucket=env.bucket, Key=key, Body=buffer.getvalue())
    return f"s3://{env.bucket}/{key}"


def job_request(env: BraketEmulatorEnv, name: str, source: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "jobName": name,
        "roleArn": ROLE,
        "algorithmSpecification": {
            "scriptModeConfig": {
                "entryPoint": "algo.job:idle",
                "s3Uri": source,
                "compressionType": "GZIP",
            }
        },
        "outputDataConfig": {"s3Path": f"s3://{env.bucket}/jobs/{name}/data"},
        "checkpointConfig": {"s3Uri": f"s3://{env.bucket}/jobs/{name}/checkpoints"},
        "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
        "deviceConfig": {"device": SV1},
        "hyperParameters": {},
        "stoppingCondition": {"maxRuntimeInSeconds": 600},
        "tags": {"team": "qplan"},
    }
    request.update(overrides)
    return request


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def sdk_job(env: BraketEmulatorEnv, tmp_path: Path, entry: str, **kwargs: Any) -> Any:
    from braket.aws import AwsQuantumJob, AwsSession

    return AwsQuantumJob.create(
        device=SV1,
        source_module=str(write_source(tmp_path)),
        entry_point=entry,
        role_arn=ROLE,
        wait_until_complete=False,
        aws_session=AwsSession(default_bucket=env.bucket),
        **kwargs,
    )


def test_job_runs_through_the_sdk(
    braket_emulator: BraketEmulatorEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from braket.jobs.config import StoppingCondition

    emulator = braket_emulator.emulator
    data = tmp_path / "data"
    data.mkdir()
    (data / "greeting.txt").write_text("hello\n")
    job = sdk_job(
        braket_emulator,
        tmp_path,
        "algo.job:main",
        job_name="sdk-job-1",
        hyperparameters={"shots": 50, "iterations": 2},
        input_data={"input": str(data)},
        stopping_condition=StoppingCondition(maxRuntimeInSeconds=120),
        tags={"team": "qplan"},
    )
    assert job.arn == "arn:aws:braket:us-east-1:123456789012:job/sdk-job-1"
    assert job.name == "sdk-job-1"
    wait_until(lambda: job.state() in ("COMPLETED", "FAILED"), timeout=40)
    metadata = job.metadata()
    assert metadata["status"] == "COMPLETED", metadata.get("failureReason")
    assert metadata["billableDuration"] >= 0
    assert metadata["startedAt"] <= metadata["endedAt"]
    events = [e["eventType"] for e in metadata["events"]]
    assert events[0] == "QUEUED_FOR_EXECUTION"
    assert events[-2:] == ["UPLOADING_RESULTS", "COMPLETED"]
    assert "RUNNING" in events and "DOWNLOADING_DATA" in events
    assert metadata["queueInfo"]["position"] == "None"
    assert metadata["tags"] == {"team": "qplan"}
    assert job.queue_position().queue_position is None

    result = job.result()
    assert result["greeting"] == "hello" and result["shots"] == 50
    monkeypatch.chdir(tmp_path)
    job.download_result(extract_to=str(tmp_path / "out"))
    saved = json.loads((tmp_path / "out" / "sdk-job-1" / "results.json").read_text())
    assert saved["dataDictionary"]["tasks"] == result["tasks"]

    captured = io.StringIO()
    with redirect_stdout(captured):
        job.logs(poll_interval_seconds=0)
    printed = captured.getvalue()
    assert "iteration 0: 50 shots" in printed and "iteration 1: 50 shots" in printed
    assert "Metrics - timestamp=" in printed and "correlated=" in printed
    assert emulator.job_log(job.arn)[:1] == ["iteration 0: 50 shots"]
    logs = braket_emulator.logs_client()
    streams = logs.describe_log_streams(
        logGroupName="/aws/braket/jobs", logStreamNamePrefix="sdk-job-1/"
    )
    assert [s["logStreamName"].split("/")[1][:6] for s in streams["logStreams"]] == ["algo-1"]

    # the job's tasks carry its token and show its ARN; SearchQuantumTasks finds them by it
    token = emulator.job_token(job.arn)
    task_arns = result["tasks"]  # AwsQuantumTask.id is the ARN
    assert all(emulator.task_job_token(arn) == token for arn in task_arns)
    client = braket_emulator.braket_client()
    found = client.search_quantum_tasks(
        filters=[{"name": "jobArn", "operator": "EQUAL", "values": [job.arn]}]
    )["quantumTasks"]
    assert sorted(t["quantumTaskArn"] for t in found) == sorted(task_arns)
    assert client.get_quantum_task(quantumTaskArn=task_arns[0])["jobArn"] == job.arn

    # checkpoints went back to S3; tags and search
    prefix = metadata["checkpointConfig"]["s3Uri"].split("/", 3)[3]
    keys = [
        o["Key"]
        for o in braket_emulator.s3_client().list_objects_v2(
            Bucket=braket_emulator.bucket, Prefix=prefix
        )["Contents"]
    ]
    assert [k.rsplit("/", 1)[1] for k in keys] == ["sdk-job-1_progress.json"]
    assert client.list_tags_for_resource(resourceArn=job.arn)["tags"] == {"team": "qplan"}
    jobs = client.search_jobs(
        filters=[{"name": "jobName", "operator": "CONTAINS", "values": ["job-1"]}]
    )["jobs"]
    assert [(j["jobArn"], j["status"], j["tags"]) for j in jobs] == [
        (job.arn, "COMPLETED", {"team": "qplan"})
    ]


def test_failing_job_and_max_runtime(braket_emulator: BraketEmulatorEnv, tmp_path: Path) -> None:
    from braket.jobs.config import StoppingCondition

    emulator = braket_emulator.emulator
    failing = sdk_job(braket_emulator, tmp_path / "a", "algo.job:fail", job_name="fails")
    slow = sdk_job(
        braket_emulator,
        tmp_path / "b",
        "algo.job:idle",
        job_name="too-slow",
        stopping_condition=StoppingCondition(maxRuntimeInSeconds=2),
    )
    emulator.config.update(fail_job_hyperparameters={"poison": "*"})
    poisoned = sdk_job(
        braket_emulator,
        tmp_path / "c",
        "algo.job:main",
        job_name="poisoned",
        hyperparameters={"poison": "yes"},
    )
    assert emulator.wait_for_job_status(failing.arn) == "FAILED"
    assert failing.metadata()["failureReason"] == "ValueError: bad angle"
    assert "about to fail" in emulator.job_log(failing.arn)
    assert emulator.wait_for_job_status(slow.arn) == "FAILED"
    metadata = slow.metadata()
    assert "maximum runtime of 2 seconds" in metadata["failureReason"]
    assert "MAX_RUNTIME_EXCEEDED" in [e["eventType"] for e in metadata["events"]]
    for line in emulator.job_log(slow.arn)[:1]:  # the child it started died with it
        assert not alive(int(line.split()[1]))
    assert emulator.wait_for_job_status(poisoned.arn) == "FAILED"
    assert poisoned.metadata()["failureReason"] == emulator.config.fail_job_reason
    assert emulator.job_pids() == []


def test_cancel_kills_the_process_group(braket_emulator: BraketEmulatorEnv, tmp_path: Path) -> None:
    emulator = braket_emulator.emulator
    client = braket_emulator.braket_client()
    source = upload_source(braket_emulator, tmp_path)
    arn = client.create_job(**job_request(braket_emulator, "to-cancel", source))["jobArn"]
    wait_until(lambda: len(emulator.job_log(arn)) > 0)
    pid = emulator.job_pid(arn)
    child = int(emulator.job_log(arn)[0].split()[1])
    assert pid is not None and alive(pid) and alive(child)
    answer = client.cancel_job(jobArn=arn)
    assert answer["cancellationStatus"] in ("CANCELLING", "CANCELLED")
    assert emulator.wait_for_job_status(arn) == "CANCELLED"
    assert client.cancel_job(jobArn=arn)["cancellationStatus"] == "CANCELLED"
    assert not alive(pid) and not alive(child)
    described = client.get_job(jobArn=arn)
    assert described["events"][-1]["eventType"] == "CANCELLED"
    assert "endedAt" in described


def test_queue_position_with_one_slot_and_reset(
    braket_emulator: BraketEmulatorEnv, tmp_path: Path
) -> None:
    from braket.aws import AwsQuantumJob

    emulator = braket_emulator.emulator
    emulator.config.update(job_slots=1, job_queue_time=0.05)
    client = braket_emulator.braket_client()
    source = upload_source(braket_emulator, tmp_path)
    first = client.create_job(**job_request(braket_emulator, "first", source))["jobArn"]
    second = client.create_job(**job_request(braket_emulator, "second", source))["jobArn"]
    assert emulator.wait_for_job_status(first, ["RUNNING"]) == "RUNNING"
    wait_until(
        lambda: (
            "WAITING_FOR_PRIORITY"
            in [e["eventType"] for e in emulator.hybrid_job(second)["events"]]
        )
    )
    queued = AwsQuantumJob(second)
    assert queued.state() == "QUEUED"
    assert queued.queue_position().queue_position == "1"
    assert client.get_job(jobArn=second, additionalAttributeNames=["QueueInfo"])["queueInfo"] == {
        "queue": "JOBS_QUEUE",
        "position": "1",
    }
    client.cancel_job(jobArn=first)
    assert emulator.wait_for_job_status(second, ["RUNNING"]) == "RUNNING"
    wait_until(lambda: emulator.job_pid(second) is not None)
    pid = emulator.job_pid(second)
    assert pid is not None
    emulator.reset()  # kills what runs
    assert emulator.hybrid_jobs() == [] and not alive(pid)


def test_client_token_replay_name_conflict_and_5xx_after_commit(
    braket_emulator: BraketEmulatorEnv,
) -> None:
    emulator = braket_emulator.emulator
    emulator.config.update(job_queue_time=600)  # nothing runs
    client = braket_emulator.braket_client()
    source = f"s3://{braket_emulator.bucket}/nowhere/source.tar.gz"
    request = job_request(braket_emulator, "once", source)
    arn = client.create_job(clientToken="token-1", **request)["jobArn"]
    assert client.create_job(clientToken="token-1", **request)["jobArn"] == arn
    other = {**request, "hyperParameters": {"x": "1"}}
    assert error_of(lambda: client.create_job(clientToken="token-1", **other)) == (
        "ConflictException",
        409,
    )
    assert error_of(lambda: client.create_job(clientToken="token-2", **request)) == (
        "ConflictException",
        409,
    )
    assert [j["jobArn"] for j in emulator.hybrid_jobs()] == [arn]

    braket_emulator.faults.error(after_commit=True, operations=["CreateJob"], next=1)
    retrying = braket_emulator.braket_client(retries=3)
    second = retrying.create_job(**job_request(braket_emulator, "after-5xx", source))["jobArn"]
    assert [j["jobArn"] for j in emulator.hybrid_jobs()] == [arn, second]
    calls = braket_emulator.calls.calls("CreateJob", job_name="after-5xx")
    assert [(c.status, c.committed, c.replay) for c in calls] == [
        (500, True, False),
        (201, True, True),
    ]
    assert calls[0].client_token == calls[1].client_token
    assert calls[0].job_arn == second == calls[1].job_arn
    queued = client.get_job(jobArn=second, additionalAttributeNames=["QueueInfo"])
    assert queued["status"] == "QUEUED" and queued["queueInfo"]["position"] == "2"
    assert client.cancel_job(jobArn=second)["cancellationStatus"] == "CANCELLED"


def test_validation_errors(braket_emulator: BraketEmulatorEnv) -> None:
    braket_emulator.config.update(job_queue_time=600)
    client = braket_emulator.braket_client(parameter_validation=False)
    source = f"s3://{braket_emulator.bucket}/nowhere/source.tar.gz"
    good = job_request(braket_emulator, "valid", source)
    script = good["algorithmSpecification"]["scriptModeConfig"]
    bad: list[dict[str, Any]] = [
        {k: v for k, v in good.items() if k != "jobName"},
        {k: v for k, v in good.items() if k != "instanceConfig"},
        {**good, "jobName": "-starts-with-dash"},
        {**good, "jobName": "x" * 51},
        {**good, "roleArn": "not-a-role"},
        {**good, "hyperParameters": {f"k{i}": "v" for i in range(101)}},
        {**good, "hyperParameters": {"k": "v" * 2501}},
        {**good, "hyperParameters": {"k": ""}},
        {**good, "instanceConfig": {"instanceType": "ml.bogus.large", "volumeSizeInGb": 30}},
        {**good, "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 0}},
        {**good, "stoppingCondition": {"maxRuntimeInSeconds": 432_001}},
        {**good, "stoppingCondition": {"maxRuntimeInSeconds": 0}},
        {**good, "algorithmSpecification": {"scriptModeConfig": {**script, "s3Uri": "ftp://x"}}},
        {**good, "deviceConfig": {"device": "arn:aws:braket:::device/qpu/nobody/none"}},
        {
            **good,
            "inputDataConfig": [
                {"channelName": f"c{i}", "dataSource": {"s3DataSource": {"s3Uri": source}}}
                for i in range(21)
            ],
        },
    ]
    for request in bad:
        assert error_of(lambda r=request: client.create_job(clientToken="t", **r)) == (
            "ValidationException",
            400,
        ), request
    assert braket_emulator.emulator.hybrid_jobs() == []
    assert client.create_job(clientToken="t", **good)["jobArn"].endswith(":job/valid")


def test_search_jobs_filters_and_pages(braket_emulator: BraketEmulatorEnv) -> None:
    braket_emulator.config.update(job_queue_time=600)
    client = braket_emulator.braket_client()
    source = f"s3://{braket_emulator.bucket}/nowhere/source.tar.gz"
    arns = [
        client.create_job(**job_request(braket_emulator, f"search-{n}", source))["jobArn"]
        for n in ("a", "b", "c")
    ]

    def names(*filters: dict[str, Any], **more: Any) -> list[str]:
        answer = client.search_jobs(filters=list(filters), **more)
        return [j["jobName"] for j in answer["jobs"]]

    assert names() == ["search-c", "search-b", "search-a"]
    assert names({"name": "jobName", "operator": "EQUAL", "values": ["search-b"]}) == ["search-b"]
    assert names({"name": "jobName", "operator": "CONTAINS", "values": ["-a", "-c"]}) == [
        "search-c",
        "search-a",
    ]
    assert names({"name": "jobArn", "operator": "EQUAL", "values": [arns[0]]}) == ["search-a"]
    assert names({"name": "deviceArn", "operator": "EQUAL", "values": ["local:x/y"]}) == []
    assert len(names({"name": "createdAt", "operator": "GTE", "values": ["0"]})) == 3
    page = client.search_jobs(filters=[], maxResults=2)
    assert len(page["jobs"]) == 2 and page["jobs"][0]["device"] == SV1
    rest = client.search_jobs(filters=[], maxResults=2, nextToken=page["nextToken"])
    assert [j["jobArn"] for j in rest["jobs"]] == [arns[0]] and "nextToken" not in rest
    combined = [
        {"name": "jobArn", "operator": "EQUAL", "values": [arns[0]]},
        {"name": "jobName", "operator": "EQUAL", "values": ["search-a"]},
    ]
    assert error_of(lambda: client.search_jobs(filters=combined))[0] == "ValidationException"
    contains_arn = {"name": "jobArn", "operator": "CONTAINS", "values": ["a"]}
    assert error_of(lambda: client.search_jobs(filters=[contains_arn]))[0] == "ValidationException"
    client.tag_resource(resourceArn=arns[1], tags={"stage": "dev"})
    client.untag_resource(resourceArn=arns[1], tagKeys=["team"])
    assert client.list_tags_for_resource(resourceArn=arns[1])["tags"] == {"stage": "dev"}
    missing = arns[0] + "-missing"
    assert error_of(lambda: client.get_job(jobArn=missing)) == ("ResourceNotFoundException", 404)
    braket_emulator.faults.throttle(operations=["GetJob", "SearchJobs", "CancelJob"], next=3)
    for call in (
        lambda: client.get_job(jobArn=arns[0]),
        lambda: client.search_jobs(filters=[]),
        lambda: client.cancel_job(jobArn=arns[0]),
    ):
        assert error_of(call) == ("ThrottlingException", 429)
