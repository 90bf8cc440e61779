"""Hybrid jobs on the local provider, end to end through the CLI: the VQE example as a user
runs it (apply, re-apply, logs, metrics and their plot, results, download, status), and
what a demanding user tries next: following a log while the job runs, a source edit, an
ignored file, a job that raises and resumes from its checkpoint on retry, max_runtime, a
pickled result, a SIGKILL of qplan mid-job, destroy. Every job is a real process running
the entry point the way Braket's container does, its tasks on the local simulator."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import copy_example
from tests.e2e.processes import TAG, kill_tagged, new_tag, wait_gone

BOND = "h2[bond_length=0.7]"


class Folder:
    """A folder holding a manifest; qplan runs in it with a process tag, so that every
    process it starts is found (and killed) afterwards."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tag = new_tag()
        self.env = {**os.environ, TAG: self.tag}

    def qplan(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qplan", *args],
            capture_output=True,
            text=True,
            cwd=self.path,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, log_name: str = "output.log") -> subprocess.Popen[bytes]:
        """qplan in the background, its output in ``log_name`` (a pipe would keep the test
        waiting on any process that outlived qplan)."""
        with open(self.path / log_name, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "qplan", *args],
                cwd=self.path,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def rows(self) -> dict[str, tuple[str, int, str | None, str | None]]:
        with sqlite3.connect(self.path / ".qplan" / "state.db") as conn:
            query = "SELECT address, status, attempt, provider_job_id, error FROM resources"
            return {a: (s, n, j, e) for a, s, n, j, e in conn.execute(query)}

    def wait_for(self, status: str, address: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if self.rows().get(address, ("",))[0] == status:
                    return
            except sqlite3.OperationalError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{address} never {status}: {self.rows()}")


@pytest.fixture
def example(tmp_path: Path) -> Folder:
    return Folder(copy_example("braket-hybrid-vqe", tmp_path / "vqe"))


def _job(folder: Path, body: str, name: str = "algo") -> None:
    """A job package ``algo`` whose ``run.py`` holds ``body`` (a ``main()``)."""
    package = folder / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "run.py").write_text(textwrap.dedent(body))


MANIFEST = """\
version: 1
stack: hy
programs:
  algo: {{format: braket.hybrid, path: algo, entry_point: "algo.run:main"}}
jobs:
  job:
    target: local/braket_sv
    program: algo
    hyperparameters: {{n: 3}}
{extra}"""


@pytest.fixture
def custom(tmp_path: Path) -> Folder:
    folder = Folder(tmp_path / "custom")
    folder.path.mkdir()
    return folder


def _write(folder: Folder, body: str, extra: str = "") -> None:
    _job(folder.path, body)
    (folder.path / "qplan.yaml").write_text(MANIFEST.format(extra=extra))


