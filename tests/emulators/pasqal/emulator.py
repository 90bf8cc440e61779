"""A wire-compatible emulator of Pasqal Cloud's core API, on the emulator kit, for the real
``pasqal-cloud`` SDK. Jobs run on pulser-simulation (``programs``).

Answers are JSend envelopes, errors too (``protocol``). Every route but the public device
specs and the results download wants ``Authorization: Bearer <TOKEN>`` (else 401). Bodies may
be gzipped (``Content-Encoding: gzip``, as the SDK sends batches and jobs). Unknown ids: 404.

======  ========================================  ===============  =================================
verb    path                                      operation        does
======  ========================================  ===============  =================================
POST    ``/api/v1/batches``                       CreateBatch      a batch and its jobs, PENDING
GET     ``/api/v2/batches/{id}``                  GetBatch         the batch with ``job_ids`` (and
                                                                   ``jobs``: ``batch_jobs_inline``)
GET     ``/api/v1/batches/{id}/status``           GetBatchStatus   status, jobs_count_per_status
GET     ``/api/v1/batches``                       GetBatches       filtered, newest first, paged
PATCH   ``/api/v2/batches/{id}/complete``         CloseBatch       closed: it takes no more jobs
PATCH   ``/api/v2/batches/{id}/cancel``           CancelBatch      CANCELED, its jobs cancelled
PATCH   ``/api/v1/batches/cancel``                CancelBatches    each of ``batch_ids`` (body)
PATCH   ``/api/v1/batches/{id}/tags``             SetBatchTags     its tags replaced by the body's
PATCH   ``/api/v2/batches/{id}/cancel/jobs``      CancelJobs       the jobs the filters select
POST    ``/api/v2/batches/{id}/jobs``             AddJobs          jobs added to an open batch
POST    ``/api/v1/batches/{id}/rebatch``          Rebatch          a new batch of copied jobs
GET     ``/api/v2/jobs``                          GetJobs          filtered, newest first, paged
GET     ``/api/v2/jobs/{id}``                     GetJob           the job with its ``sequence``
GET     ``/api/v1/jobs/{id}/status``              GetJobStatus     ``{"id", "status"}``
PATCH   ``/api/v2/jobs/{id}/cancel``              CancelJob        CANCELED (slowly if RUNNING)
GET     ``/api/v1/jobs/{id}/results_link``        GetResultsLink   a link once DONE, else null
GET     ``/results/{id}``                         DownloadResults  the result file; no auth, as
                                                                   a presigned link
GET     ``/api/v1/devices/specs``                 GetDeviceSpecs   device type -> device JSON
GET     ``/api/v1/devices/public-specs``          GetDeviceSpecs   the same as a list; no auth
======  ========================================  ===============  =================================

Semantics the SDK does not pin down, as chosen here:

- CreateBatch: ``device_type`` one of ``programs.DEVICE_TYPES`` (EMU_TN, deprecated, is
  refused), or absent when the sequence's device is named after one; the sequence and every
  job's own sequence must deserialize with Pulser (400 with Pulser's message); each job has
  ``runs`` >= 1 (at most the device's ``max_runs``), and not both its own sequence and
  variables; a batch without jobs must be open. The sequence is not checked against the
  device: the emulator runs what it is given.
- Statuses: see ``records``. An open batch idle for ``open_batch_timeout`` is TIMED_OUT and
  ``open`` false. AddJobs to a batch that is closed, CANCELED or TIMED_OUT is a 400 whose
  message and ``data.batch_status`` name the status (``error_code`` BatchNotOpen).
- Cancels: a CANCELED batch or job cancelled again answers as it is; one otherwise ended is a
  400 (CancelBatches and CancelJobs list it under ``errors``). A batch cancelled is CANCELED
  at once, its PENDING jobs too, its RUNNING jobs after ``cancel_delay``. CloseBatch of a
  closed or ended batch answers it as it is.
- Rebatch: a new closed batch with ``parent_id``, the same sequence, device, project,
  configuration, webhook and tags (so a search by tag finds the retry), holding a copy of
  each job the filters select (any status), each with ``parent_id`` its original; none
  selected is a 400.
- Answers to writes carry the batch's jobs; lists carry neither jobs nor, for jobs, the
  sequence. A job's results link is null until it is DONE (pulser's RemoteResults asks for
  every job of a batch, finished or not).

Call record parameters (``emulator.calls``): ``batch_id`` (the path's, or the one created by
CreateBatch; GetJobs: its ``batch_id`` filter), ``new_batch_id`` (Rebatch), ``job_id``,
``tags`` (CreateBatch, SetBatchTags), ``jobs`` (how many, CreateBatch and AddJobs),
``device_type`` and ``open`` (CreateBatch), ``batch_ids`` (CancelBatches), ``filters`` (the
query but paging), ``offset`` and ``limit``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from tests.emulators.kit import (
    ApiError,
    Call,
    Emulator,
    Request,
    Response,
    admin_route,
    route,
)
from tests.emulators.pasqal.programs import DEVICE_TYPES, device_specs
from tests.emulators.pasqal.protocol import (
    TOKEN,
    PasqalProtocol,
    check_token,
    checked_sequence,
    invalid,
    job_specs,
    jsend,
)
from tests.emulators.pasqal.queries import (
    batch_matcher,
    job_matcher,
    newest_first,
    page_of,
    summary,
)
from tests.emulators.pasqal.records import (
    BATCH_FINAL,
    BatchRecord,
    BatchSnapshot,
    JobRecord,
    JobSnapshot,
)
from tests.emulators.pasqal.settings import PasqalSettings
from tests.emulators.pasqal.store import BatchStore

__all__ = ["TOKEN", "PasqalEmulator", "PasqalProtocol"]

_PAGING = ("offset", "limit")


class PasqalEmulator(Emulator):
    """Pasqal Cloud's core API (see the module doc); ``config``: ``PasqalSettings``."""

    name = "pasqal"
    protocol = PasqalProtocol()

    def __init__(self, *, config: PasqalSettings | None = None, **kwargs: Any) -> None:
        self.config: PasqalSettings = config or PasqalSettings()
        super().__init__(config=self.config, **kwargs)
        self.store = BatchStore(self.jobs, self.config)

    # --- kit hooks ----------------------------------------------------------------------------

    def on_start(self) -> None:
        # Pulser's first import takes about a second: here, not in the first call a test times
        import pulser_simulation  # noqa: F401

        device_specs()

    def reset(self) -> None:
        self.store.clear()
        super().reset()

    def call_params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            name: request.labels[name] for name in ("batch_id", "job_id") if name in request.labels
        }
        body, operation = request.body, request.operation
        if operation == "CreateBatch" and isinstance(body, dict):
            params["tags"] = list(body.get("tags") or [])
            params["jobs"] = len(body.get("jobs") or [])
            params["device_type"] = body.get("device_type")
            params["open"] = body.get("open")
        elif operation == "AddJobs" and isinstance(body, list):
            params["jobs"] = len(body)
        elif operation == "SetBatchTags" and isinstance(body, list):
            params["tags"] = list(body)
        elif operation == "CancelBatches" and isinstance(body, dict):
            params["batch_ids"] = list(body.get("batch_ids") or [])
        filters = {k: v for k, v in request.query.items() if k not in _PAGING}
        if filters:
            params["filters"] = summary(filters)
            if operation == "GetJobs" and len(filters.get("batch_id", [])) == 1:
                params["batch_id"] = filters["batch_id"][0]
        for name in _PAGING:
            if request.query_value(name) is not None:
                params[name] = request.query_value(name)
        return params

    # --- helpers --------------------------------------------------------------------------------

    def _batch(self, batch_id: str) -> BatchRecord:
        """The batch, its idle timeout applied; 404 if unknown."""
        batch = self.store.batch(batch_id)
        if batch is None:
            raise ApiError(404, "NotFound", f"batch {batch_id} not found")
        return batch

    def _job(self, job_id: str) -> JobRecord:
        job = self.store.job(job_id)
        if job is None:
            raise ApiError(404, "NotFound", f"job {job_id} not found")
        return job

    def _check_count(self, batch: str, count: int) -> None:
        """400 if a batch (``batch``: its name in the message) would hold too many jobs."""
        limit = self.config.get("max_jobs_per_batch")
        if count > limit:
            raise invalid(f"the batch {batch} would hold {count} jobs, more than {limit}")

    # --- batches --------------------------------------------------------------------------------

    @route("POST", "/api/v1/batches", "CreateBatch")
    def create_batch(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        body = request.json_object(invalid)
        text = body.get("sequence_builder")
        sequence = None if text is None else checked_sequence(text, "sequence_builder")
        device_type = body.get("device_type")
        if device_type is None and sequence is not None and sequence.device.name in DEVICE_TYPES:
            device_type = sequence.device.name
        if device_type not in DEVICE_TYPES:
            raise invalid(f"unknown device_type {device_type!r}: one of {DEVICE_TYPES}")
        is_open = body.get("open", False)
        if not isinstance(is_open, bool):
            raise invalid("open must be a boolean")
        project_id = body.get("project_id")
        if not isinstance(project_id, str) or not project_id:
            raise invalid("project_id is required")
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise invalid("tags must be a list of strings")
        specs = job_specs(body.get("jobs") or [], text, device_type)
        if not specs and not is_open:
            raise invalid("a batch that is not open needs at least one job")
        self._check_count("to create", len(specs))
        with self.store.lock:
            batch = self.store.new_batch(
                project_id=project_id,
                device_type=device_type,
                sequence_builder=text,
                open=is_open,
                tags=list(tags),
                webhook=body.get("webhook"),
                configuration=body.get("configuration"),
                backend_configuration=body.get("backend_configuration"),
                parent_id=None,
            )
            self.store.add_jobs(batch, specs)
            data = batch.to_json(jobs=True)
        request.params["batch_id"] = batch.id
        return 200, data

    @route("GET", "/api/v2/batches/{batch_id}", "GetBatch")
    def get_batch(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        inline = self.config.get("batch_jobs_inline")
        with self.store.lock:
            return 200, self._batch(request.labels["batch_id"]).to_json(jobs=inline)

    @route("GET", "/api/v1/batches/{batch_id}/status", "GetBatchStatus")
    def get_batch_status(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        with self.store.lock:
            batch = self._batch(request.labels["batch_id"])
            counts = batch.counts()
            return 200, {"id": batch.id, "status": batch.status(), "jobs_count_per_status": counts}

    @route("GET", "/api/v1/batches", "GetBatches")
    def get_batches(self, request: Request) -> Response:
        check_token(request)
        try:
            matches, page = batch_matcher(request.query), page_of(request.query)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        with self.store.lock:
            chosen = [batch for batch in self.store.all_batches() if matches(batch)]
            items, pagination = page.cut(chosen[::-1])  # newest first
            return jsend([b.to_json(jobs=False) for b in items], pagination=pagination)

    @route("PATCH", "/api/v2/batches/{batch_id}/complete", "CloseBatch")
    def close_batch(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        with self.store.lock:
            batch = self._batch(request.labels["batch_id"])
            if batch.open:
                batch.open = False
                batch.touch()
            return 200, batch.to_json(jobs=True)

    @route("PATCH", "/api/v2/batches/{batch_id}/cancel", "CancelBatch")
    def cancel_batch(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        with self.store.lock:
            batch = self._batch(request.labels["batch_id"])
            refused = self.store.cancel_batch(batch)
            if refused is not None:
                raise ApiError(400, "BatchEnded", refused, {"batch_status": batch.status()})
            return 200, batch.to_json(jobs=True)

    @route("PATCH", "/api/v1/batches/cancel", "CancelBatches")
    def cancel_batches(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        ids = request.json_object(invalid).get("batch_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise invalid("batch_ids must be a list of batch ids")
        cancelled, errors = [], {}
        with self.store.lock:
            for batch_id in ids:
                try:
                    batch = self._batch(batch_id)
                except ApiError as exc:
                    errors[batch_id] = exc.message
                    continue
                refused = self.store.cancel_batch(batch)
                if refused is None:
                    cancelled.append(batch.to_json(jobs=True))
                else:
                    errors[batch_id] = refused
        return 200, {"batches": cancelled, "errors": errors}

    @route("PATCH", "/api/v1/batches/{batch_id}/tags", "SetBatchTags")
    def set_batch_tags(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        tags = request.body
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise invalid("the body must be a list of tags (strings)")
        with self.store.lock:
            batch = self._batch(request.labels["batch_id"])
            batch.tags = list(tags)
            batch.touch()
            return 200, batch.to_json(jobs=True)

    @route("POST", "/api/v2/batches/{batch_id}/jobs", "AddJobs")
    def add_jobs(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        batch_id = request.labels["batch_id"]
        with self.store.lock:
            batch = self._batch(batch_id)
            text, device_type = batch.sequence_builder, batch.device_type
        specs = job_specs(request.body, text, device_type)  # Pulser, outside the lock
        with self.store.lock:
            batch = self._batch(batch_id)
            status = batch.status()
            if not batch.open:
                raise ApiError(
                    400,
                    "BatchNotOpen",
                    f"batch {batch_id} is {status} and not open: it accepts no new jobs",
                    {"batch_id": batch_id, "batch_status": status, "open": False},
                )
            self._check_count(batch_id, len(batch.jobs) + len(specs))
            self.store.add_jobs(batch, specs)
            return 200, batch.to_json(jobs=True)

    @route("POST", "/api/v1/batches/{batch_id}/rebatch", "Rebatch")
    def rebatch(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        try:
            matches = job_matcher(request.query)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        with self.store.lock:
            old = self._batch(request.labels["batch_id"])
            chosen = [job for job in old.jobs if matches(job)]
            if not chosen:
                raise ApiError(
                    400, "NoJobSelected", f"no job of batch {old.id} matches the filters"
                )
            batch = self.store.new_batch(
                project_id=old.project_id,
                device_type=old.device_type,
                sequence_builder=old.sequence_builder,
                open=False,
                tags=list(old.tags),
                webhook=old.webhook,
                configuration=old.configuration,
                backend_configuration=old.backend_configuration,
                parent_id=old.id,
            )
            specs = [
                {"runs": j.runs, "variables": j.variables, "sequence": j.sequence} for j in chosen
            ]
            self.store.add_jobs(batch, specs, [job.id for job in chosen])
            data = batch.to_json(jobs=True)
        request.params["new_batch_id"] = batch.id
        return 200, data

    @route("PATCH", "/api/v2/batches/{batch_id}/cancel/jobs", "CancelJobs")
    def cancel_jobs(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        try:
            matches = job_matcher(request.query)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        cancelled, errors = [], {}
        with self.store.lock:
            batch = self._batch(request.labels["batch_id"])
            for job in batch.jobs:
                if not matches(job):
                    continue
                if job.final and job.status != "CANCELED":
                    errors[job.id] = f"job {job.id} is {job.status}: it cannot be cancelled"
                    continue
                self.store.cancel_job(job)
                cancelled.append(job.to_json())
        return 200, {"jobs": cancelled, "errors": errors}

    # --- jobs -------------------------------------------------------------------------------

    @route("GET", "/api/v2/jobs", "GetJobs")
    def get_jobs(self, request: Request) -> Response:
        check_token(request)
        try:
            matches, page = job_matcher(request.query), page_of(request.query)
            descending = newest_first(request.query)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        with self.store.lock:
            chosen = [job for job in self.store.all_jobs() if matches(job)]
            items, pagination = page.cut(chosen[::-1] if descending else chosen)
            return jsend([job.to_json() for job in items], pagination=pagination)

    @route("GET", "/api/v2/jobs/{job_id}", "GetJob")
    def get_job(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        with self.store.lock:
            return 200, self._job(request.labels["job_id"]).to_json(sequence=True)

    @route("GET", "/api/v1/jobs/{job_id}/status", "GetJobStatus")
    def get_job_status(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        with self.store.lock:
            job = self._job(request.labels["job_id"])
            return 200, {"id": job.id, "status": job.status}

    @route("PATCH", "/api/v2/jobs/{job_id}/cancel", "CancelJob")
    def cancel_job(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        with self.store.lock:
            job = self._job(request.labels["job_id"])
            if job.final and job.status != "CANCELED":
                raise ApiError(
                    400,
                    "JobEnded",
                    f"job {job.id} is {job.status}: it cannot be cancelled",
                    {"job_status": job.status},
                )
            self.store.cancel_job(job)
            return 200, job.to_json()

    @route("GET", "/api/v1/jobs/{job_id}/results_link", "GetResultsLink")
    def results_link(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        with self.store.lock:
            job = self._job(request.labels["job_id"])
            ready = job.status == "DONE" and job.result is not None
        return 200, {"results_link": f"{self.url}/results/{job.id}" if ready else None}

    @route("GET", "/results/{job_id}", "DownloadResults")
    def download_results(self, request: Request) -> Response:
        with self.store.lock:
            job = self.store.job(request.labels["job_id"])
            result = None if job is None else job.result
        if result is None:
            raise ApiError(404, "NoSuchKey", "no result at this link")
        return Response.json(200, result)

    # --- devices ------------------------------------------------------------------------------

    @route("GET", "/api/v1/devices/specs", "GetDeviceSpecs")
    def get_device_specs(self, request: Request) -> tuple[int, Any]:
        check_token(request)
        return 200, dict(device_specs())

    @route("GET", "/api/v1/devices/public-specs", "GetDeviceSpecs")
    def get_public_device_specs(self, request: Request) -> tuple[int, Any]:
        return 200, [{"device_type": t, "specs": s} for t, s in device_specs().items()]

    # --- inspection (tests in this process) -----------------------------------------------

    def batches(self, tag: str | None = None) -> list[BatchSnapshot]:
        """Every batch (or those tagged ``tag``), oldest first, as it is now."""
        return self.store.snapshots(tag)

    def batches_tagged(self, tag: str) -> list[BatchSnapshot]:
        return self.batches(tag)

    def batch(self, batch_id: str) -> BatchSnapshot:
        """One batch as it is now; KeyError if unknown."""
        with self.store.lock:
            batch = self.store.batch(batch_id)
            if batch is None:
                raise KeyError(batch_id)
            return batch.snapshot()

    def job(self, job_id: str) -> JobSnapshot:
        """One job as it is now; KeyError if unknown."""
        with self.store.lock:
            job = self.store.job(job_id)
            if job is None:
                raise KeyError(job_id)
            return job.snapshot()

    def wait_for_batch(
        self, batch_id: str, statuses: Iterable[str] = BATCH_FINAL, *, timeout: float = 30.0
    ) -> BatchSnapshot:
        """Block until the batch's status is one of ``statuses`` (default: ended), polling
        every 20 ms; TimeoutError after ``timeout`` seconds."""
        wanted = frozenset(statuses)
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.batch(batch_id)
            if snapshot.status in wanted:
                return snapshot
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} still {snapshot.status} after {timeout} s")
            time.sleep(0.02)

    def calls_tagged(self, tag: str, operation: str = "CreateBatch") -> list[Call]:
        """The calls of ``operation`` (CreateBatch or SetBatchTags) that sent ``tag``."""
        return self.calls.filter(
            lambda call: call.operation == operation and tag in call.params.get("tags", [])
        )

    @admin_route("GET", "/batches")
    def _admin_batches(self, request: Request) -> tuple[int, Any]:
        """``GET /_emulator/batches?tag=``: the snapshots as JSON, oldest first."""
        return 200, {"batches": [b.to_json() for b in self.batches(request.query_value("tag"))]}
