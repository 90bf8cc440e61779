"""``qplan logs``: a hybrid job's log, from its provider (CloudWatch Logs on Braket, the
job's log file on the local provider)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command()
@MANIFEST
@click.argument("address")
@stack_options
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Wait for the job to start if need be, print lines as they come, until it ends.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between two reads of the log while following it.",
)
def logs(
    manifest: str, address: str, options: LoadOptions, follow: bool, poll_interval: float
) -> None:
    """Print the log of the hybrid job instance at ADDRESS.

    Its latest attempt's log: everything it printed, its metric lines included. With
    --follow, a job not submitted yet is waited for, and a retried job's next attempt is
    followed on.
    """
    from qplan import operations

    def note(text: str) -> None:
        click.echo(f"-- {text}", err=True)

    operations.hybrid.follow_log(
        manifest, options, address, click.echo, follow=follow, poll=poll_interval, note=note
    )
