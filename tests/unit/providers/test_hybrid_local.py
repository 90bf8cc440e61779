"""The local provider's hybrid jobs, without processes: ids and folder names, status files,
log cursors, the job's environment, what is refused before anything starts, and how a
folder reads to a process that did not start its job."""

from __future__ import annotations

import fcntl
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qplan.jobstatus import JobStatus
from qplan.manifest.hybrid import HybridSpec, InputChannel
from qplan.providers import hybrid_folders
from qplan.providers.base import Dispatch, Member, PermanentError
from qplan.providers.hybrid import job_name
from qplan.providers.hybrid_launcher import archive_results, write_json
from qplan.providers.hybrid_local import (
    FinalStatus,
    HybridRunner,
    checkpoint_folder,
    job_env,
    job_id,
    key_suffix,
    name_of,
    read_log,
    read_status,
)

KEY = "ab" * 24
DEAD_PID = 2**22 + 12345  # above pid_max's usual ceiling: never a live process


def test_a_job_id_names_its_folder_and_nothing_else() -> None:
    name = job_name("my stack", "train[lr=0.1]", KEY)
    assert job_id(name) == f"local-job/{name}" and name_of(job_id(name)) == name
    for other in ("local-" + KEY, "local-job/checkpoints", "local-job/../x", "local-job/", "arn"):
        assert name_of(other) is None


@pytest.mark.parametrize("stack", ["s", "a-very-long-stack-name-" * 4, "ünïcode stack"])
def test_the_key_suffix_is_how_every_job_name_of_the_key_ends(stack: str) -> None:
    for address in ("job", "job[x=1]", "other"):
        assert job_name(stack, address, KEY).endswith(key_suffix(KEY))
    assert key_suffix(KEY) != key_suffix("cd" * 24) and len(key_suffix(KEY)) == 13


def test_checkpoints_are_one_folder_per_stack_and_address(tmp_path: Path) -> None:
    one = checkpoint_folder(tmp_path, "s", "job[x=1]")
    assert one == checkpoint_folder(tmp_path, "s", "job[x=1]")
    assert one.parent == tmp_path / "checkpoints"
    assert one != checkpoint_folder(tmp_path, "s", "job[x=2]")
    assert one != checkpoint_folder(tmp_path, "t", "job[x=1]")


