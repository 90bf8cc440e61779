"""``qplan apply``: make the providers match the manifest, exactly once, resumably."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from qplan.cli.options import cost_options, stack_options, target_option

if TYPE_CHECKING:
    from qplan.operations import LoadOptions

EXIT_INTERRUPTED = 130


class _Deferred:
    """Forwards events to the display made once the plan is known."""

    def __init__(self) -> None:
        self.target: Any = None

    def emit(self, event: Any) -> None:
        if self.target is not None:
            self.target.emit(event)


@click.command()
@click.argument("target", metavar="MANIFEST|PLANFILE", type=click.Path(exists=True, dir_okay=False))
@stack_options
@cost_options
@target_option
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask before spending money on a paid target."
)
@click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="Provider jobs in flight at once, over all providers (a native batch counts once). "
    "Default: each provider's own limit (local 64, Braket 1000).",
)
@click.option("--no-wait", is_flag=True, help="Submit what is ready and return; collect later.")
@click.option(
    "--fail-fast", is_flag=True, help="Stop at the first failure, without waiting for running jobs."
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    help="Seconds between observations of in-flight jobs (default: each provider's own).",
)
@click.option(
    "--refresh-devices",
    is_flag=True,
    help="Ask the services for their device specifications, even when the state keeps "
    "fresh ones (younger than a day).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per event.")
def apply(
    target: str,
    options: LoadOptions,
    targets: tuple[str, ...],
    yes: bool,
    parallelism: int | None,
    no_wait: bool,
    fail_fast: bool,
    poll_interval: float | None,
    refresh_devices: bool,
    as_json: bool,
) -> None:
    """Run what the plan of MANIFEST (or a saved PLANFILE) says, and record every result.

    Safe to run again at any time: finished jobs are never rerun, running ones are
    adopted. A saved plan is refused if the state or the manifest changed since. A plan
    whose estimated cost exceeds the budget (the manifest's budget: or --budget) is
    refused before anything is sent, with or without a terminal. Writes the lock file
    (qplan.lock next to qplan.yaml) at the end.
    """
    import dataclasses

    from qplan import operations
    from qplan.cli.views.paths import state_location
    from qplan.cli.views.plan import render_plan
    from qplan.cli.views.progress import make_sink
    from qplan.executor import Options
    from qplan.planner import to_document

    tty = sys.stdout.isatty()
    sink = _Deferred()

    def on_plan(plan: Any) -> None:
        if not as_json:
            for line in render_plan(
                to_document(plan, detailed=False),
                verbose=False,
                state_location=state_location(options.state, plan.manifest),
            ):
                click.echo(line)
        sink.target = make_sink(plan, as_json=as_json, tty=tty)

    def confirm(plan: Any, stack: Any) -> bool:
        if yes or not tty or not operations.spends_money(plan, stack):
            return True
        cost = ""
        if plan.cost is not None:
            from qplan.cli.views.money import cost_sentence

            document = to_document(plan, detailed=False).cost
            if document is not None:
                cost = f" ({cost_sentence(document)})"
        return click.confirm(
            f"This plan submits jobs to paid targets{cost}. Apply it?", default=False
        )

    if refresh_devices:
        options = dataclasses.replace(options, refresh_devices=True)
    run = Options(
        parallelism=parallelism, no_wait=no_wait, fail_fast=fail_fast, poll_interval=poll_interval
    )
    plan, report = operations.apply(
        target, options, run, targets=targets, sink=sink, confirm=confirm, on_plan=on_plan
    )
    if report is None:
        click.echo("Apply cancelled; nothing was submitted.")
        sys.exit(1)
    code = 0 if report.ok else (EXIT_INTERRUPTED if report.interrupted else 1)
    for warning in plan.warnings:  # noticed after the run: a lock file it could not write
        click.echo(click.style(f"Warning: {warning}", fg="yellow"), err=True)
    if as_json:
        sys.exit(code)
    click.echo("")
    for address, error in report.failures.items():
        click.echo(click.style(f"failed  {address}: {error}", fg="red"), err=True)
    for address, reason in list(report.skipped.items())[:20]:
        click.echo(f"skipped {address}: {reason}", err=True)
    if len(report.skipped) > 20:
        click.echo(f"... and {len(report.skipped) - 20} more skipped", err=True)
    summary = describe(report.counts)
    if report.interrupted:
        click.echo(
            f"Interrupted ({summary or 'nothing done'}): run `qplan apply` again to resume.",
            err=True,
        )
    elif report.halted:
        click.echo(f"Apply failed ({summary}): {report.halted}", err=True)
    elif report.failures:
        failed = len(report.failures)
        click.echo(
            f"Apply finished with {failed} failed instance{'s' if failed != 1 else ''} "
            f"({summary}).",
            err=True,
        )
    elif no_wait and report.pending:
        click.echo(
            f"Submitted ({summary or 'nothing new'}); {report.pending} instance(s) not finished: "
            "run `qplan apply` again or `qplan status --refresh` to collect them."
        )
    elif summary or plan.has_changes:  # otherwise the plan above already said "No changes"
        click.echo(f"Apply complete: {summary or 'nothing to do'}.")
    sys.exit(code)


def describe(counts: Mapping[str, int]) -> str:
    """``1 created, 64 in flight; 63 succeeded, 2 failed (3 attempts retried)``: the
    planned actions carried out, in the plan's words, then the outcomes."""
    from qplan.executor import OUTCOMES, PLANNED_WORDS

    done = ", ".join(f"{counts[w]} {w}" for w in PLANNED_WORDS.values() if counts.get(w))
    ends = ", ".join(f"{counts[w]} {w}" for w in OUTCOMES if counts.get(w))
    text = "; ".join(part for part in (done, ends) if part)
    retried = counts.get("attempts retried", 0)
    if retried:
        text += f" ({retried} failed attempt{'s' if retried != 1 else ''} run again)"
    return text
