"""Pasqal Cloud, through the ``pasqal-cloud`` SDK (and Pulser for the sequences).

The service has no idempotency key and assigns every id itself; its SDK retries writes
(a 502 after the service committed a batch makes one ``create_batch`` call create two).
Exactly once holds anyway:

- every request goes through ``OnceClient``, an SDK client class that sends it once: no
  POST or PATCH is ever repeated behind qplan's back (reads are retried by the executor,
  at its next poll);
- a sweep's dispatch is one batch: the sequence once, one job per point with its
  ``variables``, ``runs`` = shots, created closed with the dispatch's key as a tag;
- a lost or failed answer to a write is ambiguous: ``lookup`` searches batches by that
  tag and adopts what it finds; a dispatch is resent only when the search proves it absent;
- a session is an open batch (``PasqalOpenBatches``), tagged with the session's key; its
  members are added with ``add_jobs``, each built to its own sequence. Jobs carry no tag,
  so before each add the batch's tags get a journal entry ``KEY@N+M``: the add of M jobs
  under KEY found the batch holding N. A lookup of KEY finds the batch by that tag and its
  jobs N..N+M-1 if they exist; adds to one batch go one at a time;
- a retry whose failed points all come from one batch is a ``rebatch`` of those jobs (the
  parent gets the journal entry ``KEY@rebatch`` first; the new batch is tagged KEY);
- an add refused because the open batch has ended (timed out when left idle, closed or
  cancelled from outside) is ``SessionEnded``: its members go into a new open batch.

A member's job id is ``BATCH/JOB``: the batch is known without a call (cancelling a whole
sweep cancels its batch). Observation reads the jobs in flight 100 per ``get_jobs`` call,
filtered by id; results are the job's counter, with the full result kept as raw.

The client class and the credentials (from the environment, never the manifest) are in
``pasqal_client``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qplan.jobstatus import JobStatus, from_provider
from qplan.manifest.models import PasqalProvider as PasqalConfig
from qplan.providers.base import (
    AmbiguousError,
    Capabilities,
    Dispatch,
    Observation,
    PermanentError,
    Provider,
    ProviderError,
    Receipt,
    SessionEnded,
    SessionSupport,
    TransientError,
)
from qplan.providers.pasqal_client import (
    PASSWORD,
    TOKEN,
    USERNAME,
    HttpFailure,
    NoAnswer,
    make_sdk,
    redact,
)

__all__ = [
    "BATCH_LIMIT",
    "ENDED",
    "PasqalCloudProvider",
    "PasqalOpenBatches",
    "job_variables",
]

# jobs per batch: the service publishes no limit; a sweep larger than this goes as several
BATCH_LIMIT = 1000
PAGE = 100  # the API's largest page
# batch statuses after which it takes no job
ENDED = frozenset({"DONE", "ERROR", "CANCELED", "TIMED_OUT"})


def job_variables(inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """A point's values as a Pasqal job's ``variables`` (a mappable register's trap
    mapping under ``qubits``); None for a sequence without any."""
    if not inputs:
        return None
    out: dict[str, Any] = {}
    for name, value in sorted(inputs.items()):
        if name == "qubits" and isinstance(value, Mapping):
            out[name] = {str(q): int(t) for q, t in value.items()}
        elif isinstance(value, list | tuple):
            out[name] = [float(v) if isinstance(v, float) else v for v in value]
        else:
            out[name] = value
    return out


def _built(program: str, inputs: Mapping[str, Any]) -> str:
    """The sequence built with a point's values: a job of an open batch carries its own
    (a job may not carry both a sequence and variables)."""
    import warnings

    from pulser import Sequence

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequence = Sequence.from_abstract_repr(program)
        built = sequence.build(**dict(inputs)) if inputs else sequence
        return str(built.to_abstract_repr())


def _when(stamp: Any) -> float | None:
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _split(job_id: str) -> tuple[str, str]:
    batch, _, job = job_id.partition("/")
    return (batch, job) if job else ("", batch)


def _journal(key: str, tag: str) -> tuple[int, int] | None:
    """``(N, M)`` of an add journal entry ``KEY@N+M``."""
    prefix = key + "@"
    if not tag.startswith(prefix):
        return None
    held, plus, added = tag[len(prefix) :].partition("+")
    if not plus or not held.isdigit() or not added.isdigit():
        return None
    return int(held), int(added)


class PasqalCloudProvider(Provider):
    def __init__(
        self,
        name: str,
        config: PasqalConfig,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.sdk = make_sdk(config, environ)
        self.capabilities = Capabilities(
            submit_rate=10.0,
            submit_burst=20,
            submit_concurrency=16,  # results are read as many at once (two calls each)
            max_in_flight=500,  # batches
            max_observe=10_000,
            poll_interval=2.0,
            durable_jobs=True,
            idempotent_submit=False,
            batch_by_default=True,
        )
        self.open_batches = PasqalOpenBatches(self)
        self.sessions = self.open_batches
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="qplan-pasqal")
        self._lock = threading.Lock()
        self._batch_locks: dict[str, threading.Lock] = {}
        self._sizes: dict[str, int] = {}  # batch id -> jobs it holds, as last seen

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def batch_limit(self, device: str, format: str, shots: int) -> int:
        return BATCH_LIMIT

    # --- errors -----------------------------------------------------------------------------

    def map_error(self, exc: BaseException, where: str = "", *, write: bool) -> ProviderError:
        """An SDK or HTTP error as one of the protocol's three: throttling and an
        unreachable service are transient; a 5xx or a lost answer to a write is ambiguous
        (to a read, transient); authentication, an unknown device and validation are
        permanent, with the service's message."""
        at = f"{where}: " if where else ""
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, HttpFailure):
            message = f"{at}Pasqal Cloud {exc.status}: {exc.message}"
            if exc.status in (408, 425, 429):
                return TransientError(message)
            if exc.status >= 500:
                return AmbiguousError(message) if write else TransientError(message)
            if exc.status in (401, 403):
                return PermanentError(f"{message} (check {TOKEN} or {USERNAME}/{PASSWORD})")
            return PermanentError(message)
        if isinstance(exc, NoAnswer):
            message = f"{at}Pasqal Cloud: {exc}"
            return AmbiguousError(message) if write and exc.sent else TransientError(message)
        message = f"{at}{type(exc).__name__}: {redact(str(exc))}"
        return AmbiguousError(message) if write else TransientError(message)

    def _call(self, fn: Callable[..., Any], *args: Any, write: bool, where: str = "") -> Any:
        try:
            return fn(*args)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # the SDK's own errors derive from BaseException
            raise self.map_error(exc, where, write=write) from None

    # --- submit -----------------------------------------------------------------------------

    def submit(self, dispatch: Dispatch) -> Receipt:
        if dispatch.format != "pulser":
            raise PermanentError(f"Pasqal Cloud runs Pulser sequences, not {dispatch.format}")
        program = (
            dispatch.program.decode() if isinstance(dispatch.program, bytes) else dispatch.program
        )
        if dispatch.group:
            return self._add(dispatch, program)
        found = self._find(dispatch.key, None)  # sent before: the same batch, never another
        if found is not None:
            return found
        parent = _one_parent(dispatch)
        if parent is not None:
            return self._rebatch(dispatch, *parent)
        return self._create(dispatch, program)

    def _tags(self, dispatch: Dispatch) -> list[str]:
        return [dispatch.key, f"qplan-stack={dispatch.stack}"]

    def _create(self, dispatch: Dispatch, program: str) -> Receipt:
        jobs = [
            {"runs": dispatch.shots, "variables": job_variables(m.inputs)} for m in dispatch.members
        ]
        for job in jobs:
            if job["variables"] is None:
                del job["variables"]
        tags = self._tags(dispatch)
        batch = self._call(
            lambda: self.sdk.create_batch(
                program, jobs, open=False, device_type=dispatch.device, tags=tags
            ),
            write=True,
        )
        ids = [job.id for job in batch.ordered_jobs]
        if len(ids) != len(dispatch.members):  # an answer without its jobs: read them
            ids = [job.id for job in self._batch(batch.id, write=True).ordered_jobs]
        if len(ids) != len(dispatch.members):
            raise AmbiguousError(
                f"batch {batch.id} holds {len(ids)} jobs, {len(dispatch.members)} were sent"
            )
        self._sizes[batch.id] = len(ids)
        return Receipt(batch.id, tuple(f"{batch.id}/{job}" for job in ids))

    def _batch(self, batch_id: str, *, write: bool = False) -> Any:
        return self._call(self.sdk.get_batch, batch_id, write=write, where=f"batch {batch_id}")

    def _tag(self, batch_id: str, tags: list[str], *, write: bool) -> None:
        self._call(self.sdk.set_batch_tags, batch_id, tags, write=write)

    def _locked(self, batch_id: str) -> threading.Lock:
        with self._lock:
            return self._batch_locks.setdefault(batch_id, threading.Lock())

    def _add(self, dispatch: Dispatch, program: str) -> Receipt:
        """Members of a session, added to its open batch, after the journal entry."""
        batch_id = dispatch.group or ""
        try:
            jobs = [
                {"runs": dispatch.shots, "serialized_sequence": _built(program, m.inputs)}
                for m in dispatch.members
            ]
        except Exception as exc:
            raise PermanentError(f"the sequence cannot be built: {exc}") from None
        with self._locked(batch_id):
            batch = self._batch(batch_id)
            ordered = [job.id for job in batch.ordered_jobs]
            for tag in batch.tags or []:  # added before under this key: those jobs
                entry_of = _journal(dispatch.key, tag)
                if entry_of is not None and len(ordered) >= sum(entry_of):
                    mine = ordered[entry_of[0] : sum(entry_of)]
                    return Receipt(batch_id, tuple(f"{batch_id}/{job}" for job in mine))
            if not batch.open or batch.status in ENDED:
                raise SessionEnded(
                    f"open batch {batch_id} has ended ({batch.status})",
                    str(batch.status),
                )
            held = len(ordered)
            entry = f"{dispatch.key}@{held}+{len(jobs)}"
            tags = [t for t in batch.tags or [] if not _of_key(t, dispatch.key)]
            # the key (found by a tag search) and the entry (where its jobs go); the write
            # only replaces tags: safe to repeat, and nothing is added yet
            try:
                self._tag(batch_id, [*tags, dispatch.key, entry], write=False)
            except ProviderError as exc:
                raise TransientError(str(exc)) from None
            try:
                after = self.sdk.add_jobs(batch_id, jobs)
            except (KeyboardInterrupt, SystemExit, GeneratorExit):
                raise
            except BaseException as exc:
                raise self._refused_add(exc, batch_id) from None
            ordered = [job.id for job in after.ordered_jobs]
            if len(ordered) < held + len(jobs):
                ordered = [job.id for job in self._batch(batch_id, write=True).ordered_jobs]
            mine = ordered[held : held + len(jobs)]
            if len(mine) != len(jobs):
                raise AmbiguousError(f"open batch {batch_id}: the added jobs are not listed")
            self._sizes[batch_id] = len(ordered)
        return Receipt(batch_id, tuple(f"{batch_id}/{job}" for job in mine))

    def _refused_add(self, exc: BaseException, batch_id: str) -> ProviderError:
        """An add the open batch refused because it has ended is ``SessionEnded``."""
        if isinstance(exc, HttpFailure) and 400 <= exc.status < 500 and exc.status != 429:
            try:
                batch = self._batch(batch_id)
            except ProviderError:
                return TransientError(f"open batch {batch_id} refused jobs: {exc.message}")
            if not batch.open or batch.status in ENDED:
                return SessionEnded(
                    f"open batch {batch_id} has ended ({batch.status}): {exc.message}",
                    str(batch.status),
                )
        return self.map_error(exc, f"open batch {batch_id}", write=True)

    def _rebatch(self, dispatch: Dispatch, parent: str, jobs: list[str]) -> Receipt:
        """The failed points of one closed batch, again, as ``rebatch`` of those jobs."""
        from pasqal_cloud.utils.filters import RebatchFilters

        with self._locked(parent):
            batch = self._batch(parent)
            tags = [t for t in batch.tags or [] if not _of_key(t, dispatch.key)]
            try:
                self._tag(parent, [*tags, dispatch.key, f"{dispatch.key}@rebatch"], write=False)
            except ProviderError as exc:
                raise TransientError(str(exc)) from None
            child = self._call(
                self.sdk.rebatch, parent, RebatchFilters(id=jobs), write=True, where=parent
            )
        receipt = self._adopt_child(child, parent, jobs)
        if receipt is None:
            raise AmbiguousError(f"rebatch of {parent}: the new batch lacks some jobs")
        # found by its own tag from now on; the parent's entry finds it meanwhile
        with contextlib.suppress(ProviderError):
            self._tag(child.id, self._tags(dispatch), write=False)
        return receipt

    def _adopt_child(self, child: Any, parent: str, jobs: Sequence[str]) -> Receipt | None:
        """The receipt of a rebatch child: its jobs in the order of ``jobs`` (the parent
        jobs retried), matched by their ``parent_id``."""
        ordered = list(child.ordered_jobs) or list(self._batch(child.id).ordered_jobs)
        by_parent = {str(job.parent_id): job.id for job in ordered if job.parent_id}
        if any(job not in by_parent for job in jobs):
            return None
        self._sizes[child.id] = len(ordered)
        return Receipt(child.id, tuple(f"{child.id}/{by_parent[job]}" for job in jobs))

    # --- lookup -----------------------------------------------------------------------------

    def _tagged(self, tag: str) -> list[Any]:
        from pasqal_cloud.utils.filters import BatchFilters, PaginationParams

        found: list[Any] = []
        offset = 0
        while True:
            page = self._call(
                self.sdk.get_batches,
                BatchFilters(tag=tag),
                PaginationParams(offset=offset, limit=PAGE),
                write=False,
            )
            found.extend(page.results)
            offset += len(page.results)
            if not page.results or offset >= page.total:
                return found

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        def one(key: str) -> tuple[str, Receipt | None]:
            return key, self._find(key, since)

        return {k: r for k, r in self._pool.map(one, keys) if r is not None}

    def _find(self, key: str, since: float | None) -> Receipt | None:
        """What the service holds under ``key``: a batch made with that tag (its jobs), the
        jobs an add journalled under it, or a rebatch child."""
        batches = sorted(self._tagged(key), key=lambda b: str(b.created_at))
        made = [b for b in batches if not any(t.startswith(key + "@") for t in b.tags or [])]
        if made:
            batch = self._batch(made[0].id)
            if batch.parent_id and batch.tags and key in batch.tags:
                parent = self._batch(batch.parent_id)
                if f"{key}@rebatch" in (parent.tags or []):  # a rebatch child, tagged
                    return self._child_receipt(batch, parent)
            ids = [job.id for job in batch.ordered_jobs]
            self._sizes[batch.id] = len(ids)
            return Receipt(batch.id, tuple(f"{batch.id}/{job}" for job in ids))
        for listed in batches:
            batch = self._batch(listed.id)
            for tag in batch.tags or []:
                entry = _journal(key, tag)
                if entry is not None:
                    held, added = entry
                    ids = [job.id for job in batch.ordered_jobs]
                    if len(ids) < held + added:
                        return None  # the add never happened
                    self._sizes[batch.id] = len(ids)
                    mine = ids[held : held + added]
                    return Receipt(batch.id, tuple(f"{batch.id}/{job}" for job in mine))
                if tag == f"{key}@rebatch":
                    child = self._child_of(batch, key, since)
                    return None if child is None else self._child_receipt(child, batch, key)
        return None

    def _child_receipt(self, child: Any, parent: Any, key: str | None = None) -> Receipt | None:
        """A rebatch child's jobs, in the order of their parents in the parent batch (the
        order of the retried members); tagged with ``key`` when found without it."""
        order = {job.id: index for index, job in enumerate(parent.ordered_jobs)}
        ordered = list(child.ordered_jobs) or list(self._batch(child.id).ordered_jobs)
        ordered.sort(key=lambda job: order.get(str(job.parent_id), len(order)))
        if key is not None:
            with contextlib.suppress(ProviderError):
                self._tag(child.id, [key, *(child.tags or [])], write=False)
        self._sizes[child.id] = len(ordered)
        return Receipt(child.id, tuple(f"{child.id}/{job.id}" for job in ordered))

    def _child_of(self, parent: Any, key: str, since: float | None) -> Any | None:
        """The rebatch child of ``parent`` made under ``key``, not tagged with it yet: of
        the batches made since ``since`` on its device whose parent it is, the first that
        no other key has claimed (a claimed child carries its key and no journal entry; an
        unclaimed one no tag, or, where the service copies tags, the parent's)."""
        from pasqal_cloud.utils.filters import BatchFilters, PaginationParams

        start = dt.datetime.fromtimestamp((since or 0.0) - 60.0, dt.UTC)
        offset = 0
        while True:
            page = self._call(
                self.sdk.get_batches,
                BatchFilters(device_type=parent.device_type, start_date=start),
                PaginationParams(offset=offset, limit=PAGE),
                write=False,
            )
            for batch in page.results:
                if batch.parent_id == parent.id and _unclaimed(batch.tags or [], key):
                    return self._batch(batch.id)
            offset += len(page.results)
            if not page.results or offset >= page.total:
                return None

    # --- observe, results, cancel ----------------------------------------------------------

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        """The jobs' statuses, 100 per ``get_jobs`` call (filtered by id), 16 at once."""
        from pasqal_cloud.utils.filters import JobFilters, PaginationParams

        by_job = {_split(j)[1]: j for j in job_ids}
        ids = list(by_job)

        def page(chunk: list[str]) -> list[Any]:
            found = self._call(
                self.sdk.get_jobs,
                JobFilters(id=chunk),
                PaginationParams(limit=PAGE),
                write=False,
            )
            return list(found.results)

        chunks = [ids[i : i + PAGE] for i in range(0, len(ids), PAGE)]
        out: dict[str, Observation] = {}
        for jobs in self._pool.map(page, chunks):
            for job in jobs:
                full = by_job.get(str(job.id))
                if full is None:
                    continue
                try:
                    status = from_provider("pasqal", str(job.status))
                except KeyError:
                    continue  # a status this release does not know: asked again next poll
                error = "; ".join(str(e) for e in job.errors or []) or None
                if status is JobStatus.FAILED and error is None:
                    error = f"the job ended {job.status}"
                out[full] = Observation(full, status, error, _when(job.start_timestamp))
        return out

    def result(self, job_id: str) -> dict[str, Any]:
        """The job's counter as counts; its full result (counter, raw, serialised) kept."""
        _, job = _split(job_id)
        full = self._call(self.sdk._client.get_job_results, job, write=False, where=job_id)
        if not full:
            raise TransientError(f"{job_id}: no result yet")
        counter = full.get("counter") if isinstance(full, Mapping) else None
        if not isinstance(counter, Mapping):
            raise PermanentError(f"{job_id}: the result holds no counter")
        counts = {str(k): int(v) for k, v in sorted(counter.items())}
        return {"counts": counts, "raw": json.loads(json.dumps(full, default=str))}

    def cancel(self, job_ids: Sequence[str]) -> None:
        """A whole batch's jobs: the batch is cancelled; some of its jobs: those jobs (one
        call per batch). Already-final jobs are not an error."""
        from pasqal_cloud.utils.filters import CancelJobFilters

        by_batch: dict[str, list[str]] = defaultdict(list)
        for full in job_ids:
            batch, job = _split(full)
            by_batch[batch].append(job)

        def one(item: tuple[str, list[str]]) -> None:
            batch, jobs = item
            size = self._sizes.get(batch)
            if size is None:
                size = len(self._batch(batch).ordered_jobs)
                self._sizes[batch] = size
            try:
                if len(set(jobs)) >= size:
                    self._call(self.sdk.cancel_batch, batch, write=True, where=batch)
                elif len(jobs) == 1:
                    self._call(self.sdk.cancel_job, jobs[0], write=True, where=jobs[0])
                else:
                    filters = CancelJobFilters(id=jobs)
                    self._call(self.sdk.cancel_jobs, batch, filters, write=True, where=batch)
            except PermanentError:
                pass  # final already (the service refuses to cancel those)

        for _ in self._pool.map(one, list(by_batch.items())):
            pass

    def device_specs(self) -> dict[str, str]:
        specs = self._call(self.sdk.get_device_specs_dict, write=False)
        return {str(k): str(v) for k, v in dict(specs).items()}


