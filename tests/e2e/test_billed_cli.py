"""What Braket billed, end to end: a stack applied on the Braket emulator through the real
SDK (tests/emulators/braket), then `qplan status` and `qplan results` show the shots and
USD the tasks were billed, beside the estimate of what ran, at the shipped table's SV1
price (0.075 USD a minute, at least 3 seconds a task)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RY_PROGRAM
from tests.e2e.cloud import CloudFolder
from tests.emulators.braket.fixture import BraketEmulatorEnv

MANIFEST = (
    """\
version: 1
stack: billed
providers:
  aws:
    type: braket
    region: us-east-1
    s3_bucket: "{{ env('QPLAN_S3_BUCKET') }}"
"""
    + RY_PROGRAM
    + """\
jobs:
  single:
    target: aws/sv1
    program: ry
    shots: 100
    inputs: {theta: 0.5}
  scan:
    target: aws/sv1
    program: ry
    shots: 50
    sweep: {grid: {theta: [0.1, 0.2, 0.3]}, batch: native}
  free:
    target: local/braket_sv
    program: ry
    shots: 10
    inputs: {theta: 0.5}
"""
)
PER_MINUTE = 0.075  # SV1, USD


class Folder(CloudFolder):
    def __init__(self, path: Path, env: BraketEmulatorEnv) -> None:
        super().__init__(path)
        self.env = env
        (path / "qplan.yaml").write_text(MANIFEST)

    def environ(self) -> dict[str, str]:
        return {**os.environ, "QPLAN_S3_BUCKET": self.env.bucket}


def shown_json(folder: Folder, *args: str) -> Any:
    done = folder.qplan(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_status_and_results_show_what_braket_billed_beside_the_estimate(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv
) -> None:
    folder = Folder(tmp_path, braket_emulator)
    applied = folder.apply()
    assert applied.returncode == 0, applied.stdout + applied.stderr

    spending = shown_json(folder, "status", "qplan.yaml", "--json")["spending"]
    assert spending["currency"] == "USD"
    jobs = {j["job"]: j for j in spending["jobs"]}
    assert set(jobs) == {"single", "scan"}  # the local job is billed by nobody
    single, scan = jobs["single"], jobs["scan"]
    # one task of 100 shots, whose execution (well under 3 s) is billed 3 s
    assert (single["billed"]["tasks"], single["billed"]["shots"]) == (1, 100)
    assert single["billed"]["amount"] == pytest.approx(PER_MINUTE * 3 / 60)
    assert single["estimate"]["amount"] == pytest.approx(PER_MINUTE)  # a minute assumed
    # the three points ran as one program set: one task of 150 shots, counted once
    assert (scan["billed"]["tasks"], scan["billed"]["shots"]) == (1, 150)
    assert (scan["estimate"]["instances"], scan["estimate"]["tasks"]) == (3, 1)
    assert scan["billed"]["amount"] == pytest.approx(PER_MINUTE)  # no execution time: a minute
    assert spending["billed"] == pytest.approx(PER_MINUTE * (1 + 3 / 60))

    results = shown_json(folder, "results", "qplan.yaml", "--format", "json")
    by_address = {r["address"]: r for r in results}
    assert len(by_address) == 5
    assert by_address["single"]["spending"] == single
    assert all(by_address[f"scan[theta={t}]"]["spending"] == scan for t in (0.1, 0.2, 0.3))
    assert "spending" not in by_address["free"]

    table = folder.qplan("status", "qplan.yaml")
    assert table.returncode == 0, table.stderr
    footer = table.stdout.split("Billed by the providers (USD", 1)[1].splitlines()
    assert footer[1].split() == [
        "JOB", "TARGET", "TASKS", "SHOTS", "BILLABLE", "S", "BILLED", "ESTIMATE"
    ]  # fmt: skip
    assert footer[2].split() == ["scan", "aws/sv1", "1", "150", "-", "0.075", "0.075"]
    assert footer[3].split() == ["single", "aws/sv1", "1", "100", "-", "0.00375", "0.075"]
    assert footer[4].split() == ["total", "0.07875", "0.15"]
    shown = folder.qplan("results", "qplan.yaml", "single")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1].split() == footer[3].split()
