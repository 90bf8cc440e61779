"""The Braket provider end to end: the real amazon-braket-sdk and boto3 over HTTP against the
wire-compatible emulator (tests/emulators/braket), with moto serving S3. The emulator runs
programs on Braket's local simulator and counts every API call. The sweep's apply, re-apply,
edit, cancel and destroy run with the state on SQLite and on PostgreSQL; the rest on
SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from qplan.providers.braket import _tag
from tests.conftest import copy_example
from tests.e2e.processes import kill_apply_once
from tests.e2e.stacks import opened, stack_name, state_env
from tests.emulators.braket.fixture import BraketEmulatorEnv

POINTS = 6
MANIFEST = """\
version: 1
stack: rabi
providers:
  aws:
    type: braket
    region: us-east-1
    s3_bucket: "{{{{ env('QPLAN_S3_BUCKET') }}}}"
    s3_prefix: results
programs:
  ry:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      qubit q;
      bit c;
      {gate}(theta) q;
      c = measure q;
jobs:
  rabi:
    target: aws/{device}
    program: ry
    shots: {shots}
    sweep: {{grid: {{theta: {{linspace: [0, 3.141592653589793, {points}]}}}}{batch}}}
    retry: {{attempts: 3, backoff: 100ms}}
"""


class Folder:
    """A stack on the emulator; its state at ``state`` (None: the default SQLite file)."""

    def __init__(self, path: Path, env: BraketEmulatorEnv, state: str | None = None) -> None:
        self.path = path
        self.env = env
        self.state = state
        self.write()

    @classmethod
    def example(cls, name: str, tmp_path: Path, env: BraketEmulatorEnv) -> Folder:
        """A copy of ``examples/NAME`` in ``tmp_path``, on the emulator, as written."""
        folder = cls.__new__(cls)
        folder.path, folder.env, folder.state = tmp_path / "example", env, None
        copy_example(name, folder.path)
        return folder

    def write(
        self,
        gate: str = "ry",
        shots: int = 100,
        points: int = POINTS,
        batch: str = "",
        device: str = "sv1",
    ) -> None:
        batch = f", {batch}" if batch else ""
        text = MANIFEST.format(gate=gate, shots=shots, points=points, batch=batch, device=device)
        (self.path / "qplan.yaml").write_text(text)

    def environ(self) -> dict[str, str]:
        return state_env(self.state, {**os.environ, "QPLAN_S3_BUCKET": self.env.bucket})

    def qplan(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qplan", *args],
            capture_output=True,
            text=True,
            cwd=self.path,
            env=self.environ(),
            timeout=240,
            check=False,
        )

    def apply(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.qplan("apply", "qplan.yaml", "--poll-interval", "0.2", *args)

    def rows(self) -> dict[str, tuple[str, str | None]]:
        manifest = self.path / "qplan.yaml"
        with opened(self.state, manifest) as store:
            rows = store.rows(stack_name(manifest, self.environ()))
            return {r.address: (r.status.value, r.provider_job_id) for r in rows}


def tasks(env: BraketEmulatorEnv) -> list[dict[str, Any]]:
    """Every task the emulator holds, through the real API."""
    client = env.braket_client(retries=None)
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "filters": [{"name": "createdAt", "operator": "GTE", "values": ["2000-01-01T00:00:00Z"]}],
        "maxResults": 100,
    }
    while True:
        page = client.search_quantum_tasks(**kwargs)
        out += page["quantumTasks"]
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


def creates(env: BraketEmulatorEnv) -> int:
    return env.calls.counts().get("CreateQuantumTask", 0)


def per_address(env: BraketEmulatorEnv) -> Counter[str]:
    return Counter(t["tags"]["qplan-address"] for t in tasks(env))


@pytest.fixture
def folder(tmp_path: Path, braket_emulator: BraketEmulatorEnv) -> Folder:
    return Folder(tmp_path, braket_emulator)


def test_sweep_apply_reapply_edit_cancel_destroy(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv, state_backend: str | None
) -> None:
    env = braket_emulator
    folder = Folder(tmp_path, env, state_backend)
    first = folder.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    assert creates(env) == POINTS
    assert set(per_address(env).values()) == {1}
    results = json.loads(folder.qplan("results", "qplan.yaml", "--format", "json").stdout)
    assert len(results) == POINTS
    assert results[0]["counts"] == {"0": 100}  # ry(0)
    assert results[-1]["counts"] == {"1": 100}  # ry(pi)
    assert all(r["provider_job_id"].startswith("arn:aws:braket:") for r in results)

    again = folder.apply()
    assert again.returncode == 0 and "No changes" in again.stdout
    assert creates(env) == POINTS  # zero CreateQuantumTask calls

    folder.write(gate="rx")
    edited = folder.apply()
    assert edited.returncode == 0, edited.stderr
    assert creates(env) == 2 * POINTS

    env.config.update(queue_time=60.0)
    folder.write(gate="rx", shots=50)
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    assert "not finished" in submitted.stdout
    assert {s for s, _ in folder.rows().values()} <= {"queued", "running"}
    cancelled = folder.qplan("cancel", "qplan.yaml")
    assert cancelled.stdout.strip() == f"Cancel requested for {POINTS} in-flight instances."
    assert env.calls.counts().get("CancelQuantumTask", 0) == POINTS
    refreshed = folder.qplan("status", "qplan.yaml", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert {s for s, _ in folder.rows().values()} == {"cancelled"}
    destroyed = folder.qplan("destroy", "qplan.yaml", "--yes")
    assert destroyed.returncode == 0 and f"{POINTS} resource(s) forgotten" in destroyed.stdout


def kill_while_creating(
    folder: Folder, env: BraketEmulatorEnv, seconds: float, expected: int
) -> None:
    """SIGKILL the apply once its intents are committed, inside the ``seconds`` the emulator
    takes to answer CreateQuantumTask; then let it finish the requests it had received."""
    env.faults.latency(seconds, operations=["CreateQuantumTask"])
    kill_apply_once(folder.path, folder.environ(), lambda rows: "submitting" in rows, 0.5)
    rows = folder.rows()
    assert any(s == "submitting" for s, _ in rows.values()), rows  # intents without an id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(tasks(env)) < expected:
        time.sleep(0.1)
    env.faults.clear()


@pytest.mark.parametrize("batch", ["", "batch: native"])
def test_crash_between_create_and_state_write(
    folder: Folder, braket_emulator: BraketEmulatorEnv, batch: str
) -> None:
    env = braket_emulator
    folder.write(batch=batch)
    expected = 1 if batch else POINTS  # one ProgramSet task, or one task per point
    kill_while_creating(folder, env, 3.0, expected)
    resumed = folder.apply()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "adopted" in resumed.stdout
    assert len(tasks(env)) == expected  # nothing sent twice
    if not batch:
        assert per_address(env) == Counter({_tag(a): 1 for a in folder.rows()})
    assert {s for s, _ in folder.rows().values()} == {"succeeded"}
    check_results(folder)


def test_throttling_and_502_storms_make_no_duplicate(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder.write(points=12)
    env.faults.throttle(rate=0.3, seed=7)  # every operation
    env.faults.error(operations=["CreateQuantumTask"], rate=0.1, seed=7)
    env.faults.error(
        after_commit=True, status=502, operations=["CreateQuantumTask"], rate=0.25, seed=7
    )
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = env.calls.status_counts().get("CreateQuantumTask", {})
    assert statuses.get(429, 0) > 0 and statuses.get(502, 0) > 0 and statuses.get(500, 0) > 0
    assert per_address(env) == Counter({_tag(a): 1 for a in folder.rows()})  # no duplicate task
    assert len(folder.rows()) == 12 and {s for s, _ in folder.rows().values()} == {"succeeded"}


def test_submissions_respect_the_rate_limit(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder.write(points=100)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    times = sorted(c.monotonic for c in env.calls.calls("CreateQuantumTask"))
    assert len(times) == 100, env.calls.status_counts()
    worst = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    # qplan's bucket: bursts of 36, then 18/s. The requirement is the service's quota, bursts
    # of 40 then 20/s: never more than 60 in a second (arrivals can bunch on a loaded machine)
    assert worst <= 40 + 20, worst
    assert times[-1] - times[0] >= 3.0, times  # the 64 after the burst take 64 / 18 s


def test_failed_tasks_and_permanent_errors_are_reported(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    env.config.update(fail_task_tags={"qplan-address": "rabi_theta=0.0_"})
    failed = folder.apply()
    assert failed.returncode == 1
    assert (
        "failed  rabi[theta=0.0]: Task failed: fault injected by the Braket emulator"
        in failed.stderr
    )
    env.config.update(fail_task_tags={})
    folder.write(shots=10_000_000)
    invalid = folder.apply()
    assert invalid.returncode == 1
    assert "Braket ValidationException" in invalid.stderr and "rabi[theta=" in invalid.stderr


def test_a_session_on_a_reservation_passes_its_arn_to_every_task(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    reservation = (
        "arn:aws:braket:us-east-1:123456789012:reservation/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
    )
    text = (folder.path / "qplan.yaml").read_text()
    session = "sessions:\n  booked: {target: aws/sv1, on_job_failure: continue}\n"
    text = text.replace("jobs:\n", session + "jobs:\n").replace(
        "    s3_prefix:", f"    reservations: {{booked: '{reservation}'}}\n    s3_prefix:"
    )
    text = text.replace("    target: aws/sv1\n", "    session: booked\n")
    assert "session: booked" in text
    (folder.path / "qplan.yaml").write_text(text)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    client = braket_emulator.braket_client(retries=None)
    described = [
        client.get_quantum_task(quantumTaskArn=t["quantumTaskArn"]) for t in tasks(braket_emulator)
    ]
    assert len(described) == POINTS
    for task in described:
        assert task["associations"] == [{"arn": reservation, "type": "RESERVATION_TIME_WINDOW_ARN"}]


def check_results(folder: Folder) -> None:
    """Each point holds its own result: ry(0) gives 0, ry(pi) gives 1, in between both."""
    results = json.loads(folder.qplan("results", "qplan.yaml", "--format", "json").stdout)
    assert len(results) == len(folder.rows())
    by_theta = sorted(results, key=lambda r: r["point"]["theta"])
    assert by_theta[0]["counts"] == {"0": 100}
    assert by_theta[-1]["counts"] == {"1": 100}


def test_a_native_sweep_runs_as_one_program_set_task(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder.write(batch="batch: native")
    first = folder.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    assert creates(env) == 1
    (task,) = tasks(env)
    described = env.braket_client(retries=None).get_quantum_task(
        quantumTaskArn=task["quantumTaskArn"]
    )
    assert described["actionMetadata"]["executableCount"] == POINTS
    assert described["shots"] == 100 * POINTS
    rows = folder.rows()
    assert sorted(job for _, job in rows.values()) == [
        f"{task['quantumTaskArn']}#{i}" for i in range(POINTS)
    ]
    check_results(folder)
    again = folder.apply()
    assert again.returncode == 0 and "No changes" in again.stdout
    assert creates(env) == 1


def test_native_batches_follow_batch_size_and_the_device(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder.write(batch="batch: native, batch_size: 4")
    assert folder.apply().returncode == 0
    executables = sorted(
        env.braket_client(retries=None).get_quantum_task(quantumTaskArn=t["quantumTaskArn"])[
            "actionMetadata"
        ]["executableCount"]
        for t in tasks(env)
    )
    assert executables == [2, 4]
    check_results(folder)
    before = creates(env)
    folder.write(batch="batch: native", device="tn1")  # TN1 runs no program sets
    assert folder.apply().returncode == 0
    assert creates(env) - before == POINTS
    check_results(folder)


def test_a_failed_executable_is_retried_alone(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    failed_once: list[object] = []

    def fail_theta_zero_once(tags: Mapping[str, str], inputs: Mapping[str, Any]) -> bool:
        if inputs.get("theta") == 0.0 and not failed_once:
            failed_once.append(inputs)
            return True
        return False

    env.config.update(fail_executable_predicate=fail_theta_zero_once)
    folder.write(batch="batch: native")
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rabi[theta=0.0]" in result.stdout and "executable failed" in result.stdout
    assert creates(env) == 2  # the batch, then theta=0 alone
    retried = max(tasks(env), key=lambda t: t["createdAt"])["quantumTaskArn"]
    assert folder.rows()["rabi[theta=0.0]"] == ("succeeded", retried)  # a task of its own
    check_results(folder)


def test_cancelling_one_point_of_a_batch_cancels_the_batch(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    env.config.update(queue_time=60.0)
    folder.write(batch="batch: native")
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    cancelled = folder.qplan("cancel", "qplan.yaml", "rabi[theta=0.0]")
    assert cancelled.stdout.strip() == f"Cancel requested for {POINTS} in-flight instances."
    assert env.calls.counts().get("CancelQuantumTask", 0) == 1
    assert folder.qplan("status", "qplan.yaml", "--refresh").returncode == 0
    assert {s for s, _ in folder.rows().values()} == {"cancelled"}


def test_the_braket_example_applies_as_written(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder = Folder.example("braket-sweep", tmp_path, env)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    # the calibration task, then the 32-point sweep as one ProgramSet task
    assert creates(env) == 2
    rows = folder.rows()
    assert len(rows) == 33 and {s for s, _ in rows.values()} == {"succeeded"}
    results = json.loads(folder.qplan("results", "qplan.yaml", "--format", "json").stdout)
    assert len(results) == 33 and all(sum(r["counts"].values()) == r["shots"] for r in results)


def test_a_result_gone_from_s3_fails_the_attempt_and_is_retried(
    folder: Folder, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder.write(batch="batch: native")
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    (task,) = tasks(env)
    assert env.emulator.wait_for_status(task["quantumTaskArn"], timeout=60) == "COMPLETED"
    s3 = env.s3_client()
    for item in s3.list_objects_v2(Bucket=env.bucket).get("Contents", []):
        if item["Key"].endswith("/results.json"):  # every results file of the task
            s3.delete_object(Bucket=env.bucket, Key=item["Key"])
    resumed = folder.apply()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "result unreadable" in resumed.stdout and "NoSuchKey" in resumed.stdout
    assert creates(env) == 2  # the batch again, as the retry policy allows
    check_results(folder)
