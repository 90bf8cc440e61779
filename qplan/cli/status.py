"""``qplan status``: the stack's resources as the state records them."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from qplan.manifest import Stack
    from qplan.operations import LoadOptions
    from qplan.providers.base import JobDetails


@click.command()
@MANIFEST
@click.argument("addresses", nargs=-1, metavar="[ADDRESS|JOB]...")
@stack_options
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--refresh", is_flag=True, help="First ask the providers about in-flight jobs.")
def status(
    manifest: str,
    addresses: tuple[str, ...],
    options: LoadOptions,
    as_json: bool,
    refresh: bool,
) -> None:
    """Show the stack's resources as the state records them.

    Status, attempt, provider job id, last change (UTC) and error of every resource, or
    of the given instances or jobs; for jobs on paid targets, what the providers billed
    (tasks, shots, instance time, USD) beside the estimate of what ran. Reads the state
    only, unless --refresh: then in-flight jobs are observed at their providers (in bulk)
    and what changed is recorded, results included. Hybrid jobs named by ADDRESS or JOB
    are also asked about at their provider: state, queue position, events and billable
    time.
    """
    from qplan import operations
    from qplan.addresses import parse_address
    from qplan.cli.views.status import render_spending, render_table
    from qplan.operations import spending
    from qplan.stamps import utc_stamp

    if refresh:
        operations.refresh(manifest, options)
    stack, rows, lock, spent = spending.status(manifest, options)
    details = []
    if addresses:
        wanted = set(addresses)
        known = {r.address for r in rows} | {r.job for r in rows if r.job}
        unknown = wanted - known - {i.address for i in stack.instances()} - set(stack.jobs)
        if unknown:
            from qplan.errors import UsageError

            raise UsageError(f"no instance or job named {', '.join(sorted(unknown))}")
        rows = [r for r in rows if r.address in wanted or r.job in wanted]
        shown = {r.job for r in rows}
        spent = replace(spent, jobs=tuple(j for j in spent.jobs if j.job in shown))
        hybrid = {n for n in wanted if _is_hybrid(stack, parse_address(n).name)}
        if hybrid:
            details = operations.hybrid.details(manifest, options, sorted(hybrid))
    if as_json:
        out: dict[str, Any] = {
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
        if spent.jobs:
            out["spending"] = spent.to_json()
        if details:
            out["hybrid_jobs"] = [
                {"address": i.address, **({} if d is None else _details_json(d))}
                for i, d in details
            ]
        click.echo(json.dumps(out, indent=2))
        return
    if lock is not None:
        click.echo(lock.describe(), err=True)
    if not rows:
        click.echo(f"Stack {stack.name} has no resources in its state yet.")
        return
    render_table(rows)
    render_spending(spent)
    if details:
        from qplan.cli.views.status import render_details

        render_details(details)


def _is_hybrid(stack: Stack, name: str) -> bool:
    job = stack.jobs.get(name)
    return job is not None and job.hybrid is not None


def _details_json(d: JobDetails) -> dict[str, Any]:
    from qplan.stamps import utc_stamp

    return {
        "name": d.name,
        "provider_status": str(d.status),
        "queue": d.queue,
        "billable_seconds": d.billable_seconds,
        "failure": d.failure,
        "started_at": None if d.started_at is None else utc_stamp(d.started_at),
        "ended_at": None if d.ended_at is None else utc_stamp(d.ended_at),
        "events": [{"at": utc_stamp(t), "event": e, "message": m} for t, e, m in d.events],
    }
