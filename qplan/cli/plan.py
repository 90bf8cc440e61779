"""``qplan plan``: what apply would change, from the manifest and the state alone."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qplan.cli.options import MANIFEST, build_options, load_options, state_option

EXIT_CHANGES = 2


@click.command()
@MANIFEST
@load_options
@state_option
@click.option("-v", "--verbose", is_flag=True, help="List every instance that changes.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the plan as JSON (schemas/plan.schema.json)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan for `qplan apply PLANFILE`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
def plan(
    manifest: str,
    var_files: tuple[str, ...],
    overrides: tuple[str, ...],
    max_sweep_points: int,
    state: str | None,
    verbose: bool,
    as_json: bool,
    out: Path | None,
    detailed_exitcode: bool,
) -> None:
    """Show what `qplan apply MANIFEST` would do. Calls no provider."""
    from qplan import operations
    from qplan.cli.views.plan import render_plan
    from qplan.planner import to_document
    from qplan.state import state_path

    options = build_options(var_files, overrides, max_sweep_points, state)
    result = operations.plan(manifest, options, out)
    doc = to_document(result, detailed=as_json or verbose)
    if as_json:
        click.echo(doc.model_dump_json(indent=2))
    else:
        location = _shown(state_path(state, Path(manifest)))
        for line in render_plan(doc, verbose=verbose, state_location=location):
            click.echo(line)
        if out is not None:
            click.echo(f"Saved the plan to {out}; apply it with `qplan apply {out}`.")
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)


def _shown(path: Path) -> str:
    """The state's path as a user would type it: relative when below the current folder."""
    import os

    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative
