"""Rendering the state of a stack as a table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from qplan.providers.base import JobDetails
from qplan.stamps import utc_stamp
from qplan.state import Row

if TYPE_CHECKING:
    from qplan.operations.spending import Spending

COLUMNS = ("ADDRESS", "STATUS", "ATTEMPT", "PROVIDER JOB ID", "LAST CHANGE", "ERROR")
RICH_LIMIT = 2000  # above this, plain aligned text: rich lays tables out in memory first


def cells(row: Row) -> tuple[str, ...]:
    error = (row.error or "").replace("\n", " ")
    status = str(row.status)
    if row.provider_status:  # the provider's own word: an Azure session's Failure(s)
        status = f"{status} ({row.provider_status})"
    return (
        row.address,
        status,
        str(row.attempt),
        row.provider_job_id or "-",
        utc_stamp(row.updated_at),
        error[:60] + ("…" if len(error) > 60 else ""),
    )


def render_table(rows: Sequence[Row]) -> None:
    table = [cells(row) for row in rows]
    if len(table) <= RICH_LIMIT and sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(*COLUMNS, box=None, header_style="bold")
        for line in table:
            rich_table.add_row(*line)
        Console().print(rich_table)
        return
    widths = [max([len(c), *(len(line[i]) for line in table)]) for i, c in enumerate(COLUMNS)]
    for line in (COLUMNS, *table):
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())


def render_details(details: Sequence[tuple[Any, JobDetails | None]]) -> None:
    """What the providers say of hybrid jobs: state, queue, billable time, events."""
    for instance, d in details:
        click.echo()
        if d is None:
            click.echo(f"{instance.address}: not submitted yet")
            continue
        parts = [f"{instance.address}: {d.status}"]
        if d.name:
            parts.append(f"job {d.name}")
        if d.queue:
            parts.append(f"queue position {d.queue}")
        if d.billable_seconds is not None:
            parts.append(f"billable {d.billable_seconds:.1f} s")
        click.echo(", ".join(parts))
        if d.failure:
            click.echo(f"  failure: {d.failure}")
        for at, event, message in d.events:
            click.echo(f"  {utc_stamp(at)}  {event}" + (f"  {message}" if message else ""))


SPENDING_COLUMNS = ("JOB", "TARGET", "TASKS", "SHOTS", "BILLABLE S", "BILLED", "ESTIMATE")


def _amount(value: float | None) -> str:
    """An amount to four significant digits (simulator tasks cost fractions of a cent),
    or to the cent from 100 on; ``?`` when no price is known."""
    if value is None:
        return "?"
    return f"{value:,.2f}" if value >= 100 else f"{value:.4g}"


def render_spending(spending: Spending) -> None:
    """Per job with something billed: the provider's figures (distinct tasks, shots,
    billable instance time) and their amount, beside the estimate of what ran."""
    if not spending.jobs:
        return
    table = [
        (
            j.job,
            j.target,
            str(j.tasks),
            str(j.shots),
            f"{j.billable_seconds:.1f}" if j.billable_seconds else "-",
            _amount(j.amount),
            _amount(j.estimate.amount),
        )
        for j in spending.jobs
    ]
    if len(table) > 1:
        table.append(
            ("total", "", "", "", "", _amount(spending.billed), _amount(spending.estimated))
        )
    widths = [
        max([len(c), *(len(line[i]) for line in table)]) for i, c in enumerate(SPENDING_COLUMNS)
    ]
    click.echo()
    click.echo(
        f"Billed by the providers ({spending.currency}, at the prices of "
        f"{spending.as_of}), beside the estimate of what ran:"
    )
    for line in (SPENDING_COLUMNS, *table):
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
