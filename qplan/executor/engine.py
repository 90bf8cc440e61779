"""The executor: a level-triggered reconcile loop that makes the providers match the plan.

Each pass reads what is pending, decides, acts, and commits every transition before the
next step. The exactly-once protocol:

1. an intent (``submitting``, with a deterministic idempotency key) is committed before
   any provider call;
2. the provider is called with that key;
3. the provider's job id is committed.

On start, every ``submitting`` row is looked up at its provider by key: found, it is
adopted; absent, it is submitted again with the same key. An ambiguous error leaves the
intent ``submitting`` to be looked up, never resent blindly. A job whose result was
recorded is never submitted again for the same fingerprint.

Failures follow the policy: retry with exponential backoff and jitter while attempts are
left; then ``on_failure`` (fail: nothing new is started; continue: go on), session
abort/continue, ``fail_fast``; dependents of a failed job are skipped with the reason.
"""

from __future__ import annotations

import json
import random
import signal
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from qplan.executor.clock import Clock, SystemClock
from qplan.executor.events import Event, EventSink, NullSink
from qplan.executor.ratelimit import TokenBucket
from qplan.jobstatus import JobStatus
from qplan.manifest import Job, Stack
from qplan.planner import Action, JobFingerprinter, Plan, batch_key, idempotency_key
from qplan.planner.plan import session_address, session_fingerprint
from qplan.providers import (
    AmbiguousError,
    PermanentError,
    Provider,
    ProviderError,
    Submission,
    TransientError,
    member_job_id,
    split_job_id,
)
from qplan.state import Row, StateStore, Transition, content_hash

__all__ = ["ApplyReport", "Executor", "Options", "find_jobs"]

S = JobStatus
_T = TypeVar("_T")
_I = TypeVar("_I")
UNREACHABLE_GRACE = 10.0  # seconds a provider may fail before qplan says so
UNREACHABLE_NOTICE = 60.0  # seconds between two notices that a provider keeps failing
PROGRESS_EVERY = 10.0  # seconds between two progress events, while the counts change
PROGRESS_ANYWAY = 300.0  # seconds after which a progress event comes even if nothing moved
INTERRUPTED = "interrupted: runs again on the next apply"
_SUBMIT_ACTIONS = frozenset({Action.CREATE, Action.RETRY, Action.REPLACE})


@dataclass(frozen=True)
class Options:
    """``parallelism``: provider jobs in flight at once, over all providers (a native batch
    counts once); None: each provider's own ``max_in_flight``. ``poll_interval``:
    seconds between observations of in-flight jobs (default: the providers' own).
    ``no_wait``: submit what is ready and
    return. ``fail_fast``: stop at the first failure without waiting for in-flight jobs.
    ``observe_only``: submit nothing; only look up pending intents and observe in-flight
    jobs (``qplan status --refresh``)."""

    parallelism: int | None = None
    poll_interval: float | None = None
    no_wait: bool = False
    fail_fast: bool = False
    seed: int | None = None
    handle_sigint: bool = True
    observe_only: bool = False


PLANNED_WORDS = {
    Action.CREATE: "created",
    Action.RETRY: "retried",
    Action.REPLACE: "replaced",
    Action.CANCEL: "cancelled",
    Action.FORGET: "forgotten",
    Action.WAIT: "in flight",
}
"""What the summary of an apply calls the instances of each planned action it carried out:
the plan's own words, so that plan and apply count alike."""
OUTCOMES = ("succeeded", "failed", "skipped")


