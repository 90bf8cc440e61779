"""Rendering plans for people: one line per job, details on demand, a final tally."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import click

from qplan.planner.actions import Action
from qplan.planner.document import PlanDocument

_SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.RETRY: ("~", "yellow"),
    Action.REPLACE: ("-/+", "yellow"),
    Action.CANCEL: ("x", "red"),
    Action.FORGET: ("-", "red"),
    Action.WAIT: ("…", "cyan"),
    Action.NOOP: ("=", None),
}
_PHRASE = {
    Action.CREATE: "to create",
    Action.RETRY: "to retry",
    Action.REPLACE: "to replace",
    Action.CANCEL: "to cancel",
    Action.FORGET: "to forget",
    Action.WAIT: "in flight",
    Action.NOOP: "unchanged",
}
_ORDER = (
    Action.CREATE,
    Action.RETRY,
    Action.REPLACE,
    Action.CANCEL,
    Action.FORGET,
    Action.WAIT,
    Action.NOOP,
)


def _main_action(counts: Counter[Action] | dict[Action, int]) -> Action:
    for action in _ORDER:
        if counts.get(action):
            return action
    return Action.NOOP


def _phrase(counts: dict[Action, int]) -> str:
    return ", ".join(f"{counts[a]} {_PHRASE[a]}" for a in _ORDER if counts.get(a))


def render_plan(doc: PlanDocument, *, verbose: bool, state_location: str) -> Iterable[str]:
    yield f"Stack {doc.stack}: state serial {doc.state_serial} in {state_location}"
    yield ""
    width = max((len(r.name) for r in doc.resources), default=4)
    target_width = max((len(r.target) for r in doc.resources), default=6)
    for resource in doc.resources:
        symbol, color = _SYMBOL[_main_action(resource.counts)]
        name = resource.name if resource.kind != "session" else f"{resource.name}"
        kind = {"session": "session ", "gone": "gone    ", "job": "job     "}[resource.kind]
        target = resource.target or "(not in the manifest)"
        counts = _phrase(resource.counts)
        line = f"  {symbol:>3} {kind}{name:<{width}}  {target:<{target_width}}  {counts}"
        yield click.style(line, fg=color) if color else line
        if verbose and resource.instances:
            for item in resource.instances:
                if item.action is Action.NOOP and not item.reason:
                    continue  # unchanged: counted on the job's line
                sym, col = _SYMBOL[item.action]
                text = f"        {sym:>3} {item.address}"
                if item.reason:
                    text += f"  ({item.reason})"
                yield click.style(text, fg=col) if col else text
    yield ""
    yield tally(doc.counts)


def tally(counts: dict[Action, int]) -> str:
    if not any(
        counts.get(a)
        for a in (Action.CREATE, Action.RETRY, Action.REPLACE, Action.CANCEL, Action.FORGET)
    ):
        total = sum(counts.values())
        waiting = counts.get(Action.WAIT, 0)
        extra = f", {waiting} in flight" if waiting else ""
        return f"No changes: the state matches the manifest ({total} resources{extra})."
    changes = ", ".join(
        f"{counts.get(a, 0)} {_PHRASE[a]}"
        for a in (Action.CREATE, Action.RETRY, Action.REPLACE, Action.CANCEL, Action.FORGET)
    )
    return (
        f"Plan: {changes}; {counts.get(Action.NOOP, 0)} unchanged, "
        f"{counts.get(Action.WAIT, 0)} in flight."
    )
