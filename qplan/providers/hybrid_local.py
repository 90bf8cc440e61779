"""Hybrid jobs (format ``braket.hybrid``) on the local provider: no Docker, no account.

Each job runs ``python -m qplan.providers.hybrid_launcher`` in a process of its own, in its
own session (a Ctrl-C typed at the terminal reaches qplan alone), with the variables a
Braket job container sets (``AMZN_BRAKET_DEVICE_ARN`` is ``local:braket/braket_sv`` or
``braket_dm``: the job's tasks run on Braket's local simulators) and none of the user's
own ``AMZN_BRAKET_*``. Its folder and what reading one tells are ``hybrid_folders``'s.

Checkpoints are kept per address across attempts: a retried job finds its predecessors'
checkpoints. A ``checkpoint:`` S3 URI cannot be used locally; rather than refuse a manifest
that also runs on Braket, the job uses the local folder and its log says so first. An
input channel given as an S3 URI cannot be read here: the submission is refused.

A job ends with the qplan process that started it: the launcher watches a lifeline pipe
whose only writer is this process and kills its process group when the pipe closes,
SIGKILL of qplan included (``close`` kills them too). The launcher itself writes the
output archive and then ``status.json`` when the entry point returns or raises, so a qplan
killed right after a job ended loses nothing: the next apply's lookup finds the final
status and adopts the job. A submission under the key of a job that ended with its qplan
process clears its folder (checkpoints stay) and runs the job again. When the job's
process dies otherwise (max runtime, cancel, a signal), the monitor thread that waited for
it writes the status, once nothing else can.

At most ``limit`` jobs run at once; the others wait, ``QUEUED``, in qplan.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qplan.jobstatus import JobStatus
from qplan.providers import hybrid
from qplan.providers.base import Dispatch, Observation, PermanentError, Receipt
from qplan.providers.hybrid_folders import (
    ABANDONED_FILE,
    CANCEL_FILE,
    FAILURE_FILE,
    JOB_FILE,
    JOB_PREFIX,
    LOCK_FILE,
    LOG_FILE,
    MAX_RUNTIME_EVENT,
    OUTPUT,
    PROCESS_FILE,
    STATUS_FILE,
    FinalStatus,
    HybridFolders,
    checkpoint_folder,
    is_hybrid_id,
    job_id,
    key_suffix,
    lock_held,
    name_of,
    read_json,
    read_log,
    read_status,
)
from qplan.providers.hybrid_launcher import write_json

__all__ = [
    "DEVICE_ARNS",
    "JOB_PREFIX",
    "FinalStatus",
    "HybridRunner",
    "checkpoint_folder",
    "is_hybrid_id",
    "job_env",
    "job_id",
    "key_suffix",
    "name_of",
    "read_log",
    "read_status",
]

DEVICE_ARNS = {"braket_sv": "local:braket/braket_sv", "braket_dm": "local:braket/braket_dm"}
CANCEL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


def job_env(base: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """The job's environment: ``base`` without any ``AMZN_BRAKET_*`` of the user's (a job
    token would send its tasks to a real job's queue), then ``values``."""
    env = {k: v for k, v in base.items() if not k.startswith("AMZN_BRAKET_")}
    env.update(values)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"the job's process was killed by {signal.Signals(-code).name}"
        return f"the job's process was killed by signal {-code}"
    return f"the job's process exited with status {code}"


@dataclass
class _Job:
    """A job this process started (or holds in its queue)."""

    name: str
    key: str
    folder: Path
    env: dict[str, str]
    max_runtime: float
    process: subprocess.Popen[bytes] | None = None
    started_at: float | None = None
    cancel_requested: bool = False
    exited: bool = False  # its process has ended: its group is no longer signalled
    done: threading.Event = field(default_factory=threading.Event)


class HybridRunner(HybridFolders):
    """The local provider's hybrid jobs under ``root`` (the stack's ``hybrid-jobs``
    folder; None: hybrid jobs are refused), at most ``limit`` running at once. Its
    ``HybridJobs`` side (``HybridFolders``) reads the folders alone, so it answers for jobs
    of any process."""

    def __init__(self, root: Path | None, limit: int) -> None:
        super().__init__(root)
        self.limit = max(1, limit)
        self._jobs: dict[str, _Job] = {}
        self._by_key: dict[str, str] = {}
        self._pending: deque[_Job] = deque()
        self._running = 0
        self._lock = threading.RLock()
        self._closing = False
        self._lifeline: tuple[int, int] | None = None
        self._threads: list[threading.Thread] = []

    # -- submission ----------------------------------------------------------------------

    def submit(self, dispatch: Dispatch) -> Receipt:
        spec = dispatch.hybrid
        if dispatch.batch:
            raise PermanentError("a hybrid job is one job, never a batch")
        if spec is None or not isinstance(dispatch.program, bytes):
            raise PermanentError("a hybrid job needs its source archive and its specification")
        arn = DEVICE_ARNS.get(dispatch.device)
        if arn is None:
            raise PermanentError(
                f"hybrid jobs on the local provider run on {' or '.join(DEVICE_ARNS)}, "
                f"not {dispatch.device}"
            )
        remote = [c.name for c in spec.input_data if c.s3_uri or not c.path]
        if remote:
            raise PermanentError(
                f"input channel {', '.join(remote)}: an S3 URI cannot be read by a local "
                "hybrid job; give a local file or folder, or run the job on Braket"
            )
        if self.root is None:
            raise PermanentError("hybrid jobs on the local provider need the stack's work folder")
        member = dispatch.members[0]
        name = hybrid.job_name(dispatch.stack, member.address, dispatch.key)
        receipt = Receipt(job_id(name), (job_id(name),))
        with self._lock:
            if self._closing:
                raise PermanentError("the local provider is closing")
            if name in self._jobs:
                return receipt
            folder = self.root / name
            if folder.exists():
                if read_status(folder) is not None or lock_held(folder):
                    return receipt  # ended (its result is kept), or running in another qplan
                shutil.rmtree(folder)  # ended with its qplan process: sent again
            job = self._prepare(dispatch, name, folder, arn)
            self._jobs[name] = job
            self._by_key[dispatch.key] = name
            self._pending.append(job)
            self._start_pending()
        return receipt

    def _prepare(self, dispatch: Dispatch, name: str, folder: Path, arn: str) -> _Job:
        assert self.root is not None and dispatch.hybrid is not None
        assert isinstance(dispatch.program, bytes)
        spec = dispatch.hybrid
        member = dispatch.members[0]
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        checkpoints = checkpoint_folder(self.root, dispatch.stack, member.address)
        checkpoints.mkdir(mode=0o700, parents=True, exist_ok=True)
        (folder / "source.tar.gz").write_bytes(dispatch.program)
        hp_file = folder / "hyperparameters.json"
        hp_file.write_text(json.dumps(hybrid.hyperparameters(member.inputs), sort_keys=True))
        inputs = folder / "input"
        inputs.mkdir()
        for channel in spec.input_data:
            assert channel.path is not None
            source, target = Path(channel.path), inputs / channel.name
            try:
                if source.is_dir():
                    shutil.copytree(source, target)
                else:
                    target.mkdir()
                    shutil.copy2(source, target / source.name)
            except OSError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise PermanentError(
                    f"input channel {channel.name}: {channel.path} cannot be read ({exc})"
                ) from None
        (folder / "results").mkdir()
        (folder / "output").mkdir()
        with open(folder / LOG_FILE, "ab") as log:
            if spec.checkpoint:
                log.write(
                    f"qplan: local jobs do not use the checkpoint location {spec.checkpoint}; "
                    f"checkpoints are kept locally, per address, across attempts\n".encode()
                )
        env = {
            "AMZN_BRAKET_JOB_NAME": name,
            "AMZN_BRAKET_DEVICE_ARN": arn,
            "AMZN_BRAKET_HP_FILE": str(hp_file),
            "AMZN_BRAKET_INPUT_DIR": str(inputs),
            "AMZN_BRAKET_JOB_RESULTS_DIR": str(folder / "results"),
            "AMZN_BRAKET_CHECKPOINT_DIR": str(checkpoints),
            "AMZN_BRAKET_SCRIPT_ENTRY_POINT": dispatch.entry or spec.entry_point,
            "QPLAN_HYBRID_SOURCE": str(folder / "source.tar.gz"),
            "QPLAN_HYBRID_CODE_DIR": str(folder / "code"),
            "QPLAN_HYBRID_FAILURE_FILE": str(folder / FAILURE_FILE),
            "QPLAN_HYBRID_OUTPUT": str(folder / OUTPUT),
            "QPLAN_HYBRID_STATUS_FILE": str(folder / STATUS_FILE),
        }
        write_json(
            folder / JOB_FILE,
            {
                "key": dispatch.key,
                "name": name,
                "stack": dispatch.stack,
                "address": member.address,
                "attempt": member.attempt,
                "device": arn,
                "entry_point": env["AMZN_BRAKET_SCRIPT_ENTRY_POINT"],
                "max_runtime": spec.max_runtime,
                "created_at": time.time(),
                "owner": os.getpid(),
            },
        )
        return _Job(name, dispatch.key, folder, env, spec.max_runtime)

    # -- running -------------------------------------------------------------------------

    def _start_pending(self) -> None:
        """Start queued jobs while fewer than ``limit`` run (under the lock)."""
        while self._pending and self._running < self.limit and not self._closing:
            job = self._pending.popleft()
            self._running += 1
            thread = threading.Thread(
                target=self._monitor, args=(job,), name=f"qplan-hybrid-{job.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _lifeline_fd(self) -> int:
        if self._lifeline is None:
            self._lifeline = os.pipe()  # both ends close on exec: only the job gets one
        return self._lifeline[0]

    def _spawn(self, job: _Job) -> subprocess.Popen[bytes]:
        lock = os.open(job.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with self._lock:
                lifeline = self._lifeline_fd()
            env = dict(job.env, QPLAN_HYBRID_LIFELINE=str(lifeline))
            with open(job.folder / LOG_FILE, "ab") as log:
                return subprocess.Popen(
                    [sys.executable, "-m", "qplan.providers.hybrid_launcher"],
                    env=job_env(os.environ, env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=job.folder,
                    start_new_session=True,
                    pass_fds=(lock, lifeline),
                )
        finally:
            os.close(lock)  # the job's process holds the lock from now on

    def _monitor(self, job: _Job) -> None:
        """Start the job, wait for its end, and write its status when the job could not."""
        try:
            with self._lock:
                if self._closing:
                    return
                if job.cancel_requested:
                    self._conclude(job, FinalStatus("CANCELLED", "cancelled"))
                    return
            try:
                process = self._spawn(job)
            except OSError as exc:
                self._conclude(job, FinalStatus("FAILED", f"the job could not start: {exc}"))
                return
            with self._lock:
                job.process, job.started_at = process, time.time()
                if job.cancel_requested or self._closing:
                    self._signal(job, signal.SIGKILL)
            write_json(
                job.folder / PROCESS_FILE, {"pid": process.pid, "started_at": job.started_at}
            )
            timed_out = not _wait_exit(process.pid, job.started_at + job.max_runtime)
            if timed_out:
                with self._lock:
                    self._signal(job, signal.SIGKILL)
                _wait_exit(process.pid, None)
            with self._lock:
                self._signal(job, signal.SIGKILL)  # what the job started and left behind
                job.exited = True
            code = process.wait()  # reaped only now: until then its group id stays its own
            self._conclude(job, self._ending(job, code, timed_out))
        finally:
            with self._lock:
                self._running -= 1
                job.done.set()
                self._start_pending()

    def _ending(self, job: _Job, code: int, timed_out: bool) -> FinalStatus:
        """The status of a job whose process ended without writing its own."""
        now = time.time()
        if job.cancel_requested or (job.folder / CANCEL_FILE).exists():
            return FinalStatus("CANCELLED", "cancelled", job.started_at, now)
        if timed_out:
            return FinalStatus(
                "FAILED",
                f"MaxRuntimeExceeded: the job ran past its max runtime of "
                f"{job.max_runtime:g} seconds and was stopped",
                job.started_at,
                now,
                MAX_RUNTIME_EVENT,
            )
        reason = None
        with contextlib.suppress(OSError):
            reason = (job.folder / FAILURE_FILE).read_text(encoding="utf-8").strip() or None
        return FinalStatus("FAILED", reason or _describe_exit(code), job.started_at, now)

    def _conclude(self, job: _Job, status: FinalStatus) -> None:
        """Write ``status`` unless the job wrote its own, or qplan is closing (the job then
        ended with qplan: it is not final, and runs again under its key)."""
        with self._lock:
            if self._closing or read_status(job.folder) is not None:
                return
            write_json(job.folder / STATUS_FILE, status.document())

    @staticmethod
    def _signal(job: _Job, sig: signal.Signals) -> None:
        """Signal the job's process group (its pid: it leads its own session), while its
        process has not been reaped. Under the lock."""
        if job.process is None or job.exited:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.process.pid, sig)

    # -- the provider's questions --------------------------------------------------------

    def lookup(self, keys: Sequence[str]) -> dict[str, Receipt]:
        """Jobs of this process by key, and jobs found in their folders that ended with a
        final status or still run (another qplan's). A folder without either is not found:
        its job ended with its qplan process."""
        found: dict[str, Receipt] = {}
        wanted: dict[str, str] = {}
        with self._lock:
            for key in keys:
                name = self._by_key.get(key)
                if name is not None:
                    found[key] = Receipt(job_id(name), (job_id(name),))
                else:
                    wanted[key_suffix(key)] = key
        found.update(self.lookup_folders(wanted))
        return found

    def observe(self, value: str) -> Observation:
        name = name_of(value)
        job = self._jobs.get(name) if name else None
        if job is not None and not job.done.is_set():
            status = JobStatus.QUEUED if job.started_at is None else JobStatus.RUNNING
            if job.cancel_requested:
                status = JobStatus.CANCELLING
            return Observation(value, status, started_at=job.started_at)
        return super().observe(value)  # from its folder

    def cancel(self, value: str) -> None:
        """SIGTERM to the job's process group, SIGKILL after a grace; a queued job never
        starts. A job that has ended keeps its status (and its result)."""
        name = name_of(value)
        if name is None or self.root is None:
            return
        folder = self.root / name
        with self._lock:
            job = self._jobs.get(name)
            if job is not None and job in self._pending:
                self._pending.remove(job)
                job.cancel_requested = True
                write_json(folder / STATUS_FILE, FinalStatus("CANCELLED", "cancelled").document())
                job.done.set()
                return
            if not folder.is_dir() or read_status(folder) is not None:
                return
            if job is not None:
                if job.done.is_set():
                    return
                job.cancel_requested = True
                (folder / CANCEL_FILE).touch()
                self._signal(job, signal.SIGTERM)
                timer = threading.Timer(CANCEL_GRACE, self._kill_late, args=(job,))
                timer.daemon = True
                timer.start()
                return
            (folder / CANCEL_FILE).touch()
        pid = read_json(folder / PROCESS_FILE).get("pid")
        if isinstance(pid, int) and lock_held(folder):
            # running in another qplan process: its monitor sees the end and the marker
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)

    def _kill_late(self, job: _Job) -> None:
        with self._lock:
            self._signal(job, signal.SIGKILL)

    # -- the end -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the jobs this process runs, as local runs end with qplan: no status is
        written for them (they run again under their keys); their folders stay."""
        with self._lock:
            self._closing = True
            self._pending.clear()
            for job in self._jobs.values():
                if not job.done.is_set() and read_status(job.folder) is None:
                    (job.folder / ABANDONED_FILE).touch()
                self._signal(job, signal.SIGKILL)
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5.0)
        with self._lock:
            if self._lifeline is not None:
                for end in self._lifeline:
                    with contextlib.suppress(OSError):
                        os.close(end)
                self._lifeline = None


def _wait_exit(pid: int, deadline: float | None) -> bool:
    """Wait for child ``pid`` to end, without reaping it (its process group stays its own
    to signal); False when ``deadline`` (``time.time()``) came first."""
    pause = 0.002
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if deadline is not None and time.time() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
