"""The Pasqal Cloud provider end to end: the CLI, the real pasqal-cloud SDK over HTTP
against the wire-compatible emulator (tests/emulators/pasqal), which runs the sequences on
pulser-simulation, applies open-batch timeouts and counts every API call."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_example
from tests.e2e.cloud import CloudFolder
from tests.e2e.processes import kill_apply_once
from tests.emulators.pasqal.emulator import PasqalEmulator
from tests.emulators.pasqal.fixture import TOKEN, pasqal_environ, pasqal_sdk
from tests.pulser_programs import flip, mappable

PI = 3.141592653589793
PROVIDER = """\
providers:
  pq: {type: pasqal, project_id: "{{ env('PASQAL_PROJECT_ID') }}"}
"""


class Folder(CloudFolder):
    def __init__(self, path: Path, emulator: PasqalEmulator) -> None:
        super().__init__(path)
        self.emulator = emulator

    def write(self, body: str, **programs: str) -> None:
        """The manifest: the provider, the programs (``flip`` and those given, each named
        after its file), and ``body``."""
        (self.path / "programs").mkdir(exist_ok=True)
        declared = ""
        for name, text in {"flip.json": flip(), **programs}.items():
            (self.path / "programs" / name).write_text(text)
            declared += (
                f"  {name.removesuffix('.json')}: {{format: pulser, path: programs/{name}}}\n"
            )
        manifest = f"version: 1\nstack: pq\n{PROVIDER}programs:\n{declared}{body}"
        (self.path / "qplan.yaml").write_text(manifest)

    def environ(self) -> dict[str, str]:
        return {**os.environ, **pasqal_environ(self.emulator)}

    def rows(self) -> dict[str, tuple[str, str | None, str | None, int]]:
        with sqlite3.connect(self.path / ".qplan" / "state.db") as conn:
            query = "SELECT address, status, provider_job_id, error, attempt FROM resources"
            return {a: (s, j, e, n) for a, s, j, e, n in conn.execute(query)}


def creates(emulator: PasqalEmulator) -> int:
    """Batch creates the emulator received (answered or not)."""
    return emulator.calls.counts().get("CreateBatch", 0)


def per_key(emulator: PasqalEmulator) -> Counter[str]:
    """Batches by their first tag (qplan's key)."""
    return Counter(b.tags[0] for b in emulator.batches() if b.tags)


@pytest.fixture
def folder(tmp_path: Path, pasqal_emulator: PasqalEmulator) -> Folder:
    return Folder(tmp_path, pasqal_emulator)


def sweep(thetas: list[float], extra: str = "") -> str:
    values = ", ".join(str(t) for t in thetas)
    return f"""\
jobs:
  scan:
    target: pq/EMU_FREE
    program: flip
    shots: 20
    sweep: {{grid: {{theta: [{values}]}}}}
{extra}"""


def test_the_pasqal_example_is_one_batch_and_again_a_no_op(
    tmp_path: Path, pasqal_emulator: PasqalEmulator
) -> None:
    root = copy_example("pasqal-batch", tmp_path / "example")
    env = {**os.environ, **pasqal_environ(pasqal_emulator)}

    def qplan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qplan", *args, "qplan.yaml"],
            capture_output=True,
            text=True,
            cwd=root,
            env=env,
            timeout=300,
            check=False,
        )

    first = qplan("apply", "--poll-interval", "0.2")
    assert first.returncode == 0, first.stdout + first.stderr
    (batch,) = pasqal_emulator.batches()  # the whole sweep: one batch of three jobs
    assert batch.device_type == "EMU_FREE" and not batch.open and batch.status == "DONE"
    assert sorted(j.variables["omega_max"] for j in batch.jobs) == [9.5, 10.0, 10.5]
    assert {j.runs for j in batch.jobs} == {50}
    shown = qplan("results", "--format", "json")
    counts = {r["address"]: r["counts"] for r in json.loads(shown.stdout)}
    assert len(counts) == 3
    for value in counts.values():
        assert sum(value.values()) == 50 and {len(k) for k in value} == {3}

    again = qplan("apply", "--poll-interval", "0.2")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout
    assert creates(pasqal_emulator) == 1  # zero batch creates
    assert TOKEN not in first.stdout + first.stderr + again.stdout + again.stderr
    assert TOKEN.encode() not in (root / ".qplan" / "state.db").read_bytes()


