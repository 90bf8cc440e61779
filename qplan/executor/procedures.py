"""Short procedures over the driver's command runner, for work outside an apply's loop:
cancelling rows (retired or replaced instances, ``qplan cancel``, ``qplan destroy``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from qplan.executor.cancelling import Target, ask_cancel, found_to_cancel, lookups_for
from qplan.executor.commands import Command, Commit, Found, Outcome
from qplan.jobstatus import JobStatus
from qplan.providers import ProviderError, Receipt
from qplan.state import Transition

__all__ = ["CancelFailed", "Cancelling", "cancel_targets"]

Runner = Callable[[Command], Outcome | None]


class CancelFailed(ProviderError):
    """A provider could not be asked to cancel (or to find what to cancel)."""


@dataclass
class Cancelling:
    """What a cancel came to: each target's status after, and the providers that failed
    (by name, with their error): their targets were left as they were."""

    status: dict[str, JobStatus] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def cancel_targets(
    run: Runner,
    targets: Sequence[Target],
    detail: str,
    kept: Iterable[str | None] = (),
    *,
    final: bool = False,
) -> Cancelling:
    """Cancel ``targets`` through ``run``, provider by provider: intents of unknown fate
    are looked up by key first; jobs others still wait on (``kept``) are left running.
    Records what each became (``final``: recorded cancelled whatever was asked, for rows a
    new attempt replaces at once, even where the provider failed). A provider that fails
    the lookup or the cancel is reported in ``failed``; its targets keep their rows."""
    out = Cancelling()
    keep = {k for k in kept if k is not None}
    by_provider: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        by_provider[target.provider].append(target)
    transitions: list[Transition] = []
    for name, group in by_provider.items():
        try:
            resolved = found_to_cancel(group, _find(run, group))
            cancels, asked, status = ask_cancel(resolved, keep, detail)
            for cancel in cancels:
                error = getattr(run(cancel), "error", None)
                if error is not None:
                    raise CancelFailed(f"cancel at {name} failed: {error}")
        except CancelFailed as exc:
            out.failed[name] = str(exc)
            if not final:
                continue
            resolved, asked, status = group, [], {}
        if final:
            asked = [
                Transition(t.address, JobStatus.CANCELLED, detail=detail)
                for t in resolved
                if t.stored is not JobStatus.CANCELLED
            ]
            status = dict.fromkeys((t.address for t in resolved), JobStatus.CANCELLED)
        transitions.extend(asked)
        out.status.update(status)
    run(Commit(tuple(transitions)))
    return out


def _find(run: Runner, targets: Sequence[Target]) -> Mapping[str, Receipt]:
    found: dict[str, Receipt] = {}
    for lookup in lookups_for(targets):
        outcome = run(lookup)
        if isinstance(outcome, Found) and outcome.error is not None:
            raise CancelFailed(f"cancel at {lookup.provider} failed: {outcome.error}")
        if isinstance(outcome, Found):
            found.update(outcome.receipts)
    return found
