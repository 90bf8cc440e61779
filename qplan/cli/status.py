"""``qplan status``: the stack's resources as the state records them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command()
@MANIFEST
@stack_options
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--refresh", is_flag=True, help="First ask the providers about in-flight jobs.")
def status(
    manifest: str,
    options: LoadOptions,
    as_json: bool,
    refresh: bool,
) -> None:
    """Show the stack's resources as the state records them.

    Status, attempt, provider job id, last change (UTC) and error of every resource.
    Reads the state only, unless --refresh: then in-flight jobs are observed at their
    providers (in bulk) and what changed is recorded, results included.
    """
    from qplan import operations
    from qplan.cli.views.stamps import utc_stamp
    from qplan.cli.views.status import render_table

    if refresh:
        operations.refresh(manifest, options)
    stack, rows, lock = operations.status(manifest, options)
    if as_json:
        out = {
            "stack": stack.name,
            "locked": None if lock is None else lock.describe(),
            "resources": [
                {
                    "address": r.address,
                    "kind": r.kind,
                    "job": r.job,
                    "status": str(r.status),
                    "provider_status": r.provider_status,
                    "attempt": r.attempt,
                    "target": r.target,
                    "provider_job_id": r.provider_job_id,
                    "fingerprint": r.fingerprint,
                    "result_hash": r.result_hash,
                    "error": r.error,
                    "updated_at": utc_stamp(r.updated_at),
                }
                for r in rows
            ],
        }
        click.echo(json.dumps(out, indent=2))
        return
    if lock is not None:
        click.echo(lock.describe(), err=True)
    if not rows:
        click.echo(f"Stack {stack.name} has no resources in its state yet.")
        return
    render_table(rows)