def test_an_edit_that_adds_points_sends_a_new_batch_and_leaves_the_old_one(
    folder: Folder,
) -> None:
    folder.write(sweep([0.0, PI]))
    first = folder.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    assert folder.results() == {"scan[theta=0.0]": {"0": 20}, f"scan[theta={PI}]": {"1": 20}}
    (old,) = folder.emulator.batches()

    folder.write(sweep([0.0, PI, PI / 2, PI / 4]))
    edited = folder.apply()
    assert edited.returncode == 0, edited.stdout + edited.stderr
    kept, new = folder.emulator.batches()
    assert kept == folder.emulator.batch(old.id) and kept.jobs == old.jobs  # untouched
    assert sorted(j.variables["theta"] for j in new.jobs) == [PI / 4, PI / 2]
    results = folder.results()
    assert len(results) == 4 and sum(results[f"scan[theta={PI / 4}]"].values()) == 20


def test_a_mappable_register_maps_three_and_four_traps_of_a_larger_layout(
    folder: Folder,
) -> None:
    body = """\
jobs:
  traps:
    target: pq/EMU_FREE
    program: lattice
    shots: 30
    sweep:
      points:
        - {omega: 3.0, qubits: {q0: 1, q1: 4, q2: 6}}
        - {omega: 3.0, qubits: {q0: 0, q1: 2, q2: 5, q3: 7}}
"""
    folder.write(body, **{"lattice.json": mappable()})
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    (batch,) = folder.emulator.batches()
    assert sorted((j.variables["qubits"] for j in batch.jobs), key=len) == [
        {"q0": 1, "q1": 4, "q2": 6},
        {"q0": 0, "q1": 2, "q2": 5, "q3": 7},
    ]
    widths = {address: {len(k) for k in counts} for address, counts in folder.results().items()}
    assert sorted(w for (w,) in widths.values()) == [3, 4]


def test_failed_points_are_rebatched_from_their_batch(folder: Folder) -> None:
    folder.emulator.config.update(fail_points=[{"theta": PI}], fail_times=1)
    folder.write(sweep([0.0, PI, PI / 2], "    retry: {attempts: 2, backoff: 0.2s}\n"))
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    first, retried = folder.emulator.batches()
    assert retried.parent_id == first.id  # a rebatch, not an unrelated batch
    failed = [j for j in first.jobs if j.status == "ERROR"]
    assert [j.variables for j in failed] == [{"theta": PI}]
    (again,) = retried.jobs
    assert again.parent_id == failed[0].id and again.status == "DONE"
    assert folder.emulator.calls.counts().get("Rebatch", 0) == 1
    rows = folder.rows()
    status, job_id, _, attempt = rows[f"scan[theta={PI}]"]
    assert (status, attempt) == ("succeeded", 2)
    assert job_id == f"{retried.id}/{again.id}"  # the new job, at the same address
    assert folder.results()[f"scan[theta={PI}]"] == {"1": 20}


SESSION = """\
sessions:
  s: {{target: pq/EMU_FREE, on_job_failure: {policy}}}
jobs:
  first: {{session: s, program: flip, shots: 10, inputs: {{theta: {first}}}}}
  later: {{session: s, program: flip, shots: 10, inputs: {{theta: {pi}}}, after: [first]}}
"""


