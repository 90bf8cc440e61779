"""``qplan force-unlock``: break a stack's lock left by a qplan that died."""

from __future__ import annotations

import click

from qplan.cli.options import MANIFEST, build_options, load_options, state_option


@click.command("force-unlock")
@MANIFEST
@load_options
@state_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def force_unlock(
    manifest: str,
    var_files: tuple[str, ...],
    overrides: tuple[str, ...],
    max_sweep_points: int,
    state: str | None,
    yes: bool,
) -> None:
    """Break the lock of MANIFEST's stack. Only when no qplan is running on it."""
    from qplan import operations

    options = build_options(var_files, overrides, max_sweep_points, state)
    if not yes:
        click.confirm(
            "Break the lock? Another qplan holding it would then race with yours", abort=True
        )
    info = operations.force_unlock(manifest, options)
    if info is None:
        click.echo("The stack was not locked.")
    else:
        click.echo(f"Broke the lock: {info.describe()}")