def test_a_status_counts_only_when_final_and_whole(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    (tmp_path / "status.json").write_text('{"status": "COMPL')
    assert read_status(tmp_path) is None
    (tmp_path / "status.json").write_text('{"status": "RUNNING"}')
    assert read_status(tmp_path) is None
    write_json(tmp_path / "status.json", FinalStatus("FAILED", "boom", 1.0, 2.5).document())
    assert read_status(tmp_path) == FinalStatus("FAILED", "boom", 1.0, 2.5)
    assert FinalStatus("COMPLETED").job_status is JobStatus.SUCCEEDED
    assert FinalStatus("CANCELLED").job_status is JobStatus.CANCELLED
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no partial file left


def test_a_log_is_read_by_byte_cursor_whole_lines_while_the_job_runs(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    first = read_log(log, None, ended=False)
    assert (first.lines, first.final) == ((), False)
    log.write_bytes("one\ntwo é\nthr".encode())
    chunk = read_log(log, first.cursor, ended=False)
    assert chunk.lines == ("one", "two é") and not chunk.final
    assert read_log(log, chunk.cursor, ended=False).lines == ()  # "thr" is not a line yet
    with open(log, "ab") as out:
        out.write(b"ee\nfour")
    running = read_log(log, chunk.cursor, ended=False)
    assert running.lines == ("three",)
    ended = read_log(log, running.cursor, ended=True)
    assert ended.lines == ("four",) and ended.final
    again = read_log(log, ended.cursor, ended=True)
    assert (again.lines, again.cursor, again.final) == ((), ended.cursor, True)


def test_a_log_read_in_chunks_is_final_only_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hybrid_folders, "LOG_CHUNK", 8)
    log = tmp_path / "job.log"
    log.write_bytes(b"aaa\nbbb\nccc\n\xff\n")
    lines: list[str] = []
    cursor = None
    for _ in range(10):
        chunk = read_log(log, cursor, ended=True)
        lines += chunk.lines
        cursor = chunk.cursor
        if chunk.final:
            break
    assert lines == ["aaa", "bbb", "ccc", "\ufffd"] and chunk.final


def test_the_job_environment_holds_none_of_the_users_braket_variables() -> None:
    base = {"PATH": "/bin", "AMZN_BRAKET_JOB_TOKEN": "secret", "AMZN_BRAKET_DEVICE_ARN": "arn"}
    env = job_env(base, {"AMZN_BRAKET_DEVICE_ARN": "local:braket/braket_sv"})
    assert env == {
        "PATH": "/bin",
        "AMZN_BRAKET_DEVICE_ARN": "local:braket/braket_sv",
        "PYTHONUNBUFFERED": "1",
    }


def dispatch(device: str = "braket_sv", **spec: object) -> Dispatch:
    return Dispatch(
        key=KEY,
        stack="s",
        device=device,
        format="braket.hybrid",
        program=b"not even a tar",
        shots=0,
        members=(Member("job", "f" * 16, 1, {"lr": 0.1}),),
        entry="algo.run:main",
        hybrid=HybridSpec(entry_point="algo.run:main", **spec),  # type: ignore[arg-type]
    )


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[HybridRunner]:
    made = HybridRunner(tmp_path / "hybrid-jobs", 2)
    yield made
    made.close()


def test_what_cannot_run_locally_is_refused_before_anything_is_made(
    runner: HybridRunner, tmp_path: Path
) -> None:
    s3 = (InputChannel("train", s3_uri="s3://bucket/train"), InputChannel("ok", path="/x"))
    with pytest.raises(PermanentError, match=r"input channel train: an S3 URI cannot be read"):
        runner.submit(dispatch(input_data=s3))
    with pytest.raises(PermanentError, match="braket_sv or braket_dm, not qsharp"):
        runner.submit(dispatch(device="qsharp"))
    with pytest.raises(PermanentError, match="need the stack's work folder"):
        HybridRunner(None, 1).submit(dispatch())
    missing = (InputChannel("data", path=str(tmp_path / "absent"), digest="d"),)
    with pytest.raises(PermanentError, match=r"input channel data: .* cannot be read"):
        runner.submit(dispatch(input_data=missing))
    assert runner.root is not None
    assert [p.name for p in runner.root.iterdir()] == ["checkpoints"]  # no job folder left


def job_folder(root: Path, key: str = KEY, owner: int = DEAD_PID, **files: object) -> Path:
    """A job's folder as a job of another process left it."""
    name = job_name("s", "job", key)
    folder = root / name
    folder.mkdir(parents=True)
    write_json(folder / "job.json", {"key": key, "name": name, "owner": owner, "created_at": 5.0})
    for file, data in files.items():
        write_json(folder / file.replace("_", "."), data)  # type: ignore[arg-type]
    return folder


@pytest.fixture
def holding() -> Iterator[list[int]]:
    fds: list[int] = []
    yield fds
    for fd in fds:
        os.close(fd)


def hold_lock(folder: Path, fds: list[int]) -> None:
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    fds.append(fd)


def test_a_folder_reads_as_its_status_its_lock_or_its_owner(
    runner: HybridRunner, holding: list[int]
) -> None:
    assert runner.root is not None
    final = FinalStatus("COMPLETED", None, 6.0, 7.0).document()
    done = job_folder(runner.root, "01" * 24, status_json=final)
    running = job_folder(runner.root, "02" * 24, process_json={"pid": 1, "started_at": 6.5})
    hold_lock(running, holding)
    queued = job_folder(runner.root, "03" * 24, owner=os.getpid())
    abandoned = job_folder(runner.root, "04" * 24, owner=os.getpid())
    (abandoned / "abandoned").touch()
    lost = job_folder(runner.root, "05" * 24)
    seen = {f: runner.observe(job_id(f.name)) for f in (done, running, queued, abandoned, lost)}
    assert seen[done].status is JobStatus.SUCCEEDED and seen[done].started_at == 6.0
    assert (seen[running].status, seen[running].started_at) == (JobStatus.RUNNING, 6.5)
    assert seen[queued].status is JobStatus.QUEUED
    for gone in (abandoned, lost):
        assert seen[gone].status is JobStatus.FAILED
        assert "ended with its qplan process" in (seen[gone].error or "")
    found = runner.lookup(["01" * 24, "02" * 24, "03" * 24, "04" * 24, "05" * 24, "06" * 24])
    assert {k: r.ref for k, r in found.items()} == {
        "01" * 24: job_id(done.name),
        "02" * 24: job_id(running.name),
    }


def test_a_folder_of_another_key_is_not_found_by_its_suffix(runner: HybridRunner) -> None:
    assert runner.root is not None
    folder = job_folder(runner.root, status_json=FinalStatus("COMPLETED").document())
    write_json(folder / "job.json", {"key": "not the key"})
    assert runner.lookup([KEY]) == {}


def test_details_log_and_output_come_from_the_folder_alone(runner: HybridRunner) -> None:
    assert runner.root is not None
    status = FinalStatus("FAILED", "MaxRuntimeExceeded: ...", 6.0, 9.0, "MAX_RUNTIME_EXCEEDED")
    folder = job_folder(runner.root, status_json=status.document())
    (folder / "job.log").write_bytes(b"started\nno newline at the end")
    value = job_id(folder.name)
    details = runner.details(value)
    assert details.status is JobStatus.FAILED and details.name == folder.name
    assert details.events == (
        (5.0, "QUEUED_FOR_EXECUTION", ""),
        (6.0, "RUNNING", ""),
        (9.0, "MAX_RUNTIME_EXCEEDED", "MaxRuntimeExceeded: ..."),
    )
    assert (details.failure, details.started_at, details.ended_at) == (status.reason, 6.0, 9.0)
    assert details.queue is None and details.billable_seconds is None
    chunk = runner.log(value)
    assert chunk.lines == ("started", "no newline at the end") and chunk.final
    with pytest.raises(PermanentError, match="left no output"):
        runner.output(value)
    assert runner.result(value)["hybrid"] == {
        "job": folder.name,
        "job_id": value,
        "dataFormat": None,
        "dataDictionary": {},
    }
    (folder / "output").mkdir()
    archive_results(folder / "empty", folder / "output" / "model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(runner.output(value)), mode="r:gz") as tar:
        assert tar.getnames() == []
    with pytest.raises(PermanentError, match="no local hybrid job local-job/qp-nothing"):
        runner.log("local-job/qp-nothing")


def test_a_job_id_is_never_cancelled_blindly(runner: HybridRunner) -> None:
    assert runner.root is not None
    final = FinalStatus("COMPLETED", None, 6.0, 7.0).document()
    folder = job_folder(runner.root, status_json=final)
    runner.cancel(job_id(folder.name))  # ended already: kept as it is
    runner.cancel("local-job/qp-nothing")
    assert json.loads((folder / "status.json").read_text())["status"] == "COMPLETED"
    assert not (folder / "cancel-requested").exists()
