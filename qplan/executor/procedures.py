"""Short procedures over the driver's command runner, for work outside an apply's loop:
cancelling rows (retired or replaced instances, ``qplan cancel``, ``qplan destroy``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from qplan.executor.cancelling import Target, ask_cancel, found_to_cancel, lookups_for
from qplan.executor.commands import Command, Commit, Found, Outcome
from qplan.jobstatus import JobStatus
from qplan.providers import ProviderError, Receipt

__all__ = ["CancelFailed", "cancel_targets"]

Runner = Callable[[Command], Outcome | None]


class CancelFailed(ProviderError):
    """A provider could not be asked to cancel (or to find what to cancel)."""


def cancel_targets(
    run: Runner,
    targets: Sequence[Target],
    detail: str,
    kept: Iterable[str | None] = (),
    *,
    final: bool = False,
) -> Mapping[str, JobStatus]:
    """Cancel ``targets`` through ``run``: intents of unknown fate are looked up by key
    first; jobs others still wait on (``kept``) are left running. Records what each
    became (``final``: recorded cancelled whatever was asked, for a row a new attempt
    replaces at once). Raises CancelFailed when a provider failed the lookup or the cancel:
    nothing is recorded then for that provider's targets."""
    found: dict[str, Receipt] = {}
    for lookup in lookups_for(targets):
        outcome = run(lookup)
        if isinstance(outcome, Found) and outcome.error is not None:
            raise CancelFailed(f"cancel at {lookup.provider} failed: {outcome.error}")
        if isinstance(outcome, Found):
            found.update(outcome.receipts)
    resolved = found_to_cancel(targets, found)
    cancels, transitions, status = ask_cancel(resolved, {k for k in kept if k is not None}, detail)
    for cancel in cancels:
        outcome = run(cancel)
        error = getattr(outcome, "error", None)
        if error is not None:
            raise CancelFailed(f"cancel at {cancel.provider} failed: {error}")
    if final:
        from qplan.state import Transition

        transitions = [
            Transition(t.address, JobStatus.CANCELLED, detail=detail)
            for t in resolved
            if t.stored is not JobStatus.CANCELLED
        ]
        status = dict.fromkeys(status, JobStatus.CANCELLED)
    run(Commit(tuple(transitions)))
    return status
