"""What the executor reports as it goes, for progress displays and ``--json`` event lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Event", "EventSink", "NullSink", "RecordingSink"]


@dataclass(frozen=True)
class Event:
    """``kind``: planned, submitted, adopted, running, succeeded, failed, retrying, timeout,
    cancelled, skipped, forgotten, session-opened, session-closed, interrupted, finished.
    ``job`` is the job (or session) name; ``address`` empty for whole-apply events."""

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
