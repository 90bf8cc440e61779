"""``qplan show``: a saved plan, and whether it can still be applied."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qplan.cli.options import plan_format_options, stack_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command()
@click.argument("planfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@stack_options
@click.option("-v", "--verbose", is_flag=True, help="List every instance that changes.")
@plan_format_options
def show(
    planfile: Path,
    options: LoadOptions,
    verbose: bool,
    fmt: str,
) -> None:
    """Show a saved PLANFILE; exit 1 if it is stale.

    Stale: the state or the manifest moved since the plan was made. The manifest is planned
    again to check it: give the --var, --var-file and --max-sweep-points given to `qplan
    plan`.
    """
    from qplan import operations
    from qplan.cli.views.paths import state_location
    from qplan.cli.views.plan import plan_lines

    saved, stale = operations.show_saved_plan(planfile, options)
    location = state_location(options.state, saved.manifest)
    for line in plan_lines(saved, fmt, verbose=verbose, state_location=location):
        click.echo(line)
    if stale:
        click.echo(stale, err=True)
        sys.exit(1)
    if fmt == "text":
        click.echo(f"{planfile} is current: `qplan apply {planfile}` would do exactly this.")
