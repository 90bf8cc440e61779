"""The local provider: the embedded default. No account, no network.

OpenQASM 3 runs on Braket's ``LocalSimulator`` (``braket_sv``, ``braket_dm``), Pulser
sequences on pulser-simulation (``qutip``), Q# on qdk's simulator (``qsharp``: the entry
operation called with the member's inputs as Q# literals), in a pool of worker processes
sized to the CPUs (see ``local_worker``).

Runs live as long as this process, but their results do not: with a ``runs_dir``, each
run writes its result there under its idempotency key before it reports its end. A qplan
killed or interrupted after a run finished therefore loses nothing: the next apply looks
the key up, finds the result and records it instead of running the point again. A run
that had not finished is gone with its process and is run again (a new attempt).

Processes: the fork server is started with SIGINT blocked, so a terminal's Ctrl-C reaches
qplan alone; workers end when this process ends, however it ends. Cancelling a run that
has not started yet means it never starts; a run that already started finishes (only the
``hang`` fault stops early), and its result is kept: a result is never thrown away.

Timeouts count from the start of a run (``timeout_from_start``): time spent waiting in
qplan's own pool is not the job's.

Fault injection (``faults:`` in the provider's settings) fails or hangs chosen runs,
deterministically, so that retries, timeouts and session policies can be rehearsed.

Hybrid jobs (``braket.hybrid``) run in processes of their own, their folders under
``hybrid_dir`` (see ``hybrid_local``): the provider's ``hybrid_jobs``.

Run journal: with ``QPLAN_LOCAL_JOURNAL=FILE`` every worker appends a JSON line when a run
starts and when it ends (address, idempotency key, time, pid): an independent record of
what really ran, for audits and for the crash tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from qplan.jobstatus import JobStatus
from qplan.manifest import entry_expression, entry_parameters
from qplan.manifest.models import FaultSpec
from qplan.manifest.models import LocalProvider as LocalConfig
from qplan.processes import pid_alive
from qplan.providers import local_worker
from qplan.providers.base import (
    Capabilities,
    Dispatch,
    Member,
    Observation,
    PermanentError,
    Provider,
    Receipt,
)
from qplan.providers.hybrid_local import HybridRunner, is_hybrid_id

__all__ = ["LocalSimulatorProvider", "start_fork_server"]

_JOB_PREFIX = "local-"
MAX_RESTARTS = 2  # a worker that dies takes every queued run with it: run those again


@dataclass
class _Job:
    job_id: str
    future: Future[dict[str, Any]]
    run: local_worker.Run
    cancel_requested: bool = False
    restarts: int = 0
    started_at: float | None = None


_MARKERS_PREFIX = "qplan-local-"


def _remove_orphan_markers() -> None:
    """Remove the cancel-marker folders of local providers whose process is gone (a qplan
    killed outright cannot remove its own)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_MARKERS_PREFIX}*-*"):
        pid_text = folder.name[len(_MARKERS_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            shutil.rmtree(folder, ignore_errors=True)


_FORMATS = ("openqasm3", "pulser", "qsharp")
HYBRID_FORMAT = "braket.hybrid"
# what each format needs beyond qplan's own dependencies, and the extra that installs it
_NEEDS = {
    "pulser": (
        ("pulser", "pulser_simulation"),
        "Pulser sequences run on pulser-simulation",
        "pulser",
    ),
    "qsharp": (("qdk",), "Q# programs run on qdk's simulator", "azure"),
}


def _missing(fmt: str) -> str | None:
    """Why programs of format ``fmt`` cannot run here (their SDK is not installed), or None."""
    import importlib.util

    needs = _NEEDS.get(fmt)
    if needs is None:
        return None
    modules, what, extra = needs
    if all(importlib.util.find_spec(m) is not None for m in modules):
        return None
    return f"{what}, which is not installed: pip install 'qplan[{extra}]'"


def qsharp_expression(dispatch: Dispatch, member: Member) -> str:
    """The Q# expression a member of a Q# dispatch runs: the entry operation called with
    the member's inputs. PermanentError when they do not fit its signature."""
    assert isinstance(dispatch.program, str)
    if not dispatch.entry:
        raise PermanentError("a Q# program needs its entry operation (entry: in the manifest)")
    try:
        params = entry_parameters(dispatch.program, dispatch.entry)
        return entry_expression(dispatch.entry, params, member.inputs)
    except ValueError as exc:
        raise PermanentError(str(exc)) from None


def _fraction(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def matches(pattern: str, address: str) -> bool:
    """``*`` matches any characters; everything else, brackets included, is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, address) is not None


def fault_for(faults: Sequence[FaultSpec], member: Member, key: str) -> str | None:
    """The fault to inject into this run, if any: the first spec that matches decides."""
    for spec in faults:
        if not matches(spec.match, member.address):
            continue
        if spec.attempts is not None and member.attempt not in spec.attempts:
            continue
        if spec.rate < 1.0 and _fraction(key) >= spec.rate:
            continue
        return spec.mode
    return None


PRELOAD = ["qplan.providers.local_preload"]
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


def start_fork_server() -> None:
    """Start the fork server of local runs (once per process) with SIGINT ignored: the
    disposition is inherited through exec by the server and by every worker it forks, so
    a Ctrl-C typed at a terminal, which reaches the whole process group, never interrupts
    their imports or their runs; qplan alone decides what an interrupt stops.

    Call it early, from the main thread while it is the only one: SIGINT is then also
    blocked meanwhile, so a Ctrl-C typed during those few milliseconds is delivered to
    qplan right after, not lost. (Elsewhere, the server starts with its default handling.)
    """
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    if _QUIET_TRACKER not in sys.warnoptions:
        # read by multiprocessing when it starts its resource tracker: after a qplan killed
        # outright, the tracker frees the pool's semaphores, as it should, but its warning
        # about them would reach the terminal only after qplan has gone
        sys.warnoptions.append(_QUIET_TRACKER)
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    alone = threading.active_count() == 1
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if alone else None
    try:
        if signal.SIGINT in signal.sigpending():
            return  # interrupted already: nothing is started, the Ctrl-C is handled below
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, handler)
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class LocalSimulatorProvider(Provider):
    """``runs_dir``: where finished runs leave their results until qplan has recorded them
    (None: nowhere; a crash then loses the results not yet recorded). ``hybrid_dir``: the
    folders of hybrid jobs (None: hybrid jobs are refused)."""

    def __init__(
        self,
        name: str,
        config: LocalConfig,
        runs_dir: Path | None = None,
        hybrid_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.capabilities = Capabilities(
            submit_rate=1e9,
            submit_burst=1_000_000,
            max_observe=1_000_000,
            durable_jobs=False,
            poll_interval=0.01,
            timeout_from_start=True,
        )
        self._jobs: dict[str, _Job] = {}
        self._by_key: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._lifeline: tuple[Connection, Connection] | None = None
        self._runs = runs_dir
        if runs_dir is not None:
            runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._hybrid = HybridRunner(hybrid_dir, self.workers)
        self.hybrid_jobs = self._hybrid
        _remove_orphan_markers()
        self._markers = Path(tempfile.mkdtemp(prefix=f"{_MARKERS_PREFIX}{os.getpid()}-"))

    @property
    def workers(self) -> int:
        return self.config.workers or os.cpu_count() or 1

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            start_fork_server()  # a no-op when qplan started it already
            if self._lifeline is None:
                # the write end stays here alone: when this process ends, workers see EOF
                self._lifeline = context.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=local_worker.init,
                initargs=(self._lifeline[0],),
            )
        return self._pool

    def _result_file(self, key: str) -> Path | None:
        return None if self._runs is None else self._runs / f"{key}.json"

    def submit(self, dispatch: Dispatch) -> Receipt:
        """One run per dispatch: the local simulators have no native batches."""
        if dispatch.format == HYBRID_FORMAT:
            return self._hybrid.submit(dispatch)
        key = dispatch.key
        with self._lock:
            known = self._by_key.get(key)
            if known is not None:
                return Receipt(known, (known,))
            if dispatch.batch:
                raise PermanentError("the local provider runs one point per job")
            if dispatch.format not in _FORMATS:
                raise PermanentError(f"the local provider cannot run {dispatch.format}")
            if not isinstance(dispatch.program, str):
                raise PermanentError("the local provider runs text programs only")
            missing = _missing(dispatch.format)
            if missing is not None:
                raise PermanentError(missing)
            member = dispatch.members[0]
            expression = qsharp_expression(dispatch, member) if dispatch.format == "qsharp" else ""
            job_id = _JOB_PREFIX + key
            result_file = self._result_file(key)
            spec = local_worker.Run(
                device=dispatch.device,
                format=dispatch.format,
                program=dispatch.program,
                shots=dispatch.shots,
                inputs=dict(member.inputs),
                expression=expression,
                fault=fault_for(self.config.faults, member, key),
                address=member.address,
                key=key,
                cancel_marker=str(self._markers / f"{key}.cancel"),
                start_marker=str(self._markers / f"{key}.started"),
                result_file="" if result_file is None else str(result_file),
            )
            future = self._executor().submit(local_worker.run, spec)
            self._jobs[job_id] = _Job(job_id, future, spec)
            self._by_key[key] = job_id
            return Receipt(job_id, (job_id,))

    def _kept(self, key: str) -> str | None:
        """The job of a run that finished in an earlier process and left its result (its
        job id, now known to this process), or None."""
        path = self._result_file(key)
        if path is None:
            return None
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None  # absent; or never whole (written all at once): not finished
        future: Future[dict[str, Any]] = Future()
        future.set_result(data)
        job_id = _JOB_PREFIX + key
        self._jobs[job_id] = _Job(job_id, future, local_worker.Run("", "", "", 0, key=key))
        self._by_key[key] = job_id
        return job_id

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        """Runs of this process by key, and runs of an earlier one that finished and left
        their result in ``runs_dir``. A run of an earlier process that did not finish is
        not found: it ended with that process."""
        found: dict[str, Receipt] = {}
        with self._lock:
            for key in keys:
                job_id = self._by_key.get(key) or self._kept(key)
                if job_id is not None:
                    found[key] = Receipt(job_id, (job_id,))
        found.update(self._hybrid.lookup([k for k in keys if k not in found]))
        return found

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        out: dict[str, Observation] = {}
        for job_id in job_ids:
            if is_hybrid_id(job_id):
                out[job_id] = self._hybrid.observe(job_id)
                continue
            job = self._jobs.get(job_id)
            if job is None and job_id.startswith(_JOB_PREFIX):
                with self._lock:
                    if self._kept(job_id.removeprefix(_JOB_PREFIX)) is not None:
                        job = self._jobs[job_id]
            if job is None:  # from an earlier process, unfinished: gone with it
                out[job_id] = Observation(
                    job_id, JobStatus.FAILED, "lost: the local run ended with its qplan process"
                )
                continue
            out[job_id] = self._observe(job)
        return out

    def _observe(self, job: _Job) -> Observation:
        future = job.future
        if not future.done():
            if job.started_at is None:
                with contextlib.suppress(OSError):  # not started yet
                    job.started_at = os.stat(job.run.start_marker).st_mtime
            if job.cancel_requested:
                return Observation(job.job_id, JobStatus.CANCELLING, started_at=job.started_at)
            status = JobStatus.QUEUED if job.started_at is None else JobStatus.RUNNING
            return Observation(job.job_id, status, started_at=job.started_at)
        if future.cancelled():
            return Observation(job.job_id, JobStatus.CANCELLED)
        error = future.exception()
        if error is None:  # finished: a result, even if a cancel came too late to stop it
            return Observation(job.job_id, JobStatus.SUCCEEDED)
        if isinstance(error, local_worker.RunCancelled):
            return Observation(job.job_id, JobStatus.CANCELLED)
        if isinstance(error, BrokenProcessPool):
            return self._worker_died(job)
        return Observation(job.job_id, JobStatus.FAILED, f"{type(error).__name__}: {error}")

    def _worker_died(self, job: _Job) -> Observation:
        """A worker died (killed, out of memory) and took its runs with it: a run that had
        finished is kept; the others run again, a few times at most."""
        key = job.run.key
        with self._lock:
            if self._kept(key) is not None:  # its result was written before the death
                return Observation(job.job_id, JobStatus.SUCCEEDED)
            if job.cancel_requested:
                return Observation(job.job_id, JobStatus.CANCELLED)
            if job.restarts >= MAX_RESTARTS:
                return Observation(
                    job.job_id, JobStatus.FAILED, "its worker process died (out of memory?)"
                )
            if self._pool is not None and self._pool._broken:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            job.restarts += 1
            job.started_at = None
            job.future = self._executor().submit(local_worker.run, job.run)
        return Observation(job.job_id, JobStatus.QUEUED)

    def result(self, job_id: str) -> dict[str, Any]:
        if is_hybrid_id(job_id):
            return self._hybrid.result(job_id)
        result: dict[str, Any] = self._jobs[job_id].future.result()
        return result

    def release(self, job_ids: Sequence[str]) -> None:
        """Their results are recorded: the copies kept in ``runs_dir`` go (hybrid jobs'
        folders stay, for their logs and outputs)."""
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            path = self._result_file(job.run.key) if job is not None else None
            if path is not None:
                path.unlink(missing_ok=True)

    def prune(self, keys: Collection[str]) -> None:
        """Drop the kept results of keys no one will ask for (a crash between recording a
        result and releasing it), and what a worker killed while writing left."""
        if self._runs is None:
            return
        keep = set(keys)
        for path in self._runs.iterdir():
            if path.name.endswith(".partial"):
                pid = path.name.rsplit(".", 2)[-2]
                if not pid.isdigit() or not pid_alive(int(pid)):
                    path.unlink(missing_ok=True)
            elif path.suffix == ".json" and path.stem not in keep:
                path.unlink(missing_ok=True)

    def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            if is_hybrid_id(job_id):
                self._hybrid.cancel(job_id)
                continue
            job = self._jobs.get(job_id)
            if job is None or job.future.done():
                continue
            job.cancel_requested = True
            if not job.future.cancel():
                # queued in a worker already, or running: it never starts, or (a hanging
                # fault) stops; a real run finishes and its result is kept
                Path(job.run.cancel_marker).touch()

    def close(self) -> None:
        """Stop at once: runs not started never start, runs still going end with their
        workers (their rows stay in flight, and the next apply finds the finished ones);
        so do hybrid jobs."""
        self._hybrid.close()
        for job in self._jobs.values():
            if not job.future.done():
                job.future.cancel()
                Path(job.run.cancel_marker).touch()
        if self._pool is not None:
            if self._lifeline is not None and any(not j.future.done() for j in self._jobs.values()):
                self._lifeline[1].close()  # workers end now, instead of finishing their runs
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._lifeline is not None:
            for end in self._lifeline:
                end.close()
            self._lifeline = None
        shutil.rmtree(self._markers, ignore_errors=True)
