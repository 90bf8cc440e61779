"""``qplan cancel`` and ``qplan destroy``."""

from __future__ import annotations

import click

from qplan.cli.options import MANIFEST, build_options, load_options, state_option


@click.command()
@MANIFEST
@click.argument("addresses", nargs=-1, metavar="[ADDRESS|JOB]...")
@load_options
@state_option
def cancel(
    manifest: str,
    addresses: tuple[str, ...],
    var_files: tuple[str, ...],
    overrides: tuple[str, ...],
    max_sweep_points: int,
    state: str | None,
) -> None:
    """Cancel the in-flight instances of MANIFEST (all, or the given instances or jobs)."""
    from qplan import operations

    options = build_options(var_files, overrides, max_sweep_points, state)
    count = operations.cancel(manifest, options, addresses)
    click.echo(f"Cancel requested for {count} in-flight instance{'s' if count != 1 else ''}.")


@click.command()
@MANIFEST
@load_options
@state_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def destroy(
    manifest: str,
    var_files: tuple[str, ...],
    overrides: tuple[str, ...],
    max_sweep_points: int,
    state: str | None,
    yes: bool,
) -> None:
    """Cancel what runs and forget every resource of the stack. Results stay in the history."""
    import sys

    from qplan import operations

    if not yes and sys.stdin.isatty():
        click.confirm("Cancel running jobs and forget every resource of this stack?", abort=True)
    options = build_options(var_files, overrides, max_sweep_points, state)
    cancelled, forgotten, where = operations.destroy(manifest, options)
    click.echo(
        f"Destroyed: {cancelled} in-flight instance(s) cancelled, "
        f"{forgotten} resource(s) forgotten. Their results and every transition stay in "
        f"the history of {where} (never deleted)."
    )
