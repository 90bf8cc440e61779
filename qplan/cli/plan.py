"""``qplan plan``: what apply would change, from the manifest and the state alone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qplan.cli.options import (
    MANIFEST,
    cost_options,
    plan_format_options,
    stack_options,
    target_option,
)

if TYPE_CHECKING:
    from qplan.operations import LoadOptions

EXIT_CHANGES = 2


@click.command()
@MANIFEST
@stack_options
@cost_options
@target_option
@click.option("-v", "--verbose", is_flag=True, help="List every instance that changes.")
@plan_format_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan for `qplan apply PLANFILE`.",
)
@click.option(
    "--refresh",
    is_flag=True,
    help="First ask the providers about in-flight jobs and record what changed, so that "
    "jobs cancelled or failed outside qplan show up as changes (takes the stack's lock).",
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
    targets: tuple[str, ...],
    verbose: bool,
    fmt: str,
    out: Path | None,
    refresh: bool,
    refresh_devices: bool,
    detailed_exitcode: bool,
) -> None:
    """Show what `qplan apply MANIFEST` would do, and what it would cost. Submits nothing.

    Pulser sequences on Pasqal targets are checked against their devices first: the
    specifications the service publishes (kept in the state for a day), or offline a
    stand-in that the plan names. The estimated cost comes from the pricing table shipped
    with qplan, the manifest's pricing: and --pricing. A lock file next to the manifest
    that does not match the state is reported.
    """
    import dataclasses

    from qplan import operations
    from qplan.cli.views.paths import state_location
    from qplan.cli.views.plan import plan_lines
    from qplan.planner import to_document

    if refresh_devices:
        options = dataclasses.replace(options, refresh_devices=True)
    if refresh:
        operations.refresh(manifest, options)
    result = operations.plan(manifest, options, out, targets)
    if fmt == "markdown":
        from qplan.cli.views.plan_markdown import MAX_LISTED

        doc = to_document(result, changes_only=MAX_LISTED)
    else:
        doc = to_document(result, detailed=fmt == "json" or verbose)
    location = state_location(options.state, manifest)
    for line in plan_lines(doc, fmt, verbose=verbose, state_location=location):
        click.echo(line)
    if out is not None and fmt != "json":
        click.echo(
            f"Saved the plan to {out}; apply it with `qplan apply {out}`.",
            err=fmt == "markdown",
        )
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)
