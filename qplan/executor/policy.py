"""Failure policy, as pure decisions: what follows a failed attempt, and when to try again.

After a failed attempt (``after_failure``), in order:

1. attempts left (the job's ``RetryPolicy``), its session not aborted, the apply not
   halted: it is ``retry``-ed after an exponential backoff with "equal jitter" (between
   half and all of the delay);
2. otherwise the instance ``failed`` for good, and then:
   - its session counts the failure; one whose policy is ``abort`` is aborted;
   - ``on_failure: fail`` (the default) halts the apply: nothing new is started;
   - ``--fail-fast`` halts it too, and the apply does not wait for running jobs.

``on_failure: continue`` lets other work go on; it never makes the apply succeed: a failed
instance makes the apply's exit code 1 either way.

A provider that is busy (throttled, unavailable) is not a failure: the same dispatch goes
again after ``busy_delay``, under the same key.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from qplan.executor.model import JobView
from qplan.manifest import RetryPolicy

__all__ = [
    "BUSY_BACKOFF",
    "BUSY_MAX_BACKOFF",
    "FailureDecision",
    "after_failure",
    "busy_delay",
    "jittered",
]

BUSY_BACKOFF = 1.0  # seconds before a dispatch refused as "busy" goes again; doubles
BUSY_MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class FailureDecision:
    """``retry_at``: when the next attempt may go (None: no retry: the instance failed for
    good, and its session counts the failure); ``halt``: why the apply stops starting
    work (empty: it goes on)."""

    retry_at: float | None
    halt: str = ""


def jittered(delay: float, seed: str) -> float:
    """``delay`` with equal jitter: between half and all of it, the same for one ``seed``
    (so that members of a native batch failed together wait alike and go together)."""
    return delay * (0.5 + random.Random(seed).random() / 2)


def after_failure(
    job: JobView,
    address: str,
    attempt: int,
    error: str,
    now: float,
    *,
    session_aborted: bool,
    halted: bool,
    fail_fast: bool,
    jitter_seed: str,
) -> FailureDecision:
    """What follows the failure of ``attempt`` of the instance at ``address``."""
    policy: RetryPolicy = job.retry
    if attempt < policy.attempts and not session_aborted and not halted:
        delay = jittered(policy.delay(attempt), f"{jitter_seed}\0{attempt}")
        return FailureDecision(retry_at=now + delay)
    halt = ""
    if job.on_failure == "fail" and not halted:
        halt = f"{address} failed: {error}"
    if fail_fast and not halted and not halt:
        halt = f"{address} failed (--fail-fast): {error}"
    return FailureDecision(None, halt)


def busy_delay(tries: int, seed: str) -> float:
    """Seconds before a dispatch refused ``tries`` times as busy goes again."""
    # the exponent capped: a provider can say busy for days (2 ** 1024 is no float)
    delay = min(BUSY_MAX_BACKOFF, BUSY_BACKOFF * 2 ** min(max(0, tries - 1), 60))
    return jittered(delay, f"{seed}\0busy\0{tries}")
