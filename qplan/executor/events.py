"""What the executor reports as it goes, for progress displays and ``--json`` event lines.

Each kind means one thing, so that a display decides by the kind, never by the text:

==================  =========================================================================
``submitted``       a member's dispatch was accepted (detail: its job id)
``adopted``         found at the provider by its key, sent by an earlier run (detail: job id)
``resent``          an intent the provider never got goes again under the same key
``running``         the provider says it runs
``succeeded``       its result is recorded (final)
``failed``          it failed for good (final; detail: why)
``retrying``        a failed attempt is run again after a backoff (detail: the failure)
``throttled``       the provider was busy: the same dispatch goes again later
``uncertain``       a submission may or may not have reached the provider: looked up by key
``result-pending``  succeeded, but its result cannot be read yet: asked again next time
``unreachable``     a provider keeps failing: qplan waits, and says so once a minute
``observe-error``   observing some jobs failed (detail: the provider's error)
``cancelling``      a cancel was asked (detail: why: timeout, session abort, ...)
``cancelled``       cancelled as asked (final for this apply)
``skipped``         not run (final; detail: why)
``forgotten``       a row gone from the manifest was dropped from the state
``notice``          something a user should know, about a job (detail)
``session-opened``  ``session-closed``
``progress``        counts by status, at a steady interval (``counts``)
``interrupting``    Ctrl-C: nothing new is submitted (detail: what happens next)
``interrupted``     the apply stopped early; ``finished``: the end, with ``counts``
==================  =========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

__all__ = ["Event", "EventSink", "Kind", "NullSink", "RecordingSink"]


class Kind(StrEnum):
    SUBMITTED = "submitted"
    ADOPTED = "adopted"
    RESENT = "resent"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    THROTTLED = "throttled"
    UNCERTAIN = "uncertain"
    RESULT_PENDING = "result-pending"
    UNREACHABLE = "unreachable"
    OBSERVE_ERROR = "observe-error"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    FORGOTTEN = "forgotten"
    NOTICE = "notice"
    SESSION_OPENED = "session-opened"
    SESSION_CLOSED = "session-closed"
    PROGRESS = "progress"
    INTERRUPTING = "interrupting"
    INTERRUPTED = "interrupted"
    FINISHED = "finished"


@dataclass(frozen=True)
class Event:
    """``kind``: a ``Kind``. ``job`` is the job (or session) name; ``address`` empty for
    whole-apply events."""

    kind: str
    at: float
    job: str = ""
    address: str = ""
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    def emit(self, event: Event) -> None:
        pass


class RecordingSink:
    """Keeps every event; for tests and for the Python API."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self, address: str) -> list[str]:
        return [e.kind for e in self.events if e.address == address]
