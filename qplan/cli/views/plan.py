"""Rendering plans for people: one line per job, details on demand, a final tally."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import click

from qplan.planner.actions import CHANGES, Action
from qplan.planner.document import DeviceDocument, PlanDocument
from qplan.planner.plan import SpecsSource
from qplan.stamps import utc_stamp

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
_NOWHERE = "(not in the manifest)"
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


def _phrase(counts: Counter[Action] | dict[Action, int]) -> str:
    return ", ".join(f"{counts[a]} {_PHRASE[a]}" for a in _ORDER if counts.get(a))


def render_plan(doc: PlanDocument, *, verbose: bool, state_location: str) -> Iterable[str]:
    """One line per job, session, or removed job or session. Points dropped from the sweep
    of a job still in the manifest (a gone resource with the job's target) are counted on
    the job's line, which then reads ``-/+``: the job stays, some of its points go."""
    yield f"Stack {doc.stack}: state serial {doc.state_serial} in {state_location}"
    yield ""
    jobs = {r.name for r in doc.resources if r.kind == "job"}
    dropped = {r.name: r for r in doc.resources if r.kind == "gone" and r.name in jobs and r.target}
    shown = [r for r in doc.resources if r.kind != "gone" or r.name not in dropped]
    width = max((len(r.name) for r in shown), default=4)
    target_width = max((len(r.target or _NOWHERE) for r in shown), default=6)
    for resource in shown:
        counts = Counter(resource.counts)
        instances = list(resource.instances or [])
        symbol, color = _SYMBOL[_main_action(counts)]
        if resource.kind == "job" and resource.name in dropped:
            counts.update(dropped[resource.name].counts)
            instances += dropped[resource.name].instances or []
            symbol, color = _SYMBOL[Action.REPLACE]
        kind = {"session": "session ", "gone": "gone    ", "job": "job     "}[resource.kind]
        target = resource.target or _NOWHERE
        line = (
            f"  {symbol:>3} {kind}{resource.name:<{width}}  {target:<{target_width}}  "
            f"{_phrase(counts)}"
        )
        yield click.style(line, fg=color) if color else line
        if verbose:
            for item in instances:
                if item.action is Action.NOOP and not item.reason:
                    continue  # unchanged: counted on the job's line
                sym, col = _SYMBOL[item.action]
                text = f"        {sym:>3} {item.address}"
                if item.reason:
                    text += f"  ({item.reason})"
                yield click.style(text, fg=col) if col else text
    yield ""
    if doc.devices:
        yield "Pulser sequences checked against:"
        width = max(len(d.target) for d in doc.devices)
        for device in doc.devices:
            yield f"  {device.target:<{width}}  {device_source(device)}"
        yield ""
    yield tally(doc.counts)
    yield from notes(doc)


def plan_lines(doc: PlanDocument, fmt: str, *, verbose: bool, state_location: str) -> Iterable[str]:
    """The plan in ``fmt``: ``text`` (``render_plan``), ``json`` (the document, as one
    piece) or ``markdown`` (``plan_markdown``)."""
    if fmt == "json":
        yield doc.model_dump_json(indent=2)
    elif fmt == "markdown":
        from qplan.cli.views.plan_markdown import render_markdown

        yield "\n".join(render_markdown(doc))
    else:
        yield from render_plan(doc, verbose=verbose, state_location=state_location)


def notes(doc: PlanDocument) -> Iterable[str]:
    """After the tally: the estimated cost (when the plan submits anything), what a
    targeted plan left out, warnings."""
    from qplan.cli.views.money import cost_sentence, money

    cost = doc.cost
    if cost is not None and any(job.instances for job in cost.jobs):
        line = cost_sentence(cost)
        priced = [j for j in cost.jobs if j.instances and j.amount]
        if priced:
            each = ", ".join(f"{j.job} {money(j.amount, cost.currency)}" for j in priced[:8])
            more = f", and {len(priced) - 8} more" if len(priced) > 8 else ""
            line += f" ({each}{more})"
        yield line + f"; prices as of {cost.as_of}."
    if doc.targets:
        left = sum(doc.left_out.values())
        changes = sum(n for a, n in doc.left_out.items() if a in CHANGES)
        yield (
            f"Targeted at {', '.join(doc.targets)} and what they need: {left} instance"
            f"{'s' if left != 1 else ''} left out"
            + (
                f", {changes} of them with changes (a later full apply makes them)."
                if changes
                else "."
            )
        )
    for warning in doc.warnings:
        yield click.style(f"Warning: {warning}", fg="yellow")


def device_source(device: DeviceDocument) -> str:
    """Which device a target was checked against, and where its specifications came
    from: fetched now, kept in the state (since when), or a stand-in (and why)."""
    note = f" ({device.note})" if device.note else ""
    when = utc_stamp(device.fetched_at) if device.fetched_at is not None else "?"
    if device.source is SpecsSource.SERVICE:
        return f"{device.device}, as its service publishes it (fetched now)"
    if device.source is SpecsSource.CACHE:
        return f"{device.device}, as its service published it at {when} (kept in the state){note}"
    if device.source is SpecsSource.PULSER:
        return f"Pulser's {device.device}, standing in for the service's specifications{note}"
    if device.source is SpecsSource.SEQUENCE:
        return f"each sequence's own device, for want of the service's specifications{note}"
    return f"nothing: not checked{note}"


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
