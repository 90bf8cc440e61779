"""Crash safety: `qplan apply` killed with SIGKILL at random moments, then resumed.

At the end every point has exactly one recorded successful run, and no point ran after its
result was recorded: checked against the state's append-only event log and against the
local provider's run journal, which the worker processes write themselves. The trials run
with the state on SQLite and on PostgreSQL. The benchmark `tests/benchmarks/bench_crash.py`
runs many more trials.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.stacks import opened, state_env

POINTS = 200
MANIFEST = f"""\
version: 1
stack: crash
programs:
  ry:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      qubit[2] q;
      bit[2] c;
      ry(theta) q[0];
      cnot q[0], q[1];
      c = measure q;
jobs:
  scan:
    target: local/braket_sv
    program: ry
    shots: 100
    sweep: {{grid: {{theta: {{linspace: [0, 3.14159, {POINTS}]}}}}}}
"""


def environ(folder: Path, state: str | None) -> dict[str, str]:
    return state_env(state, {**os.environ, "QPLAN_LOCAL_JOURNAL": str(folder / "journal.log")})


def start(folder: Path, state: str | None) -> subprocess.Popen[bytes]:
    env = environ(folder, state)
    with open(folder / "stderr.log", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "qplan", "apply", "qplan.yaml", "--json"],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its fork server and workers die with it
        )


def kill_after(proc: subprocess.Popen[bytes], seconds: float) -> None:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# three trials on SQLite, one on PostgreSQL (each trial kills at its own moments; the
# benchmark runs 20 on either)
TRIALS = [("sqlite", 0), ("sqlite", 1), ("sqlite", 2), ("postgresql", 0)]


@pytest.mark.parametrize(("state_backend", "trial"), TRIALS, indirect=["state_backend"])
def test_sigkill_at_random_moments_then_resume(
    tmp_path: Path, trial: int, state_backend: str | None
) -> None:
    rng, state = random.Random(trial), state_backend
    (tmp_path / "qplan.yaml").write_text(MANIFEST)
    for _ in range(2):
        kill_after(start(tmp_path, state), rng.uniform(1.0, 4.0))
    final = start(tmp_path, state)
    assert final.wait(timeout=180) == 0, (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()

    with opened(state, tmp_path / "qplan.yaml") as store:
        rows = [(r.address, r.status, r.result_hash) for r in store.rows("crash")]
        successes = [e for e in store.events("crash") if e["new_status"] == "succeeded"]
    assert len(rows) == POINTS
    assert all(status == "succeeded" and digest for _, status, digest in rows)
    assert len(successes) == POINTS
    recorded = Counter(e["address"] for e in successes)
    assert set(recorded.values()) == {1}  # one recorded successful run each
    recorded_at = {e["address"]: e["at"] for e in successes}
    journal = [json.loads(line) for line in (tmp_path / "journal.log").read_text().splitlines()]
    starts = [r for r in journal if r["event"] == "start"]
    late = [r for r in starts if r["at"] > recorded_at[r["address"]]]
    assert late == []  # no point ran after its result was recorded
    assert Counter(r["address"] for r in starts).keys() == recorded_at.keys()

    before = len(starts)
    again = subprocess.run(
        [sys.executable, "-m", "qplan", "apply", "qplan.yaml"],
        cwd=tmp_path,
        env=environ(tmp_path, state),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0 and "No changes" in again.stdout
    time.sleep(0.1)
    after = [
        line for line in (tmp_path / "journal.log").read_text().splitlines() if '"start"' in line
    ]
    assert len(after) == before
