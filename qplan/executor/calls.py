"""Provider calls, as the driver makes them: one command in, its outcome out, with the
provider's errors turned into the outcome's (never raised). Also the cancel of rows
outside an apply (``qplan cancel``, ``qplan destroy``), through the same path."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from qplan.executor.cancelling import targets_of_rows
from qplan.executor.commands import (
    AskLimit,
    Cancel,
    Cancelled,
    CloseSession,
    Command,
    Commit,
    FindSessions,
    Found,
    Limit,
    Lookup,
    Observe,
    Observed,
    ObserveSessions,
    OpenSession,
    Outcome,
    Release,
    Send,
    Sent,
    SessionClosed,
    SessionOpened,
    SessionsFound,
    SessionsObserved,
)
from qplan.executor.model import View
from qplan.executor.procedures import CancelFailed, cancel_targets
from qplan.jobstatus import JobStatus
from qplan.manifest import Stack
from qplan.providers import Provider, ProviderError
from qplan.state import Row, StateStore

__all__ = ["call", "cancel_rows", "canonical", "concurrently", "send_all"]

_T = TypeVar("_T")
_I = TypeVar("_I")


def call(provider: Provider, command: Command, view: View | None) -> Outcome | None:
    """One provider call, its errors turned into the outcome's."""
    try:
        if isinstance(command, Lookup):
            return Found(command, provider.lookup(list(command.keys), command.since))
        if isinstance(command, Observe):
            seen = provider.observe(list(command.job_ids))
            return Observed(command, seen, _results(provider, seen, view))
        if isinstance(command, Cancel):
            provider.cancel(list(command.job_ids))
            return Cancelled(command)
        if isinstance(command, Release):
            provider.release(list(command.job_ids))
            return None
        if isinstance(command, AskLimit):
            job = view.jobs[command.job] if view is not None else None
            assert job is not None
            value = provider.batch_limit(job.device, job.format, job.shots)
            return Limit(command, value)
        if isinstance(command, OpenSession):
            assert view is not None
            session = view.sessions[command.session]
            if provider.sessions is None:  # qplan's own session: its id is its key
                return SessionOpened(command, command.key)
            session_id = provider.sessions.open(
                command.key, session.name, session.device, session.abort
            )
            return SessionOpened(command, session_id)
        if isinstance(command, FindSessions):
            if provider.sessions is None:
                return SessionsFound(command, {})
            return SessionsFound(command, provider.sessions.find(list(command.keys)))
        if isinstance(command, CloseSession):
            status = None
            if provider.sessions is not None:
                if command.abort:
                    provider.sessions.abort(command.session_id)
                else:
                    status = provider.sessions.close(command.session_id)
            return SessionClosed(command, status=status)
        if isinstance(command, ObserveSessions):
            ids = [session_id for _, session_id in command.sessions]
            statuses = provider.sessions.statuses(ids) if provider.sessions is not None else {}
            return SessionsObserved(command, statuses)
    except ProviderError as exc:
        return _failed(command, exc)
    raise TypeError(f"unknown command {command!r}")


def _failed(command: Command, exc: ProviderError) -> Outcome | None:
    if isinstance(command, Lookup):
        return Found(command, {}, exc)
    if isinstance(command, Observe):
        return Observed(command, error=exc)
    if isinstance(command, Cancel):
        return Cancelled(command, exc)
    if isinstance(command, AskLimit):
        return Limit(command, None, exc)
    if isinstance(command, OpenSession):
        return SessionOpened(command, None, exc)
    if isinstance(command, FindSessions):
        return SessionsFound(command, {}, exc)
    if isinstance(command, CloseSession):
        return SessionClosed(command, exc)
    if isinstance(command, ObserveSessions):
        return SessionsObserved(command, {}, exc)
    return None


def _results(
    provider: Provider, seen: Mapping[str, Any], view: View | None
) -> dict[str, Callable[[], bytes]]:
    """Results of the jobs seen succeeded that this apply has not recorded yet, read
    ``submit_concurrency`` at a time."""
    ids = [
        job_id for job_id, observation in seen.items() if observation.status is JobStatus.SUCCEEDED
    ]
    if ids and view is not None:
        # only those of instances not final yet (one recorded succeeded is not read twice);
        # job ids are the provider's own: other providers' may be alike
        wanted = {i.job_id for i in view.live.values() if view.job(i).provider == provider.name}
        ids = [job_id for job_id in ids if job_id in wanted]

    def read(job_id: str) -> Callable[[], bytes]:
        return _outcome(lambda: canonical(provider.result(job_id)))

    done = concurrently(read, ids, provider.capabilities.submit_concurrency, "qplan-result")
    return dict(zip(ids, done, strict=True))


def concurrently(
    call: Callable[[_I], _T], items: Sequence[_I], workers: int, name: str
) -> list[_T]:
    """``call`` on every item, up to ``workers`` at once (threads named ``name``), results
    in order. ``call`` must not raise: callers turn errors into values."""
    from concurrent.futures import ThreadPoolExecutor

    workers = min(workers, len(items))
    if workers <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(call, items))


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


def canonical(result: Mapping[str, Any]) -> bytes:
    return json.dumps(result, sort_keys=True, separators=(",", ":")).encode()


def cancel_rows(
    stack: Stack,
    store: StateStore,
    providers: Mapping[str, Provider],
    rows: Sequence[Row],
    detail: str,
) -> Mapping[str, JobStatus]:
    """Cancel the in-flight ones among ``rows`` (``qplan cancel``, ``qplan destroy``),
    through the same path as the executor's own cancels: what each became. A row whose
    provider is not among ``providers`` (or ended with its process) is recorded cancelled.
    Raises CancelFailed, once the others are recorded, when a provider failed."""
    alive = {n: p.capabilities.durable_jobs for n, p in providers.items()}

    def run(command: Command) -> Outcome | None:
        if isinstance(command, Commit):
            store.apply(stack.name, command.transitions, command.results)
            return None
        name = getattr(command, "provider", "")
        return call(providers[name], command, None)

    targets = targets_of_rows(rows, {r.provider: alive.get(r.provider, False) for r in rows})
    outcome = cancel_targets(run, targets, detail)
    if outcome.failed:
        raise CancelFailed("; ".join(outcome.failed.values()))
    return outcome.status


def send_all(providers: Mapping[str, Provider], sends: Sequence[Send]) -> list[Sent]:
    """Send dispatches, each provider's ``submit_concurrency`` at a time; outcomes in order."""

    def submit(send: Send) -> Sent:
        try:
            return Sent(send, providers[send.provider].submit(send.dispatch))
        except ProviderError as exc:
            return Sent(send, None, exc)

    by_provider: dict[str, list[int]] = {}
    for index, send in enumerate(sends):
        by_provider.setdefault(send.provider, []).append(index)
    outcomes: dict[int, Sent] = {}
    for name, indexes in by_provider.items():
        workers = providers[name].capabilities.submit_concurrency
        done = concurrently(submit, [sends[i] for i in indexes], workers, "qplan-submit")
        outcomes.update(zip(indexes, done, strict=True))
    return [outcomes[i] for i in range(len(sends))]
