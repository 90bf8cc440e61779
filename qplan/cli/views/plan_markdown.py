"""The plan as Markdown, for a pull request's comment: ``qplan plan --format markdown``.

A reviewer reads, in this order: what changes and what it costs (one line), a table of
the jobs with their actions and estimated cost, the instances that change with their
reasons (the first few shown, more folded in a ``<details>``, the rest counted), then
what the planner noticed. It stays well under a code host's comment limit (GitHub's is
65,536 characters) however large the plan: instances are listed up to ``MAX_LISTED``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from qplan.cli.views.money import cost_sentence, money
from qplan.cli.views.plan import device_source
from qplan.planner.actions import CHANGES, Action
from qplan.planner.document import CostDocument, PlanDocument, ResourceDocument

__all__ = ["MAX_LISTED", "SHOWN_PER_JOB", "render_markdown"]

SHOWN_PER_JOB = 5
"""Changed instances shown per job before the rest are folded."""
MAX_LISTED = 200
"""Changed instances listed in all (shown or folded); the others are counted."""

_SIGN = {
    Action.CREATE: "+",
    Action.RETRY: "~",
    Action.REPLACE: "-/+",
    Action.CANCEL: "x",
    Action.FORGET: "-",
    Action.WAIT: "…",
    Action.NOOP: "=",
}
_COLUMNS = (
    (Action.CREATE, "create"),
    (Action.RETRY, "retry"),
    (Action.REPLACE, "replace"),
    (Action.CANCEL, "cancel"),
    (Action.FORGET, "forget"),
    (Action.WAIT, "in flight"),
    (Action.NOOP, "unchanged"),
)
_CHANGE_ORDER = (Action.CREATE, Action.RETRY, Action.REPLACE, Action.CANCEL, Action.FORGET)


def _cell(text: str) -> str:
    """Text safe in a table cell: no pipe ends the cell, no newline ends the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Inline code that survives backticks in ``text``."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _headline(doc: PlanDocument) -> str:
    counts = doc.counts
    changes = [f"{counts[a]} to {a.value}" for a in _CHANGE_ORDER if counts.get(a)]
    if not changes:
        what = "**No changes**: the state matches the manifest"
    else:
        what = "**" + ", ".join(changes) + "**"
    rest = []
    if counts.get(Action.WAIT):
        rest.append(f"{counts[Action.WAIT]} in flight")
    if counts.get(Action.NOOP):
        rest.append(f"{counts[Action.NOOP]} unchanged")
    tail = f" ({', '.join(rest)})" if rest else ""
    return f"{what}{tail}."


def _cost_line(cost: CostDocument) -> str:
    sentence = cost_sentence(cost, quote=_code, strong=lambda text: f"**{text}**")
    return f"{sentence} (prices as of {cost.as_of})."


def _job_cost(doc: PlanDocument, resource: ResourceDocument) -> str:
    if doc.cost is None or resource.kind != "job":
        return ""
    for job in doc.cost.jobs:
        if job.job == resource.name:
            return money(job.amount, doc.cost.currency) if job.instances else ""
    return ""


def _table(doc: PlanDocument) -> Iterable[str]:
    used = [(a, title) for a, title in _COLUMNS if any(r.counts.get(a) for r in doc.resources)]
    priced = doc.cost is not None
    head = ["", "resource", "target", *(title for _, title in used)]
    if priced:
        head.append("estimated cost")
    yield "| " + " | ".join(head) + " |"
    align = ["---", "---", "---", *("---:" for _ in used)] + (["---:"] if priced else [])
    yield "| " + " | ".join(align) + " |"
    for resource in doc.resources:
        counts = Counter(resource.counts)
        main = next((a for a, _ in _COLUMNS if counts.get(a)), Action.NOOP)
        kind = "" if resource.kind == "job" else f" ({resource.kind})"
        target = resource.target or "(not in the manifest)"
        cells = [
            _cell(_SIGN[main]),
            _cell(resource.name) + kind,
            _cell(target),
            *(str(counts[a]) if counts.get(a) else "" for a, _ in used),
        ]
        if priced:
            cells.append(_job_cost(doc, resource))
        yield "| " + " | ".join(cells) + " |"


def _changed(resource: ResourceDocument) -> list[tuple[Action, str, str]]:
    return [
        (item.action, item.address, item.reason)
        for item in resource.instances or []
        if item.action in CHANGES
    ]


def _item(action: Action, address: str, reason: str) -> str:
    text = f"- `{_SIGN[action]}` {_code(address)} {action.value}"
    return text + (f": {reason}" if reason else "")


def _instances(doc: PlanDocument) -> Iterable[str]:
    budget = MAX_LISTED
    hidden = 0
    for resource in doc.resources:
        changing = sum(n for a, n in resource.counts.items() if a in CHANGES)
        if not changing:
            continue
        listed = _changed(resource)[: max(budget, 0)]
        budget -= len(listed)
        hidden += changing - len(listed)
        if not listed:
            continue
        yield ""
        yield f"**{_cell(resource.name)}** ({changing} changing)"
        yield ""
        for action, address, reason in listed[:SHOWN_PER_JOB]:
            yield _item(action, address, reason)
        folded = listed[SHOWN_PER_JOB:]
        if folded:
            yield ""
            yield f"<details><summary>{len(folded)} more</summary>"
            yield ""
            for action, address, reason in folded:
                yield _item(action, address, reason)
            yield ""
            yield "</details>"
    if hidden:
        yield ""
        yield (
            f"…and {hidden} more changing instance{'s' if hidden != 1 else ''}, not listed "
            "here: `qplan plan --verbose` lists them all."
        )


def render_markdown(doc: PlanDocument) -> Iterable[str]:
    """The plan as Markdown lines. ``doc`` lists the instances to show (a detailed one, or
    one made with ``changes_only=MAX_LISTED``): a job's changing ones not in it are
    counted, not listed. Where the state is stays out: a comment may be public,
    and a database's host is nobody's business there."""
    yield f"### qplan plan: stack {_code(doc.stack)}"
    yield ""
    yield _headline(doc)
    if doc.cost is not None and any(job.instances for job in doc.cost.jobs):
        yield ""
        yield _cost_line(doc.cost)
    if doc.targets:
        yield ""
        left = sum(doc.left_out.values())
        left_changes = sum(n for a, n in doc.left_out.items() if a in CHANGES)
        yield (
            f"Targeted: only {', '.join(_code(t) for t in doc.targets)} and what they need; "
            f"{left} instance{'s' if left != 1 else ''} left out"
            + (f", {left_changes} of them with changes." if left_changes else ".")
        )
    if doc.resources:
        yield ""
        yield from _table(doc)
    yield from _instances(doc)
    if doc.warnings:
        yield ""
        for warning in doc.warnings:
            yield f"> **Warning:** {warning}"
    if doc.devices:
        yield ""
        yield "Pulser sequences checked against:"
        yield ""
        for device in doc.devices:
            yield f"- {_code(device.target)}: {device_source(device)}"
    if doc.cost is not None and doc.cost.assumptions:
        yield ""
        yield "<details><summary>How the cost was estimated</summary>"
        yield ""
        for assumption in doc.cost.assumptions:
            yield f"- {assumption}"
        for source in doc.cost.sources:
            yield f"- prices: {source}"
        yield ""
        yield "</details>"
    yield ""
    yield (
        f"<sub>Planned at state serial {doc.state_serial} from {_code(doc.manifest)} "
        f"(digest {_code(doc.manifest_digest[:12])}).</sub>"
    )
