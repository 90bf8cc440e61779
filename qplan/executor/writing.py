"""Writing to the state and telling the sink, for the driver: commits are held while a
round of commands runs and written together, in one transaction, when the driver says so
(before its next provider call, and when the round ends). Events about held commits wait
with them, so an event never tells of what is not yet recorded."""

from __future__ import annotations

from qplan.executor.commands import Commit
from qplan.executor.events import Event, EventSink
from qplan.state import StateStore

__all__ = ["Writer"]


class Writer:
    def __init__(self, store: StateStore, stack: str, sink: EventSink) -> None:
        self.store = store
        self.stack = stack
        self.sink = sink
        self.holding = 0  # nesting of rounds: commits are held while it is above 0
        self._commits: list[Commit] = []
        self._events: list[Event] = []

    def commit(self, commit: Commit) -> None:
        if self.holding:
            self._commits.append(commit)
        else:
            self.store.apply(self.stack, commit.transitions, commit.results)

    def emit(self, event: Event) -> None:
        if self._commits:
            self._events.append(event)
        else:
            self.sink.emit(event)

    def flush(self) -> None:
        """Write the held commits in one transaction, then emit the events held with them."""
        held, self._commits = self._commits, []
        events, self._events = self._events, []
        if held:
            transitions = [t for commit in held for t in commit.transitions]
            results = [r for commit in held for r in commit.results]
            self.store.apply(self.stack, transitions, results)
        for event in events:
            self.sink.emit(event)