@dataclass
class ApplyReport:
    """``counts``: the planned actions carried out, in the plan's words (``created``,
    ``retried``, ``replaced``, ``cancelled``, ``forgotten``, ``in flight``), then the
    outcomes (``succeeded``, ``failed``, ``skipped``) and ``attempts retried`` (failed
    attempts run again under the retry policy). ``ok``: not interrupted, not halted, and
    no instance ended failed (whatever ``on_failure`` says: ``continue`` decides whether
    other work goes on, not whether the apply succeeded)."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    halted: str = ""
    pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.interrupted and not self.halted and not self.failures


@dataclass
class _Work:
    """One job instance this apply looks after."""

    address: str
    job: Job
    point: Mapping[str, Any]
    fingerprint: str
    action: Action
    row: Row | None
    planned: Action = Action.NOOP  # what the plan said; ``action`` moves on as work is done
    carried_out: bool = False  # this apply sent (or resolved) an attempt the plan asked for
    attempt: int = 0
    key: str = ""
    job_id: str | None = None
    status: JobStatus | None = None
    since: float = 0.0
    started_at: float | None = None  # when the provider said the current run started
    not_before: float = 0.0
    needs_submit: bool = False
    needs_lookup: bool = False
    timed_out: bool = False
    cancel_reason: str = ""
    failed: bool = False
    skipped: str = ""
    stopped: bool = False  # cancelled by an interrupt; the next apply runs it again

    @property
    def batch(self) -> tuple[str, int | None]:
        """(the key its provider job was submitted under, its index in a native batch)."""
        return split_job_id(self.key)

    @property
    def final(self) -> bool:
        return self.failed or bool(self.skipped) or self.stopped or self.status is S.SUCCEEDED

    @property
    def in_flight(self) -> bool:
        return self.job_id is not None and self.status is not None and self.status.in_flight


@dataclass
class _Session:
    name: str
    target: str
    abort: bool
    idle_timeout: float
    provider: str
    device: str
    row: Row | None
    fingerprint: str
    attempt: int = 0
    session_id: str | None = None
    opened: bool = False
    closed: bool = False
    last_used: float = 0.0
    failures: int = 0
    aborted: bool = False


class Executor:
    def __init__(
        self,
        stack: Stack,
        store: StateStore,
        providers: Mapping[str, Provider],
        plan: Plan,
        options: Options | None = None,
        *,
        clock: Clock | None = None,
        sink: EventSink | None = None,
    ) -> None:
        self.stack = stack
        self.store = store
        self.providers = providers
        self.plan = plan
        self.options = options or Options()
        self.clock = clock or SystemClock()
        self.sink = sink or NullSink()
        self.rng = random.Random(self.options.seed)
        self.report = ApplyReport()
        self.buckets = {
            name: TokenBucket(p.capabilities.submit_rate, p.capabilities.submit_burst, self.clock)
            for name, p in providers.items()
        }
        self.halt = ""
        self._interrupt = threading.Event()
        self._jitter = self.rng.random()
        self._limits: dict[str, int] = {}
        self._next_observation = float("-inf")
        self._starved: set[str] = set()  # providers whose rate limit held back ready work
        self._progress_at = self.clock.now()
        self._progress_counts: Counter[str] = Counter()
        self._down: dict[str, tuple[float, float]] = {}  # provider -> (failing since, said at)
        intervals = [p.capabilities.poll_interval for p in providers.values()] or [1.0]
        self.poll = self.options.poll_interval or min(intervals)

    # --- setup ------------------------------------------------------------------------------

    def _emit(self, kind: str, job: str = "", address: str = "", detail: str = "") -> None:
        self.sink.emit(Event(kind, self.clock.now(), job, address, detail))

    def _build(self) -> tuple[list[_Work], list[Row], dict[str, _Session]]:
        rows = {row.address: row for row in self.store.rows(self.stack.name)}
        actions: dict[str, Action] = {}
        gone: list[Row] = []
        for resource in self.plan.resources:
            for address, action, _ in resource.items():
                actions[address] = action
                if resource.kind == "gone" and address in rows:
                    gone.append(rows[address])
        works: list[_Work] = []
        for job in self.stack.jobs.values():
            fingerprint = JobFingerprinter(job)
            for instance in job.instances():
                action = actions.get(instance.address, Action.CREATE)
                row = rows.get(instance.address)
                work = _Work(
                    instance.address,
                    job,
                    instance.point,
                    fingerprint(instance.address),
                    action,
                    row,
                    planned=action,
                )
                if row is not None:
                    work.attempt, work.key, work.job_id = (
                        row.attempt,
                        row.idempotency_key or "",
                        row.provider_job_id,
                    )
                    work.status = row.status
                    work.since = row.updated_at
                if action in _SUBMIT_ACTIONS:
                    # a new attempt: what the row says is history (a replaced row's old run
                    # is cancelled first if in flight; see _replace_in_flight)
                    work.needs_submit, work.status, work.job_id = True, None, None
                elif action is Action.WAIT and row is not None and row.status is S.SUBMITTING:
                    work.needs_lookup = True
                elif action is Action.NOOP and row is not None and row.status is S.FAILED:
                    work.failed = True
                works.append(work)
        sessions: dict[str, _Session] = {}
        for name, spec in self.stack.sessions.items():
            provider, _, device = spec.target.partition("/")
            address = session_address(name)
            sessions[name] = _Session(
                name,
                spec.target,
                spec.on_job_failure == "abort",
                spec.idle_timeout,
                provider,
                device,
                rows.get(address),
                session_fingerprint(spec.target, spec.on_job_failure),
            )
        return works, gone, sessions

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> ApplyReport:
        works, gone, sessions = self._build()
        self.works = works
        self.sessions = sessions
        by_job: dict[str, list[_Work]] = defaultdict(list)
        for work in works:
            by_job[work.job.name].append(work)
        self.by_job = by_job
        with self._sigint():
            try:
                self._recover(works)
                self._retire(gone)
                self._replace_in_flight(works)
                self._loop(works)
                if self._interrupt.is_set() or (self.halt and self.options.fail_fast):
                    self._settle(works)
            except KeyboardInterrupt:  # a second Ctrl-C: stop at once
                self._interrupt.set()
            if self._interrupt.is_set():
                self.report.interrupted = True
                self._emit("interrupted", detail="run `qplan apply` again to resume")
        self._finish(works)
        return self.report

    @contextmanager
    def _sigint(self) -> Iterator[None]:
        """The first Ctrl-C stops submitting at the next safe point; a second one aborts."""
        if (
            not self.options.handle_sigint
            or threading.current_thread() is not threading.main_thread()
        ):
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self._interrupt.is_set():
                raise KeyboardInterrupt
            self._interrupt.set()
            self._emit(
                "interrupting",
                detail="stopping: nothing new is submitted; Ctrl-C again to stop at once",
            )

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _loop(self, works: list[_Work]) -> None:
        """Observe in-flight jobs every poll interval; submit ready work as soon as the
        rate limit and the in-flight limits allow, which may be between observations."""
        while not self._interrupt.is_set():
            watched = [w for w in works if w.in_flight or w.needs_lookup]
            if watched and self.clock.now() >= self._next_observation:
                self._observe(watched)
                self._next_observation = self.clock.now() + self.poll
            self._check_timeouts(works)  # after observing: what finished is not timed out
            self._progress(works)
            self._submit_ready(works)
            if self._interrupt.is_set():
                return
            self._close_sessions()
            if self.halt and self.options.fail_fast:
                return
            in_flight = [w for w in works if w.in_flight or w.needs_lookup]
            if (
                self.options.no_wait
                and not self._submittable(works)
                and self._all_durable(in_flight)
            ):
                self.report.pending = sum(1 for w in works if not w.final)
                return
            if all(
                w.final or (self.halt and not w.in_flight and not w.needs_lookup) for w in works
            ):
                return
            self.clock.sleep(self._next_wake(works, bool(in_flight)))

    def _settle(self, works: list[_Work]) -> None:
        """Before an interrupted (or ``--fail-fast``) apply ends: runs that end with this
        process (local ones) are cancelled, and observed until each has ended, so that
        every run that finished is recorded with its result and the others are recorded
        cancelled, to run again next time. Nothing is left in flight that is not. Jobs
        that outlive the process (cloud ones) keep running and are adopted next time. A
        KeyboardInterrupt (a second Ctrl-C) stops the wait at once; the next apply then
        finds the finished runs by key."""
        local = [
            w
            for w in works
            if w.in_flight and not self.providers[w.job.target.provider].capabilities.durable_jobs
        ]
        if not local:
            return
        self._emit("interrupting", detail=f"waiting for {len(local)} local run(s) to end")
        for work in local:
            if not work.cancel_reason and not work.timed_out:
                work.cancel_reason = INTERRUPTED
        for provider_name, group in _group(local, lambda w: w.job.target.provider).items():
            self._cancel(self.providers[provider_name], [w.job_id for w in group if w.job_id])
        while True:
            self._observe(local)
            local = [w for w in local if w.in_flight]
            if not local:
                return
            self.clock.sleep(self.poll)

    def _progress(self, works: list[_Work]) -> None:
        """A ``progress`` event with counts by status, every PROGRESS_EVERY seconds while
        they change, and at least every PROGRESS_ANYWAY seconds: logs show an apply move."""
        now = self.clock.now()
        if now - self._progress_at < PROGRESS_EVERY:
            return
        counts: Counter[str] = Counter()
        for work in works:
            if work.planned is not Action.NOOP:
                counts[_where(work)] += 1
        if counts == self._progress_counts and now - self._progress_at < PROGRESS_ANYWAY:
            return
        self._progress_at, self._progress_counts = now, counts
        self.sink.emit(Event("progress", now, counts=dict(counts)))

    def _all_durable(self, works: list[_Work]) -> bool:
        """Whether every job in ``works`` outlives this process (``--no-wait`` cannot leave
        local runs behind: they would die with it, so it waits for them)."""
        return all(self.providers[w.job.target.provider].capabilities.durable_jobs for w in works)

    def _next_wake(self, works: list[_Work], watching: bool) -> float:
        """Until the next observation, the end of a backoff, or a token for work that
        waits only for one."""
        now = self.clock.now()
        wake = self._next_observation - now if watching else self.poll
        for work in works:
            if work.needs_submit and work.not_before > now:
                wake = min(wake, work.not_before - now)
        for name in self._starved:
            wake = min(wake, self.buckets[name].wait_time())
        return max(wake, 0.001)

    # --- recovery and retirement ----------------------------------------------------------

    def _recover(self, works: list[_Work]) -> None:
        """Pending intents from an earlier run: adopt what the provider has, else resend
        with the same key. Runs of a provider whose jobs end with their process are looked
        up by key too: one that finished is found with its result (the local provider
        keeps results until they are recorded); the others are recorded as cancelled and
        run again as a new attempt."""
        ended = [
            w
            for w in works
            if w.row is not None
            and w.row.status in (S.QUEUED, S.RUNNING, S.CANCELLING)
            and w.action is Action.WAIT
            and not self.providers[w.job.target.provider].capabilities.durable_jobs
        ]
        lost: list[_Work] = []
        for provider_name, group in _group(ended, lambda w: w.job.target.provider).items():
            keys = list(dict.fromkeys(w.batch[0] for w in group if w.key))
            found = self._lookup(self.providers[provider_name], keys) if keys else {}
            kept: list[Transition] = []
            for work in group:
                key, index = work.batch
                job_id = found.get(key)
                if job_id is None:
                    lost.append(work)
                    continue
                work.job_id = job_id if index is None else member_job_id(job_id, index)
                kept.append(
                    Transition(
                        work.address,
                        work.row.status if work.row is not None else S.QUEUED,
                        provider_job_id=work.job_id,
                        detail="found by key: it ended with its qplan process",
                    )
                )
                self._emit("adopted", work.job.name, work.address, work.job_id)
            self.store.apply(self.stack.name, kept)
        if lost:
            self.store.apply(
                self.stack.name,
                [
                    Transition(
                        w.address, S.CANCELLED, detail="lost: the qplan process running it ended"
                    )
                    for w in lost
                ],
            )
            for work in lost:
                work.status, work.job_id, work.needs_submit, work.action = (
                    S.CANCELLED,
                    None,
                    True,
                    Action.RETRY,
                )
        pending = [
            w
            for w in works
            if w.row is not None and w.row.status is S.SUBMITTING and w.action is not Action.REPLACE
        ]
        self._adopt_or_resend(pending)

    def _adopt_or_resend(self, pending: list[_Work]) -> None:
        """Intents whose outcome is unknown (from an earlier run, or an ambiguous error):
        look them up by key; adopt the jobs the provider has, and resend the others under
        the same key."""
        for provider_name, group in _group(pending, lambda w: w.job.target.provider).items():
            provider = self.providers[provider_name]
            keys = list(dict.fromkeys(w.batch[0] for w in group))
            found = self._lookup(provider, keys, min(w.since for w in group))
            adopted: list[Transition] = []
            for work in group:
                work.needs_lookup = False
                key, index = work.batch
                job_id = found.get(key)
                if job_id is not None and index is not None:  # a member of a native batch
                    job_id = member_job_id(job_id, index)
                if job_id is None:  # truly absent: resend, same key
                    work.needs_submit, work.status = True, S.SUBMITTING
                    if work.action is Action.WAIT:
                        work.action = Action.RETRY
                    continue
                work.job_id, work.status, work.needs_submit = job_id, S.QUEUED, False
                adopted.append(
                    Transition(
                        work.address, S.QUEUED, provider_job_id=job_id, detail="adopted by key"
                    )
                )
                self._emit("adopted", work.job.name, work.address, job_id)
            self.store.apply(self.stack.name, adopted)

    def _lookup(
        self, provider: Provider, keys: list[str], since: float | None = None
    ) -> dict[str, str]:
        while True:
            try:
                found = provider.lookup(keys, since)
            except TransientError as exc:
                if self._interrupt.is_set():  # Ctrl-C while the provider is away: stop here
                    raise KeyboardInterrupt from None
                self._unreachable(provider.name, exc)
                self.clock.sleep(self.poll)
                continue
            self._down.pop(provider.name, None)
            return found

    def _unreachable(self, name: str, exc: Exception) -> None:
        """Say, once a minute, that a provider keeps failing: qplan waits through outages
        (its work is safe in the state), but never silently."""
        now = self.clock.now()
        since, said = self._down.get(name, (now, float("-inf")))
        if now - since >= UNREACHABLE_GRACE and now - said >= UNREACHABLE_NOTICE:
            waited = f" for {now - since:.0f}s" if now > since else ""
            self._emit("retrying", detail=f"{name} unreachable{waited}, still trying: {exc}")
            said = now
        self._down[name] = (since, said)

    def _retire(self, gone: list[Row]) -> None:
        """Rows gone from the manifest: cancel what runs, forget what is final."""
        to_forget: list[str] = []
        for provider_name, rows in _group(gone, lambda r: r.provider).items():
            provider = self.providers.get(provider_name)
            running = [r for r in rows if r.status.in_flight]
            if running and provider is not None:
                found = self._find(provider, running) if provider.capabilities.durable_jobs else {}
                ids = self._unshared(list(found.values()))
                if ids:
                    self._cancel(provider, ids)
                asked = {split_job_id(i)[0] for i in ids}
                # cancelling: asked of the provider; cancelled: nothing of its own runs (never
                # sent, ended with its process, or a batch that runs on for its other members)
                marks = {
                    r.address: S.CANCELLING
                    if split_job_id(found.get(r.address, ""))[0] in asked
                    else S.CANCELLED
                    for r in running
                }
                self.store.apply(
                    self.stack.name,
                    [
                        Transition(r.address, marks[r.address], detail="no longer in the manifest")
                        for r in running
                        if r.status is not marks[r.address]
                    ],
                )
            to_forget.extend(r.address for r in rows)
            for row in rows:
                self._emit("forgotten", row.job, row.address, str(row.status))
            self.report.counts["cancelled"] += len(running)
            self.report.counts["forgotten"] += len(rows) - len(running)
        if to_forget:
            self.store.forget(self.stack.name, to_forget, "no longer in the manifest")

    def _replace_in_flight(self, works: list[_Work]) -> None:
        """An instance whose fingerprint changed while in flight: cancel the old run first."""
        old = [
            w
            for w in works
            if w.action is Action.REPLACE and w.row is not None and w.row.status.in_flight
        ]
        for provider_name, group in _group(old, lambda w: w.job.target.provider).items():
            provider = self.providers[provider_name]
            rows = [w.row for w in group if w.row is not None]
            ids = self._unshared(list(self._find(provider, rows).values()))
            if ids:
                self._cancel(provider, ids)
            self.store.apply(
                self.stack.name,
                [
                    Transition(w.address, S.CANCELLED, detail="replaced: its fingerprint changed")
                    for w in group
                ],
            )

    def _find(self, provider: Provider, rows: Sequence[Row]) -> dict[str, str]:
        """Provider ids of in-flight rows by address, pending intents looked up by key."""
        return find_jobs(rows, lambda keys, since: self._lookup(provider, keys, since))

    def _unshared(self, ids: list[str]) -> list[str]:
        """The jobs of ``ids`` that no instance of this apply still waits on: a native batch
        stays when one of its members left the manifest or changed but others did not."""
        kept = {split_job_id(w.job_id)[0] for w in self.works if w.job_id}
        return [i for i in ids if split_job_id(i)[0] not in kept]

    def _cancel(self, provider: Provider, ids: list[str]) -> None:
        try:
            provider.cancel(ids)
        except ProviderError as exc:
            self._emit("failed", detail=f"cancel at {provider.name}: {exc}")

    # --- submission ---------------------------------------------------------------------------

    def _submittable(self, works: list[_Work]) -> bool:
        if self.options.observe_only:
            return False
        return any(
            w.needs_submit and not w.final and self._deps_state(w.job) == "ready" for w in works
        )

    def _deps_state(self, job: Job) -> str:
        """ready, waiting (a dependency still runs) or failed (a dependency failed)."""
        state = "ready"
        for dep in job.after:
            for work in self.by_job.get(dep, ()):
                if work.failed or work.skipped:
                    return "failed"
                if work.status is not S.SUCCEEDED:
                    state = "waiting"
        return state

    def _submit_ready(self, works: list[_Work]) -> None:
        if self.halt or self.options.observe_only:
            return
        now = self.clock.now()
        flying: dict[str, set[str]] = defaultdict(set)
        for w in works:
            if w.in_flight and w.job_id:
                flying[w.job.target.provider].add(split_job_id(w.job_id)[0])
        room = {
            name: p.capabilities.max_in_flight - len(flying[name])
            for name, p in self.providers.items()
        }
        total = sum(len(ids) for ids in flying.values())
        budget = (self.options.parallelism or total + len(works)) - total
        units: list[list[_Work]] = []
        self._starved.clear()
        batched: dict[str, list[_Work]] = defaultdict(list)  # job -> ready instances
        deps_of: dict[str, str] = {}
        fresh: Counter[str] = Counter()  # job -> fresh instances collected for batches
        unknown: set[str] = set()  # jobs whose batch limit the provider could not give
        for work in works:
            if budget <= 0 or self._interrupt.is_set():
                break
            if not work.needs_submit or work.final or work.not_before > now:
                continue
            deps = deps_of.get(work.job.name)
            if deps is None:
                deps = deps_of[work.job.name] = self._deps_state(work.job)
            if deps == "failed":
                self._skip(
                    work, f"skipped: a job it runs after ({', '.join(work.job.after)}) failed"
                )
                continue
            if deps == "waiting":
                continue
            session = self.sessions.get(work.job.session) if work.job.session else None
            if session is not None and session.aborted:
                self._skip(work, f"skipped: session {session.name} was aborted by a failure")
                continue
            provider = work.job.target.provider
            if work.job.name in unknown:
                continue
            limit = self._batch_limit(work.job)
            if limit is None:  # the device's limits are not known yet: next pass
                unknown.add(work.job.name)
                continue
            if room[provider] <= 0:
                continue
            if limit > 1:
                # a batch pending from before goes whole (same members, same key); fresh
                # instances only as many as the batches that may go now can take
                pending = work.status is S.SUBMITTING and work.batch[1] is not None
                if pending or fresh[work.job.name] < limit * min(budget, room[provider]):
                    batched[work.job.name].append(work)
                    fresh[work.job.name] += 0 if pending else 1
                continue
            if not self.buckets[provider].try_take():
                self._starved.add(provider)
                continue
            units.append([work])
            budget -= 1
            room[provider] -= 1
        for name, ready in batched.items():
            provider = self.stack.jobs[name].target.provider
            for unit in self._batches(ready, self._limits[name]):
                if budget <= 0 or room[provider] <= 0:
                    break
                if not self.buckets[provider].try_take():
                    self._starved.add(provider)
                    break
                units.append(unit)
                budget -= 1
                room[provider] -= 1
        if units:
            self._submit(units)

    def _batch_limit(self, job: Job) -> int | None:
        """Instances per provider job for ``job``: 1, or the size of its native batches.
        None while the provider cannot say yet."""
        limit = self._limits.get(job.name)
        if limit is not None:
            return limit
        sweep = job.spec.sweep
        provider = self.providers[job.target.provider]
        mode = sweep.batch if sweep is not None else "per_point"
        if mode == "auto":
            mode = "native" if provider.capabilities.batch_by_default else "per_point"
        limit = 1
        if sweep is not None and mode == "native":
            try:
                limit = provider.batch_limit(job.target.device, job.program.format, job.spec.shots)
            except TransientError as exc:
                self._unreachable(provider.name, exc)
                return None
            except PermanentError as exc:
                self._emit("retrying", job.name, detail=f"one job per point: {exc}")
            else:
                self._down.pop(provider.name, None)
            limit = min(limit, sweep.batch_size or limit)
        self._limits[job.name] = limit
        return limit

    def _batches(self, ready: list[_Work], limit: int) -> list[list[_Work]]:
        """Ready instances of one job, as provider jobs: a native batch pending from before
        (same members: same key, same batch) is sent again as it was; the others are cut
        into batches of at most ``limit``, in sweep order."""
        pending: dict[str, list[_Work]] = defaultdict(list)
        fresh: list[_Work] = []
        units: list[list[_Work]] = []
        for work in ready:
            key, index = work.batch
            if work.status is not S.SUBMITTING or not key:
                fresh.append(work)
            elif index is None:
                units.append([work])  # a single submission pending: same key, alone
            else:
                pending[key].append(work)
        for key, members in pending.items():
            if batch_key(self._own_key(w) for w in members) == key:
                units.append(sorted(members, key=lambda w: w.batch[1] or 0))
            else:  # members left since (looked up: absent): a new batch
                fresh.extend(members)
        units.extend(fresh[i : i + limit] for i in range(0, len(fresh), limit))
        return units

    def _own_key(self, work: _Work) -> str:
        return idempotency_key(self.stack.name, work.address, work.fingerprint, work.attempt)

    def _submit(self, units: list[list[_Work]]) -> None:
        for name in {w.job.session for unit in units for w in unit if w.job.session}:
            self._open_session(self.sessions[name])
        intents = []
        for unit in units:
            sent_before = {w.address: w.key for w in unit if w.status is S.SUBMITTING and w.key}
            for work in unit:
                work.carried_out = True
                if work.address not in sent_before:  # a new attempt
                    work.attempt = (
                        1 if work.action in (Action.CREATE, Action.REPLACE) else work.attempt + 1
                    )
                    work.key = self._own_key(work)
                    work.action = Action.RETRY
            if len(unit) > 1:
                key = batch_key(self._own_key(w) for w in unit)
                if any(w.batch[0] != key for w in unit):  # a new native batch
                    unit.sort(key=lambda w: w.address)
                    for index, work in enumerate(unit):
                        work.key = member_job_id(key, index)
            elif unit[0].batch[1] is not None:  # left alone from a batch: a job of its own
                unit[0].key = self._own_key(unit[0])
            intents += [
                Transition(
                    work.address,
                    S.SUBMITTING,
                    kind="job",
                    job=work.job.name,
                    fingerprint=work.fingerprint,
                    attempt=work.attempt,
                    idempotency_key=work.key,
                    provider=work.job.target.provider,
                    target=str(work.job.target),
                    clear=("provider_job_id", "result_hash", "error"),
                )
                for work in unit
                if sent_before.get(work.address) != work.key
            ]
        # 1. intents committed before any provider call
        self.store.apply(self.stack.name, intents)
        now = self.clock.now()
        accepted: list[Transition] = []
        outcomes = self._send(units)  # 2. with the key
        for unit, outcome in zip(units, outcomes, strict=True):
            for work in unit:
                work.status, work.since, work.timed_out = S.SUBMITTING, now, False
            first = unit[0]
            try:
                job_id = outcome()
            except TransientError as exc:
                delay = self._backoff(first, 1)
                for work in unit:
                    work.not_before = now + delay
                    self._emit("retrying", work.job.name, work.address, f"provider busy: {exc}")
                continue
            except AmbiguousError as exc:
                for work in unit:
                    work.needs_submit, work.needs_lookup = False, True
                    self._emit(
                        "retrying",
                        work.job.name,
                        work.address,
                        f"outcome unknown, will look up: {exc}",
                    )
                continue
            except PermanentError as exc:
                for work in unit:
                    work.needs_submit = False
                    self._failed(work, str(exc), now)
                continue
            session = self.sessions.get(first.job.session) if first.job.session else None
            if session is not None:
                session.last_used = now
            for work in unit:
                position = work.batch[1]
                work.needs_submit, work.status = False, S.QUEUED
                work.job_id = job_id if position is None else member_job_id(job_id, position)
                accepted.append(Transition(work.address, S.QUEUED, provider_job_id=work.job_id))
                self._emit("submitted", work.job.name, work.address, work.job_id)
        self.store.apply(self.stack.name, accepted)  # 3. provider ids committed

    def _send(self, units: list[list[_Work]]) -> list[Callable[[], str]]:
        """Submit every unit (one instance, or the members of a native batch), concurrently
        up to each provider's ``submit_concurrency``. Returns, per unit, a callable giving
        the job id or raising the provider's error: outcomes are handled in order, on this
        thread."""

        def call(unit: list[_Work]) -> str:
            provider = self.providers[unit[0].job.target.provider]
            session = self.sessions.get(unit[0].job.session or "")
            submissions = [self._submission(w, session) for w in unit]
            if len(unit) == 1:
                return provider.submit(submissions[0])
            return provider.submit_batch(unit[0].batch[0], submissions)

        outcomes: dict[int, Callable[[], str]] = {}
        for provider_name, group in _group(
            list(enumerate(units)), lambda u: u[1][0].job.target.provider
        ).items():
            workers = self.providers[provider_name].capabilities.submit_concurrency
            done = _concurrently(call, [unit for _, unit in group], workers, "qplan-submit")
            outcomes.update(zip((i for i, _ in group), done, strict=True))
        return [outcomes[i] for i in range(len(units))]

    def _submission(self, work: _Work, session: _Session | None) -> Submission:
        job = work.job
        return Submission(
            key=work.key,
            stack=self.stack.name,
            address=work.address,
            fingerprint=work.fingerprint,
            attempt=work.attempt,
            device=job.target.device,
            format=job.program.format,
            program=job.program.text,
            shots=job.spec.shots,
            inputs={**job.inputs, **work.point},
            session=session.session_id if session is not None else None,
            reservation_arn=self.stack.sessions[session.name].reservation_arn if session else None,
            tags={**job.spec.tags, "qplan-stack": self.stack.name, "qplan-address": work.address},
        )

    def _backoff(self, work: _Work, attempt: int) -> float:
        """Exponential, with "equal jitter" (between half and all of the delay). The jitter
        is a function of the submission's key, or for native batches of the job, so that
        members failed together wait alike and are sent again together."""
        retry = work.job.spec.retry
        base = retry.backoff if retry else 1.0
        cap = retry.max_backoff if retry else 60.0
        delay: float = min(cap, base * 2 ** max(0, attempt - 1))
        # members of one job's native batches, failed in one poll, are sent again together
        who = work.job.name if self._limits.get(work.job.name, 1) > 1 else work.batch[0]
        draw = random.Random(f"{self._jitter}\0{who}\0{attempt}").random()
        return delay * (0.5 + draw / 2)

    # --- observation ----------------------------------------------------------------------

    def _observe(self, works: list[_Work]) -> None:
        self._adopt_or_resend([w for w in works if w.needs_lookup])
        watched = [w for w in works if w.in_flight]
        for provider_name, group in _group(watched, lambda w: w.job.target.provider).items():
            provider = self.providers[provider_name]
            size = provider.capabilities.max_batch
            for start in range(0, len(group), size):
                chunk = group[start : start + size]
                try:
                    seen = provider.observe([w.job_id for w in chunk if w.job_id])
                except TransientError as exc:
                    self._unreachable(provider_name, exc)
                    continue
                self._down.pop(provider_name, None)
                self._record(provider, chunk, seen)

    def _record(self, provider: Provider, chunk: list[_Work], seen: Mapping[str, Any]) -> None:
        transitions: list[Transition] = []
        results: list[bytes] = []
        failures: list[tuple[_Work, str]] = []
        fetched = self._results(
            provider,
            [
                o.job_id
                for w in chunk
                if (o := seen.get(w.job_id or "")) is not None
                and o.status is S.SUCCEEDED
                and w.status is not S.SUCCEEDED
            ],
        )
        released: list[str] = []
        for work in chunk:
            observation = seen.get(work.job_id or "")
            if observation is not None and observation.started_at is not None:
                work.started_at = observation.started_at
            if observation is None or observation.status is work.status:
                continue
            status = observation.status
            if status is S.SUCCEEDED:
                try:
                    data = fetched[observation.job_id]()
                except PermanentError as exc:  # gone or malformed: the attempt failed
                    failures.append((work, f"result unreadable: {exc}"))
                    continue
                except ProviderError as exc:
                    self._emit(
                        "retrying", work.job.name, work.address, f"result not readable yet: {exc}"
                    )
                    continue
                results.append(data)
                transitions.append(
                    Transition(work.address, S.SUCCEEDED, result_hash=content_hash(data))
                )
                released.append(observation.job_id)
                work.status = S.SUCCEEDED
                self.report.counts["succeeded"] += 1
                late = " (it finished before the cancel took effect)" if work.timed_out else ""
                self._emit("succeeded", work.job.name, work.address, observation.job_id + late)
            elif status is S.CANCELLED and work.cancel_reason == INTERRUPTED:
                transitions.append(Transition(work.address, S.CANCELLED, detail=INTERRUPTED))
                work.status, work.job_id, work.stopped = S.CANCELLED, None, True
                self._emit("cancelled", work.job.name, work.address, INTERRUPTED)
            elif (
                status is S.CANCELLED
                and not work.timed_out
                and (work.cancel_reason or work.status is S.CANCELLING)
            ):
                # a cancel qplan asked for (qplan cancel, session abort): not a failure
                reason = work.cancel_reason or "cancelled as requested"
                transitions.append(Transition(work.address, S.CANCELLED, detail=reason))
                work.status, work.job_id = S.CANCELLED, None
                self._skip(work, reason)
            elif status is S.FAILED or status is S.CANCELLED:
                if work.timed_out:
                    error = f"timed out after {_seconds(work.job.spec.timeout or 0)}"
                elif status is S.CANCELLED:
                    error = "cancelled at the provider"
                else:
                    error = observation.error or "failed"
                failures.append((work, error))
            elif work.status is S.CANCELLING:
                continue  # a listing older than the cancel: it stays cancelling
            else:
                transitions.append(Transition(work.address, status))
                work.status = status
                if status is S.RUNNING:
                    self._emit("running", work.job.name, work.address, observation.job_id)
        self.store.apply(self.stack.name, transitions, results)
        if released:
            provider.release(released)
        # the policy (retries, session abort, halting) acts on state committed above
        now = self.clock.now()
        for work, error in failures:
            self._failed(work, error, now)

    def _results(self, provider: Provider, job_ids: list[str]) -> dict[str, Callable[[], bytes]]:
        """Results of succeeded jobs, read ``submit_concurrency`` at a time; per job id, a
        callable giving the canonical result or raising the provider's error."""

        def read(job_id: str) -> bytes:
            return _canonical(provider.result(job_id))

        workers = provider.capabilities.submit_concurrency
        done = _concurrently(read, job_ids, workers, "qplan-result")
        return dict(zip(job_ids, done, strict=True))

    def _timeout_start(self, work: _Work) -> float | None:
        """When ``work``'s timeout started counting: at its submission to a provider that
        queues what it is sent; at the start of its run where it waits in qplan's own queue
        (local), so that time spent behind other runs is never counted."""
        if self.providers[work.job.target.provider].capabilities.timeout_from_start:
            return work.started_at
        return work.since

    def _check_timeouts(self, works: list[_Work]) -> None:
        """Cancel what runs past its timeout. The outcome is decided by what comes back: a
        run that ends cancelled fails as timed out; one that finished before the cancel
        took effect succeeded, with its result."""
        now = self.clock.now()
        late: dict[str, list[_Work]] = defaultdict(list)
        for work in works:
            timeout = work.job.spec.timeout
            if not timeout or not work.in_flight or work.timed_out:
                continue
            start = self._timeout_start(work)
            if start is not None and now - start > timeout:
                work.timed_out = True
                late[work.job.target.provider].append(work)
        for provider_name, group in late.items():
            self._cancel(self.providers[provider_name], [w.job_id for w in group if w.job_id])
            self.store.apply(
                self.stack.name,
                [
                    Transition(w.address, S.CANCELLING, detail="timeout")
                    for w in group
                    if w.status is not S.CANCELLING
                ],
            )
            for work in group:
                work.status = S.CANCELLING
                self._emit(
                    "cancelling",
                    work.job.name,
                    work.address,
                    f"running longer than its timeout of {_seconds(work.job.spec.timeout or 0)}",
                )

    # --- failure policy -------------------------------------------------------------------

    def _failed(self, work: _Work, error: str, now: float | None = None) -> None:
        """Record a failed attempt, then apply the failure policy. ``now``: the time the
        failure was seen (one for all failures of a poll, so that they retry together)."""
        self.store.apply(self.stack.name, [Transition(work.address, S.FAILED, error=error)])
        work.status, work.job_id = S.FAILED, None
        attempts = work.job.spec.retry.attempts if work.job.spec.retry else 1
        session = self.sessions.get(work.job.session) if work.job.session else None
        if (
            work.attempt < attempts
            and not (session is not None and session.aborted)
            and not self.halt
        ):
            work.needs_submit = True
            seen = self.clock.now() if now is None else now
            work.not_before = seen + self._backoff(work, work.attempt)
            self.report.counts["attempts retried"] += 1
            self._emit(
                "retrying", work.job.name, work.address, f"attempt {work.attempt} failed: {error}"
            )
            return
        work.failed = True
        self.report.counts["failed"] += 1
        self.report.failures[work.address] = error
        self._emit("failed", work.job.name, work.address, error)
        if session is not None:
            session.failures += 1
            if session.abort and not session.aborted:
                self._abort_session(session)
        if work.job.spec.on_failure == "fail" and not self.halt:
            self.halt = f"{work.address} failed: {error}"
            self.report.halted = self.halt
        if self.options.fail_fast and not self.halt:
            self.halt = f"{work.address} failed (--fail-fast): {error}"
            self.report.halted = self.halt

    def _skip(self, work: _Work, reason: str) -> None:
        work.skipped = reason
        work.needs_submit = False
        self.report.skipped[work.address] = reason
        self.report.counts["skipped"] += 1
        self._emit("skipped", work.job.name, work.address, reason)

    # --- sessions -------------------------------------------------------------------------

    def _open_session(self, session: _Session) -> None:
        now = self.clock.now()
        row = session.row
        if not session.opened and row is not None and row.status.in_flight:
            session.row = None
            session.attempt = row.attempt
            if self.providers[session.provider].capabilities.durable_jobs and row.provider_job_id:
                session.session_id, session.opened, session.last_used = (
                    row.provider_job_id,
                    True,
                    row.updated_at,
                )
            else:
                lost = Transition(
                    session_address(session.name), S.CANCELLED, detail="lost with its process"
                )
                self.store.apply(self.stack.name, [lost])
                session.opened, session.closed = True, True
        if session.opened and not session.closed:
            if now - session.last_used <= session.idle_timeout:
                return
            self._close_session(session, failed="timed out: idle longer than idle_timeout")
        provider = self.providers[session.provider]
        session.attempt = (session.row.attempt if session.row else session.attempt) + 1
        session.row = None  # later openings in this run count from here
        key = idempotency_key(
            self.stack.name, session_address(session.name), session.fingerprint, session.attempt
        )
        address = session_address(session.name)
        intent = Transition(
            address,
            S.SUBMITTING,
            kind="session",
            job=session.name,
            fingerprint=session.fingerprint,
            attempt=session.attempt,
            idempotency_key=key,
            provider=session.provider,
            target=session.target,
            clear=("provider_job_id", "error"),
        )
        self.store.apply(self.stack.name, [intent])
        session.session_id = provider.open_session(key, session.name, session.device, session.abort)
        session.opened, session.closed, session.last_used, session.failures = True, False, now, 0
        self.store.apply(
            self.stack.name, [Transition(address, S.QUEUED, provider_job_id=session.session_id)]
        )
        self._emit("session-opened", session.name, address, session.session_id)

    def _abort_session(self, session: _Session) -> None:
        session.aborted = True
        members = [w for w in self.works if w.job.session == session.name and not w.final]
        running = [w for w in members if w.in_flight]
        if running:
            self._cancel(self.providers[session.provider], [w.job_id for w in running if w.job_id])
            self.store.apply(
                self.stack.name,
                [
                    Transition(w.address, S.CANCELLING, detail="session aborted")
                    for w in running
                    if w.status is not S.CANCELLING
                ],
            )
            for work in running:
                work.status = S.CANCELLING
                work.cancel_reason = f"cancelled: session {session.name} was aborted by a failure"
        for work in members:
            if not work.in_flight:
                self._skip(work, f"skipped: session {session.name} was aborted by a failure")

    def _close_sessions(self) -> None:
        for session in self.sessions.values():
            if not session.opened or session.closed:
                continue
            members = [w for w in self.works if w.job.session == session.name]
            if all(w.final for w in members):
                failed = f"{session.failures} member(s) failed" if session.failures else ""
                self._close_session(session, failed=failed)

    def _close_session(self, session: _Session, failed: str = "") -> None:
        if session.session_id is not None:
            try:
                self.providers[session.provider].close_session(session.session_id)
            except ProviderError as exc:
                failed = failed or f"close failed: {exc}"
        status = S.FAILED if failed or session.aborted else S.SUCCEEDED
        error = failed or ("aborted by a member's failure" if session.aborted else None)
        self.store.apply(
            self.stack.name, [Transition(session_address(session.name), status, error=error)]
        )
        session.closed = True
        self._emit("session-closed", session.name, session_address(session.name), error or "")

    # --- the end ----------------------------------------------------------------------------

    def _finish(self, works: list[_Work]) -> None:
        if not self.report.interrupted and not self.options.no_wait and not self.halt:
            for session in self.sessions.values():
                if session.opened and not session.closed:
                    self._close_session(session)
        self.report.pending = sum(1 for w in works if not w.final)
        for work in works:
            acted = work.carried_out and work.planned is not Action.NOOP
            if acted or work.planned is Action.WAIT:
                self.report.counts[PLANNED_WORDS[work.planned]] += 1
        counts = Counter({k: v for k, v in self.report.counts.items() if v})
        self.sink.emit(Event("finished", self.clock.now(), detail=self.halt, counts=dict(counts)))


