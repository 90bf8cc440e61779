"""The closed set of plan actions, and the rule that picks one for an instance.

==========  ====================================================================
create      the address is not in state: submit it
noop        succeeded with the same fingerprint (its result is reused), or failed
            with no attempts left
wait        in flight with the same fingerprint: adopt it, never resubmit
retry       failed or cancelled with the same fingerprint and attempts left
replace     the fingerprint changed: cancel the old one if in flight, submit anew;
            the old result stays in the history
cancel      in state, gone from the manifest, in flight: cancel it, then forget it
forget      in state, gone from the manifest, final: drop the row (results stay)
==========  ====================================================================
"""

from __future__ import annotations

from enum import StrEnum

from qplan.jobstatus import JobStatus
from qplan.state import RowState

__all__ = ["ACTIONS", "CHANGES", "SUBMITS", "Action", "decide"]


class Action(StrEnum):
    CREATE = "create"
    NOOP = "noop"
    WAIT = "wait"
    RETRY = "retry"
    REPLACE = "replace"
    CANCEL = "cancel"
    FORGET = "forget"


ACTIONS: tuple[Action, ...] = tuple(Action)
CHANGES = frozenset({Action.CREATE, Action.RETRY, Action.REPLACE, Action.CANCEL, Action.FORGET})
"""Actions that change something; a plan with none of them has no changes."""
SUBMITS = frozenset({Action.CREATE, Action.RETRY, Action.REPLACE})
"""Actions that send an instance to its provider (a new attempt)."""


def decide(row: RowState | None, fingerprint: str, attempts: int) -> tuple[Action, str]:
    """The action for an instance of the manifest, and why (empty when obvious)."""
    if row is None:
        return Action.CREATE, ""
    if row.fingerprint != fingerprint:
        return Action.REPLACE, f"{row.status} with another fingerprint"
    status = row.status
    if status is JobStatus.SUCCEEDED:
        return Action.NOOP, ""
    if status.in_flight:
        return Action.WAIT, str(status)
    if status is JobStatus.CANCELLED:
        return Action.RETRY, "cancelled"
    if row.attempt < attempts:
        return Action.RETRY, f"failed, attempt {row.attempt} of {attempts}"
    return Action.NOOP, f"failed, all {attempts} attempt{'s' if attempts != 1 else ''} used"


def decide_orphan(row: RowState, why: str = "no longer in the manifest") -> tuple[Action, str]:
    """The action for a row whose address is gone from the manifest; ``why`` it is gone."""
    if row.status.in_flight:
        return Action.CANCEL, f"{row.status}, {why}"
    return Action.FORGET, f"{row.status}, {why}"
