"""``qplan plan``: what apply would change, from the manifest and the state alone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions

EXIT_CHANGES = 2


@click.command()
@MANIFEST
@stack_options
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
    "--refresh-devices",
    is_flag=True,
    help="Ask the services for their device specifications, even when the state keeps "
    "fresh ones (younger than a day).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error "
    "(64 on a command-line mistake).",
)
def plan(
    manifest: str,
    options: LoadOptions,
    verbose: bool,
    as_json: bool,
    out: Path | None,
    refresh_devices: bool,
    detailed_exitcode: bool,
) -> None:
    """Show what `qplan apply MANIFEST` would do. Submits nothing.

    Pulser sequences on Pasqal targets are checked against their devices first: the
    specifications the service publishes (kept in the state for a day), or offline a
    stand-in that the plan names.
    """
    import dataclasses

    from qplan import operations
    from qplan.cli.views.paths import state_location
    from qplan.cli.views.plan import render_plan
    from qplan.planner import to_document

    if refresh_devices:
        options = dataclasses.replace(options, refresh_devices=True)
    result = operations.plan(manifest, options, out)
    doc = to_document(result, detailed=as_json or verbose)
    if as_json:
        click.echo(doc.model_dump_json(indent=2))
    else:
        location = state_location(options.state, manifest)
        for line in render_plan(doc, verbose=verbose, state_location=location):
            click.echo(line)
        if out is not None:
            click.echo(f"Saved the plan to {out}; apply it with `qplan apply {out}`.")
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)
