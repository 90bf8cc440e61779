"""``qplan force-unlock``: break a stack's lock left by a qplan that died."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_name_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command("force-unlock")
@MANIFEST
@stack_name_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def force_unlock(
    manifest: str,
    options: LoadOptions,
    yes: bool,
) -> None:
    """Break the lock of MANIFEST's stack. Only when no qplan is running on it."""
    from qplan import operations

    if not yes:
        click.confirm(
            "Break the lock? Another qplan holding it would then race with yours", abort=True
        )
    info = operations.force_unlock(manifest, options)
    if info is None:
        click.echo("The stack was not locked.")
    else:
        click.echo(f"Broke the lock: {info.describe()}")
