"""Hybrid jobs on the local provider, through the provider object and real processes: a
tiny job (a package ``algo/`` whose ``run.main`` runs a two-qubit circuit a few times on
Braket's ``LocalSimulator``) packed as the manifest packs a source folder."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qplan.jobstatus import JobStatus
from qplan.manifest.hybrid import HybridSpec, InputChannel
from qplan.manifest.models import LocalProvider
from qplan.processes import pid_alive
from qplan.providers.base import Dispatch, Member, Observation, PermanentError
from qplan.providers.hybrid import job_name, parse_metrics
from qplan.providers.local import LocalSimulatorProvider

RUN_PY = """\
import json
import os
import time
from pathlib import Path


def main():
    hp = json.loads(Path(os.environ["AMZN_BRAKET_HP_FILE"]).read_text())
    checkpoints = Path(os.environ["AMZN_BRAKET_CHECKPOINT_DIR"])
    print("checkpoints:", ",".join(sorted(p.name for p in checkpoints.iterdir())))
    mode = hp.get("mode", "run")
    if mode == "sleep":
        print("sleeping", flush=True)
        time.sleep(float(hp["seconds"]))
        return
    if mode == "checkpoint":
        (checkpoints / (os.environ["AMZN_BRAKET_JOB_NAME"] + ".json")).write_text("{}")
        raise RuntimeError("stopped after its checkpoint")
    if mode == "fail":
        raise ValueError("the cost diverged")

    from braket.circuits import Circuit
    from braket.devices import LocalSimulator
    from braket.jobs import get_hyperparameters, get_input_data_dir, save_job_result
    from braket.jobs.metrics import log_metric
    from braket.jobs_data import PersistedJobDataFormat

    hp = get_hyperparameters()
    device = LocalSimulator(os.environ["AMZN_BRAKET_DEVICE_ARN"].rsplit("/", 1)[-1])
    history = []
    for i in range(int(hp["iterations"])):
        circuit = Circuit().ry(0, float(hp["theta"]) * (i + 1)).cnot(0, 1)
        counts = device.run(circuit, shots=50).result().measurement_counts
        cost = counts.get("00", 0) / 50
        log_metric("cost", cost, iteration_number=i)
        history.append(cost)
    note = Path(get_input_data_dir("data"), "note.txt").read_text().strip()
    pickled = hp.get("pickled") == "true"
    fmt = PersistedJobDataFormat.PICKLED_V4 if pickled else PersistedJobDataFormat.PLAINTEXT
    save_job_result({"history": history, "note": note}, data_format=fmt)
