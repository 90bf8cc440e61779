"""Tests of the Braket emulator through the REAL boto3 client and amazon-braket-sdk over HTTP,
with S3 and STS served by moto."""

from __future__ import annotations

import itertools
import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulators.braket.admin import EmulatorAdmin
from tests.emulators.braket.emulator import BraketEmulator
from tests.emulators.braket.fixture import BraketEmulatorEnv

BELL = "OPENQASM 3.0;\nqubit[2] q;\nbit[2] c;\nh q[0];\ncnot q[0], q[1];\nc = measure q;\n"
RY = "OPENQASM 3.0;\ninput float theta;\nqubit q;\nbit c;\nry(theta) q;\nc = measure q;\n"
RX = "OPENQASM 3.0;\ninput float theta;\nqubit q;\nbit c;\nrx(theta) q;\nc = measure q;\n"
UNDEFINED_GATE = "OPENQASM 3.0;\nqubit q;\nbit c;\nfoo q;\nc = measure q;\n"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TN1 = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"
PROGRAM_SET = "braket.ir.openqasm.program_set"
CREATE = "CreateQuantumTask"


def program(source: str = BELL, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
        "source": source,
        "inputs": inputs or {},
    }


def action(source: str = BELL, inputs: dict[str, float] | None = None) -> str:
    return json.dumps(program(source, inputs))


def program_set(*programs: dict[str, Any]) -> str:
    """A program set action; the programs as made by ``program``."""
    header = {"name": PROGRAM_SET, "version": "1"}
    return json.dumps({"braketSchemaHeader": header, "programs": list(programs)})


def create(client: Any, env: BraketEmulatorEnv, **overrides: Any) -> str:
    request: dict[str, Any] = {
        "deviceArn": SV1,
        "shots": 100,
        "outputS3Bucket": env.bucket,
        "outputS3KeyPrefix": "tasks",
        "action": action(),
    }
    request.update(overrides)
    return str(client.create_quantum_task(**request)["quantumTaskArn"])


def error_response(call: Callable[[], Any]) -> dict[str, Any]:
    """The parsed error response of a call that must raise ``ClientError``."""
    with pytest.raises(ClientError) as caught:
        call()
    return dict(caught.value.response)


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    response = error_response(call)
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- devices and the SDK --------------------------------------------------------------------


def test_get_device_serves_capabilities_the_sdk_parses(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.device_schema.simulators import GateModelSimulatorDeviceCapabilities

    client = braket_emulator.braket_client()
    for name, qubits in (("sv1", 34), ("dm1", 17), ("tn1", 50)):
        device = client.get_device(deviceArn=braket_emulator.device_arn(name))
        assert device["deviceType"] == "SIMULATOR"
        assert device["deviceStatus"] == "ONLINE"
        assert isinstance(device["deviceCapabilities"], str)
        caps = GateModelSimulatorDeviceCapabilities.parse_raw(device["deviceCapabilities"])
        assert caps.paradigm.qubitCount == qubits
        assert "braket.ir.openqasm.program" in caps.action
    aws_device = AwsDevice(SV1)
    assert aws_device.name == "SV1"
    assert aws_device.properties.service.getTaskPollIntervalMillis == 100
    assert aws_device.is_available
    unknown = "arn:aws:braket:::device/quantum-simulator/amazon/nope"
    assert error_of(lambda: client.get_device(deviceArn=unknown)) == (
        "ResourceNotFoundException",
        404,
    )
    with pytest.raises(ValueError, match="not found"):
        AwsDevice(unknown)


def test_aws_session_construction_calls_nothing_and_sts_is_moto(
    braket_emulator: BraketEmulatorEnv,
) -> None:
    from braket.aws import AwsDevice, AwsSession

    session = AwsSession()
    assert len(braket_emulator.calls) == 0
    AwsDevice(SV1, aws_session=session)
    assert braket_emulator.calls.counts() == {"GetDevice": 1}
    assert session.account_id == "123456789012"  # STS GetCallerIdentity answered by moto


def test_aws_device_run_circuit_and_program(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit
    from braket.ir.openqasm import Program

    folder = (braket_emulator.bucket, "runs")
    bell = AwsDevice(SV1).run(Circuit().h(0).cnot(0, 1), s3_destination_folder=folder, shots=100)
    result = bell.result()
    assert set(result.measurement_counts) <= {"00", "11"}
    assert sum(result.measurement_counts.values()) == 100
    assert result.task_metadata.id == bell.id
    assert result.task_metadata.deviceId == SV1

    flipped = AwsDevice(DM1).run(
        Program(source=RY),
        s3_destination_folder=folder,
        shots=50,
        inputs={"theta": 3.141592653589793},
    )
    assert flipped.result().measurement_counts == {"1": 50}
    assert flipped.state() == "COMPLETED"

    # Without a destination, the SDK asks STS for the account and creates its default bucket.
    default = AwsDevice(SV1).run(Circuit().x(0), shots=10)
    assert default.result().measurement_counts == {"1": 10}
    assert default.metadata()["outputS3Bucket"] == "amazon-braket-us-east-1-123456789012"


def test_aws_quantum_task_result_parses_results_json(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsQuantumTask

    client = braket_emulator.braket_client()
    arn = create(client, braket_emulator, shots=200)
    task = AwsQuantumTask(arn, braket_emulator.aws_session(), poll_interval_seconds=0.02)
    result = task.result()
    counts = result.measurement_counts
    assert set(counts) <= {"00", "11"}
    assert sum(counts.values()) == 200
    assert result.task_metadata.id == arn
    assert result.task_metadata.shots == 200
    meta = client.get_quantum_task(quantumTaskArn=arn)
    key = f"{meta['outputS3Directory']}/results.json"
    assert meta["outputS3Directory"] == f"tasks/{arn.rsplit('/', 1)[1]}"
    body = braket_emulator.s3_client().get_object(Bucket=braket_emulator.bucket, Key=key)
    document = json.loads(body["Body"].read())
    assert document["braketSchemaHeader"]["name"] == "braket.task_result.gate_model_task_result"
    assert document["taskMetadata"]["status"] == "COMPLETED"
    assert document["additionalMetadata"]["simulatorMetadata"]["executionDuration"] >= 0


def test_run_batch(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    batch = AwsDevice(SV1).run_batch(
        [Circuit().x(0), Circuit().h(0).cnot(0, 1)],
        s3_destination_folder=(braket_emulator.bucket, "batch"),
        shots=20,
        max_parallel=2,
        poll_interval_seconds=0.02,
    )
    first, second = batch.results()
    assert first.measurement_counts == {"1": 20}
    assert set(second.measurement_counts) <= {"00", "11"}
    assert batch.unsuccessful == set()


# --- boto3: create, get, search, cancel ------------------------------------------------------


def test_create_get_and_lifecycle(braket_emulator: BraketEmulatorEnv) -> None:
    braket_emulator.config.update(queue_time=0.2, run_time=0.1)
    client = braket_emulator.braket_client()
    arn = create(client, braket_emulator, tags={"owner": "qplan"})
    assert arn.startswith("arn:aws:braket:us-east-1:123456789012:quantum-task/")
    meta = client.get_quantum_task(quantumTaskArn=arn, additionalAttributeNames=["QueueInfo"])
    assert meta["status"] in ("CREATED", "QUEUED")
    assert meta["queueInfo"]["position"] == "1"
    assert meta["tags"] == {"owner": "qplan"}
    assert meta["shots"] == 100
    assert meta["deviceArn"] == SV1
    assert meta["outputS3Bucket"] == braket_emulator.bucket
    assert "endedAt" not in meta
    seen = {meta["status"]}
    deadline = time.monotonic() + 5
    while meta["status"] != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.02)
        meta = client.get_quantum_task(quantumTaskArn=arn)
        seen.add(meta["status"])
    assert {"QUEUED", "RUNNING", "COMPLETED"} <= seen
    assert meta["endedAt"] >= meta["createdAt"]
    assert meta["numSuccessfulShots"] == 100


def test_search_filters_and_pagination(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    before = datetime.now(UTC) - timedelta(seconds=1)
    sv1 = [create(client, braket_emulator) for _ in range(5)]
    dm1 = [create(client, braket_emulator, deviceArn=DM1, tags={"k": str(i)}) for i in range(2)]
    for arn in sv1 + dm1:
        braket_emulator.emulator.wait_for_status(arn)
    after = datetime.now(UTC) + timedelta(seconds=1)

    def search(*filters: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
        return list(client.search_quantum_tasks(filters=list(filters), **kwargs)["quantumTasks"])

    def flt(name: str, operator: str, *values: str) -> dict[str, Any]:
        return {"name": name, "operator": operator, "values": list(values)}

    assert {t["quantumTaskArn"] for t in search(flt("deviceArn", "EQUAL", DM1))} == set(dm1)
    found = search(flt("quantumTaskArn", "EQUAL", sv1[0], dm1[1]))
    assert {t["quantumTaskArn"] for t in found} == {sv1[0], dm1[1]}
    assert next(t for t in found if t["quantumTaskArn"] == dm1[1])["tags"] == {"k": "1"}
    assert len(search(flt("status", "EQUAL", "COMPLETED"))) == 7
    assert search(flt("status", "EQUAL", "QUEUED", "RUNNING")) == []
    assert len(search(flt("createdAt", "GTE", before.strftime("%Y-%m-%dT%H:%M:%SZ")))) == 7
    assert search(flt("createdAt", "LT", before.isoformat())) == []
    window = flt("createdAt", "BETWEEN", before.isoformat(), after.isoformat())
    assert len(search(window, flt("deviceArn", "EQUAL", SV1))) == 5
    assert search(flt("createdAt", "GT", str(after.timestamp()))) == []
    assert search(flt("jobArn", "EQUAL", "arn:aws:braket:us-east-1:123456789012:job/x")) == []

    # pagination by hand: newest first, no duplicates, token bound to its filters
    pages: list[list[str]] = []
    kwargs: dict[str, Any] = {"filters": [], "maxResults": 3}
    for _ in range(10):
        page = client.search_quantum_tasks(**kwargs)
        pages.append([t["quantumTaskArn"] for t in page["quantumTasks"]])
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
        token = page["nextToken"]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [arn for p in pages for arn in p] == list(reversed(sv1 + dm1))
    assert error_of(
        lambda: client.search_quantum_tasks(
            filters=[flt("deviceArn", "EQUAL", SV1)], maxResults=3, nextToken=token
        )
    ) == ("ValidationException", 400)
    # botocore's paginator follows nextToken
    paginator = client.get_paginator("search_quantum_tasks")
    arns = [
        t["quantumTaskArn"]
        for page in paginator.paginate(filters=[], PaginationConfig={"PageSize": 2})
        for t in page["quantumTasks"]
    ]
    assert sorted(arns) == sorted(sv1 + dm1)
    # invalid filters
    for bad in (
        flt("tags", "EQUAL", "x"),
        flt("deviceArn", "GT", SV1),
        flt("status", "EQUAL", "DONE"),
        flt("createdAt", "BETWEEN", before.isoformat()),
        flt("createdAt", "GTE", "yesterday"),
    ):
        assert error_of(partial(search, bad)) == ("ValidationException", 400)
    assert error_of(lambda: search(maxResults=101)) == ("ValidationException", 400)
    record = braket_emulator.calls.calls("SearchQuantumTasks")[0]
    assert record.filters == [flt("deviceArn", "EQUAL", DM1)]


def test_cancel(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsQuantumTask

    client = braket_emulator.braket_client()
    braket_emulator.config.update(queue_time=30)
    queued = create(client, braket_emulator)
    answer = client.cancel_quantum_task(quantumTaskArn=queued, clientToken="cancel-once")
    assert answer["cancellationStatus"] == "CANCELLED"
    meta = client.get_quantum_task(quantumTaskArn=queued)
    assert meta["status"] == "CANCELLED"
    assert "endedAt" in meta
    # the same clientToken replays the answer (CancelQuantumTask is idempotent) ...
    again = client.cancel_quantum_task(quantumTaskArn=queued, clientToken="cancel-once")
    assert again["cancellationStatus"] == "CANCELLED"
    # ... a new one (botocore's fresh uuid4) is told the task is already final
    assert error_of(lambda: client.cancel_quantum_task(quantumTaskArn=queued)) == (
        "ConflictException",
        409,
    )

    # through the SDK, and with a slow cancel
    braket_emulator.config.update(cancel_delay=0.2)
    slow = AwsQuantumTask(create(client, braket_emulator), braket_emulator.aws_session())
    started = time.monotonic()
    slow.cancel()
    assert slow.state() == "CANCELLING"
    braket_emulator.emulator.wait_for_status(slow.id, {"CANCELLED"})
    assert time.monotonic() - started >= 0.2
    assert slow.state() == "CANCELLED"
    assert slow.result() is None

    # a finished task cannot be cancelled
    braket_emulator.config.update(queue_time=0, cancel_delay=0)
    done = create(client, braket_emulator)
    braket_emulator.emulator.wait_for_status(done)
    assert error_of(lambda: client.cancel_quantum_task(quantumTaskArn=done)) == (
        "ConflictException",
        409,
    )


def test_cancel_running_task(braket_emulator: BraketEmulatorEnv) -> None:
    braket_emulator.config.update(run_time=0.3)
    client = braket_emulator.braket_client()
    arn = create(client, braket_emulator)
    braket_emulator.emulator.wait_for_status(arn, {"RUNNING"})
    assert client.cancel_quantum_task(quantumTaskArn=arn)["cancellationStatus"] == "CANCELLING"
    assert braket_emulator.emulator.wait_for_status(arn) == "CANCELLED"


# --- idempotency ------------------------------------------------------------------------------


def test_client_token_idempotency(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    first = create(client, braket_emulator, clientToken="token-1", tags={"a": "1"})
    second = create(client, braket_emulator, clientToken="token-1", tags={"a": "1"})
    assert first == second
    assert len(braket_emulator.emulator.tasks()) == 1
    records = braket_emulator.calls.calls("CreateQuantumTask")
    assert [(r.client_token, r.replay, r.status) for r in records] == [
        ("token-1", False, 201),
        ("token-1", True, 201),
    ]
    # same token, other parameters
    assert error_of(lambda: create(client, braket_emulator, clientToken="token-1", shots=7)) == (
        "ConflictException",
        409,
    )
    braket_emulator.config.update(idempotency_mismatch_error="IdempotentParameterMismatchException")
    assert error_of(lambda: create(client, braket_emulator, clientToken="token-1", shots=7)) == (
        "IdempotentParameterMismatchException",
        400,
    )
    assert len(braket_emulator.emulator.tasks()) == 1
    # without a token, botocore sends a fresh uuid4 per call: two tasks
    create(client, braket_emulator)
    create(client, braket_emulator)
    tokens = [r.client_token for r in braket_emulator.calls.calls("CreateQuantumTask")[-2:]]
    assert len(set(tokens)) == 2
    assert all(token and len(token) == 36 for token in tokens)
    assert len(braket_emulator.emulator.tasks()) == 3
    # the token expires after client_token_ttl
    braket_emulator.config.update(client_token_ttl=0.0)
    assert create(client, braket_emulator, clientToken="token-1", tags={"a": "1"}) != first


# --- validation ---------------------------------------------------------------------------------


def test_validation_errors(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    env = braket_emulator
    cases: list[tuple[dict[str, Any], tuple[str, int]]] = [
        ({"deviceArn": SV1.replace("sv1", "sv9")}, ("ResourceNotFoundException", 404)),
        ({"deviceArn": "sv1"}, ("ValidationException", 400)),
        ({"shots": 1_000_000}, ("ValidationException", 400)),
        ({"deviceArn": SV1.replace("sv1", "tn1"), "shots": 5000}, ("ValidationException", 400)),
        ({"action": action("this is not OpenQASM")}, ("ValidationException", 400)),
        ({"action": "{not json"}, ("ValidationException", 400)),
        ({"action": json.dumps({"source": BELL})}, ("ValidationException", 400)),
        ({"outputS3Bucket": "no-such-bucket-here"}, ("ValidationException", 400)),
        ({"deviceParameters": "{oops"}, ("ValidationException", 400)),
        ({"clientToken": "x" * 65}, ("ValidationException", 400)),
    ]
    for overrides, expected in cases:
        assert error_of(partial(create, client, env, **overrides)) == expected, overrides
    # botocore validates required members itself; without that, the emulator does
    loose = env.braket_client(parameter_validation=False)
    for missing in ("deviceArn", "shots", "outputS3Bucket", "outputS3KeyPrefix", "action"):
        request = {
            "deviceArn": SV1,
            "shots": 10,
            "outputS3Bucket": env.bucket,
            "outputS3KeyPrefix": "p",
            "action": action(),
        }
        del request[missing]
        code = error_of(partial(loose.create_quantum_task, **request))
        assert code == ("ValidationException", 400), missing
    unknown = env.emulator.task_arn("00000000-0000-0000-0000-000000000000")
    assert error_of(lambda: client.get_quantum_task(quantumTaskArn=unknown)) == (
        "ResourceNotFoundException",
        404,
    )
    assert error_of(lambda: client.cancel_quantum_task(quantumTaskArn=unknown)) == (
        "ResourceNotFoundException",
        404,
    )
    assert env.emulator.tasks() == []
    # device status and quota
    env.config.update(device_status={DM1: "OFFLINE"})
    assert error_of(lambda: create(client, env, deviceArn=DM1)) == ("DeviceOfflineException", 424)
    env.config.update(device_status={DM1: "RETIRED"})
    assert error_of(lambda: create(client, env, deviceArn=DM1)) == ("DeviceRetiredException", 410)
    env.config.update(max_active_tasks=1, queue_time=30)
    create(client, env)
    assert error_of(lambda: create(client, env)) == ("ServiceQuotaExceededException", 402)


def test_simulation_error_fails_the_task(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsQuantumTask

    client = braket_emulator.braket_client()
    source = "OPENQASM 3.0;\nqubit q;\nbit c;\nfoo q;\nc = measure q;\n"
    arn = create(client, braket_emulator, action=action(source))
    assert braket_emulator.emulator.wait_for_status(arn) == "FAILED"
    meta = client.get_quantum_task(quantumTaskArn=arn)
    assert "Gate foo is not defined" in meta["failureReason"]
    assert AwsQuantumTask(arn, braket_emulator.aws_session()).result() is None


# --- faults -------------------------------------------------------------------------------------


def test_throttling(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    braket_emulator.faults.throttle(next=2)
    response = error_response(lambda: client.get_device(deviceArn=SV1))
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    assert error_of(lambda: create(client, braket_emulator)) == ("ThrottlingException", 429)
    create(client, braket_emulator)
    assert len(braket_emulator.emulator.tasks()) == 1
    # a fraction, limited to some operations
    braket_emulator.faults.throttle(rate=1.0, operations=["GetDevice"])
    assert error_of(lambda: client.get_device(deviceArn=SV1)) == ("ThrottlingException", 429)
    create(client, braket_emulator)
    assert [r.fault for r in braket_emulator.calls.calls("GetDevice")] == ["throttle"] * 2
    # botocore retries a 429 by itself (standard mode) and resends the same clientToken
    braket_emulator.faults.clear()
    braket_emulator.faults.throttle(next=1)
    retrying = braket_emulator.braket_client(retries=2)
    arn = create(retrying, braket_emulator)
    last_two = braket_emulator.calls.calls("CreateQuantumTask")[-2:]
    assert [r.status for r in last_two] == [429, 201]
    assert last_two[0].client_token == last_two[1].client_token
    assert last_two[1].task_arn == arn


def test_5xx_before_commit_creates_nothing(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    braket_emulator.faults.error(operations=["CreateQuantumTask"], next=1)
    assert error_of(lambda: create(client, braket_emulator, clientToken="t-before")) == (
        "InternalServiceException",
        500,
    )
    assert braket_emulator.emulator.tasks() == []
    arn = create(client, braket_emulator, clientToken="t-before")
    assert [t["quantumTaskArn"] for t in braket_emulator.emulator.tasks()] == [arn]
    record = braket_emulator.calls.calls("CreateQuantumTask")[0]
    assert (record.fault, record.status, record.client_token) == (
        "error_before_commit",
        500,
        "t-before",
    )


def test_5xx_after_commit_leaves_a_task(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    # a 502 from a "gateway"
    braket_emulator.faults.error(after_commit=True, status=502, operations=[CREATE], next=1)
    code, status = error_of(lambda: create(client, braket_emulator, clientToken="t-after"))
    assert (code, status) == ("502", 502)
    tasks = braket_emulator.emulator.tasks()
    assert len(tasks) == 1
    found = client.search_quantum_tasks(filters=[])["quantumTasks"]
    assert [t["quantumTaskArn"] for t in found] == [tasks[0]["quantumTaskArn"]]
    # resending the same token adopts the task instead of creating another
    assert create(client, braket_emulator, clientToken="t-after") == tasks[0]["quantumTaskArn"]
    assert len(braket_emulator.emulator.tasks()) == 1
    # a 500 InternalServiceException after commit, retried by botocore with the same token
    braket_emulator.faults.error(after_commit=True, status=500, operations=[CREATE], next=1)
    retrying = braket_emulator.braket_client(retries=3)
    arn = create(retrying, braket_emulator)
    last_two = braket_emulator.calls.calls("CreateQuantumTask")[-2:]
    assert [(r.status, r.replay) for r in last_two] == [(500, False), (201, True)]
    assert last_two[0].client_token == last_two[1].client_token
    assert len(braket_emulator.emulator.tasks()) == 2
    assert braket_emulator.emulator.tasks()[1]["quantumTaskArn"] == arn


def test_failing_tasks(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    braket_emulator.config.update(fail_task_tags={"qplan-fail": "yes"}, fail_task_reason="boom")
    failing = create(client, braket_emulator, tags={"qplan-fail": "yes"})
    passing = create(client, braket_emulator, tags={"qplan-fail": "no"})
    assert braket_emulator.emulator.wait_for_status(failing) == "FAILED"
    assert braket_emulator.emulator.wait_for_status(passing) == "COMPLETED"
    assert client.get_quantum_task(quantumTaskArn=failing)["failureReason"] == "boom"
    braket_emulator.config.update(
        fail_task_tags={}, fail_task_predicate=lambda tags: tags.get("n") == "2"
    )
    arns = [create(client, braket_emulator, tags={"n": str(i)}) for i in range(3)]
    statuses = [braket_emulator.emulator.wait_for_status(a) for a in arns]
    assert statuses == ["COMPLETED", "COMPLETED", "FAILED"]
    braket_emulator.config.update(fail_task_predicate=None, fail_task_fraction=1.0)
    assert braket_emulator.emulator.wait_for_status(create(client, braket_emulator)) == "FAILED"


def test_api_latency_and_concurrency(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client(max_pool_connections=16)
    braket_emulator.faults.latency(0.2, operations=["GetDevice"])
    started = time.monotonic()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.get_device(deviceArn=SV1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    elapsed = time.monotonic() - started
    assert errors == []
    assert 0.2 <= elapsed < 1.2  # served concurrently, not 8 x 0.2 s
    assert all(r.duration >= 0.2 for r in braket_emulator.calls.calls("GetDevice"))
    # concurrent creates: every one gets its own task, every task completes
    arns: list[str] = []
    lock = threading.Lock()

    def submit() -> None:
        arn = create(client, braket_emulator, shots=10)
        with lock:
            arns.append(arn)

    threads = [threading.Thread(target=submit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(set(arns)) == 12
    assert all(braket_emulator.emulator.wait_for_status(a) == "COMPLETED" for a in arns)


# --- program sets -------------------------------------------------------------------------------


def test_program_set_capabilities(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.device_schema import OpenQASMProgramSetDeviceActionProperties
    from braket.schema_common import BraketSchemaBase

    from tests.emulators.braket.devices import (
        PROGRAM_SET_MAX_EXECUTABLES,
        PROGRAM_SET_MAX_TOTAL_SHOTS,
    )

    client = braket_emulator.braket_client()
    for arn, advertised in ((SV1, True), (DM1, True), (TN1, False)):
        text = client.get_device(deviceArn=arn)["deviceCapabilities"]
        assert (PROGRAM_SET in json.loads(text)["action"]) is advertised, arn
        caps = BraketSchemaBase.parse_raw_schema(text)
        assert (PROGRAM_SET in caps.action) is advertised, arn
    properties = AwsDevice(SV1).properties.action[PROGRAM_SET]
    assert isinstance(properties, OpenQASMProgramSetDeviceActionProperties)
    assert properties.maximumExecutables == PROGRAM_SET_MAX_EXECUTABLES == 100
    assert properties.maximumTotalShots == PROGRAM_SET_MAX_TOTAL_SHOTS == 200_000
    assert PROGRAM_SET not in AwsDevice(TN1).properties.action


def test_program_set_runs_through_the_sdk(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.ir.openqasm import Program
    from braket.ir.openqasm import ProgramSet as OpenQASMProgramSet
    from braket.tasks import ProgramSetQuantumTaskResult

    env = braket_emulator
    programs = OpenQASMProgramSet(
        programs=[
            Program(source=RX, inputs={"theta": [0.0, math.pi, 0.0]}),
            Program(source=BELL),
        ]
    )
    task = AwsDevice(SV1).run(programs, s3_destination_folder=(env.bucket, "sets"), shots=400)
    result = task.result()
    assert isinstance(result, ProgramSetQuantumTaskResult)
    assert len(result) == 2
    assert result.num_executables == 4
    rx, bell = result.entries
    assert [dict(entry.counts) for entry in rx] == [{"0": 100}, {"1": 100}, {"0": 100}]
    assert [entry.inputs for entry in rx] == [{"theta": 0.0}, {"theta": math.pi}, {"theta": 0.0}]
    assert rx[1].measured_qubits == [0]
    assert set(bell[0].counts) <= {"00", "11"}
    assert sum(bell[0].counts.values()) == 100
    assert bell.program.source == BELL
    assert rx.additional_metadata.simulatorMetadata.executionDuration >= 0
    metadata = result.task_metadata
    assert (metadata.id, metadata.deviceId, metadata.status) == (task.id, SV1, "COMPLETED")
    assert (metadata.requestedShots, metadata.successfulShots) == (400, 400)
    assert metadata.totalFailedExecutables == 0
    assert [len(p.executables) for p in metadata.programMetadata] == [3, 1]

    # GetQuantumTask: same shape, with the program counts in actionMetadata
    described = task.metadata()
    directory = f"sets/{task.id.rsplit('/', 1)[1]}"
    assert described["outputS3Directory"] == directory
    assert (described["shots"], described["numSuccessfulShots"]) == (400, 400)
    assert described["actionMetadata"] == {
        "actionType": PROGRAM_SET,
        "programCount": 2,
        "executableCount": 4,
    }
    client = env.braket_client()
    summary = client.search_quantum_tasks(
        filters=[{"name": "quantumTaskArn", "operator": "EQUAL", "values": [task.id]}]
    )["quantumTasks"][0]
    single = create(client, env)
    env.emulator.wait_for_status(single)
    single_summary = client.search_quantum_tasks(
        filters=[{"name": "quantumTaskArn", "operator": "EQUAL", "values": [single]}]
    )["quantumTasks"][0]
    assert set(summary) == set(single_summary)
    assert summary["shots"] == 400

    # the S3 layout: one directory, as for single programs
    listing = env.s3_client().list_objects_v2(Bucket=env.bucket, Prefix=f"{directory}/")
    assert sorted(o["Key"].removeprefix(f"{directory}/") for o in listing["Contents"]) == [
        "metadata.json",
        "programs/0/executables/0.json",
        "programs/0/executables/1.json",
        "programs/0/executables/2.json",
        "programs/0/program.json",
        "programs/0/results.json",
        "programs/1/executables/0.json",
        "programs/1/program.json",
        "programs/1/results.json",
        "results.json",
    ]
    document = json.loads(env.emulator.results_json(task.id))
    assert document["braketSchemaHeader"]["name"] == "braket.task_result.program_set_task_result"
    assert document["s3Location"] == [env.bucket, directory]
    assert document["programResults"] == ["programs/0/results.json", "programs/1/results.json"]
    assert document["taskMetadata"] == "metadata.json"
    program_result = json.loads(env.emulator.results_object(task.id, "programs/0/results.json"))
    assert program_result["source"] == "program.json"
    assert program_result["executableResults"] == [f"executables/{k}.json" for k in range(3)]
    source = json.loads(env.emulator.results_object(task.id, "programs/0/program.json"))
    assert source["inputs"] == {"theta": [0.0, math.pi, 0.0]}
    executable = json.loads(env.emulator.results_object(task.id, "programs/0/executables/1.json"))
    assert executable["inputsIndex"] == 1
    assert executable["measurements"] == [[1]] * 100


def test_sdk_program_set_with_observables_on_dm1(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit
    from braket.circuits.observables import Z
    from braket.parametric import FreeParameter
    from braket.program_sets import CircuitBinding, ProgramSet

    binding = CircuitBinding(
        Circuit().rx(0, FreeParameter("theta")), input_sets={"theta": [0.0, math.pi]}
    )
    programs = ProgramSet.product([binding], [Z(0)], shots_per_executable=30)
    task = AwsDevice(DM1).run(programs, s3_destination_folder=(braket_emulator.bucket, "obs"))
    (entry,) = task.result().entries
    assert [dict(e.counts) for e in entry] == [{"0": 30}, {"1": 30}]
    assert [e.expectation for e in entry] == [1.0, -1.0]
    assert task.metadata()["shots"] == 60


def test_program_set_validation_errors(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.ir.openqasm import Program
    from braket.ir.openqasm import ProgramSet as OpenQASMProgramSet

    env = braket_emulator
    client = env.braket_client()
    rx = program(RX, {"theta": [0.0, 1.0, 2.0]})  # 3 executables
    header_v2 = json.loads(program_set(rx))
    header_v2["braketSchemaHeader"]["version"] = "2"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"action": program_set(program(RX, {"theta": [0.0] * 101})), "shots": 101}, "at most 100"),
        ({"action": program_set(rx), "shots": 100}, "not a positive multiple of the 3"),
        ({"action": program_set(rx), "shots": 0}, "not a positive multiple"),
        ({"action": program_set(rx, program()), "shots": 200_004}, "maximumTotalShots"),
        ({"action": program_set(program()), "shots": 150_000}, "shots range"),
        ({"action": program_set(rx), "shots": 300, "deviceArn": TN1}, "not support program sets"),
        ({"action": program_set(program(RX, {"theta": [0.0, 1.0], "phi": [0.0]}))}, "same length"),
        ({"action": program_set(program(RX, {"theta": 0.5}))}, "must be lists"),
        ({"action": program_set(program(RX, {"theta": []}))}, "no executables"),
        ({"action": program_set(program(), program("not OpenQASM"))}, "Invalid OpenQASM"),
        ({"action": program_set()}, "at least 1 items"),
        ({"action": json.dumps(header_v2)}, "braketSchemaHeader"),
    ]
    for overrides, message in cases:
        request = {"shots": 200, **overrides}
        response = error_response(partial(create, client, env, **request))
        assert response["Error"]["Code"] == "ValidationException", overrides
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert message in response["Error"]["Message"], (message, response["Error"]["Message"])
    # a fault in one program is named in the modeled programSetValidationFailures
    response = error_response(
        lambda: create(client, env, action=program_set(program(), program("nonsense")), shots=2)
    )
    assert response["reason"] == "ProgramSetValidationFailed"
    [failure] = response["programSetValidationFailures"]
    assert failure["programIndex"] == 1
    assert failure["errors"][0].startswith("Invalid OpenQASM program")
    # the SDK quotes the first failure; it sends TN1 a program set and gets the answer
    broken = OpenQASMProgramSet(programs=[Program(source=BELL), Program(source="nonsense")])
    with pytest.raises(ClientError, match="First failure"):
        AwsDevice(SV1).run(broken, s3_destination_folder=(env.bucket, "bad"), shots=2)
    fine = OpenQASMProgramSet(programs=[Program(source=BELL)])
    with pytest.raises(ClientError, match="does not support program sets"):
        AwsDevice(TN1).run(fine, s3_destination_folder=(env.bucket, "bad"), shots=2)
    assert env.emulator.tasks() == []


def test_program_set_client_token_replay(braket_emulator: BraketEmulatorEnv) -> None:
    env = braket_emulator
    client = env.braket_client()
    request: dict[str, Any] = {
        "clientToken": "set-token",
        "action": program_set(program(RX, {"theta": [0.0, math.pi]})),
        "shots": 200,
    }
    first = create(client, env, **request)
    assert create(client, env, **request) == first
    assert [t["quantumTaskArn"] for t in env.emulator.tasks()] == [first]
    records = env.calls.calls("CreateQuantumTask")
    assert [(r.client_token, r.replay, r.task_arn) for r in records] == [
        ("set-token", False, first),
        ("set-token", True, first),
    ]
    other = {**request, "action": program_set(program(RX, {"theta": [math.pi, 0.0]}))}
    assert error_of(partial(create, client, env, **other)) == ("ConflictException", 409)
    assert env.emulator.wait_for_status(first) == "COMPLETED"
    assert len(env.emulator.tasks()) == 1


def test_failing_executables(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice, AwsQuantumTask
    from braket.ir.openqasm import Program
    from braket.ir.openqasm import ProgramSet as OpenQASMProgramSet
    from braket.task_result import ProgramSetExecutableFailure
    from braket.tasks.program_set_quantum_task_result import MeasuredEntry

    env = braket_emulator
    seen: list[tuple[dict[str, str], dict[str, Any]]] = []

    def flaky(tags: Mapping[str, str], inputs: Mapping[str, Any]) -> bool:
        seen.append((dict(tags), dict(inputs)))
        return tags.get("flaky") == "yes" and inputs.get("theta") == 1.0

    env.config.update(fail_executable_predicate=flaky, fail_executable_reason="qubit on holiday")
    programs = OpenQASMProgramSet(
        programs=[
            Program(source=RX, inputs={"theta": [0.0, 1.0, math.pi, 1.0]}),
            Program(source=BELL),
        ]
    )
    device = AwsDevice(SV1)
    folder = (env.bucket, "flaky")
    task = device.run(programs, s3_destination_folder=folder, shots=500, tags={"flaky": "yes"})
    result = task.result()
    assert task.state() == "COMPLETED"
    rx, bell = result.entries
    assert [type(e).__name__ for e in rx] == [
        "MeasuredEntry",
        "ProgramSetExecutableFailure",
        "MeasuredEntry",
        "ProgramSetExecutableFailure",
    ]
    failures = [e for e in rx if isinstance(e, ProgramSetExecutableFailure)]
    assert [f.inputsIndex for f in failures] == [1, 3]
    for failure in failures:
        assert failure.failureMetadata.failureReason == "qubit on holiday"
        assert failure.failureMetadata.retryable is True
        assert failure.failureMetadata.category == "DEVICE"
    assert [dict(e.counts) for e in rx if isinstance(e, MeasuredEntry)] == [{"0": 100}, {"1": 100}]
    assert isinstance(bell[0], MeasuredEntry)
    assert (result.task_metadata.totalFailedExecutables, result.task_metadata.successfulShots) == (
        2,
        300,
    )
    assert task.metadata()["numSuccessfulShots"] == 300
    assert seen[:2] == [({"flaky": "yes"}, {"theta": 0.0}), ({"flaky": "yes"}, {"theta": 1.0})]
    assert seen[-1] == ({"flaky": "yes"}, {})  # the program without inputs
    untagged = device.run(programs, s3_destination_folder=folder, shots=500).result()
    assert untagged.task_metadata.totalFailedExecutables == 0

    # a simulation error fails its executable only, as a compilation failure
    env.config.update(fail_executable_predicate=None)
    mixed = OpenQASMProgramSet(programs=[Program(source=UNDEFINED_GATE), Program(source=BELL)])
    task = device.run(mixed, s3_destination_folder=folder, shots=20)
    (broken,), (bell_entry,) = task.result().entries
    assert task.state() == "COMPLETED"
    assert isinstance(broken, ProgramSetExecutableFailure)
    assert "Gate foo is not defined" in broken.failureMetadata.failureReason
    assert (broken.failureMetadata.retryable, broken.failureMetadata.category) == (
        False,
        "COMPILATION",
    )
    assert sum(bell_entry.counts.values()) == 10

    # a fraction, set over HTTP (the predicate is Python-only)
    admin = env.admin
    assert admin.config()["fail_executable_predicate"] is False
    with pytest.raises(urllib.error.HTTPError) as caught:
        admin.set_config(fail_executable_predicate=True)
    assert caught.value.code == 400
    caught.value.close()
    admin.set_config(fail_executable_fraction=1.0)
    task = device.run(programs, s3_destination_folder=folder, shots=500)
    result = task.result()
    assert task.state() == "COMPLETED"
    assert all(isinstance(e, ProgramSetExecutableFailure) for c in result for e in c)
    assert task.metadata()["numSuccessfulShots"] == 0

    # a whole-task fault fails the task; its results show every executable failed
    admin.set_config(fail_executable_fraction=0.0, fail_task_tags={"doomed": "*"})
    client = env.braket_client()
    arn = create(client, env, action=program_set(program()), shots=10, tags={"doomed": "1"})
    assert env.emulator.wait_for_status(arn) == "FAILED"
    doomed = AwsQuantumTask(arn, env.aws_session())
    assert doomed.metadata()["failureReason"] == env.config.get("fail_task_reason")
    [[entry]] = doomed.result().entries
    assert isinstance(entry, ProgramSetExecutableFailure)
    assert doomed.result().task_metadata.status == "FAILED"


def test_program_set_cancel(braket_emulator: BraketEmulatorEnv) -> None:
    from braket.aws import AwsDevice
    from braket.ir.openqasm import Program
    from braket.ir.openqasm import ProgramSet as OpenQASMProgramSet

    env = braket_emulator
    s3 = env.s3_client()
    programs = OpenQASMProgramSet(programs=[Program(source=RX, inputs={"theta": [0.0, 1.0]})])

    def written(arn: str) -> list[str]:
        prefix = f"{env.emulator.task(arn)['outputS3Directory']}/"
        listing = s3.list_objects_v2(Bucket=env.bucket, Prefix=prefix)
        return [o["Key"] for o in listing.get("Contents", [])]

    # before it runs
    env.config.update(queue_time=30)
    task = AwsDevice(SV1).run(programs, s3_destination_folder=(env.bucket, "c"), shots=20)
    task.cancel()
    assert task.state() == "CANCELLED"
    assert task.result() is None
    assert written(task.id) == []
    with pytest.raises(ClientError):
        env.emulator.results_json(task.id)

    # while its executables run: it stops before the next one and writes nothing
    started, proceed = threading.Event(), threading.Event()

    def hold(tags: Mapping[str, str], inputs: Mapping[str, Any]) -> bool:
        started.set()
        proceed.wait(5)
        return False

    env.config.update(queue_time=0, fail_executable_predicate=hold)
    client = env.braket_client()
    arn = create(client, env, action=program_set(program(RX, {"theta": [0.0, 1.0]})), shots=20)
    assert started.wait(5)
    assert client.cancel_quantum_task(quantumTaskArn=arn)["cancellationStatus"] == "CANCELLING"
    proceed.set()
    assert env.emulator.wait_for_status(arn) == "CANCELLED"
    assert written(arn) == []


# --- call record and admin endpoint ---------------------------------------------------------


def test_call_record_and_admin_endpoint(braket_emulator: BraketEmulatorEnv) -> None:
    client = braket_emulator.braket_client()
    admin = EmulatorAdmin(braket_emulator.url)
    assert admin.health()["status"] == "ok"
    arn = create(client, braket_emulator, clientToken="rec-1")
    client.get_quantum_task(quantumTaskArn=arn)
    client.search_quantum_tasks(filters=[], maxResults=5)
    error_of(lambda: client.get_device(deviceArn=SV1.replace("sv1", "zz9")))
    records = braket_emulator.calls.calls()
    assert [r.operation for r in records] == [
        "CreateQuantumTask",
        "GetQuantumTask",
        "SearchQuantumTasks",
        "GetDevice",
    ]
    assert [r.status for r in records] == [201, 200, 200, 404]
    assert records[0].client_token == "rec-1"
    assert records[0].task_arn == arn
    assert records[1].task_arn == arn
    assert records[2].max_results == 5
    assert records[3].error_code == "ResourceNotFoundException"
    assert all(a.monotonic <= b.monotonic for a, b in itertools.pairwise(records))
    assert abs(records[0].wall - time.time()) < 60
    assert braket_emulator.calls.counts() == {
        "CreateQuantumTask": 1,
        "GetQuantumTask": 1,
        "SearchQuantumTasks": 1,
        "GetDevice": 1,
    }
    assert braket_emulator.calls.status_counts()["GetDevice"] == {404: 1}
    # the same over HTTP, as another process would read it
    assert admin.counts() == braket_emulator.calls.counts()
    over_http = admin.calls("CreateQuantumTask")
    assert [c["client_token"] for c in over_http] == ["rec-1"]
    assert [t["quantumTaskArn"] for t in admin.tasks()] == [arn]
    # config over HTTP
    assert admin.set_config(queue_time=0.05)["queue_time"] == 0.05
    assert admin.add_fault("throttle", next=1)["next"] == 1
    assert braket_emulator.config.get("queue_time") == 0.05
    assert error_of(lambda: client.get_quantum_task(quantumTaskArn=arn)) == (
        "ThrottlingException",
        429,
    )
    assert [(r["kind"], r["fired"]) for r in admin.faults()] == [("throttle", 1)]
    for bad in ({"no_such_setting": 1}, {"queue_time": -1}, {"fail_task_predicate": 1}):
        with pytest.raises(urllib.error.HTTPError) as caught:
            admin.set_config(**bad)
        assert caught.value.code == 400
        caught.value.close()
    for rule in ({"kind": "nope"}, {"kind": "throttle", "operations": ["Nope"]}):
        with pytest.raises(urllib.error.HTTPError) as caught:
            admin.add_fault(**rule)
        assert caught.value.code == 400
        caught.value.close()
    admin.reset_config()
    assert braket_emulator.config.get("queue_time") == 0.0
    admin.reset_calls()
    assert len(braket_emulator.calls) == 0
    assert admin.calls() == []
    admin.reset()
    assert braket_emulator.emulator.tasks() == []


# --- lifecycle of the emulator itself -------------------------------------------------------


def test_start_and_stop_cleanly_without_s3() -> None:
    import boto3
    from botocore.config import Config

    before = set(threading.enumerate())  # the session's emulator runs meanwhile
    emulator = BraketEmulator(port=0)
    url = emulator.start()
    try:
        port = int(url.rsplit(":", 1)[1])
        client = boto3.session.Session(
            aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1"
        ).client("braket", endpoint_url=url, config=Config(retries={"total_max_attempts": 1}))
        arn = client.create_quantum_task(
            deviceArn=SV1,
            shots=10,
            outputS3Bucket="memory-only",
            outputS3KeyPrefix="p",
            action=action("OPENQASM 3.0;\nqubit q;\nbit c;\nx q;\nc = measure q;\n"),
        )["quantumTaskArn"]
        assert emulator.wait_for_status(arn) == "COMPLETED"
        assert json.loads(emulator.results_json(arn))["measurements"] == [["1"]] * 10
        # a program set keeps all its files in memory too
        arn = client.create_quantum_task(
            deviceArn=SV1,
            shots=10,
            outputS3Bucket="memory-only",
            outputS3KeyPrefix="p",
            action=program_set(program(RX, {"theta": [0.0, math.pi]})),
        )["quantumTaskArn"]
        assert emulator.wait_for_status(arn) == "COMPLETED"
        assert json.loads(emulator.results_json(arn))["taskMetadata"] == "metadata.json"
        executable = json.loads(emulator.results_object(arn, "programs/0/executables/1.json"))
        assert executable["measurements"] == [[1]] * 5
        with pytest.raises(KeyError):
            emulator.results_object(arn, "programs/9/results.json")
    finally:  # stopped even if the test fails
        emulator.stop()
    emulator.stop()  # idempotent
    client.close()
    assert not emulator.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    wait_until(lambda: set(threading.enumerate()) - before == set())
    with pytest.raises(ValueError):
        BraketEmulator(host="0.0.0.0")  # loopback only
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/_emulator/health", timeout=1)


def test_admin_endpoint_from_another_process(braket_emulator: BraketEmulatorEnv) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    script = (
        "import sys\n"
        "from tests.emulators.braket.admin import EmulatorAdmin\n"
        "admin = EmulatorAdmin(sys.argv[1])\n"
        "admin.add_fault('throttle', next=1)\n"
        "admin.set_config(fail_task_tags={'x': '*'})\n"
        "print(sum(admin.counts().values()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", script, braket_emulator.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert done.stdout.strip() == "0"
    assert [(r["kind"], r["next"]) for r in braket_emulator.faults.rules()] == [("throttle", 1)]
    assert braket_emulator.config.get("fail_task_tags") == {"x": "*"}


def test_braket_stack_for_scripts(braket_moto_server: str) -> None:
    import os

    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    from tests.emulators.braket.fixture import braket_stack

    before = os.environ.get("BRAKET_ENDPOINT")
    with braket_stack(moto_url=braket_moto_server, queue_time=0.05) as stack:
        assert os.environ["BRAKET_ENDPOINT"] == stack.url
        assert stack.config.get("queue_time") == 0.05
        task = AwsDevice(stack.device_arn("sv1")).run(
            Circuit().x(0), s3_destination_folder=(stack.bucket, "s"), shots=5
        )
        assert task.result().measurement_counts == {"1": 5}
        assert stack.calls.counts()["CreateQuantumTask"] == 1
    assert os.environ.get("BRAKET_ENDPOINT") == before
    assert not stack.emulator.running
