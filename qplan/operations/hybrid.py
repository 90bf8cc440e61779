"""Operations on hybrid jobs: their logs, metrics, details and output archives.

They read the state without taking the stack's lock (an apply may be running: following a
job's log while it runs is the point) and ask the job's provider through its
``HybridJobs``. A hybrid instance is named by its address, or all of a job's by the job's
name. Each instance is read at its latest attempt: the job id its row holds.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.errors import QplanError, UsageError
from qplan.manifest import Job, Stack
from qplan.operations.planning import LoadOptions, Workspace, open_workspace
from qplan.operations.running import _providers
from qplan.providers import Provider
from qplan.providers.base import HybridJobs, JobDetails, PermanentError, ProviderError
from qplan.providers.hybrid import MetricPoint, parse_metrics

__all__ = [
    "HYBRID_FORMAT",
    "HybridInstance",
    "JobMetrics",
    "details",
    "download",
    "follow_log",
    "metrics",
]

HYBRID_FORMAT = "braket.hybrid"
_READERS = 8


@dataclass(frozen=True)
class HybridInstance:
    """One hybrid instance of the manifest, with the job id of its latest attempt (None:
    not submitted yet)."""

    address: str
    job: Job
    point: Mapping[str, Any]
    job_id: str | None
    status: str | None

    @property
    def provider(self) -> str:
        return self.job.target.provider


@dataclass(frozen=True)
class JobMetrics:
    """Every metric a hybrid instance logged, in log order."""

    instance: HybridInstance
    points: tuple[MetricPoint, ...]


def _hybrid_jobs(stack: Stack) -> dict[str, Job]:
    return {n: j for n, j in stack.jobs.items() if j.hybrid is not None}


def _select(ws: Workspace, names: Sequence[str]) -> list[HybridInstance]:
    """The hybrid instances named (addresses or job names), all of them when none is."""
    jobs = _hybrid_jobs(ws.stack)
    if not jobs:
        raise UsageError(f"{ws.manifest} has no hybrid job (a program of format {HYBRID_FORMAT})")
    rows = {r.address: r for r in ws.store.rows(ws.stack.name)}
    wanted = set(names)
    out: list[HybridInstance] = []
    known: set[str] = set()
    for job in jobs.values():
        for instance in job.instances():
            known.update((instance.address, job.name))
            if wanted and instance.address not in wanted and job.name not in wanted:
                continue
            row = rows.get(instance.address)
            out.append(
                HybridInstance(
                    instance.address,
                    job,
                    dict(instance.point),
                    None if row is None else row.provider_job_id,
                    None if row is None else str(row.status),
                )
            )
    unknown = wanted - known
    if unknown:
        others = {i.address for i in ws.stack.instances()} | set(ws.stack.jobs)
        listed = ", ".join(sorted(unknown))
        if unknown <= others:
            raise UsageError(f"{listed}: not a hybrid job (only hybrid jobs have logs and outputs)")
        raise UsageError(f"no instance or job named {listed} in {ws.manifest}")
    return out


def _jobs_api(providers: Mapping[str, Provider], instance: HybridInstance) -> HybridJobs:
    api = providers[instance.provider].hybrid_jobs
    if api is None:
        raise QplanError(f"provider {instance.provider} does not run hybrid jobs")
    return api


def _submitted(instance: HybridInstance) -> str:
    if instance.job_id is None:
        raise UsageError(f"{instance.address} has not been submitted yet: run qplan apply")
    return instance.job_id


def _one(ws: Workspace, address: str) -> HybridInstance:
    found = _select(ws, [address])
    if len(found) != 1:
        listed = ", ".join(i.address for i in found)
        raise UsageError(f"{address} names {len(found)} instances ({listed}): give one address")
    return found[0]


def _latest(manifest: str, options: LoadOptions, address: str) -> HybridInstance:
    """The instance as the state holds it now. A fresh read: the state may not have existed
    when the command started (an apply starting meanwhile creates it)."""
    with open_workspace(manifest, options) as ws:
        return _one(ws, address)


def follow_log(
    manifest: str,
    options: LoadOptions,
    address: str,
    emit: Callable[[str], None],
    *,
    follow: bool = False,
    poll: float = 1.0,
    note: Callable[[str], None] | None = None,
) -> None:
    """Emit the log of the hybrid instance at ``address``, line by line. ``follow``: wait
    for it to be submitted, keep reading until it has ended and its log is read, and go on
    with its next attempt if it is retried meanwhile (``note`` tells of the switch)."""
    with open_workspace(manifest, options) as ws:
        instance = _one(ws, address)
        if instance.job_id is None and not follow:
            _submitted(instance)
        with _providers(ws, {instance.provider}) as providers:
            api = _jobs_api(providers, instance)
            job_id = instance.job_id
            cursor: str | None = None
            while True:
                if job_id is None:
                    time.sleep(poll)
                    job_id = _latest(manifest, options, address).job_id
                    continue
                chunk = api.log(job_id, cursor)
                for line in chunk.lines:
                    emit(line)
                cursor = chunk.cursor
                if not follow:
                    return
                if chunk.final:
                    latest = _latest(manifest, options, address)
                    if latest.job_id in (None, job_id) or latest.status not in _RUNNING:
                        return
                    job_id, cursor = latest.job_id, None
                    if note is not None:
                        note(f"{address}: attempt at {job_id}")
                    continue
                if not chunk.lines:
                    time.sleep(poll)


_RUNNING = {"submitting", "queued", "running", "cancelling"}


def _read_all(api: HybridJobs, job_id: str) -> list[str]:
    """Every line its log holds now."""
    lines: list[str] = []
    cursor: str | None = None
    while True:
        chunk = api.log(job_id, cursor)
        lines.extend(chunk.lines)
        if chunk.final or not chunk.lines or chunk.cursor == cursor:
            return lines
        cursor = chunk.cursor


def metrics(manifest: str, options: LoadOptions, names: Sequence[str] = ()) -> list[JobMetrics]:
    """The metrics of the named hybrid instances (all by default) that were submitted,
    parsed from their logs (read several at once), in manifest order."""
    with open_workspace(manifest, options) as ws:
        instances = [i for i in _select(ws, names) if i.job_id is not None]
        if not instances:
            return []
        with _providers(ws, {i.provider for i in instances}) as providers:

            def read(instance: HybridInstance) -> JobMetrics:
                api = _jobs_api(providers, instance)
                lines = _read_all(api, _submitted(instance))
                return JobMetrics(instance, tuple(parse_metrics(lines)))

            with ThreadPoolExecutor(min(_READERS, len(instances))) as pool:
                return list(pool.map(read, instances))


def details(
    manifest: str, options: LoadOptions, names: Sequence[str] = ()
) -> list[tuple[HybridInstance, JobDetails | None]]:
    """Provider details (status, queue position, events, billable time) of the named
    hybrid instances; None for those not submitted."""
    with open_workspace(manifest, options) as ws:
        instances = _select(ws, names)
        submitted = [i for i in instances if i.job_id is not None]
        found: dict[str, JobDetails] = {}
        if submitted:
            with _providers(ws, {i.provider for i in submitted}) as providers:

                def ask(instance: HybridInstance) -> tuple[str, JobDetails]:
                    api = _jobs_api(providers, instance)
                    return instance.address, api.details(_submitted(instance))

                with ThreadPoolExecutor(min(_READERS, len(submitted))) as pool:
                    found = dict(pool.map(ask, submitted))
        return [(i, found.get(i.address)) for i in instances]


def download(manifest: str, options: LoadOptions, address: str, into: Path) -> Path:
    """Fetch the output archive of the hybrid instance at ``address`` and extract it into
    ``into/<job name>/`` (as the SDK's ``download_result`` does); returns that folder."""
    with open_workspace(manifest, options) as ws:
        instance = _one(ws, address)
        job_id = _submitted(instance)
        with _providers(ws, {instance.provider}) as providers:
            api = _jobs_api(providers, instance)
            try:
                name = api.details(job_id).name or address
                archive = api.output(job_id)
            except PermanentError as exc:
                raise QplanError(f"{address}: no output to download: {exc}") from None
            except ProviderError as exc:
                raise QplanError(f"{address}: {exc}") from None
    folder = into / name
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")
    return folder