def test_a_session_is_an_open_batch_its_dependent_member_added_later(folder: Folder) -> None:
    folder.emulator.config.update(run_time=0.5)
    folder.write(SESSION.format(policy="abort", first=0.0, pi=PI))
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    (batch,) = folder.emulator.batches()
    assert not batch.open and batch.status == "DONE"  # closed once both were done
    assert len(batch.jobs) == 2 and all(j.own_sequence for j in batch.jobs)
    adds = folder.emulator.calls.calls("AddJobs")
    assert len(adds) == 2  # `later` was added after `first` ended, to the same batch
    rows = folder.rows()
    assert rows["session.s"][0] == "succeeded" and rows["session.s"][1] == batch.id
    assert folder.results() == {"first": {"0": 10}, "later": {"1": 10}}


def test_abort_cancels_the_open_batch_and_skips_the_members_not_sent(folder: Folder) -> None:
    # `first` fails: its own (built) sequence holds its amplitude, 0.123457
    folder.emulator.config.update(fail_points=[{"sequence_contains": "0.123457"}])
    folder.write(SESSION.format(policy="abort", first=0.123457, pi=PI))
    result = folder.apply()
    assert result.returncode == 1
    rows = folder.rows()
    assert rows["first"][0] == "failed" and rows["session.s"][0] == "failed"
    (batch,) = folder.emulator.batches()
    assert len(batch.jobs) == 1  # `later` was never added
    assert folder.emulator.calls.counts().get("CancelBatch", 0) == 1  # qplan ended it
    assert "aborted" in result.stdout + result.stderr


IDLE = """\
sessions:
  s: {target: pq/EMU_FREE, on_job_failure: abort}
jobs:
  first: {session: s, program: flip, shots: 10, inputs: {theta: 0.0}}
  outside: {target: pq/EMU_FREE, program: flip, shots: 10, inputs: {theta: 0.0}}
  middle: {target: pq/EMU_FREE, program: flip, shots: 10, inputs: {theta: 0.0}, after: [outside]}
  last: {session: s, program: flip, shots: 10, inputs: {theta: 3.141592653589793}, after: [middle]}
"""


def test_an_open_batch_that_timed_out_gives_its_members_a_new_one(folder: Folder) -> None:
    # the service times an idle open batch out after 1 s; `last` waits 3 s for `middle`
    folder.emulator.config.update(run_time=1.5, open_batch_timeout=1.0)
    folder.write(IDLE)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    opened = [b for b in folder.emulator.batches() if b.open or len(b.jobs) != 1 or b.tags]
    sessions = [b for b in opened if any(t.startswith("qplan-session=") for t in b.tags)]
    assert [b.status for b in sessions] == ["TIMED_OUT", "DONE"], sessions
    assert len(sessions[0].jobs) == 1 and len(sessions[1].jobs) == 1  # `last` in the new one
    assert "TIMED_OUT" in result.stdout + result.stderr
    assert folder.results()["last"] == {"1": 10}


