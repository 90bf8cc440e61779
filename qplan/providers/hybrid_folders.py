"""The local provider's hybrid jobs as their folders hold them, read by any process.

Job id ``local-job/<job name>``: the job name (``hybrid.job_name``) is the folder's, so a
later qplan process (``qplan logs`` after the apply ended) finds the job from its id and
the stack's work folder alone. The name ends with a hash of the idempotency key, which is
how a lookup by key finds a folder. Each job's folder, under ``hybrid-jobs/``::

    <job name>/
      job.json              key, stack, address, device, entry point, created_at, owner
      source.tar.gz         the source as the dispatch carried it
      code/                 unpacked by the launcher
      hyperparameters.json  the member's inputs, as strings (AMZN_BRAKET_HP_FILE)
      input/<channel>/      a copy of each local input channel (AMZN_BRAKET_INPUT_DIR)
      results/              AMZN_BRAKET_JOB_RESULTS_DIR
      job.log               stdout and stderr of the job
      failure.txt           the reason of a failure
      process.json          pid and start time, once the process is started
      lock                  held (flock) by the job's process for as long as it lives
      output/model.tar.gz   the results folder, archived when the entry point returns
      status.json           COMPLETED, FAILED or CANCELLED: written last, all at once
      abandoned             its qplan stopped it (close) before it ended
    checkpoints/<hash of stack and address>/   AMZN_BRAKET_CHECKPOINT_DIR

What a folder says holds for every process: a final ``status.json`` is the job's end (its
output, if any, is already archived); without one, the job runs while a process holds its
lock, is queued while the qplan that owns it (``owner`` in ``job.json``) lives and has not
abandoned it, and is otherwise lost, ended with its qplan process (not found by key: a
submission under its key runs it again). ``HybridFolders`` answers lookups, results, logs
by cursor, details and output archives from the folders alone. Folders are never removed
by ``release`` or ``prune``: logs and outputs stay for ``qplan logs`` and ``qplan download``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.processes import pid_alive
from qplan.providers import hybrid
from qplan.providers.base import (
    HybridJobs,
    JobDetails,
    LogChunk,
    Observation,
    PermanentError,
    Receipt,
)

__all__ = [
    "JOB_PREFIX",
    "FinalStatus",
    "HybridFolders",
    "checkpoint_folder",
    "is_hybrid_id",
    "job_id",
    "key_suffix",
    "lock_held",
    "name_of",
    "observe_folder",
    "read_json",
    "read_log",
    "read_status",
]

JOB_PREFIX = "local-job/"
LOG_CHUNK = 1 << 20  # bytes read per log call at most
CHECKPOINTS = "checkpoints"
STATUS_FILE = "status.json"
JOB_FILE = "job.json"
PROCESS_FILE = "process.json"
LOG_FILE = "job.log"
LOCK_FILE = "lock"
CANCEL_FILE = "cancel-requested"
ABANDONED_FILE = "abandoned"
FAILURE_FILE = "failure.txt"
OUTPUT = Path("output") / hybrid.OUTPUT_ARCHIVE
MAX_RUNTIME_EVENT = "MAX_RUNTIME_EXCEEDED"

_FINAL = {
    "COMPLETED": JobStatus.SUCCEEDED,
    "FAILED": JobStatus.FAILED,
    "CANCELLED": JobStatus.CANCELLED,
}
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")


def job_id(name: str) -> str:
    return JOB_PREFIX + name


def is_hybrid_id(value: str) -> bool:
    return value.startswith(JOB_PREFIX)


def name_of(value: str) -> str | None:
    """The job name in a local hybrid job id, or None when it is not one."""
    if not is_hybrid_id(value):
        return None
    name = value[len(JOB_PREFIX) :]
    if name == CHECKPOINTS or _NAME.fullmatch(name) is None:
        return None
    return name


def key_suffix(key: str) -> str:
    """How every job name made under ``key`` ends (``hybrid.job_name``'s last part)."""
    return "-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def checkpoint_folder(root: Path, stack: str, address: str) -> Path:
    """The checkpoint folder of one address of one stack, shared by its attempts."""
    digest = hashlib.sha256(f"{stack}\0{address}".encode()).hexdigest()[:24]
    return root / CHECKPOINTS / digest


@dataclass(frozen=True)
class FinalStatus:
    """A job's ``status.json``: Braket's final status words, and when it ran."""

    status: str
    reason: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    event: str | None = None

    @property
    def job_status(self) -> JobStatus:
        return _FINAL[self.status]

    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "reason": self.reason,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }
        if self.event:
            data["event"] = self.event
        return data


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def read_status(folder: Path) -> FinalStatus | None:
    """The job's final status, or None while it has none (absent, or not a final one)."""
    try:
        data = json.loads((folder / STATUS_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") not in _FINAL:
        return None
    reason = data.get("reason")
    event = data.get("event")
    return FinalStatus(
        data["status"],
        reason if isinstance(reason, str) else None,
        _number(data.get("started_at")),
        _number(data.get("ended_at")),
        event if isinstance(event, str) else None,
    )


def read_log(path: Path, cursor: str | None, ended: bool) -> LogChunk:
    """Lines of ``path`` from the byte offset ``cursor`` on. While the job runs, a last
    line without its newline is left for the next read; once it has ``ended`` every byte
    is read, and ``final`` is set when nothing is left."""
    offset = int(cursor) if cursor and cursor.isdigit() else 0
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read(LOG_CHUNK)
            at_end = not log.read(1)
    except FileNotFoundError:
        data, at_end = b"", True
    complete = data if (ended and at_end) else data[: data.rfind(b"\n") + 1]
    lines = complete.decode("utf-8", errors="replace").splitlines()
    offset += len(complete)
    return LogChunk(tuple(lines), str(offset), ended and at_end)


def lock_held(folder: Path) -> bool:
    """Whether a live process holds the job's lock (its launcher, or what it started)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file of a job's folder; empty when absent or not one."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def observe_folder(value: str, folder: Path) -> Observation:
    """A job seen from its folder alone: its final status; running while a process holds
    its lock; queued while the qplan that owns it lives and has not abandoned it; else
    lost, ended with its qplan process."""
    final = read_status(folder)
    if final is not None:
        error = final.reason if final.status == "FAILED" else None
        return Observation(value, final.job_status, error, final.started_at)
    if lock_held(folder):
        started = _number(read_json(folder / PROCESS_FILE).get("started_at"))
        cancelling = (folder / CANCEL_FILE).exists()
        status = JobStatus.CANCELLING if cancelling else JobStatus.RUNNING
        return Observation(value, status, started_at=started)
    owner = read_json(folder / JOB_FILE).get("owner")
    if (
        isinstance(owner, int)
        and not (folder / PROCESS_FILE).exists()
        and not (folder / ABANDONED_FILE).exists()
        and pid_alive(owner)
    ):
        return Observation(value, JobStatus.QUEUED)
    if read_status(folder) is not None:  # it ended between the two looks
        return observe_folder(value, folder)
    return Observation(
        value, JobStatus.FAILED, "lost: the local hybrid job ended with its qplan process"
    )


class HybridFolders(HybridJobs):
    """The hybrid jobs under ``root`` (the stack's ``hybrid-jobs`` folder; None: there are
    none), read from their folders alone, so it answers for jobs of any process."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def lookup_folders(self, wanted: Mapping[str, str]) -> dict[str, Receipt]:
        """The jobs whose folders ended with a final status or still run (another
        qplan's), by key; ``wanted``: each key by its ``key_suffix``. A folder without
        either is not found: its job ended with its qplan process."""
        found: dict[str, Receipt] = {}
        if not wanted or self.root is None or not self.root.is_dir():
            return found
        for folder in self.root.iterdir():
            wanted_key = wanted.get(folder.name[-13:])
            if wanted_key is None or read_json(folder / JOB_FILE).get("key") != wanted_key:
                continue
            if read_status(folder) is not None or lock_held(folder):
                found[wanted_key] = Receipt(job_id(folder.name), (job_id(folder.name),))
        return found

    def _folder(self, value: str) -> Path:
        name = name_of(value)
        if name is None or self.root is None or not (self.root / name / JOB_FILE).exists():
            raise PermanentError(f"no local hybrid job {value}")
        return self.root / name

    def observe(self, value: str) -> Observation:
        name = name_of(value)
        if name is None or self.root is None:
            return Observation(value, JobStatus.FAILED, f"not a local hybrid job: {value}")
        return observe_folder(value, self.root / name)

    def result(self, value: str) -> dict[str, Any]:
        folder = self._folder(value)
        try:
            archive: bytes | None = (folder / OUTPUT).read_bytes()
        except FileNotFoundError:
            archive = None
        return hybrid.result_payload(archive, value, folder.name)

    # -- HybridJobs ----------------------------------------------------------------------

    def log(self, job_id: str, cursor: str | None = None) -> LogChunk:
        folder = self._folder(job_id)
        ended = self.observe(job_id).status.final  # before the read: no line is missed
        return read_log(folder / LOG_FILE, cursor, ended)

    def details(self, job_id: str) -> JobDetails:
        folder = self._folder(job_id)
        seen = self.observe(job_id)
        final = read_status(folder)
        created = _number(read_json(folder / JOB_FILE).get("created_at"))
        started = seen.started_at
        if started is None:
            started = _number(read_json(folder / PROCESS_FILE).get("started_at"))
        events: list[tuple[float, str, str]] = []
        if created is not None:
            events.append((created, "QUEUED_FOR_EXECUTION", ""))
        if started is not None:
            events.append((started, "RUNNING", ""))
        ended = None
        if final is not None:
            ended = final.ended_at
            if ended is not None:
                events.append((ended, final.event or final.status, final.reason or ""))
        return JobDetails(
            status=seen.status,
            name=folder.name,
            events=tuple(events),
            failure=seen.error if seen.status is JobStatus.FAILED else None,
            started_at=started,
            ended_at=ended,
        )

    def output(self, job_id: str) -> bytes:
        folder = self._folder(job_id)
        try:
            return (folder / OUTPUT).read_bytes()
        except FileNotFoundError:
            if read_status(folder) is None:
                raise PermanentError(f"{job_id} has not ended: no output yet") from None
            raise PermanentError(
                f"{job_id} left no output (it ended before its results were archived)"
            ) from None
