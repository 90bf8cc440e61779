"""Progress of an apply: a rich display on a terminal, plain timestamped lines in CI logs,
or one JSON object per event (``--json``)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import click

from qplan.executor import Event, Kind
from qplan.planner import Action, Plan
from qplan.stamps import utc_stamp

__all__ = ["JsonSink", "PlainSink", "RichSink", "make_sink"]

_DETAILED_UP_TO = 10  # instances per job below which every step is printed in plain mode
K = Kind
# printed for every instance in logs, whatever the job's size
_ALWAYS = frozenset(
    {
        K.FAILED,
        K.RETRYING,
        K.CANCELLING,
        K.CANCELLED,
        K.SKIPPED,
        K.ADOPTED,
        K.RESENT,
        K.UNCERTAIN,
        K.THROTTLED,
        K.RESULT_PENDING,
        K.FORGOTTEN,
    }
)
# printed above the bars on a terminal
_NOTICES = frozenset(
    {
        K.FAILED,
        K.RETRYING,
        K.CANCELLING,
        K.SKIPPED,
        K.UNCERTAIN,
        K.UNREACHABLE,
        K.OBSERVE_ERROR,
        K.NOTICE,
        K.INTERRUPTING,
        K.INTERRUPTED,
    }
)
_PROGRESS_ORDER = ("succeeded", "failed", "skipped", "cancelled", "running", "queued")


class JsonSink:
    def emit(self, event: Event) -> None:
        record: dict[str, Any] = {"event": event.kind, "at": utc_stamp(event.at)}
        for name in ("job", "address", "detail"):
            value = getattr(event, name)
            if value:
                record[name] = value
        if event.counts:
            record["counts"] = event.counts
        click.echo(json.dumps(record))


class _Tally:
    """Per job: how many instances this apply looks after, and where they are."""

    def __init__(self, plan: Plan) -> None:
        self.total: Counter[str] = Counter()
        for resource in plan.resources:
            if resource.kind == "job":
                counts = resource.counts
                self.total[resource.name] = sum(counts[a] for a in Action if a is not Action.NOOP)
        self.state: dict[str, Counter[str]] = defaultdict(Counter)

    def update(self, event: Event) -> None:
        if not event.job or event.job not in self.total:
            return
        c = self.state[event.job]
        if event.kind in {"submitted", "adopted"}:
            c["queued"] += 1
        elif event.kind == "running":
            c["queued"] -= 1
            c["running"] += 1
        elif event.kind in ("succeeded", "failed", "cancelled"):
            c["running" if c["running"] else "queued"] -= 1
            c[{"succeeded": "done"}.get(event.kind, event.kind)] += 1
        elif event.kind == "skipped":
            c["skipped"] += 1
        elif event.kind == K.RETRYING:  # a failed attempt: it waits to go again
            c["running" if c["running"] else "queued"] -= 1

    def ended(self, job: str) -> int:
        c = self.state[job]
        return c["done"] + c["failed"] + c["skipped"] + c["cancelled"]

    def finished(self, job: str) -> bool:
        return self.ended(job) >= self.total[job] > 0

    def describe(self, job: str) -> str:
        c = self.state[job]
        parts = [
            f"{max(c[k], 0)} {k}"
            for k in ("queued", "running", "done", "failed", "skipped", "cancelled")
            if c[k]
        ]
        return ", ".join(parts) or "waiting"


class PlainSink:
    """Timestamped lines, for logs. Small jobs get a line per step; large ones a line per
    problem, a line when they finish, and the executor's progress counts at a steady
    interval (so that a long apply is seen to move)."""

    def __init__(self, plan: Plan) -> None:
        self.tally = _Tally(plan)
        self.reported: set[str] = set()

    def emit(self, event: Event) -> None:
        self.tally.update(event)
        stamp = utc_stamp(event.at)
        if event.kind == "finished":
            return
        if event.kind == "progress":
            counts = event.counts
            order = [k for k in _PROGRESS_ORDER if counts.get(k)]
            order += sorted(k for k in counts if k not in _PROGRESS_ORDER and counts[k])
            total = sum(counts.values())
            click.echo(
                f"{stamp} progress: "
                + ", ".join(f"{counts[k]} {k}" for k in order)
                + f" (of {total})"
            )
            return
        small = self.tally.total.get(event.job, 0) <= _DETAILED_UP_TO
        if event.address and (small or event.kind in _ALWAYS) and event.kind != "running":
            detail = f" ({event.detail})" if event.detail else ""
            click.echo(f"{stamp} {event.kind:<14} {event.address}{detail}")
        elif not event.address and event.kind != "finished":
            click.echo(f"{stamp} {event.kind}: {event.detail}")
        job = event.job
        if job and job not in self.reported and self.tally.finished(job):
            self.reported.add(job)
            click.echo(f"{stamp} job {job}: {self.tally.describe(job)}")


class RichSink:
    """One progress bar per job, with its counts and the elapsed time."""

    def __init__(self, plan: Plan) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.tally = _Tally(plan)
        self.progress = Progress(
            TextColumn("{task.fields[job]:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self.tasks = {
            job: self.progress.add_task("", total=total, job=job, state="waiting")
            for job, total in self.tally.total.items()
            if total
        }
        self.progress.start()

    def emit(self, event: Event) -> None:
        self.tally.update(event)
        if event.kind in _NOTICES:
            where = event.address or "apply"
            self.progress.console.print(f"[yellow]{event.kind}[/] {where}: {event.detail}")
        task = self.tasks.get(event.job)
        if task is not None:
            self.progress.update(
                task,
                completed=self.tally.ended(event.job),
                state=self.tally.describe(event.job),
            )
        if event.kind == "finished":
            self.progress.stop()


def make_sink(plan: Plan, *, as_json: bool, tty: bool) -> JsonSink | PlainSink | RichSink:
    if as_json:
        return JsonSink()
    if tty:
        return RichSink(plan)
    return PlainSink(plan)