def _of_key(tag: str, key: str) -> bool:
    """``tag`` is ``key`` or one of its journal entries."""
    return tag == key or tag.startswith(key + "@")


def _unclaimed(tags: Sequence[str], key: str) -> bool:
    """A rebatch child's tags: not yet tagged by the key it was made under (``key``'s
    journal entry copied from its parent, or no tag of qplan's)."""
    own = [t for t in tags if not t.startswith(("qplan-stack=", "qplan-session="))]
    return not own or f"{key}@rebatch" in own


def _one_parent(dispatch: Dispatch) -> tuple[str, list[str]] | None:
    """``(batch, jobs)`` when every member retries a job of one same batch."""
    previous = [m.previous for m in dispatch.members]
    if not previous or any(p is None for p in previous):
        return None
    parents = {_split(p or "")[0] for p in previous}
    if len(parents) != 1 or "" in parents:
        return None
    return parents.pop(), [_split(p or "")[1] for p in previous]


class PasqalOpenBatches(SessionSupport):
    """Sessions as open batches: opened empty (no sequence: every member carries its own),
    tagged with the session's key, closed when the members are done. The failure policy
    is qplan's (the service does not abort a batch when a job fails)."""

    enforces_policy = False

    def __init__(self, provider: PasqalCloudProvider) -> None:
        self.provider = provider

    def open(self, key: str, name: str, device: str, abort_on_failure: bool) -> str:
        found = self.find([key])
        if key in found:
            return found[key]
        tags = [key, f"qplan-session={name}"]
        batch = self.provider._call(
            lambda: self.provider.sdk.create_batch(
                None, [], open=True, device_type=device, tags=tags
            ),
            write=True,
            where=f"session {name}",
        )
        self.provider._sizes[batch.id] = 0
        return str(batch.id)

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in keys:
            made = [
                b
                for b in self.provider._tagged(key)
                if not any(t.startswith(key + "@") for t in b.tags or [])
            ]
            if made:
                out[key] = str(sorted(made, key=lambda b: str(b.created_at))[0].id)
        return out

    def close(self, session_id: str) -> str | None:
        batch = self.provider._call(
            self.provider.sdk.close_batch, session_id, write=True, where=session_id
        )
        return str(batch.status)

    def abort(self, session_id: str) -> None:
        with contextlib.suppress(PermanentError):  # ended already
            self.provider._call(
                self.provider.sdk.cancel_batch, session_id, write=True, where=session_id
            )

    def statuses(self, session_ids: Sequence[str]) -> dict[str, str]:
        from pasqal_cloud.utils.filters import BatchFilters, PaginationParams

        out: dict[str, str] = {}
        ids = [i for i in session_ids if i]
        for start in range(0, len(ids), PAGE):
            page = self.provider._call(
                self.provider.sdk.get_batches,
                BatchFilters(id=ids[start : start + PAGE]),
                PaginationParams(limit=PAGE),
                write=False,
            )
            out.update({str(b.id): str(b.status) for b in page.results})
        return out
