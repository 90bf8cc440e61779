"""Hybrid jobs on Amazon Braket, end to end through the CLI: the VQE example switched to
`aws/sv1` by its target alone, against the Braket emulator (tests/emulators/braket), which
runs each job's source as the job container would, its tasks on the emulator's SV1, its log
into moto's CloudWatch Logs and its output archive into moto's S3. The real SDK and boto3
speak to both over HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from qplan.providers.braket import _tag
from tests.conftest import copy_example
from tests.e2e.processes import kill_apply_once
from tests.emulators.braket.fixture import BraketEmulatorEnv

ROLE = "arn:aws:iam::123456789012:role/qplan-jobs"
BOND = "h2[bond_length=0.7]"


class Folder:
    def __init__(
        self, path: Path, env: BraketEmulatorEnv, bonds: str = "[0.7, 1.2]", iterations: int = 5
    ) -> None:
        self.path = copy_example("braket-hybrid-vqe", path)
        self.env = env
        manifest = self.path / "qplan.yaml"
        text = manifest.read_text().replace(
            "{iterations: 12, stepsize: 1.0, shots: 2000}",
            f"{{iterations: {iterations}, stepsize: 1.5, shots: 400}}",
        )
        manifest.write_text(text.replace("[0.5, 0.7, 0.9, 1.2, 1.6]", bonds))

    def environ(self) -> dict[str, str]:
        return {**os.environ, "QPLAN_S3_BUCKET": self.env.bucket, "BRAKET_JOBS_ROLE_ARN": ROLE}

    def qplan(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qplan", *args, "--var", "target=aws/sv1"],
            capture_output=True,
            text=True,
            cwd=self.path,
            env=self.environ(),
            timeout=240,
            check=False,
        )

    def apply(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.qplan("apply", "qplan.yaml", "--poll-interval", "0.2", *args)

    def rows(self) -> dict[str, tuple[str, str | None, int]]:
        with sqlite3.connect(self.path / ".qplan" / "state.db") as conn:
            query = "SELECT address, status, provider_job_id, attempt FROM resources"
            return {a: (s, j, n) for a, s, j, n in conn.execute(query)}


def created(env: BraketEmulatorEnv) -> int:
    return env.calls.counts().get("CreateJob", 0)


def per_address(env: BraketEmulatorEnv) -> Counter[str]:
    return Counter(job["tags"]["qplan-address"] for job in env.emulator.hybrid_jobs())


def test_the_vqe_example_on_braket_runs_once_and_its_outputs_are_read_back(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder = Folder(tmp_path / "vqe", env)
    first = folder.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    rows = folder.rows()
    assert {s for s, _, _ in rows.values()} == {"succeeded"} and len(rows) == 2
    assert created(env) == 2 and set(per_address(env).values()) == {1}
    jobs = {job["jobArn"]: job for job in env.emulator.hybrid_jobs()}
    assert {j for _, j, _ in rows.values()} == set(jobs)
    # the jobs' own tasks ran on SV1, each with its job's token (priority queueing)
    tokens = {env.emulator.job_token(arn) for arn in jobs}
    task_tokens = [env.emulator.task_job_token(t["quantumTaskArn"]) for t in env.emulator.tasks()]
    assert len(task_tokens) >= 2 * 5 * 9 and set(task_tokens) == tokens

    again = folder.apply()
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout
    assert created(env) == 2  # a re-apply creates nothing

    log = folder.qplan("logs", "qplan.yaml", BOND)
    assert log.returncode == 0, log.stderr
    sv1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
    assert f"VQE for H2 at 0.7 angstrom on {sv1}" in log.stdout
    assert log.stdout.count("Metrics - ") == 11  # energy and theta per iteration, the final one

    metrics = folder.qplan("metrics", "qplan.yaml", "--format", "csv")
    energies: dict[str, list[float]] = {}
    for row in csv.DictReader(io.StringIO(metrics.stdout)):
        energies.setdefault(row["address"], []).append(float(row["energy"]))
    assert set(energies) == set(rows)
    assert all(len(e) == 6 and e[-1] < e[0] - 0.3 for e in energies.values()), energies

    results = json.loads(folder.qplan("results", "qplan.yaml", "--format", "json").stdout)
    assert {r["address"] for r in results} == set(rows)
    for record in results:
        assert abs(record["result"]["energy"] - record["result"]["exact"]) < 0.15, record

    out = tmp_path / "out"
    fetched = folder.qplan("download", "qplan.yaml", BOND, "--to", str(out))
    assert fetched.returncode == 0, fetched.stderr
    (saved,) = out.glob("qp-vqe-h2-*/results.json")
    assert json.loads(saved.read_text())["dataDictionary"]["bond_length"] == 0.7

    status = folder.qplan("status", "qplan.yaml", BOND)
    assert status.returncode == 0, status.stderr
    assert "COMPLETED" in status.stdout and "billable" in status.stdout, status.stdout

    # an edit to the source replaces both jobs; the old ones stay as they were
    algorithm = folder.path / "vqe" / "algorithm.py"
    algorithm.write_text(algorithm.read_text() + "\n# shorter steps next time\n")
    replaced = folder.apply()
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert created(env) == 4 and per_address(env) == Counter({_tag(a): 2 for a in rows})
    assert {j for _, j, _ in folder.rows().values()}.isdisjoint(jobs)
    destroyed = folder.qplan("destroy", "qplan.yaml", "--yes")
    assert destroyed.returncode == 0 and folder.rows() == {}


def test_logs_follow_waits_for_the_job_and_prints_it_to_its_end(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    env.config.update(job_queue_time=1.0)
    folder = Folder(tmp_path / "vqe", env, bonds="[0.7]", iterations=3)
    with open(folder.path / "apply.log", "ab") as out:
        apply = subprocess.Popen(
            [sys.executable, "-m", "qplan", "apply", "qplan.yaml", "--var", "target=aws/sv1"],
            cwd=folder.path,
            env=folder.environ(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        follow = folder.qplan("logs", "qplan.yaml", BOND, "--follow", "--poll-interval", "0.2")
        assert follow.returncode == 0, follow.stderr
        lines = follow.stdout.splitlines()
        assert lines[0].startswith("VQE for H2 at 0.7 angstrom")
        assert lines[-1].startswith("energy ") and "hartree" in lines[-1], lines[-3:]
        assert apply.wait(timeout=120) == 0
    finally:
        if apply.poll() is None:
            os.killpg(apply.pid, signal.SIGKILL)
            apply.wait()


def test_a_crash_between_create_job_and_the_state_write_is_adopted(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder = Folder(tmp_path / "vqe", env, iterations=1)
    env.faults.latency(3.0, operations=["CreateJob"])
    kill_apply_once(
        folder.path,
        folder.environ(),
        lambda rows: "submitting" in rows,
        0.5,
        "--var",
        "target=aws/sv1",
    )
    assert any(s == "submitting" for s, _, _ in folder.rows().values()), folder.rows()
    deadline = time.monotonic() + 30  # the emulator finishes the requests it received
    while time.monotonic() < deadline and len(env.emulator.hybrid_jobs()) < 2:
        time.sleep(0.1)
    env.faults.clear()
    resumed = folder.apply()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "adopted" in resumed.stdout, resumed.stdout
    assert per_address(env) == Counter({_tag(a): 1 for a in folder.rows()})  # nothing sent twice
    assert {s for s, _, _ in folder.rows().values()} == {"succeeded"}


def test_a_storm_of_5xx_after_commit_makes_no_duplicate_job(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder = Folder(tmp_path / "vqe", env, bonds="[0.5, 0.7, 1.2]", iterations=1)
    env.faults.error(after_commit=True, status=502, operations=["CreateJob"], rate=0.5, seed=3)
    env.faults.throttle(operations=["CreateJob", "SearchJobs"], rate=0.2, seed=5)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert env.calls.status_counts().get("CreateJob", {}).get(502, 0) > 0
    assert per_address(env) == Counter({_tag(a): 1 for a in folder.rows()})
    assert len(folder.rows()) == 3 and {s for s, _, _ in folder.rows().values()} == {"succeeded"}


def test_a_job_that_raises_is_retried_by_policy_and_resumes_from_its_checkpoint(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    env = braket_emulator
    folder = Folder(tmp_path / "vqe", env, bonds="[0.7]")
    manifest = folder.path / "qplan.yaml"
    manifest.write_text(
        manifest.read_text().replace("shots: 400}", "shots: 400, crash_at_iteration: 2}")
    )
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    status, _, attempt = folder.rows()[BOND]
    assert (status, attempt) == ("succeeded", 2)
    failed = [j for j in env.emulator.hybrid_jobs() if j["status"] == "FAILED"]
    assert len(failed) == 1 and "crash_at_iteration=2" in failed[0]["failureReason"]
    log = folder.qplan("logs", "qplan.yaml", BOND).stdout
    assert "resuming from the checkpoint at iteration 2" in log


def test_cancel_stops_a_running_job(tmp_path: Path, braket_emulator: BraketEmulatorEnv) -> None:
    env = braket_emulator
    folder = Folder(tmp_path / "vqe", env, bonds="[0.7]")
    manifest = folder.path / "qplan.yaml"
    manifest.write_text(manifest.read_text().replace("iterations: 5,", "iterations: 500,"))
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    (arn,) = [j["jobArn"] for j in env.emulator.hybrid_jobs()]
    env.emulator.wait_for_job_status(arn, ["RUNNING"])
    cancelled = folder.qplan("cancel", "qplan.yaml")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert env.emulator.wait_for_job_status(arn) == "CANCELLED"
    assert env.calls.counts().get("CancelJob", 0) >= 1
    refreshed = folder.qplan("status", "qplan.yaml", "--refresh")
    assert refreshed.returncode == 0
    assert folder.rows()[BOND][0] == "cancelled"
    assert env.emulator.job_pids() == []
