"""``qplan show``: a saved plan, and whether it can still be applied."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qplan.cli.options import build_options, load_options, state_option


@click.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@load_options
@state_option
@click.option("-v", "--verbose", is_flag=True, help="List every instance that changes.")
@click.option("--json", "as_json", is_flag=True, help="Print the saved plan as JSON.")
def show(
    planfile: Path,
    var_files: tuple[str, ...],
    overrides: tuple[str, ...],
    max_sweep_points: int,
    state: str | None,
    verbose: bool,
    as_json: bool,
) -> None:
    """Show PLANFILE; exit 1 if it is stale (state or manifest moved since)."""
    from qplan import operations
    from qplan.cli.views.plan import render_plan
    from qplan.state import state_path

    options = build_options(var_files, overrides, max_sweep_points, state)
    saved, stale = operations.show_saved_plan(planfile, options)
    if as_json:
        click.echo(saved.model_dump_json(indent=2))
    else:
        location = _shown(state_path(state, Path(saved.manifest)))
        for line in render_plan(saved, verbose=verbose, state_location=location):
            click.echo(line)
    if stale:
        click.echo(stale, err=True)
        sys.exit(1)
    if not as_json:
        click.echo(f"{planfile} is current: `qplan apply {planfile}` would do exactly this.")


def _shown(path: Path) -> str:
    """The state's path as a user would type it: relative when below the current folder."""
    import os

    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative
