"""The Braket provider's hybrid jobs, their pure parts: the CreateJob body a dispatch makes
(name, token, tags, S3 paths, hyperparameters as strings, role, image), statuses, log
cursors and job details."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

import pytest

from qplan.jobstatus import JobStatus
from qplan.manifest.hybrid import HybridSpec, InputChannel
from qplan.providers import Dispatch, Member, PermanentError
from qplan.providers.braket_job_requests import (
    CHECKPOINT_PATH,
    ROLE_ENV,
    Layout,
    create_job_request,
    decode_cursor,
    details_of,
    encode_cursor,
    is_job,
    job_status,
    role_arn,
)
from qplan.providers.hybrid import job_name

ROLE = "arn:aws:iam::123456789012:role/qplan-jobs"
DEVICE = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
SOURCE = b"\x1f\x8b fake gzip bytes"
LAYOUT = Layout("bucket-1", "runs/")
KEY = "ab" * 24


def dispatch(spec: HybridSpec | None = None, **changes: object) -> Dispatch:
    fields: dict[str, object] = {
        "key": KEY,
        "stack": "vqe",
        "device": "sv1",
        "format": "braket.hybrid",
        "program": SOURCE,
        "shots": 0,
        "members": (Member("train[lr=0.1]", "f" * 16, 2, {"lr": 0.1, "steps": 3, "fast": True}),),
        "entry": "algo.main:run",
        "hybrid": spec or HybridSpec(entry_point="algo.main:run"),
        "tags": {"team": "q/lab", "odd": "a*b"},
    }
    fields.update(changes)
    return Dispatch(**fields)  # type: ignore[arg-type]


def request(d: Dispatch | None = None, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {
        "role": ROLE,
        "device": DEVICE,
        "layout": LAYOUT,
        "region": "us-east-1",
    }
    options.update(kwargs)
    return create_job_request(d or dispatch(), **options)  # type: ignore[arg-type]


def test_the_create_job_body_of_a_dispatch() -> None:
    body = request()
    name = job_name("vqe", "train[lr=0.1]", KEY)
    digest = hashlib.sha256(SOURCE).hexdigest()
    address_hash = hashlib.sha256(b"train[lr=0.1]").hexdigest()[:16]
    assert body["clientToken"] == KEY and body["jobName"] == name and len(name) <= 50
    assert body["roleArn"] == ROLE
    assert body["algorithmSpecification"] == {
        "scriptModeConfig": {
            "entryPoint": "algo.main:run",
            "s3Uri": f"s3://bucket-1/runs/jobs/source/{digest}/source.tar.gz",
            "compressionType": "GZIP",
        },
        "containerImage": {
            "uri": "292282985366.dkr.ecr.us-east-1.amazonaws.com/amazon-braket-base-jobs:latest"
        },
    }
    assert body["outputDataConfig"] == {"s3Path": f"s3://bucket-1/runs/jobs/{name}/data"}
    assert body["checkpointConfig"] == {
        "localPath": CHECKPOINT_PATH,
        "s3Uri": f"s3://bucket-1/runs/jobs/checkpoints/vqe/{address_hash}",
    }
    assert body["instanceConfig"] == {
        "instanceType": "ml.m5.large",
        "volumeSizeInGb": 30,
        "instanceCount": 1,
    }
    assert body["stoppingCondition"] == {"maxRuntimeInSeconds": 432_000}
    assert body["hyperParameters"] == {"lr": "0.1", "steps": "3", "fast": "true"}
    assert body["deviceConfig"] == {"device": DEVICE}
    assert body["tags"] == {
        "team": "q/lab",
        "odd": "a_b",
        "qplan-stack": "vqe",
        "qplan-address": "train_lr=0.1_",
        "qplan-fingerprint": "f" * 16,
        "qplan-attempt": "2",
        "qplan-key": KEY,
    }
    assert "inputDataConfig" not in body and "associations" not in body


def test_attempts_share_their_checkpoints_and_a_new_key_makes_a_new_name() -> None:
    first = request()
    again = request(dispatch(key="cd" * 24))
    assert again["jobName"] != first["jobName"]
    assert again["checkpointConfig"] == first["checkpointConfig"]
    assert str(again["jobName"]).rsplit("-", 2)[1] == str(first["jobName"]).rsplit("-", 2)[1]


def test_the_specification_fills_the_rest() -> None:
    spec = HybridSpec(
        entry_point="algo.main",
        instance_type="ml.c5.xlarge",
        volume_gb=64,
        max_runtime=90.5,
        checkpoint="s3://mine/ckpt",
        image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mine:1",
        input_data=(
            InputChannel("given", s3_uri="s3://data/set"),
            InputChannel("local", path="/tmp/x/points.csv", digest="d1"),
        ),
    )
    body = request(
        dispatch(spec, entry=None, settings={"reservation_arn": "arn:r"}),
        channels={"local": LAYOUT.uri(LAYOUT.data("d1", "points.csv"))},
    )
    script = body["algorithmSpecification"]
    assert script["scriptModeConfig"]["entryPoint"] == "algo.main"  # type: ignore[index]
    assert script["containerImage"] == {"uri": spec.image}  # type: ignore[index]
    assert body["checkpointConfig"] == {"localPath": CHECKPOINT_PATH, "s3Uri": "s3://mine/ckpt"}
    assert body["stoppingCondition"] == {"maxRuntimeInSeconds": 91}
    assert body["instanceConfig"] == {
        "instanceType": "ml.c5.xlarge",
        "volumeSizeInGb": 64,
        "instanceCount": 1,
    }
    assert body["inputDataConfig"] == [
        {"channelName": "given", "dataSource": {"s3DataSource": {"s3Uri": "s3://data/set"}}},
        {
            "channelName": "local",
            "dataSource": {"s3DataSource": {"s3Uri": "s3://bucket-1/runs/jobs/data/d1/points.csv"}},
        },
    ]
    assert body["associations"] == [{"arn": "arn:r", "type": "RESERVATION_TIME_WINDOW_ARN"}]
    with pytest.raises(PermanentError, match="'local' is not uploaded"):
        request(dispatch(spec))


def test_the_default_image_is_the_regions_base_image() -> None:
    body = request(region="eu-north-1")
    image = body["algorithmSpecification"]["containerImage"]["uri"]  # type: ignore[index]
    assert image.startswith("292282985366.dkr.ecr.eu-north-1.amazonaws.com/amazon-braket-base")


def test_what_is_not_a_hybrid_dispatch_is_refused() -> None:
    for bad in (
        dispatch(format="openqasm3"),
        dispatch(program="text"),
        replace(dispatch(), hybrid=None),
        replace(dispatch(), members=dispatch().members * 2),
    ):
        with pytest.raises(PermanentError, match="not a hybrid job"):
            request(bad)


def test_the_role_comes_from_the_settings_then_the_environment_never_a_lookup() -> None:
    assert role_arn(ROLE, {ROLE_ENV: "arn:aws:iam::1:role/other"}) == ROLE
    assert role_arn(None, {ROLE_ENV: "arn:aws:iam::1:role/other"}) == "arn:aws:iam::1:role/other"
    with pytest.raises(PermanentError) as raised:
        role_arn(None, {ROLE_ENV: " "})
    assert "role_arn" in str(raised.value) and ROLE_ENV in str(raised.value)


def test_job_arns_and_statuses() -> None:
    assert is_job("arn:aws:braket:us-east-1:123456789012:job/5b0c-1")
    assert not is_job("arn:aws:braket:us-east-1:123456789012:quantum-task/5b0c-1")
    expected = {
        "QUEUED": JobStatus.QUEUED,
        "RUNNING": JobStatus.RUNNING,
        "COMPLETED": JobStatus.SUCCEEDED,
        "FAILED": JobStatus.FAILED,
        "CANCELLING": JobStatus.CANCELLING,
        "CANCELLED": JobStatus.CANCELLED,
    }
    assert {raw: job_status(raw) for raw in expected} == expected
    assert job_status("PAUSED") is None  # unknown: asked again next poll


def test_log_cursors_round_trip_and_a_foreign_one_reads_from_the_start() -> None:
    cursor = encode_cursor("qp-vqe-1-2", {"qp-vqe-1-2/algo-1-17": "f/123", "a": "f/1"})
    assert decode_cursor(cursor) == ("qp-vqe-1-2", {"a": "f/1", "qp-vqe-1-2/algo-1-17": "f/123"})
    assert decode_cursor(None) == (None, {})
    assert decode_cursor("not json") == (None, {})
    assert decode_cursor('{"tokens": [1]}') == (None, {})


def test_details_of_a_get_job_answer() -> None:
    at = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    job = {
        "jobName": "qp-vqe-1-2",
        "status": "FAILED",
        "failureReason": "AlgorithmError: boom",
        "startedAt": at,
        "endedAt": at + dt.timedelta(seconds=7),
        "billableDuration": 7250,
        "events": [
            {"eventType": "QUEUED_FOR_EXECUTION", "timeOfEvent": at, "message": "queued"},
            {"eventType": "FAILED", "timeOfEvent": at + dt.timedelta(seconds=7)},
        ],
        "queueInfo": {"queue": "JOBS_QUEUE", "position": "None", "message": "not queued"},
    }
    details = details_of(job)
    assert details.status is JobStatus.FAILED and details.name == "qp-vqe-1-2"
    assert details.failure == "AlgorithmError: boom" and details.billable_seconds == 7.25
    assert details.started_at == at.timestamp() and details.ended_at == at.timestamp() + 7
    assert details.events == (
        (at.timestamp(), "QUEUED_FOR_EXECUTION", "queued"),
        (at.timestamp() + 7, "FAILED", ""),
    )
    assert details.queue is None
    queued = details_of({"status": "QUEUED", "queueInfo": {"position": ">15"}})
    assert queued.queue == ">15" and queued.billable_seconds is None and queued.events == ()
    with_message = details_of({"status": "QUEUED", "queueInfo": {"position": "3", "message": "m"}})
    assert with_message.queue == "3 (m)"