def test_cancel_one_point_then_the_whole_sweep_then_destroy(folder: Folder) -> None:
    folder.emulator.config.update(queue_time=60.0)
    folder.write(sweep([0.0, 1.0, 2.0]))
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    (batch,) = folder.emulator.batches()
    one = folder.qplan("cancel", "qplan.yaml", "scan[theta=1.0]")
    assert one.returncode == 0, one.stderr
    assert [j.status for j in folder.emulator.batch(batch.id).jobs] == [
        "PENDING",
        "CANCELED",
        "PENDING",
    ]
    assert folder.emulator.calls.counts().get("CancelJob", 0) == 1
    rest = folder.qplan("cancel", "qplan.yaml")
    assert rest.returncode == 0, rest.stderr
    assert folder.emulator.batch(batch.id).status == "CANCELED"
    refreshed = folder.qplan("status", "qplan.yaml", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert {s for s, _, _, _ in folder.rows().values()} == {"cancelled"}
    destroyed = folder.qplan("destroy", "qplan.yaml", "--yes")
    assert destroyed.returncode == 0 and "3 resource(s) forgotten" in destroyed.stdout


def test_a_crash_between_the_batch_create_and_the_state_write_is_adopted(
    folder: Folder,
) -> None:
    emulator = folder.emulator
    folder.write(sweep([0.0, 1.0, 2.0, PI]))
    emulator.faults.latency(3.0, operations=["CreateBatch"])
    # once the four intents are committed, with the create sent, inside the emulator's 3 s
    kill_apply_once(folder.path, folder.environ(), lambda rows: rows == ["submitting"] * 4, 1.0)
    rows = folder.rows()
    assert {s for s, _, _, _ in rows.values()} == {"submitting"}, rows  # no job id written
    deadline = time.monotonic() + 30  # the emulator finishes the create it had received
    while time.monotonic() < deadline and not emulator.batches():
        time.sleep(0.1)
    emulator.faults.clear()
    resumed = folder.apply()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "adopted" in resumed.stdout
    assert len(emulator.batches()) == 1 and creates(emulator) == 1  # nothing made twice
    assert {s for s, _, _, _ in folder.rows().values()} == {"succeeded"}
    assert folder.results()[f"scan[theta={PI}]"] == {"1": 20}


def storm(emulator: PasqalEmulator) -> None:
    """Half the batch creates commit, then answer 502."""
    emulator.faults.error(
        after_commit=True, status=502, operations=["CreateBatch"], rate=0.5, seed=3
    )


def test_a_storm_of_502_after_commit_makes_one_batch_per_key(folder: Folder) -> None:
    emulator = folder.emulator
    body = "\n".join(
        f"  scan{i}: {{target: pq/EMU_FREE, program: flip, shots: 10, inputs: {{theta: 0.{i}}}}}"
        for i in range(8)
    )
    folder.write(f"jobs:\n{body}\n")
    storm(emulator)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert emulator.calls.status_counts()["CreateBatch"].get(502, 0) > 0
    assert len(emulator.batches()) == 8 and set(per_key(emulator).values()) == {1}
    assert {s for s, _, _, _ in folder.rows().values()} == {"succeeded"}


def test_the_same_storm_against_the_plain_sdk_makes_duplicates(
    pasqal_emulator: PasqalEmulator,
) -> None:
    # what a hand-written loop gets: the SDK resends a create answered 502, and the
    # service had made it: two batches (or more) for one call
    sdk = pasqal_sdk(pasqal_emulator)
    pasqal_emulator.faults.error(
        after_commit=True, status=502, operations=["CreateBatch"], calls=(1, 1)
    )
    made: list[Any] = []
    made.append(
        sdk.create_batch(
            flip(),
            [{"runs": 10, "variables": {"theta": 0.0}}],
            device_type="EMU_FREE",
            tags=["plain-1"],
        )
    )
    assert len(pasqal_emulator.batches_tagged("plain-1")) == 2  # one call, two batches


def test_adds_to_an_open_batch_answered_502_after_commit_are_adopted_not_repeated(
    folder: Folder,
) -> None:
    # jobs carry no tag: each add is journalled on the batch's tags first, and an add of
    # unknown outcome is found there (the jobs it made, from the place it noted)
    emulator = folder.emulator
    members = "\n".join(
        f"  m{i}: {{session: s, program: flip, shots: 10, inputs: {{theta: 0.{i}}}}}"
        for i in range(6)
    )
    sweep_member = (
        "  scan: {session: s, program: flip, shots: 10,"
        " sweep: {grid: {theta: [0.0, 3.141592653589793]}}}"
    )
    folder.write(
        f"sessions:\n  s: {{target: pq/EMU_FREE, on_job_failure: continue}}\n"
        f"jobs:\n{members}\n{sweep_member}\n"
    )
    emulator.faults.error(after_commit=True, status=502, operations=["AddJobs"], rate=0.5, seed=5)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert emulator.calls.status_counts()["AddJobs"].get(502, 0) > 0
    (batch,) = emulator.batches()
    assert len(batch.jobs) == 8  # one job per member, the sweep's two in one add
    rows = folder.rows()
    ids = [job_id for address, (_, job_id, _, _) in rows.items() if address != "session.s"]
    assert sorted(i.split("/")[1] for i in ids if i) == sorted(j.id for j in batch.jobs)
    assert folder.results()["scan[theta=3.141592653589793]"] == {"1": 10}
    shown = folder.qplan("status", "qplan.yaml")
    assert "session.s" in shown.stdout and "(DONE)" in shown.stdout, shown.stdout


def test_a_sequence_the_device_cannot_run_is_a_located_error_before_anything_is_sent(
    folder: Folder,
) -> None:
    # FRESNEL, as the service publishes it, takes a register only from a layout, and an
    # amplitude of at most its channel's maximum: flip at theta 100 rad/µs is too strong
    folder.write(
        "jobs:\n"
        "  fine: {target: pq/EMU_FREE, program: flip, shots: 10, inputs: {theta: 1.0}}\n"
        "  strong:\n"
        "    target: pq/EMU_FREE\n"
        "    program: flip\n"
        "    shots: 10\n"
        "    sweep: {points: [{theta: 1.0}, {theta: 100.0}]}\n"
        "  qpu: {target: pq/FRESNEL, program: flip, shots: 10, inputs: {theta: 1.0}}\n"
    )
    result = folder.apply()
    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stderr
    assert (
        "qplan.yaml:13:36: jobs.strong.sweep.points[1]: strong[theta=100.0] cannot run on "
        "pq/EMU_FREE (EMU_FREE as published on "
    ) in errors, errors
    assert "amplitude goes over the maximum" in errors
    assert "qplan.yaml:14:17: jobs.qpu.target: pq/FRESNEL (FRESNEL as published on" in errors
    assert "RegisterLayout" in errors and "2 errors" in errors
    assert "Traceback" not in errors
    assert creates(folder.emulator) == 0  # nothing was sent
    calls = folder.emulator.calls.counts()
    assert calls.get("GetDeviceSpecs", 0) == 1, calls  # asked once, then kept in the state

    folder.write(
        "jobs:\n  fine: {target: pq/EMU_FREE, program: flip, shots: 10, inputs: {theta: 1.0}}\n"
    )
    planned = folder.qplan("plan", "qplan.yaml")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "pq/EMU_FREE" in planned.stdout and "published" in planned.stdout, planned.stdout
    assert folder.emulator.calls.counts().get("GetDeviceSpecs", 0) == 1  # from the state


def test_points_beyond_the_batch_size_go_into_more_batches(folder: Folder) -> None:
    body = sweep([0.0, 0.5, 1.0, 1.5, 2.0]).replace(
        "sweep: {grid: {theta: [0.0, 0.5, 1.0, 1.5, 2.0]}}",
        "sweep: {grid: {theta: [0.0, 0.5, 1.0, 1.5, 2.0]}, batch_size: 2}",
    )
    folder.write(body)
    result = folder.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(len(b.jobs) for b in folder.emulator.batches()) == [1, 2, 2]
    assert len(folder.results()) == 5


def test_a_slow_cancel_is_reported_as_not_stopped_yet_then_recorded(folder: Folder) -> None:
    emulator = folder.emulator
    emulator.config.update(run_time=5.0, cancel_delay=2.0)
    folder.write(sweep([0.0, PI]))
    submitted = folder.apply("--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    (batch,) = emulator.batches()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        j.status != "RUNNING" for j in emulator.batch(batch.id).jobs
    ):
        time.sleep(0.05)
    cancelled = folder.qplan("cancel", "qplan.yaml")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "Cancel requested for 2 in-flight instances." in cancelled.stdout
    assert "2 not stopped yet at the provider" in cancelled.stdout, cancelled.stdout
    assert {s for s, _, _, _ in folder.rows().values()} == {"cancelling"}
    while time.monotonic() < deadline + 30 and any(
        j.status != "CANCELED" for j in emulator.batch(batch.id).jobs
    ):
        time.sleep(0.05)
    refreshed = folder.qplan("status", "qplan.yaml", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert {s for s, _, _, _ in folder.rows().values()} == {"cancelled"}
