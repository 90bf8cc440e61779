"""``qplan lock``: write the lock file from the state, or check that it matches."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_name_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command()
@MANIFEST
@stack_name_options
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when the lock file does not match the state (for CI).",
)
def lock(manifest: str, options: LoadOptions, check: bool) -> None:
    """Write the lock file of MANIFEST (qplan.lock for qplan.yaml) from the state.

    The lock file records what ran for the manifest: every instance's address,
    fingerprint, provider, target, provider job id, status, attempt, result digest and
    finish time, one per line, sorted; nothing secret. `qplan apply` writes it; commit it
    to have what ran reviewed with the change. With --check, nothing is written and the
    command fails when the file and the state disagree, saying where.
    """
    from qplan import operations

    path, differences = operations.check_lock(manifest, options, write=not check)
    if not check:
        click.echo(f"Wrote {path} from the state.")
        return
    if differences:
        click.echo(f"{path} does not match the state:", err=True)
        for line in differences:
            click.echo(f"  {line}", err=True)
        click.echo(
            f"Run `qplan lock {manifest}` to rewrite it from the state, and commit it.", err=True
        )
        sys.exit(1)
    click.echo(f"{path} matches the state.")