"""


def pack(folder: Path) -> bytes:
    """The folder as a deterministic gzipped tar, under its own name at the root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in [folder, *sorted(folder.rglob("*"))]:
            if "__pycache__" in path.parts:
                continue
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(folder.parent)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with open(path, "rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return gzip.compress(buffer.getvalue(), mtime=0)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    algo = tmp_path_factory.mktemp("src") / "algo"
    algo.mkdir()
    (algo / "__init__.py").write_text("")
    (algo / "run.py").write_text(RUN_PY)
    return pack(algo)


def make_provider(root: Path, workers: int = 2) -> LocalSimulatorProvider:
    config = LocalProvider(type="local", workers=workers)
    return LocalSimulatorProvider("local", config, root / "local-runs", root / "hybrid-jobs")


def hybrid_dispatch(
    source: bytes,
    key: str,
    inputs: dict[str, object],
    address: str = "algo",
    **spec: object,
) -> Dispatch:
    return Dispatch(
        key=key,
        stack="hy",
        device="braket_sv",
        format="braket.hybrid",
        program=source,
        shots=0,
        members=(Member(address, "f" * 16, 1, inputs),),
        entry="algo.run:main",
        hybrid=HybridSpec(entry_point="algo.run:main", **spec),  # type: ignore[arg-type]
    )


def wait_for(
    provider: LocalSimulatorProvider, job_id: str, seconds: float, final: bool = True
) -> Observation:
    deadline = time.monotonic() + seconds
    while True:
        seen = provider.observe([job_id])[job_id]
        if seen.status.final if final else seen.status is JobStatus.RUNNING:
            return seen
        assert time.monotonic() < deadline, f"{job_id}: still {seen}"
        time.sleep(0.02)


def folder_of(root: Path, job_id: str) -> Path:
    return root / "hybrid-jobs" / job_id.removeprefix("local-job/")


def job_pid(root: Path, job_id: str) -> int:
    pid: int = json.loads((folder_of(root, job_id) / "process.json").read_text())["pid"]
    return pid


def wait_dead(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def whole_log(provider: LocalSimulatorProvider, job_id: str) -> list[str]:
    api = provider.hybrid_jobs
    assert api is not None
    lines: list[str] = []
    cursor = None
    for _ in range(100):
        chunk = api.log(job_id, cursor)
        lines.extend(chunk.lines)
        cursor = chunk.cursor
        if chunk.final:
            return lines
    raise AssertionError("the log never ended")


def wait_sleeping(root: Path, job_id: str, seconds: float = 10) -> None:
    """Wait until the job's entry point runs (its log says it sleeps)."""
    log = folder_of(root, job_id) / "job.log"
    deadline = time.monotonic() + seconds
    while b"sleeping" not in log.read_bytes():
        assert time.monotonic() < deadline, f"{job_id} never started sleeping"
        time.sleep(0.02)


def key(n: int) -> str:
    return f"{n:048x}"


@dataclass
class Finished:
    root: Path
    provider: LocalSimulatorProvider
    plain: Dispatch
    pickled: Dispatch
    ids: tuple[str, str]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, source: bytes) -> Iterator[Finished]:
    """Two jobs run to their end at once: plain results and pickled ones."""
    root = tmp_path_factory.mktemp("finished")
    data = root / "data"
    data.mkdir()
    (data / "note.txt").write_text("from the data channel\n")
    channels = (InputChannel("data", path=str(data), digest="d"),)
    common = {"theta": 0.4, "iterations": 3}
    plain = hybrid_dispatch(source, key(1), common, "algo[p=1]", input_data=channels)
    pickled = hybrid_dispatch(
        source, key(2), {**common, "pickled": True}, "algo[p=2]", input_data=channels
    )
    provider = make_provider(root)
    try:
        ids = (provider.submit(plain).ref, provider.submit(pickled).ref)
        for job_id in ids:
            seen = wait_for(provider, job_id, 20)
            assert seen.status is JobStatus.SUCCEEDED, (seen, whole_log(provider, job_id))
        yield Finished(root, provider, plain, pickled, ids)
    finally:
        provider.close()


def test_a_job_runs_to_its_end_and_its_result_holds_what_it_saved(finished: Finished) -> None:
    job_id = finished.ids[0]
    name = job_name("hy", "algo[p=1]", key(1))
    assert job_id == f"local-job/{name}"
    result = finished.provider.result(job_id)
    assert result["counts"] == {}
    assert result["hybrid"]["job"] == name and result["hybrid"]["job_id"] == job_id
    assert result["hybrid"]["dataFormat"] == "plaintext"
    saved = result["hybrid"]["dataDictionary"]
    assert saved["note"] == "from the data channel" and len(saved["history"]) == 3
    metrics = parse_metrics(whole_log(finished.provider, job_id))
    assert [(m.name, m.iteration) for m in metrics] == [("cost", 0), ("cost", 1), ("cost", 2)]
    assert [m.value for m in metrics] == saved["history"]
    seen = finished.provider.observe([job_id])[job_id]
    assert seen.started_at is not None and seen.started_at <= time.time()


def test_pickled_results_are_recorded_as_written_never_unpickled(finished: Finished) -> None:
    result = finished.provider.result(finished.ids[1])["hybrid"]
    assert result["dataFormat"] == "pickled_v4"
    encoded = result["dataDictionary"]["note"]
    assert isinstance(encoded, str)  # as the job wrote it; the test alone unpickles it
    assert pickle.loads(base64.b64decode(encoded)) == "from the data channel"


def test_the_same_key_is_the_same_job_and_nothing_runs_again(finished: Finished) -> None:
    folder = folder_of(finished.root, finished.ids[0])
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = finished.provider.submit(finished.plain)
    later = make_provider(finished.root)  # another qplan process, after this one ended
    try:
        assert later.submit(finished.plain) == again
        assert again.ref == finished.ids[0] and again.member_ids == (finished.ids[0],)
        assert later.observe([again.ref])[again.ref].status is JobStatus.SUCCEEDED
    finally:
        later.close()
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_a_later_process_finds_a_finished_job_by_key_and_reads_it(finished: Finished) -> None:
    later = make_provider(finished.root)
    try:
        found = later.lookup([key(1), key(2), key(99)])
        assert sorted(found) == [key(1), key(2)]
        job_id = found[key(1)].ref
        assert job_id == finished.ids[0]
        assert later.observe([job_id])[job_id].status is JobStatus.SUCCEEDED
        assert later.result(job_id) == finished.provider.result(job_id)
        api = later.hybrid_jobs
        assert api is not None
        assert whole_log(later, job_id) == whole_log(finished.provider, job_id)
        first = api.log(job_id)
        assert not api.log(job_id, first.cursor).lines  # read to its end already
        details = api.details(job_id)
        assert details.status is JobStatus.SUCCEEDED and details.name in job_id
        assert [e[1] for e in details.events] == ["QUEUED_FOR_EXECUTION", "RUNNING", "COMPLETED"]
        assert details.started_at is not None and details.ended_at is not None
        assert details.started_at <= details.ended_at and details.queue is None
        with tarfile.open(fileobj=io.BytesIO(api.output(job_id)), mode="r:gz") as tar:
            assert "results.json" in tar.getnames()
    finally:
        later.close()


def test_a_job_that_raises_fails_with_its_reason(tmp_path: Path, source: bytes) -> None:
    provider = make_provider(tmp_path)
    try:
        job_id = provider.submit(hybrid_dispatch(source, key(3), {"mode": "fail"})).ref
        seen = wait_for(provider, job_id, 10)
        assert (seen.status, seen.error) == (JobStatus.FAILED, "ValueError: the cost diverged")
        log = whole_log(provider, job_id)
        assert "Traceback (most recent call last):" in log
        assert log[-1] == "ValueError: the cost diverged"
        api = provider.hybrid_jobs
        assert api is not None
        assert api.details(job_id).failure == "ValueError: the cost diverged"
        with pytest.raises(PermanentError, match="left no output"):
            api.output(job_id)
    finally:
        provider.close()


def test_a_job_past_its_max_runtime_is_stopped_and_fails(tmp_path: Path, source: bytes) -> None:
    provider = make_provider(tmp_path)
    try:
        sleepy = hybrid_dispatch(source, key(4), {"mode": "sleep", "seconds": 30}, max_runtime=1.0)
        job_id = provider.submit(sleepy).ref
        seen = wait_for(provider, job_id, 10)
        assert seen.status is JobStatus.FAILED
        assert seen.error is not None and "max runtime of 1 seconds" in seen.error
        assert wait_dead(job_pid(tmp_path, job_id), 2.0)
        api = provider.hybrid_jobs
        assert api is not None
        assert api.details(job_id).events[-1][1] == "MAX_RUNTIME_EXCEEDED"
    finally:
        provider.close()


def test_cancel_ends_a_running_job_and_a_queued_one_never_starts(
    tmp_path: Path, source: bytes
) -> None:
    provider = make_provider(tmp_path, workers=1)  # one job at a time: the second waits
    try:
        first, second = (
            provider.submit(hybrid_dispatch(source, key(n), {"mode": "sleep", "seconds": 30})).ref
            for n in (5, 6)
        )
        wait_sleeping(tmp_path, first)
        pid = job_pid(tmp_path, first)
        assert os.getsid(pid) == pid  # its own session: a terminal's Ctrl-C is qplan's alone
        assert provider.observe([second])[second].status is JobStatus.QUEUED
        provider.cancel([second])
        assert provider.observe([second])[second].status is JobStatus.CANCELLED
        provider.cancel([first])
        assert wait_for(provider, first, 5).status is JobStatus.CANCELLED
        assert wait_dead(pid, 2.0)
        assert not (folder_of(tmp_path, second) / "process.json").exists()
        api = provider.hybrid_jobs
        assert api is not None
        assert api.details(first).events[-1][1] == "CANCELLED"
        provider.cancel([first])  # already final: nothing happens
        assert provider.observe([first])[first].status is JobStatus.CANCELLED
    finally:
        provider.close()


def test_checkpoints_of_an_address_survive_into_its_next_attempt(
    tmp_path: Path, source: bytes
) -> None:
    provider = make_provider(tmp_path)
    try:
        first = provider.submit(hybrid_dispatch(source, key(7), {"mode": "checkpoint"})).ref
        assert wait_for(provider, first, 10).status is JobStatus.FAILED
        retry = hybrid_dispatch(
            source, key(8), {"mode": "sleep", "seconds": 0}, checkpoint="s3://bucket/ckpt"
        )
        second = provider.submit(retry).ref
        assert wait_for(provider, second, 10).status is JobStatus.SUCCEEDED
        log = whole_log(provider, second)
        assert "s3://bucket/ckpt" in log[0]  # said first: the S3 location is not used here
        assert f"checkpoints: {first.removeprefix('local-job/')}.json" in log
    finally:
        provider.close()


KILLED_QPLAN = """\
import sys, time
from pathlib import Path
from tests.e2e.test_local_hybrid_provider import hybrid_dispatch, make_provider, wait_for

root, source = Path(sys.argv[1]), Path(sys.argv[2]).read_bytes()
provider = make_provider(root)
job_id = provider.submit(hybrid_dispatch(source, sys.argv[3], {"mode": "sleep", "seconds": 60})).ref
wait_for(provider, job_id, 10, final=False)
print(job_id, flush=True)
time.sleep(60)
"""


def test_a_job_ends_with_its_qplan_process_and_runs_again_under_its_key(
    tmp_path: Path, source: bytes
) -> None:
    (tmp_path / "source.tar.gz").write_bytes(source)
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_QPLAN,
            str(tmp_path),
            str(tmp_path / "source.tar.gz"),
            key(9),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as qplan:
        try:
            assert qplan.stdout is not None
            job_id = qplan.stdout.readline().strip()
            pid = job_pid(tmp_path, job_id)
            assert pid_alive(pid)
            qplan.send_signal(signal.SIGKILL)  # no close, no cleanup: the lifeline alone
            qplan.wait()
            assert wait_dead(pid, 3.0)
        finally:
            qplan.kill()
    later = make_provider(tmp_path)
    try:
        assert later.lookup([key(9)]) == {}
        seen = later.observe([job_id])[job_id]
        assert seen.status is JobStatus.FAILED and "ended with its qplan" in (seen.error or "")
        again = hybrid_dispatch(source, key(9), {"mode": "sleep", "seconds": 0})
        assert later.submit(again).ref == job_id
        assert wait_for(later, job_id, 10).status is JobStatus.SUCCEEDED
        assert whole_log(later, job_id).count("sleeping") == 1  # a fresh folder
    finally:
        later.close()


def test_close_stops_running_jobs_and_keeps_their_folders(tmp_path: Path, source: bytes) -> None:
    provider = make_provider(tmp_path)
    job_id = provider.submit(hybrid_dispatch(source, key(10), {"mode": "sleep", "seconds": 30})).ref
    wait_sleeping(tmp_path, job_id)
    pid = job_pid(tmp_path, job_id)
    provider.close()
    assert wait_dead(pid, 2.0)
    assert folder_of(tmp_path, job_id).is_dir()
    later = make_provider(tmp_path)
    try:
        assert later.lookup([key(10)]) == {}
        assert later.observe([job_id])[job_id].status is JobStatus.FAILED
        api = later.hybrid_jobs
        assert api is not None
        assert "sleeping" in whole_log(later, job_id)  # ended: the log is final
    finally:
        later.close()


def test_a_later_process_sees_a_running_job_of_another(tmp_path: Path, source: bytes) -> None:
    provider = make_provider(tmp_path)
    try:
        sleepy = hybrid_dispatch(source, key(11), {"mode": "sleep", "seconds": 30})
        job_id = provider.submit(sleepy).ref
        wait_for(provider, job_id, 10, final=False)
        other = make_provider(tmp_path)
        try:
            assert other.lookup([key(11)]) == {key(11): provider.lookup([key(11)])[key(11)]}
            assert other.observe([job_id])[job_id].status is JobStatus.RUNNING
            api = other.hybrid_jobs
            assert api is not None
            assert api.log(job_id).final is False
            with pytest.raises(PermanentError, match="has not ended"):
                api.output(job_id)
        finally:
            other.close()
        assert provider.observe([job_id])[job_id].status is JobStatus.RUNNING  # untouched
    finally:
        provider.close()