def find_jobs(
    rows: Sequence[Row], lookup: Callable[[list[str], float], dict[str, str]]
) -> dict[str, str]:
    """Provider job ids of ``rows``, by address. A pending intent (no id recorded) is
    looked up by its key with ``lookup(keys, since)``: the provider may have taken it just
    before a crash. Rows the provider never got are left out."""
    found = {r.address: r.provider_job_id for r in rows if r.provider_job_id}
    pending = [r for r in rows if not r.provider_job_id and r.idempotency_key]
    if pending:
        keys = sorted({split_job_id(r.idempotency_key or "")[0] for r in pending})
        jobs = lookup(keys, min(r.updated_at for r in pending))
        for row in pending:
            key, index = split_job_id(row.idempotency_key or "")
            job_id = jobs.get(key)
            if job_id is not None:
                found[row.address] = job_id if index is None else member_job_id(job_id, index)
    return found


def _group(items: Sequence[Any], key: Callable[[Any], str]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _concurrently(
    call: Callable[[_I], _T], items: Sequence[_I], workers: int, name: str
) -> list[Callable[[], _T]]:
    """``call`` on every item, up to ``workers`` at once (threads named ``name``). Per item,
    in order, a callable giving the value or raising the ProviderError the call raised."""
    from concurrent.futures import ThreadPoolExecutor
    from functools import partial

    def one(item: _I) -> Callable[[], _T]:
        return _outcome(partial(call, item))

    workers = min(workers, len(items))
    if workers <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(one, items))


def _outcome(call: Callable[[], _T]) -> Callable[[], _T]:
    """Call now; return a callable that gives the result or raises what the call raised."""
    try:
        value = call()
    except ProviderError as exc:
        error = exc

        def fail() -> _T:
            raise error

        return fail
    return lambda: value


def _canonical(result: Mapping[str, Any]) -> bytes:
    return json.dumps(result, sort_keys=True, separators=(",", ":")).encode()


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _where(work: _Work) -> str:
    """Where an instance stands, for progress counts."""
    if work.status is S.SUCCEEDED:
        return "succeeded"
    if work.failed:
        return "failed"
    if work.skipped:
        return "skipped"
    if work.stopped:
        return "cancelled"
    if work.in_flight and work.status is not None:
        return str(work.status)
    return "waiting"
