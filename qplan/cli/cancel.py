"""``qplan cancel`` and ``qplan destroy``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command()
@MANIFEST
@click.argument("addresses", nargs=-1, metavar="[ADDRESS|JOB]...")
@stack_options
def cancel(
    manifest: str,
    addresses: tuple[str, ...],
    options: LoadOptions,
) -> None:
    """Cancel the in-flight instances of MANIFEST.

    All of them, or the given instances or jobs.
    """
    from qplan import operations

    count, still = operations.cancel(manifest, options, addresses)
    click.echo(f"Cancel requested for {count} in-flight instance{'s' if count != 1 else ''}.")
    if still:
        click.echo(
            f"{still} not stopped yet at the provider: a target that cannot stop a running "
            "job may finish it, and bill it; `qplan status --refresh` shows how they end."
        )


@click.command()
@MANIFEST
@stack_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def destroy(
    manifest: str,
    options: LoadOptions,
    yes: bool,
) -> None:
    """Cancel what runs and forget every resource of the stack. Results stay in the history."""
    import sys

    from qplan import operations

    if not yes and sys.stdin.isatty():
        click.confirm("Cancel running jobs and forget every resource of this stack?", abort=True)
    cancelled, forgotten, where = operations.destroy(manifest, options)
    click.echo(
        f"Destroyed: {cancelled} in-flight instance(s) cancelled, "
        f"{forgotten} resource(s) forgotten. Their results and every transition stay in "
        f"the history of {where} (never deleted)."
    )