def test_the_vqe_example_runs_locally_then_a_re_apply_is_a_no_op(
    example: Folder, tmp_path: Path
) -> None:
    applied = example.qplan("apply", "qplan.yaml")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    rows = example.rows()
    assert len(rows) == 5 and {r[0] for r in rows.values()} == {"succeeded"}, rows
    again = example.qplan("apply", "qplan.yaml")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout
    assert example.rows() == rows  # the same jobs, nothing run twice

    shown = example.qplan("results", "qplan.yaml", "--format", "json")
    results = {r["address"]: r for r in json.loads(shown.stdout)}
    assert len(results) == 5
    for record in results.values():
        saved = record["result"]
        assert record["result_format"] == "plaintext"
        assert abs(saved["energy"] - saved["exact"]) < 0.05, saved  # VQE found the ground state
        assert saved["bond_length"] == record["point"]["bond_length"]
    table = example.qplan("results", "qplan.yaml")
    assert BOND in table.stdout and "energy=" in table.stdout

    metrics = example.qplan("metrics", "qplan.yaml", "--format", "csv", "--plot", "energy.png")
    assert metrics.returncode == 0, metrics.stderr
    by_address: dict[str, list[float]] = {}
    for row in csv.DictReader(io.StringIO(metrics.stdout)):
        by_address.setdefault(row["address"], []).append(float(row["energy"]))
    assert set(by_address) == set(results)
    for energies in by_address.values():
        assert len(energies) == 13  # 12 iterations and the final energy
        assert energies[-1] < energies[0] - 0.3  # the energy falls over the iterations
    png = (example.path / "energy.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000

    log = example.qplan("logs", "qplan.yaml", BOND)
    assert log.returncode == 0
    assert "VQE for H2 at 0.7 angstrom on local:braket/braket_sv" in log.stdout
    assert log.stdout.count("Metrics - ") == 25  # energy and theta each iteration, the final energy

    out = tmp_path / "out"
    fetched = example.qplan("download", "qplan.yaml", BOND, "--to", str(out))
    assert fetched.returncode == 0, fetched.stderr
    (saved_file,) = out.glob("*/results.json")
    assert json.loads(saved_file.read_text())["dataDictionary"] == results[BOND]["result"]

    status = example.qplan("status", "qplan.yaml", "h2")
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("succeeded") >= 5 and BOND in status.stdout

    destroyed = example.qplan("destroy", "qplan.yaml", "--yes")
    assert destroyed.returncode == 0 and example.rows() == {}


def test_a_source_edit_replaces_the_jobs_and_an_ignored_file_does_not(example: Folder) -> None:
    one = ["--var", "target=local/braket_sv"]
    assert example.qplan("apply", "qplan.yaml", *one).returncode == 0
    first = example.rows()
    (example.path / "vqe" / ".qplanignore").write_text("notes.txt\n")
    (example.path / "vqe" / "notes.txt").write_text("scratch\n")
    plan = example.qplan("plan", "qplan.yaml", *one, "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout  # an ignored file (and the ignore file) do not count
    assert example.rows() == first
    algorithm = example.path / "vqe" / "algorithm.py"
    algorithm.write_text(algorithm.read_text() + "\n# tuned\n")
    plan = example.qplan("plan", "qplan.yaml", *one, "--detailed-exitcode")
    assert plan.returncode == 2 and "replace" in plan.stdout, plan.stdout


def test_a_job_that_raises_is_retried_and_resumes_from_its_checkpoint(example: Folder) -> None:
    manifest = example.path / "qplan.yaml"
    text = manifest.read_text().replace(
        "{iterations: 12, stepsize: 1.0, shots: 2000}",
        "{iterations: 6, stepsize: 1.0, shots: 500, crash_at_iteration: 3}",
    )
    manifest.write_text(text.replace("[0.5, 0.7, 0.9, 1.2, 1.6]", "[0.7]"))
    applied = example.qplan("apply", "qplan.yaml")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    status, attempt, _, _ = example.rows()[BOND]
    assert (status, attempt) == ("succeeded", 2)
    assert "retrying" in applied.stdout or "attempt 2" in applied.stdout, applied.stdout
    log = example.qplan("logs", "qplan.yaml", BOND).stdout
    assert "resuming from the checkpoint at iteration 3" in log
    metrics = example.qplan("metrics", "qplan.yaml", "--format", "json")
    iterations = [r["iteration"] for r in json.loads(metrics.stdout)]
    assert iterations == [3, 4, 5, 6]  # the second attempt's log: from the checkpoint on


def test_logs_follow_prints_lines_as_they_come_until_the_job_ends(custom: Folder) -> None:
    _write(
        custom,
        """\
        import time
        from braket.jobs.metrics import log_metric

        def main():
            for i in range(6):
                print(f"step {i}", flush=True)
                log_metric("loss", 1.0 / (i + 1), iteration_number=i)
                time.sleep(0.5)
        """,
    )
    # started first, before the state exists: it waits for the apply to submit the job
    follow = custom.start(
        "logs", "qplan.yaml", "job", "-f", "--poll-interval", "0.1", log_name="follow.log"
    )
    try:
        time.sleep(1.5)
        applied = custom.qplan("apply", "qplan.yaml")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert follow.wait(timeout=30) == 0
        lines = (custom.path / "follow.log").read_text().splitlines()
        assert [line for line in lines if line.startswith("step")] == [
            f"step {i}" for i in range(6)
        ]
    finally:
        if follow.poll() is None:
            os.killpg(follow.pid, signal.SIGKILL)
            follow.wait()
        kill_tagged(custom.tag)


def test_max_runtime_stops_the_job_and_fails_it(custom: Folder) -> None:
    _write(
        custom,
        """\
        import time

        def main():
            print("working", flush=True)
            time.sleep(60)
        """,
        extra="    max_runtime: 2s\n    on_failure: continue\n",
    )
    started = time.monotonic()
    applied = custom.qplan("apply", "qplan.yaml")
    assert time.monotonic() - started < 30
    assert applied.returncode == 1
    status, _, _, error = custom.rows()["job"]
    assert status == "failed" and "max" in (error or "").lower(), error
    assert wait_gone(custom.tag, 5) == []


def test_a_pickled_result_is_shown_but_not_loaded_without_allow_pickle(custom: Folder) -> None:
    _write(
        custom,
        """\
        from braket.jobs import save_job_result
        from braket.jobs_data import PersistedJobDataFormat

        def main():
            save_job_result({"answer": {1, 2, 3}}, data_format=PersistedJobDataFormat.PICKLED_V4)
        """,
    )
    assert custom.qplan("apply", "qplan.yaml").returncode == 0
    refused = custom.qplan("results", "qplan.yaml")
    assert "pickled_v4" in refused.stdout and "--allow-pickle" in refused.stdout
    assert "{1, 2, 3}" not in refused.stdout
    as_json = json.loads(custom.qplan("results", "qplan.yaml", "--format", "json").stdout)
    assert as_json[0]["result"] is None and "--allow-pickle" in as_json[0]["note"]
    loaded = custom.qplan("results", "qplan.yaml", "--allow-pickle", "--format", "json")
    assert json.loads(loaded.stdout)[0]["result"] == {"answer": "{1, 2, 3}"}


def test_a_qplan_killed_mid_job_takes_the_job_with_it_and_the_next_apply_runs_it(
    custom: Folder,
) -> None:
    _write(
        custom,
        """\
        import time

        def main():
            print("started", flush=True)
            time.sleep(3)
            from braket.jobs import save_job_result
            save_job_result({"done": True})
        """,
    )
    apply = custom.start("apply", "qplan.yaml")
    try:
        custom.wait_for("running", "job")
        time.sleep(0.5)
    finally:
        os.killpg(apply.pid, signal.SIGKILL)
        apply.wait()
    assert wait_gone(custom.tag, 10) == []  # the job's process ended with its qplan
    again = custom.qplan("apply", "qplan.yaml")
    assert again.returncode == 0, again.stdout + again.stderr
    assert custom.rows()["job"][0] == "succeeded"
    shown = json.loads(custom.qplan("results", "qplan.yaml", "--format", "json").stdout)
    assert shown[0]["result"] == {"done": True}
