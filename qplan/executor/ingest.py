"""Ingestion of observations, as a pure decision: what the providers say of jobs in flight
becomes phases, transitions, results and events; and timeouts.

For each observed job that is this apply's current attempt of an instance:

- ``succeeded``: its result (read by the driver with the observation) is recorded with it;
  a result that cannot be read for good fails the attempt; one not readable yet is asked
  for next time. A result that arrives after a cancel is recorded too: the job finished.
- ``cancelled`` after an interrupt: recorded cancelled, to run again next time;
  after a cancel qplan asked for (``qplan cancel``, a session abort): recorded cancelled and
  the instance is skipped; after a timeout: the attempt failed, "timed out after ...".
- ``failed``, or ``cancelled`` at the provider: the attempt failed (then the policy).
- an older listing that still says running after qplan asked to cancel is ignored.
- any other status is recorded as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from qplan.executor.cancelling import ask_cancel, target_of
from qplan.executor.commands import Release
from qplan.executor.decision import Decision, overlay
from qplan.executor.events import Event, Kind
from qplan.executor.failing import fail_attempt, skip
from qplan.executor.model import Instance, Phase, View
from qplan.jobstatus import JobStatus
from qplan.providers import Observation, PermanentError, ProviderError
from qplan.state import Transition, content_hash

__all__ = ["INTERRUPTED", "check_timeouts", "ingest", "seconds"]

S = JobStatus
INTERRUPTED = "interrupted: runs again on the next apply"
_PHASE = {S.QUEUED: Phase.QUEUED, S.RUNNING: Phase.RUNNING, S.CANCELLING: Phase.CANCELLING}


def seconds(value: float) -> str:
    return f"{value:g}s"


def ingest(
    view: View,
    provider: str,
    watched: list[Instance],
    observations: Mapping[str, Observation],
    results: Mapping[str, Callable[[], bytes]],
    now: float,
) -> Decision:
    out = Decision()
    transitions: list[Transition] = []
    data: list[bytes] = []
    failures: list[tuple[Instance, str]] = []
    released: list[str] = []
    for instance in watched:
        seen = observations.get(instance.job_id or "")
        if seen is None:
            continue
        if seen.started_at is not None and seen.started_at != instance.started_at:
            instance = replace(instance, started_at=seen.started_at)  # noqa: PLW2901
            out.put(instance)
        status = seen.status
        if status is instance.stored:
            continue
        job = instance.job
        if status is S.SUCCEEDED:
            read = results.get(seen.job_id)
            try:
                if read is None:
                    raise ProviderError("no result read")
                payload = read()
            except PermanentError as exc:  # gone or malformed: the attempt failed
                failures.append((instance, f"result unreadable: {exc}"))
                continue
            except ProviderError as exc:
                detail = f"result not readable yet: {exc}"
                out.emit(Event(Kind.RESULT_PENDING, now, job, instance.address, detail))
                continue
            data.append(payload)
            transitions.append(
                Transition(instance.address, S.SUCCEEDED, result_hash=content_hash(payload))
            )
            released.append(seen.job_id)
            late = " (it finished before the cancel took effect)" if instance.timed_out else ""
            out.put(instance.to(Phase.SUCCEEDED, stored=S.SUCCEEDED))
            out.emit(Event(Kind.SUCCEEDED, now, job, instance.address, seen.job_id + late))
        elif status is S.CANCELLED and instance.cancel_reason == INTERRUPTED:
            transitions.append(Transition(instance.address, S.CANCELLED, detail=INTERRUPTED))
            out.put(instance.to(Phase.STOPPED, stored=S.CANCELLED, job_id=None, reason=INTERRUPTED))
            out.emit(Event(Kind.CANCELLED, now, job, instance.address, INTERRUPTED))
        elif (
            status is S.CANCELLED
            and not instance.timed_out
            and (instance.cancel_reason or instance.stored is S.CANCELLING)
        ):
            # a cancel qplan asked for (qplan cancel, session abort): not a failure
            reason = instance.cancel_reason or "cancelled as requested"
            transitions.append(Transition(instance.address, S.CANCELLED, detail=reason))
            out += skip(view, replace(instance, stored=S.CANCELLED), reason, now)
        elif status in (S.FAILED, S.CANCELLED):
            if instance.timed_out:
                error = f"timed out after {seconds(view.job(instance).timeout or 0)}"
            elif status is S.CANCELLED:
                error = "cancelled at the provider"
            else:
                error = seen.error or "failed"
            failures.append((instance, error))
        elif instance.stored is S.CANCELLING:
            continue  # a listing older than the cancel: it stays cancelling
        else:
            transitions.append(Transition(instance.address, status))
            out.put(instance.to(_PHASE.get(status, instance.phase), stored=status))
            if status is S.RUNNING:
                out.emit(Event(Kind.RUNNING, now, job, instance.address, seen.job_id))
    # the results and transitions are committed before the policy acts on failures
    head = Decision()
    head.commit(transitions, data)
    if released:
        head.commands.append(Release(provider, tuple(released)))
    head += out
    out = head
    for instance, error in failures:
        current = out.instances.get(instance.address, instance)
        out += fail_attempt(overlay(view, out), current, error, now, seen=now)
    return out


def timeout_start(view: View, instance: Instance) -> float | None:
    """When ``instance``'s timeout started counting: at its submission to a provider that
    queues what it is sent; at the start of its run where it waits in qplan's own queue
    (local), so that time spent behind other runs is never counted."""
    if view.provider_of(instance).timeout_from_start:
        return instance.started_at
    return instance.since


def check_timeouts(view: View, now: float) -> Decision:
    """Cancel what runs past its timeout. The outcome is decided by what comes back: a run
    that ends cancelled fails as timed out; one that finished first succeeded."""
    out = Decision()
    late: list[Instance] = []
    for instance in view.live.values():
        timeout = view.job(instance).timeout
        if not timeout or not instance.at_provider or instance.timed_out:
            continue
        start = timeout_start(view, instance)
        if start is not None and now - start > timeout:
            late.append(instance)
    if not late:
        return out
    targets = [target_of(i, view.job(i).provider) for i in late]
    cancels, transitions, _ = ask_cancel(targets, (), "timeout")
    out.commands.extend(cancels)
    out.commit(t for t in transitions if t.status is S.CANCELLING)
    for instance in late:
        limit = seconds(view.job(instance).timeout or 0)
        out.put(
            instance.to(Phase.CANCELLING, stored=S.CANCELLING, timed_out=True),
        )
        out.emit(
            Event(
                Kind.CANCELLING,
                now,
                instance.job,
                instance.address,
                f"running longer than its timeout of {limit}",
            )
        )
    return out
