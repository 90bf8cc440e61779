"""What a pure decision of the core returns: new records, and commands for the driver."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import cast

from qplan.executor.commands import Command, Commit, Emit
from qplan.executor.events import Event
from qplan.executor.model import Instance, ProviderView, SessionView, View
from qplan.state import Transition

__all__ = ["Decision", "overlay"]


@dataclass
class Decision:
    """Updated records (by address, session name, provider name), batch limits learnt, a
    halt, what retired rows came to, and the commands to run, in order. Records not named
    are unchanged. Decisions combine with ``+=``: later records win, commands append."""

    instances: dict[str, Instance] = field(default_factory=dict)
    sessions: dict[str, SessionView] = field(default_factory=dict)
    providers: dict[str, ProviderView] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    halt: str = ""
    retired: tuple[int, int] = (0, 0)  # rows gone from the manifest: (cancelled, forgotten)
    commands: list[Command] = field(default_factory=list)

    def put(self, *instances: Instance) -> None:
        for instance in instances:
            self.instances[instance.address] = instance

    def commit(self, transitions: Iterable[Transition], results: Iterable[bytes] = ()) -> None:
        batch = tuple(transitions)
        data = tuple(results)
        if batch or data:
            self.commands.append(Commit(batch, data))

    def emit(self, event: Event) -> None:
        self.commands.append(Emit(event))

    def __iadd__(self, other: Decision) -> Decision:
        self.instances.update(other.instances)
        self.sessions.update(other.sessions)
        self.providers.update(other.providers)
        self.limits.update(other.limits)
        self.halt = self.halt or other.halt
        self.retired = (self.retired[0] + other.retired[0], self.retired[1] + other.retired[1])
        self.commands.extend(other.commands)
        return self


def overlay(view: View, decision: Decision) -> View:
    """``view`` with ``decision``'s records applied (a copy: for the few decisions that
    must see the ones made just before them, such as a second failure in one session)."""
    return replace(
        view,
        instances=ChainMap(decision.instances, cast(dict[str, Instance], view.instances)),
        sessions={**view.sessions, **decision.sessions},
        providers={**view.providers, **decision.providers},
        limits={**view.limits, **decision.limits},
        halt=view.halt or decision.halt,
    ).with_live(view, decision.instances)
